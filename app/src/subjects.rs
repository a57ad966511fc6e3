//! Every message subject the engine uses, in one place, so the insurer-facing contract can
//! be read at a glance.
//!
//! | subject | direction | what |
//! |---|---|---|
//! | `claims.submit.<insurer>` | insurer → engine | a claim submission |
//! | `claims.ack.<insurer>` | engine → insurer | accepted (with our claim id) or rejected (with reasons), for every submission |
//! | `claims.outcome.<insurer>` | engine → insurer | a claim's decision (FHIR `ClaimResponse`), then its payment |
//! | `claims.reference.<insurer>` | insurer → engine | plans, members, providers |
//! | `claims.reference-ack.<insurer>` | engine → insurer | accepted or rejected, for every reference-data message |
//! | `claims.review.<insurer>` | insurer → engine | a reviewer approves or denies a pended claim |
//! | `claims.review-ack.<insurer>` | engine → insurer | accepted (with the new decision) or rejected, for every review |
//! | `events.<category>.<EventType>.<stream>` | relay → workers | every stored event, in log order |
//! | `deadletter.<queue>` | bus → operators | messages a queue could not process, with the reason |

use claims_adapters::bus::{Subject, SubjectPattern};
use claims_adapters::event_store::RecordedEvent;
use claims_domain::InsurerId;

fn subject(text: String) -> Subject {
    // Every part put in here is a validated subject-safe token (insurer ids, categories,
    // event types, stream ids), so the text is always a valid subject.
    Subject::new(text).unwrap_or_else(|error| unreachable!("engine subject is valid: {error}"))
}

fn pattern(text: &str) -> SubjectPattern {
    SubjectPattern::new(text)
        .unwrap_or_else(|error| unreachable!("engine pattern is valid: {error}"))
}

/// Every subject the engine publishes to or reads from, for a NATS stream to capture.
/// Replies to an insurer's own inbox are left out: they are plain NATS messages.
pub fn stream_subjects() -> Vec<SubjectPattern> {
    vec![
        pattern("claims.>"),
        pattern("events.>"),
        pattern("deadletter.>"),
    ]
}

/// Where an insurer submits claims.
pub fn submit(insurer: &InsurerId) -> Subject {
    subject(format!("claims.submit.{insurer}"))
}

/// Every insurer's submissions.
pub fn all_submissions() -> SubjectPattern {
    pattern("claims.submit.*")
}

/// The insurer that published on `subject`, if it is one of its submission subjects.
pub fn submitter(subject: &Subject) -> Option<InsurerId> {
    insurer_after("claims.submit.", subject)
}

/// The insurer that published on `subject`, if it is one of its reference-data subjects.
pub fn reference_sender(subject: &Subject) -> Option<InsurerId> {
    insurer_after("claims.reference.", subject)
}

/// Where an insurer's reviewers send their decisions on pended claims.
pub fn review(insurer: &InsurerId) -> Subject {
    subject(format!("claims.review.{insurer}"))
}

/// The insurer that published on `subject`, if it is one of its review subjects.
pub fn reviewer_of(subject: &Subject) -> Option<InsurerId> {
    insurer_after("claims.review.", subject)
}

/// Every insurer's reviewer commands.
pub fn all_reviews() -> SubjectPattern {
    pattern("claims.review.*")
}

/// Where the engine answers every reviewer command of an insurer.
pub fn review_ack(insurer: &InsurerId) -> Subject {
    subject(format!("claims.review-ack.{insurer}"))
}

fn insurer_after(prefix: &str, subject: &Subject) -> Option<InsurerId> {
    subject
        .as_str()
        .strip_prefix(prefix)
        .and_then(|token| InsurerId::new(token).ok())
}

/// Where the engine answers every submission of an insurer.
pub fn ack(insurer: &InsurerId) -> Subject {
    subject(format!("claims.ack.{insurer}"))
}

/// Where an insurer sends its reference data.
pub fn reference(insurer: &InsurerId) -> Subject {
    subject(format!("claims.reference.{insurer}"))
}

/// Every insurer's reference data.
pub fn all_reference_data() -> SubjectPattern {
    pattern("claims.reference.*")
}

/// Where the engine answers every reference-data message of an insurer.
pub fn reference_ack(insurer: &InsurerId) -> Subject {
    subject(format!("claims.reference-ack.{insurer}"))
}

/// Where an insurer hears its claims' decisions and payments.
pub fn outcome(insurer: &InsurerId) -> Subject {
    subject(format!("claims.outcome.{insurer}"))
}

/// True for an inbox (`_INBOX.…`), the only kind of subject the engine sends an answer to
/// when a message asks for one (`Claims-Reply-To`). The engine may publish on its own
/// subjects, so answering wherever a message says would let an insurer plant messages in
/// another insurer's submissions or outcomes, or among the engine's events.
pub fn is_inbox(subject: &Subject) -> bool {
    subject.as_str().starts_with("_INBOX.")
}

/// Where to answer a message: `ack`, the insurer's acknowledgement subject, always, and the
/// message's reply subject when it is an inbox ([`is_inbox`]); any other reply subject is
/// logged and not answered.
pub fn answer_targets(ack: Subject, reply_to: Option<&Subject>) -> Vec<Subject> {
    let mut targets = vec![ack];
    match reply_to {
        Some(inbox) if is_inbox(inbox) => targets.push(inbox.clone()),
        Some(elsewhere) => {
            tracing::warn!(subject = %elsewhere, "a reply subject that is not an inbox (_INBOX.…) is not answered");
        }
        None => {}
    }
    targets
}

/// Where the relay publishes a stored event.
pub fn event(recorded: &RecordedEvent) -> Subject {
    subject(format!(
        "events.{}.{}.{}",
        recorded.stream.category(),
        recorded.event_type,
        recorded.stream
    ))
}

/// Every stored event of one type, such as (`claim`, `ClaimSubmitted`).
pub fn events_of_type(category: &str, event_type: &str) -> SubjectPattern {
    pattern(&format!("events.{category}.{event_type}.*"))
}

/// Where a queue's unprocessable messages go.
pub fn dead_letter(queue: &str) -> Subject {
    subject(format!("deadletter.{queue}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insurer(id: &str) -> InsurerId {
        InsurerId::new(id).unwrap()
    }

    #[test]
    fn the_sender_is_read_back_from_the_subject_it_published_on() {
        let acme = insurer("acme-health");
        assert_eq!(submitter(&submit(&acme)), Some(acme.clone()));
        assert_eq!(reference_sender(&submit(&acme)), None);
        assert_eq!(submitter(&ack(&acme)), None);
        let reference = Subject::new("claims.reference.acme-health").unwrap();
        assert_eq!(reference_sender(&reference), Some(acme));
        // `claims.reference-ack.<insurer>` shares no prefix with `claims.reference.`.
        assert_eq!(
            reference_sender(&reference_ack(&insurer("acme-health"))),
            None
        );
        let review = Subject::new("claims.review.acme-health").unwrap();
        assert_eq!(reviewer_of(&review), Some(insurer("acme-health")));
        assert_eq!(reviewer_of(&review_ack(&insurer("acme-health"))), None);
    }

    #[test]
    fn answers_go_to_the_ack_subject_and_only_to_an_inbox() {
        let ack = review_ack(&insurer("acme-health"));
        let inbox = Subject::new("_INBOX.acme-health.r1").unwrap();
        assert_eq!(
            answer_targets(ack.clone(), Some(&inbox)),
            [ack.clone(), inbox]
        );
        let elsewhere = outcome(&insurer("beta-care"));
        assert_eq!(
            answer_targets(ack.clone(), Some(&elsewhere)),
            vec![ack.clone()]
        );
        assert_eq!(answer_targets(ack.clone(), None), [ack]);
    }

    #[test]
    fn only_inboxes_are_answered() {
        assert!(is_inbox(&Subject::new("_INBOX.acme-health.x1").unwrap()));
        assert!(!is_inbox(&outcome(&insurer("beta-care"))));
        assert!(!is_inbox(&Subject::new("_INBOXES.x").unwrap()));
    }
}
