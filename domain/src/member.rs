//! Members: who is insured, under which plan, and when.

use crate::decider::Decider;
use crate::ids::{FamilyId, InsurerId, MemberId, PlanId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An insured member. Only what adjudication needs: no name, no address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's identifier.
    pub id: MemberId,
    /// The insurer that covers the member.
    pub insurer: InsurerId,
    /// The plan the member is enrolled in.
    pub plan: PlanId,
    /// When the member is covered.
    pub coverage: Vec<CoveragePeriod>,
    /// The family the member is enrolled with, if any: its members share the plan's
    /// family deductible and out-of-pocket maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyId>,
    /// Another payer whose coverage of the member pays first; this plan then pays second
    /// (coordination of benefits) and needs that payer's payments on every line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_payer: Option<InsurerId>,
}

/// A period of coverage, both ends inclusive; no end means still covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoveragePeriod {
    /// The first covered day.
    pub start: NaiveDate,
    /// The last covered day, if the coverage has ended.
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

impl CoveragePeriod {
    /// True if the day falls within the period.
    pub fn covers(&self, day: NaiveDate) -> bool {
        day >= self.start && self.end.is_none_or(|end| day <= end)
    }
}

impl Member {
    /// True if the member is covered on that day.
    pub fn is_covered_on(&self, day: NaiveDate) -> bool {
        self.coverage.iter().any(|period| period.covers(day))
    }
}

/// Commands on a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberCommand {
    /// Enrols the member, or updates the enrolment (plan, coverage periods).
    Enrol(Member),
}

/// What happened to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MemberEvent {
    /// The member's enrolment as it stands from now on.
    Enrolled {
        /// The enrolment.
        member: Member,
    },
}

/// What is known of a member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberState {
    /// The enrolment, if any.
    pub member: Option<Member>,
}

/// Why a member command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// A coverage period ends before it starts.
    #[error("member {member}: a coverage period ends ({end}) before it starts ({start})")]
    CoverageEndsBeforeStart {
        /// The member.
        member: MemberId,
        /// The start.
        start: NaiveDate,
        /// The end.
        end: NaiveDate,
    },
    /// A member moved to another insurer must be enrolled under a new member id.
    #[error("member {member} belongs to insurer {current}, not {requested}")]
    InsurerChanged {
        /// The member.
        member: MemberId,
        /// The insurer on record.
        current: InsurerId,
        /// The insurer in the command.
        requested: InsurerId,
    },
}

/// The member aggregate.
pub struct MemberDecider;

impl Decider for MemberDecider {
    type State = MemberState;
    type Command = MemberCommand;
    type Event = MemberEvent;
    type Error = MemberError;

    fn decide(
        state: &MemberState,
        command: MemberCommand,
    ) -> Result<Vec<MemberEvent>, MemberError> {
        let MemberCommand::Enrol(member) = command;
        if let Some(period) = member
            .coverage
            .iter()
            .find(|period| period.end.is_some_and(|end| end < period.start))
        {
            return Err(MemberError::CoverageEndsBeforeStart {
                member: member.id.clone(),
                start: period.start,
                end: period.end.unwrap_or(period.start),
            });
        }
        match &state.member {
            Some(current) if *current == member => Ok(vec![]),
            Some(current) if current.insurer != member.insurer => {
                Err(MemberError::InsurerChanged {
                    member: member.id.clone(),
                    current: current.insurer.clone(),
                    requested: member.insurer.clone(),
                })
            }
            _ => Ok(vec![MemberEvent::Enrolled { member }]),
        }
    }

    fn evolve(_state: MemberState, event: &MemberEvent) -> MemberState {
        let MemberEvent::Enrolled { member } = event;
        MemberState {
            member: Some(member.clone()),
        }
    }
}
