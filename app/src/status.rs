//! `claims status <claim>`: one claim as an operator asks about it on the command line,
//! from the read models and the claim's own events in the event store.

use crate::engine::{Database, open_database};
use anyhow::Context;
use claims_adapters::aggregate::streams;
use claims_domain::ClaimId;
use std::fmt::Write as _;

/// Why a claim's status cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The text is not a claim id.
    #[error("{0}")]
    Malformed(claims_domain::InvalidId),
    /// The log has no such claim.
    #[error("no claim {0} in this event store")]
    Unknown(ClaimId),
    /// The SQLite file does not exist (opening it would create an empty one).
    #[error("there is no event store at {0}")]
    NoStore(String),
}

/// The claim's status, amounts, payout and event timeline, as lines of text.
pub async fn run(database: &Database, claim: &str) -> anyhow::Result<String> {
    let claim: ClaimId = claim.parse().map_err(StatusError::Malformed)?;
    if let Database::File(path) = database
        && !path.exists()
    {
        return Err(StatusError::NoStore(path.display().to_string()).into());
    }
    let (store, read_models) = open_database(database).await?;
    let events = store
        .read_stream(&streams::claim(claim), 1)
        .await
        .context("reading the claim's events")?;
    if events.is_empty() {
        return Err(StatusError::Unknown(claim).into());
    }
    let view = read_models
        .claim(claim)
        .await
        .context("reading the claim's status")?;
    let mut out = String::new();
    let _ = writeln!(out, "claim        {claim}");
    match view {
        None => {
            let _ = writeln!(
                out,
                "status       not yet in the read models (run the api role or `claims replay`)"
            );
        }
        Some(view) => {
            let _ = writeln!(out, "status       {}", view.status);
            let _ = writeln!(out, "insurer      {} ({})", view.insurer, view.insurer_ref);
            let _ = writeln!(out, "member       {}", view.member);
            let _ = writeln!(out, "provider     {}", view.provider);
            let _ = writeln!(out, "received     {}", view.received_on);
            let _ = writeln!(out, "billed       {}", view.billed);
            if let Some(decided) = view.decided_on {
                let _ = writeln!(out, "decided      {decided}");
            }
            if let Some(paid) = view.payer_paid {
                let _ = writeln!(out, "plan pays    {paid}");
            }
            if let Some(owed) = view.member_responsibility {
                let _ = writeln!(out, "member owes  {owed}");
            }
            if let Some(batch) = view.batch {
                let _ = writeln!(out, "batch        {batch}");
            }
            if let Some(transaction) = view.transaction {
                let _ = writeln!(out, "transaction  {transaction}");
            }
        }
    }
    let _ = writeln!(out, "events");
    for event in &events {
        let _ = writeln!(
            out,
            "  {:>2}  {}  {}",
            event.version,
            event.recorded_at.to_rfc3339(),
            event.event_type
        );
    }
    Ok(out)
}
