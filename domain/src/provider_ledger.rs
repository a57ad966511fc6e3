//! A provider's ledger of money it owes back: recoupments of claims that were paid (or were
//! on their way to being paid) and then voided or replaced, and what later payouts withheld
//! to recover them.
//!
//! Nothing is ever clawed back on chain. Like an 835's provider-level adjustment for an
//! overpayment recovery (PLB `WO`), the amount is withheld from the provider's next payouts:
//! when a batch is scheduled, [`ProviderLedgerCommand::Withhold`] takes the oldest
//! recoupments first out of the provider's claims in that batch, and whatever the batch
//! cannot cover stays owed for the batches after it.
//!
//! **Rounding rule.** A claim always keeps one minor unit (one cent) of its payout: the
//! settlement contract refuses a claim of zero, and every claim of a batch must be named on
//! chain for reconciliation to balance. The cent is withheld from a later batch instead.

use crate::decider::Decider;
use crate::ids::{ClaimId, PayoutBatchId, ProviderId};
use crate::money::{Money, MoneyError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a payout withheld from one claim to recover one recouped claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withholding {
    /// The claim whose payout was paid and is being recovered.
    pub recouped_claim: ClaimId,
    /// How much was withheld for it.
    pub amount: Money,
}

/// A claim of a batch, with what the plan pays for it before anything is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrossPayout {
    /// The claim.
    pub claim: ClaimId,
    /// What the plan pays for it.
    pub amount: Money,
}

/// Commands on a provider's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderLedgerCommand {
    /// Records that the provider owes back what it was paid for a claim that was voided or
    /// replaced after its payout was scheduled. At most once per claim.
    Recoup {
        /// The provider.
        provider: ProviderId,
        /// The recouped claim.
        claim: ClaimId,
        /// What the provider was paid (or is being paid) for it.
        amount: Money,
    },
    /// Withholds what the provider owes from its claims in a batch, oldest recoupment
    /// first, each claim keeping one minor unit. At most once per batch.
    Withhold {
        /// The batch.
        batch: PayoutBatchId,
        /// The provider's claims in the batch, in batch order.
        payouts: Vec<GrossPayout>,
    },
}

/// What happened to a provider's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProviderLedgerEvent {
    /// The provider owes back what it was paid for a voided or replaced claim.
    RecoupmentOwed {
        /// The provider.
        provider: ProviderId,
        /// The recouped claim.
        claim: ClaimId,
        /// What it owes for it.
        amount: Money,
    },
    /// A batch withheld part of what the provider owes from one of its claims.
    RecoupmentWithheld {
        /// The batch.
        batch: PayoutBatchId,
        /// The claim whose payout was reduced.
        from_claim: ClaimId,
        /// What was withheld, and for which recouped claim.
        withholding: Withholding,
    },
}

impl ProviderLedgerEvent {
    /// The event's stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            ProviderLedgerEvent::RecoupmentOwed { .. } => "RecoupmentOwed",
            ProviderLedgerEvent::RecoupmentWithheld { .. } => "RecoupmentWithheld",
        }
    }
}

/// What a provider owes back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderLedgerState {
    /// What is still owed, per recouped claim, oldest first.
    pub outstanding: Vec<(ClaimId, Money)>,
    /// Every claim ever recouped.
    pub recouped: BTreeSet<ClaimId>,
    /// Every batch that withheld something.
    pub batches: BTreeSet<PayoutBatchId>,
}

impl ProviderLedgerState {
    /// What the provider still owes in all, if anything.
    pub fn owed(&self) -> Option<Money> {
        let (_, first) = self.outstanding.first()?;
        Money::sum(
            first.currency(),
            self.outstanding.iter().map(|(_, amount)| amount),
        )
        .ok()
    }
}

/// Why a ledger command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderLedgerError {
    /// A recoupment of zero or less recovers nothing.
    #[error("a recoupment must be more than zero, not {0}")]
    NotPositive(Money),
    /// Amounts in different currencies, or out of range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The provider-ledger aggregate, stream `providerledger-<provider>`.
pub struct ProviderLedgerDecider;

impl Decider for ProviderLedgerDecider {
    type State = ProviderLedgerState;
    type Command = ProviderLedgerCommand;
    type Event = ProviderLedgerEvent;
    type Error = ProviderLedgerError;

    fn decide(
        state: &ProviderLedgerState,
        command: ProviderLedgerCommand,
    ) -> Result<Vec<ProviderLedgerEvent>, ProviderLedgerError> {
        match command {
            ProviderLedgerCommand::Recoup {
                provider,
                claim,
                amount,
            } => {
                if state.recouped.contains(&claim) {
                    return Ok(vec![]);
                }
                if !amount.is_positive() {
                    return Err(ProviderLedgerError::NotPositive(amount));
                }
                Ok(vec![ProviderLedgerEvent::RecoupmentOwed {
                    provider,
                    claim,
                    amount,
                }])
            }
            ProviderLedgerCommand::Withhold { batch, payouts } => {
                if state.batches.contains(&batch) {
                    return Ok(vec![]);
                }
                withhold(state, batch, &payouts)
            }
        }
    }

    fn evolve(mut state: ProviderLedgerState, event: &ProviderLedgerEvent) -> ProviderLedgerState {
        match event {
            ProviderLedgerEvent::RecoupmentOwed { claim, amount, .. } => {
                state.recouped.insert(*claim);
                state.outstanding.push((*claim, *amount));
            }
            ProviderLedgerEvent::RecoupmentWithheld {
                batch, withholding, ..
            } => {
                state.batches.insert(*batch);
                if let Some((_, owed)) = state
                    .outstanding
                    .iter_mut()
                    .find(|(claim, _)| *claim == withholding.recouped_claim)
                {
                    *owed = owed.checked_sub(withholding.amount).unwrap_or(*owed);
                }
                state.outstanding.retain(|(_, owed)| owed.is_positive());
            }
        }
        state
    }
}

/// Oldest recoupment first, out of each claim in turn, leaving each claim one minor unit.
fn withhold(
    state: &ProviderLedgerState,
    batch: PayoutBatchId,
    payouts: &[GrossPayout],
) -> Result<Vec<ProviderLedgerEvent>, ProviderLedgerError> {
    let mut outstanding: BTreeMap<usize, Money> = state
        .outstanding
        .iter()
        .enumerate()
        .map(|(position, (_, amount))| (position, *amount))
        .collect();
    let mut events = Vec::new();
    for payout in payouts {
        let minor_unit = Money::minor_unit(payout.amount.currency());
        let mut available = payout.amount.checked_sub(minor_unit)?.at_least_zero();
        for (position, owed) in outstanding.iter_mut() {
            if !available.is_positive() {
                break;
            }
            if !owed.is_positive() {
                continue;
            }
            let amount = available.min(*owed)?;
            *owed = owed.checked_sub(amount)?;
            available = available.checked_sub(amount)?;
            events.push(ProviderLedgerEvent::RecoupmentWithheld {
                batch,
                from_claim: payout.claim,
                withholding: Withholding {
                    recouped_claim: state.outstanding[*position].0,
                    amount,
                },
            });
        }
    }
    Ok(events)
}
