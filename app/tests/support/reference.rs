//! Reference data sent over an engine's bus as an insurer sends it.

use claims::engine::Engine;
use claims::reference_intake::ReferenceReply;
use claims_adapters::bus::{Message, Subject, SubjectPattern};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The files of the analysts' example rule set (`examples/rules/acme-2026`), relative to
/// its directory.
pub const EXAMPLE_RULE_SET_FILES: [&str; 6] = [
    "rule-set.toml",
    "plans.toml",
    "limits.toml",
    "code-pair-edits.csv",
    "prior-authorisation.csv",
    "fee-schedules/gold-ppo.csv",
];

/// `examples/reference-data.toml` (the example plan, members and providers) as the JSON
/// an insurer sends on `claims.reference.<insurer>`.
pub fn example_json() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml");
    let reference: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_value(reference).unwrap()
}

/// The example rule set's files in `directory`, by relative path, as a rule-set message
/// carries them (`{"files": …}`).
pub fn rule_set_files(directory: &Path) -> BTreeMap<String, String> {
    EXAMPLE_RULE_SET_FILES
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(directory.join(file)).unwrap();
            (file.to_owned(), text)
        })
        .collect()
}

/// Publishes `body` to `claims.reference.<insurer>` with `content_type`, asking for the
/// answer on the insurer's own inbox, and returns the engine's answer.
pub async fn send(
    engine: &Engine,
    insurer: &str,
    content_type: &str,
    body: &serde_json::Value,
) -> ReferenceReply {
    let inbox = Subject::new(format!(
        "_INBOX.{insurer}.{}",
        uuid::Uuid::new_v4().simple()
    ))
    .unwrap();
    let mut replies = engine
        .bus()
        .subscribe(SubjectPattern::from(inbox.clone()))
        .await
        .unwrap();
    let message = Message::new(
        Subject::new(format!("claims.reference.{insurer}")).unwrap(),
        serde_json::to_vec(body).unwrap(),
    )
    .with_header("Content-Type", content_type)
    .with_reply_to(inbox);
    engine.bus().publish(message).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .expect("the engine answers reference data within 10 s")
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}
