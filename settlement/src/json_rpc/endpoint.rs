//! How the engine reaches a node: `http://` or `https://`, and what an error may say about
//! where it was going.
//!
//! HTTPS runs on rustls with the `ring` crypto provider (installed as the process default
//! before the first client is built; reqwest is compiled without a provider of its own, see
//! the root `Cargo.toml`). A node's certificate is checked against the platform's roots
//! (rustls-platform-verifier), plus the certificates of an optional PEM file for a private
//! chain behind an insurer's own CA.
//!
//! A provider's URL often carries its API key in the path or query
//! (`https://mainnet.example/v3/<key>`), and reqwest names the full URL in its errors, so
//! every error leaving this module names the endpoint by its origin only
//! (`https://mainnet.example`).

use crate::chain::ChainError;
use alloy::providers::RootProvider;
use alloy::rpc::client::RpcClient;
use alloy::transports::http::Http;
use alloy::transports::http::reqwest::{self, Certificate, Url};
use std::path::{Path, PathBuf};

/// A node's JSON-RPC endpoint.
#[derive(Clone)]
pub struct RpcEndpoint {
    url: Url,
    ca_file: Option<PathBuf>,
}

impl RpcEndpoint {
    /// The endpoint at `rpc_url` (`http://` or `https://`), trusting the certificates in
    /// `ca_file` (PEM) besides the platform's roots.
    pub fn new(rpc_url: &str, ca_file: Option<&Path>) -> Result<Self, ChainError> {
        // The text itself stays out of the error: it may hold an API key.
        let url = Url::parse(rpc_url).map_err(|error| {
            ChainError::Unavailable(format!(
                "the RPC URL is not a URL ({error}); expected http://host:port or https://host/path"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ChainError::Unavailable(format!(
                "the RPC URL's scheme is {:?}: only http and https are supported",
                url.scheme()
            )));
        }
        Ok(Self {
            url,
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }

    /// `scheme://host[:port]`: how errors and logs name the endpoint, without the path,
    /// query or credentials, which may carry an API key.
    pub fn origin(&self) -> String {
        origin(&self.url)
    }

    /// A provider without fillers over this endpoint.
    pub fn provider(&self) -> Result<RootProvider, ChainError> {
        let client = self.http_client()?;
        let local = alloy::transports::utils::guess_local_url(self.url.as_str());
        let rpc = RpcClient::new(Http::with_client(client, self.url.clone()), local);
        Ok(RootProvider::new(rpc))
    }

    /// The error for a node that could not be reached: the origin, the whole cause (a
    /// refused certificate says so), and what to do about a private CA.
    pub fn unreachable(&self, error: &(dyn std::error::Error + 'static)) -> ChainError {
        let cause = describe(error);
        let hint = if cause.to_lowercase().contains("certificate") && self.ca_file.is_none() {
            "; if the node's certificate comes from a private CA, name the CA's PEM file with \
             rpc_ca_file (CLAIMS_RPC_CA_FILE, --rpc-ca-file)"
        } else {
            ""
        };
        ChainError::Unavailable(format!(
            "cannot reach the node at {}: {cause}{hint}",
            self.origin()
        ))
    }

    fn http_client(&self) -> Result<reqwest::Client, ChainError> {
        install_crypto_provider();
        let builder = reqwest::Client::builder();
        let builder = if self.url.scheme() == "http" {
            // No TLS on this connection: no roots to load, so a host without a CA bundle
            // (a minimal container) still reaches a plain-HTTP node.
            builder.tls_certs_only(Vec::new())
        } else if let Some(path) = &self.ca_file {
            builder.tls_certs_merge(read_ca_file(path)?)
        } else {
            builder
        };
        builder.build().map_err(|error| {
            ChainError::Unavailable(format!(
                "cannot set up TLS for {}: {}",
                self.origin(),
                describe(&error)
            ))
        })
    }
}

impl std::fmt::Debug for RpcEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcEndpoint")
            .field("origin", &self.origin())
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The certificates of a PEM file (one or more `BEGIN CERTIFICATE` blocks).
fn read_ca_file(path: &Path) -> Result<Vec<Certificate>, ChainError> {
    let pem = std::fs::read(path).map_err(|error| {
        ChainError::Unavailable(format!(
            "cannot read the RPC CA file {}: {error}",
            path.display()
        ))
    })?;
    let certificates = Certificate::from_pem_bundle(&pem).map_err(|error| {
        ChainError::Unavailable(format!(
            "the RPC CA file {} is not PEM certificates: {}",
            path.display(),
            describe(&error)
        ))
    })?;
    if certificates.is_empty() {
        return Err(ChainError::Unavailable(format!(
            "the RPC CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// reqwest is built with `rustls-no-provider`: it takes the process's default provider,
/// which must be installed before a client is built. Installing fails only if one is
/// installed already, which is as good.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn origin(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

/// An error and its causes, one after another (`a: b: c`), each repeated message once,
/// with every URL reqwest names (`for url (…)`) cut down to its origin.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = redact_urls(&error.to_string());
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// `… for url (https://node/v3/key) …` as `… for url (https://node) …`.
fn redact_urls(text: &str) -> String {
    const MARK: &str = "url (";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(MARK) {
        let (before, after) = rest.split_at(start + MARK.len());
        out.push_str(before);
        let end = after.find(')').unwrap_or(after.len());
        let shown = Url::parse(&after[..end]).map_or_else(|_| "…".to_owned(), |url| origin(&url));
        out.push_str(&shown);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_keeps_scheme_host_and_port_and_drops_what_may_hold_a_key() {
        let endpoint =
            RpcEndpoint::new("https://user:pass@node.example:8545/v3/SECRETKEY?k=1", None);
        let Ok(endpoint) = endpoint else {
            panic!("a URL")
        };
        assert_eq!(endpoint.origin(), "https://node.example:8545");
        assert!(!format!("{endpoint:?}").contains("SECRETKEY"));
    }

    #[test]
    fn urls_in_error_text_are_cut_to_their_origin() {
        let text = "error sending request for url (https://node.example/v3/SECRETKEY): closed";
        assert_eq!(
            redact_urls(text),
            "error sending request for url (https://node.example): closed"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
    }

    #[test]
    fn a_bad_url_or_scheme_is_refused_without_echoing_it() {
        let error = RpcEndpoint::new("not a url SECRETKEY", None)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("not a URL"), "{error}");
        assert!(!error.contains("SECRETKEY"), "{error}");
        let error = RpcEndpoint::new("ws://node.example/SECRETKEY", None)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"ws\""), "{error}");
        assert!(!error.contains("SECRETKEY"), "{error}");
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_named_in_the_error() {
        let directory = tempfile::tempdir().map_err(|error| error.to_string());
        let Ok(directory) = directory else {
            panic!("a temporary directory")
        };
        let path = directory.path().join("ca.pem");
        let written = std::fs::write(&path, "not a certificate");
        assert!(written.is_ok());
        let endpoint = RpcEndpoint::new("https://node.example", Some(&path));
        let error = endpoint
            .and_then(|endpoint| endpoint.provider())
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("ca.pem"), "{error}");
        assert!(error.contains("no certificate"), "{error}");
    }
}
