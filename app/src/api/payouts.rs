//! Money out: payout batches, providers' remittances, members' accumulators.
//!
//! Batches are listed from the read models' full snapshot: fine for the batches of one
//! engine's life so far, not for years of them (a paged query is not built yet).

use super::ApiState;
use super::error::ApiError;
use super::views::{AccumulatorJson, PayoutJson, RemittanceJson, RemittedClaimJson, totals};
use axum::Json;
use axum::extract::{Path, State};
use claims_domain::{MemberId, ProviderId};

/// `GET /payouts`: every batch, newest first.
pub async fn payouts(State(state): State<ApiState>) -> Result<Json<Vec<PayoutJson>>, ApiError> {
    let snapshot = state
        .read_models
        .snapshot()
        .await
        .map_err(ApiError::unavailable)?;
    let head = match &state.chain {
        Some(chain) => chain.head().await.ok(),
        None => None,
    };
    let mut batches: Vec<_> = snapshot
        .remittances
        .iter()
        .map(|remittance| (remittance.created_at, PayoutJson::of(remittance, head)))
        .collect();
    batches.sort_by_key(|batch| std::cmp::Reverse(batch.0));
    Ok(Json(batches.into_iter().map(|(_, batch)| batch).collect()))
}

/// `GET /providers/{provider}/remittances`: one advice per batch that paid the provider,
/// newest first.
pub async fn remittances(
    State(state): State<ApiState>,
    Path(provider): Path<String>,
) -> Result<Json<Vec<RemittanceJson>>, ApiError> {
    let provider: ProviderId = provider
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("{error}")))?;
    let snapshot = state
        .read_models
        .snapshot()
        .await
        .map_err(ApiError::unavailable)?;
    let mut advices: Vec<_> = snapshot
        .remittances
        .iter()
        .filter_map(|remittance| {
            let claims: Vec<RemittedClaimJson> = remittance
                .for_provider(&provider)
                .map(RemittedClaimJson::from)
                .collect();
            (!claims.is_empty()).then(|| {
                (
                    remittance.created_at,
                    RemittanceJson {
                        batch: remittance.batch.to_string(),
                        created_at: remittance.created_at.to_rfc3339(),
                        transaction: remittance.settlement.as_ref().map(|(hash, _)| *hash),
                        block: remittance.settlement.as_ref().map(|(_, block)| *block),
                        paid: totals(claims.iter().map(|claim| claim.paid)),
                        claims,
                    },
                )
            })
        })
        .collect();
    advices.sort_by_key(|advice| std::cmp::Reverse(advice.0));
    Ok(Json(
        advices.into_iter().map(|(_, advice)| advice).collect(),
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
