//! Non-durable subscriptions on NATS: what the stream stored, heard through its
//! republished copies, and plain messages on subjects the stream does not capture.

use super::{NatsBusConfig, Shared, convert};
use crate::bus::{BusError, Message, Subject, SubjectPattern, Subscription};
use futures::StreamExt;
use futures::future::Either;
use tokio::sync::{mpsc, watch};

/// Subscribes to `pattern` both where the stream republishes and where plain messages
/// arrive, and forwards each message once into the port's [`Subscription`].
pub(super) async fn subscribe(
    shared: &Shared,
    pattern: SubjectPattern,
) -> Result<Subscription, BusError> {
    shared.ensure_running()?;
    let failed = |error: async_nats::SubscribeError| {
        BusError::Unavailable(format!("cannot subscribe to {pattern}: {error}"))
    };
    let heard = shared
        .client
        .subscribe(format!(
            "{}.{}",
            shared.heard_prefix,
            shared.config.on_wire(pattern.as_str())
        ))
        .await
        .map_err(failed)?;
    let plain = shared
        .client
        .subscribe(shared.config.on_wire(pattern.as_str()))
        .await
        .map_err(failed)?;
    let (sender, receiver) = mpsc::unbounded_channel();
    let sorter = Sorter {
        config: shared.config.clone(),
        captured: shared.config.subjects.clone(),
        heard_prefix: format!("{}.", shared.heard_prefix),
    };
    tokio::spawn(forward(
        heard,
        plain,
        sorter,
        sender,
        shared.shutdown.subscribe(),
    ));
    Ok(Subscription::from_receiver(receiver))
}

/// Forwards until the subscriber lets go, the bus shuts down or the connection closes.
/// Dropping the NATS subscriptions unsubscribes them.
async fn forward(
    heard: async_nats::Subscriber,
    plain: async_nats::Subscriber,
    sorter: Sorter,
    sender: mpsc::UnboundedSender<Message>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut incoming = futures::stream::select(heard.map(Either::Left), plain.map(Either::Right));
    loop {
        tokio::select! {
            () = sender.closed() => break,
            _ = shutdown.wait_for(|down| *down) => break,
            next = incoming.next() => {
                let Some(next) = next else { break };
                let message = match next {
                    Either::Left(republished) => sorter.republished(republished),
                    Either::Right(plain) => sorter.plain(plain),
                };
                if let Some(message) = message
                    && sender.send(message).is_err()
                {
                    break;
                }
            }
        }
    }
}

/// Tells which copy of a message to keep.
struct Sorter {
    /// The bus's configuration, to read subjects back out of its namespace.
    config: NatsBusConfig,
    /// The stream's subjects: plain messages on these are heard through the stream instead.
    captured: Vec<SubjectPattern>,
    /// The republishing prefix, with its trailing dot.
    heard_prefix: String,
}

impl Sorter {
    /// A copy the stream republished after storing it: kept, under its original subject.
    fn republished(&self, message: async_nats::Message) -> Option<Message> {
        let subject = message.subject.as_str().strip_prefix(&self.heard_prefix)?;
        let subject = self.config.off_wire(subject);
        convert::from_nats(subject, None, message.headers.as_ref(), message.payload)
            .inspect_err(|error| {
                tracing::warn!(%error, "a republished message the bus cannot represent was skipped");
            })
            .ok()
    }

    /// A plain message: kept only if the stream does not capture its subject (else its
    /// stored copy is heard, and a dropped duplicate is not).
    fn plain(&self, message: async_nats::Message) -> Option<Message> {
        if message.subject.as_str().starts_with(&self.heard_prefix) {
            return None;
        }
        let subject = self.config.off_wire(message.subject.as_str());
        let parsed = Subject::new(subject).ok()?;
        if self.captured.iter().any(|pattern| pattern.matches(&parsed)) {
            return None;
        }
        convert::from_nats(
            subject,
            message.reply.as_ref().map(|reply| reply.as_str()),
            message.headers.as_ref(),
            message.payload,
        )
        .inspect_err(|error| {
            tracing::warn!(%error, "a message the bus cannot represent was skipped");
        })
        .ok()
    }
}
