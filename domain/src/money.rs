//! Money: an exact decimal amount in an ISO 4217 currency. Never a float.
//!
//! Serialised as one string, `"400.00 USD"`, so that no JSON reader can turn it into a
//! float on the way.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An ISO 4217 alphabetic currency code, such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// The code, such as `"USD"`.
    pub fn code(&self) -> &str {
        // Construction only admits ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point in the currency's minor unit (cents: 2).
    ///
    /// ISO 4217 lists a few currencies with 0 or 3 minor digits; every other code is taken
    /// to have 2.
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"ISK" | b"CLP" | b"VND" | b"XOF" | b"XAF" => 0,
            b"BHD" | b"JOD" | b"KWD" | b"OMR" | b"TND" | b"LYD" | b"IQD" => 3,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        match <[u8; 3]>::try_from(bytes) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Currency(code)),
            _ => Err(MoneyError::InvalidCurrency(s.to_owned())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount of money in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

// The arithmetic is always inlined: adjudication does a few dozen of these per line, and a
// call returning a `Result` through memory costs as much as the addition itself.
impl Money {
    /// An amount in a currency.
    #[inline(always)]
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in a currency.
    #[inline(always)]
    pub fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// The smallest amount of a currency (one cent of USD).
    pub fn minor_unit(currency: Currency) -> Self {
        Self::new(Decimal::new(1, currency.minor_digits()), currency)
    }

    /// The decimal amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// True for exactly zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// True for less than zero.
    #[inline(always)]
    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// True for more than zero.
    #[inline(always)]
    pub fn is_positive(&self) -> bool {
        self.amount.is_sign_positive() && !self.amount.is_zero()
    }

    /// The sum, or an error for different currencies or an overflow.
    #[inline(always)]
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The difference, or an error for different currencies or an overflow.
    #[inline(always)]
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_sub(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The amount times a whole number (units of service), or an overflow error.
    pub fn checked_mul_units(self, units: u32) -> Result<Money, MoneyError> {
        self.amount
            .checked_mul(Decimal::from(units))
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The smaller of two amounts in the same currency.
    #[inline(always)]
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if less_than(other.amount, self.amount) {
            other
        } else {
            self
        })
    }

    /// The amount, or zero if it is negative.
    #[inline(always)]
    pub fn at_least_zero(self) -> Money {
        if self.is_negative() {
            Money::zero(self.currency)
        } else {
            self
        }
    }

    /// `rate` of this amount, rounded to the currency's minor unit, half away from zero
    /// (0.005 becomes 0.01). This is the engine's one rounding rule for a share of money.
    pub fn share(self, rate: Decimal) -> Result<Money, MoneyError> {
        let exact = self.amount.checked_mul(rate).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(
            exact.round_dp_with_strategy(
                self.currency.minor_digits(),
                RoundingStrategy::MidpointAwayFromZero,
            ),
            self.currency,
        ))
    }

    /// True when the amount has no more decimal places than the currency's minor unit.
    pub fn is_in_minor_units(&self) -> bool {
        self.amount.normalize().scale() <= self.currency.minor_digits()
    }

    /// Sums amounts in `currency`; an empty list sums to zero.
    pub fn sum<'a>(
        currency: Currency,
        amounts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), |total, amount| {
                total.checked_add(*amount)
            })
    }

    #[inline(always)]
    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

/// `left < right`. Amounts of one currency nearly always carry the same scale (cents), and
/// then comparing their mantissas is a few instructions where rust_decimal's general
/// comparison (aligning scales first) is a call of a few dozen.
#[inline(always)]
fn less_than(left: Decimal, right: Decimal) -> bool {
    if left.scale() == right.scale() {
        left.mantissa() < right.mantissa()
    } else {
        left < right
    }
}

impl fmt::Display for Money {
    /// `1234.50 USD`: at least the currency's minor digits, never rounded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut amount = self.amount.normalize();
        let minor = self.currency.minor_digits();
        if amount.scale() < minor {
            amount.rescale(minor);
        }
        write!(f, "{amount} {}", self.currency)
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Parses `"1234.50 USD"`. Exponents, thousands separators and floats are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (amount, currency) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| MoneyError::InvalidAmount(s.to_owned()))?;
        let amount = amount.trim();
        let plain = !amount.is_empty()
            && amount
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'));
        if !plain {
            return Err(MoneyError::InvalidAmount(s.to_owned()));
        }
        let amount =
            Decimal::from_str_exact(amount).map_err(|_| MoneyError::InvalidAmount(s.to_owned()))?;
        Ok(Money::new(amount, currency.trim().parse()?))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_any` so that a number reaches the visitor and is refused with the reason.
        deserializer.deserialize_any(MoneyVisitor)
    }
}

/// Reads money from a string only, and says why a number is refused: a JSON number may
/// already have passed through a float, and `0.1 + 0.2` is not `0.3` there.
struct MoneyVisitor;

impl serde::de::Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount of money as a string, such as \"400.00 USD\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Money, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Money, E> {
        Err(E::custom(NUMBER_REFUSED))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Money, E> {
        Err(E::custom(NUMBER_REFUSED))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Money, E> {
        Err(E::custom(NUMBER_REFUSED))
    }
}

const NUMBER_REFUSED: &str = "amounts of money are strings with their currency, such as \"400.00 USD\"; a JSON number is refused because it may have passed through a float";

/// Why an amount of money could not be read or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a three-letter uppercase ISO 4217 code.
    #[error("{0:?} is not an ISO 4217 currency code (three capital letters, such as USD)")]
    InvalidCurrency(String),
    /// Not `<decimal> <currency>`.
    #[error(
        "{0:?} is not an amount of money; write it as a decimal and a currency, such as \"400.00 USD\""
    )]
    InvalidAmount(String),
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// One currency.
        left: Currency,
        /// The other.
        right: Currency,
    },
    /// The result does not fit in a decimal.
    #[error("amount out of range")]
    Overflow,
}

/// A fraction of an amount, such as a 20% coinsurance rate. Between 0% and 100%.
///
/// Written and serialised as a percentage string, `"20%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(Decimal);

impl Rate {
    /// Zero percent.
    pub const ZERO: Rate = Rate(Decimal::ZERO);

    /// A rate from a fraction between 0 and 1 (0.2 is 20%).
    pub fn from_fraction(fraction: Decimal) -> Result<Self, MoneyError> {
        if fraction < Decimal::ZERO || fraction > Decimal::ONE {
            return Err(MoneyError::InvalidAmount(format!(
                "{fraction} is not a rate between 0 and 1"
            )));
        }
        Ok(Rate(fraction))
    }

    /// The rate as a fraction between 0 and 1.
    pub fn fraction(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.0 * Decimal::ONE_HUNDRED).normalize();
        write!(f, "{percent}%")
    }
}

impl FromStr for Rate {
    type Err = MoneyError;

    /// Parses `"20%"` or `"12.5%"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid =
            || MoneyError::InvalidAmount(format!("{s:?} is not a percentage such as \"20%\""));
        let percent = s.trim().strip_suffix('%').ok_or_else(invalid)?;
        let percent = Decimal::from_str_exact(percent.trim()).map_err(|_| invalid())?;
        Rate::from_fraction(percent / Decimal::ONE_HUNDRED).map_err(|_| invalid())
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::USD)
    }

    fn eur(amount: Decimal) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn parses_an_amount_and_its_currency() {
        let money: Money = "400.00 USD".parse().unwrap();
        assert_eq!(money.amount(), dec!(400.00));
        assert_eq!(money.currency(), Currency::USD);
        assert_eq!(money.to_string(), "400.00 USD");
    }

    #[test]
    fn parses_negative_amounts_and_surrounding_spaces() {
        let money: Money = "  -12.5 EUR ".parse().unwrap();
        assert_eq!(money, eur(dec!(-12.5)));
        assert!(money.is_negative());
    }

    #[test]
    fn displays_at_least_the_minor_digits_and_never_rounds() {
        assert_eq!(usd(dec!(400)).to_string(), "400.00 USD");
        assert_eq!(usd(dec!(1234.5)).to_string(), "1234.50 USD");
        assert_eq!(usd(dec!(1.2500)).to_string(), "1.25 USD");
        assert_eq!(usd(dec!(1.005)).to_string(), "1.005 USD");
        let yen = Money::new(dec!(1500), "JPY".parse().unwrap());
        assert_eq!(yen.to_string(), "1500 JPY");
        let dinar = Money::new(dec!(1.5), "KWD".parse().unwrap());
        assert_eq!(dinar.to_string(), "1.500 KWD");
    }

    #[test]
    fn refuses_exponents_separators_signs_and_missing_parts() {
        for text in [
            "1e3 USD",
            "1E3 USD",
            "4.0e2 USD",
            "1,000.00 USD",
            "+5.00 USD",
            "5.00- USD",
            "1.2.3 USD",
            "abc USD",
            "- USD",
            " USD",
            "400.00",
            "400.00USD",
            "USD 400.00",
            "",
        ] {
            assert!(
                matches!(text.parse::<Money>(), Err(MoneyError::InvalidAmount(_))),
                "{text:?} should be refused as an amount, got {:?}",
                text.parse::<Money>()
            );
        }
    }

    #[test]
    fn refuses_a_currency_that_is_not_three_capital_letters() {
        for text in [
            "400.00 usd",
            "400.00 US",
            "400.00 USDX",
            "400.00 U5D",
            "400.00 ÜSD",
            "400.00 USD extra",
        ] {
            assert!(
                matches!(text.parse::<Money>(), Err(MoneyError::InvalidCurrency(_))),
                "{text:?} should be refused for its currency, got {:?}",
                text.parse::<Money>()
            );
        }
    }

    #[test]
    fn serialises_as_one_string_and_round_trips() {
        let money = usd(dec!(1234.50));
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#""1234.50 USD""#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
    }

    #[test]
    fn refuses_json_numbers_so_no_float_slips_in() {
        for json in [
            "400.0",
            "400",
            "4e2",
            r#"{"amount":"400.00","currency":"USD"}"#,
            r#""4e2 USD""#,
        ] {
            assert!(
                serde_json::from_str::<Money>(json).is_err(),
                "{json} should be refused"
            );
        }
    }

    #[test]
    fn a_json_number_is_refused_with_the_reason() {
        let error = serde_json::from_str::<Money>("180.0")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("amounts of money are strings with their currency"),
            "{error}"
        );
    }

    #[test]
    fn adds_and_subtracts_in_one_currency() {
        assert_eq!(
            usd(dec!(100.10)).checked_add(usd(dec!(0.95))),
            Ok(usd(dec!(101.05)))
        );
        assert_eq!(
            usd(dec!(100.10)).checked_sub(usd(dec!(150))),
            Ok(usd(dec!(-49.90)))
        );
        assert_eq!(usd(dec!(120)).checked_mul_units(3), Ok(usd(dec!(360))));
        assert_eq!(usd(dec!(250)).min(usd(dec!(220))), Ok(usd(dec!(220))));
        assert_eq!(usd(dec!(-5)).at_least_zero(), usd(dec!(0)));
        assert_eq!(usd(dec!(5)).at_least_zero(), usd(dec!(5)));
    }

    #[test]
    fn refuses_to_combine_two_currencies() {
        let mismatch = MoneyError::CurrencyMismatch {
            left: Currency::USD,
            right: Currency::EUR,
        };
        assert_eq!(
            usd(dec!(1)).checked_add(eur(dec!(1))),
            Err(mismatch.clone())
        );
        assert_eq!(
            usd(dec!(1)).checked_sub(eur(dec!(1))),
            Err(mismatch.clone())
        );
        assert_eq!(usd(dec!(1)).min(eur(dec!(1))), Err(mismatch.clone()));
        assert_eq!(
            Money::sum(Currency::USD, &[usd(dec!(1)), eur(dec!(1))]),
            Err(mismatch)
        );
    }

    #[test]
    fn reports_overflow_instead_of_panicking() {
        assert_eq!(
            usd(Decimal::MAX).checked_add(usd(dec!(1))),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            usd(Decimal::MIN).checked_sub(usd(dec!(1))),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            usd(Decimal::MAX).checked_mul_units(2),
            Err(MoneyError::Overflow)
        );
        assert_eq!(usd(Decimal::MAX).share(dec!(2)), Err(MoneyError::Overflow));
    }

    #[test]
    fn sums_a_list_and_an_empty_list_is_zero() {
        assert_eq!(Money::sum(Currency::USD, &[]), Ok(usd(dec!(0))));
        assert_eq!(
            Money::sum(
                Currency::USD,
                &[usd(dec!(0.10)), usd(dec!(0.20)), usd(dec!(99.70))]
            ),
            Ok(usd(dec!(100)))
        );
    }

    #[test]
    fn tells_the_sign_of_an_amount() {
        let negative_zero: Money = "-0.00 USD".parse().unwrap();
        assert!(negative_zero.is_zero());
        assert!(!negative_zero.is_negative());
        assert!(!negative_zero.is_positive());
        assert!(usd(dec!(0.01)).is_positive());
        assert!(usd(dec!(-0.01)).is_negative());
    }

    #[test]
    fn share_rounds_half_away_from_zero_to_the_cent() {
        assert_eq!(usd(dec!(333.33)).share(dec!(0.2)), Ok(usd(dec!(66.67))));
        assert_eq!(usd(dec!(0.05)).share(dec!(0.5)), Ok(usd(dec!(0.03))));
        assert_eq!(usd(dec!(0.125)).share(dec!(0.2)), Ok(usd(dec!(0.03))));
        assert_eq!(usd(dec!(-0.05)).share(dec!(0.5)), Ok(usd(dec!(-0.03))));
        assert_eq!(usd(dec!(0.12)).share(dec!(0.2)), Ok(usd(dec!(0.02))));
        assert_eq!(usd(dec!(1350)).share(dec!(0.2)), Ok(usd(dec!(270))));
    }

    #[test]
    fn share_rounds_to_the_currency_minor_unit() {
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(
            Money::new(dec!(1005), jpy).share(dec!(0.5)),
            Ok(Money::new(dec!(503), jpy))
        );
        let kwd: Currency = "KWD".parse().unwrap();
        assert_eq!(
            Money::new(dec!(1.0005), kwd).share(dec!(0.5)),
            Ok(Money::new(dec!(0.500), kwd))
        );
    }

    #[test]
    fn knows_whole_minor_units() {
        assert!(usd(dec!(1.10)).is_in_minor_units());
        assert!(usd(dec!(1.1000)).is_in_minor_units());
        assert!(!usd(dec!(1.005)).is_in_minor_units());
        assert!(!Money::new(dec!(1.5), "JPY".parse().unwrap()).is_in_minor_units());
    }

    #[test]
    fn currency_round_trips_and_refuses_lowercase() {
        assert_eq!("EUR".parse::<Currency>(), Ok(Currency::EUR));
        assert_eq!(serde_json::to_string(&Currency::USD).unwrap(), r#""USD""#);
        assert_eq!(
            serde_json::from_str::<Currency>(r#""EUR""#).unwrap(),
            Currency::EUR
        );
        assert_eq!(
            "eur".parse::<Currency>(),
            Err(MoneyError::InvalidCurrency("eur".to_owned()))
        );
        assert!(serde_json::from_str::<Currency>(r#""eu""#).is_err());
    }

    #[test]
    fn rate_parses_percentages() {
        assert_eq!(
            "20%".parse::<Rate>().map(|rate| rate.fraction()),
            Ok(dec!(0.2))
        );
        assert_eq!(
            "12.5%".parse::<Rate>().map(|rate| rate.fraction()),
            Ok(dec!(0.125))
        );
        assert_eq!("0%".parse::<Rate>(), Ok(Rate::ZERO));
        assert_eq!(
            "100%".parse::<Rate>().map(|rate| rate.fraction()),
            Ok(dec!(1))
        );
        assert_eq!("12.5%".parse::<Rate>().unwrap().to_string(), "12.5%");
        assert_eq!(Rate::from_fraction(dec!(0.20)).unwrap().to_string(), "20%");
    }

    #[test]
    fn rate_refuses_what_is_not_a_percentage_between_0_and_100() {
        for text in [
            "120%", "100.01%", "-5%", "20", "0.2", "%", "twenty%", "1e1%",
        ] {
            assert!(text.parse::<Rate>().is_err(), "{text:?} should be refused");
        }
        assert!(Rate::from_fraction(dec!(1.01)).is_err());
        assert!(Rate::from_fraction(dec!(-0.01)).is_err());
    }

    #[test]
    fn rate_serialises_as_a_percentage_string() {
        let rate: Rate = "12.5%".parse().unwrap();
        let json = serde_json::to_string(&rate).unwrap();
        assert_eq!(json, r#""12.5%""#);
        assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), rate);
        assert!(serde_json::from_str::<Rate>("0.2").is_err());
        assert!(serde_json::from_str::<Rate>(r#""120%""#).is_err());
    }
}
