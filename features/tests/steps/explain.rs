//! What the engine decided, in the analysts' words, for failure messages: every line's
//! amounts and adjustments, and what the claim found of the member's deductible and
//! out-of-pocket maximum.

use super::world::Before;
use claims_domain::Money;
use claims_domain::adjudication::{Adjudication, Decision};
use claims_domain::reason::{Adjustment, GroupCode, ReasonCode};

/// A sentence saying what the engine decided and why.
pub fn explain(adjudication: &Adjudication, before: Option<&Before>) -> String {
    let decision = match &adjudication.decision {
        Decision::Approved => "the claim was approved".to_owned(),
        Decision::Denied => "the claim was denied".to_owned(),
        Decision::Pended { reason } => return format!("the claim was pended: {reason}"),
    };
    let mut parts: Vec<String> = before
        .and_then(|before| cost_sharing(adjudication, before))
        .into_iter()
        .collect();
    parts.push(decision);
    for line in &adjudication.lines {
        let adjustments: Vec<String> = line.adjustments.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "line {}: billed {}, allowed {}, payer {}, member {}, adjustments [{}]",
            line.line,
            line.billed,
            line.allowed,
            line.payer_paid,
            line.member_responsibility,
            if adjustments.is_empty() {
                "none".to_owned()
            } else {
                adjustments.join(", ")
            }
        ));
    }
    parts.join("; ")
}

/// "deductible applied 0.00 USD of 250.00 USD remaining, copay 25.00 USD, coinsurance
/// 19.00 USD at 20%, out-of-pocket applied 44.00 USD of 2956.00 USD remaining".
fn cost_sharing(adjudication: &Adjudication, before: &Before) -> Option<String> {
    let plan = &before.plan;
    let met = before.member.accumulated(plan.currency);
    let remaining = |limit: Money, used: Money| {
        limit
            .checked_sub(used)
            .map(Money::at_least_zero)
            .unwrap_or(limit)
    };
    let total = |reason: ReasonCode| {
        Money::sum(
            plan.currency,
            adjudication
                .lines
                .iter()
                .flat_map(|line| line.adjustments.iter())
                .filter(|adjustment: &&Adjustment| {
                    adjustment.group == GroupCode::PR && adjustment.reason == reason
                })
                .map(|adjustment| &adjustment.amount),
        )
        .ok()
    };
    let deductible = total(ReasonCode::Deductible)?;
    let copay = total(ReasonCode::Copay)?;
    let coinsurance = total(ReasonCode::Coinsurance)?;
    let out_of_pocket = deductible
        .checked_add(copay)
        .ok()?
        .checked_add(coinsurance)
        .ok()?;
    Some(format!(
        "deductible applied {deductible} of {} remaining, copay {copay}, coinsurance {coinsurance} at {}, out-of-pocket applied {out_of_pocket} of {} remaining",
        remaining(plan.deductible, met.deductible),
        plan.coinsurance,
        remaining(plan.out_of_pocket_max, met.out_of_pocket),
    ))
}
