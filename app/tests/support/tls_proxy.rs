//! An HTTPS endpoint in front of a plain-HTTP node (anvil): a private CA made for the test,
//! a certificate it signs for 127.0.0.1, and a proxy that terminates TLS with it and
//! forwards the bytes. The CA's certificate is written to a PEM file, as an insurer's
//! private CA would be handed to the engine.
//!
//! The proxy runs on a runtime of its own (a thread), so a test blocking on a child
//! process does not stall it; it stops when dropped.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A running TLS-terminating proxy.
pub struct TlsProxy {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The PEM file of the CA that signed the proxy's certificate.
    pub ca_file: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _directory: tempfile::TempDir,
}

impl TlsProxy {
    /// Starts a proxy forwarding to `upstream` (such as anvil's `http://127.0.0.1:8545`).
    pub fn start(upstream: &str) -> TlsProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let directory = tempfile::tempdir().unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "claims test private CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let ca_file = directory.path().join("chain-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "node.test");
        let server_cert = server_params.signed_by(&server_key, &*ca).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(server_cert.der().to_vec()),
                CertificateDer::from(ca.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        tokio::spawn(forward(acceptor, client, upstream));
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        TlsProxy {
            url: format!("https://127.0.0.1:{port}"),
            ca_file,
            stop: Some(stop),
            thread: Some(thread),
            _directory: directory,
        }
    }
}

/// One connection: the TLS handshake (a client refusing the certificate ends it here),
/// then bytes both ways until either side closes.
async fn forward(acceptor: TlsAcceptor, client: TcpStream, upstream: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(client).await else {
        return;
    };
    let Ok(mut node) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut node).await;
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
