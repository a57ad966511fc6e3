//! `claims submit`: the insurer's side of NATS. Publishes claim files to
//! `claims.submit.<insurer>` through JetStream, as `docs/interfaces.md` tells an insurer to,
//! and reports the engine's answer to each (and, if asked, its decision).
//!
//! Each file is sent as it is: native JSON, or a FHIR R4 `Claim` (a JSON object with a
//! `resourceType`, or a file named `*.fhir.json`) with `Content-Type: application/fhir+json`.
//! Its claim reference (`claim_ref`, or the FHIR `identifier` value) is the `Nats-Msg-Id`,
//! so sending a file twice is one claim. The engine's answer comes back on this client's
//! own inbox (`Claims-Reply-To`), under `_INBOX.<insurer>.`, the inbox an insurer's NATS
//! user may read (`claims nats-config`).

use crate::fhir::FHIR_CONTENT_TYPE;
use crate::intake::{IntakeReply, NATIVE_CONTENT_TYPE, ReplyStatus};
use crate::outcomes::{CANCELLED_NOTICE, DECIDED_NOTICE, NOTICE_HEADER};
use crate::subjects;
use async_nats::HeaderMap;
use async_nats::jetstream;
use claims_adapters::bus::{NatsCredentials, connect_options};
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// What to submit, where, as whom.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// The NATS server.
    pub nats_url: String,
    /// The insurer submitting (its subjects and its NATS user).
    pub insurer: InsurerId,
    /// The subject namespace the engine runs under (`claims serve --nats-namespace`), if
    /// any: `staging` sends to `staging.claims.submit.<insurer>`.
    pub namespace: Option<String>,
    /// How to authenticate.
    pub credentials: NatsCredentials,
    /// The claim files.
    pub files: Vec<PathBuf>,
    /// Also wait for each accepted claim's decision.
    pub wait_decision: bool,
    /// How long to wait for every answer (and decision) in all.
    pub timeout: Duration,
}

impl SubmitOptions {
    /// Where `subject` travels on the wire, under the namespace if there is one.
    fn on_wire(&self, subject: claims_adapters::bus::Subject) -> String {
        claims_adapters::bus::wire_subject(self.namespace.as_deref(), subject.as_str())
    }
}

/// How a file is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The native JSON submission.
    Native,
    /// A FHIR R4 `Claim`.
    Fhir,
}

impl Format {
    /// The `Content-Type` it is sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Native => NATIVE_CONTENT_TYPE,
            Format::Fhir => FHIR_CONTENT_TYPE,
        }
    }
}

/// A file's format and claim reference, read from its name and content. A file that is
/// not JSON, or has no readable reference, is still sent (without a message id): the
/// engine's answer says what is wrong with it.
pub fn classify(name: &str, content: &[u8]) -> (Format, Option<String>) {
    let json = serde_json::from_slice::<serde_json::Value>(content).ok();
    let is_fhir = name.ends_with(".fhir.json")
        || json
            .as_ref()
            .is_some_and(|value| value.get("resourceType").is_some());
    let reference = json.as_ref().and_then(|value| {
        if is_fhir {
            value
                .get("identifier")?
                .as_array()?
                .iter()
                .find_map(|identifier| identifier.get("value")?.as_str())
        } else {
            value.get("claim_ref")?.as_str()
        }
    });
    let format = if is_fhir {
        Format::Fhir
    } else {
        Format::Native
    };
    (format, reference.map(str::to_owned))
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The engine accepted it (again, when `duplicate`).
    Accepted {
        /// The engine's claim id.
        claim_id: ClaimId,
        /// It had been accepted before.
        duplicate: bool,
        /// The claim it voided, when it was a void.
        voided: Option<ClaimId>,
    },
    /// JetStream dropped it as a message id it already had: the claim was sent moments ago.
    AlreadyReceived {
        /// The claim id the engine gives that reference.
        claim_id: Option<ClaimId>,
    },
    /// The engine refused it.
    Rejected(IntakeReply),
    /// It could not be read or sent.
    NotSent(String),
    /// No answer came in time.
    Unanswered,
}

/// A claim's decision, as its `ClaimResponse` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `complete` or `queued`.
    pub outcome: String,
    /// Such as `approved` or why it was denied or pended.
    pub disposition: String,
    /// What the plan pays, as written (`695.00 USD`), when the response has it.
    pub benefit: Option<String>,
}

/// One file's report.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Its claim reference, when readable.
    pub claim_ref: Option<String>,
    /// The answer.
    pub answer: Answer,
    /// The decision, when waited for and heard.
    pub decision: Option<Decision>,
}

/// Every file's report.
#[derive(Debug, Clone)]
pub struct SubmitReport {
    /// In the order given.
    pub files: Vec<FileReport>,
    /// Whether decisions were waited for.
    pub waited_for_decisions: bool,
}

impl SubmitReport {
    /// True when every file was accepted (or already received) and, if decisions were
    /// waited for, every new claim's decision arrived.
    pub fn all_accepted(&self) -> bool {
        self.files.iter().all(|report| match report.answer {
            Answer::Accepted { duplicate, .. } => {
                !self.waited_for_decisions || duplicate || report.decision.is_some()
            }
            Answer::AlreadyReceived { .. } => true,
            _ => false,
        })
    }
}

/// Why submitting could not start.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The credentials could not be used.
    #[error(transparent)]
    Credentials(#[from] claims_adapters::bus::NatsBusError),
    /// The server could not be reached or refused the user.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// The client could not listen for answers (the user may not read its inbox).
    #[error("cannot listen for the engine's answers on {subject}: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        source: async_nats::SubscribeError,
    },
}

/// Sends every file and gathers the answers.
pub async fn run(options: &SubmitOptions) -> Result<SubmitReport, SubmitError> {
    let client = connect_options(&options.credentials)
        .await?
        .name(format!("claims-submit-{}", options.insurer))
        .custom_inbox_prefix(subjects::inbox_prefix(&options.insurer))
        .connect(options.nats_url.as_str())
        .await
        .map_err(|source| SubmitError::Connect {
            url: options.nats_url.clone(),
            source,
        })?;
    let subscribe = |subject: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(subject.clone())
                .await
                .map_err(|source| SubmitError::Subscribe { subject, source })
        }
    };
    let inbox = client.new_inbox();
    let mut answers = subscribe(format!("{inbox}.*")).await?;
    let mut outcomes = if options.wait_decision {
        Some(subscribe(options.on_wire(subjects::outcome(&options.insurer))).await?)
    } else {
        None
    };
    // The subscriptions reach the server before the first claim can be answered.
    let _ = client.flush().await;
    let jetstream = jetstream::new(client.clone());

    let mut reports = Vec::new();
    for (index, file) in options.files.iter().enumerate() {
        let (claim_ref, answer) =
            send(&jetstream, options, file, &format!("{inbox}.{index}")).await;
        reports.push(FileReport {
            file: file.clone(),
            claim_ref,
            answer,
            decision: None,
        });
    }

    let deadline = Instant::now() + options.timeout;
    let mut waiting: usize = reports
        .iter()
        .filter(|report| report.answer == Answer::Unanswered)
        .count();
    while waiting > 0 {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await else {
            break;
        };
        let Some(index) = message
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .and_then(|token| token.parse::<usize>().ok())
        else {
            continue;
        };
        let Ok(reply) = serde_json::from_slice::<IntakeReply>(&message.payload) else {
            continue;
        };
        if let Some(report) = reports.get_mut(index)
            && report.answer == Answer::Unanswered
        {
            report.answer = match (reply.status, reply.claim_id) {
                (ReplyStatus::Accepted, Some(claim_id)) => Answer::Accepted {
                    claim_id,
                    duplicate: reply.duplicate,
                    voided: reply.voided,
                },
                _ => Answer::Rejected(reply),
            };
            waiting -= 1;
        }
    }

    if let Some(outcomes) = outcomes.as_mut() {
        await_decisions(outcomes, &mut reports, deadline).await;
    }
    Ok(SubmitReport {
        files: reports,
        waited_for_decisions: options.wait_decision,
    })
}

/// Publishes one file through JetStream with its answer going to `reply_to`.
async fn send(
    jetstream: &jetstream::Context,
    options: &SubmitOptions,
    file: &PathBuf,
    reply_to: &str,
) -> (Option<String>, Answer) {
    let content = match std::fs::read(file) {
        Ok(content) => content,
        Err(error) => return (None, Answer::NotSent(format!("cannot read it: {error}"))),
    };
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let (format, claim_ref) = classify(name.as_deref().unwrap_or_default(), &content);
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", format.content_type());
    headers.insert("Claims-Reply-To", reply_to);
    if let Some(reference) = &claim_ref {
        // A reference NATS cannot carry in a header is left to the engine to refuse.
        if let Ok(value) = reference.parse::<async_nats::HeaderValue>() {
            headers.insert("Nats-Msg-Id", value);
        }
    }
    let subject = options.on_wire(subjects::submit(&options.insurer));
    let stored = match jetstream
        .publish_with_headers(subject.clone(), headers, content.into())
        .await
    {
        Ok(ack) => ack.await,
        Err(error) => {
            return (
                claim_ref,
                Answer::NotSent(format!("NATS did not take it: {error}")),
            );
        }
    };
    let answer = match stored {
        Ok(ack) if ack.duplicate => Answer::AlreadyReceived {
            claim_id: claim_ref
                .as_deref()
                .and_then(|reference| InsurerClaimRef::new(reference).ok())
                .map(|reference| ClaimId::for_submission(&options.insurer, &reference)),
        },
        Ok(_) => Answer::Unanswered,
        Err(error) => Answer::NotSent(format!(
            "JetStream did not store it on {subject} (is the engine's stream there, and may this user publish to it?): {error}"
        )),
    };
    (claim_ref, answer)
}

/// Waits for the `ClaimResponse` of every claim accepted for the first time: its decision
/// (`decided`), or for a void, which is not decided itself, the cancelled response of the
/// claim it voided (`cancelled`).
async fn await_decisions(
    outcomes: &mut async_nats::Subscriber,
    reports: &mut [FileReport],
    deadline: Instant,
) {
    let mut pending: BTreeMap<(ClaimId, &'static str), usize> = reports
        .iter()
        .enumerate()
        .filter_map(|(index, report)| match report.answer {
            Answer::Accepted {
                duplicate: false,
                voided: Some(original),
                ..
            } => Some(((original, CANCELLED_NOTICE), index)),
            Answer::Accepted {
                claim_id,
                duplicate: false,
                voided: None,
            } => Some(((claim_id, DECIDED_NOTICE), index)),
            _ => None,
        })
        .collect();
    while !pending.is_empty() {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, outcomes.next()).await else {
            return;
        };
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .map(|value| value.as_str().to_owned())
        };
        let notice = match header(NOTICE_HEADER).as_deref() {
            Some(DECIDED_NOTICE) => DECIDED_NOTICE,
            Some(CANCELLED_NOTICE) => CANCELLED_NOTICE,
            _ => continue,
        };
        let Some(claim) = header("Claims-Claim-Id").and_then(|id| id.parse::<ClaimId>().ok())
        else {
            continue;
        };
        if let Some(index) = pending.remove(&(claim, notice))
            && let Some(report) = reports.get_mut(index)
        {
            report.decision = decision(&message.payload);
        }
    }
}

#[derive(Deserialize)]
struct ClaimResponse {
    outcome: String,
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    total: Vec<Total>,
}

#[derive(Deserialize)]
struct Total {
    category: Concept,
    amount: Amount,
}

#[derive(Deserialize)]
struct Concept {
    coding: Vec<Code>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Amount {
    // The exact text of the number: money is never read through a float.
    value: Box<RawValue>,
    currency: String,
}

fn decision(payload: &[u8]) -> Option<Decision> {
    let response: ClaimResponse = serde_json::from_slice(payload).ok()?;
    let benefit = response
        .total
        .iter()
        .find(|total| {
            total
                .category
                .coding
                .iter()
                .any(|code| code.code == "benefit")
        })
        .map(|total| format!("{} {}", total.amount.value.get(), total.amount.currency));
    Some(Decision {
        outcome: response.outcome,
        disposition: response.disposition,
        benefit,
    })
}

/// The report as lines for a person: one per file, a reason per line under a rejection,
/// then a count.
pub fn render(report: &SubmitReport) -> String {
    let mut text = String::new();
    let (mut accepted, mut rejected, mut other) = (0, 0, 0);
    for file in &report.files {
        let name = file.file.display();
        let reference = file.claim_ref.as_deref().unwrap_or("(no claim reference)");
        match &file.answer {
            Answer::Accepted {
                claim_id,
                duplicate,
                voided,
            } => {
                accepted += 1;
                let again = if *duplicate {
                    " (accepted before: the same claim)"
                } else {
                    ""
                };
                let voids = voided.map_or_else(String::new, |original| {
                    format!(", voiding claim {original}")
                });
                let _ = writeln!(
                    text,
                    "{name}: accepted {reference} as claim {claim_id}{voids}{again}"
                );
            }
            Answer::AlreadyReceived { claim_id } => {
                accepted += 1;
                let id = claim_id.map_or_else(String::new, |id| format!(" (claim {id})"));
                let _ = writeln!(
                    text,
                    "{name}: {reference} was already received moments ago{id}; not sent again"
                );
            }
            Answer::Rejected(reply) => {
                rejected += 1;
                let _ = writeln!(text, "{name}: rejected {reference}");
                for reason in &reply.reasons {
                    let at = reason
                        .path
                        .as_deref()
                        .map_or_else(String::new, |path| format!(" (at {path})"));
                    let _ = writeln!(text, "  {}: {}{at}", reason.code, reason.message);
                }
            }
            Answer::NotSent(why) => {
                other += 1;
                let _ = writeln!(text, "{name}: not sent: {why}");
            }
            Answer::Unanswered => {
                other += 1;
                let _ = writeln!(text, "{name}: {reference} sent, but no answer in time");
            }
        }
        if let Some(decision) = &file.decision
            && let Answer::Accepted {
                voided: Some(original),
                ..
            } = file.answer
        {
            let _ = writeln!(
                text,
                "{name}: claim {original} cancelled: {}",
                decision.disposition
            );
        } else if let Some(decision) = &file.decision {
            let pays = decision
                .benefit
                .as_deref()
                .map_or_else(String::new, |benefit| format!(", the plan pays {benefit}"));
            let _ = writeln!(
                text,
                "{name}: decided {reference}: {} ({}){pays}",
                decision.disposition, decision.outcome
            );
        } else if report.waited_for_decisions
            && matches!(
                file.answer,
                Answer::Accepted {
                    duplicate: false,
                    ..
                }
            )
        {
            other += 1;
            let _ = match file.answer {
                Answer::Accepted {
                    voided: Some(original),
                    ..
                } => writeln!(text, "{name}: claim {original} not heard cancelled in time"),
                _ => writeln!(text, "{name}: no decision for {reference} in time"),
            };
        }
    }
    let _ = writeln!(
        text,
        "{} files: {accepted} accepted, {rejected} rejected, {other} without an answer",
        report.files.len()
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_fhir_by_its_resource_type_or_its_name() {
        let native = br#"{"claim_ref": "ACME-1", "member": "M-1"}"#;
        assert_eq!(
            classify("a.json", native),
            (Format::Native, Some("ACME-1".to_owned()))
        );
        let fhir =
            br#"{"resourceType": "Claim", "identifier": [{"system": "x"}, {"value": "ACME-2"}]}"#;
        assert_eq!(
            classify("b.json", fhir),
            (Format::Fhir, Some("ACME-2".to_owned()))
        );
        assert_eq!(classify("c.fhir.json", b"not json"), (Format::Fhir, None));
        assert_eq!(classify("d.json", b"not json"), (Format::Native, None));
    }

    #[test]
    fn a_decision_keeps_the_benefit_as_written() {
        let response = br#"{"resourceType": "ClaimResponse", "outcome": "complete", "disposition": "approved",
            "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 180.00, "currency": "USD"}},
                      {"category": {"coding": [{"code": "benefit"}]}, "amount": {"value": 76.00, "currency": "USD"}}]}"#;
        assert_eq!(
            decision(response),
            Some(Decision {
                outcome: "complete".to_owned(),
                disposition: "approved".to_owned(),
                benefit: Some("76.00 USD".to_owned()),
            })
        );
    }
}
