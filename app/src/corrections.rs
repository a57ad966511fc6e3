//! Corrections: voids (X12 frequency code 8) and the cancelling half of replacements (7).
//!
//! Cancelling a claim decides, and stores in **one** append: the claim's `ClaimVoided`;
//! the member's (and family's) benefit-year events that give back everything the claim
//! used (`CostSharingReversed`, `BenefitsReversed`); and, when the claim's payout was
//! already scheduled or paid, the provider's `RecoupmentOwed` on its ledger
//! (`providerledger-<provider>`), which the settlement service withholds from the
//! provider's next payouts. A replacement's adjudication (`crate::adjudicator`) stores the
//! same events with the new claim's decision, made on the restored benefit year.

use crate::retry;
use claims_adapters::aggregate::{self, AggregateError, Loaded, StoredAggregate, streams};
use claims_adapters::event_store::{EventStore, StreamAppend};
use claims_domain::accumulator::{
    AccumulatorCommand, AccumulatorDecider, AccumulatorError, AccumulatorEvent, BenefitYearState,
    FamilyAccumulatorDecider,
};
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, CorrectionKind};
use claims_domain::member::MemberDecider;
use claims_domain::provider_ledger::{ProviderLedgerCommand, ProviderLedgerDecider};
use claims_domain::{ClaimId, Decider, MemberId, Money};
use std::sync::Arc;
use tracing::{Instrument, info};

/// A benefit year as loaded, with the events already decided for it in the append being
/// prepared (reversals), and the state after them.
pub(crate) struct Year<D: StoredAggregate<State = BenefitYearState, Event = AccumulatorEvent>> {
    /// The stream as loaded; the append expects its version.
    pub loaded: Loaded<D>,
    /// Events decided so far, not yet stored.
    pub decided: Vec<AccumulatorEvent>,
    /// The state after them.
    pub state: BenefitYearState,
}

impl<D> Year<D>
where
    D: StoredAggregate<
            State = BenefitYearState,
            Event = AccumulatorEvent,
            Command = AccumulatorCommand,
            Error = AccumulatorError,
        >,
{
    /// A year as loaded, nothing decided yet.
    pub fn new(loaded: Loaded<D>) -> Self {
        let state = loaded.state.clone();
        Self {
            loaded,
            decided: Vec::new(),
            state,
        }
    }

    /// Decides a command on the state so far and keeps its events.
    pub fn decide(&mut self, command: AccumulatorCommand) -> Result<(), AccumulatorError> {
        let events = D::decide(&self.state, command)?;
        for event in &events {
            self.state = D::evolve(std::mem::take(&mut self.state), event);
        }
        self.decided.extend(events);
        Ok(())
    }

    /// Gives back what `claim` added to the year.
    pub fn reverse(&mut self, member: &MemberId, claim: ClaimId) -> Result<(), AccumulatorError> {
        self.decide(AccumulatorCommand::Reverse {
            member: member.clone(),
            claim,
        })
    }

    /// Every event decided, as one append at the version loaded.
    pub fn append(
        &self,
        metadata: &serde_json::Value,
    ) -> Result<Option<StreamAppend>, AggregateError> {
        self.loaded.append(&self.decided, metadata)
    }
}

/// What a correction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corrected {
    /// The claim was cancelled now; `recoup` is what its provider owes back, if its payout
    /// was already scheduled or paid.
    Voided {
        /// What the provider owes back.
        recoup: Option<Money>,
    },
    /// The same correction had already been stored.
    AlreadyVoided,
}

/// Why a correction was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    /// The store failed or kept conflicting; worth another attempt.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The claim cannot be cancelled (never submitted, or cancelled by another correction).
    #[error(transparent)]
    Refused(#[from] ClaimError),
    /// The benefit year refused the reversal (a corrupt log).
    #[error("claim {claim}: the benefit year refused the reversal: {source}")]
    BenefitYear {
        /// The claim.
        claim: ClaimId,
        /// Why.
        source: AccumulatorError,
    },
    /// The provider's ledger refused the recoupment (a corrupt log).
    #[error("claim {claim}: the provider's ledger refused the recoupment: {reason}")]
    Ledger {
        /// The claim.
        claim: ClaimId,
        /// Why.
        reason: String,
    },
}

impl CorrectionError {
    fn is_conflict(&self) -> bool {
        matches!(self, CorrectionError::Store(AggregateError::Store(store)) if store.is_conflict())
    }
}

/// Decides the cancellation of a loaded claim: its `ClaimVoided`, the reversal of what it
/// used in the given benefit years (decided into them), and the provider's recoupment.
/// Returns the claim's and the ledger's appends, and the claim's voided event (`None` when
/// the same correction had already been stored).
pub(crate) async fn cancel(
    store: &dyn EventStore,
    original: &Loaded<ClaimDecider>,
    kind: CorrectionKind,
    by: ClaimId,
    year: &mut Year<AccumulatorDecider>,
    family: Option<&mut Year<FamilyAccumulatorDecider>>,
    metadata: &serde_json::Value,
) -> Result<(Vec<StreamAppend>, Option<Option<Money>>), CorrectionError> {
    let Some(claim) = &original.state.claim else {
        return Err(ClaimError::NotSubmitted { action: "void" }.into());
    };
    let events = ClaimDecider::decide(&original.state, ClaimCommand::Void { kind, by })?;
    let Some(voiding) = events.iter().find_map(|event| match event {
        ClaimEvent::Voided { voiding } => Some(*voiding),
        _ => None,
    }) else {
        return Ok((Vec::new(), None));
    };
    let reversal = |source| CorrectionError::BenefitYear {
        claim: claim.id,
        source,
    };
    year.reverse(&claim.member, claim.id).map_err(reversal)?;
    if let Some(family) = family {
        family.reverse(&claim.member, claim.id).map_err(reversal)?;
    }
    let mut appends: Vec<StreamAppend> = original.append(&events, metadata)?.into_iter().collect();
    if let Some(amount) = voiding.recoup {
        let ledger = aggregate::load::<ProviderLedgerDecider>(
            store,
            streams::provider_ledger(&claim.provider),
        )
        .await?;
        let recouped = ProviderLedgerDecider::decide(
            &ledger.state,
            ProviderLedgerCommand::Recoup {
                provider: claim.provider.clone(),
                claim: claim.id,
                amount,
            },
        )
        .map_err(|error| CorrectionError::Ledger {
            claim: claim.id,
            reason: error.to_string(),
        })?;
        appends.extend(ledger.append(&recouped, metadata)?);
    }
    Ok((appends, Some(voiding.recoup)))
}

/// The member's benefit year of a claim, and the family's when the member has one (loaded
/// whatever the plan's limits today: a family year that never counted the claim reverses
/// nothing).
pub(crate) async fn benefit_years(
    store: &dyn EventStore,
    member: &MemberId,
    year_of_claim: claims_domain::accumulator::BenefitYear,
) -> Result<
    (
        Year<AccumulatorDecider>,
        Option<Year<FamilyAccumulatorDecider>>,
    ),
    AggregateError,
> {
    let year = Year::new(
        aggregate::load::<AccumulatorDecider>(store, streams::accumulator(member, year_of_claim))
            .await?,
    );
    let family = aggregate::load::<MemberDecider>(store, streams::member(member))
        .await?
        .state
        .member
        .and_then(|member| member.family);
    let family = match family {
        Some(family) => Some(Year::new(
            aggregate::load::<FamilyAccumulatorDecider>(
                store,
                streams::family_accumulator(&family, year_of_claim),
            )
            .await?,
        )),
        None => None,
    };
    Ok((year, family))
}

/// Voids claims (frequency code 8): cancels them and gives back what they used.
#[derive(Clone)]
pub struct Corrections {
    store: Arc<dyn EventStore>,
}

impl Corrections {
    /// Corrections over a store.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    /// Voids `claim` on behalf of the correcting submission `by`, retrying on fresh state
    /// if the claim, the member's year or the provider's ledger moved meanwhile.
    pub async fn void(&self, claim: ClaimId, by: ClaimId) -> Result<Corrected, CorrectionError> {
        let span = tracing::info_span!("void", %claim, %by);
        retry::on_conflict(|| self.try_void(claim, by), CorrectionError::is_conflict)
            .instrument(span)
            .await
    }

    async fn try_void(&self, claim_id: ClaimId, by: ClaimId) -> Result<Corrected, CorrectionError> {
        let store = self.store.as_ref();
        let original = aggregate::load::<ClaimDecider>(store, streams::claim(claim_id)).await?;
        let Some(claim) = original.state.claim.clone() else {
            return Err(ClaimError::NotSubmitted { action: "void" }.into());
        };
        let (mut year, mut family) =
            benefit_years(store, &claim.member, claim.benefit_year()).await?;
        let metadata = serde_json::json!({ "claim": claim_id, "corrected_by": by });
        let (mut appends, voided) = cancel(
            store,
            &original,
            CorrectionKind::Void,
            by,
            &mut year,
            family.as_mut(),
            &metadata,
        )
        .await?;
        let Some(recoup) = voided else {
            return Ok(Corrected::AlreadyVoided);
        };
        appends.extend(year.append(&metadata)?);
        if let Some(family) = &family {
            appends.extend(family.append(&metadata)?);
        }
        store.append(appends).await.map_err(AggregateError::from)?;
        info!(recoup = ?recoup, "claim voided");
        Ok(Corrected::Voided { recoup })
    }
}
