//! Payout batches: approved claims paid together, per settlement cycle, in one on-chain
//! transaction.

use crate::chain_values::{PayoutReference, TransactionHash, WalletAddress};
use crate::decider::Decider;
use crate::ids::{ClaimId, PayoutBatchId, ProviderId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    /// The settling transaction and block, once confirmed.
    pub settlement: Option<(TransactionHash, u64)>,
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
            PayoutBatchEvent::Settled {
                transaction, block, ..
            } => state.settlement = Some((*transaction, *block)),
        }
        state
    }
}
