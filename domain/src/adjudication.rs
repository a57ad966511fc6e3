//! Adjudication: what the plan pays for each line of a claim, what the member owes, what
//! the provider writes off, and the reason code for every cent not paid.
//!
//! Each rule is a small function below. They run per line, in this order (the default
//! order of `shared/domain/README.md`):
//!
//! 1. [`coverage_active`]: the member is covered on the date of service, else the whole
//!    line is the member's (PR-27).
//! 2. [`price`]: the procedure is on the plan's fee schedule, else the line is not covered
//!    (CO-96); the allowed amount is the lesser of billed and the fee schedule, and the
//!    difference is written off by the provider (CO-45).
//! 3. Cost sharing on the allowed amount: [`copay`] first (PR-3), then [`deductible`] on
//!    what remains (PR-1), then [`coinsurance`] on what remains after that (PR-2, rounded to
//!    the cent, half away from zero), then [`cap_at_out_of_pocket_max`], which lowers the
//!    member's share (coinsurance first, then deductible, then copay) so the year's total
//!    never passes the out-of-pocket maximum.
//! 4. The plan pays the rest of the allowed amount.
//!
//! Every line keeps the identity `billed = payer paid + member responsibility + contractual
//! adjustment`. Lines are adjudicated in line-number order, each seeing the deductible and
//! out-of-pocket already used by the lines before it.
//!
//! A claim billed above the plan's review threshold is pended for a reviewer before any
//! rule runs.

use crate::accumulator::{Accumulated, BenefitYear};
use crate::claim::{Claim, ServiceLine};
use crate::ids::PlanId;
use crate::member::Member;
use crate::money::{Currency, Money, MoneyError, Rate};
use crate::plan::BenefitPlan;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    /// The member.
    pub member: Member,
    /// What the member has already paid in the claim's benefit year.
    pub accumulated: Accumulated,
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
    /// Arithmetic out of range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Adjudicates a claim against its context. Pure: the same inputs give the same result.
pub fn adjudicate(
    claim: &Claim,
    context: &AdjudicationContext,
) -> Result<Adjudication, AdjudicationError> {
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

    let mut remaining = Remaining {
        deductible: plan
            .deductible
            .checked_sub(context.accumulated.deductible)?
            .at_least_zero(),
        out_of_pocket: plan
            .out_of_pocket_max
            .checked_sub(context.accumulated.out_of_pocket)?
            .at_least_zero(),
    };
    let mut lines: Vec<&ServiceLine> = claim.lines.iter().collect();
    lines.sort_by_key(|line| line.number);
    for line in lines {
        let result = adjudicate_line(line, &context.member, plan, &mut remaining)?;
        adjudication.payer_paid = adjudication
            .payer_paid
            .checked_add(result.line.payer_paid)?;
        adjudication.member_responsibility = adjudication
            .member_responsibility
            .checked_add(result.line.member_responsibility)?;
        adjudication.contractual_adjustment = adjudication
            .contractual_adjustment
            .checked_add(result.line.contractual_adjustment)?;
        adjudication.cost_sharing.deductible = adjudication
            .cost_sharing
            .deductible
            .checked_add(result.shares.deductible)?;
        adjudication.cost_sharing.out_of_pocket = adjudication
            .cost_sharing
            .out_of_pocket
            .checked_add(result.shares.total()?)?;
        adjudication.lines.push(result.line);
    }
    if adjudication.payer_paid.is_positive() {
        adjudication.decision = Decision::Approved;
    }
    Ok(adjudication)
}

/// What is left of the year's deductible and out-of-pocket maximum.
#[derive(Debug, Clone, Copy)]
struct Remaining {
    deductible: Money,
    out_of_pocket: Money,
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

struct LineResult {
    line: AdjudicatedLine,
    shares: CostShares,
}

fn adjudicate_line(
    line: &ServiceLine,
    member: &Member,
    plan: &BenefitPlan,
    remaining: &mut Remaining,
) -> Result<LineResult, AdjudicationError> {
    let currency = plan.currency;
    let zero = Money::zero(currency);
    let no_shares = CostShares {
        copay: zero,
        deductible: zero,
        coinsurance: zero,
    };
    let denied = |adjustment: Adjustment| LineResult {
        line: line_result(line, zero, vec![adjustment]),
        shares: no_shares,
    };

    if let Some(adjustment) = coverage_active(member, line) {
        return Ok(denied(adjustment));
    }
    let priced = match price(plan, line)? {
        Pricing::NotCovered(adjustment) => return Ok(denied(adjustment)),
        Pricing::Allowed(priced) => priced,
    };

    let copay = copay(plan.copay_for(&priced.category), priced.allowed)?;
    let after_copay = priced.allowed.checked_sub(copay)?;
    let deductible = deductible(after_copay, remaining.deductible)?;
    let after_deductible = after_copay.checked_sub(deductible)?;
    let coinsurance = coinsurance(after_deductible, plan.coinsurance)?;
    let shares = cap_at_out_of_pocket_max(
        CostShares {
            copay,
            deductible,
            coinsurance,
        },
        remaining.out_of_pocket,
    )?;

    remaining.deductible = remaining.deductible.checked_sub(shares.deductible)?;
    remaining.out_of_pocket = remaining.out_of_pocket.checked_sub(shares.total()?)?;

    let mut adjustments = Vec::new();
    if let Some(written_off) = priced.written_off {
        adjustments.push(written_off);
    }
    for (reason, amount) in [
        (ReasonCode::Copay, shares.copay),
        (ReasonCode::Deductible, shares.deductible),
        (ReasonCode::Coinsurance, shares.coinsurance),
    ] {
        if amount.is_positive() {
            adjustments.push(Adjustment {
                group: GroupCode::PR,
                reason,
                amount,
            });
        }
    }
    Ok(LineResult {
        line: line_result(line, priced.allowed, adjustments),
        shares,
    })
}

/// Builds a line's result from its adjustments: the member owes the PR ones, the provider
/// writes off the CO ones, and the plan pays what is left of the billed amount.
fn line_result(
    line: &ServiceLine,
    allowed: Money,
    adjustments: Vec<Adjustment>,
) -> AdjudicatedLine {
    let currency = line.billed.currency();
    let sum = |group: GroupCode| {
        adjustments
            .iter()
            .filter(|adjustment| adjustment.group == group)
            .try_fold(Money::zero(currency), |total, adjustment| {
                total.checked_add(adjustment.amount)
            })
            .unwrap_or(Money::zero(currency))
    };
    let member_responsibility = sum(GroupCode::PR);
    let contractual_adjustment = sum(GroupCode::CO);
    let payer_paid = line
        .billed
        .checked_sub(member_responsibility)
        .and_then(|rest| rest.checked_sub(contractual_adjustment))
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
pub enum Pricing {
    /// The procedure is not on the fee schedule: the line is not covered.
    NotCovered(Adjustment),
    /// The plan recognises an allowed amount.
    Allowed(Priced),
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// The allowed amount: the lesser of billed and the fee schedule.
    pub allowed: Money,
    /// The service category (for copays).
    pub category: crate::ids::ServiceCategory,
    /// CO-45 for the part of billed above the fee schedule, if any.
    pub written_off: Option<Adjustment>,
}

/// **Fee schedule (CARC 45, 96).** The allowed amount is the lesser of what was billed and
/// the fee schedule's amount per unit times the units; the provider writes off the
/// difference (CO-45). A procedure the fee schedule does not list is not covered: the
/// provider writes off the whole line (CO-96).
pub fn price(plan: &BenefitPlan, line: &ServiceLine) -> Result<Pricing, MoneyError> {
    let Some(entry) = plan.fee_schedule.get(&line.procedure) else {
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
        category: entry.category.clone(),
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
