//! Who may do what on the NATS server: a nats-server configuration with one account, one
//! user per insurer and one for the engine (`claims nats-config`). The account is a file
//! of its own ([`ACCOUNT_FILE`]) that the generated `nats-server.conf` includes, so that an
//! operator who already runs nats-server can include it in that server's `accounts` block
//! instead.
//!
//! One server can hold several engines (production and staging, say), each in an account
//! of its own: an engine under a subject namespace gets the account `CLAIMS-<namespace>`
//! and its users are named `<namespace>.<name>` ([`account_name`], [`user_name`]), because
//! nats-server wants account names and user names unique across the whole server. An
//! account also keeps each engine's streams and subjects apart from the other's.
//!
//! An insurer may publish only its own submissions, reference data and reviewers'
//! decisions and hear only its own answers, outcomes and inbox, so insurer A can neither submit as insurer B nor read
//! B's acknowledgements and decisions: the server refuses both before the engine sees
//! anything. Each insurer's inbox is `_INBOX.<insurer>.>` rather than the shared
//! `_INBOX.>`, so A cannot read the replies sent to B's inbox either; an insurer's client
//! sets that inbox prefix (`claims submit` does).
//!
//! The engine's user has what its roles need: the engine's subjects (`claims.>`,
//! `events.>`, `deadletter.>`), the JetStream API, acknowledgements, flow control and
//! advisories, and every inbox (answers to insurers, its own API replies, its
//! subscriptions' deliveries).
//!
//! For an engine under a subject namespace (`claims serve --nats-namespace staging`), every
//! permission names its subject as the bus puts it on the wire
//! ([`claims_adapters::bus::wire_subject`]): `staging.claims.submit.<insurer>`,
//! `staging.events.>`, while NATS's own subjects keep their names (`_INBOX.<insurer>.>`,
//! `$JS.API.>`, `$JS.ACK.>`, `$JS.FC.>`).

use crate::subjects;
use claims_adapters::bus::wire_subject;
use claims_domain::InsurerId;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The account every user of an engine without a namespace lives in; JetStream is enabled
/// for it.
pub const ACCOUNT: &str = "CLAIMS";
/// The file, beside `nats-server.conf`, that holds the account and its users.
pub const ACCOUNT_FILE: &str = "claims-account.conf";
/// The engine's user name unless told otherwise.
pub const DEFAULT_ENGINE_USER: &str = "claims-engine";

/// The account of an engine under `namespace`: [`ACCOUNT`] without one,
/// `CLAIMS-<namespace>` with one, so that each engine on a server has its own.
pub fn account_name(namespace: Option<&str>) -> String {
    match namespace {
        None => ACCOUNT.to_owned(),
        Some(namespace) => format!("{ACCOUNT}-{namespace}"),
    }
}

/// The NATS user `name` (an insurer's id, or the engine's user) of an engine under
/// `namespace`: `name` itself without one, `<namespace>.<name>` with one. nats-server
/// refuses a user name used twice, even in two accounts.
pub fn user_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        None => name.to_owned(),
        Some(namespace) => format!("{namespace}.{name}"),
    }
}

/// One user and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUser {
    /// The user name: the insurer id for an insurer, after `<namespace>.` under a
    /// namespace ([`user_name`]).
    pub name: String,
    /// The password (kept out of `Debug`).
    pub password: String,
}

impl std::fmt::Debug for NatsUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The server's access plan: where it listens and keeps JetStream, the subject namespace
/// the engine runs under, the engine's user and every insurer's.
#[derive(Debug, Clone)]
pub struct NatsAccess {
    /// `host:port` the server listens on, such as `0.0.0.0:4222`.
    pub listen: String,
    /// JetStream's storage directory.
    pub store_dir: PathBuf,
    /// The subject namespace the engine runs under (`claims serve --nats-namespace`), if
    /// any: every user's permissions are for its subjects on the wire under it.
    pub namespace: Option<String>,
    /// The engine's user.
    pub engine: NatsUser,
    /// One user per insurer, named by its id ([`user_name`]).
    pub insurers: Vec<(InsurerId, NatsUser)>,
}

/// What one user may publish and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish to.
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

impl Permissions {
    /// The same rights for an engine under `namespace`: each subject as the bus puts it on
    /// the wire, after the namespace unless it is one of NATS's own (`_INBOX.…`, `$JS.…`).
    pub fn on_wire(self, namespace: Option<&str>) -> Self {
        let on_wire = |subjects: Vec<String>| {
            subjects
                .iter()
                .map(|subject| wire_subject(namespace, subject))
                .collect()
        };
        Self {
            publish: on_wire(self.publish),
            subscribe: on_wire(self.subscribe),
        }
    }
}

/// An insurer's rights: its own submissions, reference data and reviews out; its own
/// answers, outcomes and inbox in.
pub fn insurer_permissions(insurer: &InsurerId) -> Permissions {
    Permissions {
        publish: vec![
            subjects::submit(insurer).to_string(),
            subjects::reference(insurer).to_string(),
            subjects::review(insurer).to_string(),
        ],
        subscribe: vec![
            subjects::ack(insurer).to_string(),
            subjects::outcome(insurer).to_string(),
            subjects::reference_ack(insurer).to_string(),
            subjects::review_ack(insurer).to_string(),
            format!("{}.>", subjects::inbox_prefix(insurer)),
        ],
    }
}

/// The engine's rights: every engine subject, the JetStream API (streams, consumers,
/// pulls, reading a message back), acknowledgements, flow control (of the consumers its
/// subscriptions read the stream through), advisories (deliveries that ran out of
/// attempts, consumers created and deleted) and every inbox.
pub fn engine_permissions() -> Permissions {
    let engine_subjects: Vec<String> = subjects::engine_subjects()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut publish = engine_subjects.clone();
    publish.extend(["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "_INBOX.>"].map(str::to_owned));
    let mut subscribe = engine_subjects;
    subscribe.extend(["$JS.EVENT.ADVISORY.>", "_INBOX.>"].map(str::to_owned));
    Permissions { publish, subscribe }
}

impl NatsAccess {
    /// The nats-server configuration: where it listens and keeps JetStream, and the
    /// accounts, which it takes from [`ACCOUNT_FILE`] beside it.
    pub fn render_server(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# nats-server configuration generated by `claims nats-config`. The engine's account,\n\
             # with its users and their passwords, is in {ACCOUNT_FILE} beside this file; a server\n\
             # of your own can include that file in its accounts block instead of running this one."
        );
        let _ = writeln!(text, "listen: {}", quoted(&self.listen));
        let _ = writeln!(
            text,
            "jetstream {{\n  store_dir: {}\n}}",
            quoted(&self.store_dir.to_string_lossy())
        );
        let _ = writeln!(text, "accounts {{\n  include {}\n}}", quoted(ACCOUNT_FILE));
        text
    }

    /// The engine's account ([`account_name`]), with JetStream: the engine's user and one
    /// user per insurer, each limited to its own subjects. An entry of a nats-server
    /// `accounts` block.
    pub fn render_account(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# The claims engine's account, generated by `claims nats-config`: the engine's user\n\
             # and one user per insurer, each limited to its own subjects. Include it in a\n\
             # nats-server accounts block. It holds passwords: keep it readable by the server's\n\
             # user only."
        );
        let namespace = self.namespace.as_deref();
        if let Some(namespace) = namespace {
            let _ = writeln!(
                text,
                "# Subjects under the namespace {namespace} (claims serve --nats-namespace {namespace}),\n\
                 # users named {namespace}.<name>."
            );
        }
        let _ = writeln!(
            text,
            "{} {{\n  jetstream: enabled\n  users: [",
            quoted(&account_name(namespace))
        );
        user(
            &mut text,
            &self.engine,
            &engine_permissions().on_wire(namespace),
        );
        for (insurer, account) in &self.insurers {
            user(
                &mut text,
                account,
                &insurer_permissions(insurer).on_wire(namespace),
            );
        }
        let _ = writeln!(text, "  ]\n}}");
        text
    }
}

fn user(text: &mut String, user: &NatsUser, permissions: &Permissions) {
    let list = |subjects: &[String]| {
        subjects
            .iter()
            .map(|subject| quoted(subject))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        text,
        "    {{\n      user: {}\n      password: {}\n      permissions: {{\n        \
         publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}\n      }}\n    }}",
        quoted(&user.name),
        quoted(&user.password),
        list(&permissions.publish),
        list(&permissions.subscribe),
    );
}

/// A double-quoted string in nats-server's configuration syntax.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        if matches!(character, '"' | '\\') {
            out.push('\\');
        }
        out.push(character);
    }
    out.push('"');
    out
}

/// A new random password: 122 random bits as 32 hex digits.
pub fn new_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Why the configuration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NatsAccessError {
    /// A file could not be read or written.
    #[error("cannot write the NATS configuration to {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An insurer was named twice, or named like the engine's user.
    #[error("the NATS user {0:?} is named twice; every insurer and the engine need their own")]
    DuplicateUser(String),
}

/// What `claims nats-config` was asked for.
#[derive(Debug, Clone)]
pub struct NatsConfigRequest {
    /// The directory to write into: `nats-server.conf`, [`ACCOUNT_FILE`] and
    /// `users/<user>.password`.
    pub out: PathBuf,
    /// `host:port` the server listens on.
    pub listen: String,
    /// JetStream's storage directory (default `<out>/jetstream`).
    pub store_dir: Option<PathBuf>,
    /// The engine's user name (after `<namespace>.` under a namespace, [`user_name`]).
    pub engine_user: String,
    /// Every insurer.
    pub insurers: Vec<InsurerId>,
    /// The subject namespace the engine runs under, if any, as
    /// [`crate::config::namespace`] validated it.
    pub namespace: Option<String>,
}

/// Writes the server's configuration and each user's password file (`users/<user>.password`,
/// readable by the owner only). A password file that already exists is kept, so adding an
/// insurer and generating again does not change anyone else's password.
pub fn write(request: &NatsConfigRequest) -> Result<NatsAccess, NatsAccessError> {
    let users = request.out.join("users");
    create_dir(&users)?;
    let mut names = std::collections::BTreeSet::new();
    let namespace = request.namespace.as_deref();
    let mut account = |name: &str| -> Result<NatsUser, NatsAccessError> {
        let name = user_name(namespace, name);
        if !names.insert(name.clone()) {
            return Err(NatsAccessError::DuplicateUser(name.to_owned()));
        }
        let password = password_file(&users.join(format!("{name}.password")))?;
        Ok(NatsUser { name, password })
    };
    let engine = account(&request.engine_user)?;
    let insurers = request
        .insurers
        .iter()
        .map(|insurer| Ok((insurer.clone(), account(insurer.as_str())?)))
        .collect::<Result<Vec<_>, NatsAccessError>>()?;
    let access = NatsAccess {
        listen: request.listen.clone(),
        store_dir: request
            .store_dir
            .clone()
            .unwrap_or_else(|| request.out.join("jetstream")),
        namespace: request.namespace.clone(),
        engine,
        insurers,
    };
    write_private(&request.out.join(ACCOUNT_FILE), &access.render_account())?;
    write_private(
        &request.out.join("nats-server.conf"),
        &access.render_server(),
    )?;
    Ok(access)
}

fn create_dir(path: &Path) -> Result<(), NatsAccessError> {
    std::fs::create_dir_all(path).map_err(|source| NatsAccessError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The password kept in `path`, or a new one written there.
fn password_file(path: &Path) -> Result<String, NatsAccessError> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => {
            let password = new_password();
            write_private(path, &format!("{password}\n"))?;
            Ok(password)
        }
    }
}

/// Writes a file only its owner can read: it holds passwords.
fn write_private(path: &Path, text: &str) -> Result<(), NatsAccessError> {
    let io = |source| NatsAccessError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use claims_adapters::bus::{NatsBusConfig, Subject, SubjectPattern};

    #[test]
    fn an_insurer_may_use_only_its_own_subjects() {
        let acme = InsurerId::new("acme-health").unwrap();
        let rights = insurer_permissions(&acme);
        assert_eq!(
            rights.publish,
            [
                "claims.submit.acme-health",
                "claims.reference.acme-health",
                "claims.review.acme-health"
            ]
        );
        assert_eq!(
            rights.subscribe,
            [
                "claims.ack.acme-health",
                "claims.outcome.acme-health",
                "claims.reference-ack.acme-health",
                "claims.review-ack.acme-health",
                "_INBOX.acme-health.>"
            ]
        );
    }

    #[test]
    fn under_a_namespace_an_insurer_may_use_only_its_own_subjects_there_and_its_inbox() {
        let acme = InsurerId::new("acme-health").unwrap();
        let rights = insurer_permissions(&acme).on_wire(Some("staging"));
        assert_eq!(
            rights.publish,
            [
                "staging.claims.submit.acme-health",
                "staging.claims.reference.acme-health",
                "staging.claims.review.acme-health"
            ]
        );
        assert_eq!(
            rights.subscribe,
            [
                "staging.claims.ack.acme-health",
                "staging.claims.outcome.acme-health",
                "staging.claims.reference-ack.acme-health",
                "staging.claims.review-ack.acme-health",
                "_INBOX.acme-health.>"
            ]
        );
        assert_eq!(
            insurer_permissions(&acme).on_wire(None),
            insurer_permissions(&acme)
        );
    }

    /// True when one of `patterns` covers `subject`.
    fn allows(patterns: &[String], subject: &str) -> bool {
        let subject = Subject::new(subject).unwrap();
        patterns.iter().any(|pattern| {
            SubjectPattern::new(pattern.as_str())
                .unwrap()
                .matches(&subject)
        })
    }

    #[test]
    fn under_a_namespace_the_engine_may_use_what_its_bus_puts_on_the_wire() {
        let rights = engine_permissions().on_wire(Some("staging"));
        assert_eq!(
            rights.publish,
            [
                "staging.claims.>",
                "staging.events.>",
                "staging.deadletter.>",
                "$JS.API.>",
                "$JS.ACK.>",
                "$JS.FC.>",
                "_INBOX.>"
            ]
        );
        assert_eq!(
            rights.subscribe,
            [
                "staging.claims.>",
                "staging.events.>",
                "staging.deadletter.>",
                "$JS.EVENT.ADVISORY.>",
                "_INBOX.>"
            ]
        );

        // Every kind of subject the engine uses, as a namespaced bus sends it, stored or
        // plain.
        let bus = NatsBusConfig::new(
            "nats://127.0.0.1:4222",
            "CLAIMS",
            subjects::stream_subjects(),
        )
        .in_namespace("staging");
        let acme = InsurerId::new("acme-health").unwrap();
        for subject in [
            subjects::submit(&acme),
            subjects::reference(&acme),
            subjects::review(&acme),
            subjects::ack(&acme),
            subjects::outcome(&acme),
            subjects::reference_ack(&acme),
            subjects::review_ack(&acme),
            Subject::new("events.claim.ClaimSubmitted.claim-1").unwrap(),
            subjects::dead_letter("intake"),
            Subject::new("_INBOX.acme-health.r1").unwrap(),
        ] {
            let wire = bus.on_wire(subject.as_str());
            assert!(allows(&rights.publish, &wire), "publish {wire}");
            assert!(allows(&rights.subscribe, &wire), "subscribe {wire}");
        }
        // The same subjects outside the namespace are another engine's.
        assert!(!allows(&rights.publish, subjects::submit(&acme).as_str()));
        assert!(!allows(
            &rights.subscribe,
            "events.claim.ClaimSubmitted.claim-1"
        ));
    }

    #[test]
    fn the_configuration_quotes_every_value_and_keeps_passwords_out_of_debug() {
        let access = NatsAccess {
            listen: "127.0.0.1:4222".to_owned(),
            store_dir: "/var/lib/nats \"js\"".into(),
            namespace: None,
            engine: NatsUser {
                name: "claims-engine".to_owned(),
                password: "e-secret".to_owned(),
            },
            insurers: vec![(
                InsurerId::new("acme-health").unwrap(),
                NatsUser {
                    name: "acme-health".to_owned(),
                    password: "a-secret".to_owned(),
                },
            )],
        };
        let server = access.render_server();
        assert!(
            server.contains(r#"store_dir: "/var/lib/nats \"js\"""#),
            "{server}"
        );
        assert!(
            server.contains(r#"include "claims-account.conf""#),
            "{server}"
        );
        assert!(!server.contains("secret"), "{server}");
        let text = access.render_account();
        assert!(text.contains(r#"user: "acme-health""#), "{text}");
        assert!(text.contains(r#"password: "a-secret""#), "{text}");
        assert!(
            text.contains(r#"publish: { allow: ["claims.submit.acme-health", "claims.reference.acme-health", "claims.review.acme-health"] }"#),
            "{text}"
        );
        assert!(!format!("{access:?}").contains("secret"));
        assert!(
            text.contains("\"CLAIMS\" {\n  jetstream: enabled"),
            "{text}"
        );
    }

    #[test]
    fn engines_under_two_namespaces_write_accounts_and_users_that_share_no_name() {
        let directory = tempfile::tempdir().unwrap();
        let acme = InsurerId::new("acme-health").unwrap();
        let request = |namespace: Option<&str>| NatsConfigRequest {
            out: directory.path().join(namespace.unwrap_or("production")),
            listen: "127.0.0.1:4222".to_owned(),
            store_dir: None,
            engine_user: DEFAULT_ENGINE_USER.to_owned(),
            insurers: vec![acme.clone()],
            namespace: namespace.map(str::to_owned),
        };
        let production = write(&request(None)).unwrap();
        let staging = write(&request(Some("staging"))).unwrap();

        assert_eq!(production.engine.name, "claims-engine");
        assert_eq!(production.insurers[0].1.name, "acme-health");
        assert_eq!(staging.engine.name, "staging.claims-engine");
        assert_eq!(staging.insurers[0].1.name, "staging.acme-health");
        assert!(
            directory
                .path()
                .join("staging/users/staging.acme-health.password")
                .exists()
        );
        let text = staging.render_account();
        assert!(
            text.contains("\"CLAIMS-staging\" {\n  jetstream: enabled"),
            "{text}"
        );
        assert!(text.contains(r#"user: "staging.acme-health""#), "{text}");
        assert!(!text.contains(r#"user: "acme-health""#), "{text}");
    }
}
