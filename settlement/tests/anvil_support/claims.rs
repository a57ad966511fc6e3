//! Approved claims in an event store, made the way the engine makes them: the provider
//! registered, the claim submitted and adjudicated by the domain's deciders.
//!
//! The plan pays 80% of a knee arthroscopy (29881, allowed up to 1,000.00) once the
//! deductible is met, which it is: a claim billed `b` (at most 1,000.00) pays `0.8 b`.

use chrono::NaiveDate;
use claims_adapters::aggregate::{self, streams};
use claims_adapters::event_store::EventStore;
use claims_domain::accumulator::{Accumulated, BenefitsUsed};
use claims_domain::adjudication::AdjudicationContext;
use claims_domain::claim::{Claim, ClaimCommand, ClaimDecider, ServiceLine, SubmissionContext};
use claims_domain::member::{CoveragePeriod, Member};
use claims_domain::plan::terms::PlanTerms;
use claims_domain::plan::{BenefitPlan, FeeScheduleEntry, PlanRules};
use claims_domain::provider::{Provider, ProviderCommand, ProviderDecider};
use claims_domain::{
    ClaimId, Currency, Decider, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, Money, PlanId,
    ProcedureCode, ProviderId, Rate, ServiceCategory, WalletAddress,
};
use claims_settlement::PayoutToken;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Words that identify people or care, which must never reach the chain.
pub const INSURER: &str = "acme-health";
pub const MEMBER: &str = "M-7731-JANE-ROE";
pub const PROCEDURE: &str = "29881";
pub const DIAGNOSIS: &str = "M23.205";
pub const PLAN: &str = "gold-ppo-secret-plan";

fn usd(amount: &str) -> Money {
    format!("{amount} USD").parse().unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

pub fn plan() -> BenefitPlan {
    BenefitPlan {
        id: PlanId::new(PLAN).unwrap(),
        name: "Gold PPO".to_owned(),
        currency: Currency::USD,
        deductible: usd("250.00"),
        coinsurance: "20%".parse::<Rate>().unwrap(),
        out_of_pocket_max: usd("100000.00"),
        copays: BTreeMap::new(),
        fee_schedule: BTreeMap::from([(
            ProcedureCode::new(PROCEDURE).unwrap(),
            FeeScheduleEntry {
                category: ServiceCategory::new("surgery").unwrap(),
                allowed_per_unit: usd("1000.00"),
            },
        )]),
        review_threshold: None,
    }
}

pub fn member() -> Member {
    Member {
        id: MemberId::new(MEMBER).unwrap(),
        insurer: InsurerId::new(INSURER).unwrap(),
        plan: plan().id,
        coverage: vec![CoveragePeriod {
            start: date("2026-01-01"),
            end: None,
        }],
        family: None,
        primary_payer: None,
    }
}

/// A provider with a name that must stay off chain.
pub fn provider(id: &str, name: &str, wallet: WalletAddress) -> Provider {
    Provider {
        id: ProviderId::new(id).unwrap(),
        name: name.to_owned(),
        wallet,
    }
}

/// Registers the provider.
pub async fn register(store: &dyn EventStore, provider: &Provider) {
    let loaded = aggregate::load::<ProviderDecider>(store, streams::provider(&provider.id))
        .await
        .unwrap();
    let events =
        ProviderDecider::decide(&loaded.state, ProviderCommand::Register(provider.clone()))
            .unwrap();
    let append = loaded.append(&events, &serde_json::Value::Null).unwrap();
    store.append(append.into_iter().collect()).await.unwrap();
}

/// Submits and adjudicates one claim of `provider` billed `billed` dollars; returns its id
/// and what the plan pays, in token base units.
pub async fn approve(
    store: &dyn EventStore,
    provider: &Provider,
    reference: &str,
    billed: &str,
) -> (ClaimId, u128) {
    let insurer = InsurerId::new(INSURER).unwrap();
    let insurer_ref = InsurerClaimRef::new(reference).unwrap();
    let claim = Claim {
        id: ClaimId::for_submission(&insurer, &insurer_ref),
        insurer,
        insurer_ref,
        member: member().id,
        provider: provider.id.clone(),
        received_on: date("2026-03-20"),
        lines: vec![ServiceLine {
            number: 1,
            procedure: ProcedureCode::new(PROCEDURE).unwrap(),
            diagnoses: vec![DiagnosisCode::new(DIAGNOSIS).unwrap()],
            date_of_service: date("2026-03-10"),
            units: 1,
            billed: usd(billed),
            modifiers: Default::default(),
            authorization: None,
            primary_paid: None,
        }],
        corrects: None,
    };
    let stream = streams::claim(claim.id);
    let loaded = aggregate::load::<ClaimDecider>(store, stream.clone())
        .await
        .unwrap();
    let mut events = ClaimDecider::decide(
        &loaded.state,
        ClaimCommand::Submit {
            claim: claim.clone(),
            context: Box::new(SubmissionContext {
                member: Some(member()),
                provider: Some(provider.clone()),
                plan: Some(plan()),
                original: None,
            }),
        },
    )
    .unwrap();
    let submitted = events
        .iter()
        .fold(loaded.state.clone(), ClaimDecider::evolve);
    events.extend(
        ClaimDecider::decide(
            &submitted,
            ClaimCommand::Adjudicate(Box::new(AdjudicationContext {
                decided_on: date("2026-03-25"),
                plan: plan(),
                plan_revision: 1,
                rule_set: None,
                rules: PlanRules::default(),
                terms: Arc::new(PlanTerms::of(&plan(), &PlanRules::default())),
                member: member(),
                provider: Some(provider.clone()),
                accumulated: Accumulated {
                    deductible: usd("250.00"),
                    out_of_pocket: usd("250.00"),
                },
                family: None,
                benefits_used: BenefitsUsed::none(Currency::USD),
                history: Default::default(),
                authorizations: vec![],
                coding: BTreeMap::new(),
                coordination: Default::default(),
            })),
        )
        .unwrap(),
    );
    let adjudicated = events
        .iter()
        .fold(loaded.state.clone(), ClaimDecider::evolve);
    let paid = adjudicated.adjudication.as_ref().unwrap().payer_paid;
    assert!(
        paid.is_positive(),
        "claim {reference} is approved: {adjudicated:?}"
    );
    let append = loaded.append(&events, &serde_json::Value::Null).unwrap();
    store.append(append.into_iter().collect()).await.unwrap();
    let token = PayoutToken {
        currency: Currency::USD,
        decimals: 6,
    };
    (claim.id, token.units(paid).unwrap().base_units())
}
