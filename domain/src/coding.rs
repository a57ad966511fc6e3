//! What a claim says about a service beyond its procedure code: the modifiers a coder adds
//! to a line (such as `59`, "distinct procedural service") and the number of the prior
//! authorisation the payer gave for it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a modifier or an authorisation number is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCoding {
    /// A modifier is two letters or digits.
    #[error(
        "{0:?} is not a procedure modifier: a modifier is two letters or digits, such as 59 or XU"
    )]
    Modifier(String),
    /// An authorisation number is 1–50 characters without whitespace.
    #[error("{0:?} is not an authorisation number: use 1 to 50 characters without whitespace")]
    AuthorizationNumber(String),
}

/// A procedure modifier (CPT/HCPCS), two letters or digits, upper case: `59`, `XU`, `LT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Modifier(String);

impl Modifier {
    /// The modifiers that tell a payer two procedures billed together were distinct
    /// services (NCCI-associated modifiers): 59 and its subsets XE, XS, XP and XU.
    pub const DISTINCT_SERVICE: [&'static str; 5] = ["59", "XE", "XS", "XP", "XU"];

    /// The modifier, upper-cased; refused unless it is two letters or digits.
    pub fn new(code: &str) -> Result<Self, InvalidCoding> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(Self(code))
        } else {
            Err(InvalidCoding::Modifier(code))
        }
    }

    /// The modifier as written on the claim.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for 59, XE, XS, XP and XU.
    pub fn marks_distinct_service(&self) -> bool {
        // As `DISTINCT_SERVICE`, compared as two bytes rather than as text.
        matches!(self.0.as_bytes(), b"59" | b"XE" | b"XS" | b"XP" | b"XU")
    }
}

impl TryFrom<String> for Modifier {
    type Error = InvalidCoding;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::new(&code)
    }
}

impl From<Modifier> for String {
    fn from(modifier: Modifier) -> String {
        modifier.0
    }
}

impl FromStr for Modifier {
    type Err = InvalidCoding;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::new(code)
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of a prior authorisation (X12 `REF*G1`, FHIR `Claim.insurance.preAuthRef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AuthorizationNumber(String);

impl AuthorizationNumber {
    /// The number; refused when empty, longer than 50 characters or with whitespace.
    pub fn new(number: &str) -> Result<Self, InvalidCoding> {
        if number.is_empty()
            || number.len() > 50
            || number.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Err(InvalidCoding::AuthorizationNumber(number.to_owned()))
        } else {
            Ok(Self(number.to_owned()))
        }
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AuthorizationNumber {
    type Error = InvalidCoding;

    fn try_from(number: String) -> Result<Self, Self::Error> {
        Self::new(&number)
    }
}

impl From<AuthorizationNumber> for String {
    fn from(number: AuthorizationNumber) -> String {
        number.0
    }
}

impl FromStr for AuthorizationNumber {
    type Err = InvalidCoding;

    fn from_str(number: &str) -> Result<Self, Self::Err> {
        Self::new(number)
    }
}

impl fmt::Display for AuthorizationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a claim line carries besides its procedure, units and amount: its modifiers and
/// the authorisation number it quotes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCoding {
    /// The line's modifiers (order does not matter to the rules).
    #[serde(default)]
    pub modifiers: std::collections::BTreeSet<Modifier>,
    /// The prior authorisation it quotes, if any.
    #[serde(default)]
    pub authorization: Option<AuthorizationNumber>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_ncci_modifiers_mark_a_distinct_service() {
        for code in Modifier::DISTINCT_SERVICE {
            assert!(
                Modifier::new(code)
                    .expect("a modifier")
                    .marks_distinct_service()
            );
        }
        for code in ["25", "LT", "RT", "5X", "X5", "xu"] {
            let modifier = Modifier::new(code).expect("a modifier");
            assert_eq!(
                modifier.marks_distinct_service(),
                Modifier::DISTINCT_SERVICE.contains(&modifier.as_str()),
                "{modifier}"
            );
        }
    }
}
