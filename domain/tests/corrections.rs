//! Corrections: voids and replacements (frequency codes 8 and 7), the benefit year giving
//! back what a cancelled claim used, the provider's ledger recouping a paid claim and
//! withholding it from later payouts, and appeals of denials that used benefits.

mod fixtures;

use claims_domain::Decider;
use claims_domain::accumulator::{AccumulatorCommand, AccumulatorDecider, AccumulatorEvent};
use claims_domain::adjudication::Decision;
use claims_domain::claim::{
    Appeal, ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, ClaimState, ClaimStatus,
    ConfirmedPayout, Correction, CorrectionKind, Rejection, Voiding,
};
use claims_domain::provider_ledger::{
    GrossPayout, ProviderLedgerCommand, ProviderLedgerDecider, ProviderLedgerError,
    ProviderLedgerEvent, Withholding,
};
use claims_domain::testing::given;
use claims_domain::{ClaimId, InsurerClaimRef, PayoutReference, TransactionHash};
use fixtures::*;

fn claim_id(reference: &str) -> ClaimId {
    ClaimId::for_submission(
        &insurer(),
        &InsurerClaimRef::new(reference).expect("a reference"),
    )
}

/// The office visit (allowed 120.00, copay 25.00, deductible met, 20% coinsurance: the plan
/// pays 76.00), approved.
fn approved() -> Vec<ClaimEvent> {
    let mut events = vec![submitted(&claim())];
    events.extend(
        given::<ClaimDecider>(events.clone())
            .when(ClaimCommand::Adjudicate(adjudication_context(
                plan(),
                accumulated("250.00", "250.00"),
            )))
            .events(),
    );
    events
}

fn schedule(withheld: Vec<Withholding>) -> ClaimCommand {
    ClaimCommand::SchedulePayout {
        batch: batch(1),
        reference: PayoutReference::from_bytes([1; 32]),
        wallet: wallet(),
        withheld,
    }
}

fn confirmation() -> ConfirmedPayout {
    ConfirmedPayout {
        batch: batch(1),
        transaction: TransactionHash::from_bytes([2; 32]),
        block: 17,
    }
}

fn then_after(history: &[ClaimEvent], command: ClaimCommand) -> Vec<ClaimEvent> {
    let events = given::<ClaimDecider>(history.to_vec())
        .when(command)
        .events();
    [history.to_vec(), events].concat()
}

fn paid() -> Vec<ClaimEvent> {
    let scheduled = then_after(&approved(), schedule(vec![]));
    then_after(&scheduled, ClaimCommand::ConfirmPayout(confirmation()))
}

fn void_by(reference: &str) -> ClaimCommand {
    ClaimCommand::Void {
        kind: CorrectionKind::Void,
        by: claim_id(reference),
    }
}

#[test]
fn a_void_of_an_unpaid_claim_cancels_it_and_recoups_nothing() {
    given::<ClaimDecider>(approved())
        .when(void_by("VOID-1"))
        .then([ClaimEvent::Voided {
            voiding: Voiding {
                kind: CorrectionKind::Void,
                by: claim_id("VOID-1"),
                recoup: None,
            },
        }]);
}

#[test]
fn a_voided_claim_is_never_scheduled_for_payout() {
    let voided = then_after(&approved(), void_by("VOID-1"));
    assert_eq!(
        ClaimDecider::fold(&voided).status,
        Some(ClaimStatus::Voided)
    );
    assert!(matches!(
        given::<ClaimDecider>(voided)
            .when(schedule(vec![]))
            .then_error(),
        ClaimError::WrongStatus {
            status: ClaimStatus::Voided,
            ..
        }
    ));
}

#[test]
fn the_same_void_again_decides_nothing_and_another_correction_is_refused() {
    let voided = then_after(&approved(), void_by("VOID-1"));
    given::<ClaimDecider>(voided.clone())
        .when(void_by("VOID-1"))
        .then([]);
    let error = given::<ClaimDecider>(voided)
        .when(ClaimCommand::Void {
            kind: CorrectionKind::Replacement,
            by: claim_id("CLM-0002"),
        })
        .then_error();
    assert!(matches!(error, ClaimError::AlreadyCorrected { .. }));
}

#[test]
fn a_void_of_a_paid_claim_recoups_what_the_plan_paid() {
    given::<ClaimDecider>(paid())
        .when(void_by("VOID-1"))
        .then([ClaimEvent::Voided {
            voiding: Voiding {
                kind: CorrectionKind::Void,
                by: claim_id("VOID-1"),
                recoup: Some(usd("76.00")),
            },
        }]);
}

#[test]
fn a_claim_voided_on_its_way_to_the_chain_is_still_confirmed_paid_and_stays_voided() {
    let scheduled = then_after(&approved(), schedule(vec![]));
    let voided = then_after(&scheduled, void_by("VOID-1"));
    let state = ClaimDecider::fold(&voided);
    assert_eq!(
        state.voiding.and_then(|voiding| voiding.recoup),
        Some(usd("76.00"))
    );
    let confirmed = then_after(&voided, ClaimCommand::ConfirmPayout(confirmation()));
    let state = ClaimDecider::fold(&confirmed);
    assert_eq!(state.status, Some(ClaimStatus::Voided));
    assert_eq!(state.payout_status(), Some(ClaimStatus::Paid));
    given::<ClaimDecider>(confirmed)
        .when(ClaimCommand::ConfirmPayout(confirmation()))
        .then([]);
}

#[test]
fn a_payout_transfers_what_the_plan_pays_less_what_is_withheld() {
    let withheld = vec![Withholding {
        recouped_claim: claim_id("CLM-OLD"),
        amount: usd("50.00"),
    }];
    let events = given::<ClaimDecider>(approved())
        .when(schedule(withheld.clone()))
        .events();
    let [ClaimEvent::PayoutScheduled { payout }] = events.as_slice() else {
        panic!("expected a scheduled payout, got {events:?}");
    };
    assert_eq!(payout.amount, usd("26.00"));
    assert_eq!(payout.withheld, withheld);
}

#[test]
fn a_payout_is_never_withheld_down_to_nothing() {
    let error = given::<ClaimDecider>(approved())
        .when(schedule(vec![Withholding {
            recouped_claim: claim_id("CLM-OLD"),
            amount: usd("76.00"),
        }]))
        .then_error();
    assert!(matches!(error, ClaimError::WithheldTooMuch { .. }));
}

// --- Replacement submissions ---------------------------------------------------------

fn replacement_of(
    original: &ClaimState,
    reference: &str,
) -> (claims_domain::claim::Claim, ClaimCommand) {
    let mut claim = claim_with(reference, vec![line(1, OFFICE_VISIT, 1, "150.00")]);
    claim.corrects = Some(Correction {
        claim: claim_id("CLM-0001"),
        kind: CorrectionKind::Replacement,
    });
    let mut context = submission_context();
    context.original = Some(Box::new(original.clone()));
    (claim.clone(), ClaimCommand::Submit { claim, context })
}

#[test]
fn a_replacement_of_a_known_claim_is_accepted() {
    let (claim, command) = replacement_of(&ClaimDecider::fold(&approved()), "CLM-0002");
    given::<ClaimDecider>([])
        .when(command)
        .then([submitted(&claim)]);
}

#[test]
fn a_replacement_of_a_claim_never_accepted_is_refused() {
    let (_, command) = replacement_of(&ClaimState::default(), "CLM-0002");
    let error = given::<ClaimDecider>([]).when(command).then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::UnknownOriginal(claim_id("CLM-0001"))])
    );
}

#[test]
fn a_replacement_for_another_benefit_year_is_refused() {
    let (mut claim, _) = replacement_of(&ClaimDecider::fold(&approved()), "CLM-0002");
    claim.lines[0].date_of_service = date("2025-12-01");
    let mut context = submission_context();
    context.original = Some(Box::new(ClaimDecider::fold(&approved())));
    let error = given::<ClaimDecider>([])
        .when(ClaimCommand::Submit { claim, context })
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::ReplacementMismatch(claim_id("CLM-0001"))])
    );
}

#[test]
fn a_claim_already_voided_cannot_be_replaced() {
    let voided = ClaimDecider::fold(&then_after(&approved(), void_by("VOID-1")));
    let (_, command) = replacement_of(&voided, "CLM-0002");
    let error = given::<ClaimDecider>([]).when(command).then_error();
    assert!(matches!(
        error,
        ClaimError::Rejected(reasons) if matches!(reasons.as_slice(), [Rejection::AlreadyCorrected { .. }])
    ));
}

// --- The benefit year gives back what a claim used -------------------------------------

fn applied(claim: &str, deductible: &str, out_of_pocket: &str) -> AccumulatorEvent {
    AccumulatorEvent::CostSharingApplied {
        member: member().id,
        claim: claim_id(claim),
        deductible: usd(deductible),
        out_of_pocket: usd(out_of_pocket),
    }
}

fn provided(claim: &str, plan_paid: &str) -> AccumulatorEvent {
    let mut benefits = claims_domain::accumulator::BenefitsUsed::none(claims_domain::Currency::USD);
    benefits.plan_paid = usd(plan_paid);
    benefits.visits.insert(
        claims_domain::ServiceCategory::new("office-visit").expect("a category"),
        1,
    );
    AccumulatorEvent::BenefitsProvided {
        member: member().id,
        claim: claim_id(claim),
        benefits,
        services: vec![],
    }
}

fn reverse(claim: &str) -> AccumulatorCommand {
    AccumulatorCommand::Reverse {
        member: member().id,
        claim: claim_id(claim),
    }
}

#[test]
fn reversing_a_claim_gives_back_exactly_what_it_added() {
    let history = vec![
        applied("CLM-0001", "95.00", "95.00"),
        provided("CLM-0001", "0.00"),
        applied("CLM-0002", "100.00", "120.00"),
        provided("CLM-0002", "80.00"),
    ];
    let events = given::<AccumulatorDecider>(history.clone())
        .when(reverse("CLM-0001"))
        .events();
    let [
        AccumulatorEvent::CostSharingReversed {
            deductible,
            out_of_pocket,
            ..
        },
        AccumulatorEvent::BenefitsReversed { benefits, .. },
    ] = events.as_slice()
    else {
        panic!("expected the cost sharing and the benefits reversed, got {events:?}");
    };
    assert_eq!((*deductible, *out_of_pocket), (usd("95.00"), usd("95.00")));
    assert_eq!(benefits.plan_paid, usd("0.00"));
    let state = AccumulatorDecider::fold(&[history, events].concat());
    assert_eq!(
        state.accumulated(claims_domain::Currency::USD),
        accumulated("100.00", "120.00")
    );
    assert_eq!(
        state.visits.values().sum::<u32>(),
        1,
        "only the second claim's visit is left"
    );
    assert_eq!(
        state.benefits_used(claims_domain::Currency::USD).plan_paid,
        usd("80.00")
    );
}

#[test]
fn a_claim_reversed_or_never_counted_reverses_nothing() {
    let history = vec![applied("CLM-0001", "95.00", "95.00")];
    let reversed = given::<AccumulatorDecider>(history.clone())
        .when(reverse("CLM-0001"))
        .events();
    given::<AccumulatorDecider>([history.clone(), reversed].concat())
        .when(reverse("CLM-0001"))
        .then([]);
    given::<AccumulatorDecider>(history)
        .when(reverse("CLM-0009"))
        .then([]);
}

#[test]
fn a_reversed_claim_can_be_counted_again_when_it_is_decided_again() {
    let history = vec![applied("CLM-0001", "95.00", "95.00")];
    let reversed = given::<AccumulatorDecider>(history.clone())
        .when(reverse("CLM-0001"))
        .events();
    given::<AccumulatorDecider>([history, reversed].concat())
        .when(AccumulatorCommand::ApplyCostSharing {
            member: member().id,
            claim: claim_id("CLM-0001"),
            deductible: usd("40.00"),
            out_of_pocket: usd("40.00"),
            limits: accumulated("250.00", "3000.00"),
        })
        .then([applied("CLM-0001", "40.00", "40.00")]);
}

// --- The provider's ledger: recoupment netted in later payouts -------------------------

fn owed(claim: &str, amount: &str) -> ProviderLedgerEvent {
    ProviderLedgerEvent::RecoupmentOwed {
        provider: provider().id,
        claim: claim_id(claim),
        amount: usd(amount),
    }
}

fn withheld(batch_number: u128, from: &str, recouped: &str, amount: &str) -> ProviderLedgerEvent {
    ProviderLedgerEvent::RecoupmentWithheld {
        batch: batch(batch_number),
        from_claim: claim_id(from),
        withholding: Withholding {
            recouped_claim: claim_id(recouped),
            amount: usd(amount),
        },
    }
}

fn withhold(batch_number: u128, payouts: &[(&str, &str)]) -> ProviderLedgerCommand {
    ProviderLedgerCommand::Withhold {
        batch: batch(batch_number),
        payouts: payouts
            .iter()
            .map(|(claim, amount)| GrossPayout {
                claim: claim_id(claim),
                amount: usd(amount),
            })
            .collect(),
    }
}

#[test]
fn a_recoupment_is_recorded_once_per_claim() {
    let recoup = || ProviderLedgerCommand::Recoup {
        provider: provider().id,
        claim: claim_id("CLM-0001"),
        amount: usd("400.00"),
    };
    given::<ProviderLedgerDecider>([])
        .when(recoup())
        .then([owed("CLM-0001", "400.00")]);
    given::<ProviderLedgerDecider>([owed("CLM-0001", "400.00")])
        .when(recoup())
        .then([]);
    let error = given::<ProviderLedgerDecider>([])
        .when(ProviderLedgerCommand::Recoup {
            provider: provider().id,
            claim: claim_id("CLM-0001"),
            amount: usd("0.00"),
        })
        .then_error();
    assert_eq!(error, ProviderLedgerError::NotPositive(usd("0.00")));
}

#[test]
fn the_next_payout_withholds_what_is_owed_oldest_first() {
    given::<ProviderLedgerDecider>([owed("CLM-0001", "400.00"), owed("CLM-0002", "50.00")])
        .when(withhold(2, &[("CLM-0003", "730.00")]))
        .then([
            withheld(2, "CLM-0003", "CLM-0001", "400.00"),
            withheld(2, "CLM-0003", "CLM-0002", "50.00"),
        ]);
}

#[test]
fn each_claim_keeps_a_cent_and_the_rest_is_carried_to_later_batches() {
    let history = vec![owed("CLM-0001", "400.00")];
    let first = given::<ProviderLedgerDecider>(history.clone())
        .when(withhold(
            2,
            &[("CLM-0003", "100.00"), ("CLM-0004", "200.00")],
        ))
        .events();
    assert_eq!(
        first,
        vec![
            withheld(2, "CLM-0003", "CLM-0001", "99.99"),
            withheld(2, "CLM-0004", "CLM-0001", "199.99"),
        ]
    );
    let after = ProviderLedgerDecider::fold(&[history.clone(), first.clone()].concat());
    assert_eq!(after.owed(), Some(usd("100.02")));
    given::<ProviderLedgerDecider>([history.clone(), first.clone()].concat())
        .when(withhold(2, &[("CLM-0003", "100.00")]))
        .then([]);
    let second = given::<ProviderLedgerDecider>([history.clone(), first.clone()].concat())
        .when(withhold(3, &[("CLM-0005", "500.00")]))
        .events();
    assert_eq!(second, vec![withheld(3, "CLM-0005", "CLM-0001", "100.02")]);
    let settled = ProviderLedgerDecider::fold(&[history, first, second].concat());
    assert_eq!(settled.owed(), None);
}

#[test]
fn a_provider_owing_nothing_has_nothing_withheld() {
    given::<ProviderLedgerDecider>([])
        .when(withhold(2, &[("CLM-0003", "100.00")]))
        .then([]);
}

// --- Appeals of denials that used benefits ---------------------------------------------

/// The office visit denied because all 95.00 after the copay went to the deductible.
fn denied_after_the_deductible() -> Vec<ClaimEvent> {
    let history = vec![submitted(&claim())];
    let decided = given::<ClaimDecider>(history.clone())
        .when(ClaimCommand::Adjudicate(adjudication_context(
            plan(),
            accumulated("0.00", "0.00"),
        )))
        .events();
    [history, decided].concat()
}

fn appeal(benefits_restored: bool) -> ClaimCommand {
    ClaimCommand::Appeal {
        appeal: Appeal {
            by: "Clinic A".to_owned(),
            reason: "the deductible was met on another claim".to_owned(),
        },
        // The deductible was met by another claim since.
        context: adjudication_context(plan(), accumulated("250.00", "250.00")),
        benefits_restored,
    }
}

#[test]
fn a_denial_that_used_benefits_is_decided_again_once_they_are_given_back() {
    let denied = denied_after_the_deductible();
    assert!(ClaimDecider::fold(&denied).used_benefits());
    let events = given::<ClaimDecider>(denied.clone())
        .when(appeal(true))
        .events();
    let [
        ClaimEvent::Appealed { .. },
        ClaimEvent::Adjudicated { adjudication },
    ] = events.as_slice()
    else {
        panic!("expected the appeal and a decision, got {events:?}");
    };
    assert_eq!(adjudication.decision, Decision::Approved);
    assert_eq!(adjudication.payer_paid, usd("76.00"));
    assert!(matches!(
        given::<ClaimDecider>(denied)
            .when(appeal(false))
            .then_error(),
        ClaimError::NotAppealable(_)
    ));
}
