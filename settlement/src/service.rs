//! The settlement service: pays approved claims on chain, in batches.
//!
//! For a set of approved claims it
//!
//! 1. opens a payout batch and marks every claim's payout scheduled, in one atomic append
//!    (each claim at the version it was read at, so a claim can only ever be in one batch);
//! 2. sends the batch to the chain, which refuses any payout reference it has already paid;
//! 3. records the chain's receipt on the batch and every claim, in one atomic append.
//!
//! Each claim gets a fresh random payout reference: the chain learns nothing about the
//! claim, its member or its care.
//!
//! Not yet done (a later issue): resuming a batch that was scheduled but whose
//! confirmation was never recorded (a crash between steps 2 and 3), which needs the
//! chain's logs to reconcile against. Such a batch is reported by [`SettlementService::unsettled_batches`].

use crate::chain::{ChainBatch, ChainError, ChainPayout, SettlementChain};
use crate::token::{TokenAmount, TokenAmountError};
use chrono::{DateTime, Utc};
use claims_adapters::aggregate::{self, AggregateError, Loaded, streams};
use claims_adapters::event_store::{EventStore, LogPosition};
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimError, ClaimStatus, ConfirmedPayout};
use claims_domain::payout::{
    BatchPayout, PayoutBatchCommand, PayoutBatchDecider, PayoutBatchError,
};
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, Currency, Decider, PayoutBatchId, PayoutReference, TransactionHash};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::{Instrument, info, warn};
use uuid::Uuid;

/// A batch the service settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledBatch {
    /// The batch.
    pub batch: PayoutBatchId,
    /// The claims it paid.
    pub claims: Vec<ClaimId>,
    /// The transaction.
    pub transaction: TransactionHash,
    /// Its block.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// Why settlement failed.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The chain refused or could not be reached. The batch stays scheduled.
    #[error("batch {batch}: {source}")]
    Chain {
        /// The batch.
        batch: PayoutBatchId,
        /// What the chain said.
        source: ChainError,
    },
    /// A claim's payout cannot be expressed in the token.
    #[error("claim {claim}: {reason}")]
    Unpayable {
        /// The claim.
        claim: ClaimId,
        /// Why.
        reason: String,
    },
    /// A domain rule refused a step (a bug or a corrupt log).
    #[error("settlement refused by the domain: {0}")]
    Domain(String),
}

impl From<ClaimError> for SettlementError {
    fn from(error: ClaimError) -> Self {
        SettlementError::Domain(error.to_string())
    }
}

impl From<PayoutBatchError> for SettlementError {
    fn from(error: PayoutBatchError) -> Self {
        SettlementError::Domain(error.to_string())
    }
}

/// Which currency the payout token stands for (a USD stablecoin pays USD claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenDenomination(pub Currency);

/// The settlement service.
pub struct SettlementService {
    store: Arc<dyn EventStore>,
    chain: Arc<dyn SettlementChain>,
    denomination: TokenDenomination,
    // One batch at a time from this process: two batches racing for the same claims would
    // only lose to optimistic concurrency, but serialising keeps nonces and logs simple.
    sending: Mutex<()>,
}

impl SettlementService {
    /// A service paying through `chain` in a token denominated in `denomination`.
    pub fn new(
        store: Arc<dyn EventStore>,
        chain: Arc<dyn SettlementChain>,
        denomination: TokenDenomination,
    ) -> Self {
        Self {
            store,
            chain,
            denomination,
            sending: Mutex::new(()),
        }
    }

    /// The chain payouts go to.
    pub fn chain(&self) -> &Arc<dyn SettlementChain> {
        &self.chain
    }

    /// Settles those of `claims` that are approved and not yet in a batch, in one batch.
    /// Returns `None` if none of them needed paying.
    pub async fn settle(
        &self,
        claims: &[ClaimId],
        now: DateTime<Utc>,
    ) -> Result<Option<SettledBatch>, SettlementError> {
        let _sending = self.sending.lock().await;
        let batch = PayoutBatchId::from_uuid(Uuid::new_v4());
        let span = tracing::info_span!("settle", %batch);
        async {
            let Some(scheduled) = self.schedule(batch, claims, now).await? else {
                return Ok(None);
            };
            self.pay(batch, scheduled).await.map(Some)
        }
        .instrument(span)
        .await
    }

    /// Step 1: the batch and every claim's scheduled payout, atomically. Retries on
    /// conflict, dropping claims another batch took meanwhile.
    async fn schedule(
        &self,
        batch: PayoutBatchId,
        claims: &[ClaimId],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<BatchPayout>>, SettlementError> {
        let unique: BTreeSet<ClaimId> = claims.iter().copied().collect();
        for _ in 0..12 {
            let store = self.store.as_ref();
            let mut payouts = Vec::new();
            let mut appends = Vec::new();
            for claim_id in &unique {
                let claim =
                    aggregate::load::<ClaimDecider>(store, streams::claim(*claim_id)).await?;
                let Some(payout) = self.payout_for(&claim, *claim_id).await? else {
                    continue;
                };
                let events = ClaimDecider::decide(
                    &claim.state,
                    ClaimCommand::SchedulePayout {
                        batch,
                        reference: payout.reference,
                        wallet: payout.wallet,
                    },
                )?;
                appends.extend(claim.append(&events, &metadata(*claim_id, batch))?);
                payouts.push(payout);
            }
            if payouts.is_empty() {
                return Ok(None);
            }
            let batch_stream =
                aggregate::load::<PayoutBatchDecider>(store, streams::payout_batch(batch)).await?;
            let events = PayoutBatchDecider::decide(
                &batch_stream.state,
                PayoutBatchCommand::Create {
                    batch,
                    created_at: now,
                    payouts: payouts.clone(),
                },
            )?;
            appends.extend(batch_stream.append(&events, &serde_json::json!({ "batch": batch }))?);
            match store.append(appends).await {
                Ok(_) => {
                    info!(claims = payouts.len(), "payout batch scheduled");
                    return Ok(Some(payouts));
                }
                Err(error) if error.is_conflict() => continue,
                Err(error) => return Err(AggregateError::from(error).into()),
            }
        }
        Err(SettlementError::Domain(
            "the claims kept changing while the batch was being scheduled".to_owned(),
        ))
    }

    /// The payout an approved, unscheduled claim is owed; `None` for any other claim.
    async fn payout_for(
        &self,
        claim: &Loaded<ClaimDecider>,
        claim_id: ClaimId,
    ) -> Result<Option<BatchPayout>, SettlementError> {
        let (Some(ClaimStatus::Approved), Some(submitted), Some(adjudication)) = (
            claim.state.status,
            &claim.state.claim,
            &claim.state.adjudication,
        ) else {
            return Ok(None);
        };
        let amount = adjudication.payer_paid;
        if amount.currency() != self.denomination.0 {
            return Err(SettlementError::Unpayable {
                claim: claim_id,
                reason: format!(
                    "it is owed {amount}, but the payout token stands for {}",
                    self.denomination.0
                ),
            });
        }
        let provider = aggregate::load::<ProviderDecider>(
            self.store.as_ref(),
            streams::provider(&submitted.provider),
        )
        .await?
        .state
        .provider
        .ok_or_else(|| SettlementError::Unpayable {
            claim: claim_id,
            reason: format!("provider {} is not registered", submitted.provider),
        })?;
        Ok(Some(BatchPayout {
            claim: claim_id,
            provider: provider.id,
            wallet: provider.wallet,
            amount,
            reference: random_reference(),
        }))
    }

    /// Steps 2 and 3: send the batch, then record the receipt on the batch and its claims.
    async fn pay(
        &self,
        batch: PayoutBatchId,
        payouts: Vec<BatchPayout>,
    ) -> Result<SettledBatch, SettlementError> {
        let decimals = self.chain.token().decimals;
        let chain_payouts = payouts
            .iter()
            .map(|payout| {
                TokenAmount::from_money(payout.amount, decimals)
                    .map(|amount| ChainPayout {
                        reference: payout.reference,
                        provider: payout.wallet,
                        amount,
                    })
                    .map_err(|error: TokenAmountError| SettlementError::Unpayable {
                        claim: payout.claim,
                        reason: error.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let receipt = self
            .chain
            .settle_batch(&ChainBatch {
                batch: chain_batch_id(batch),
                payouts: chain_payouts,
            })
            .await
            .map_err(|source| SettlementError::Chain { batch, source })?;
        info!(transaction = %receipt.transaction, block = receipt.block, gas = receipt.gas_used, "payout batch paid on chain");

        let confirmation = ConfirmedPayout {
            batch,
            transaction: receipt.transaction,
            block: receipt.block,
        };
        for _ in 0..12 {
            let store = self.store.as_ref();
            let mut appends = Vec::new();
            for payout in &payouts {
                let claim =
                    aggregate::load::<ClaimDecider>(store, streams::claim(payout.claim)).await?;
                let events =
                    ClaimDecider::decide(&claim.state, ClaimCommand::ConfirmPayout(confirmation))?;
                appends.extend(claim.append(&events, &metadata(payout.claim, batch))?);
            }
            let batch_stream =
                aggregate::load::<PayoutBatchDecider>(store, streams::payout_batch(batch)).await?;
            let events = PayoutBatchDecider::decide(
                &batch_stream.state,
                PayoutBatchCommand::RecordSettlement {
                    transaction: receipt.transaction,
                    block: receipt.block,
                    gas_used: receipt.gas_used,
                },
            )?;
            appends.extend(batch_stream.append(&events, &serde_json::json!({ "batch": batch }))?);
            if appends.is_empty() {
                break;
            }
            match store.append(appends).await {
                Ok(_) => break,
                Err(error) if error.is_conflict() => continue,
                Err(error) => return Err(AggregateError::from(error).into()),
            }
        }
        Ok(SettledBatch {
            batch,
            claims: payouts.iter().map(|payout| payout.claim).collect(),
            transaction: receipt.transaction,
            block: receipt.block,
            gas_used: receipt.gas_used,
        })
    }

    /// Batches that were scheduled but whose settlement was never recorded, found by
    /// reading the whole log. Each needs an operator (or, in a later release, automatic
    /// reconciliation against the chain's logs).
    pub async fn unsettled_batches(&self) -> Result<Vec<PayoutBatchId>, SettlementError> {
        let store = self.store.as_ref();
        let mut after = LogPosition::START;
        let mut open = BTreeSet::new();
        loop {
            let events = store
                .read_all(after, 1024)
                .await
                .map_err(AggregateError::from)?;
            let Some(last) = events.last() else { break };
            after = last.position;
            for event in &events {
                if streams::payout_batch_of(&event.stream).is_none() {
                    continue;
                }
                match aggregate::decode::<PayoutBatchDecider>(event)? {
                    claims_domain::payout::PayoutBatchEvent::Created { batch, .. } => {
                        open.insert(batch);
                    }
                    claims_domain::payout::PayoutBatchEvent::Settled { .. } => {
                        if let Some(batch) = streams::payout_batch_of(&event.stream) {
                            open.remove(&batch);
                        }
                    }
                }
            }
        }
        if !open.is_empty() {
            warn!(
                batches = open.len(),
                "payout batches scheduled but never recorded as settled"
            );
        }
        Ok(open.into_iter().collect())
    }
}

/// The batch's name on chain: its UUID, right-aligned in 32 bytes. The batch id is a random
/// UUID and says nothing about the claims in it.
fn chain_batch_id(batch: PayoutBatchId) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[16..].copy_from_slice(batch.as_uuid().as_bytes());
    id
}

fn metadata(claim: ClaimId, batch: PayoutBatchId) -> serde_json::Value {
    serde_json::json!({ "claim": claim, "batch": batch })
}

/// 32 bytes from the operating system's random source (two version-4 UUIDs: 244 random
/// bits), so a reference can be linked to nothing.
fn random_reference() -> PayoutReference {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    PayoutReference::from_bytes(bytes)
}
