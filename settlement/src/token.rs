//! Token amounts: integer base units of the payout token, and the exact conversion between
//! them and [`Money`].
//!
//! The rule (invariant 7): money becomes base units by shifting the decimal point, never by
//! rounding. An amount with more decimal places than the token has (after dropping
//! trailing zeros) is refused with [`TokenAmountError::TooPrecise`]; so is a negative amount,
//! one too large for 128 bits, and money in another currency than the token stands for.
//! Sums of base units are checked, never wrapping. Base units convert back to the very same
//! decimal, so a provider's balance reads in dollars and cents without loss.

use claims_domain::{Currency, Money};
use rust_decimal::Decimal;
use std::fmt;

/// The largest scale a [`Decimal`] holds: a token with more decimal places cannot be shown
/// as money exactly.
const MAX_DECIMAL_SCALE: u32 = 28;

/// The token payouts are made in, as money sees it: which currency one token stands for,
/// and how many decimal places a base unit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutToken {
    /// The currency one whole token stands for (USD for USDC).
    pub currency: Currency,
    /// Decimal places of one base unit (6 for USDC).
    pub decimals: u32,
}

impl PayoutToken {
    /// Money in base units, exactly: refused, never rounded, if it has more decimal places
    /// than the token, is negative, too large, or in another currency.
    pub fn units(&self, money: Money) -> Result<TokenAmount, TokenAmountError> {
        if money.currency() != self.currency {
            return Err(TokenAmountError::WrongCurrency {
                money,
                token: self.currency,
            });
        }
        TokenAmount::from_money(money, self.decimals)
    }

    /// Base units as money, exactly.
    pub fn money(&self, amount: TokenAmount) -> Result<Money, TokenAmountError> {
        amount
            .to_decimal(self.decimals)
            .map(|decimal| Money::new(decimal, self.currency))
            .ok_or(TokenAmountError::NotRepresentable {
                amount,
                decimals: self.decimals,
            })
    }
}

/// An amount of the payout token in base units (for a 6-decimal stablecoin, 1.00 is
/// 1 000 000 units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TokenAmount(u128);

impl TokenAmount {
    /// Nothing.
    pub const ZERO: TokenAmount = TokenAmount(0);

    /// An amount in base units.
    pub fn from_base_units(units: u128) -> Self {
        Self(units)
    }

    /// The base units.
    pub fn base_units(&self) -> u128 {
        self.0
    }

    /// Converts money to base units of a token with `decimals` places, exactly.
    ///
    /// Refuses (never rounds) an amount with more decimal places than the token has, and a
    /// negative amount. The caller decides whether the currency matches the token.
    pub fn from_money(money: Money, decimals: u32) -> Result<Self, TokenAmountError> {
        let amount = money.amount().normalize();
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(TokenAmountError::Negative(money));
        }
        if amount.scale() > decimals {
            return Err(TokenAmountError::TooPrecise { money, decimals });
        }
        let mantissa =
            u128::try_from(amount.mantissa()).map_err(|_| TokenAmountError::Negative(money))?;
        10u128
            .checked_pow(decimals - amount.scale())
            .and_then(|factor| mantissa.checked_mul(factor))
            .map(Self)
            .ok_or(TokenAmountError::TooLarge(money))
    }

    /// The amount as a decimal number of whole tokens; `None` if a [`Decimal`] cannot hold
    /// it exactly (more than 28 decimal places, or more than 96 bits of units).
    pub fn to_decimal(&self, decimals: u32) -> Option<Decimal> {
        if decimals > MAX_DECIMAL_SCALE {
            return None;
        }
        i128::try_from(self.0)
            .ok()
            .and_then(|units| Decimal::try_from_i128_with_scale(units, decimals).ok())
    }

    /// The sum, or `None` if it does not fit in 128 bits.
    pub fn checked_add(self, other: TokenAmount) -> Option<TokenAmount> {
        self.0.checked_add(other.0).map(TokenAmount)
    }

    /// The sum of many amounts, or `None` if it does not fit in 128 bits.
    pub fn checked_sum(amounts: impl IntoIterator<Item = TokenAmount>) -> Option<TokenAmount> {
        amounts
            .into_iter()
            .try_fold(TokenAmount::ZERO, TokenAmount::checked_add)
    }
}

/// Why money could not become a token amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenAmountError {
    /// More decimal places than the token has: converting would round.
    #[error("{money} has more than {decimals} decimal places; refusing to round it")]
    TooPrecise {
        /// The amount.
        money: Money,
        /// The token's decimal places.
        decimals: u32,
    },
    /// Payouts are never negative.
    #[error("{0} is negative; a payout cannot be")]
    Negative(Money),
    /// Too large for the token.
    #[error("{0} is too large for the token")]
    TooLarge(Money),
    /// The money is in another currency than the token stands for.
    #[error("{money} cannot be paid in a token that stands for {token}")]
    WrongCurrency {
        /// The amount.
        money: Money,
        /// The token's currency.
        token: Currency,
    },
    /// Base units that no decimal amount of money can hold exactly.
    #[error("{amount} of a {decimals}-decimal token cannot be shown as money exactly")]
    NotRepresentable {
        /// The amount.
        amount: TokenAmount,
        /// The token's decimal places.
        decimals: u32,
    },
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} base units", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims_domain::Currency;
    use rust_decimal_macros::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::USD)
    }

    fn units(amount: Decimal) -> Result<u128, TokenAmountError> {
        TokenAmount::from_money(usd(amount), 6).map(|amount| amount.base_units())
    }

    #[test]
    fn whole_cents_become_base_units_exactly() {
        assert_eq!(units(dec!(123.45)), Ok(123_450_000));
        assert_eq!(units(dec!(1000000.10)), Ok(1_000_000_100_000));
    }

    #[test]
    fn the_smallest_token_unit_converts_to_one() {
        assert_eq!(units(dec!(0.000001)), Ok(1));
    }

    #[test]
    fn trailing_zeros_beyond_the_tokens_decimals_are_not_extra_precision() {
        assert_eq!(units(dec!(12.340000)), Ok(12_340_000));
        assert_eq!(units(dec!(12.340000000)), Ok(12_340_000));
    }

    #[test]
    fn zero_is_zero_units() {
        assert_eq!(units(dec!(0)), Ok(0));
        assert_eq!(units(dec!(-0.00)), Ok(0));
    }

    #[test]
    fn more_decimals_than_the_token_has_are_refused_rather_than_rounded() {
        assert_eq!(
            units(dec!(0.0000001)),
            Err(TokenAmountError::TooPrecise {
                money: usd(dec!(0.0000001)),
                decimals: 6
            })
        );
        assert!(matches!(
            TokenAmount::from_money(usd(dec!(1.5)), 0),
            Err(TokenAmountError::TooPrecise { decimals: 0, .. })
        ));
    }

    #[test]
    fn a_negative_amount_is_refused() {
        assert_eq!(
            units(dec!(-1.00)),
            Err(TokenAmountError::Negative(usd(dec!(-1.00))))
        );
        assert_eq!(
            units(dec!(-0.000001)),
            Err(TokenAmountError::Negative(usd(dec!(-0.000001))))
        );
    }

    #[test]
    fn an_amount_too_large_for_128_bits_is_refused() {
        let huge = usd(Decimal::MAX);
        assert_eq!(
            TokenAmount::from_money(huge, 18),
            Err(TokenAmountError::TooLarge(huge))
        );
    }

    #[test]
    fn one_excess_digit_is_refused_at_every_magnitude() {
        for amount in [dec!(0.0000005), dec!(1.0000001), dec!(999999999.1234567)] {
            assert!(
                matches!(units(amount), Err(TokenAmountError::TooPrecise { .. })),
                "{amount}"
            );
        }
    }

    #[test]
    fn the_too_precise_error_says_what_it_refused() {
        let error = units(dec!(10.1234567)).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "10.1234567 USD has more than 6 decimal places; refusing to round it"
        );
    }

    #[test]
    fn a_whole_token_with_no_decimals_converts() {
        assert_eq!(
            TokenAmount::from_money(usd(dec!(42.000)), 0),
            Ok(TokenAmount::from_base_units(42))
        );
    }

    #[test]
    fn eighteen_decimal_tokens_convert_exactly() {
        assert_eq!(
            TokenAmount::from_money(usd(dec!(1.5)), 18),
            Ok(TokenAmount::from_base_units(1_500_000_000_000_000_000))
        );
    }

    #[test]
    fn the_payout_token_refuses_money_in_another_currency() {
        let token = PayoutToken {
            currency: Currency::USD,
            decimals: 6,
        };
        let euros: Money = "10.00 EUR".parse().expect("an amount");
        assert_eq!(
            token.units(euros),
            Err(TokenAmountError::WrongCurrency {
                money: euros,
                token: Currency::USD
            })
        );
        assert_eq!(
            token.units(usd(dec!(10.00))),
            Ok(TokenAmount::from_base_units(10_000_000))
        );
    }

    #[test]
    fn the_payout_token_shows_base_units_as_the_same_money() {
        let token = PayoutToken {
            currency: Currency::USD,
            decimals: 6,
        };
        assert_eq!(
            token.money(TokenAmount::from_base_units(1_880_000_000)),
            Ok(usd(dec!(1880.000000)))
        );
        assert_eq!(
            token
                .money(TokenAmount::from_base_units(1_880_000_000))
                .map(|money| money.to_string()),
            Ok("1880.00 USD".to_owned())
        );
    }

    #[test]
    fn units_beyond_what_money_can_show_are_refused() {
        let token = PayoutToken {
            currency: Currency::USD,
            decimals: 6,
        };
        let huge = TokenAmount::from_base_units(u128::MAX);
        assert_eq!(
            token.money(huge),
            Err(TokenAmountError::NotRepresentable {
                amount: huge,
                decimals: 6
            })
        );
        assert_eq!(TokenAmount::from_base_units(1).to_decimal(29), None);
    }

    #[test]
    fn sums_are_checked() {
        let one = TokenAmount::from_base_units(1);
        let max = TokenAmount::from_base_units(u128::MAX);
        assert_eq!(
            TokenAmount::checked_sum([one, one, one]),
            Some(TokenAmount::from_base_units(3))
        );
        assert_eq!(TokenAmount::checked_sum([max, one]), None);
        assert_eq!(TokenAmount::checked_sum([]), Some(TokenAmount::ZERO));
    }

    proptest::proptest! {
        #[test]
        fn any_amount_with_at_most_six_decimals_round_trips(
            mantissa in 0i64..=i64::MAX,
            scale in 0u32..=6,
        ) {
            let amount = Decimal::new(mantissa, scale);
            let converted = TokenAmount::from_money(usd(amount), 6).expect("convertible");
            proptest::prop_assert_eq!(converted.to_decimal(6), Some(amount));
            let factor = 10u128.pow(6 - scale);
            proptest::prop_assert_eq!(converted.base_units(), mantissa as u128 * factor);
        }

        #[test]
        fn any_amount_with_a_seventh_significant_decimal_is_refused(
            mantissa in 1i64..=i64::MAX,
            scale in 7u32..=12,
        ) {
            proptest::prop_assume!(mantissa % 10 != 0);
            let amount = Decimal::new(mantissa, scale);
            let refused = matches!(
                TokenAmount::from_money(usd(amount), 6),
                Err(TokenAmountError::TooPrecise { .. })
            );
            proptest::prop_assert!(refused, "{} was not refused", amount);
        }
    }

    #[test]
    fn base_units_convert_back_to_the_same_decimal() {
        for amount in [
            dec!(123.45),
            dec!(0.000001),
            dec!(12.34),
            dec!(1000000.10),
            dec!(0),
        ] {
            let converted = TokenAmount::from_money(usd(amount), 6).expect("convertible");
            assert_eq!(converted.to_decimal(6), Some(amount.normalize()));
        }
    }
}
