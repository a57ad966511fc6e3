//! Adjudication: what the plan pays for each line of a claim, what the member owes, what
//! the provider writes off, and the reason code for every cent not paid.
//!
//! Each rule is a small pure function (here and in [`crate::rules`]). They run per line, in
//! this order, the default order of `shared/domain/README.md`: edits first (the first edit
//! that fails denies the whole billed amount of the line), then pricing, cost sharing,
//! coordination of benefits and the plan's annual maximum.
//!
//! | # | rule | function | when it applies | adjustment |
//! |---|------|----------|-----------------|------------|
//! | 1 | member identity | [`member_identified`](crate::rules::eligibility::member_identified) | the member is not insured by the submitting insurer | CO-31 billed |
//! | 2 | provider registration | [`provider_registered`](crate::rules::eligibility::provider_registered) | the provider is not registered | CO-185 billed |
//! | 3 | coverage dates | [`coverage_active`] | date of service outside every coverage period | PR-27 billed |
//! | 4 | network | [`network_benefit`](crate::rules::eligibility::network_benefit) | provider outside the plan's network, out-of-network care not covered | PR-242 billed |
//! | 5 | timely filing | [`timely_filing`](crate::rules::filing::timely_filing) | received after the plan's filing limit | CO-29 billed |
//! | 6 | duplicate | [`duplicate`](crate::rules::duplicates::duplicate) | same service already allowed on another claim | OA-18 billed |
//! | 7 | exclusions | [`excluded`](crate::rules::exclusions::excluded) | excluded procedure / excluded diagnosis | CO-204 / CO-96 billed |
//! | 8 | prior authorisation | [`prior_authorization`](crate::rules::authorization::prior_authorization) | listed procedure without a covering authorisation: none / quoted number invalid | CO-197 / CO-15 billed |
//! | 9 | code-pair edit | [`bundled`](crate::rules::code_pairs::bundled) | column-two code with its column-one code the same day, no allowed modifier | CO-97 billed |
//! | 10 | other payer first | [`primary_adjudication_missing`](crate::rules::coordination::primary_adjudication_missing) | plan pays second, primary's adjudication missing | CO-22 billed |
//! | 11 | visit limit | [`visit_limit`](crate::rules::limits::visit_limit) | category's visits for the year used up | CO-119 billed |
//! | 12 | fee schedule | [`price`] | procedure not on the schedule / billed above it | CO-96 billed / CO-45 excess |
//! | 13 | copay | [`copay`] | the category has a copay | PR-3 |
//! | 14 | deductible | [`deductible`] | individual and family deductible remaining (the tier's: in or out of network) | PR-1 |
//! | 15 | coinsurance | [`coinsurance`] | the tier's rate on what remains, rounded half away from zero | PR-2 |
//! | 16 | out-of-pocket maximum | [`cap_at_out_of_pocket_max`] | individual or family maximum reached | lowers PR-2, then PR-1, then PR-3 |
//! | 17 | coordination of benefits | [`coordinate`](crate::rules::coordination::coordinate) | plan pays second | OA-23 primary's share; may lower PR; the deductible it would have applied still counts as met |
//! | 18 | annual maximum | [`cap_at_annual_maximum`](crate::rules::limits::cap_at_annual_maximum) | plan's payments for the year reach the maximum | PR-119 excess |
//! | 19 | payment | | | the plan pays the rest of the allowed amount |
//!
//! Every line keeps the identity `billed = payer paid + member responsibility (PR) +
//! contractual adjustment (CO) + other adjustment (OA)`. Lines are adjudicated in
//! line-number order, each seeing the deductible, out-of-pocket, visits and plan payments
//! already used by the lines before it. A denied line adds nothing to any of them. As
//! secondary payer the plan credits to the deductible what it would have applied paying
//! first, even where the primary's payment settled it (the NAIC coordination model's
//! deductible credit); the out-of-pocket counts only what the member still owes.
//!
//! A claim billed above the plan's review threshold is pended for a reviewer before any
//! rule runs.
//!
//! Everything a rule needs beyond the claim arrives in the [`AdjudicationContext`]: the
//! plan and its rules, the member, the provider, the year's accumulators (the member's and
//! the family's), the benefits already used, the member's earlier services, the prior
//! authorisations on file, the lines' coding, and the coordination of benefits.

use crate::accumulator::{Accumulated, BenefitYear, BenefitsUsed};
use crate::claim::{Claim, ServiceLine};
use crate::coding::LineCoding;
use crate::ids::{MemberId, PlanId, ProviderId, ServiceCategory};
use crate::member::Member;
use crate::money::{Currency, Money, MoneyError, Rate};
use crate::plan::terms::{PlanTerms, ProcedureTerms};
use crate::plan::{BenefitPlan, FeeScheduleEntry, FilingLimit, PlanRules};
use crate::provider::Provider;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use crate::rule_set::RuleSetVersion;
use crate::rules::authorization::{Authorization, prior_authorization};
use crate::rules::code_pairs::bundled;
use crate::rules::coordination::{Coordination, coordinate, primary_adjudication_missing};
use crate::rules::duplicates::{EarlierServices, PriorService, duplicate};
use crate::rules::eligibility::{
    NetworkBenefit, member_identified, network_benefit, out_of_network, provider_registered,
};
use crate::rules::exclusions::excluded;
use crate::rules::filing::timely_filing;
use crate::rules::limits::{cap_at_annual_maximum, visit_limit};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

mod in_minor_units;

/// Everything a decision depends on besides the claim. Time and reference data are inputs,
/// so the same context always gives the same decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjudicationContext {
    /// The day the decision is made.
    pub decided_on: NaiveDate,
    /// The member's plan as in force.
    pub plan: BenefitPlan,
    /// The plan's revision (recorded with the decision, so a replay can tell).
    pub plan_revision: u32,
    /// The plan's rules beyond cost sharing, as published with that revision.
    pub rules: PlanRules,
    /// The revision's terms by procedure, as [`PlanTerms::of`] gathers them from `plan` and
    /// `rules` (and from nothing else: debug builds check it on every claim). Built once per
    /// plan revision and shared by every claim decided under it, so that a line asks the
    /// plan about its procedure once instead of once per table.
    pub terms: Arc<PlanTerms>,
    /// The rule-set version the plan and its rules came from (recorded with the decision,
    /// so a replay takes the same parameters); `None` for a plan published on its own.
    pub rule_set: Option<RuleSetVersion>,
    /// The member.
    pub member: Member,
    /// The claim's provider as registered; `None` if it is not registered.
    pub provider: Option<Provider>,
    /// What the member has already paid in the claim's benefit year.
    pub accumulated: Accumulated,
    /// What the member's family (every member, this one included) has already paid in the
    /// claim's benefit year; `None` when the member is not enrolled as part of a family.
    pub family: Option<Accumulated>,
    /// What the plan has already provided the member in the claim's benefit year (visits
    /// by category, plan payments).
    pub benefits_used: BenefitsUsed,
    /// The lines of the member's earlier claims that the plan allowed, in order of date of
    /// service.
    pub history: EarlierServices,
    /// The member's prior authorisations on file.
    pub authorizations: Vec<Authorization>,
    /// Modifiers and authorisation numbers by line number, as submitted; a line not
    /// listed has neither.
    pub coding: BTreeMap<u32, LineCoding>,
    /// Whether this plan pays first or second, and the primary payer's payments.
    pub coordination: Coordination,
}

impl AdjudicationContext {
    /// The context with its plan's terms gathered afresh from `plan` and `rules`, for a
    /// context whose plan or rules were changed after it was built.
    pub fn with_terms_of_its_plan(mut self) -> Self {
        self.terms = Arc::new(PlanTerms::of(&self.plan, &self.rules));
        self
    }
}

/// The outcome of adjudicating a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision")]
pub enum Decision {
    /// The plan pays more than zero.
    Approved,
    /// Nothing is payable; the line adjustments say why.
    Denied,
    /// A reviewer must decide.
    Pended {
        /// Why the claim was not decided automatically.
        reason: String,
    },
}

/// A claim's adjudication: the decision and every line's amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjudication {
    /// Approved, denied or pended.
    pub decision: Decision,
    /// The day it was decided.
    pub decided_on: NaiveDate,
    /// The plan applied.
    pub plan: PlanId,
    /// The plan revision applied.
    pub plan_revision: u32,
    /// The rule-set version applied; `None` for a plan published on its own, and for
    /// decisions stored before rule sets (schema version 1 of `ClaimAdjudicated`).
    pub rule_set: Option<RuleSetVersion>,
    /// The benefit year whose accumulators the claim uses.
    pub benefit_year: BenefitYear,
    /// Every line's result, in line order (empty when pended).
    pub lines: Vec<AdjudicatedLine>,
    /// What the plan pays in all.
    pub payer_paid: Money,
    /// What the member owes in all.
    pub member_responsibility: Money,
    /// What the provider writes off in all.
    pub contractual_adjustment: Money,
    /// What this claim adds to the member's accumulators.
    pub cost_sharing: Accumulated,
}

impl Adjudication {
    /// What neither the plan, the member nor the provider's write-off accounts for, in all:
    /// every OA and PI adjustment (a duplicate, another payer's share).
    pub fn other_adjustment(&self) -> Result<Money, MoneyError> {
        Money::sum(
            self.payer_paid.currency(),
            self.lines
                .iter()
                .map(AdjudicatedLine::other_adjustment)
                .collect::<Result<Vec<_>, _>>()?
                .iter(),
        )
    }
}

/// One line's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjudicatedLine {
    /// The line number on the claim.
    pub line: u32,
    /// What the provider charged.
    pub billed: Money,
    /// What the plan recognises (zero for a line that is not covered).
    pub allowed: Money,
    /// What the plan pays.
    pub payer_paid: Money,
    /// What the member owes (every PR adjustment).
    pub member_responsibility: Money,
    /// What the provider writes off (every CO adjustment).
    pub contractual_adjustment: Money,
    /// Why each part of the billed amount was not paid.
    pub adjustments: Vec<Adjustment>,
}

impl AdjudicatedLine {
    /// Every OA and PI adjustment on the line: `billed = payer paid + member
    /// responsibility + contractual adjustment + other adjustment`.
    pub fn other_adjustment(&self) -> Result<Money, MoneyError> {
        Money::sum(
            self.billed.currency(),
            self.adjustments
                .iter()
                .filter(|adjustment| matches!(adjustment.group, GroupCode::OA | GroupCode::PI))
                .map(|adjustment| &adjustment.amount),
        )
    }
}

/// Why a claim could not be adjudicated at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjudicationError {
    /// A line's currency is not the plan's.
    #[error("line {line} is billed in {line_currency}, but plan {plan} pays in {plan_currency}")]
    CurrencyNotOfPlan {
        /// The line.
        line: u32,
        /// Its currency.
        line_currency: Currency,
        /// The plan.
        plan: PlanId,
        /// The plan's currency.
        plan_currency: Currency,
    },
    /// The member given is not the claim's: the caller loaded the wrong member.
    #[error("the claim is for member {claim}, but member {given} was given to adjudicate it")]
    MemberNotOfClaim {
        /// The claim's member.
        claim: MemberId,
        /// The member given.
        given: MemberId,
    },
    /// The provider given is not the claim's: the caller loaded the wrong provider.
    #[error("the claim is from provider {claim}, but provider {given} was given to adjudicate it")]
    ProviderNotOfClaim {
        /// The claim's provider.
        claim: ProviderId,
        /// The provider given.
        given: ProviderId,
    },
    /// Arithmetic out of range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Adjudicates a claim against its context. Pure: the same inputs give the same result.
pub fn adjudicate(
    claim: &Claim,
    context: &AdjudicationContext,
) -> Result<Adjudication, AdjudicationError> {
    check_parties(claim, context)?;
    debug_assert!(
        *context.terms == PlanTerms::of(&context.plan, &context.rules),
        "the context's terms were not built from its plan and rules"
    );
    let plan = &context.plan;
    let currency = plan.currency;
    if let Some(line) = claim
        .lines
        .iter()
        .find(|line| line.billed.currency() != currency)
    {
        return Err(AdjudicationError::CurrencyNotOfPlan {
            line: line.number,
            line_currency: line.billed.currency(),
            plan: plan.id.clone(),
            plan_currency: currency,
        });
    }
    let mut adjudication = Adjudication {
        decision: Decision::Denied,
        decided_on: context.decided_on,
        plan: plan.id.clone(),
        plan_revision: context.plan_revision,
        rule_set: context.rule_set.clone(),
        benefit_year: claim.benefit_year(),
        lines: Vec::with_capacity(claim.lines.len()),
        payer_paid: Money::zero(currency),
        member_responsibility: Money::zero(currency),
        contractual_adjustment: Money::zero(currency),
        cost_sharing: Accumulated::zero(currency),
    };

    let billed = claim.billed_total()?;
    if let Some(threshold) = plan
        .review_threshold
        .filter(|threshold| billed.amount() > threshold.amount())
    {
        adjudication.decision = Decision::Pended {
            reason: format!("billed {billed} is above the plan's review threshold of {threshold}"),
        };
        return Ok(adjudication);
    }

    let mut so_far = ClaimSoFar {
        cost_sharing: Accumulated::zero(currency),
        visits: [None; VISITS_IN_PLACE],
        more_visits: Vec::new(),
        plan_paid: Money::zero(currency),
    };
    // Claims nearly always list their lines in order: a sorted copy only when they do not.
    let in_order = claim.lines.is_sorted_by_key(|line| line.number);
    let mut sorted: Vec<&ServiceLine> = Vec::new();
    if !in_order {
        sorted.extend(&claim.lines);
        sorted.sort_by_key(|line| line.number);
    }
    let lines = claim.lines.iter().filter(|_| in_order).chain(sorted);
    let network = network_benefit(plan, &context.rules, &claim.provider);
    let same = SameForEveryLine {
        network,
        filing: Cell::new(None),
        in_minor_units: Tier::of(network)
            .and_then(|tier| in_minor_units::BeforeTheClaim::of(context, tier)),
    };
    for line in lines {
        let result = adjudicate_line(claim, line, context, &same, &so_far)?;
        so_far.add(&result)?;
        adjudication.payer_paid = adjudication
            .payer_paid
            .checked_add(result.line.payer_paid)?;
        adjudication.member_responsibility = adjudication
            .member_responsibility
            .checked_add(result.line.member_responsibility)?;
        adjudication.contractual_adjustment = adjudication
            .contractual_adjustment
            .checked_add(result.line.contractual_adjustment)?;
        adjudication.lines.push(result.line);
    }
    adjudication.cost_sharing = so_far.cost_sharing;
    if adjudication.payer_paid.is_positive() {
        adjudication.decision = Decision::Approved;
    }
    Ok(adjudication)
}

/// What a claim adds to the member's benefits used: a visit for every line the plan
/// allowed, by the category of its procedure, and what the plan pays.
pub fn benefits_used_by(
    claim: &Claim,
    plan: &BenefitPlan,
    adjudication: &Adjudication,
) -> BenefitsUsed {
    let mut used = BenefitsUsed::none(plan.currency);
    used.plan_paid = adjudication.payer_paid;
    for result in adjudication
        .lines
        .iter()
        .filter(|result| result.allowed.is_positive())
    {
        let category = claim
            .lines
            .iter()
            .find(|line| line.number == result.line)
            .and_then(|line| plan.fee_schedule.get(&line.procedure))
            .map(|entry| entry.category.clone());
        if let Some(category) = category {
            *used.visits.entry(category).or_insert(0) += 1;
        }
    }
    used
}

/// The lines of a claim the plan allowed, as duplicate detection will compare later
/// claims with them.
pub fn services_allowed(claim: &Claim, adjudication: &Adjudication) -> Vec<PriorService> {
    adjudication
        .lines
        .iter()
        .filter(|result| result.allowed.is_positive())
        .filter_map(|result| claim.lines.iter().find(|line| line.number == result.line))
        .map(|line| PriorService {
            claim: claim.id,
            provider: claim.provider.clone(),
            date_of_service: line.date_of_service,
            procedure: line.procedure.clone(),
            modifiers: line.modifiers.clone(),
            units: line.units,
            billed: line.billed,
        })
        .collect()
}

/// The member and provider given must be the claim's: anything else is a loading error in
/// the caller, not something to decide on.
fn check_parties(claim: &Claim, context: &AdjudicationContext) -> Result<(), AdjudicationError> {
    if context.member.id != claim.member {
        return Err(AdjudicationError::MemberNotOfClaim {
            claim: claim.member.clone(),
            given: context.member.id.clone(),
        });
    }
    match &context.provider {
        Some(provider) if provider.id != claim.provider => {
            Err(AdjudicationError::ProviderNotOfClaim {
                claim: claim.provider.clone(),
                given: provider.id.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// What is the same for every line of a claim, worked out once per claim.
struct SameForEveryLine {
    /// The benefit tier of the claim's provider.
    network: NetworkBenefit,
    /// The last date of service whose filing deadline was worked out, and that deadline:
    /// a claim's lines mostly share a date, and the calendar-month arithmetic is not free.
    filing: Cell<Option<(NaiveDate, Option<NaiveDate>)>>,
    /// The limits and rate every paid line starts from, in minor units (`None` when the
    /// lines are decided with `Money`, or none can be paid).
    in_minor_units: Option<in_minor_units::BeforeTheClaim>,
}

impl SameForEveryLine {
    /// The last day a claim for care given on `date_of_service` may be received, `None`
    /// without a limit ([`FilingLimit::last_day`]).
    fn last_day_to_file(
        &self,
        limit: Option<FilingLimit>,
        date_of_service: NaiveDate,
    ) -> Option<NaiveDate> {
        let limit = limit?;
        match self.filing.get() {
            Some((date, last_day)) if date == date_of_service => last_day,
            _ => {
                let last_day = limit.last_day(date_of_service);
                self.filing.set(Some((date_of_service, last_day)));
                last_day
            }
        }
    }
}

/// What the lines decided so far on this claim have used.
#[derive(Debug, Clone)]
struct ClaimSoFar<'plan> {
    /// Deductible and out-of-pocket applied.
    cost_sharing: Accumulated,
    /// The category of every visit (allowed line), the plan's own names borrowed: a claim
    /// has a few lines, so a list counted by scanning beats a map's allocation and search,
    /// and the first few are kept in place, without an allocation.
    visits: [Option<&'plan ServiceCategory>; VISITS_IN_PLACE],
    /// Those beyond the first few.
    more_visits: Vec<&'plan ServiceCategory>,
    /// What the plan pays.
    plan_paid: Money,
}

/// Visits a claim keeps in place; most claims have no more lines.
const VISITS_IN_PLACE: usize = 8;

impl<'plan> ClaimSoFar<'plan> {
    fn visits_in(&self, category: &ServiceCategory) -> u32 {
        // The same entry of the plan's terms is the same category, without comparing text.
        let same = |visit: &ServiceCategory| std::ptr::eq(visit, category) || visit == category;
        let mut visits = 0_u32;
        for visit in self.visits.iter().map_while(|visit| *visit) {
            visits += u32::from(same(visit));
        }
        for visit in &self.more_visits {
            visits = visits.saturating_add(u32::from(same(visit)));
        }
        visits
    }

    fn add(&mut self, result: &LineResult<'plan>) -> Result<(), MoneyError> {
        self.cost_sharing.deductible = self
            .cost_sharing
            .deductible
            .checked_add(result.deductible_credit)?;
        self.cost_sharing.out_of_pocket = self
            .cost_sharing
            .out_of_pocket
            .checked_add(result.member_pays)?;
        self.plan_paid = self.plan_paid.checked_add(result.line.payer_paid)?;
        if let Some(category) = result.visit {
            match self.visits.iter_mut().find(|visit| visit.is_none()) {
                Some(free) => *free = Some(category),
                None => self.more_visits.push(category),
            }
        }
        Ok(())
    }
}

/// What is left of a limit after what was paid before the claim and on its earlier lines.
fn left_of(limit: Money, before: Money, this_claim: Money) -> Result<Money, MoneyError> {
    Ok(limit
        .checked_sub(before)?
        .checked_sub(this_claim)?
        .at_least_zero())
}

/// The lesser of the member's own remainder and, if any, the family's.
fn binding(individual: Money, family: Option<Money>) -> Result<Money, MoneyError> {
    match family {
        Some(family) => individual.min(family),
        None => Ok(individual),
    }
}

/// What remains of the deductible for a line, individual and family (embedded).
fn deductible_remaining(
    context: &AdjudicationContext,
    tier_deductible: Money,
    so_far: &ClaimSoFar<'_>,
) -> Result<Money, MoneyError> {
    let this_claim = so_far.cost_sharing.deductible;
    let individual = left_of(tier_deductible, context.accumulated.deductible, this_claim)?;
    let family = match (context.rules.family_deductible, &context.family) {
        (Some(limit), Some(family)) => Some(left_of(limit, family.deductible, this_claim)?),
        _ => None,
    };
    binding(individual, family)
}

/// What remains of the out-of-pocket maximum for a line, individual and family (embedded).
fn out_of_pocket_remaining(
    context: &AdjudicationContext,
    so_far: &ClaimSoFar<'_>,
) -> Result<Money, MoneyError> {
    let this_claim = so_far.cost_sharing.out_of_pocket;
    let individual = left_of(
        context.plan.out_of_pocket_max,
        context.accumulated.out_of_pocket,
        this_claim,
    )?;
    let family = match (context.rules.family_out_of_pocket_max, &context.family) {
        (Some(limit), Some(family)) => Some(left_of(limit, family.out_of_pocket, this_claim)?),
        _ => None,
    };
    binding(individual, family)
}

/// The member's cost sharing on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostShares {
    /// PR-3.
    pub copay: Money,
    /// PR-1.
    pub deductible: Money,
    /// PR-2.
    pub coinsurance: Money,
}

impl CostShares {
    /// What the member pays on the line.
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.copay
            .checked_add(self.deductible)?
            .checked_add(self.coinsurance)
    }
}

struct LineResult<'plan> {
    line: AdjudicatedLine,
    /// The member's cost sharing in all (counts toward the out-of-pocket maximum).
    member_pays: Money,
    /// What counts toward the deductible: the deductible the line would have applied had
    /// this plan paid first, even where the primary payer's payment settled it (the NAIC
    /// model's deductible credit), so a secondary claim never applies the deductible twice.
    deductible_credit: Money,
    /// The category whose visit limit the line used, if allowed.
    visit: Option<&'plan ServiceCategory>,
}

/// The deductible and coinsurance a line is paid at: in network or out of network.
#[derive(Debug, Clone, Copy)]
struct Tier {
    deductible: Money,
    coinsurance: Rate,
}

impl Tier {
    /// The tier of a network benefit; `None` when it covers nothing.
    fn of(network: NetworkBenefit) -> Option<Self> {
        match network {
            NetworkBenefit::NotCovered => None,
            NetworkBenefit::InNetwork {
                deductible,
                coinsurance,
            }
            | NetworkBenefit::OutOfNetwork {
                deductible,
                coinsurance,
            } => Some(Tier {
                deductible,
                coinsurance,
            }),
        }
    }
}

/// The first edit a line fails, in the documented order, or the tier it is paid at when it
/// passes them all.
fn edits(
    claim: &Claim,
    line: &ServiceLine,
    coding: &LineCoding,
    procedure: &ProcedureTerms,
    context: &AdjudicationContext,
    same: &SameForEveryLine,
    so_far: &ClaimSoFar<'_>,
) -> Result<Tier, Adjustment> {
    let rules = &context.rules;
    let fail = |adjustment: Option<Adjustment>| adjustment.map_or(Ok(()), Err);
    fail(member_identified(claim, &context.member, line))?;
    fail(provider_registered(context.provider.as_ref(), line))?;
    fail(coverage_active(&context.member, line))?;
    let Some(tier) = Tier::of(same.network) else {
        return Err(out_of_network(line));
    };
    fail(timely_filing(
        same.last_day_to_file(rules.filing_limit, line.date_of_service),
        claim.received_on,
        line,
    ))?;
    fail(duplicate(claim, line, &coding.modifiers, &context.history))?;
    fail(excluded(&context.terms, procedure, line))?;
    fail(prior_authorization(
        procedure,
        &claim.provider,
        line,
        coding.authorization.as_ref(),
        &context.authorizations,
    ))?;
    fail(bundled(procedure, line, &coding.modifiers, &claim.lines))?;
    fail(primary_adjudication_missing(&context.coordination, line))?;
    // Visits are counted only for a category that has a limit.
    if let Some(entry) = &procedure.scheduled
        && let Some(limit) = procedure.visit_limit
    {
        let used =
            context.benefits_used.visits_in(&entry.category) + so_far.visits_in(&entry.category);
        fail(visit_limit(Some(limit), used, line))?;
    }
    Ok(tier)
}

/// The coding of a line submitted without modifiers or an authorisation number.
static UNCODED: LineCoding = LineCoding {
    modifiers: std::collections::BTreeSet::new(),
    authorization: None,
};

fn adjudicate_line<'plan>(
    claim: &Claim,
    line: &ServiceLine,
    context: &'plan AdjudicationContext,
    same: &SameForEveryLine,
    so_far: &ClaimSoFar<'_>,
) -> Result<LineResult<'plan>, AdjudicationError> {
    let plan = &context.plan;
    let zero = Money::zero(plan.currency);
    let denied = |adjustment: Adjustment| LineResult {
        line: line_result(line, zero, vec![adjustment]),
        member_pays: zero,
        deductible_credit: zero,
        visit: None,
    };
    // Borrowed, not copied.
    let coding = context.coding.get(&line.number).unwrap_or(&UNCODED);
    // Looked up once for every rule that asks about the procedure.
    let procedure = context.terms.procedure(&line.procedure);
    let scheduled = procedure.scheduled.as_ref();
    let copay_of_category = procedure.copay.unwrap_or(zero);

    let tier = match edits(claim, line, coding, procedure, context, same, so_far) {
        Ok(tier) => tier,
        Err(adjustment) => return Ok(denied(adjustment)),
    };
    // Exact integer arithmetic where it applies (see `in_minor_units`); `Money` otherwise.
    if let Some(result) = scheduled
        .zip(same.in_minor_units.as_ref())
        .and_then(|(entry, before)| {
            in_minor_units::paid_line(line, entry, copay_of_category, before, so_far)
        })
    {
        return Ok(result);
    }
    let priced = match price(scheduled, line)? {
        Pricing::NotCovered(adjustment) => return Ok(denied(adjustment)),
        Pricing::Allowed(priced) => priced,
    };

    let copay = copay(copay_of_category, priced.allowed)?;
    let after_copay = priced.allowed.checked_sub(copay)?;
    let deductible = deductible(
        after_copay,
        deductible_remaining(context, tier.deductible, so_far)?,
    )?;
    let after_deductible = after_copay.checked_sub(deductible)?;
    let coinsurance = coinsurance(after_deductible, tier.coinsurance)?;
    let mut shares = cap_at_out_of_pocket_max(
        CostShares {
            copay,
            deductible,
            coinsurance,
        },
        out_of_pocket_remaining(context, so_far)?,
    )?;

    let deductible_credit = shares.deductible;
    let mut prior_payer = zero;
    if let Coordination::Secondary { primary_paid } = &context.coordination {
        let paid = primary_paid.get(&line.number).copied().unwrap_or(zero);
        let coordinated = coordinate(context.rules.coordination, priced.allowed, shares, paid)?;
        shares = coordinated.shares;
        prior_payer = coordinated.prior_payer;
    }

    // Summed once: the plan pays the rest, and the out-of-pocket counts it.
    let member_pays = shares.total()?;
    let plan_pays = priced
        .allowed
        .checked_sub(member_pays)?
        .checked_sub(prior_payer)?;
    let annual_remaining = context
        .rules
        .annual_maximum
        .map(|maximum| left_of(maximum, context.benefits_used.plan_paid, so_far.plan_paid))
        .transpose()?;
    let within = cap_at_annual_maximum(plan_pays, annual_remaining)?;

    // Room for every adjustment a paid line can carry: one allocation.
    let mut adjustments = Vec::with_capacity(6);
    if let Some(written_off) = priced.written_off {
        adjustments.push(written_off);
    }
    for (group, reason, amount) in [
        (GroupCode::PR, ReasonCode::Copay, shares.copay),
        (GroupCode::PR, ReasonCode::Deductible, shares.deductible),
        (GroupCode::PR, ReasonCode::Coinsurance, shares.coinsurance),
        (GroupCode::OA, ReasonCode::PriorPayerImpact, prior_payer),
        (
            GroupCode::PR,
            ReasonCode::BenefitMaximumReached,
            within.beyond_maximum,
        ),
    ] {
        if amount.is_positive() {
            adjustments.push(Adjustment {
                group,
                reason,
                amount,
            });
        }
    }
    Ok(LineResult {
        line: line_result(line, priced.allowed, adjustments),
        member_pays,
        deductible_credit,
        visit: Some(priced.category),
    })
}

/// Builds a line's result from its adjustments: the member owes the PR ones, the provider
/// writes off the CO ones, and the plan pays what is left of the billed amount after every
/// adjustment (OA and PI included).
fn line_result(
    line: &ServiceLine,
    allowed: Money,
    adjustments: Vec<Adjustment>,
) -> AdjudicatedLine {
    let currency = line.billed.currency();
    // One pass over the adjustments, each added to its group's total in line order; a total
    // that cannot be summed counts as zero.
    let zero = Money::zero(currency);
    let (mut member, mut contractual, mut other) = (Ok(zero), Ok(zero), Ok(zero));
    for adjustment in &adjustments {
        let total: &mut Result<Money, MoneyError> = match adjustment.group {
            GroupCode::PR => &mut member,
            GroupCode::CO => &mut contractual,
            GroupCode::OA | GroupCode::PI => &mut other,
        };
        if let Some(sum) = total.as_ref().ok().copied() {
            *total = sum.checked_add(adjustment.amount);
        }
    }
    let member_responsibility = member.unwrap_or(zero);
    let contractual_adjustment = contractual.unwrap_or(zero);
    let other_adjustment = other.unwrap_or(zero);
    let payer_paid = line
        .billed
        .checked_sub(member_responsibility)
        .and_then(|rest| rest.checked_sub(contractual_adjustment))
        .and_then(|rest| rest.checked_sub(other_adjustment))
        .unwrap_or(Money::zero(currency));
    AdjudicatedLine {
        line: line.number,
        billed: line.billed,
        allowed,
        payer_paid,
        member_responsibility,
        contractual_adjustment,
        adjustments,
    }
}

/// **Coverage (CARC 27).** A line whose date of service falls outside every coverage
/// period of the member is not paid; the member owes it (PR-27).
pub fn coverage_active(member: &Member, line: &ServiceLine) -> Option<Adjustment> {
    (!member.is_covered_on(line.date_of_service)).then_some(Adjustment {
        group: GroupCode::PR,
        reason: ReasonCode::CoverageNotActive,
        amount: line.billed,
    })
}

/// The result of pricing a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pricing<'plan> {
    /// The procedure is not on the fee schedule: the line is not covered.
    NotCovered(Adjustment),
    /// The plan recognises an allowed amount.
    Allowed(Priced<'plan>),
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced<'plan> {
    /// The allowed amount: the lesser of billed and the fee schedule.
    pub allowed: Money,
    /// The service category (for copays), as the fee schedule names it.
    pub category: &'plan ServiceCategory,
    /// CO-45 for the part of billed above the fee schedule, if any.
    pub written_off: Option<Adjustment>,
}

/// **Fee schedule (CARC 45, 96).** The allowed amount is the lesser of what was billed and
/// the fee schedule's amount per unit times the units; the provider writes off the
/// difference (CO-45). A procedure the fee schedule does not list (`scheduled` is the
/// plan's entry for the line's procedure, if any) is not covered: the provider writes off
/// the whole line (CO-96).
pub fn price<'plan>(
    scheduled: Option<&'plan FeeScheduleEntry>,
    line: &ServiceLine,
) -> Result<Pricing<'plan>, MoneyError> {
    let Some(entry) = scheduled else {
        return Ok(Pricing::NotCovered(Adjustment {
            group: GroupCode::CO,
            reason: ReasonCode::NonCovered,
            amount: line.billed,
        }));
    };
    let scheduled = entry.allowed_per_unit.checked_mul_units(line.units)?;
    let allowed = line.billed.min(scheduled)?;
    let excess = line.billed.checked_sub(allowed)?;
    Ok(Pricing::Allowed(Priced {
        allowed,
        category: &entry.category,
        written_off: excess.is_positive().then_some(Adjustment {
            group: GroupCode::CO,
            reason: ReasonCode::ExceedsFeeSchedule,
            amount: excess,
        }),
    }))
}

/// **Copay (CARC 3).** The member pays the plan's fixed copay for the service category,
/// never more than the allowed amount (PR-3).
pub fn copay(plan_copay: Money, allowed: Money) -> Result<Money, MoneyError> {
    plan_copay.min(allowed)
}

/// **Deductible (CARC 1).** The member pays what remains after the copay, up to what
/// remains of the year's deductible (PR-1).
pub fn deductible(after_copay: Money, deductible_remaining: Money) -> Result<Money, MoneyError> {
    after_copay.min(deductible_remaining.at_least_zero())
}

/// **Coinsurance (CARC 2).** The member pays the plan's coinsurance rate of what remains
/// after copay and deductible, rounded to the cent, half away from zero (PR-2).
pub fn coinsurance(after_deductible: Money, rate: Rate) -> Result<Money, MoneyError> {
    after_deductible.share(rate.fraction())
}

/// **Out-of-pocket maximum.** The member's share on a line never takes the year past the
/// out-of-pocket maximum: the excess comes off coinsurance first, then deductible, then
/// copay, and the plan pays it instead.
pub fn cap_at_out_of_pocket_max(
    shares: CostShares,
    remaining: Money,
) -> Result<CostShares, MoneyError> {
    let mut excess = shares.total()?.checked_sub(remaining.at_least_zero())?;
    if !excess.is_positive() {
        return Ok(shares);
    }
    let mut capped = shares;
    for share in [
        &mut capped.coinsurance,
        &mut capped.deductible,
        &mut capped.copay,
    ] {
        let reduction = excess.min(*share)?;
        *share = share.checked_sub(reduction)?;
        excess = excess.checked_sub(reduction)?;
    }
    Ok(capped)
}
