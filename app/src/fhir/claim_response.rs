//! A decided claim becomes a FHIR R4 `ClaimResponse`.
//!
//! Per line (`item[n].adjudication`), in this order:
//!
//! | category (system `http://terminology.hl7.org/CodeSystem/adjudication`) | amount |
//! |---|---|
//! | `submitted` | what the provider billed |
//! | `eligible` | what the plan allows |
//! | `benefit` | what the plan pays |
//! | `deductible` | the member's deductible share (every PR-1) |
//! | `copay` | the member's copay (every PR-3) |
//! | `priorpayerpaid` (system [`PRIOR_PAYER_SYSTEM`], CARIN Blue Button's) | what the member's primary payer paid, when this plan paid second |
//!
//! then one entry per adjustment, its category the X12 group code (`CO`, `PR`, `OA`, `PI`,
//! system `https://x12.org/codes/claim-adjustment-group-codes`) and its `reason` the CARC
//! (system `https://x12.org/codes/claim-adjustment-reason-codes`), so every cent not paid
//! says why. `deductible` and `copay` are left out when zero; `priorpayerpaid` is there for
//! every line the claim said a primary payer decided (`0.00` when it paid nothing), beside
//! the line's OA-23 adjustment: what this plan did not pay because of it. The claim's totals
//! (`submitted`, `eligible`, `benefit`) follow in `total`.
//!
//! `request.identifier.value` is the insurer's claim reference; `id` and `identifier` carry
//! the engine's claim id. `outcome` is `complete` for an approved or denied claim and
//! `queued` for one pended for a reviewer.
//!
//! A claim a void or a replacement cancelled is answered with `status` `cancelled`, the
//! disposition naming the correcting claim, and its last decision's amounts (none if it
//! was cancelled before it was decided) for the record.
//!
//! These functions build the document; its callers write it: compact on the bus and in
//! the API (`serde_json::to_vec`, half the bytes of the indented form), indented in the
//! golden files that show it to people.

use super::model::{
    AdjudicationOut, ClaimResponseOut, CodeableConcept, Coding, Identifier, MoneyOut, Reference,
    ResponseItemOut, TotalOut,
};
use chrono::NaiveDate;
use claims_domain::ClaimId;
use claims_domain::adjudication::{AdjudicatedLine, Adjudication, Decision};
use claims_domain::claim::{Claim, CorrectionKind, Voiding};
use claims_domain::reason::{Adjustment, ReasonCode};
use claims_domain::{Currency, Money};
use rust_decimal::Decimal;

/// The FHIR adjudication category code system.
pub const ADJUDICATION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adjudication";
/// X12 claim adjustment group codes.
pub const GROUP_CODE_SYSTEM: &str = "https://x12.org/codes/claim-adjustment-group-codes";
/// X12 claim adjustment reason codes (CARC).
pub const CARC_SYSTEM: &str = "https://x12.org/codes/claim-adjustment-reason-codes";
/// The CARIN Blue Button adjudication codes, which add `priorpayerpaid` to the core ones.
pub const PRIOR_PAYER_SYSTEM: &str = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication";
/// The system of the engine's claim ids.
pub const CLAIM_ID_SYSTEM: &str = "urn:claims-engine:claim-id";

/// The `ClaimResponse` for a decided claim.
pub fn claim_response(
    claim_id: ClaimId,
    claim: &Claim,
    adjudication: &Adjudication,
) -> ClaimResponseOut {
    build(claim_id, claim, adjudication)
}

/// The `ClaimResponse` of a claim that `voiding` cancelled on `on`, with its last
/// decision if it had one.
pub fn cancelled_claim_response(
    claim_id: ClaimId,
    claim: &Claim,
    last: Option<&Adjudication>,
    voiding: &Voiding,
    on: NaiveDate,
) -> ClaimResponseOut {
    let mut response = match last {
        Some(adjudication) => build(claim_id, claim, adjudication),
        None => undecided(claim_id, claim),
    };
    let how = match voiding.kind {
        CorrectionKind::Void => "voided",
        CorrectionKind::Replacement => "replaced",
    };
    response.status = "cancelled";
    response.outcome = "complete";
    response.created = on.to_string();
    response.disposition = match last {
        Some(_) => format!(
            "{how} by claim {}; it was {}",
            voiding.by, response.disposition
        ),
        None => format!("{how} by claim {} before it was decided", voiding.by),
    };
    response
}

/// A response with no decision: the claim's billed total only.
fn undecided(claim_id: ClaimId, claim: &Claim) -> ClaimResponseOut {
    let mut response = header(claim_id, claim);
    response.total = claim
        .billed_total()
        .ok()
        .map(|billed| total_of("submitted", billed))
        .into_iter()
        .collect();
    response
}

/// The parts of a response that name the claim and its parties.
fn header(claim_id: ClaimId, claim: &Claim) -> ClaimResponseOut {
    ClaimResponseOut {
        resource_type: "ClaimResponse",
        id: claim_id.to_string(),
        identifier: vec![Identifier {
            system: Some(CLAIM_ID_SYSTEM.to_owned()),
            value: Some(claim_id.to_string()),
        }],
        status: "active",
        response_type: CodeableConcept::of(Coding::new(
            super::claim::CLAIM_TYPE_SYSTEM,
            "professional",
        )),
        response_use: "claim",
        patient: literal("Patient", claim.member.as_str()),
        created: claim.received_on.to_string(),
        insurer: Reference {
            identifier: Some(Identifier {
                system: None,
                value: Some(claim.insurer.to_string()),
            }),
            ..Reference::default()
        },
        requestor: literal("Organization", claim.provider.as_str()),
        request: Reference {
            identifier: Some(Identifier {
                system: None,
                value: Some(claim.insurer_ref.to_string()),
            }),
            ..Reference::default()
        },
        outcome: "complete",
        disposition: String::new(),
        item: Vec::new(),
        total: Vec::new(),
    }
}

fn build(claim_id: ClaimId, claim: &Claim, adjudication: &Adjudication) -> ClaimResponseOut {
    let (outcome, disposition) = match &adjudication.decision {
        Decision::Approved => ("complete", "approved".to_owned()),
        Decision::Denied => ("complete", "denied".to_owned()),
        Decision::Pended { reason } => ("queued", format!("pended for review: {reason}")),
    };
    let billed_total = claim
        .billed_total()
        .unwrap_or_else(|_| Money::zero(adjudication.payer_paid.currency()));
    let allowed_total = Money::sum(
        adjudication.payer_paid.currency(),
        adjudication.lines.iter().map(|line| &line.allowed),
    )
    .ok();
    let mut total = vec![total_of("submitted", billed_total)];
    if !adjudication.lines.is_empty() {
        total.extend(allowed_total.map(|allowed| total_of("eligible", allowed)));
        total.push(total_of("benefit", adjudication.payer_paid));
    }
    ClaimResponseOut {
        created: adjudication.decided_on.to_string(),
        outcome,
        disposition,
        item: adjudication
            .lines
            .iter()
            .map(|line| {
                let primary_paid = claim
                    .lines
                    .iter()
                    .find(|service| service.number == line.line)
                    .and_then(|service| service.primary_paid);
                item(line, primary_paid)
            })
            .collect(),
        total,
        ..header(claim_id, claim)
    }
}

fn literal(kind: &str, id: &str) -> Reference {
    Reference {
        reference: Some(format!("{kind}/{id}")),
        ..Reference::default()
    }
}

fn item(line: &AdjudicatedLine, primary_paid: Option<Money>) -> ResponseItemOut {
    let currency = line.billed.currency();
    let share = |reason: ReasonCode| {
        line.adjustments
            .iter()
            .filter(|adjustment| adjustment.reason == reason)
            .map(|adjustment| adjustment.amount.amount())
            .sum::<Decimal>()
    };
    let mut adjudication = vec![
        amount_of("submitted", line.billed),
        amount_of("eligible", line.allowed),
        amount_of("benefit", line.payer_paid),
    ];
    for (category, reason) in [
        ("deductible", ReasonCode::Deductible),
        ("copay", ReasonCode::Copay),
    ] {
        let amount = share(reason);
        if !amount.is_zero() {
            adjudication.push(amount_of(category, Money::new(amount, currency)));
        }
    }
    adjudication.extend(primary_paid.map(|paid| AdjudicationOut {
        category: CodeableConcept::of(Coding::new(PRIOR_PAYER_SYSTEM, "priorpayerpaid")),
        reason: None,
        amount: money(paid),
    }));
    adjudication.extend(line.adjustments.iter().map(adjustment));
    ResponseItemOut {
        item_sequence: line.line,
        adjudication,
    }
}

fn adjustment(adjustment: &Adjustment) -> AdjudicationOut {
    AdjudicationOut {
        category: CodeableConcept::of(Coding::new(
            GROUP_CODE_SYSTEM,
            format!("{:?}", adjustment.group),
        )),
        reason: Some(CodeableConcept::of(
            Coding::new(CARC_SYSTEM, adjustment.reason.code())
                .with_display(adjustment.reason.description()),
        )),
        amount: money(adjustment.amount),
    }
}

fn amount_of(category: &str, amount: Money) -> AdjudicationOut {
    AdjudicationOut {
        category: CodeableConcept::of(Coding::new(ADJUDICATION_SYSTEM, category)),
        reason: None,
        amount: money(amount),
    }
}

fn total_of(category: &str, amount: Money) -> TotalOut {
    TotalOut {
        category: CodeableConcept::of(Coding::new(ADJUDICATION_SYSTEM, category)),
        amount: money(amount),
    }
}

/// Written as the engine writes money everywhere: at least the currency's minor digits,
/// never rounded (`0.00`, `84.25`, `600.00`).
fn money(amount: Money) -> MoneyOut {
    let currency: Currency = amount.currency();
    let mut value = amount.amount().normalize();
    if value.scale() < currency.minor_digits() {
        value.rescale(currency.minor_digits());
    }
    MoneyOut::new(value, currency.code())
}
