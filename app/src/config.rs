//! `claims serve`'s configuration: a TOML file, then `CLAIMS_*` environment variables, then
//! command-line flags, each overriding the one before; whatever none of them names takes
//! the embedded default (SQLite file, in-process bus, embedded EVM, every role).
//!
//! The settler's private key is never a setting: it comes from `CLAIMS_SETTLER_KEY`, or
//! from the key file or encrypted keystore a setting names, and is read when the engine
//! starts ([`KeySource`]).

use crate::engine::{BusChoice, Database, Role};
pub use crate::settlement_chain::{ChainSettings, KeySource};
use crate::settler::SettlerConfig;
use claims_adapters::bus::NatsCredentials;
use claims_domain::{Currency, Money, WalletAddress};
use claims_settlement::{JsonRpcConfig, PayoutToken, SettlementCaps, TokenAmount};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// A prefix for every subject of the engine, on the wire only (`staging` makes
    /// `staging.claims.submit.acme`), so that two engines (production and staging, or a
    /// benchmark) can share one NATS server. Absent in production: insurers publish to the
    /// documented subjects.
    pub nats_namespace: Option<String>,
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
    /// Intake tasks in this process.
    pub intakes: Option<usize>,
    /// Outcome-notice tasks per notice queue in this process (more than one may announce
    /// a claim's review before its pended decision).
    pub notifiers: Option<usize>,
    /// Messages intake, an adjudication worker or a notifier takes from its queue at once.
    pub queue_batch: Option<usize>,
    /// Seconds a message taken from a work queue may stay unacknowledged before it is
    /// delivered again; every process sharing the NATS queues must use the same value.
    pub ack_wait_secs: Option<u64>,
    /// Milliseconds a task that has taken a message from a NATS queue waits for more to
    /// share its batch, when fewer are waiting than the batch takes (default 2; 0 takes
    /// only what is ready).
    pub queue_linger_ms: Option<u64>,
    /// The most plans, providers, members and benefit years intake and the adjudicators of
    /// this process keep folded between batches (default 60,000; 0 keeps none and reads
    /// every stream whole).
    pub folded_streams: Option<usize>,
    /// The HTTP API's address, such as `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// A tracing filter, such as `info` or `claims=debug,warn` (`RUST_LOG` wins).
    pub log_level: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// The settlement chain's JSON-RPC endpoint; the embedded EVM when absent.
    pub rpc_url: Option<String>,
    /// A PEM file of CA certificates trusted for an `https://` node besides the platform's
    /// roots (a private chain behind the insurer's own CA).
    pub rpc_ca_file: Option<PathBuf>,
    /// The `ClaimsSettlement` contract on that chain (required with `rpc_url`).
    pub settlement_contract: Option<String>,
    /// The payout token the contract must pay in; checked against the contract at start.
    pub settlement_token: Option<String>,
    /// The block the contract was deployed in: reconciliation reads logs from there.
    pub settlement_from_block: Option<u64>,
    /// A file holding the settler's private key as hex (else `CLAIMS_SETTLER_KEY`).
    pub settler_key_file: Option<PathBuf>,
    /// An encrypted JSON keystore holding the settler's key, opened with the password in
    /// `CLAIMS_KEYSTORE_PASSWORD`.
    pub settler_keystore: Option<PathBuf>,
    /// Blocks, the including one counted, before a batch counts as settled.
    pub confirmations: Option<u64>,
    /// Seconds one batch may wait for its confirmations before it is left open for later.
    pub confirmation_timeout_secs: Option<u64>,
    /// Seconds a transaction may stay pending before it is replaced with higher fees.
    pub replace_after_secs: Option<u64>,
    /// Milliseconds between polls of the node.
    pub poll_interval_ms: Option<u64>,
    /// Claims per payout batch at most.
    pub batch_size: Option<usize>,
    /// Milliseconds the oldest approved claim may wait before its batch is paid.
    pub batch_wait_ms: Option<u64>,
    /// The most one claim may pay, such as `"50000.00 USD"`: the embedded contract's cap,
    /// or the cap the configured contract must have.
    pub claim_cap: Option<String>,
    /// The most the contract may pay per UTC day, as `claim_cap`.
    pub daily_cap: Option<String>,
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
    /// How the roles take work from their queues.
    pub queues: QueueSettings,
    /// The most streams kept folded between batches (0: none).
    pub folded_streams: usize,
    /// Where this process serves HTTP: the API with the `api` role (on
    /// [`DEFAULT_LISTEN`] unless set), else only its health, readiness and own metrics
    /// ([`crate::api::probes`]), and those only when `listen` is set, so that several
    /// workers on one host do not contend for the default port.
    pub listen: Option<SocketAddr>,
    /// The tracing filter.
    pub log_level: String,
    /// The log format.
    pub log_format: LogFormat,
    /// The chain payouts are settled on.
    pub chain: ChainSettings,
    /// When the settler pays a batch.
    pub settler: SettlerConfig,
}

/// How the roles take work from their queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Intake tasks.
    pub intakes: usize,
    /// Outcome-notice tasks per notice queue.
    pub notifiers: usize,
    /// Messages taken from a queue at once.
    pub batch: usize,
    /// How long a delivery may stay unacknowledged.
    pub ack_wait: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            intakes: 1,
            notifiers: 1,
            batch: crate::engine::DEFAULT_BATCH,
            ack_wait: crate::engine::DEFAULT_ACK_WAIT,
        }
    }
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
                "CLAIMS_NATS_NAMESPACE" => settings.nats_namespace = Some(value),
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
                "CLAIMS_INTAKES" => settings.intakes = Some(number(&name, &value)?),
                "CLAIMS_NOTIFIERS" => settings.notifiers = Some(number(&name, &value)?),
                "CLAIMS_QUEUE_BATCH" => settings.queue_batch = Some(number(&name, &value)?),
                "CLAIMS_ACK_WAIT_SECS" => settings.ack_wait_secs = Some(number(&name, &value)?),
                "CLAIMS_QUEUE_LINGER_MS" => {
                    settings.queue_linger_ms = Some(number(&name, &value)?);
                }
                "CLAIMS_FOLDED_STREAMS" => {
                    settings.folded_streams = Some(number(&name, &value)?);
                }
                "CLAIMS_LISTEN" => settings.listen = Some(value),
                "CLAIMS_LOG_LEVEL" => settings.log_level = Some(value),
                "CLAIMS_LOG_FORMAT" => settings.log_format = Some(value),
                "CLAIMS_RPC_URL" => settings.rpc_url = Some(value),
                "CLAIMS_RPC_CA_FILE" => settings.rpc_ca_file = Some(value.into()),
                "CLAIMS_SETTLEMENT_CONTRACT" => settings.settlement_contract = Some(value),
                "CLAIMS_SETTLEMENT_TOKEN" => settings.settlement_token = Some(value),
                "CLAIMS_SETTLEMENT_FROM_BLOCK" => {
                    settings.settlement_from_block = Some(number(&name, &value)?);
                }
                "CLAIMS_SETTLER_KEY_FILE" => settings.settler_key_file = Some(value.into()),
                "CLAIMS_SETTLER_KEYSTORE" => settings.settler_keystore = Some(value.into()),
                "CLAIMS_CONFIRMATIONS" => settings.confirmations = Some(number(&name, &value)?),
                "CLAIMS_CONFIRMATION_TIMEOUT_SECS" => {
                    settings.confirmation_timeout_secs = Some(number(&name, &value)?);
                }
                "CLAIMS_REPLACE_AFTER_SECS" => {
                    settings.replace_after_secs = Some(number(&name, &value)?);
                }
                "CLAIMS_POLL_INTERVAL_MS" => {
                    settings.poll_interval_ms = Some(number(&name, &value)?);
                }
                "CLAIMS_BATCH_SIZE" => settings.batch_size = Some(number(&name, &value)?),
                "CLAIMS_BATCH_WAIT_MS" => settings.batch_wait_ms = Some(number(&name, &value)?),
                "CLAIMS_CLAIM_CAP" => settings.claim_cap = Some(value),
                "CLAIMS_DAILY_CAP" => settings.daily_cap = Some(value),
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
            nats_namespace: over.nats_namespace.or(self.nats_namespace),
            nats_user: over.nats_user.or(self.nats_user),
            nats_password: over.nats_password.or(self.nats_password),
            nats_token: over.nats_token.or(self.nats_token),
            nats_credentials: over.nats_credentials.or(self.nats_credentials),
            adjudicators: over.adjudicators.or(self.adjudicators),
            intakes: over.intakes.or(self.intakes),
            notifiers: over.notifiers.or(self.notifiers),
            queue_batch: over.queue_batch.or(self.queue_batch),
            ack_wait_secs: over.ack_wait_secs.or(self.ack_wait_secs),
            queue_linger_ms: over.queue_linger_ms.or(self.queue_linger_ms),
            folded_streams: over.folded_streams.or(self.folded_streams),
            listen: over.listen.or(self.listen),
            log_level: over.log_level.or(self.log_level),
            log_format: over.log_format.or(self.log_format),
            rpc_url: over.rpc_url.or(self.rpc_url),
            rpc_ca_file: over.rpc_ca_file.or(self.rpc_ca_file),
            settlement_contract: over.settlement_contract.or(self.settlement_contract),
            settlement_token: over.settlement_token.or(self.settlement_token),
            settlement_from_block: over.settlement_from_block.or(self.settlement_from_block),
            settler_key_file: over.settler_key_file.or(self.settler_key_file),
            settler_keystore: over.settler_keystore.or(self.settler_keystore),
            confirmations: over.confirmations.or(self.confirmations),
            confirmation_timeout_secs: over
                .confirmation_timeout_secs
                .or(self.confirmation_timeout_secs),
            replace_after_secs: over.replace_after_secs.or(self.replace_after_secs),
            poll_interval_ms: over.poll_interval_ms.or(self.poll_interval_ms),
            batch_size: over.batch_size.or(self.batch_size),
            batch_wait_ms: over.batch_wait_ms.or(self.batch_wait_ms),
            claim_cap: over.claim_cap.or(self.claim_cap),
            daily_cap: over.daily_cap.or(self.daily_cap),
        }
    }

    /// The configuration, with defaults for what is not set.
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
        let chain = self.chain()?;
        let settler = self.settler()?;
        let queues = self.queues()?;
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
                    config.namespace = self.nats_namespace.map(namespace).transpose()?;
                    if let Some(millis) = self.queue_linger_ms {
                        config.batch_linger = Duration::from_millis(millis);
                    }
                }
                bus
            }
            None if self.nats_namespace.is_some() => {
                return Err(value(
                    "nats_namespace",
                    "only means something with nats_url (the in-process bus has no wire)",
                ));
            }
            None if self.queue_linger_ms.is_some() => {
                return Err(value(
                    "queue_linger_ms",
                    "only means something with nats_url (the in-process bus hands a worker \
                     whatever is ready)",
                ));
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
        let listen_text = match self.listen {
            Some(text) => Some(text),
            None if roles.contains(&Role::Api) => Some(DEFAULT_LISTEN.to_owned()),
            None => None,
        };
        let listen = listen_text
            .map(|text| {
                text.parse().map_err(|_| ConfigError::Value {
                    setting: "listen".to_owned(),
                    reason: format!("{text:?} is not an address such as 127.0.0.1:8080"),
                })
            })
            .transpose()?;
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
            queues,
            folded_streams: self
                .folded_streams
                .unwrap_or(crate::engine::DEFAULT_FOLDED_STREAMS),
            listen,
            log_level: self.log_level.unwrap_or_else(|| "warn".to_owned()),
            log_format,
            chain,
            settler,
        })
    }

    /// The settlement chain: JSON-RPC when `rpc_url` is set, else the embedded EVM.
    fn chain(&self) -> Result<ChainSettings, ConfigError> {
        let caps = match (&self.claim_cap, &self.daily_cap) {
            (None, None) => None,
            (Some(per_claim), Some(per_day)) => Some(SettlementCaps {
                per_claim: cap("claim_cap", per_claim)?,
                per_day: cap("daily_cap", per_day)?,
            }),
            _ => {
                return Err(value(
                    "claim_cap",
                    "set both claim_cap and daily_cap, or neither",
                ));
            }
        };
        let Some(rpc_url) = &self.rpc_url else {
            let json_rpc_only = [
                ("rpc_ca_file", self.rpc_ca_file.is_some()),
                ("settlement_contract", self.settlement_contract.is_some()),
                ("settlement_token", self.settlement_token.is_some()),
                ("settler_key_file", self.settler_key_file.is_some()),
                ("settler_keystore", self.settler_keystore.is_some()),
            ];
            if let Some((setting, _)) = json_rpc_only.iter().find(|(_, set)| *set) {
                return Err(value(
                    setting,
                    "only means something with rpc_url (the embedded EVM deploys its own)",
                ));
            }
            return Ok(ChainSettings::Embedded { caps });
        };
        let contract = self.settlement_contract.as_deref().ok_or_else(|| {
            value(
                "settlement_contract",
                "required with rpc_url: the address `claims contract deploy` printed",
            )
        })?;
        let settlement = address("settlement_contract", contract)?;
        let mut config = JsonRpcConfig::new(rpc_url.clone(), settlement);
        config.rpc_ca_file = self.rpc_ca_file.clone();
        if let Some(confirmations) = self.confirmations {
            if confirmations == 0 {
                return Err(value(
                    "confirmations",
                    "at least 1: the including block itself",
                ));
            }
            config.confirmations = confirmations;
        }
        if let Some(seconds) = self.confirmation_timeout_secs {
            config.confirmation_timeout = Duration::from_secs(seconds);
        }
        if let Some(seconds) = self.replace_after_secs {
            config.replace_after = Duration::from_secs(seconds);
        }
        if let Some(millis) = self.poll_interval_ms {
            config.poll_interval = Duration::from_millis(millis);
        }
        if let Some(block) = self.settlement_from_block {
            config.deployed_at_block = block;
        }
        let token = self
            .settlement_token
            .as_deref()
            .map(|token| address("settlement_token", token))
            .transpose()?;
        let key = match (&self.settler_key_file, &self.settler_keystore) {
            (Some(_), Some(_)) => {
                return Err(value(
                    "settler_key_file",
                    "name either a key file or a keystore, not both",
                ));
            }
            (Some(path), None) => KeySource::File(path.clone()),
            (None, Some(path)) => KeySource::Keystore(path.clone()),
            (None, None) => KeySource::Environment,
        };
        Ok(ChainSettings::JsonRpc {
            config,
            token,
            key,
            caps,
        })
    }

    /// How the roles take work: each count at least one, an `ack_wait` of at least a
    /// second (a batch is decided in far less, but a shorter wait would hand messages to
    /// a second worker while the first still holds them).
    fn queues(&self) -> Result<QueueSettings, ConfigError> {
        let defaults = QueueSettings::default();
        let at_least_one = |setting: &str, given: Option<usize>, default: usize| match given {
            Some(0) => Err(value(setting, "at least 1")),
            Some(count) => Ok(count),
            None => Ok(default),
        };
        let ack_wait = match self.ack_wait_secs {
            Some(0) => return Err(value("ack_wait_secs", "at least 1 second")),
            Some(seconds) => Duration::from_secs(seconds),
            None => defaults.ack_wait,
        };
        Ok(QueueSettings {
            intakes: at_least_one("intakes", self.intakes, defaults.intakes)?,
            notifiers: at_least_one("notifiers", self.notifiers, defaults.notifiers)?,
            batch: at_least_one("queue_batch", self.queue_batch, defaults.batch)?,
            ack_wait,
        })
    }

    /// When the settler pays: `batch_size` claims or `batch_wait_ms`, whichever first.
    fn settler(&self) -> Result<SettlerConfig, ConfigError> {
        let mut settler = SettlerConfig::default();
        if let Some(size) = self.batch_size {
            if size == 0 {
                return Err(value("batch_size", "at least one claim per batch"));
            }
            settler.max_batch = size;
        }
        if let Some(millis) = self.batch_wait_ms {
            settler.max_wait = Some(Duration::from_millis(millis));
        }
        Ok(settler)
    }
}

fn value(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        setting: setting.to_owned(),
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(setting: &str, text: &str) -> Result<T, ConfigError> {
    text.trim()
        .parse()
        .map_err(|_| value(setting, format!("{text:?} is not a whole number")))
}

fn address(setting: &str, text: &str) -> Result<WalletAddress, ConfigError> {
    text.trim()
        .parse()
        .map_err(|error| value(setting, format!("{text:?} is not an address: {error}")))
}

/// A cap such as `"50000.00 USD"` in the 6-decimal USD stablecoin's base units, exactly.
fn cap(setting: &str, text: &str) -> Result<TokenAmount, ConfigError> {
    let money: Money = text.parse().map_err(|error| {
        value(
            setting,
            format!("{text:?} is not money such as \"50000.00 USD\": {error}"),
        )
    })?;
    PayoutToken {
        currency: Currency::USD,
        decimals: 6,
    }
    .units(money)
    .map_err(|error| value(setting, error.to_string()))
}

/// A NATS subject namespace (`staging`, `eu-staging`): one subject token of letters,
/// digits, `-` and `_`, as the bus takes it (`NatsBus::connect` refuses anything else, so
/// it is refused here, before a server's permissions are written for it). It may not
/// start with `_` or `$` (NATS's own subjects: inboxes, the JetStream API) nor be a root
/// of the engine's subjects (`claims`, `events`, `deadletter`), which an engine without a
/// namespace on the same server would capture too.
pub fn namespace(text: String) -> Result<String, ConfigError> {
    const SETTING: &str = "nats_namespace";
    let text = text.trim().to_owned();
    if let Err(error) = claims_adapters::bus::Subject::new(text.as_str()) {
        return Err(value(
            SETTING,
            format!("{text:?} is not a NATS subject prefix: {error}"),
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$')
    {
        return Err(value(
            SETTING,
            format!("{text:?} must be one subject token: letters, digits, `-` or `_`"),
        ));
    }
    if text.starts_with('_') || text.starts_with('$') {
        return Err(value(
            SETTING,
            format!("{text:?} starts with `_` or `$`, which NATS and the bus keep for themselves"),
        ));
    }
    let roots = crate::subjects::engine_subjects();
    if roots
        .iter()
        .any(|pattern| pattern.as_str().split('.').next() == Some(text.as_str()))
    {
        return Err(value(
            SETTING,
            format!(
                "{text:?} is one of the engine's own subject roots: an engine without a \
                 namespace would capture its subjects too"
            ),
        ));
    }
    Ok(text)
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
        assert_eq!(config.listen.unwrap().to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn the_folded_streams_default_and_can_be_set_or_turned_off() {
        let default = ServeSettings::default().resolve().unwrap();
        assert_eq!(
            default.folded_streams,
            crate::engine::DEFAULT_FOLDED_STREAMS
        );
        let file: ServeSettings = toml::from_str("folded_streams = 5000").unwrap();
        assert_eq!(file.clone().resolve().unwrap().folded_streams, 5000);
        let off = file.overridden_by(
            ServeSettings::from_env([("CLAIMS_FOLDED_STREAMS".to_owned(), "0".to_owned())])
                .unwrap(),
        );
        assert_eq!(off.resolve().unwrap().folded_streams, 0);
        let error =
            ServeSettings::from_env([("CLAIMS_FOLDED_STREAMS".to_owned(), "lots".to_owned())])
                .unwrap_err();
        assert!(
            error.to_string().contains("CLAIMS_FOLDED_STREAMS"),
            "{error}"
        );
    }

    #[test]
    fn a_process_without_the_api_serves_http_only_where_told() {
        let worker = |listen: Option<&str>| ServeSettings {
            roles: Some(vec!["adjudicator".to_owned()]),
            listen: listen.map(str::to_owned),
            ..ServeSettings::default()
        };
        assert_eq!(worker(None).resolve().unwrap().listen, None);
        assert_eq!(
            worker(Some("127.0.0.1:9101")).resolve().unwrap().listen,
            Some("127.0.0.1:9101".parse().unwrap())
        );
        let error = worker(Some("port 9101")).resolve().unwrap_err();
        assert!(error.to_string().contains("listen"), "{error}");
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
    fn queue_settings_come_from_the_file_and_environment_and_refuse_zero() {
        assert_eq!(
            ServeSettings::default().resolve().unwrap().queues,
            QueueSettings::default()
        );
        let file: ServeSettings = toml::from_str(
            r#"
            intakes = 2
            notifiers = 3
            queue_batch = 100
            ack_wait_secs = 60
            "#,
        )
        .unwrap();
        let env = ServeSettings::from_env([
            ("CLAIMS_QUEUE_BATCH".to_owned(), "16".to_owned()),
            ("CLAIMS_ACK_WAIT_SECS".to_owned(), "45".to_owned()),
        ])
        .unwrap();
        let queues = file.overridden_by(env).resolve().unwrap().queues;
        assert_eq!(
            queues,
            QueueSettings {
                intakes: 2,
                notifiers: 3,
                batch: 16,
                ack_wait: Duration::from_secs(45),
            }
        );
        for (name, value, setting) in [
            ("CLAIMS_INTAKES", "0", "intakes"),
            ("CLAIMS_NOTIFIERS", "0", "notifiers"),
            ("CLAIMS_QUEUE_BATCH", "0", "queue_batch"),
            ("CLAIMS_ACK_WAIT_SECS", "0", "ack_wait_secs"),
        ] {
            let settings = ServeSettings::from_env([(name.to_owned(), value.to_owned())]).unwrap();
            let error = settings.resolve().unwrap_err().to_string();
            assert!(error.starts_with(setting), "{error}");
        }
        assert!(
            ServeSettings::from_env([("CLAIMS_QUEUE_BATCH".to_owned(), "many".to_owned())])
                .is_err()
        );
    }

    #[test]
    fn an_rpc_url_settles_on_that_chain_with_the_settings_around_it() {
        let file: ServeSettings = toml::from_str(
            r#"
            rpc_url = "http://127.0.0.1:8545"
            settlement_contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            settlement_token = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
            settler_key_file = "/run/secrets/settler.key"
            confirmations = 2
            batch_size = 25
            claim_cap = "5000.00 USD"
            daily_cap = "100000.00 USD"
            "#,
        )
        .unwrap();
        let env = ServeSettings::from_env([
            ("CLAIMS_CONFIRMATIONS".to_owned(), "6".to_owned()),
            ("CLAIMS_BATCH_WAIT_MS".to_owned(), "500".to_owned()),
            (
                "CLAIMS_RPC_CA_FILE".to_owned(),
                "/etc/claims/chain-ca.pem".to_owned(),
            ),
            (
                "CLAIMS_SETTLER_KEY".to_owned(),
                "0xnot-a-setting".to_owned(),
            ),
        ])
        .unwrap();

        let config = file.overridden_by(env).resolve().unwrap();

        let ChainSettings::JsonRpc {
            config: chain,
            token,
            key,
            caps,
        } = config.chain
        else {
            panic!("{:?}", config.chain)
        };
        assert_eq!(chain.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(chain.confirmations, 6);
        assert_eq!(
            chain.rpc_ca_file,
            Some(PathBuf::from("/etc/claims/chain-ca.pem"))
        );
        assert!(token.is_some());
        assert_eq!(key, KeySource::File("/run/secrets/settler.key".into()));
        assert_eq!(
            caps.map(|caps| (caps.per_claim.base_units(), caps.per_day.base_units())),
            Some((5_000_000_000, 100_000_000_000))
        );
        assert_eq!(config.settler.max_batch, 25);
        assert_eq!(config.settler.max_wait, Some(Duration::from_millis(500)));
    }

    #[test]
    fn chain_settings_that_cannot_work_are_refused_with_the_setting_named() {
        let refused = |settings: ServeSettings| settings.resolve().unwrap_err().to_string();
        let no_contract = refused(ServeSettings {
            rpc_url: Some("http://127.0.0.1:8545".into()),
            ..ServeSettings::default()
        });
        assert!(no_contract.contains("settlement_contract"), "{no_contract}");
        let contract_without_chain = refused(ServeSettings {
            settlement_contract: Some("0x5FbDB2315678afecb367f032d93F642f64180aa3".into()),
            ..ServeSettings::default()
        });
        assert!(
            contract_without_chain.contains("rpc_url"),
            "{contract_without_chain}"
        );
        let precise = refused(ServeSettings {
            claim_cap: Some("1.0000001 USD".into()),
            daily_cap: Some("10.00 USD".into()),
            ..ServeSettings::default()
        });
        assert!(precise.contains("claim_cap"), "{precise}");
        let a_key_in_the_file = toml::from_str::<ServeSettings>("settler_key = \"0xabc\"");
        assert!(a_key_in_the_file.is_err(), "a key is never a file setting");
        let error =
            ServeSettings::from_env([("CLAIMS_CONFIRMATIONS".into(), "deep".into())]).unwrap_err();
        assert!(
            error.to_string().contains("CLAIMS_CONFIRMATIONS"),
            "{error}"
        );
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
    fn a_queue_linger_is_the_nats_bus_s_and_refused_without_one() {
        let env = ServeSettings::from_env([
            ("CLAIMS_NATS_URL".to_owned(), "nats://db:4222".to_owned()),
            ("CLAIMS_QUEUE_LINGER_MS".to_owned(), "0".to_owned()),
        ])
        .unwrap();
        let BusChoice::Nats(nats) = env.resolve().unwrap().bus else {
            panic!("NATS was configured")
        };
        assert_eq!(nats.batch_linger, Duration::ZERO);
        let file: ServeSettings = toml::from_str("queue_linger_ms = 5").unwrap();
        let error = file.resolve().unwrap_err().to_string();
        assert!(
            error.contains("queue_linger_ms")
                && error.contains("only means something with nats_url"),
            "{error}"
        );
    }

    #[test]
    fn a_nats_namespace_prefixes_the_wire_subjects_and_bad_ones_are_refused() {
        let env = ServeSettings::from_env([
            ("CLAIMS_NATS_URL".to_owned(), "nats://db:4222".to_owned()),
            ("CLAIMS_NATS_NAMESPACE".to_owned(), "staging".to_owned()),
        ])
        .unwrap();
        let BusChoice::Nats(nats) = env.resolve().unwrap().bus else {
            panic!("NATS was configured")
        };
        assert_eq!(
            nats.on_wire("claims.submit.acme"),
            "staging.claims.submit.acme"
        );
        assert_eq!(
            nats.batch_linger,
            claims_adapters::bus::NatsBusConfig::DEFAULT_BATCH_LINGER
        );

        for (namespace, says) in [
            ("", "not a NATS subject prefix"),
            ("stag ing", "not a NATS subject prefix"),
            ("staging.*", "not a NATS subject prefix"),
            ("_CLAIMS_BUS", "keep for themselves"),
            ("claims", "engine's own subject roots"),
            ("deadletter", "engine's own subject roots"),
            ("eu.staging", "one subject token"),
        ] {
            let settings = ServeSettings {
                nats_url: Some("nats://db:4222".to_owned()),
                nats_namespace: Some(namespace.to_owned()),
                ..ServeSettings::default()
            };
            let error = settings.resolve().unwrap_err().to_string();
            assert!(
                error.contains("nats_namespace") && error.contains(says),
                "{namespace:?}: {error}"
            );
        }
        let without_nats = ServeSettings {
            nats_namespace: Some("staging".to_owned()),
            ..ServeSettings::default()
        };
        let error = without_nats.resolve().unwrap_err().to_string();
        assert!(
            error.contains("only means something with nats_url"),
            "{error}"
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
