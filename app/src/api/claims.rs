//! Claims: one with its status, timeline and `ClaimResponse`; an insurer's latest.

use super::ApiState;
use super::error::ApiError;
use super::page::Limit;
use super::views::{ClaimStatusJson, TimelineEntry};
use crate::fhir::claim_response::{cancelled_claim_response, claim_response};
use crate::fhir::model::ClaimResponseOut;
use axum::Json;
use axum::extract::{Path, Query, State};
use claims_adapters::aggregate::streams;
use claims_domain::claim::{ClaimDecider, ClaimEvent};
use claims_domain::{ClaimId, InsurerId};
use serde::Serialize;

/// A claim as an operator looks it up.
#[derive(Serialize)]
pub struct ClaimJson {
    /// From the read models; absent while the projector has not reached the claim yet.
    status: Option<ClaimStatusJson>,
    /// Every event of the claim, oldest first.
    timeline: Vec<TimelineEntry>,
    /// The FHIR R4 `ClaimResponse`, once decided.
    claim_response: Option<ClaimResponseOut>,
}

/// `GET /claims/{claim}`.
pub async fn claim(
    State(state): State<ApiState>,
    Path(claim): Path<String>,
) -> Result<Json<ClaimJson>, ApiError> {
    let claim_id: ClaimId = claim
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("{error}")))?;
    let events = state
        .store
        .read_stream(&streams::claim(claim_id), 1)
        .await
        .map_err(ApiError::unavailable)?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no claim {claim_id}")));
    }
    let mut submitted = None;
    let mut decided = None;
    let mut cancelled = None;
    for recorded in &events {
        match claims_adapters::aggregate::decode::<ClaimDecider>(recorded)
            .map_err(ApiError::unavailable)?
        {
            ClaimEvent::Submitted { claim } => submitted = Some(claim),
            ClaimEvent::Adjudicated { adjudication } => decided = Some(adjudication),
            ClaimEvent::Voided { voiding } => {
                cancelled = Some((voiding, recorded.recorded_at.date_naive()));
            }
            // A review or an appeal is stored with the new decision, which the response
            // then reflects.
            ClaimEvent::Reviewed { .. }
            | ClaimEvent::Appealed { .. }
            | ClaimEvent::PayoutScheduled { .. }
            | ClaimEvent::PayoutConfirmed { .. } => {}
        }
    }
    let response = match (&submitted, cancelled) {
        (Some(claim), Some((voiding, on))) => Some(cancelled_claim_response(
            claim_id,
            claim,
            decided.as_ref(),
            &voiding,
            on,
        )),
        (Some(claim), None) => decided
            .as_ref()
            .map(|adjudication| claim_response(claim_id, claim, adjudication)),
        (None, _) => None,
    };
    let status = state
        .read_models
        .claim(claim_id)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(ClaimJson {
        status: status.as_ref().map(ClaimStatusJson::from),
        timeline: events
            .iter()
            .map(|event| TimelineEntry {
                version: event.version,
                event_type: event.event_type.clone(),
                recorded_at: event.recorded_at.to_rfc3339(),
            })
            .collect(),
        claim_response: response,
    }))
}

/// `GET /insurers/{insurer}/claims?limit=N`: most recently received first.
pub async fn of_insurer(
    State(state): State<ApiState>,
    Path(insurer): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<ClaimStatusJson>>, ApiError> {
    let insurer: InsurerId = insurer
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("{error}")))?;
    let limit = limit.rows("claims")?;
    let claims = state
        .read_models
        .claims_of_insurer(&insurer, limit)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(claims.iter().map(ClaimStatusJson::from).collect()))
}
