//! Prior authorisation: services the plan pays only when it approved them in advance.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::coding::AuthorizationNumber;
use crate::ids::{ProcedureCode, ProviderId};
use crate::plan::terms::ProcedureTerms;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A prior authorisation the payer approved for a member: this procedure, by this
/// provider, between two dates (both inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// Its number, which the claim quotes.
    pub number: AuthorizationNumber,
    /// The procedure approved.
    pub procedure: ProcedureCode,
    /// The provider approved to perform it.
    pub provider: ProviderId,
    /// The first day it covers.
    pub from: NaiveDate,
    /// The last day it covers.
    pub through: NaiveDate,
}

impl Authorization {
    /// True if it approves this line by this provider.
    pub fn covers(&self, provider: &ProviderId, line: &ServiceLine) -> bool {
        self.procedure == line.procedure
            && self.provider == *provider
            && self.from <= line.date_of_service
            && line.date_of_service <= self.through
    }
}

/// **Prior authorisation (CARC 197, 15).** A procedure on the plan's prior-authorisation
/// list is paid only with an authorisation on file that covers it (procedure, provider,
/// date of service). A line that quotes a number is checked against that authorisation:
/// unknown, or for another service, provider or period, it is invalid (CO-15). A line
/// quoting none is matched against the member's authorisations on file; when none covers
/// it, the authorisation is absent (CO-197). The provider writes off either.
pub fn prior_authorization(
    procedure: &ProcedureTerms,
    provider: &ProviderId,
    line: &ServiceLine,
    quoted: Option<&AuthorizationNumber>,
    on_file: &[Authorization],
) -> Option<Adjustment> {
    if !procedure.needs_authorization {
        return None;
    }
    match quoted {
        Some(number) => (!on_file.iter().any(|authorization| {
            authorization.number == *number && authorization.covers(provider, line)
        }))
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::AuthorizationInvalid)),
        None => (!on_file
            .iter()
            .any(|authorization| authorization.covers(provider, line)))
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::AuthorizationAbsent)),
    }
}
