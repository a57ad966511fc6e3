//! How the NATS bus connects, which stream it keeps, and why connecting can fail.

use crate::bus::SubjectPattern;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the NATS bus connects and what its stream keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsBusConfig {
    /// The server, such as `nats://127.0.0.1:4222`.
    pub url: String,
    /// Who the engine is to the server.
    pub credentials: NatsCredentials,
    /// The JetStream stream that stores every message the engine's queues read, such as
    /// `CLAIMS`. Its name also names its advisories.
    pub stream: String,
    /// The subjects the stream captures, such as `claims.submit.>`, `events.>`,
    /// `deadletter.>`. Every work queue's subjects and dead-letter subject must be among
    /// them; messages to other subjects (answers to an insurer, replies to its inbox)
    /// travel as plain NATS messages, heard by whoever listens at that moment and kept
    /// nowhere.
    pub subjects: Vec<SubjectPattern>,
    /// How long a message id is remembered (the stream's duplicate window): a message
    /// re-published with the same id within it is dropped.
    pub dedup_window: Duration,
    /// A payload limit lower than the server's, if wanted; the server's `max_payload`
    /// applies either way.
    pub max_payload: Option<usize>,
    /// How long the stream keeps a message, delivered or not: the horizon within which a
    /// queue declared late, or an operator, can still read it.
    pub max_age: Duration,
    /// A subject token put in front of every subject the engine uses, stored or plain, on
    /// the wire only (`bench-1.claims.submit.acme`), so that several engines (a benchmark,
    /// a staging copy) share one server without their streams capturing the same subjects
    /// or their answers reaching each other's listeners. Subjects of NATS itself, those
    /// beginning with `_` or `$` (an insurer's `_INBOX.…`), are left as they are. The
    /// engine's roles never see it. `None` in production: insurers publish to the
    /// subjects as documented.
    pub namespace: Option<String>,
    /// How long a worker that has taken a message, with fewer waiting behind it than its
    /// batch could take, waits for more before it asks for the rest of its batch: messages
    /// trickling in then share a batch, and so its round trips to the store and the server,
    /// at the price of at most that wait on each queue's hop. Zero takes only what is
    /// ready. A worker with a full batch waiting never lingers, nor one whose messages
    /// arrive too seldom for the linger to gather half a message (under 250 a second for
    /// 2 ms; `arrivals.rs`).
    pub batch_linger: Duration,
}

impl NatsBusConfig {
    /// The default deduplication window, JetStream's default.
    pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(120);
    /// The default retention: a week, long enough to inspect a dead letter after a weekend.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
    /// The default linger: 2 ms. At a steady 1,000 claims/s it cut the processor time per
    /// claim by 3–13% in every run and lowered the p99 latency in seven runs of eleven
    /// (`docs/benchmarks.md`).
    pub const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(2);

    /// A configuration with no credentials and the default window, limits, retention and
    /// linger.
    pub fn new(
        url: impl Into<String>,
        stream: impl Into<String>,
        subjects: Vec<SubjectPattern>,
    ) -> Self {
        Self {
            url: url.into(),
            credentials: NatsCredentials::None,
            stream: stream.into(),
            subjects,
            dedup_window: Self::DEFAULT_DEDUP_WINDOW,
            max_payload: None,
            max_age: Self::DEFAULT_MAX_AGE,
            namespace: None,
            batch_linger: Self::DEFAULT_BATCH_LINGER,
        }
    }

    /// The same configuration with workers waiting `linger` for more messages once they
    /// have one (see [`NatsBusConfig::batch_linger`]).
    pub fn with_batch_linger(mut self, linger: Duration) -> Self {
        self.batch_linger = linger;
        self
    }

    /// The same configuration with every captured subject under `namespace` on the wire.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Where a subject (or pattern) of the engine travels on the wire.
    pub fn on_wire(&self, subject: &str) -> String {
        wire_subject(self.namespace.as_deref(), subject)
    }

    /// The engine's subject for one seen on the wire (unchanged outside the namespace).
    pub fn off_wire<'a>(&self, subject: &'a str) -> &'a str {
        self.namespace
            .as_deref()
            .and_then(|namespace| subject.strip_prefix(namespace)?.strip_prefix('.'))
            .unwrap_or(subject)
    }
}

/// Where a subject (or pattern) of an engine under `namespace` travels on the wire:
/// `staging.claims.submit.acme` for `claims.submit.acme` under `staging`, while the subjects
/// of NATS itself (beginning with `_` or `$`) keep their names. What the bus does to every
/// subject it uses, and what an insurer's client and the server's permissions
/// (`claims nats-config`) must do to match it.
pub fn wire_subject(namespace: Option<&str>, subject: &str) -> String {
    match namespace {
        Some(namespace) if !is_nats_own(subject) => format!("{namespace}.{subject}"),
        _ => subject.to_owned(),
    }
}

/// True for the subjects of NATS itself, never namespaced: inboxes (`_INBOX.…`) and the
/// server's API (`$JS.…`).
fn is_nats_own(subject: &str) -> bool {
    subject.starts_with('_') || subject.starts_with('$')
}

/// How the engine authenticates to the NATS server.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum NatsCredentials {
    /// No authentication (a local development server).
    #[default]
    None,
    /// A user name and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token.
    Token(String),
    /// A `.creds` file (a user JWT and its NKey seed), as issued by an operator.
    CredentialsFile(PathBuf),
}

impl fmt::Debug for NatsCredentials {
    /// Never prints a secret, so a configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::CredentialsFile(path) => f.debug_tuple("CredentialsFile").field(path).finish(),
        }
    }
}

/// Why the NATS bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsBusError {
    /// The credentials file could not be read.
    #[error("cannot read the NATS credentials file {path}: {source}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// The namespace is not one plain subject token.
    #[error("the NATS namespace {0:?} must be one subject token: letters, digits, `-` or `_`")]
    InvalidNamespace(String),
    /// The configuration names no subjects for the stream to capture.
    #[error("the NATS bus's stream {0} must capture at least one subject")]
    NoSubjects(String),
    /// JetStream refused to create or update the stream (JetStream not enabled on the
    /// server, subjects overlapping another stream's, an invalid name).
    #[error("cannot set up the JetStream stream {stream}: {source}")]
    Stream {
        /// The stream.
        stream: String,
        /// Why.
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// The stream was set up but could not be read back.
    #[error("cannot read the JetStream stream {stream}: {source}")]
    StreamLookup {
        /// The stream.
        stream: String,
        /// Why.
        source: async_nats::jetstream::context::GetStreamError,
    },
    /// The advisory subscription that dead-letters unacknowledged messages failed.
    #[error("cannot listen to JetStream advisories on {subject}: {source}")]
    Advisories {
        /// The advisory subject.
        subject: String,
        /// Why.
        source: async_nats::SubscribeError,
    },
}
