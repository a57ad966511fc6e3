//! Where a claim's member is enrolled, known before the member's stream is read, so that
//! a batch names its plans' and families' streams in its first read.
//!
//! Deciding a claim reads the member's stream, and only then knows the member's plan and
//! family, whose streams are a second read: a second round trip to the store for every
//! batch. Two things tell them sooner:
//!
//! - intake stamps the enrolment it checked a claim against into the metadata of the
//!   claim's `ClaimSubmitted` ([`Enrolment::stamp`]), and the adjudicator reads it from the
//!   event it is handed ([`Enrolment::recorded_with`]);
//! - intake itself remembers where each member it read was enrolled ([`Enrolments`]):
//!   members seldom change plan.
//!
//! Either is only ever a guess. A decision still takes the plan and the family from the
//! member's stream as read with the batch, and reads whatever the guess missed
//! ([`claims_adapters::aggregate::StreamsRead::read_more`]); a wrong guess costs one stream
//! read for nothing, never a decision on the wrong plan.

use claims_adapters::aggregate::streams;
use claims_adapters::event_store::{RecordedEvent, StreamId};
use claims_domain::claim::Claim;
use claims_domain::member::Member;
use claims_domain::{FamilyId, MemberId, PlanId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The metadata key under which a `ClaimSubmitted` records its member's enrolment.
const ENROLMENT: &str = "enrolment";

/// Members [`Enrolments`] remembers at most; the memory is emptied when it fills, and
/// refills from the next batches' reads. About 100 bytes each.
const REMEMBERED: usize = 100_000;

/// A member's plan and family, as read at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    plan: PlanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<FamilyId>,
}

impl Enrolment {
    /// Where `member` is enrolled.
    pub fn of(member: &Member) -> Self {
        Self {
            plan: member.plan.clone(),
            family: member.family.clone(),
        }
    }

    /// `metadata` with this enrolment recorded in it (unchanged if it is not an object).
    pub fn stamp(&self, mut metadata: Value) -> Value {
        if let Value::Object(fields) = &mut metadata
            && let Ok(enrolment) = serde_json::to_value(self)
        {
            fields.insert(ENROLMENT.to_owned(), enrolment);
        }
        metadata
    }

    /// The enrolment an event's metadata records, if it records one that reads.
    pub fn recorded_with(event: &RecordedEvent) -> Option<Self> {
        event.metadata.field(ENROLMENT).ok().flatten()
    }

    /// The streams deciding `claim` reads, as far as they can be told before reading any:
    /// the member's, provider's, benefit year's and authorisations' from the claim itself
    /// (what the adjudicator reads first), and with the enrolment, if known, the plan's and
    /// the family's benefit year's.
    pub fn decision_streams(claim: &Claim, enrolment: Option<&Self>) -> Vec<StreamId> {
        let year = claim.benefit_year();
        let mut named = vec![
            streams::member(&claim.member),
            streams::provider(&claim.provider),
            streams::accumulator(&claim.member, year),
            streams::authorizations(&claim.member),
        ];
        if let Some(enrolment) = enrolment {
            named.push(streams::plan(&enrolment.plan));
            named.extend(
                enrolment
                    .family
                    .as_ref()
                    .map(|family| streams::family_accumulator(family, year)),
            );
        }
        named
    }
}

/// The enrolment each member was last read with.
#[derive(Debug, Default)]
pub struct Enrolments {
    seen: Mutex<HashMap<MemberId, Enrolment>>,
}

impl Enrolments {
    /// Remembers where `member` is enrolled, as just read.
    pub fn remember(&self, member: &Member) {
        let enrolment = Enrolment::of(member);
        // Nothing is left half-done under the lock: a poisoned map is still whole.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.get(&member.id) == Some(&enrolment) {
            return;
        }
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(member.id.clone(), enrolment);
    }

    /// The plan's stream of the claim's member, if the member has been met.
    pub fn plan_stream(&self, claim: &Claim) -> Option<StreamId> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&claim.member)
            .map(|enrolment| streams::plan(&enrolment.plan))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

    use super::*;
    use chrono::NaiveDate;
    use claims_adapters::event_store::{EventId, LogPosition, StoredJson};
    use claims_domain::{ClaimId, InsurerClaimRef, InsurerId, ProviderId};
    use serde_json::json;

    fn member(plan: &str, family: Option<&str>) -> Member {
        Member {
            id: MemberId::new("M-1").unwrap(),
            insurer: InsurerId::new("acme").unwrap(),
            plan: PlanId::new(plan).unwrap(),
            coverage: Vec::new(),
            family: family.map(|family| FamilyId::new(family).unwrap()),
            primary_payer: None,
        }
    }

    fn claim() -> Claim {
        let insurer = InsurerId::new("acme").unwrap();
        let reference = InsurerClaimRef::new("C-1").unwrap();
        Claim {
            id: ClaimId::for_submission(&insurer, &reference),
            insurer,
            insurer_ref: reference,
            member: MemberId::new("M-1").unwrap(),
            provider: ProviderId::new("clinic").unwrap(),
            received_on: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            lines: Vec::new(),
            corrects: None,
        }
    }

    fn recorded_event(metadata: Value) -> RecordedEvent {
        RecordedEvent {
            id: EventId::random(),
            stream: StreamId::from_raw("claim-c"),
            version: 1,
            position: LogPosition::START,
            event_type: "ClaimSubmitted".to_owned(),
            schema_version: 1,
            payload: StoredJson::from_value(&json!({})),
            metadata: StoredJson::from_value(&metadata),
            recorded_at: chrono::Utc::now(),
        }
    }

    fn names(streams: Vec<StreamId>) -> Vec<String> {
        streams
            .iter()
            .map(|stream| stream.as_str().to_owned())
            .collect()
    }

    #[test]
    fn without_an_enrolment_a_claim_names_only_what_it_tells_itself() {
        assert_eq!(
            names(Enrolment::decision_streams(&claim(), None)),
            [
                "member-M-1",
                "provider-clinic",
                "accumulator-M-1-2026",
                "authorizations-M-1"
            ]
        );
    }

    #[test]
    fn an_enrolment_stamped_into_metadata_names_the_plan_and_family_year() {
        let enrolment = Enrolment::of(&member("ppo", Some("F-7")));
        let metadata = enrolment.stamp(json!({ "claim": "c" }));
        assert_eq!(
            metadata,
            json!({ "claim": "c", "enrolment": { "plan": "ppo", "family": "F-7" } })
        );
        let event = recorded_event(metadata);
        let recorded = Enrolment::recorded_with(&event);
        assert_eq!(recorded.as_ref(), Some(&enrolment));
        assert_eq!(
            names(Enrolment::decision_streams(&claim(), recorded.as_ref()))[4..],
            ["plan-ppo", "familyaccumulator-F-7-2026"]
        );
        assert_eq!(Enrolment::recorded_with(&recorded_event(json!({}))), None);
    }

    #[test]
    fn a_member_met_is_remembered_as_last_read() {
        let enrolments = Enrolments::default();
        assert_eq!(enrolments.plan_stream(&claim()), None);
        enrolments.remember(&member("ppo", Some("F-7")));
        enrolments.remember(&member("hmo", None));
        assert_eq!(
            enrolments
                .plan_stream(&claim())
                .map(|plan| plan.as_str().to_owned()),
            Some("plan-hmo".to_owned())
        );
    }
}
