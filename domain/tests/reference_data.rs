//! Plans, members and providers: published, enrolled and registered idempotently.

mod fixtures;

use claims_domain::member::{
    CoveragePeriod, MemberCommand, MemberDecider, MemberError, MemberEvent,
};
use claims_domain::plan::{BenefitPlan, PlanCommand, PlanDecider, PlanError, PlanEvent, PlanRules};
use claims_domain::provider::{ProviderCommand, ProviderDecider, ProviderError, ProviderEvent};
use claims_domain::testing::given;
use claims_domain::{Currency, InsurerId, Money, PlanId, ServiceCategory, WalletAddress};
use fixtures::*;

fn published(plan: &BenefitPlan, revision: u32) -> PlanEvent {
    PlanEvent::Published {
        plan: plan.clone(),
        revision,
        rules: PlanRules::default(),
        rule_set: None,
    }
}

fn with_deductible(amount: &str) -> BenefitPlan {
    BenefitPlan {
        deductible: usd(amount),
        ..plan()
    }
}

// Plans

#[test]
fn a_plan_is_published_as_revision_1() {
    given::<PlanDecider>([])
        .when(PlanCommand::Publish(plan()))
        .then([published(&plan(), 1)]);
}

#[test]
fn publishing_the_same_plan_again_decides_nothing() {
    given::<PlanDecider>([published(&plan(), 1)])
        .when(PlanCommand::Publish(plan()))
        .then([]);
}

#[test]
fn each_change_is_the_next_revision() {
    let raised = with_deductible("500.00");
    given::<PlanDecider>([published(&plan(), 1)])
        .when(PlanCommand::Publish(raised.clone()))
        .then([published(&raised, 2)]);
    given::<PlanDecider>([published(&plan(), 1), published(&raised, 2)])
        .when(PlanCommand::Publish(raised.clone()))
        .then([]);
    // Going back to an earlier content is a change too: a new revision, never an old number.
    given::<PlanDecider>([published(&plan(), 1), published(&raised, 2)])
        .when(PlanCommand::Publish(plan()))
        .then([published(&plan(), 3)]);
}

#[test]
fn a_plan_with_wrong_amounts_is_refused_with_every_problem() {
    let mut plan = with_deductible("-1.00");
    plan.name = " ".to_owned();
    plan.copays.insert(
        ServiceCategory::new("emergency").unwrap(),
        Money::new(usd("150.00").amount(), Currency::EUR),
    );
    plan.review_threshold = Some(usd("-5.00"));
    let error = given::<PlanDecider>([])
        .when(PlanCommand::Publish(plan))
        .then_error();
    assert_eq!(
        error,
        PlanError::Invalid {
            plan: PlanId::new("gold-ppo").unwrap(),
            problems: vec![
                "the deductible is negative".to_owned(),
                "the copay for emergency is in EUR, but the plan is in USD".to_owned(),
                "the review threshold is negative".to_owned(),
                "the plan has no name".to_owned(),
            ],
        }
    );
    assert_eq!(
        error.to_string(),
        "plan gold-ppo is not valid: the deductible is negative; the copay for emergency is in EUR, \
         but the plan is in USD; the review threshold is negative; the plan has no name"
    );
}

#[test]
fn a_plan_with_fractions_of_a_cent_is_refused() {
    // An allowed amount of 120.005 would make every amount derived from it (payer paid,
    // the payout) a fraction of a cent.
    let mut plan = plan();
    plan.fee_schedule
        .insert(procedure(OFFICE_VISIT), fee("office-visit", "120.005"));
    plan.out_of_pocket_max = usd("3000.001");
    let error = given::<PlanDecider>([])
        .when(PlanCommand::Publish(plan))
        .then_error();
    assert_eq!(
        error,
        PlanError::Invalid {
            plan: PlanId::new("gold-ppo").unwrap(),
            problems: vec![
                "the out-of-pocket maximum is not a whole number of cents".to_owned(),
                "the allowed amount for 99213 is not a whole number of cents".to_owned(),
            ],
        }
    );
}

#[test]
fn a_category_without_a_copay_has_a_zero_copay() {
    let plan = plan();
    assert_eq!(
        plan.copay_for(&ServiceCategory::new("office-visit").unwrap()),
        usd("25.00")
    );
    assert_eq!(
        plan.copay_for(&ServiceCategory::new("surgery").unwrap()),
        usd("0.00")
    );
}

#[test]
fn a_plan_reads_from_json_with_amounts_as_strings() {
    let json = r#"{
        "id": "gold-ppo", "name": "Gold PPO", "currency": "USD",
        "deductible": "250.00 USD", "coinsurance": "20%", "out_of_pocket_max": "3000.00 USD",
        "copays": {"office-visit": "25.00 USD", "emergency": "150.00 USD"},
        "fee_schedule": {
            "99213": {"category": "office-visit", "allowed_per_unit": "120.00 USD"},
            "99285": {"category": "emergency", "allowed_per_unit": "2000.00 USD"},
            "29881": {"category": "surgery", "allowed_per_unit": "1000.00 USD"}
        },
        "review_threshold": "50000.00 USD"
    }"#;
    assert_eq!(serde_json::from_str::<BenefitPlan>(json).unwrap(), plan());
    let misspelt = json.replace("\"copays\"", "\"copay\"");
    assert!(serde_json::from_str::<BenefitPlan>(&misspelt).is_err());
    let float = json.replace("\"250.00 USD\"", "250.0");
    assert!(serde_json::from_str::<BenefitPlan>(&float).is_err());
}

// Members

#[test]
fn a_member_is_enrolled() {
    given::<MemberDecider>([])
        .when(MemberCommand::Enrol(member()))
        .then([MemberEvent::Enrolled { member: member() }]);
}

#[test]
fn enrolling_the_same_member_again_decides_nothing() {
    given::<MemberDecider>([MemberEvent::Enrolled { member: member() }])
        .when(MemberCommand::Enrol(member()))
        .then([]);
}

#[test]
fn an_enrolment_change_is_recorded() {
    let mut ended = member();
    ended.coverage[0].end = Some(date("2026-02-28"));
    given::<MemberDecider>([MemberEvent::Enrolled { member: member() }])
        .when(MemberCommand::Enrol(ended.clone()))
        .then([MemberEvent::Enrolled { member: ended }]);
}

#[test]
fn a_member_cannot_move_to_another_insurer() {
    let mut moved = member();
    moved.insurer = InsurerId::new("zenith-care").unwrap();
    let error = given::<MemberDecider>([MemberEvent::Enrolled { member: member() }])
        .when(MemberCommand::Enrol(moved))
        .then_error();
    assert_eq!(
        error,
        MemberError::InsurerChanged {
            member: member().id,
            current: insurer(),
            requested: InsurerId::new("zenith-care").unwrap(),
        }
    );
}

#[test]
fn a_coverage_period_that_ends_before_it_starts_is_refused() {
    let mut member = member();
    member.coverage.push(CoveragePeriod {
        start: date("2027-01-01"),
        end: Some(date("2026-12-31")),
    });
    let error = given::<MemberDecider>([])
        .when(MemberCommand::Enrol(member))
        .then_error();
    assert_eq!(
        error,
        MemberError::CoverageEndsBeforeStart {
            member: fixtures::member().id,
            start: date("2027-01-01"),
            end: date("2026-12-31"),
        }
    );
}

#[test]
fn coverage_includes_both_ends_of_each_period() {
    let mut member = member();
    member.coverage = vec![
        CoveragePeriod {
            start: date("2026-01-01"),
            end: Some(date("2026-02-28")),
        },
        CoveragePeriod {
            start: date("2026-04-01"),
            end: Some(date("2026-04-01")),
        },
    ];
    let covered = |day: &str| member.is_covered_on(date(day));
    assert!(!covered("2025-12-31"));
    assert!(covered("2026-01-01"));
    assert!(covered("2026-02-28"));
    assert!(!covered("2026-03-01"));
    assert!(covered("2026-04-01"));
    assert!(!covered("2026-04-02"));
    assert!(fixtures::member().is_covered_on(date("2099-12-31")));
}

// Providers

#[test]
fn a_provider_is_registered() {
    given::<ProviderDecider>([])
        .when(ProviderCommand::Register(provider()))
        .then([ProviderEvent::Registered {
            provider: provider(),
        }]);
}

#[test]
fn registering_the_same_provider_again_decides_nothing() {
    given::<ProviderDecider>([ProviderEvent::Registered {
        provider: provider(),
    }])
    .when(ProviderCommand::Register(provider()))
    .then([]);
}

#[test]
fn a_new_wallet_is_recorded() {
    let mut moved = provider();
    moved.wallet = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
        .parse::<WalletAddress>()
        .unwrap();
    given::<ProviderDecider>([ProviderEvent::Registered {
        provider: provider(),
    }])
    .when(ProviderCommand::Register(moved.clone()))
    .then([ProviderEvent::Registered { provider: moved }]);
}

#[test]
fn a_provider_without_a_name_is_refused() {
    for name in ["", "   "] {
        let mut nameless = provider();
        nameless.name = name.to_owned();
        let error = given::<ProviderDecider>([])
            .when(ProviderCommand::Register(nameless))
            .then_error();
        assert_eq!(error, ProviderError::NoName(provider().id));
    }
}

#[test]
fn a_provider_with_a_mistyped_wallet_does_not_read() {
    let json = r#"{"id":"clinic-a","name":"Clinic A","wallet":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}"#;
    assert_eq!(
        serde_json::from_str::<claims_domain::provider::Provider>(json).unwrap(),
        provider()
    );
    let mistyped = json.replace("0x5aAeb", "0x5aaeb");
    assert!(serde_json::from_str::<claims_domain::provider::Provider>(&mistyped).is_err());
}
