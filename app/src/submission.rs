//! The native JSON claim submission: what an insurer publishes to `claims.submit.<insurer>`
//! when it does not send FHIR.
//!
//! ```json
//! {
//!   "claim_ref": "ACME-2026-0001",
//!   "member": "M-1001",
//!   "provider": "clinic-a",
//!   "received_on": "2026-03-02",
//!   "lines": [
//!     { "procedure": "99213", "diagnoses": ["J06.9"], "date_of_service": "2026-03-01",
//!       "units": 1, "billed": "180.00 USD" }
//!   ]
//! }
//! ```
//!
//! Amounts are strings (`"180.00 USD"`); a JSON number is refused, because a float cannot
//! carry money exactly. Unknown fields are refused, so a misspelt field is an error, not a
//! silently ignored value. Lines are numbered in order from 1 unless they say `number`.
//! The insurer is the one the subject names; a body that names another is refused.
//!
//! A line may also carry `modifiers` (`["59"]`), the prior `authorization` number it quotes,
//! and, when the member's other coverage pays first, what that `primary_paid` for it
//! (`"700.00 USD"`). All three are optional, so older submissions read unchanged.
//!
//! A correction of an earlier claim of the same insurer says so in `corrects`, as the X12
//! 837 claim frequency code does: `{"claim_ref": "ACME-2026-0001", "kind": "replacement"}`
//! (frequency 7: this claim is decided instead of that one) or `"kind": "void"` (frequency
//! 8: that claim is cancelled; the void's own lines are not adjudicated).

use chrono::NaiveDate;
use claims_domain::claim::{Claim, Correction, CorrectionKind, ServiceLine};
use claims_domain::coding::{AuthorizationNumber, Modifier};
use claims_domain::{
    ClaimId, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, Money, ProcedureCode, ProviderId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A claim submission in the native format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSubmission {
    /// The insurer's own reference for the claim; the idempotency key of the submission.
    pub claim_ref: InsurerClaimRef,
    /// The insurer, if the body names it (it must match the subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer: Option<InsurerId>,
    /// The member treated.
    pub member: MemberId,
    /// The provider to pay.
    pub provider: ProviderId,
    /// The day the insurer received the claim.
    pub received_on: NaiveDate,
    /// The services.
    pub lines: Vec<SubmittedLine>,
    /// The earlier claim this submission voids or replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrects: Option<SubmittedCorrection>,
}

/// The earlier claim a submission voids or replaces, by the insurer's reference for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedCorrection {
    /// The insurer's reference of the earlier claim.
    pub claim_ref: InsurerClaimRef,
    /// `void` (frequency code 8) or `replacement` (7).
    pub kind: CorrectionKind,
}

/// A service line in the native format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedLine {
    /// The line number; by default its position, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// The procedure code.
    pub procedure: ProcedureCode,
    /// Diagnosis codes.
    #[serde(default)]
    pub diagnoses: Vec<DiagnosisCode>,
    /// The date of service.
    pub date_of_service: NaiveDate,
    /// Units of service (default 1).
    #[serde(default = "one")]
    pub units: u32,
    /// The billed amount, such as `"180.00 USD"`.
    pub billed: Money,
    /// Procedure modifiers, such as `["59"]`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub modifiers: BTreeSet<Modifier>,
    /// The prior authorisation number the line quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationNumber>,
    /// What the member's primary payer paid for the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_paid: Option<Money>,
}

fn one() -> u32 {
    1
}

/// Why a message is not a native claim submission.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// Not JSON, or not the native shape; names the field at fault (`lines[0].billed`).
    #[error("the message is not a valid claim submission: {0}")]
    Malformed(String),
    /// The body names a different insurer than the subject.
    #[error("the submission names insurer {body}, but was published by {subject}")]
    InsurerMismatch {
        /// The insurer in the body.
        body: InsurerId,
        /// The insurer of the subject.
        subject: InsurerId,
    },
}

impl ClaimSubmission {
    /// Parses a message body.
    pub fn parse(payload: &[u8]) -> Result<Self, SubmissionError> {
        let mut reader = serde_json::Deserializer::from_slice(payload);
        serde_path_to_error::deserialize(&mut reader).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            SubmissionError::Malformed(if path.is_empty() || path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            })
        })
    }

    /// The domain claim this submission describes, submitted by `insurer`.
    pub fn into_claim(self, insurer: &InsurerId) -> Result<Claim, SubmissionError> {
        if let Some(body) = self.insurer
            && body != *insurer
        {
            return Err(SubmissionError::InsurerMismatch {
                body,
                subject: insurer.clone(),
            });
        }
        let lines = self
            .lines
            .into_iter()
            .zip(1u32..)
            .map(|(line, position)| ServiceLine {
                number: line.number.unwrap_or(position),
                procedure: line.procedure,
                diagnoses: line.diagnoses,
                date_of_service: line.date_of_service,
                units: line.units,
                billed: line.billed,
                modifiers: line.modifiers,
                authorization: line.authorization,
                primary_paid: line.primary_paid,
            })
            .collect();
        let corrects = self.corrects.map(|correction| Correction {
            claim: ClaimId::for_submission(insurer, &correction.claim_ref),
            kind: correction.kind,
        });
        Ok(Claim {
            corrects,
            id: ClaimId::for_submission(insurer, &self.claim_ref),
            insurer: insurer.clone(),
            insurer_ref: self.claim_ref,
            member: self.member,
            provider: self.provider,
            received_on: self.received_on,
            lines,
        })
    }
}
