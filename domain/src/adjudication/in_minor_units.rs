//! The money of a paid line (pricing, cost sharing, the out-of-pocket and annual maximums)
//! worked out in whole minor units of the plan's currency (cents), as `i64`.
//!
//! Why: a line does about forty additions, subtractions and comparisons of money; through
//! `rust_decimal` and `Result` each costs some fifty instructions, as integers one or two.
//! Exact or nothing: every amount is converted only when it has no more decimal places than
//! the currency's minor unit and fits in an `i64`, every operation is checked, and the
//! coinsurance is rounded half away from zero exactly as [`Money::share`] does; when any of
//! that fails, or the plan pays second (coordination of benefits), [`paid_line`] returns
//! `None` and the caller decides the line with `Money` as before. The results go back out
//! as `Money` at the currency's scale, so the same values leave `adjudicate` either way.

use super::{AdjudicatedLine, AdjudicationContext, ClaimSoFar, LineResult, Tier};
use crate::accumulator::Accumulated;
use crate::claim::ServiceLine;
use crate::money::{Currency, Money};
use crate::plan::FeeScheduleEntry;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use crate::rules::coordination::Coordination;
use rust_decimal::Decimal;

/// An amount in minor units of the plan's currency.
type Minor = i64;

/// Powers of ten up to the largest minor unit (three digits).
const SCALE_UP: [i64; 4] = [1, 10, 100, 1_000];

/// Converts amounts of one currency to and from minor units.
#[derive(Clone, Copy)]
struct Units {
    currency: Currency,
    digits: u32,
}

impl Units {
    /// The amount in minor units, if exactly representable.
    #[inline(always)]
    fn of(self, money: Money) -> Option<Minor> {
        let amount = money.amount();
        if amount.scale() == self.digits {
            return i64::try_from(amount.mantissa()).ok();
        }
        let raise = self.digits.checked_sub(amount.scale())?;
        let factor = *SCALE_UP.get(usize::try_from(raise).ok()?)?;
        i64::try_from(amount.mantissa()).ok()?.checked_mul(factor)
    }

    #[inline(always)]
    fn money(self, minor: Minor) -> Money {
        let magnitude = minor.unsigned_abs();
        // The two 32-bit halves of the magnitude: truncation is the point.
        let (low, middle) = (magnitude as u32, (magnitude >> 32) as u32);
        let amount = Decimal::from_parts(low, middle, 0, minor < 0, self.digits);
        Money::new(amount, self.currency)
    }
}

/// `minor` times `rate`, rounded to a minor unit half away from zero (as [`Money::share`]).
/// `None` unless the rate's mantissa, its power of ten and the product all fit in an `i64`;
/// then rust_decimal's own product is exact too, so the two paths never round differently.
#[cfg(test)]
fn share(minor: Minor, rate: Decimal) -> Option<Minor> {
    share_exactly(
        minor,
        i64::try_from(rate.mantissa()).ok()?,
        10_i64.checked_pow(rate.scale())?,
    )
}

/// [`share`] with the rate as its mantissa and power of ten, worked out once per claim.
#[inline(always)]
fn share_exactly(minor: Minor, mantissa: i64, divisor: i64) -> Option<Minor> {
    let exact = minor.checked_mul(mantissa)?;
    let (quotient, remainder) = (exact / divisor, exact % divisor);
    Some(if remainder.unsigned_abs() * 2 >= divisor.unsigned_abs() {
        quotient + exact.signum()
    } else {
        quotient
    })
}

/// What every paid line of a claim starts from, in minor units, converted once per claim:
/// each limit less what was used of it before the claim, and the coinsurance rate. `None`
/// where an amount or the rate is not exact in minor units (a line needing it then goes to
/// `Money`, as when it was converted for each line); an outer `None`, a limit the plan
/// does not have.
pub(super) struct BeforeTheClaim {
    units: Units,
    deductible: Option<Minor>,
    family_deductible: Option<Option<Minor>>,
    out_of_pocket: Option<Minor>,
    family_out_of_pocket: Option<Option<Minor>>,
    annual_maximum: Option<Option<Minor>>,
    /// The rate's mantissa and its power of ten (see [`share`]).
    coinsurance: Option<(i64, i64)>,
}

impl BeforeTheClaim {
    /// `None` when the plan pays second: coordination of benefits is left to `Money`.
    pub(super) fn of(context: &AdjudicationContext, tier: Tier) -> Option<Self> {
        if !matches!(context.coordination, Coordination::Primary) {
            return None;
        }
        let currency = context.plan.currency;
        let units = Units {
            currency,
            digits: currency.minor_digits(),
        };
        let room = |limit: Money, before: Money| units.of(limit)?.checked_sub(units.of(before)?);
        let family = |limit: Option<Money>, before: fn(&Accumulated) -> Money| match (
            limit,
            &context.family,
        ) {
            (Some(limit), Some(family)) => Some(room(limit, before(family))),
            _ => None,
        };
        let rate = tier.coinsurance.fraction();
        Some(Self {
            units,
            deductible: room(tier.deductible, context.accumulated.deductible),
            family_deductible: family(context.rules.family_deductible, |family| family.deductible),
            out_of_pocket: room(
                context.plan.out_of_pocket_max,
                context.accumulated.out_of_pocket,
            ),
            family_out_of_pocket: family(context.rules.family_out_of_pocket_max, |family| {
                family.out_of_pocket
            }),
            annual_maximum: context
                .rules
                .annual_maximum
                .map(|maximum| room(maximum, context.benefits_used.plan_paid)),
            coinsurance: i64::try_from(rate.mantissa())
                .ok()
                .zip(10_i64.checked_pow(rate.scale())),
        })
    }
}

/// What is left of a limit (less what was used before the claim: `room`) after the claim's
/// earlier lines, never below zero (as `left_of`).
#[inline(always)]
fn left(room: Option<Minor>, this_claim: Minor) -> Option<Minor> {
    Some(room?.checked_sub(this_claim)?.max(0))
}

/// Decides the money of a line that passed every edit and is on the fee schedule, or `None`
/// when it cannot be done exactly in minor units (the caller then uses `Money`).
pub(super) fn paid_line<'plan>(
    line: &ServiceLine,
    entry: &'plan FeeScheduleEntry,
    copay_of_category: Money,
    before: &BeforeTheClaim,
    so_far: &ClaimSoFar<'_>,
) -> Option<LineResult<'plan>> {
    let units = before.units;

    // Fee schedule: the lesser of billed and the schedule; CO-45 the rest.
    let billed = units.of(line.billed)?;
    let scheduled = units
        .of(entry.allowed_per_unit)?
        .checked_mul(i64::from(line.units))?;
    let allowed = billed.min(scheduled);
    let written_off = billed.checked_sub(allowed)?;

    // Copay, deductible (individual and family), coinsurance.
    let copay = units.of(copay_of_category)?.min(allowed);
    let after_copay = allowed.checked_sub(copay)?;
    let deductible_this_claim = units.of(so_far.cost_sharing.deductible)?;
    let mut deductible_left = left(before.deductible, deductible_this_claim)?;
    if let Some(family) = before.family_deductible {
        deductible_left = deductible_left.min(left(family, deductible_this_claim)?);
    }
    let deductible = after_copay.min(deductible_left);
    let after_deductible = after_copay.checked_sub(deductible)?;
    let (mantissa, divisor) = before.coinsurance?;
    let coinsurance = share_exactly(after_deductible, mantissa, divisor)?;

    // Out-of-pocket maximum: the excess comes off coinsurance, deductible, then copay.
    let out_of_pocket_this_claim = units.of(so_far.cost_sharing.out_of_pocket)?;
    let mut out_of_pocket_left = left(before.out_of_pocket, out_of_pocket_this_claim)?;
    if let Some(family) = before.family_out_of_pocket {
        out_of_pocket_left = out_of_pocket_left.min(left(family, out_of_pocket_this_claim)?);
    }
    let mut shares = [coinsurance, deductible, copay];
    let mut excess = shares
        .iter()
        .try_fold(0_i64, |total, share| total.checked_add(*share))?
        .checked_sub(out_of_pocket_left)?;
    if excess > 0 {
        for share in &mut shares {
            let reduction = excess.min(*share);
            *share = share.checked_sub(reduction)?;
            excess = excess.checked_sub(reduction)?;
        }
    }
    let [coinsurance, deductible, copay] = shares;
    let member_pays = copay.checked_add(deductible)?.checked_add(coinsurance)?;

    // Annual maximum: what the plan would pay beyond it moves to the member (PR-119).
    let plan_pays = allowed.checked_sub(member_pays)?;
    let beyond_maximum = match before.annual_maximum {
        Some(room) => {
            let left = left(room, units.of(so_far.plan_paid)?)?;
            plan_pays.checked_sub(plan_pays.min(left))?
        }
        None => 0,
    };

    // Each group's total counts its positive adjustments only, as `line_result` does.
    let mut adjustments = Vec::with_capacity(5);
    let (mut member_responsibility, mut contractual_adjustment) = (0_i64, 0_i64);
    for (group, reason, amount) in [
        (GroupCode::CO, ReasonCode::ExceedsFeeSchedule, written_off),
        (GroupCode::PR, ReasonCode::Copay, copay),
        (GroupCode::PR, ReasonCode::Deductible, deductible),
        (GroupCode::PR, ReasonCode::Coinsurance, coinsurance),
        (
            GroupCode::PR,
            ReasonCode::BenefitMaximumReached,
            beyond_maximum,
        ),
    ] {
        if amount > 0 {
            let total = match group {
                GroupCode::CO => &mut contractual_adjustment,
                _ => &mut member_responsibility,
            };
            *total = total.checked_add(amount)?;
            adjustments.push(Adjustment {
                group,
                reason,
                amount: units.money(amount),
            });
        }
    }
    let payer_paid = billed
        .checked_sub(member_responsibility)?
        .checked_sub(contractual_adjustment)?;
    Some(LineResult {
        line: AdjudicatedLine {
            line: line.number,
            billed: line.billed,
            allowed: units.money(allowed),
            payer_paid: units.money(payer_paid),
            member_responsibility: units.money(member_responsibility),
            contractual_adjustment: units.money(contractual_adjustment),
            adjustments,
        },
        member_pays: units.money(member_pays),
        deductible_credit: units.money(deductible),
        visit: Some(&entry.category),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const USD: Units = Units {
        currency: Currency::USD,
        digits: 2,
    };

    #[test]
    fn a_share_rounds_as_money_does_midpoints_included() {
        for rate in [
            dec!(0),
            dec!(0.2),
            dec!(0.125),
            dec!(0.3333),
            dec!(0.005),
            dec!(0.5),
            dec!(1),
        ] {
            for cents in -2_000..=2_000_i64 {
                let by_money = USD.money(cents).share(rate).expect("in range");
                let in_cents = share(cents, rate).expect("in range");
                assert_eq!(USD.money(in_cents), by_money, "{cents} cents at {rate}");
            }
        }
    }

    #[test]
    fn a_rate_or_product_beyond_i64_is_left_to_money() {
        assert_eq!(share(i64::MAX, dec!(0.5)), None);
        assert_eq!(share(100, dec!(0.1234567890123456789012345678)), None);
    }

    #[test]
    fn only_amounts_exact_in_cents_and_within_i64_convert() {
        let usd = |amount| Money::new(amount, Currency::USD);
        assert_eq!(USD.of(usd(dec!(12.34))), Some(1_234));
        assert_eq!(USD.of(usd(dec!(12.3))), Some(1_230));
        assert_eq!(USD.of(usd(dec!(12))), Some(1_200));
        assert_eq!(USD.of(usd(dec!(-0.05))), Some(-5));
        assert_eq!(USD.of(usd(dec!(12.340))), None);
        assert_eq!(USD.of(usd(dec!(100000000000000000000))), None);
        for cents in [0, 1, -1, 1_234, i64::MAX, i64::MIN + 1] {
            assert_eq!(USD.of(USD.money(cents)), Some(cents));
        }
    }
}
