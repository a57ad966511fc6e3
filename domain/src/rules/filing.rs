//! Timely filing: a claim must reach the payer within the plan's filing limit.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;

/// **Timely filing (CARC 29).** A line received after the last day the plan's filing limit
/// allows from its date of service is not paid, and the provider may not bill the member
/// for it (CO-29). Received on the last day is still timely. No limit, no denial.
/// `last_day` is the last day the plan's limit allows from the line's date of service
/// ([`FilingLimit::last_day`](crate::plan::FilingLimit::last_day)), `None` without a limit.
pub fn timely_filing(
    last_day: Option<NaiveDate>,
    received_on: NaiveDate,
    line: &ServiceLine,
) -> Option<Adjustment> {
    let last_day = last_day?;
    (received_on > last_day)
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::FilingLimitExpired))
}
