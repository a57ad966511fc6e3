//! The read models' rows as both databases return them, and their conversion to views.
//!
//! Every column crosses the driver as text or a 64-bit integer (PostgreSQL selects cast
//! `NUMERIC` and dates to text), so one set of row types and one set of conversions serve
//! SQLite and PostgreSQL alike, and an amount is parsed from its exact decimal digits.

use super::ReadModelError;
use super::projection::LineAdjustment;
use super::views::{AccumulatorView, ClaimView, Remittance, RemittedClaimView};
use chrono::{DateTime, NaiveDate, Utc};
use claims_domain::claim::ClaimStatus;
use claims_domain::provider_ledger::Withholding;
use claims_domain::reason::{Adjustment, GroupCode, ReasonCode};
use claims_domain::{Currency, Money};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// How a status is stored.
pub(super) fn status_code(status: ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::Submitted => "submitted",
        ClaimStatus::Approved => "approved",
        ClaimStatus::Denied => "denied",
        ClaimStatus::Pended => "pended",
        ClaimStatus::PayoutScheduled => "payout-scheduled",
        ClaimStatus::Paid => "paid",
        ClaimStatus::Voided => "voided",
        ClaimStatus::Replaced => "replaced",
    }
}

fn status_of(code: &str) -> Option<ClaimStatus> {
    Some(match code {
        "submitted" => ClaimStatus::Submitted,
        "approved" => ClaimStatus::Approved,
        "denied" => ClaimStatus::Denied,
        "pended" => ClaimStatus::Pended,
        "payout-scheduled" => ClaimStatus::PayoutScheduled,
        "paid" => ClaimStatus::Paid,
        "voided" => ClaimStatus::Voided,
        "replaced" => ClaimStatus::Replaced,
        _ => return None,
    })
}

/// How a group code is stored: `CO`, `PR`, `OA` or `PI`.
pub(super) fn group_code(group: GroupCode) -> &'static str {
    match group {
        GroupCode::CO => "CO",
        GroupCode::PR => "PR",
        GroupCode::OA => "OA",
        GroupCode::PI => "PI",
    }
}

fn group_of(code: &str) -> Option<GroupCode> {
    Some(match code {
        "CO" => GroupCode::CO,
        "PR" => GroupCode::PR,
        "OA" => GroupCode::OA,
        "PI" => GroupCode::PI,
        _ => return None,
    })
}

/// A row of `claim_status`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimRow {
    pub claim_id: String,
    pub insurer: String,
    pub insurer_ref: String,
    pub member_id: String,
    pub provider_id: String,
    pub status: String,
    pub received_on: String,
    pub currency: String,
    pub billed: String,
    pub decided_on: Option<String>,
    pub payer_paid: Option<String>,
    pub member_responsibility: Option<String>,
    pub batch_id: Option<String>,
    pub transaction_hash: Option<String>,
}

impl ClaimRow {
    pub(super) fn into_view(self) -> Result<ClaimView, ReadModelError> {
        let row = format!("claim_status {}", self.claim_id);
        let corrupt = |reason: String| ReadModelError::Corrupt {
            row: row.clone(),
            reason,
        };
        let currency = parse::<Currency>("currency", &self.currency).map_err(&corrupt)?;
        let money = |what: &str, text: &str| money(what, text, currency);
        Ok(ClaimView {
            claim: parse("claim id", &self.claim_id).map_err(&corrupt)?,
            insurer: parse("insurer", &self.insurer).map_err(&corrupt)?,
            insurer_ref: self.insurer_ref,
            member: parse("member", &self.member_id).map_err(&corrupt)?,
            provider: parse("provider", &self.provider_id).map_err(&corrupt)?,
            status: status_of(&self.status)
                .ok_or_else(|| corrupt(format!("unknown status {:?}", self.status)))?,
            received_on: parse::<NaiveDate>("received on", &self.received_on).map_err(&corrupt)?,
            billed: money("billed", &self.billed).map_err(&corrupt)?,
            decided_on: optional(self.decided_on.as_deref(), |text| parse("decided on", text))
                .map_err(&corrupt)?,
            payer_paid: optional(self.payer_paid.as_deref(), |text| money("payer paid", text))
                .map_err(&corrupt)?,
            member_responsibility: optional(self.member_responsibility.as_deref(), |text| {
                money("member responsibility", text)
            })
            .map_err(&corrupt)?,
            batch: optional(self.batch_id.as_deref(), |text| parse("batch", text))
                .map_err(&corrupt)?,
            transaction: optional(self.transaction_hash.as_deref(), |text| {
                parse("transaction", text)
            })
            .map_err(&corrupt)?,
        })
    }
}

/// A row of `claim_adjustments`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AdjustmentRow {
    pub batch_id: String,
    pub claim_id: String,
    pub line: i64,
    pub sequence: i64,
    pub group_code: String,
    pub reason_code: i64,
    pub currency: String,
    pub amount: String,
}

impl AdjustmentRow {
    fn into_adjustment(self) -> Result<LineAdjustment, ReadModelError> {
        let corrupt = |reason: String| ReadModelError::Corrupt {
            row: format!(
                "claim_adjustments {} line {} #{}",
                self.claim_id, self.line, self.sequence
            ),
            reason,
        };
        let currency = parse::<Currency>("currency", &self.currency).map_err(corrupt)?;
        Ok(LineAdjustment {
            line: u32::try_from(self.line).map_err(|error| corrupt(error.to_string()))?,
            sequence: u32::try_from(self.sequence).map_err(|error| corrupt(error.to_string()))?,
            adjustment: Adjustment {
                group: group_of(&self.group_code)
                    .ok_or_else(|| corrupt(format!("unknown group code {:?}", self.group_code)))?,
                reason: u16::try_from(self.reason_code)
                    .map_err(|error| error.to_string())
                    .and_then(ReasonCode::try_from)
                    .map_err(corrupt)?,
                amount: money("amount", &self.amount, currency).map_err(corrupt)?,
            },
        })
    }
}

/// A row of `payout_batches`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct BatchRow {
    pub batch_id: String,
    pub created_at: String,
    pub transaction_hash: Option<String>,
    pub block: Option<i64>,
}

/// A row of `remittances`, joined with the claim's reference and billed amount.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RemittanceRow {
    pub batch_id: String,
    pub claim_id: String,
    pub provider_id: String,
    pub wallet: String,
    pub currency: String,
    pub amount: String,
    pub insurer_ref: String,
    pub billed_currency: String,
    pub billed: String,
}

/// A row of `remittance_owed`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct OwedRow {
    pub batch_id: String,
    pub wallet: String,
    pub currency: String,
    pub amount: String,
}

/// A row of `remittance_withholdings`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct WithholdingRow {
    pub batch_id: String,
    pub claim_id: String,
    pub recouped_claim_id: String,
    pub currency: String,
    pub amount: String,
}

/// Puts batches together, in the order of `batches`, from the rows of all of them read at
/// once: each row names its batch, so a page of batches costs four queries, not four each.
pub(super) fn remittances(
    batches: Vec<BatchRow>,
    claims: Vec<RemittanceRow>,
    adjustments: Vec<AdjustmentRow>,
    owed: Vec<OwedRow>,
    withholdings: Vec<WithholdingRow>,
) -> Result<Vec<Remittance>, ReadModelError> {
    fn by_batch<R>(rows: Vec<R>, batch: impl Fn(&R) -> &str) -> BTreeMap<String, Vec<R>> {
        let mut grouped: BTreeMap<String, Vec<R>> = BTreeMap::new();
        for row in rows {
            grouped.entry(batch(&row).to_owned()).or_default().push(row);
        }
        grouped
    }
    let mut claims = by_batch(claims, |row| &row.batch_id);
    let mut adjustments = by_batch(adjustments, |row| &row.batch_id);
    let mut owed = by_batch(owed, |row| &row.batch_id);
    let mut withholdings = by_batch(withholdings, |row| &row.batch_id);
    batches
        .into_iter()
        .map(|batch| {
            let id = batch.batch_id.clone();
            remittance(
                batch,
                claims.remove(&id).unwrap_or_default(),
                adjustments.remove(&id).unwrap_or_default(),
                owed.remove(&id).unwrap_or_default(),
                withholdings.remove(&id).unwrap_or_default(),
            )
        })
        .collect()
}

/// Puts a batch together from its row, its claims' rows and their adjustments' rows (all of
/// the batch's claims, in any order), what it left owed and what it withheld.
fn remittance(
    batch: BatchRow,
    claims: Vec<RemittanceRow>,
    adjustments: Vec<AdjustmentRow>,
    owed: Vec<OwedRow>,
    withholdings: Vec<WithholdingRow>,
) -> Result<Remittance, ReadModelError> {
    let corrupt = |reason: String| ReadModelError::Corrupt {
        row: format!("payout_batches {}", batch.batch_id),
        reason,
    };
    let mut withheld: BTreeMap<String, Vec<Withholding>> = BTreeMap::new();
    for row in withholdings {
        let currency = parse::<Currency>("currency", &row.currency).map_err(corrupt)?;
        withheld.entry(row.claim_id).or_default().push(Withholding {
            recouped_claim: parse("recouped claim", &row.recouped_claim_id).map_err(corrupt)?,
            amount: money("withheld", &row.amount, currency).map_err(corrupt)?,
        });
    }
    let mut by_claim: BTreeMap<String, Vec<LineAdjustment>> = BTreeMap::new();
    for row in adjustments {
        let claim = row.claim_id.clone();
        by_claim
            .entry(claim)
            .or_default()
            .push(row.into_adjustment()?);
    }
    for adjustments in by_claim.values_mut() {
        adjustments.sort_by_key(|adjustment| (adjustment.line, adjustment.sequence));
    }
    let mut remitted = Vec::with_capacity(claims.len());
    for row in claims {
        let corrupt = |reason: String| ReadModelError::Corrupt {
            row: format!("remittances {} {}", row.batch_id, row.claim_id),
            reason,
        };
        let currency = parse::<Currency>("currency", &row.currency).map_err(corrupt)?;
        let billed_currency =
            parse::<Currency>("billed currency", &row.billed_currency).map_err(corrupt)?;
        remitted.push(RemittedClaimView {
            provider: parse("provider", &row.provider_id).map_err(corrupt)?,
            wallet: parse("wallet", &row.wallet).map_err(corrupt)?,
            claim: parse("claim", &row.claim_id).map_err(corrupt)?,
            billed: money("billed", &row.billed, billed_currency).map_err(corrupt)?,
            paid: money("amount", &row.amount, currency).map_err(corrupt)?,
            adjustments: by_claim.remove(&row.claim_id).unwrap_or_default(),
            withheld: withheld.remove(&row.claim_id).unwrap_or_default(),
            insurer_ref: row.insurer_ref,
        });
    }
    remitted.sort_by(|a, b| (&a.provider, a.claim).cmp(&(&b.provider, b.claim)));
    let settlement = match (batch.transaction_hash.as_deref(), batch.block) {
        (Some(transaction), Some(block)) => Some((
            parse("transaction", transaction).map_err(corrupt)?,
            u64::try_from(block).map_err(|error| corrupt(error.to_string()))?,
        )),
        _ => None,
    };
    let owed = owed
        .into_iter()
        .map(|row| {
            let currency = parse::<Currency>("currency", &row.currency)?;
            Ok((
                parse("wallet", &row.wallet)?,
                money("owed", &row.amount, currency)?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(corrupt)?;
    Ok(Remittance {
        batch: parse("batch", &batch.batch_id).map_err(corrupt)?,
        owed,
        created_at: parse::<DateTime<Utc>>("created at", &batch.created_at).map_err(corrupt)?,
        settlement,
        claims: remitted,
    })
}

/// A row of `member_cost_sharing`: one claim's contribution to a member's year.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct CostSharingRow {
    pub member_id: String,
    pub benefit_year: i64,
    pub claim_id: String,
    pub currency: String,
    pub deductible: String,
    pub out_of_pocket: String,
}

/// Sums contributions into one view per member and year, ordered by member then year.
pub(super) fn accumulators(
    rows: Vec<CostSharingRow>,
) -> Result<Vec<AccumulatorView>, ReadModelError> {
    let mut years: BTreeMap<(String, i64), AccumulatorView> = BTreeMap::new();
    for row in rows {
        let corrupt = |reason: String| ReadModelError::Corrupt {
            row: format!(
                "member_cost_sharing {} {} {}",
                row.member_id, row.benefit_year, row.claim_id
            ),
            reason,
        };
        let currency = parse::<Currency>("currency", &row.currency).map_err(corrupt)?;
        let deductible = money("deductible", &row.deductible, currency).map_err(corrupt)?;
        let out_of_pocket =
            money("out of pocket", &row.out_of_pocket, currency).map_err(corrupt)?;
        let year = i32::try_from(row.benefit_year).map_err(|error| corrupt(error.to_string()))?;
        let key = (row.member_id.clone(), row.benefit_year);
        let view = match years.get_mut(&key) {
            Some(view) => view,
            None => years.entry(key).or_insert(AccumulatorView {
                member: parse("member", &row.member_id).map_err(corrupt)?,
                year,
                deductible_paid: Money::zero(currency),
                out_of_pocket_paid: Money::zero(currency),
                claims: 0,
            }),
        };
        view.deductible_paid = view
            .deductible_paid
            .checked_add(deductible)
            .map_err(|error| corrupt(error.to_string()))?;
        view.out_of_pocket_paid = view
            .out_of_pocket_paid
            .checked_add(out_of_pocket)
            .map_err(|error| corrupt(error.to_string()))?;
        view.claims += 1;
    }
    Ok(years.into_values().collect())
}

fn parse<T: FromStr<Err: Display>>(what: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|error| format!("{what} {text:?} does not parse: {error}"))
}

fn money(what: &str, text: &str, currency: Currency) -> Result<Money, String> {
    let amount = Decimal::from_str_exact(text)
        .map_err(|error| format!("{what} {text:?} is not an exact amount: {error}"))?;
    Ok(Money::new(amount, currency))
}

fn optional<T>(
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    text.map(parse).transpose()
}
