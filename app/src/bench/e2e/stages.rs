//! Where a claim's submit → decision time goes, from the store's own timestamps: the
//! claim's `ClaimSubmitted` and `ClaimAdjudicated` events carry when their appends ran
//! (PostgreSQL's `now()`: the start of the writing transaction), so each latency splits
//! into intake (publish → the claim's append), adjudication (that append → the decision's
//! append: the relay, the queue and a worker) and notice (the decision's append → the
//! insurer hearing it: the relay, the queue and a notifier). The times are on one
//! machine's clock, so the split is as exact as that clock.

use super::super::store::{LatencySummary, summarise};
use chrono::{DateTime, Utc};
use claims_adapters::aggregate::streams;
use claims_adapters::event_store::{EventStore, StreamId};
use claims_domain::ClaimId;
use serde::Serialize;
use std::time::Duration;

/// Streams read per query.
const STREAMS_PER_READ: usize = 500;

/// The three parts of submit → decision, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageLatencies {
    /// From the (scheduled) publish to the start of the claim's append.
    pub intake_ms: LatencySummary,
    /// From the claim's append to the start of the decision's append.
    pub adjudication_ms: LatencySummary,
    /// From the decision's append to the insurer hearing the decision.
    pub notice_ms: LatencySummary,
}

/// One claim's times, on the wall clock.
pub struct Timed {
    /// The claim.
    pub claim: ClaimId,
    /// When it was (scheduled to be) published.
    pub sent: DateTime<Utc>,
    /// When the insurer heard its decision.
    pub heard: DateTime<Utc>,
}

/// The split of every claim's latency whose two events are found.
pub async fn split(store: &dyn EventStore, claims: &[Timed]) -> anyhow::Result<StageLatencies> {
    let mut intake = Vec::with_capacity(claims.len());
    let mut adjudication = Vec::with_capacity(claims.len());
    let mut notice = Vec::with_capacity(claims.len());
    for chunk in claims.chunks(STREAMS_PER_READ) {
        let names: Vec<StreamId> = chunk
            .iter()
            .map(|timed| streams::claim(timed.claim))
            .collect();
        let read = store.read_streams(&names).await?;
        for (timed, stream) in chunk.iter().zip(&names) {
            let events = read.get(stream).map(Vec::as_slice).unwrap_or_default();
            let at = |event_type: &str| {
                events
                    .iter()
                    .find(|event| event.event_type == event_type)
                    .map(|event| event.recorded_at)
            };
            if let (Some(submitted), Some(adjudicated)) =
                (at("ClaimSubmitted"), at("ClaimAdjudicated"))
            {
                intake.push(between(timed.sent, submitted));
                adjudication.push(between(submitted, adjudicated));
                notice.push(between(adjudicated, timed.heard));
            }
        }
    }
    Ok(StageLatencies {
        intake_ms: summarise(&mut intake),
        adjudication_ms: summarise(&mut adjudication),
        notice_ms: summarise(&mut notice),
    })
}

fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}
