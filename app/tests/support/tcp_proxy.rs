//! A TCP proxy in front of a server that a test can cut off and restore: while it is cut,
//! every connection through it is closed and new ones are closed as soon as they arrive,
//! which is what an outage of the server looks like to its clients (the server itself,
//! shared with other tests, is untouched). It stops when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy.
pub struct TcpProxy {
    /// `127.0.0.1:<port>`.
    pub address: String,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    /// The tasks carrying each connection's bytes: aborting one closes both its sockets.
    connections: Mutex<Vec<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Starts a proxy forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared::default());
        let accepting = tokio::spawn(accept(listener, upstream, shared.clone()));
        TcpProxy {
            address,
            shared,
            accepting,
        }
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for connection in self
            .shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            connection.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: String, shared: Arc<Shared>) {
    while let Ok((mut client, _)) = listener.accept().await {
        if shared.cut.load(Ordering::SeqCst) {
            continue; // dropped: closed at once
        }
        let upstream = upstream.clone();
        let connection = tokio::spawn(async move {
            if let Ok(mut server) = TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        let mut connections = shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections.retain(|earlier| !earlier.is_finished());
        connections.push(connection);
    }
}
