//! `claims serve`'s configuration: a TOML file, then `CLAIMS_*` environment variables, then
//! command-line flags, each overriding the one before; whatever none of them names takes
//! the embedded default (SQLite file, in-process bus, embedded EVM, every role).

use crate::engine::{BusChoice, Database, Role};
use claims_adapters::bus::NatsCredentials;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the HTTP API listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The SQLite file used when no database is configured.
pub const DEFAULT_DATABASE: &str = "claims.db";

/// Every setting, each optional: the shape of the file, of the environment and of the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// The roles to run; every role when absent.
    pub roles: Option<Vec<String>>,
    /// The SQLite event store file (ignored when `database_url` is set).
    pub database: Option<PathBuf>,
    /// A PostgreSQL event store, such as `postgres://claims@db:5432/claims`.
    pub database_url: Option<String>,
    /// The PostgreSQL schema holding the log and read models (created if missing).
    pub database_schema: Option<String>,
    /// The NATS server; the in-process bus when absent.
    pub nats_url: Option<String>,
    /// The JetStream stream keeping the engine's subjects.
    pub stream: Option<String>,
    /// The engine's NATS user (with `nats_password`).
    pub nats_user: Option<String>,
    /// The NATS user's password.
    pub nats_password: Option<Secret>,
    /// A NATS token, instead of a user and password.
    pub nats_token: Option<Secret>,
    /// A NATS `.creds` file (user JWT and NKey seed), instead of a user or a token.
    pub nats_credentials: Option<PathBuf>,
    /// Adjudication workers in this process.
    pub adjudicators: Option<usize>,
    /// The HTTP API's address, such as `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// A tracing filter, such as `info` or `claims=debug,warn` (`RUST_LOG` wins).
    pub log_level: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
}

/// A password or token: read like any string, never printed (its `Debug` is redacted), so
/// settings can be logged whole.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that hands it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape.
    #[error("the configuration file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key.
        reason: String,
    },
    /// A value, from wherever it came, is not usable.
    #[error("{setting}: {reason}")]
    Value {
        /// The setting's name (file key or environment variable).
        setting: String,
        /// What is wrong.
        reason: String,
    },
}

/// How to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not a log format: use text or json")),
        }
    }
}

/// The resolved configuration `claims serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The roles to run.
    pub roles: BTreeSet<Role>,
    /// The event store.
    pub database: Database,
    /// The bus.
    pub bus: BusChoice,
    /// Adjudication workers.
    pub adjudicators: usize,
    /// The HTTP API's address.
    pub listen: SocketAddr,
    /// The tracing filter.
    pub log_level: String,
    /// The log format.
    pub log_format: LogFormat,
}

impl ServeSettings {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|error| ConfigError::Invalid {
            path: path.to_owned(),
            reason: error.message().to_owned(),
        })
    }

    /// The `CLAIMS_*` variables among `vars` (such as `std::env::vars()`).
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut settings = ServeSettings::default();
        for (name, value) in vars {
            match name.as_str() {
                "CLAIMS_ROLES" => settings.roles = Some(split_roles(&value)),
                "CLAIMS_DATABASE" => settings.database = Some(value.into()),
                "CLAIMS_DATABASE_URL" => settings.database_url = Some(value),
                "CLAIMS_DATABASE_SCHEMA" => settings.database_schema = Some(value),
                "CLAIMS_NATS_URL" => settings.nats_url = Some(value),
                "CLAIMS_STREAM" => settings.stream = Some(value),
                "CLAIMS_NATS_USER" => settings.nats_user = Some(value),
                "CLAIMS_NATS_PASSWORD" => settings.nats_password = Some(value.into()),
                "CLAIMS_NATS_TOKEN" => settings.nats_token = Some(value.into()),
                "CLAIMS_NATS_CREDENTIALS" => settings.nats_credentials = Some(value.into()),
                "CLAIMS_ADJUDICATORS" => {
                    settings.adjudicators =
                        Some(value.parse().map_err(|_| ConfigError::Value {
                            setting: name.clone(),
                            reason: format!("{value:?} is not a number of workers"),
                        })?);
                }
                "CLAIMS_LISTEN" => settings.listen = Some(value),
                "CLAIMS_LOG_LEVEL" => settings.log_level = Some(value),
                "CLAIMS_LOG_FORMAT" => settings.log_format = Some(value),
                _ => {}
            }
        }
        Ok(settings)
    }

    /// These settings, with every value `over` names replacing this one's.
    pub fn overridden_by(self, over: ServeSettings) -> ServeSettings {
        ServeSettings {
            roles: over.roles.or(self.roles),
            database: over.database.or(self.database),
            database_url: over.database_url.or(self.database_url),
            database_schema: over.database_schema.or(self.database_schema),
            nats_url: over.nats_url.or(self.nats_url),
            stream: over.stream.or(self.stream),
            nats_user: over.nats_user.or(self.nats_user),
            nats_password: over.nats_password.or(self.nats_password),
            nats_token: over.nats_token.or(self.nats_token),
            nats_credentials: over.nats_credentials.or(self.nats_credentials),
            adjudicators: over.adjudicators.or(self.adjudicators),
            listen: over.listen.or(self.listen),
            log_level: over.log_level.or(self.log_level),
            log_format: over.log_format.or(self.log_format),
        }
    }

    /// The configuration, with defaults for what is not set.
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
        let roles = match self.roles {
            None => Role::ALL.into_iter().collect(),
            Some(names) => {
                let roles = names
                    .iter()
                    .map(|name| name.parse::<Role>())
                    .collect::<Result<BTreeSet<_>, _>>()
                    .map_err(|error| ConfigError::Value {
                        setting: "roles".to_owned(),
                        reason: error.to_string(),
                    })?;
                if roles.is_empty() {
                    return Err(ConfigError::Value {
                        setting: "roles".to_owned(),
                        reason: "name at least one role".to_owned(),
                    });
                }
                roles
            }
        };
        let database = match self.database_url {
            Some(url) => Database::Postgres {
                url,
                schema: self.database_schema,
            },
            None => Database::File(
                self.database
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE)),
            ),
        };
        let credentials = nats_credentials(
            self.nats_user,
            self.nats_password,
            self.nats_token,
            self.nats_credentials,
        )?;
        let bus = match self.nats_url {
            Some(url) => {
                let mut bus = BusChoice::nats(
                    url,
                    self.stream
                        .unwrap_or_else(|| BusChoice::DEFAULT_STREAM.to_owned()),
                );
                if let BusChoice::Nats(config) = &mut bus {
                    config.credentials = credentials;
                }
                bus
            }
            None if credentials != NatsCredentials::None => {
                return Err(ConfigError::Value {
                    setting: "nats_url".to_owned(),
                    reason: "NATS credentials are set but no NATS server: set nats_url too"
                        .to_owned(),
                });
            }
            None => BusChoice::InProcess,
        };
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| ConfigError::Value {
            setting: "listen".to_owned(),
            reason: format!("{listen_text:?} is not an address such as 127.0.0.1:8080"),
        })?;
        let log_format = self
            .log_format
            .as_deref()
            .unwrap_or("text")
            .parse()
            .map_err(|reason| ConfigError::Value {
                setting: "log_format".to_owned(),
                reason,
            })?;
        Ok(ServeConfig {
            roles,
            database,
            bus,
            adjudicators: self.adjudicators.unwrap_or(2),
            listen,
            log_level: self.log_level.unwrap_or_else(|| "warn".to_owned()),
            log_format,
        })
    }
}

/// The one way of authenticating to NATS the settings name: a user and password, a token,
/// a `.creds` file, or none. Naming two, or half of one, is refused rather than guessed at.
pub fn nats_credentials(
    user: Option<String>,
    password: Option<Secret>,
    token: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<NatsCredentials, ConfigError> {
    let refuse = |setting: &str, reason: &str| {
        Err(ConfigError::Value {
            setting: setting.to_owned(),
            reason: reason.to_owned(),
        })
    };
    match (user, password, token, file) {
        (None, None, None, None) => Ok(NatsCredentials::None),
        (Some(user), Some(password), None, None) => Ok(NatsCredentials::UserPassword {
            user,
            password: password.expose().to_owned(),
        }),
        (None, None, Some(token), None) => Ok(NatsCredentials::Token(token.expose().to_owned())),
        (None, None, None, Some(file)) => Ok(NatsCredentials::CredentialsFile(file)),
        (Some(_), None, None, None) => refuse(
            "nats_password",
            "a NATS user needs its password (CLAIMS_NATS_PASSWORD or nats_password)",
        ),
        (None, Some(_), None, None) => refuse(
            "nats_user",
            "a NATS password needs its user (CLAIMS_NATS_USER, nats_user or --nats-user)",
        ),
        _ => refuse(
            "nats_credentials",
            "name one way to authenticate to NATS: a user and password, a token, or a credentials file",
        ),
    }
}

/// Roles written as `intake,relay` (commas, spaces allowed).
pub fn split_roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nothing_configured_is_the_embedded_default_with_every_role() {
        let config = ServeSettings::default().resolve().unwrap();
        assert_eq!(config.roles.len(), Role::ALL.len());
        assert_eq!(config.database, Database::File(DEFAULT_DATABASE.into()));
        assert!(matches!(config.bus, BusChoice::InProcess));
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn the_environment_overrides_the_file_and_flags_override_both() {
        let file: ServeSettings = toml::from_str(
            r#"
            roles = ["intake", "relay"]
            database_url = "postgres://file@db/claims"
            nats_url = "nats://file:4222"
            adjudicators = 4
            "#,
        )
        .unwrap();
        let env = ServeSettings::from_env([
            ("CLAIMS_NATS_URL".to_owned(), "nats://env:4222".to_owned()),
            ("CLAIMS_ROLES".to_owned(), "adjudicator, api".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ])
        .unwrap();
        let flags = ServeSettings {
            adjudicators: Some(8),
            ..ServeSettings::default()
        };
        let config = file
            .overridden_by(env)
            .overridden_by(flags)
            .resolve()
            .unwrap();
        assert_eq!(
            config.roles,
            [Role::Adjudicator, Role::Api].into_iter().collect()
        );
        assert_eq!(config.adjudicators, 8);
        assert!(
            matches!(config.database, Database::Postgres { ref url, .. } if url == "postgres://file@db/claims")
        );
        assert!(matches!(config.bus, BusChoice::Nats(_)));
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let error = ServeSettings {
            roles: Some(vec!["intake".to_owned(), "cashier".to_owned()]),
            ..ServeSettings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(error.to_string().contains("roles"), "{error}");
        assert!(error.to_string().contains("cashier"), "{error}");
        let error = toml::from_str::<ServeSettings>("nats = \"x\"").unwrap_err();
        assert!(error.message().contains("nats"), "{error}");
        let error =
            ServeSettings::from_env([("CLAIMS_ADJUDICATORS".into(), "many".into())]).unwrap_err();
        assert!(error.to_string().contains("CLAIMS_ADJUDICATORS"), "{error}");
    }

    #[test]
    fn nats_credentials_come_from_the_environment_and_are_never_printed() {
        let file: ServeSettings =
            toml::from_str("nats_url = \"nats://db:4222\"\nnats_user = \"claims-engine\"\n")
                .unwrap();
        let env = ServeSettings::from_env([(
            "CLAIMS_NATS_PASSWORD".to_owned(),
            "s3cret-pa55".to_owned(),
        )])
        .unwrap();
        let settings = file.overridden_by(env);
        assert!(!format!("{settings:?}").contains("s3cret-pa55"));
        let config = settings.resolve().unwrap();
        assert!(!format!("{config:?}").contains("s3cret-pa55"));
        let BusChoice::Nats(nats) = config.bus else {
            panic!("NATS was configured")
        };
        assert_eq!(
            nats.credentials,
            NatsCredentials::UserPassword {
                user: "claims-engine".to_owned(),
                password: "s3cret-pa55".to_owned()
            }
        );
    }

    #[test]
    fn half_or_two_sets_of_nats_credentials_are_refused() {
        let user_only = ServeSettings {
            nats_url: Some("nats://db:4222".to_owned()),
            nats_user: Some("claims-engine".to_owned()),
            ..ServeSettings::default()
        };
        let error = user_only.clone().resolve().unwrap_err();
        assert!(error.to_string().contains("nats_password"), "{error}");
        let two = ServeSettings {
            nats_password: Some(Secret::from("p".to_owned())),
            nats_token: Some(Secret::from("t".to_owned())),
            ..user_only
        };
        let error = two.resolve().unwrap_err();
        assert!(error.to_string().contains("one way"), "{error}");
        let without_server = ServeSettings {
            nats_token: Some(Secret::from("t".to_owned())),
            ..ServeSettings::default()
        };
        let error = without_server.resolve().unwrap_err();
        assert!(error.to_string().contains("nats_url"), "{error}");
    }
}
