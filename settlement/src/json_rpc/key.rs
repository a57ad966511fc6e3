//! The settler's signing key: read from the environment or a key file, never printed.

use alloy::signers::local::PrivateKeySigner;
use claims_domain::WalletAddress;
use std::path::Path;

/// The environment variable the settler's key is read from.
pub const SETTLER_KEY_VARIABLE: &str = "CLAIMS_SETTLER_KEY";

/// The environment variable an encrypted keystore's password is read from.
pub const KEYSTORE_PASSWORD_VARIABLE: &str = "CLAIMS_KEYSTORE_PASSWORD";

/// A private key that signs settlement transactions. Its `Debug` shows only the address.
#[derive(Clone)]
pub struct SettlerKey(PrivateKeySigner);

/// Why a key could not be read. No variant carries the key's text.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The variable is not set.
    #[error("set {0}: the settler's private key (64 hex digits) or its keystore's password")]
    Missing(&'static str),
    /// The key file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The encrypted keystore could not be opened (wrong password, not a keystore).
    #[error("cannot open the keystore {path}: {reason}")]
    Keystore {
        /// The file.
        path: String,
        /// Why (never the password).
        reason: String,
    },
    /// The text is not a secp256k1 private key.
    #[error("{0} does not hold a private key: expected 64 hex digits, optionally 0x-prefixed")]
    Malformed(String),
}

impl SettlerKey {
    /// The key in `CLAIMS_SETTLER_KEY`.
    pub fn from_env() -> Result<Self, KeyError> {
        let text = std::env::var(SETTLER_KEY_VARIABLE)
            .map_err(|_| KeyError::Missing(SETTLER_KEY_VARIABLE))?;
        Self::parse(&text, SETTLER_KEY_VARIABLE)
    }

    /// The key in a file holding its hex (surrounding whitespace ignored).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::File {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The key in an encrypted JSON keystore (Web3 Secret Storage, as geth, Foundry's
    /// `cast wallet` and most wallets write it), opened with the password in
    /// `CLAIMS_KEYSTORE_PASSWORD`.
    pub fn from_keystore(path: &Path) -> Result<Self, KeyError> {
        let password = std::env::var(KEYSTORE_PASSWORD_VARIABLE)
            .map_err(|_| KeyError::Missing(KEYSTORE_PASSWORD_VARIABLE))?;
        Self::from_keystore_with(path, &password)
    }

    /// The key in an encrypted JSON keystore, opened with `password`.
    pub fn from_keystore_with(path: &Path, password: &str) -> Result<Self, KeyError> {
        PrivateKeySigner::decrypt_keystore(path, password)
            .map(SettlerKey)
            .map_err(|error| KeyError::Keystore {
                path: path.display().to_string(),
                reason: error.to_string(),
            })
    }

    /// The key from its hex; `origin` names where it came from, for the error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KeyError> {
        text.trim()
            .parse::<PrivateKeySigner>()
            .map(SettlerKey)
            .map_err(|_| KeyError::Malformed(origin.to_owned()))
    }

    /// The key's account.
    pub fn address(&self) -> WalletAddress {
        WalletAddress::from_bytes(self.0.address().into_array())
    }

    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.0
    }
}

impl std::fmt::Debug for SettlerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlerKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // anvil's first development key: public knowledge, holds nothing real.
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn debug_shows_the_address_and_never_the_key() {
        let key = SettlerKey::parse(KEY, "test").map_err(|e| e.to_string());
        let shown = format!("{key:?}");
        assert!(
            shown.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            "{shown}"
        );
        assert!(!shown.contains(&KEY[2..]), "{shown}");
        assert!(
            !shown.to_lowercase().contains("ac0974bec39a17e3"),
            "{shown}"
        );
    }

    #[test]
    fn an_encrypted_keystore_opens_with_its_password_only() {
        let directory = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(directory) = directory else {
            panic!("a temporary directory")
        };
        let secret = alloy::hex::decode(&KEY[2..]).unwrap_or_default();
        let created = PrivateKeySigner::encrypt_keystore(
            directory.path(),
            &mut rand::thread_rng(),
            &secret,
            "correct horse",
            Some("settler.json"),
        );
        assert!(created.is_ok(), "the keystore is written");
        let path = directory.path().join("settler.json");
        let opened =
            SettlerKey::from_keystore_with(&path, "correct horse").map(|key| key.address());
        assert_eq!(
            opened
                .map(|address| address.to_string())
                .unwrap_or_default(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let refused = SettlerKey::from_keystore_with(&path, "wrong")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(refused.contains("settler.json"), "{refused}");
        assert!(!refused.contains("correct horse"), "{refused}");
    }

    #[test]
    fn a_malformed_key_is_refused_without_echoing_it() {
        let error = SettlerKey::parse("0x1234secret", "CLAIMS_SETTLER_KEY")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("CLAIMS_SETTLER_KEY"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }
}
