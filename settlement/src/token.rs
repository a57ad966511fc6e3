//! Token amounts: integer base units of the payout token, and the exact conversion from
//! [`Money`].

use claims_domain::Money;
use rust_decimal::Decimal;
use std::fmt;

/// An amount of the payout token in base units (for a 6-decimal stablecoin, 1.00 is
/// 1 000 000 units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TokenAmount(u128);

impl TokenAmount {
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

    /// The amount as a decimal number of whole tokens.
    pub fn to_decimal(&self, decimals: u32) -> Option<Decimal> {
        i128::try_from(self.0)
            .ok()
            .and_then(|units| Decimal::try_from_i128_with_scale(units, decimals).ok())
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
