//! Money out: payout batches, providers' remittances, members' accumulators.
//!
//! Batches are listed newest first, [`Limit`] of them: years of batches are never read
//! whole for one request.

use super::ApiState;
use super::error::ApiError;
use super::page::Limit;
use super::views::{AccumulatorJson, PayoutJson, RemittanceJson, RemittedClaimJson, totals};
use axum::Json;
use axum::extract::{Path, Query, State};
use claims_domain::{MemberId, ProviderId};

/// `GET /payouts?limit=N`: the newest batches first.
pub async fn payouts(
    State(state): State<ApiState>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<PayoutJson>>, ApiError> {
    let remittances = state
        .read_models
        .latest_remittances(None, limit.rows("batches")?)
        .await
        .map_err(ApiError::unavailable)?;
    let head = match &state.chain {
        Some(chain) => chain.head().await.ok(),
        None => None,
    };
    Ok(Json(
        remittances
            .iter()
            .map(|remittance| PayoutJson::of(remittance, head))
            .collect(),
    ))
}

/// `GET /providers/{provider}/remittances?limit=N`: one advice per batch that paid the
/// provider, the newest first.
pub async fn remittances(
    State(state): State<ApiState>,
    Path(provider): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<RemittanceJson>>, ApiError> {
    let provider: ProviderId = provider
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("{error}")))?;
    let remittances = state
        .read_models
        .latest_remittances(Some(&provider), limit.rows("remittances")?)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(
        remittances
            .iter()
            .map(|remittance| {
                let claims: Vec<RemittedClaimJson> = remittance
                    .for_provider(&provider)
                    .map(RemittedClaimJson::from)
                    .collect();
                RemittanceJson {
                    batch: remittance.batch.to_string(),
                    created_at: remittance.created_at.to_rfc3339(),
                    transaction: remittance.settlement.as_ref().map(|(hash, _)| *hash),
                    block: remittance.settlement.as_ref().map(|(_, block)| *block),
                    paid: totals(claims.iter().map(|claim| claim.paid)),
                    claims,
                }
            })
            .collect(),
    ))
}

/// `GET /members/{member}/accumulators`: one entry per benefit year, oldest first; a
/// member with no claims yet has none.
pub async fn accumulators(
    State(state): State<ApiState>,
    Path(member): Path<String>,
) -> Result<Json<Vec<AccumulatorJson>>, ApiError> {
    let member: MemberId = member
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("{error}")))?;
    let years = state
        .read_models
        .accumulators(&member)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(years.iter().map(AccumulatorJson::from).collect()))
}
