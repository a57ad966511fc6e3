//! The benchmark's insurer on NATS: a plain client, apart from the engine's, that
//! publishes claims through JetStream to `claims.submit.<insurer>` and hears the engine's
//! answers on `claims.ack.<insurer>` and decisions on `claims.outcome.<insurer>`, noting
//! when each arrives.

use crate::intake::{IntakeReply, ReplyStatus};
use crate::outcomes::{DECIDED_NOTICE, NOTICE_HEADER};
use anyhow::Context;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use claims_domain::ClaimId;
use futures::StreamExt;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the insurer heard back, shared with the tasks that listen.
#[derive(Debug, Default)]
pub struct Heard {
    /// Claims the stream stored (a claim reference it had already seen is not counted).
    pub stored: AtomicUsize,
    /// Decisions heard (the first notice of each claim only).
    pub decided: AtomicUsize,
    /// Submissions rejected by intake.
    pub rejected: AtomicUsize,
    /// When each claim's first decision arrived.
    decisions: Mutex<HashMap<ClaimId, Instant>>,
    /// The first rejection's reasons, to say why a run went wrong.
    first_rejection: Mutex<Option<String>>,
}

impl Heard {
    /// When the claim's decision arrived, if it did.
    pub fn decided_at(&self, claim: &ClaimId) -> Option<Instant> {
        self.decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(claim)
            .copied()
    }

    /// Why the first rejected submission was rejected.
    pub fn first_rejection(&self) -> Option<String> {
        self.first_rejection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn decision(&self, claim: ClaimId, at: Instant) {
        let first = self
            .decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(claim, at)
            .is_none();
        if first {
            self.decided.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn answer(&self, reply: &IntakeReply) {
        if reply.status == ReplyStatus::Rejected {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            self.first_rejection
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(|| {
                    format!(
                        "{}: {}",
                        reply.claim_ref.as_deref().unwrap_or("?"),
                        reply.reasons_text()
                    )
                });
        }
    }
}

/// The insurer's connection: publishing and listening.
pub struct Insurer {
    jetstream: jetstream::Context,
    submit_subject: String,
    /// Publish acknowledgements waiting to be checked, in publishing order.
    pending: mpsc::Sender<PublishAckFuture>,
    checker: JoinHandle<anyhow::Result<()>>,
    listeners: Vec<JoinHandle<()>>,
    /// What was heard.
    pub heard: Arc<Heard>,
}

/// Acks the publisher may wait on at once: enough to keep the server busy, few enough
/// that a slow server slows the publisher instead of piling messages up in memory.
const ACKS_IN_FLIGHT: usize = 1024;

impl Insurer {
    /// Connects to `url`, listening on the wire subjects of `insurer` (already in the
    /// engine's namespace, such as `bench-1.claims.outcome.bench-health`).
    pub async fn connect(
        url: &str,
        submit_subject: String,
        ack_subject: String,
        outcome_subject: String,
    ) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("claims-bench-insurer")
            .connect(url)
            .await
            .with_context(|| format!("the benchmark's insurer cannot connect to NATS at {url}"))?;
        let jetstream = jetstream::new(client.clone());
        let heard = Arc::new(Heard::default());
        let outcomes = client.subscribe(outcome_subject).await?;
        let acks = client.subscribe(ack_subject).await?;
        client.flush().await?;
        let listeners = vec![
            tokio::spawn(listen_to_outcomes(outcomes, heard.clone())),
            tokio::spawn(listen_to_answers(acks, heard.clone())),
        ];
        let (pending, waiting) = mpsc::channel(ACKS_IN_FLIGHT);
        Ok(Self {
            jetstream,
            submit_subject,
            pending,
            checker: tokio::spawn(check_acks(waiting, heard.clone())),
            listeners,
            heard,
        })
    }

    /// Publishes a claim through JetStream with its reference as `Nats-Msg-Id`, without
    /// waiting for the stream's acknowledgement (checked in the background, in order).
    pub async fn publish(&self, claim_ref: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let message = PublishMessage::build()
            .payload(body.into())
            .message_id(claim_ref)
            .header("Content-Type", crate::intake::NATIVE_CONTENT_TYPE);
        let ack = self
            .jetstream
            .send_publish(self.submit_subject.clone(), message)
            .await
            .with_context(|| format!("JetStream did not take claim {claim_ref}"))?;
        self.pending
            .send(ack)
            .await
            .context("the acknowledgement checker stopped")?;
        Ok(())
    }

    /// Waits for every acknowledgement and stops listening; fails if the stream refused
    /// a claim.
    pub async fn close(self) -> anyhow::Result<()> {
        drop(self.pending);
        let checked = self.checker.await?;
        for listener in self.listeners {
            listener.abort();
        }
        checked
    }
}

/// Checks the stream's acknowledgements in order; fails on the first the stream refused.
async fn check_acks(
    mut waiting: mpsc::Receiver<PublishAckFuture>,
    heard: Arc<Heard>,
) -> anyhow::Result<()> {
    while let Some(ack) = waiting.recv().await {
        let ack = ack.await.context("JetStream did not store a claim")?;
        if !ack.duplicate {
            heard.stored.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

async fn listen_to_outcomes(mut outcomes: async_nats::Subscriber, heard: Arc<Heard>) {
    while let Some(message) = outcomes.next().await {
        let at = Instant::now();
        let Some(headers) = message.headers.as_ref() else {
            continue;
        };
        if headers.get(NOTICE_HEADER).map(|kind| kind.as_str()) != Some(DECIDED_NOTICE) {
            continue;
        }
        if let Some(claim) = headers
            .get("Claims-Claim-Id")
            .and_then(|id| ClaimId::from_str(id.as_str()).ok())
        {
            heard.decision(claim, at);
        }
    }
}

async fn listen_to_answers(mut answers: async_nats::Subscriber, heard: Arc<Heard>) {
    while let Some(message) = answers.next().await {
        if let Ok(reply) = serde_json::from_slice::<IntakeReply>(&message.payload) {
            heard.answer(&reply);
        }
    }
}
