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

/// Every subject the engine publishes to or reads from, except insurers' inboxes: what
/// its NATS user must be allowed, and what a namespace must not begin with.
pub fn engine_subjects() -> Vec<SubjectPattern> {
    vec![
        pattern("claims.>"),
        pattern("events.>"),
        pattern("deadletter.>"),
    ]
}

/// What a NATS stream keeps: everything the engine must not lose, which is what insurers
/// send (claims, reference data, reviews: each work for a queue), every stored event (the
/// workers' queues) and dead letters (for operators).
///
/// What the engine says back (answers on `claims.*-ack.<insurer>`, notices on
/// `claims.outcome.<insurer>`, replies to an insurer's inbox) is not kept: insurers hear it
/// as plain NATS messages, as they always did (their users cannot read the stream), and
/// everything in it can be had again from the store (a claim re-sent after JetStream's
/// duplicate window is answered again; the API serves each claim's `ClaimResponse`). Storing it cost nats-server two of the
/// seven messages it stored per claim (`docs/benchmarks.md`).
pub fn stream_subjects() -> Vec<SubjectPattern> {
    vec![
        pattern("claims.submit.>"),
        pattern("claims.reference.>"),
        pattern("claims.review.>"),
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

/// The inbox prefix of an insurer's client (`_INBOX.<insurer>`): the only inboxes the
/// engine answers that insurer on, and the only ones its NATS user may read
/// (`crate::nats_access`).
pub fn inbox_prefix(insurer: &InsurerId) -> String {
    format!("_INBOX.{insurer}")
}

/// True for an inbox of `insurer` (`_INBOX.<insurer>.…`), the only kind of subject the
/// engine sends an answer to when a message of that insurer asks for one
/// (`Claims-Reply-To`). The engine may publish on its own subjects and on every inbox, so
/// answering wherever a message says would let an insurer plant messages in another
/// insurer's submissions, outcomes or inbox, or among the engine's events.
pub fn is_inbox_of(subject: &Subject, insurer: &InsurerId) -> bool {
    subject
        .as_str()
        .strip_prefix(inbox_prefix(insurer).as_str())
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Where to answer a message from `insurer`: `ack`, the insurer's acknowledgement subject,
/// always, and the message's reply subject when it is one of the insurer's own inboxes
/// ([`is_inbox_of`]); any other reply subject is logged and not answered.
pub fn answer_targets(
    insurer: &InsurerId,
    ack: Subject,
    reply_to: Option<&Subject>,
) -> Vec<Subject> {
    let mut targets = vec![ack];
    match reply_to {
        Some(inbox) if is_inbox_of(inbox, insurer) => targets.push(inbox.clone()),
        Some(elsewhere) => {
            tracing::warn!(%insurer, subject = %elsewhere, "a reply subject that is not one of the insurer's inboxes (_INBOX.<insurer>.…) is not answered");
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
    fn answers_go_to_the_ack_subject_and_only_to_the_senders_inbox() {
        let acme = insurer("acme-health");
        let ack = review_ack(&acme);
        let inbox = Subject::new("_INBOX.acme-health.r1").unwrap();
        assert_eq!(
            answer_targets(&acme, ack.clone(), Some(&inbox)),
            [ack.clone(), inbox]
        );
        for elsewhere in [
            outcome(&insurer("beta-care")),
            Subject::new("_INBOX.beta-care.r1").unwrap(),
            Subject::new("_INBOX.x7f3").unwrap(),
        ] {
            assert_eq!(
                answer_targets(&acme, ack.clone(), Some(&elsewhere)),
                vec![ack.clone()],
                "{elsewhere}"
            );
        }
        assert_eq!(answer_targets(&acme, ack.clone(), None), [ack]);
    }

    #[test]
    fn an_insurers_inboxes_are_under_its_own_prefix_only() {
        let acme = insurer("acme-health");
        assert!(is_inbox_of(
            &Subject::new("_INBOX.acme-health.x1").unwrap(),
            &acme
        ));
        assert!(!is_inbox_of(
            &Subject::new("_INBOX.acme-healthier.x1").unwrap(),
            &acme
        ));
        assert!(!is_inbox_of(
            &Subject::new("_INBOX.beta-care.x1").unwrap(),
            &acme
        ));
        assert!(!is_inbox_of(&outcome(&acme), &acme));
        assert!(!is_inbox_of(
            &Subject::new("_INBOXES.acme-health.x").unwrap(),
            &acme
        ));
    }
}
