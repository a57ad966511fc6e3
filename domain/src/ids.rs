//! Identifiers. Each carries what it names in its type, so a member id can never be passed
//! where a provider id is expected.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {reason}")]
pub struct InvalidId {
    /// What kind of identifier was expected.
    pub kind: &'static str,
    /// The text that was given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const MAX_ID_LEN: usize = 64;

fn check_token(kind: &'static str, value: &str, subject_safe: bool) -> Result<(), InvalidId> {
    let invalid = |reason| InvalidId {
        kind,
        value: value.chars().take(MAX_ID_LEN + 8).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid("it is longer than 64 characters"));
    }
    if subject_safe {
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid("only letters, digits, '-' and '_' are allowed"));
        }
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it contains whitespace or control characters"));
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, subject_safe = $safe:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier, validated.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check_token($kind, &value, $safe)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id!(
    /// An insurer (payer). It appears in message subjects (`claims.submit.<insurer>`), so
    /// only letters, digits, `-` and `_` are allowed.
    InsurerId, "insurer id", subject_safe = true
);
text_id!(
    /// The insurer's own identifier for a claim; one insurer never reuses it for another claim.
    InsurerClaimRef, "insurer claim reference", subject_safe = false
);
text_id!(
    /// An insured member. Never leaves the engine for the chain.
    MemberId, "member id", subject_safe = true
);
text_id!(
    /// A healthcare provider (clinic, hospital, doctor) registered for payouts.
    ProviderId, "provider id", subject_safe = true
);
text_id!(
    /// A benefit plan.
    PlanId, "plan id", subject_safe = true
);
text_id!(
    /// A rule set: the plans' parameters as versioned data (`rules/<rule set>/`).
    RuleSetId, "rule set id", subject_safe = true
);
text_id!(
    /// A procedure code (CPT, HCPCS or the plan's own).
    ProcedureCode, "procedure code", subject_safe = false
);
text_id!(
    /// A diagnosis code (ICD-10).
    DiagnosisCode, "diagnosis code", subject_safe = false
);
text_id!(
    /// A service category that a copay applies to, such as `office-visit` or `emergency`.
    ServiceCategory, "service category", subject_safe = true
);
text_id!(
    /// A family enrolled together under one plan: its members share the family deductible
    /// and the family out-of-pocket maximum.
    FamilyId, "family id", subject_safe = true
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The identifier from its UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId {
                    kind: $kind,
                    value: s.chars().take(72).collect(),
                    reason: "it is not a UUID",
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The engine's identifier for a claim.
    ///
    /// Derived from the insurer and the insurer's own claim reference (a name-based UUID), so
    /// that a claim submitted twice gets the same id and cannot become a second claim.
    ClaimId, "claim id"
);
uuid_id!(
    /// A payout batch: approved claims paid together in one on-chain transaction. The
    /// application chooses its id.
    PayoutBatchId, "payout batch id"
);

impl ClaimId {
    const NAMESPACE: Uuid = Uuid::from_u128(0x8c1e_0f6a_2b1d_4a4e_9f1c_5a0d_7c3b_2e91);

    /// The claim id for an insurer's claim reference.
    pub fn for_submission(insurer: &InsurerId, reference: &InsurerClaimRef) -> Self {
        let name = format!("{}\u{1f}{}", insurer.as_str(), reference.as_str());
        Self(Uuid::new_v5(&Self::NAMESPACE, name.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insurer(text: &str) -> InsurerId {
        InsurerId::new(text).unwrap()
    }

    fn reference(text: &str) -> InsurerClaimRef {
        InsurerClaimRef::new(text).unwrap()
    }

    #[test]
    fn accepts_letters_digits_dashes_and_underscores() {
        assert_eq!(
            InsurerId::new("acme-health_2").map(|id| id.to_string()),
            Ok("acme-health_2".to_owned())
        );
        assert_eq!(
            MemberId::new("M-1001").map(|id| id.as_str().to_owned()),
            Ok("M-1001".to_owned())
        );
        assert!(ProviderId::new("a".repeat(64)).is_ok());
    }

    #[test]
    fn refuses_an_empty_id() {
        assert_eq!(
            InsurerId::new(""),
            Err(InvalidId {
                kind: "insurer id",
                value: String::new(),
                reason: "it is empty",
            })
        );
        assert!(ProcedureCode::new("").is_err());
    }

    #[test]
    fn refuses_an_id_longer_than_64_characters() {
        let error = MemberId::new("m".repeat(65)).unwrap_err();
        assert_eq!(error.kind, "member id");
        assert_eq!(error.reason, "it is longer than 64 characters");
        assert!(InsurerClaimRef::new("r".repeat(65)).is_err());
    }

    #[test]
    fn subject_safe_ids_refuse_dots_spaces_and_wildcards() {
        // These ids become parts of message subjects, where `.`, `*` and `>` have meaning.
        for text in ["acme.health", "acme health", "acme*", "acme>", "acmé"] {
            let error = InsurerId::new(text).unwrap_err();
            assert_eq!(
                error.reason, "only letters, digits, '-' and '_' are allowed",
                "{text:?}"
            );
        }
        assert!(ServiceCategory::new("office visit").is_err());
        assert!(PlanId::new("gold.ppo").is_err());
    }

    #[test]
    fn other_ids_allow_punctuation_but_not_whitespace_or_control_characters() {
        assert!(InsurerClaimRef::new("CLM/2026.0001#A").is_ok());
        assert!(ProcedureCode::new("99213-25").is_ok());
        assert!(DiagnosisCode::new("M23.2").is_ok());
        for text in ["CLM 1", "CLM\t1", "CLM\u{7}1", "CLM\u{1f}1"] {
            let error = InsurerClaimRef::new(text).unwrap_err();
            assert_eq!(
                error.reason, "it contains whitespace or control characters",
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_error_is_a_sentence_naming_the_value_and_the_problem() {
        let error = InsurerId::new("acme.health").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#""acme.health" is not a valid insurer id: only letters, digits, '-' and '_' are allowed"#
        );
    }

    #[test]
    fn ids_deserialise_only_when_valid() {
        let id: MemberId = serde_json::from_str(r#""M-1001""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""M-1001""#);
        assert!(serde_json::from_str::<MemberId>(r#""M 1001""#).is_err());
        assert!(serde_json::from_str::<MemberId>(r#""""#).is_err());
        assert!(serde_json::from_str::<MemberId>("1001").is_err());
    }

    #[test]
    fn claim_id_is_the_same_for_the_same_submission() {
        let first = ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0001"));
        let again = ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0001"));
        assert_eq!(first, again);
        assert_eq!(first.as_uuid().get_version_num(), 5);
    }

    #[test]
    fn claim_id_is_stable_across_releases() {
        // Stored claims are found again by this id when an insurer resubmits; a change of
        // namespace or name format would turn every resubmission into a new claim.
        let id = ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0001"));
        assert_eq!(id.to_string(), "33db57a1-1d1b-58df-a1e4-e1713f629228");
    }

    #[test]
    fn claim_id_differs_per_insurer_and_per_reference() {
        let acme = ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0001"));
        let other_insurer =
            ClaimId::for_submission(&insurer("zenith-care"), &reference("CLM-0001"));
        let other_reference =
            ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0002"));
        assert_ne!(acme, other_insurer);
        assert_ne!(acme, other_reference);
        // The separator keeps the insurer and the reference apart: "ab" + "c" is not "a" + "bc".
        assert_ne!(
            ClaimId::for_submission(&insurer("ab"), &reference("c")),
            ClaimId::for_submission(&insurer("a"), &reference("bc"))
        );
    }

    #[test]
    fn claim_id_parses_and_displays_a_uuid() {
        let id = ClaimId::for_submission(&insurer("acme-health"), &reference("CLM-0001"));
        assert_eq!(id.to_string().parse::<ClaimId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        let error = "CLM-0001".parse::<ClaimId>().unwrap_err();
        assert_eq!((error.kind, error.reason), ("claim id", "it is not a UUID"));
    }

    #[test]
    fn payout_batch_id_parses_and_displays_a_uuid() {
        let id = PayoutBatchId::from_uuid(Uuid::from_u128(0x1234));
        assert_eq!(id.to_string(), "00000000-0000-0000-0000-000000001234");
        assert_eq!(id.to_string().parse::<PayoutBatchId>(), Ok(id));
        let error = "batch-1".parse::<PayoutBatchId>().unwrap_err();
        assert_eq!(
            (error.kind, error.reason),
            ("payout batch id", "it is not a UUID")
        );
    }
}
