//! Rule sets at the edge: reading a rule set's directory and storing a version of it.
//!
//! `claims rules load DIR` reads every `.toml` and `.csv` file under `DIR`, has the domain
//! parse and check them ([`claims_domain::rule_set::files`]), and stores the version in one
//! atomic append: `RuleSetPublished` on `ruleset-<id>` and a new revision of every plan it
//! holds, naming the version. A bad file stores nothing and is reported with its path,
//! line and column or field. Loading a version already stored as given stores nothing.
//! An insurer sending a rule set over the bus may publish versions of its own rule sets
//! and revise its own plans only ([`Keeper`]); the operator any.

use crate::keeper::Keeper;
use crate::retry;
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::event_store::EventStore;
use claims_domain::Decider;
use claims_domain::plan::{PlanCommand, PlanDecider, PlanError};
use claims_domain::rule_set::files::{self, RuleFileError};
use claims_domain::rule_set::{
    RuleSet, RuleSetCommand, RuleSetDecider, RuleSetError, RuleSetVersion,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a rule set could not be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetLoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{0} is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in a spreadsheet)")]
    NotText(PathBuf),
    /// A file's contents are wrong; nothing was stored.
    #[error("{0}; nothing was stored")]
    Invalid(RuleFileError),
    /// The version was refused (changed after publication, older than the latest, or
    /// not valid); nothing was stored.
    #[error("{0}; nothing was stored")]
    Refused(#[from] RuleSetError),
    /// One of its plans was refused; nothing was stored.
    #[error("{0}; nothing was stored")]
    PlanRefused(#[from] PlanError),
    /// The sender may not change the rule set or one of its plans; nothing was stored.
    #[error("{entry} was refused: {reason}; nothing was stored")]
    NotKept {
        /// The rule set or plan.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
}

/// What loading did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSetLoaded {
    /// The version is now in force, with this many plan revisions.
    Published {
        /// The version.
        version: RuleSetVersion,
        /// Plans published with it.
        plans: usize,
    },
    /// The version was already stored as given.
    Unchanged(RuleSetVersion),
}

/// Reads and checks the rule set in `directory`, storing nothing.
pub fn read(directory: &Path) -> Result<RuleSet, RuleSetLoadError> {
    let texts = read_files(directory)?;
    files::parse(&texts).map_err(|mut error| {
        error.file = directory.join(&error.file).display().to_string();
        RuleSetLoadError::Invalid(error)
    })
}

/// Every `.toml` and `.csv` file under `directory`, by its path relative to it (with `/`).
fn read_files(directory: &Path) -> Result<BTreeMap<String, String>, RuleSetLoadError> {
    let mut texts = BTreeMap::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let unreadable = |source| RuleSetLoadError::Read {
            path: folder.clone(),
            source,
        };
        for entry in std::fs::read_dir(&folder).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let data = matches!(
                path.extension().and_then(|extension| extension.to_str()),
                Some("toml" | "csv")
            );
            if !data {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| RuleSetLoadError::Read {
                path: path.clone(),
                source,
            })?;
            let text =
                String::from_utf8(bytes).map_err(|_| RuleSetLoadError::NotText(path.clone()))?;
            let relative = path
                .strip_prefix(directory)
                .unwrap_or(&path)
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            texts.insert(relative, text);
        }
    }
    Ok(texts)
}

/// Stores a rule-set version and its plans' new revisions in one append as the operator,
/// retrying on fresh state if another writer moved a stream first.
pub async fn store(
    store: &dyn EventStore,
    rule_set: &RuleSet,
) -> Result<RuleSetLoaded, RuleSetLoadError> {
    store_as(store, rule_set, &Keeper::Operator).await
}

/// Refuses a change of `stream` that `sender` may not make.
async fn check_keeper(
    store: &dyn EventStore,
    sender: &Keeper,
    stream: &claims_adapters::event_store::StreamId,
    entry: impl FnOnce() -> String,
) -> Result<(), RuleSetLoadError> {
    let kept_by = Keeper::of_stream(store, stream)
        .await
        .map_err(AggregateError::from)?;
    match kept_by.and_then(|keeper| sender.refusal(&keeper)) {
        Some(reason) => Err(RuleSetLoadError::NotKept {
            entry: entry(),
            reason,
        }),
        None => Ok(()),
    }
}

/// [`store`] on behalf of `sender`: an insurer may publish versions of the rule sets it
/// keeps and revise the plans it keeps, nothing else.
pub async fn store_as(
    store: &dyn EventStore,
    rule_set: &RuleSet,
    sender: &Keeper,
) -> Result<RuleSetLoaded, RuleSetLoadError> {
    let attempt = || async {
        let stream = streams::rule_set(&rule_set.id.rule_set);
        let published = aggregate::load::<RuleSetDecider>(store, stream.clone()).await?;
        let events = RuleSetDecider::decide(
            &published.state,
            RuleSetCommand::Publish(Box::new(rule_set.clone())),
        )?;
        let metadata = sender.stamp(serde_json::json!({
            "rule_set": rule_set.id.rule_set,
            "version": rule_set.id.version,
        }));
        let Some(rule_set_append) = published.append(&events, &metadata)? else {
            return Ok(RuleSetLoaded::Unchanged(rule_set.id.clone()));
        };
        check_keeper(store, sender, &stream, || {
            format!("rule set {}", rule_set.id.rule_set)
        })
        .await?;
        let mut appends = vec![rule_set_append];
        for (id, parameters) in &rule_set.plans {
            check_keeper(store, sender, &streams::plan(id), || format!("plan {id}")).await?;
            let plan = aggregate::load::<PlanDecider>(store, streams::plan(id)).await?;
            let events = PlanDecider::decide(
                &plan.state,
                PlanCommand::PublishFromRuleSet {
                    parameters: Box::new(parameters.clone()),
                    rule_set: rule_set.id.clone(),
                },
            )?;
            appends.extend(plan.append(&events, &metadata)?);
        }
        let plans = appends.len() - 1;
        store.append(appends).await.map_err(AggregateError::from)?;
        Ok(RuleSetLoaded::Published {
            version: rule_set.id.clone(),
            plans,
        })
    };
    retry::on_conflict(attempt, |error: &RuleSetLoadError| {
        matches!(error, RuleSetLoadError::Store(AggregateError::Store(store)) if store.is_conflict())
    })
    .await
}

/// Reads the rule set in `directory` and stores it.
pub async fn load(
    event_store: &dyn EventStore,
    directory: &Path,
) -> Result<RuleSetLoaded, RuleSetLoadError> {
    store(event_store, &read(directory)?).await
}
