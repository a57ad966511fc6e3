//! What the plan provided in a benefit year (visits, payments, services allowed), a
//! family's accumulators, and the authorisations on file: the inputs the adjudicator loads
//! for the limits, duplicate, family and prior-authorisation rules.

mod fixtures;

use claims_domain::accumulator::{
    AccumulatorCommand, AccumulatorDecider, AccumulatorEvent, BenefitsUsed,
    FamilyAccumulatorDecider,
};
use claims_domain::adjudication::{self, services_allowed};
use claims_domain::authorizations::{
    AuthorizationCommand, AuthorizationError, AuthorizationEvent, AuthorizationsDecider,
};
use claims_domain::coding::Modifier;
use claims_domain::rules::authorization::Authorization;
use claims_domain::rules::coordination::Coordination;
use claims_domain::testing::given;
use claims_domain::{Decider, InsurerId, ServiceCategory};
use fixtures::*;
use std::collections::BTreeMap;

fn benefits(visits: u32, paid: &str) -> BenefitsUsed {
    BenefitsUsed {
        visits: BTreeMap::from([(
            ServiceCategory::new("office-visit").expect("a category"),
            visits,
        )]),
        plan_paid: usd(paid),
    }
}

fn provided(reference: &str, visits: u32, paid: &str) -> AccumulatorEvent {
    let claim = claim_with(reference, vec![line(1, "99213", 1, "180.00")]);
    AccumulatorEvent::BenefitsProvided {
        member: member().id,
        claim: claim.id,
        benefits: benefits(visits, paid),
        services: Vec::new(),
    }
}

#[test]
fn benefits_provided_add_up_over_the_year() {
    let state = AccumulatorDecider::fold(&[
        provided("CLM-1", 1, "95.00"),
        provided("CLM-2", 2, "190.00"),
    ]);
    assert_eq!(
        state.benefits_used(usd("0").currency()),
        benefits(3, "285.00")
    );
}

#[test]
fn a_claims_benefits_are_recorded_once() {
    let claim = claim_with("CLM-1", vec![line(1, "99213", 1, "180.00")]);
    let command = || AccumulatorCommand::RecordBenefits {
        member: member().id,
        claim: claim.id,
        benefits: benefits(1, "95.00"),
        services: Vec::new(),
    };
    given::<AccumulatorDecider>([])
        .when(command())
        .then([provided("CLM-1", 1, "95.00")]);
    given::<AccumulatorDecider>([provided("CLM-1", 1, "95.00")])
        .when(command())
        .then([]);
}

#[test]
fn the_services_allowed_become_the_history_duplicates_are_checked_against() {
    let mut claim = claim_with(
        "CLM-1",
        vec![line(1, "99213", 1, "180.00"), line(2, "90999", 1, "50.00")],
    );
    claim.lines[0]
        .modifiers
        .insert(Modifier::new("25").expect("a modifier"));
    let decided = adjudication::adjudicate(
        &claim,
        &adjudication_context(plan(), accumulated("0.00", "0.00")),
    )
    .expect("a decision");
    let services = services_allowed(&claim, &decided);
    // Line 2 is not on the fee schedule, so only line 1 was allowed.
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].procedure, claim.lines[0].procedure);
    assert_eq!(services[0].modifiers, claim.lines[0].modifiers);
    assert_eq!(services[0].claim, claim.id);
}

#[test]
fn a_family_year_decides_as_a_members_year() {
    let claim = claim_with("CLM-1", vec![line(1, "99213", 1, "180.00")]);
    let command = AccumulatorCommand::ApplyCostSharing {
        member: member().id,
        claim: claim.id,
        deductible: usd("900.00"),
        out_of_pocket: usd("900.00"),
        limits: accumulated("800.00", "1500.00"),
    };
    given::<FamilyAccumulatorDecider>([])
        .when(command)
        .then_error();
}

#[test]
fn a_claim_is_secondary_only_for_a_member_with_a_primary_payer() {
    let mut claim = claim_with("CLM-1", vec![line(1, "29881", 1, "1000.00")]);
    claim.lines[0].primary_paid = Some(usd("700.00"));
    assert_eq!(claim.coordination(&member()), Coordination::Primary);
    let mut covered_twice = member();
    covered_twice.primary_payer = Some(InsurerId::new("spouse-health").expect("an insurer"));
    assert_eq!(
        claim.coordination(&covered_twice),
        Coordination::Secondary {
            primary_paid: BTreeMap::from([(1, usd("700.00"))])
        }
    );
}

fn authorization(number: &str) -> Authorization {
    Authorization {
        number: number.parse().expect("an authorisation number"),
        procedure: procedure("27447"),
        provider: provider().id,
        from: date("2026-03-01"),
        through: date("2026-03-31"),
    }
}

#[test]
fn an_authorisation_is_put_on_file_once() {
    let grant = || AuthorizationCommand::Grant {
        member: member().id,
        authorization: authorization("PA-1"),
    };
    let granted = AuthorizationEvent::Granted {
        member: member().id,
        authorization: authorization("PA-1"),
    };
    given::<AuthorizationsDecider>([])
        .when(grant())
        .then([granted.clone()]);
    given::<AuthorizationsDecider>([granted])
        .when(grant())
        .then([]);
}

#[test]
fn an_authorisation_number_is_never_reused_for_another_service() {
    let granted = AuthorizationEvent::Granted {
        member: member().id,
        authorization: authorization("PA-1"),
    };
    let mut other = authorization("PA-1");
    other.procedure = procedure("29881");
    let error = given::<AuthorizationsDecider>([granted])
        .when(AuthorizationCommand::Grant {
            member: member().id,
            authorization: other,
        })
        .then_error();
    assert_eq!(error, AuthorizationError::NumberInUse("PA-1".to_owned()));
}
