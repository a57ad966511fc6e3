//! anvil for the tests that need a real chain: started on a free port of 127.0.0.1 with
//! EIP-7825's per-transaction gas cap enforced, and killed (by its own pid) when dropped.
//!
//! The binary is `CLAIMS_TEST_ANVIL_BIN`, or the one `scripts/install-anvil.sh` put in
//! `target/anvil`; without either the test fails, saying how to install it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// anvil's development keys: public, and worthless outside a local anvil.
pub const DEV_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// A running anvil.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC endpoint.
    pub url: String,
}

impl Anvil {
    /// Starts anvil with `args` added (such as `--block-time 1`) and waits until it listens.
    pub fn start(args: &[&str]) -> Anvil {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--enable-tx-gas-limit", "--silent"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "anvil did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CLAIMS_TEST_ANVIL_BIN") {
        return PathBuf::from(path);
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/anvil/node_modules/@foundry-rs");
    std::fs::read_dir(&installed)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin/anvil"))
                .find(|path| path.is_file())
        })
        .expect(
            "anvil is not installed: run scripts/install-anvil.sh, or set CLAIMS_TEST_ANVIL_BIN",
        )
}
