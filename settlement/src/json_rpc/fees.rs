//! EIP-1559 fees, and the rule for replacing a stuck transaction.
//!
//! Nodes accept a replacement for a pending transaction only if it pays enough more: geth
//! and reth ask for both `maxFeePerGas` and `maxPriorityFeePerGas` to be at least 10%
//! higher. anvil asks less, so tests against anvil cannot catch an under-bump: the rule is
//! tested here instead.

use serde::{Deserialize, Serialize};

/// The per-mille a replacement raises both fee fields by: 12.5%, clear of the 10% nodes
/// require even after integer rounding.
const BUMP_PER_MILLE: u128 = 1_125;
/// What nodes require, per mille.
const REQUIRED_PER_MILLE: u128 = 1_100;

/// A transaction's two EIP-1559 fee fields, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fees {
    /// `maxFeePerGas`.
    #[serde(with = "decimal_string")]
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    #[serde(with = "decimal_string")]
    pub max_priority_fee_per_gas: u128,
}

/// Why a replacement's fees would be refused as underpriced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a replacement must raise both fee fields by at least 10%: max fee {old_max} -> {new_max}, priority fee {old_tip} -> {new_tip}"
)]
pub struct FeeBumpError {
    old_max: u128,
    new_max: u128,
    old_tip: u128,
    new_tip: u128,
}

impl Fees {
    /// The fees for a replacement: both fields raised by 12.5% (and by at least one wei, so
    /// that a 1-wei tip still rises), and never below what the chain asks for now.
    pub fn bumped(&self, current: Fees) -> Fees {
        let raise = |old: u128| {
            old.saturating_mul(BUMP_PER_MILLE)
                .div_ceil(1_000)
                .max(old.saturating_add(1))
        };
        let tip = raise(self.max_priority_fee_per_gas).max(current.max_priority_fee_per_gas);
        let max = raise(self.max_fee_per_gas)
            .max(current.max_fee_per_gas)
            .max(tip);
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    /// Refuses a replacement that does not raise both fields by at least 10% and strictly.
    pub fn check_replacement(&self, replacement: &Fees) -> Result<(), FeeBumpError> {
        let enough = |old: u128, new: u128| {
            new > old && new.saturating_mul(1_000) >= old.saturating_mul(REQUIRED_PER_MILLE)
        };
        if enough(self.max_fee_per_gas, replacement.max_fee_per_gas)
            && enough(
                self.max_priority_fee_per_gas,
                replacement.max_priority_fee_per_gas,
            )
        {
            Ok(())
        } else {
            Err(FeeBumpError {
                old_max: self.max_fee_per_gas,
                new_max: replacement.max_fee_per_gas,
                old_tip: self.max_priority_fee_per_gas,
                new_tip: replacement.max_priority_fee_per_gas,
            })
        }
    }
}

/// Wei amounts as decimal strings: JSON numbers lose precision past 2^53 in most readers.
mod decimal_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees(max: u128, tip: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn a_bump_raises_both_fields_by_more_than_ten_percent() {
        for (max, tip) in [
            (1, 1),
            (2, 1),
            (10, 9),
            (1_000_000_007, 1_000_000_001),
            (30_000_000_000, 0),
        ] {
            let old = fees(max, tip);
            let new = old.bumped(fees(0, 0));
            assert_eq!(old.check_replacement(&new), Ok(()), "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn a_bump_never_pays_less_than_the_chain_asks_now() {
        let new = fees(100, 10).bumped(fees(500, 50));
        assert_eq!(new, fees(500, 50));
    }

    #[test]
    fn a_bump_keeps_the_max_fee_at_least_the_tip() {
        let new = fees(10, 10).bumped(fees(0, 40));
        assert!(new.max_fee_per_gas >= new.max_priority_fee_per_gas);
    }

    #[test]
    fn a_replacement_below_ten_percent_on_either_field_is_refused() {
        let old = fees(1_000, 100);
        assert!(old.check_replacement(&fees(1_099, 200)).is_err());
        assert!(old.check_replacement(&fees(2_000, 109)).is_err());
        assert!(old.check_replacement(&fees(1_100, 110)).is_ok());
        // Ten percent of one wei rounds to nothing: a replacement must still rise.
        assert!(fees(1, 1).check_replacement(&fees(1, 1)).is_err());
    }

    #[test]
    fn fees_are_stored_as_decimal_strings() {
        let json = serde_json::to_value(fees(u128::MAX, 7)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "max_fee_per_gas": u128::MAX.to_string(),
                "max_priority_fee_per_gas": "7"
            })
        );
    }
}
