//! Timely filing: a claim must reach the payer within the plan's filing limit.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::plan::FilingLimit;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;

/// **Timely filing (CARC 29).** A line received after the last day the plan's filing limit
/// allows from its date of service is not paid, and the provider may not bill the member
/// for it (CO-29). Received on the last day is still timely. No limit, no denial.
pub fn timely_filing(
    limit: Option<FilingLimit>,
    received_on: NaiveDate,
    line: &ServiceLine,
) -> Option<Adjustment> {
    let last_day = limit?.last_day(line.date_of_service)?;
    (received_on > last_day)
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::FilingLimitExpired))
}
