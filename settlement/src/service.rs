//! The settlement service: pays approved claims on chain, in batches.
//!
//! For a set of approved claims it
//!
//! 1. opens a payout batch, marks every claim's payout scheduled and reserves one
//!    settlement index per claim from the contract's index ledger, in one atomic append
//!    (each claim at the version it was read at, so a claim can only ever be in one batch;
//!    the ledger at the version it was read at, so an index is only ever given once);
//!    what the providers owe back for voided paid claims is withheld from their claims in
//!    the same append (`recoupment.rs`), so every amount from here on is the net;
//! 2. nets the batch per provider and sends it to the chain, which refuses any settlement
//!    index it has already settled;
//! 3. checks the chain's receipt against the batch (every index, provider and amount, and
//!    the total) and records it on the batch and every claim, in one atomic append,
//!    including the providers whose transfer failed and who are owed instead.
//!
//! The chain learns a claim only by its settlement index, a number: nothing about the
//! claim, its member or its care. Each claim also gets a random payout reference, which
//! stays in the event log (the claim's `PayoutScheduled` event requires one) and never
//! reaches the chain.
//!
//! A batch the chain refused (paused, over a cap, short of float, unreachable) stays
//! scheduled with its settlement indices; [`SettlementService::resume`] sends it again,
//! unchanged, once the cause is gone. Re-sending is safe: the contract settles each batch
//! id and each settlement index at most once.
//!
//! A batch the chain did settle but whose confirmation was never recorded (a crash between
//! steps 2 and 3) is recorded by [`SettlementService::resume`]: the chain finds the batch's
//! transaction (the JSON-RPC chain in its ledger, either chain by the contract's
//! `BatchSettled` log) and returns its receipt instead of sending anything. Until then
//! [`crate::reconcile`] reports it as paid but not recorded.
//! [`SettlementService::unsettled_batches`] reports every open batch.

use crate::chain::{BatchReceipt, ChainBatch, ChainClaim, ChainError, Delivery, SettlementChain};
use crate::index_ledger::IndexLedger;
use crate::recoupment;
use crate::token::{PayoutToken, TokenAmountError};
use chrono::{DateTime, Utc};
use claims_adapters::aggregate::{self, AggregateError, Loaded, streams};
use claims_adapters::event_store::{EventStore, LogPosition};
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimError, ClaimStatus, ConfirmedPayout};
use claims_domain::payout::{
    BatchPayout, OwedPayout, PayoutBatchCommand, PayoutBatchDecider, PayoutBatchError,
    PayoutBatchEvent, SettlementIndex, SettlementIndexCommand, SettlementIndexDecider,
    SettlementIndexError, SettlementIndexEvent,
};
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, Currency, Decider, PayoutBatchId, PayoutReference, TransactionHash};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::{Instrument, info, info_span, warn};
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
    /// How many providers it paid (one transfer, or one owed credit, each).
    pub providers: usize,
    /// The providers whose transfer failed: the contract owes them, and they withdraw.
    pub owed: Vec<OwedPayout>,
}

/// A claim of a scheduled batch with its settlement index.
#[derive(Debug, Clone)]
struct IndexedPayout {
    index: SettlementIndex,
    payout: BatchPayout,
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
    /// The chain took the batch (or may have: the answer was lost with the store), but
    /// recording it in the event store failed. The batch stays scheduled;
    /// [`SettlementService::resume`] records it from the contract's `BatchSettled` log
    /// without paying anything twice.
    #[error("batch {batch}: settled on chain but not recorded: {source}")]
    Unrecorded {
        /// The batch.
        batch: PayoutBatchId,
        /// Why the store refused.
        source: AggregateError,
    },
    /// A claim's payout cannot be expressed in the token.
    #[error("claim {claim}: {reason}")]
    Unpayable {
        /// The claim.
        claim: ClaimId,
        /// Why.
        reason: String,
    },
    /// The chain's receipt does not say what the batch asked for. Nothing is recorded:
    /// the batch stays scheduled for an operator to reconcile.
    #[error("batch {batch}: the chain's receipt does not match the batch: {reason}")]
    ReceiptMismatch {
        /// The batch.
        batch: PayoutBatchId,
        /// What differs.
        reason: String,
    },
    /// A domain rule refused a step (a bug or a corrupt log).
    #[error("settlement refused by the domain: {0}")]
    Domain(String),
}

impl From<SettlementIndexError> for SettlementError {
    fn from(error: SettlementIndexError) -> Self {
        SettlementError::Domain(error.to_string())
    }
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

/// Names a store error of [`SettlementService::pay`] for what it is: the batch went to the
/// chain and is not recorded, so the caller must resume it rather than schedule its claims
/// again (they are in this batch, and a new one would skip them).
fn unrecorded(batch: PayoutBatchId) -> impl FnOnce(SettlementError) -> SettlementError {
    move |error| match error {
        SettlementError::Store(source) => SettlementError::Unrecorded { batch, source },
        other => other,
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
    ledger: IndexLedger,
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
        let ledger = IndexLedger::new(chain.contract());
        Self {
            store,
            chain,
            denomination,
            ledger,
            sending: Mutex::new(()),
        }
    }

    /// The event store batches are recorded in.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
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
            self.pay(batch, scheduled)
                .await
                .map(Some)
                .map_err(unrecorded(batch))
        }
        .instrument(span)
        .await
    }

    /// Sends again a batch that was scheduled but never recorded as settled, with the same
    /// batch id, claims and settlement indices. `None` if it is already recorded as settled.
    pub async fn resume(
        &self,
        batch: PayoutBatchId,
    ) -> Result<Option<SettledBatch>, SettlementError> {
        let _sending = self.sending.lock().await;
        let span = tracing::info_span!("resume", %batch);
        async {
            let state =
                aggregate::load::<PayoutBatchDecider>(self.store.as_ref(), streams::payout_batch(batch))
                    .await?
                    .state;
            if state.batch.is_none() || state.settlement.is_some() {
                return Ok(None);
            }
            let indexed: Vec<IndexedPayout> = state
                .indexed_payouts()
                .into_iter()
                .map(|(index, payout)| IndexedPayout {
                    index,
                    payout: payout.clone(),
                })
                .collect();
            if indexed.len() != state.payouts.len() {
                return Err(SettlementError::Domain(format!(
                    "batch {batch} was scheduled before settlement indices existed; reconcile it by hand"
                )));
            }
            info!(claims = indexed.len(), "resuming a scheduled payout batch");
            self.pay(batch, indexed).await.map(Some).map_err(unrecorded(batch))
        }
        .instrument(span)
        .await
    }

    /// Step 1: the batch, every claim's scheduled payout and the claims' settlement
    /// indices, atomically. Retries on conflict, dropping claims another batch took
    /// meanwhile and reading the index ledger again.
    async fn schedule(
        &self,
        batch: PayoutBatchId,
        claims: &[ClaimId],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<IndexedPayout>>, SettlementError> {
        let unique: BTreeSet<ClaimId> = claims.iter().copied().collect();
        for _ in 0..12 {
            let store = self.store.as_ref();
            let mut payouts = Vec::new();
            let mut appends = Vec::new();
            let mut loaded = Vec::new();
            for claim_id in &unique {
                let span = info_span!("schedule_claim", claim = %claim_id);
                let claim = aggregate::load::<ClaimDecider>(store, streams::claim(*claim_id))
                    .instrument(span.clone())
                    .await?;
                if let Some(payout) = self.payout_for(&claim, *claim_id).instrument(span).await? {
                    payouts.push(payout);
                    loaded.push(claim);
                }
            }
            if payouts.is_empty() {
                return Ok(None);
            }
            // Recoupments of the providers' voided, already paid claims come off these
            // payouts (`recoupment.rs`); every amount below is what is transferred.
            let mut withheld = recoupment::withhold(store, batch, &mut payouts).await?;
            appends.append(&mut withheld.appends);
            for (claim, payout) in loaded.iter().zip(&payouts) {
                let events = ClaimDecider::decide(
                    &claim.state,
                    ClaimCommand::SchedulePayout {
                        batch,
                        reference: payout.reference,
                        wallet: payout.wallet,
                        withheld: withheld.by_claim.remove(&payout.claim).unwrap_or_default(),
                    },
                )?;
                appends.extend(claim.append(&events, &metadata(payout.claim, batch))?);
            }
            // Each provider's claims get consecutive settlement indices, so that the chain
            // receives a provider as one run of indices (see `crate::payouts`). Stable: a
            // provider's claims keep their order. After the claims' own events, which pair
            // `loaded` with `payouts` by position.
            payouts.sort_by_key(|payout| payout.wallet);

            let ledger = self.ledger.load(store).await?;
            let reservation = SettlementIndexDecider::decide(
                &ledger.state,
                SettlementIndexCommand::Reserve {
                    batch,
                    count: payouts.len() as u64,
                },
            )?;
            let Some(SettlementIndexEvent::Reserved { first, .. }) = reservation.first().cloned()
            else {
                return Err(SettlementError::Domain(
                    "the index ledger reserved nothing".to_owned(),
                ));
            };
            appends.extend(ledger.append(&reservation, &serde_json::json!({ "batch": batch }))?);

            let batch_stream =
                aggregate::load::<PayoutBatchDecider>(store, streams::payout_batch(batch)).await?;
            let mut events = PayoutBatchDecider::decide(
                &batch_stream.state,
                PayoutBatchCommand::Create {
                    batch,
                    created_at: now,
                    payouts: payouts.clone(),
                },
            )?;
            let created = events
                .iter()
                .fold(batch_stream.state.clone(), PayoutBatchDecider::evolve);
            events.extend(PayoutBatchDecider::decide(
                &created,
                PayoutBatchCommand::AssignSettlementIndices { first },
            )?);
            appends.extend(batch_stream.append(&events, &serde_json::json!({ "batch": batch }))?);
            match store.append(appends).await {
                Ok(_) => {
                    info!(claims = payouts.len(), first_index = %first, "payout batch scheduled");
                    let indexed = (0u64..)
                        .zip(payouts)
                        .map(|(offset, payout)| {
                            first
                                .checked_add(offset)
                                .map(|index| IndexedPayout { index, payout })
                                .ok_or_else(|| {
                                    SettlementError::Domain(format!(
                                        "settlement indices from {first} ran out"
                                    ))
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    return Ok(Some(indexed));
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

    /// Steps 2 and 3: send the batch, netted per provider, check the receipt, then record
    /// it on the batch and its claims. The store is touched only by the recording, so a
    /// store error here comes after the chain (see [`unrecorded`]).
    async fn pay(
        &self,
        batch: PayoutBatchId,
        payouts: Vec<IndexedPayout>,
    ) -> Result<SettledBatch, SettlementError> {
        let token = self.payout_token();
        let claims = payouts
            .iter()
            .map(|indexed| {
                token
                    .units(indexed.payout.amount)
                    .map(|amount| ChainClaim {
                        index: indexed.index,
                        provider: indexed.payout.wallet,
                        amount,
                    })
                    .map_err(|error: TokenAmountError| SettlementError::Unpayable {
                        claim: indexed.payout.claim,
                        reason: error.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chain_batch = ChainBatch::netted(chain_batch_id(batch), claims.iter().copied());
        let receipt = self
            .chain
            .settle_batch(&chain_batch)
            .await
            .map_err(|source| SettlementError::Chain { batch, source })?;
        info!(
            transaction = %receipt.transaction,
            block = receipt.block,
            gas = receipt.gas_used,
            providers = receipt.providers.len(),
            owed = %receipt.owed,
            "payout batch settled on chain"
        );
        check_receipt(&chain_batch, &claims, &receipt)
            .map_err(|reason| SettlementError::ReceiptMismatch { batch, reason })?;
        let owed = receipt
            .providers
            .iter()
            .filter(|provider| provider.delivery == Delivery::Owed)
            .map(|provider| {
                token
                    .money(provider.amount)
                    .map(|amount| OwedPayout {
                        wallet: provider.provider,
                        amount,
                    })
                    .map_err(|error| SettlementError::ReceiptMismatch {
                        batch,
                        reason: error.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for owed in &owed {
            warn!(provider = %owed.wallet, amount = %owed.amount, "transfer to provider failed; the contract owes it until the provider withdraws");
        }

        let confirmation = ConfirmedPayout {
            batch,
            transaction: receipt.transaction,
            block: receipt.block,
        };
        for _ in 0..12 {
            let store = self.store.as_ref();
            let mut appends = Vec::new();
            for indexed in &payouts {
                let claim_id = indexed.payout.claim;
                let claim =
                    aggregate::load::<ClaimDecider>(store, streams::claim(claim_id)).await?;
                let events =
                    ClaimDecider::decide(&claim.state, ClaimCommand::ConfirmPayout(confirmation))?;
                appends.extend(claim.append(&events, &metadata(claim_id, batch))?);
            }
            let batch_stream =
                aggregate::load::<PayoutBatchDecider>(store, streams::payout_batch(batch)).await?;
            let mut events = PayoutBatchDecider::decide(
                &batch_stream.state,
                PayoutBatchCommand::RecordOwed { owed: owed.clone() },
            )?;
            let with_owed = events
                .iter()
                .fold(batch_stream.state.clone(), PayoutBatchDecider::evolve);
            events.extend(PayoutBatchDecider::decide(
                &with_owed,
                PayoutBatchCommand::RecordSettlement {
                    transaction: receipt.transaction,
                    block: receipt.block,
                    gas_used: receipt.gas_used,
                },
            )?);
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
            claims: payouts.iter().map(|indexed| indexed.payout.claim).collect(),
            transaction: receipt.transaction,
            block: receipt.block,
            gas_used: receipt.gas_used,
            providers: receipt.providers.len(),
            owed,
        })
    }

    /// The payout token as money sees it.
    fn payout_token(&self) -> PayoutToken {
        PayoutToken {
            currency: self.denomination.0,
            decimals: self.chain.token().decimals,
        }
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
                    PayoutBatchEvent::Created { batch, .. } => {
                        open.insert(batch);
                    }
                    PayoutBatchEvent::Settled { .. } => {
                        if let Some(batch) = streams::payout_batch_of(&event.stream) {
                            open.remove(&batch);
                        }
                    }
                    PayoutBatchEvent::SettlementIndicesAssigned { .. }
                    | PayoutBatchEvent::PayoutsOwed { .. } => {}
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

/// Checks that the receipt reports exactly the batch: every claim settled once, for its
/// provider and amount, and each provider's and the batch's totals.
fn check_receipt(
    batch: &ChainBatch,
    claims: &[ChainClaim],
    receipt: &BatchReceipt,
) -> Result<(), String> {
    let mut sent: Vec<_> = claims
        .iter()
        .map(|claim| (claim.index, claim.provider, claim.amount))
        .collect();
    let mut settled: Vec<_> = receipt
        .claims
        .iter()
        .map(|claim| (claim.index, claim.provider, claim.amount))
        .collect();
    sent.sort();
    settled.sort();
    if sent != settled {
        return Err(format!(
            "{} claims sent, {} reported settled, or their providers or amounts differ",
            sent.len(),
            settled.len()
        ));
    }
    let expected_providers: Vec<_> = batch
        .providers
        .iter()
        .map(|payout| (payout.provider, payout.total()))
        .collect();
    let reported_providers: Vec<_> = receipt
        .providers
        .iter()
        .map(|provider| (provider.provider, Some(provider.amount)))
        .collect();
    if expected_providers != reported_providers {
        return Err("the per-provider totals differ from the netted batch".to_owned());
    }
    if batch.total() != Some(receipt.total) {
        return Err(format!(
            "the batch totals {:?}, the chain reports {}",
            batch.total(),
            receipt.total
        ));
    }
    Ok(())
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
