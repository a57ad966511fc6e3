//! `claims serve` as a child process: started with a configuration file, waited for until
//! it says it runs, stopped with SIGTERM, and killed if a test panics before that.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `claims serve`.
pub struct EngineProcess {
    child: Child,
    /// Where the API listens, such as `127.0.0.1:40123`.
    pub address: String,
    log: PathBuf,
    _directory: tempfile::TempDir,
}

impl EngineProcess {
    /// Starts `claims serve --config` with `config` (TOML, without `listen`: a free port is
    /// added) and the environment variables `env`, and waits until it runs.
    pub async fn start(config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(config, env, &[]).await
    }

    /// As [`EngineProcess::start`], with more arguments after `serve`.
    pub async fn start_with_args(config: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let address = free_address();
        let config_file = directory.path().join("claims.toml");
        std::fs::write(&config_file, format!("{config}listen = {address:?}\n")).unwrap();
        let log = directory.path().join("serve.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_claims"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_file)
            .args(args)
            .current_dir(directory.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        // Only what the test says: the runner's own CLAIMS_* must not leak in.
        for (name, _) in std::env::vars() {
            if name.starts_with("CLAIMS_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        let mut process = EngineProcess {
            child,
            address,
            log,
            _directory: directory,
        };
        process.wait_until_running().await;
        process
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_running(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.log().contains("the engine is running") {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "claims serve exited with {status} at startup:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "claims serve did not start within 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM, waits up to 30 s for the process to exit, and returns how it exited
    /// and everything it logged.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "claims serve did not stop within 30 s of SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl EngineProcess {
    /// Sends a signal, such as `STOP` or `CONT`.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Kills the process with SIGKILL (`kill -9`: no chance to finish or hand anything
    /// back) and returns what it had logged.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("claims serve was killed; its log:\n{}", self.log());
        }
    }
}

/// An address on a port nobody listens on now.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
