//! A nats-server of the test's own: on a free port of 127.0.0.1, with JetStream storing in
//! a temporary directory, stopped when dropped. A test on its own server shares no stream,
//! subject or consumer with any other test, or with anyone else's tests on the machine's
//! shared server.
//!
//! The binary is `CLAIMS_TEST_NATS_SERVER` or `nats-server` on the `PATH` (Debian's package;
//! `scripts/test.sh` installs it). The tests fail, never skip, without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server.
pub struct NatsServer {
    child: Child,
    /// Such as `nats://127.0.0.1:40123`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub address: String,
    log: PathBuf,
    directory: tempfile::TempDir,
    /// What it was started with, to start it again the same way.
    args: Vec<String>,
}

impl NatsServer {
    /// A server with JetStream and no authentication.
    pub async fn start() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let address = free_address();
        let (host, port) = address.split_once(':').unwrap();
        let store = directory.path().join("jetstream");
        Self::spawn(
            directory,
            address.clone(),
            &[
                "-a",
                host,
                "-p",
                port,
                "-js",
                "-sd",
                store.to_str().unwrap(),
            ],
        )
        .await
    }

    /// A server with the configuration `claims nats-config` writes for `insurers` into a
    /// temporary directory; the users' passwords are read back with [`NatsServer::password`].
    pub async fn start_with_access(insurers: &[&str]) -> Self {
        Self::start_generated(insurers, &[]).await
    }

    /// As [`NatsServer::start_with_access`], for an engine under the subject namespace
    /// `namespace` (`claims nats-config --nats-namespace`).
    pub async fn start_with_access_in_namespace(namespace: &str, insurers: &[&str]) -> Self {
        Self::start_generated(insurers, &["--nats-namespace", namespace]).await
    }

    /// A server of an operator's own, with an account of another application, that takes
    /// the engine's account by including the `claims-account.conf` that `claims nats-config`
    /// wrote for `insurers` (not the `nats-server.conf` written beside it).
    pub async fn start_with_account_included(insurers: &[&str]) -> Self {
        Self::start_with_accounts_included(&[None], insurers).await
    }

    /// As [`NatsServer::start_with_account_included`], with one engine's account for each of
    /// `namespaces` (`None` for an engine without one), each generated for `insurers` into
    /// a directory of its own and included side by side.
    pub async fn start_with_accounts_included(
        namespaces: &[Option<&str>],
        insurers: &[&str],
    ) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let address = free_address();
        let mut includes = String::new();
        for namespace in namespaces {
            let (out, args) = match namespace {
                None => (generated_directory(None), vec![]),
                Some(namespace) => (
                    generated_directory(Some(namespace)),
                    vec!["--nats-namespace", namespace],
                ),
            };
            generate(&directory.path().join(&out), &address, insurers, &args);
            includes.push_str(&format!("  include \"{out}/claims-account.conf\"\n"));
        }
        let (host, port) = address.split_once(':').unwrap();
        let own = directory.path().join("operators-own.conf");
        std::fs::write(
            &own,
            format!(
                "host: \"{host}\"\nport: {port}\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 accounts {{\n  BILLING {{ users: [ {{ user: \"billing\", password: \"b\" }} ] }}\n\
                 {includes}}}\n",
                directory.path().join("jetstream").display()
            ),
        )
        .unwrap();
        Self::spawn(directory, address, &["-c", own.to_str().unwrap()]).await
    }

    async fn start_generated(insurers: &[&str], args: &[&str]) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let address = free_address();
        let out = directory.path().join(generated_directory(None));
        generate(&out, &address, insurers, args);
        let config = out.join("nats-server.conf");
        Self::spawn(directory, address, &["-c", config.to_str().unwrap()]).await
    }

    async fn spawn(directory: tempfile::TempDir, address: String, args: &[&str]) -> Self {
        let binary = binary();
        let log = directory.path().join("nats-server.log");
        let child = Command::new(&binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {binary} (install Debian's nats-server, as scripts/test.sh \
                     does, or set CLAIMS_TEST_NATS_SERVER): {error}"
                )
            });
        let mut server = NatsServer {
            child,
            url: format!("nats://{address}"),
            address,
            log,
            directory,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        server.wait_until_listening().await;
        server
    }

    /// A client without credentials (for a server started with [`NatsServer::start`]).
    pub async fn connect(&self) -> (async_nats::Client, async_nats::jetstream::Context) {
        let client = async_nats::connect(&self.url).await.unwrap();
        let jetstream = async_nats::jetstream::new(client.clone());
        (client, jetstream)
    }

    /// The password `claims nats-config` gave `user`, in whichever engine's configuration
    /// holds it (user names are unique on a server).
    pub fn password(&self, user: &str) -> String {
        let file = format!("{user}.password");
        let found = std::fs::read_dir(self.directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().path().join("users").join(&file))
            .find(|path| path.exists())
            .unwrap_or_else(|| panic!("no password file {file} under any generated configuration"));
        std::fs::read_to_string(&found).unwrap().trim().to_owned()
    }

    /// The generated configuration's directory (of the engine without a namespace).
    pub fn config_directory(&self) -> PathBuf {
        self.directory.path().join(generated_directory(None))
    }

    /// Kills the server (SIGKILL, as a crash would) and starts it again on the same address
    /// and JetStream directory, so that its streams and consumers survive as on disk.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    /// Kills the server (SIGKILL, as a crash would); [`NatsServer::start_again`] brings it
    /// back.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts the killed server again on the same address and JetStream directory.
    pub async fn start_again(&mut self) {
        let binary = binary();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Command::new(&binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary} again: {error}"));
        self.wait_until_listening().await;
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(&self.address).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nats-server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen within 20 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the configuration of the engine under `namespace` is generated, inside the
/// server's temporary directory.
fn generated_directory(namespace: Option<&str>) -> String {
    match namespace {
        None => "nats".to_owned(),
        Some(namespace) => format!("nats-{namespace}"),
    }
}

/// Runs `claims nats-config` for `insurers` into `out`, for a server on `address`.
fn generate(out: &Path, address: &str, insurers: &[&str], args: &[&str]) {
    let mut generate = Command::new(env!("CARGO_BIN_EXE_claims"));
    generate
        .arg("nats-config")
        .arg("--out")
        .arg(out)
        .args(["--listen", address])
        .args(args);
    for insurer in insurers {
        generate.args(["--insurer", insurer]);
    }
    let generated = generate.output().unwrap();
    assert!(
        generated.status.success(),
        "claims nats-config failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
}

/// The nats-server binary the tests run.
fn binary() -> String {
    std::env::var("CLAIMS_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// An address on a port nobody listens on now.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
