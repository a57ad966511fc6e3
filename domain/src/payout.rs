//! Payout batches: approved claims paid together, per settlement cycle, in one on-chain
//! transaction; and the settlement-index ledger that names each claim on chain.
//!
//! A claim is named on chain by its [`SettlementIndex`]: a number from a sequence kept per
//! settlement contract ([`SettlementIndexDecider`], one stream per contract). When a batch
//! is scheduled, the engine reserves one index per claim from that sequence and records
//! which claim got which on the batch ([`PayoutBatchEvent::SettlementIndicesAssigned`]),
//! in the same atomic append: two schedulers racing for the same indices conflict on the
//! ledger's stream and one retries, so an index is never given to two claims. The contract
//! keeps a bitmap of settled indices and refuses an index it has already settled.

use crate::chain_values::{PayoutReference, TransactionHash, WalletAddress};
use crate::decider::Decider;
use crate::ids::{ClaimId, PayoutBatchId, ProviderId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A claim's name on a settlement contract: a number from the contract's sequence, assigned
/// when the claim's payout is scheduled. It says nothing about the claim; the contract
/// settles each index at most once.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SettlementIndex(u64);

impl SettlementIndex {
    /// The first index of a fresh contract.
    pub const FIRST: SettlementIndex = SettlementIndex(0);

    /// An index from its number.
    pub fn new(index: u64) -> Self {
        Self(index)
    }

    /// The number.
    pub fn get(&self) -> u64 {
        self.0
    }

    /// The index `offset` places after this one, if it fits.
    pub fn checked_add(&self, offset: u64) -> Option<SettlementIndex> {
        self.0.checked_add(offset).map(SettlementIndex)
    }
}

impl fmt::Display for SettlementIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One claim's payout in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPayout {
    /// The claim paid.
    pub claim: ClaimId,
    /// The provider paid.
    pub provider: ProviderId,
    /// The provider's wallet.
    pub wallet: WalletAddress,
    /// How much.
    pub amount: Money,
    /// The claim's opaque name on chain.
    pub reference: PayoutReference,
}

/// Commands on a payout batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutBatchCommand {
    /// Opens the batch with its payouts.
    Create {
        /// The batch.
        batch: PayoutBatchId,
        /// When (an input, never read from a clock here).
        created_at: DateTime<Utc>,
        /// The payouts, at least one.
        payouts: Vec<BatchPayout>,
    },
    /// Names the batch's claims on chain: the `n`-th payout gets `first + n`. The indices
    /// come from the contract's [`SettlementIndexDecider`] ledger.
    AssignSettlementIndices {
        /// The first payout's index.
        first: SettlementIndex,
    },
    /// Records that the chain could not transfer to these providers: the contract settled
    /// their claims and credited the amounts as owed, for the providers to withdraw.
    RecordOwed {
        /// Every provider's owed amount from this batch.
        owed: Vec<OwedPayout>,
    },
    /// Records the chain's confirmation of the batch.
    RecordSettlement {
        /// The transaction.
        transaction: TransactionHash,
        /// Its block.
        block: u64,
        /// Gas it used.
        gas_used: u64,
    },
}

/// A provider's netted payout from a batch that the chain could not transfer, and
/// credited as owed instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedPayout {
    /// The provider's wallet.
    pub wallet: WalletAddress,
    /// What it is owed from this batch.
    pub amount: Money,
}

/// What happened to a payout batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PayoutBatchEvent {
    /// The batch was opened.
    Created {
        /// The batch.
        batch: PayoutBatchId,
        /// When.
        created_at: DateTime<Utc>,
        /// The payouts.
        payouts: Vec<BatchPayout>,
    },
    /// The batch's claims were given their on-chain names: the `n`-th payout's index is
    /// `first + n`. A batch created before settlement indices existed has none.
    SettlementIndicesAssigned {
        /// The first payout's index.
        first: SettlementIndex,
        /// How many indices (one per payout).
        count: u64,
    },
    /// The chain settled these providers' claims but could not transfer to them; the
    /// contract holds the amounts as owed until each provider withdraws.
    PayoutsOwed {
        /// Every provider's owed amount from this batch.
        owed: Vec<OwedPayout>,
    },
    /// The chain confirmed the batch.
    Settled {
        /// The transaction.
        transaction: TransactionHash,
        /// Its block.
        block: u64,
        /// Gas it used.
        gas_used: u64,
    },
}

impl PayoutBatchEvent {
    /// The event's stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            PayoutBatchEvent::Created { .. } => "PayoutBatchCreated",
            PayoutBatchEvent::SettlementIndicesAssigned { .. } => {
                "PayoutBatchSettlementIndicesAssigned"
            }
            PayoutBatchEvent::PayoutsOwed { .. } => "PayoutBatchPayoutsOwed",
            PayoutBatchEvent::Settled { .. } => "PayoutBatchSettled",
        }
    }
}

/// What is known of a payout batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutBatchState {
    /// The batch id, once created.
    pub batch: Option<PayoutBatchId>,
    /// Its payouts.
    pub payouts: Vec<BatchPayout>,
    /// The first payout's settlement index, once assigned.
    pub first_index: Option<SettlementIndex>,
    /// What the chain credited as owed instead of transferring.
    pub owed: Vec<OwedPayout>,
    /// The settling transaction and block, once confirmed.
    pub settlement: Option<(TransactionHash, u64)>,
}

impl PayoutBatchState {
    /// Every payout with its settlement index, in batch order; empty until assigned.
    pub fn indexed_payouts(&self) -> Vec<(SettlementIndex, &BatchPayout)> {
        let Some(first) = self.first_index else {
            return Vec::new();
        };
        (0u64..)
            .zip(&self.payouts)
            .filter_map(|(offset, payout)| first.checked_add(offset).map(|index| (index, payout)))
            .collect()
    }
}

/// Why a payout-batch command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutBatchError {
    /// A batch needs at least one payout.
    #[error("a payout batch needs at least one payout")]
    Empty,
    /// A claim appears twice, or a payout is not positive.
    #[error("payout for claim {0} is duplicated or not positive")]
    BadPayout(ClaimId),
    /// The batch id already names another batch.
    #[error("batch {0} already exists with other payouts")]
    AlreadyCreated(PayoutBatchId),
    /// Settlement recorded for a batch that does not exist.
    #[error("no such payout batch")]
    NotCreated,
    /// Settled twice with different transactions.
    #[error("batch already settled by transaction {0}")]
    AlreadySettled(TransactionHash),
    /// The batch's claims already have other settlement indices.
    #[error("the batch's claims already have settlement indices from {0}")]
    IndicesAlreadyAssigned(SettlementIndex),
    /// The indices would run past the largest index.
    #[error("settlement indices from {0} run out for this batch")]
    IndicesExhausted(SettlementIndex),
    /// Owed amounts recorded for a batch that already recorded others.
    #[error("the batch already recorded other owed payouts")]
    OwedAlreadyRecorded,
}

/// The payout-batch aggregate.
pub struct PayoutBatchDecider;

impl Decider for PayoutBatchDecider {
    type State = PayoutBatchState;
    type Command = PayoutBatchCommand;
    type Event = PayoutBatchEvent;
    type Error = PayoutBatchError;

    fn decide(
        state: &PayoutBatchState,
        command: PayoutBatchCommand,
    ) -> Result<Vec<PayoutBatchEvent>, PayoutBatchError> {
        match command {
            PayoutBatchCommand::Create {
                batch,
                created_at,
                payouts,
            } => {
                if state.batch.is_some() {
                    return if state.payouts == payouts {
                        Ok(vec![])
                    } else {
                        Err(PayoutBatchError::AlreadyCreated(batch))
                    };
                }
                if payouts.is_empty() {
                    return Err(PayoutBatchError::Empty);
                }
                let mut claims = BTreeSet::new();
                if let Some(bad) = payouts
                    .iter()
                    .find(|payout| !payout.amount.is_positive() || !claims.insert(payout.claim))
                {
                    return Err(PayoutBatchError::BadPayout(bad.claim));
                }
                Ok(vec![PayoutBatchEvent::Created {
                    batch,
                    created_at,
                    payouts,
                }])
            }
            PayoutBatchCommand::AssignSettlementIndices { first } => {
                match (&state.batch, state.first_index, &state.settlement) {
                    (None, _, _) => Err(PayoutBatchError::NotCreated),
                    (Some(_), Some(assigned), _) if assigned == first => Ok(vec![]),
                    (Some(_), Some(assigned), _) => {
                        Err(PayoutBatchError::IndicesAlreadyAssigned(assigned))
                    }
                    (Some(_), None, Some((settled, _))) => {
                        Err(PayoutBatchError::AlreadySettled(*settled))
                    }
                    (Some(_), None, None) => {
                        let count = state.payouts.len() as u64;
                        first
                            .checked_add(count)
                            .ok_or(PayoutBatchError::IndicesExhausted(first))?;
                        Ok(vec![PayoutBatchEvent::SettlementIndicesAssigned {
                            first,
                            count,
                        }])
                    }
                }
            }
            PayoutBatchCommand::RecordOwed { owed } => match state.batch {
                None => Err(PayoutBatchError::NotCreated),
                Some(_) if owed.is_empty() || state.owed == owed => Ok(vec![]),
                Some(_) if !state.owed.is_empty() => Err(PayoutBatchError::OwedAlreadyRecorded),
                Some(_) => Ok(vec![PayoutBatchEvent::PayoutsOwed { owed }]),
            },
            PayoutBatchCommand::RecordSettlement {
                transaction,
                block,
                gas_used,
            } => match (&state.batch, &state.settlement) {
                (None, _) => Err(PayoutBatchError::NotCreated),
                (Some(_), Some((settled, _))) if *settled == transaction => Ok(vec![]),
                (Some(_), Some((settled, _))) => Err(PayoutBatchError::AlreadySettled(*settled)),
                (Some(_), None) => Ok(vec![PayoutBatchEvent::Settled {
                    transaction,
                    block,
                    gas_used,
                }]),
            },
        }
    }

    fn evolve(mut state: PayoutBatchState, event: &PayoutBatchEvent) -> PayoutBatchState {
        match event {
            PayoutBatchEvent::Created { batch, payouts, .. } => {
                state.batch = Some(*batch);
                state.payouts = payouts.clone();
            }
            PayoutBatchEvent::SettlementIndicesAssigned { first, .. } => {
                state.first_index = Some(*first);
            }
            PayoutBatchEvent::PayoutsOwed { owed } => state.owed = owed.clone(),
            PayoutBatchEvent::Settled {
                transaction, block, ..
            } => state.settlement = Some((*transaction, *block)),
        }
        state
    }
}

/// Commands on a settlement contract's index ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementIndexCommand {
    /// Reserves `count` consecutive indices for a batch's claims.
    Reserve {
        /// The batch the indices are for.
        batch: PayoutBatchId,
        /// How many (one per claim of the batch), at least one.
        count: u64,
    },
}

/// What happened to a settlement contract's index ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SettlementIndexEvent {
    /// Indices `first .. first + count` were given to a batch's claims; no other claim
    /// will ever get them.
    Reserved {
        /// The batch.
        batch: PayoutBatchId,
        /// The first index.
        first: SettlementIndex,
        /// How many.
        count: u64,
    },
}

impl SettlementIndexEvent {
    /// The event's stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            SettlementIndexEvent::Reserved { .. } => "SettlementIndicesReserved",
        }
    }
}

/// What is known of a contract's index ledger: the next index to give out.
///
/// Its state is the last reservation alone, so a reader that remembers it can catch up by
/// folding only the events appended since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementIndexState {
    /// The next index to give out.
    pub next: SettlementIndex,
}

/// Why indices could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementIndexError {
    /// A reservation of no indices is a bug in the caller.
    #[error("a reservation needs at least one index")]
    Empty,
    /// The sequence would run past the largest index.
    #[error("the settlement indices of this contract have run out after {0}")]
    Exhausted(SettlementIndex),
}

/// The settlement-index ledger of one contract: a monotonically increasing sequence, so
/// that every claim ever sent to the contract has its own index.
pub struct SettlementIndexDecider;

impl Decider for SettlementIndexDecider {
    type State = SettlementIndexState;
    type Command = SettlementIndexCommand;
    type Event = SettlementIndexEvent;
    type Error = SettlementIndexError;

    fn decide(
        state: &SettlementIndexState,
        command: SettlementIndexCommand,
    ) -> Result<Vec<SettlementIndexEvent>, SettlementIndexError> {
        match command {
            SettlementIndexCommand::Reserve { batch, count } => {
                if count == 0 {
                    return Err(SettlementIndexError::Empty);
                }
                state
                    .next
                    .checked_add(count)
                    .ok_or(SettlementIndexError::Exhausted(state.next))?;
                Ok(vec![SettlementIndexEvent::Reserved {
                    batch,
                    first: state.next,
                    count,
                }])
            }
        }
    }

    fn evolve(state: SettlementIndexState, event: &SettlementIndexEvent) -> SettlementIndexState {
        match event {
            SettlementIndexEvent::Reserved { first, count, .. } => {
                // Never backwards, whatever order a reader meets the events in.
                let end = first
                    .checked_add(*count)
                    .unwrap_or(SettlementIndex(u64::MAX));
                SettlementIndexState {
                    next: state.next.max(end),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use uuid::Uuid;

    fn batch(n: u128) -> PayoutBatchId {
        PayoutBatchId::from_uuid(Uuid::from_u128(n))
    }

    fn reserved(batch_n: u128, first: u64, count: u64) -> SettlementIndexEvent {
        SettlementIndexEvent::Reserved {
            batch: batch(batch_n),
            first: SettlementIndex::new(first),
            count,
        }
    }

    fn payout(n: u128, amount: &str) -> BatchPayout {
        BatchPayout {
            claim: ClaimId::from_uuid(Uuid::from_u128(n)),
            provider: ProviderId::new("clinic-a").expect("a provider id"),
            wallet: wallet(),
            amount: format!("{amount} USD").parse().expect("an amount"),
            reference: PayoutReference::from_bytes([n as u8; 32]),
        }
    }

    fn wallet() -> WalletAddress {
        WalletAddress::from_bytes([0x11; 20])
    }

    fn created() -> PayoutBatchEvent {
        PayoutBatchEvent::Created {
            batch: batch(1),
            created_at: "2026-03-31T18:00:00Z".parse().expect("a time"),
            payouts: vec![payout(1, "600.00"), payout(2, "95.00")],
        }
    }

    fn assigned(first: u64) -> PayoutBatchEvent {
        PayoutBatchEvent::SettlementIndicesAssigned {
            first: SettlementIndex::new(first),
            count: 2,
        }
    }

    fn assign(first: u64) -> PayoutBatchCommand {
        PayoutBatchCommand::AssignSettlementIndices {
            first: SettlementIndex::new(first),
        }
    }

    #[test]
    fn a_batch_names_its_claims_by_consecutive_settlement_indices() {
        given::<PayoutBatchDecider>([created()])
            .when(assign(40))
            .then([assigned(40)]);
        let state = PayoutBatchDecider::fold(&[created(), assigned(40)]);
        let indexed: Vec<_> = state
            .indexed_payouts()
            .into_iter()
            .map(|(index, payout)| (index.get(), payout.claim))
            .collect();
        assert_eq!(
            indexed,
            vec![
                (40, ClaimId::from_uuid(Uuid::from_u128(1))),
                (41, ClaimId::from_uuid(Uuid::from_u128(2)))
            ]
        );
    }

    #[test]
    fn indices_are_assigned_once() {
        given::<PayoutBatchDecider>([created(), assigned(40)])
            .when(assign(40))
            .then([]);
        let error = given::<PayoutBatchDecider>([created(), assigned(40)])
            .when(assign(50))
            .then_error();
        assert_eq!(
            error,
            PayoutBatchError::IndicesAlreadyAssigned(SettlementIndex::new(40))
        );
        let error = given::<PayoutBatchDecider>([]).when(assign(1)).then_error();
        assert_eq!(error, PayoutBatchError::NotCreated);
    }

    #[test]
    fn owed_payouts_are_recorded_once() {
        let owed = vec![OwedPayout {
            wallet: wallet(),
            amount: "695.00 USD".parse().expect("an amount"),
        }];
        given::<PayoutBatchDecider>([created()])
            .when(PayoutBatchCommand::RecordOwed { owed: owed.clone() })
            .then([PayoutBatchEvent::PayoutsOwed { owed: owed.clone() }]);
        given::<PayoutBatchDecider>([created()])
            .when(PayoutBatchCommand::RecordOwed { owed: vec![] })
            .then([]);
        given::<PayoutBatchDecider>([
            created(),
            PayoutBatchEvent::PayoutsOwed { owed: owed.clone() },
        ])
        .when(PayoutBatchCommand::RecordOwed { owed })
        .then([]);
    }

    #[test]
    fn a_batch_stored_before_settlement_indices_still_reads() {
        let stored = r#"{"type":"Created","batch":"00000000-0000-0000-0000-000000000001","created_at":"2026-03-31T18:00:00Z","payouts":[]}"#;
        let event: PayoutBatchEvent = serde_json::from_str(stored).expect("readable");
        let state = PayoutBatchDecider::fold(&[event]);
        assert_eq!(state.first_index, None);
        assert!(state.indexed_payouts().is_empty());
        for event in [assigned(3), PayoutBatchEvent::PayoutsOwed { owed: vec![] }] {
            let json = serde_json::to_string(&event).expect("serialisable");
            assert_eq!(
                serde_json::from_str::<PayoutBatchEvent>(&json).expect("readable"),
                event
            );
        }
    }

    #[test]
    fn the_first_reservation_starts_at_zero() {
        given::<SettlementIndexDecider>([])
            .when(SettlementIndexCommand::Reserve {
                batch: batch(1),
                count: 3,
            })
            .then([reserved(1, 0, 3)]);
    }

    #[test]
    fn each_reservation_starts_where_the_last_ended() {
        given::<SettlementIndexDecider>([reserved(1, 0, 3), reserved(2, 3, 2)])
            .when(SettlementIndexCommand::Reserve {
                batch: batch(3),
                count: 1,
            })
            .then([reserved(3, 5, 1)]);
    }

    #[test]
    fn an_empty_reservation_is_refused() {
        let error = given::<SettlementIndexDecider>([])
            .when(SettlementIndexCommand::Reserve {
                batch: batch(1),
                count: 0,
            })
            .then_error();
        assert_eq!(error, SettlementIndexError::Empty);
    }

    #[test]
    fn the_sequence_refuses_to_wrap_around() {
        let error = given::<SettlementIndexDecider>([reserved(1, u64::MAX - 2, 1)])
            .when(SettlementIndexCommand::Reserve {
                batch: batch(2),
                count: 5,
            })
            .then_error();
        assert_eq!(
            error,
            SettlementIndexError::Exhausted(SettlementIndex::new(u64::MAX - 1))
        );
    }

    #[test]
    fn the_ledger_never_goes_backwards() {
        let state = SettlementIndexDecider::fold(&[reserved(2, 10, 5), reserved(1, 0, 3)]);
        assert_eq!(state.next, SettlementIndex::new(15));
    }

    #[test]
    fn ledger_events_survive_storage_as_json() {
        let event = reserved(1, 7, 2);
        let json = serde_json::to_string(&event).expect("serialisable");
        assert_eq!(
            serde_json::from_str::<SettlementIndexEvent>(&json).expect("readable"),
            event,
            "{json}"
        );
        assert!(json.contains(r#""first":7"#), "{json}");
    }
}
