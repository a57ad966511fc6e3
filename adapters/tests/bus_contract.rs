//! The contract of the message-bus port, run against every implementation.
//!
//! Each check is an `async fn` that takes a bus and asserts what the port's documentation
//! promises. Every check works in its own subject namespace and queue names, which its
//! fixture hands it, so the same checks can share one NATS server. `bus_contract!` turns
//! the whole list into tests for one implementation, given an `async fn` that makes a bus:
//! once for the in-process bus, once for NATS JetStream.

#![allow(
    clippy::unwrap_used,
    reason = "the checks are tests run through a macro; an unexpected error should fail them loudly"
)]

use bytes::Bytes;
use claims_adapters::bus::{
    BusError, Delivery, InProcessBus, Message, MessageBus, Subject, SubjectPattern, Subscription,
    WorkQueue, WorkQueueSpec, dead_letter_headers,
};
use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A bus under test, with whatever must live as long as it (such as a server).
struct Fixture {
    bus: Arc<dyn MessageBus>,
    /// The first subject token of the check run on this bus: unique to the fixture, so
    /// that a bus on a shared server can capture exactly its check's subjects.
    namespace: String,
    _keep: Box<dyn Any + Send>,
}

/// Instantiates every check as a test against the buses made by `$fresh`.
macro_rules! bus_contract {
    ($fresh:path) => {
        bus_contract!(
            $fresh;
            a_queue_captures_what_is_published_after_it_is_declared,
            every_queue_gets_its_own_copy,
            workers_sharing_a_queue_each_get_different_messages,
            a_batch_takes_what_is_ready_up_to_its_size_in_order,
            a_batch_does_not_wait_for_more_than_is_ready,
            each_delivery_of_a_batch_is_answered_on_its_own,
            an_acked_message_is_not_delivered_again,
            a_nak_redelivers_with_the_next_attempt,
            a_nak_with_a_delay_waits_and_the_rest_keep_their_order,
            after_max_deliveries_a_message_is_dead_lettered,
            a_rejected_message_is_dead_lettered_at_once,
            a_dropped_delivery_is_delivered_again,
            an_unacknowledged_delivery_is_redelivered_after_ack_wait,
            a_delivery_in_progress_is_kept_past_ack_wait_without_spending_an_attempt,
            an_unacknowledged_last_delivery_is_dead_lettered,
            a_message_id_is_published_once,
            messages_published_together_keep_their_order_and_ids,
            a_subscription_hears_later_matching_messages,
            re_declaring_a_queue_keeps_it_unless_the_spec_differs,
            an_oversized_message_is_refused,
        );
    };
    ($fresh:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = $fresh().await;
                super::$check(fixture.bus.clone(), Namespace(fixture.namespace.clone())).await;
            }
        )+
    };
}

mod in_process {
    use super::*;

    async fn fresh() -> Fixture {
        Fixture {
            bus: Arc::new(InProcessBus::new()),
            namespace: Namespace::new().0,
            _keep: Box::new(()),
        }
    }

    bus_contract!(fresh);
}

/// The NATS JetStream bus, against the server at `CLAIMS_TEST_NATS_URL` (default
/// `nats://127.0.0.1:4222`, which `scripts/test.sh` starts). Without a server these tests
/// fail rather than skip. Each fixture gets its own stream, capturing only its check's
/// namespace, and deletes it when dropped, so runs against a long-lived server do not
/// collide or pile up.
mod nats {
    use super::*;
    use claims_adapters::bus::{NatsBus, NatsBusConfig, NatsBusError};

    pub(super) fn url() -> String {
        std::env::var("CLAIMS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
    }

    async fn fresh() -> Fixture {
        let (bus, namespace, cleanup) = connect().await;
        Fixture {
            bus: Arc::new(bus),
            namespace: namespace.0,
            _keep: Box::new(cleanup),
        }
    }

    /// A bus on a stream of its own, capturing only a fresh namespace.
    async fn connect() -> (NatsBus, Namespace, DeleteStream) {
        connect_with(None).await
    }

    /// The same, with every subject also put under `wire` on the wire
    /// ([`NatsBusConfig::namespace`]).
    pub(super) async fn connect_with(wire: Option<String>) -> (NatsBus, Namespace, DeleteStream) {
        connect_capturing(wire, &[">"]).await
    }

    /// The same, with the stream capturing only `captured` of the check's namespace:
    /// other subjects travel plain.
    pub(super) async fn connect_capturing(
        wire: Option<String>,
        captured: &[&str],
    ) -> (NatsBus, Namespace, DeleteStream) {
        let namespace = Namespace::new();
        let stream = format!("CLAIMS_TEST_{}", namespace.0);
        let subjects = captured
            .iter()
            .map(|rest| namespace.pattern(rest))
            .collect();
        let config = NatsBusConfig {
            // Leftovers of an interrupted run expire on their own.
            max_age: Duration::from_secs(15 * 60),
            namespace: wire,
            ..NatsBusConfig::new(url(), stream.clone(), subjects)
        };
        // nats-server 2.9 can fail a stream creation (error 10077, "could not create
        // storage directory") while another fixture deletes the account's last stream, so
        // setting up is tried a few times; a missing server fails at once.
        let mut attempts = 0;
        let bus = loop {
            attempts += 1;
            match NatsBus::connect(config.clone()).await {
                Ok(bus) => break bus,
                Err(NatsBusError::Stream { .. }) if attempts < 5 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!(
                    "the NATS bus contract needs nats-server with JetStream at {} \
                     (scripts/test.sh starts one; or set CLAIMS_TEST_NATS_URL): {error}",
                    url()
                ),
            }
        };
        (bus, namespace, DeleteStream { stream })
    }

    /// Deletes the fixture's stream (and with it the queues' consumers) when the check
    /// ends, passed or failed. Drop cannot await, so it runs on a thread of its own.
    pub(super) struct DeleteStream {
        stream: String,
    }

    impl DeleteStream {
        /// The fixture's stream as a plain client sees it, to do what an operator would
        /// (delete a consumer, change its settings).
        async fn on_the_server(&self) -> async_nats::jetstream::stream::Stream {
            let client = async_nats::connect(url()).await.unwrap();
            async_nats::jetstream::new(client)
                .get_stream(&self.stream)
                .await
                .unwrap()
        }
    }

    impl Drop for DeleteStream {
        fn drop(&mut self) {
            let stream = self.stream.clone();
            let deleted = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())?;
                runtime.block_on(async {
                    let client = async_nats::connect(url())
                        .await
                        .map_err(|error| error.to_string())?;
                    async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await
                        .map(drop)
                        .map_err(|error| error.to_string())
                })
            })
            .join();
            if let Ok(Err(error)) = deleted {
                eprintln!("could not delete test stream {}: {error}", self.stream);
            }
        }
    }

    bus_contract!(fresh);

    /// A stream made by an earlier version republishes what it stores, and nats-server
    /// 2.9 refuses to change that: the bus takes such a stream as it is rather than fail
    /// to start, and its subscriptions still hear each stored message once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_that_republishes_is_taken_as_it_is() {
        let namespace = Namespace::new();
        let stream = format!("CLAIMS_TEST_{}", namespace.0);
        let cleanup = DeleteStream {
            stream: stream.clone(),
        };
        let jetstream = async_nats::jetstream::new(async_nats::connect(url()).await.unwrap());
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![format!("{}.>", namespace.0)],
                max_age: Duration::from_secs(15 * 60),
                republish: Some(async_nats::jetstream::stream::Republish {
                    source: ">".to_owned(),
                    destination: format!("_CLAIMS_BUS.{stream}.>"),
                    headers_only: false,
                }),
                ..Default::default()
            })
            .await
            .unwrap();

        let config = NatsBusConfig {
            max_age: Duration::from_secs(15 * 60),
            ..NatsBusConfig::new(url(), stream.clone(), vec![namespace.pattern(">")])
        };
        let bus = NatsBus::connect(config)
            .await
            .expect("the bus should start on a stream that republishes");
        let mut subscription = bus.subscribe(namespace.pattern("work")).await.unwrap();
        let mut queue = bus
            .work_queue(namespace.queue("intake", &["work"]))
            .await
            .unwrap();
        let sent = namespace.message("work", "job").with_id("job-1");
        bus.publish(sent.clone()).await.unwrap();
        bus.publish(sent).await.unwrap();

        assert_eq!(payload(&heard(&mut subscription).await), "job");
        heard_nothing(&mut subscription).await;
        next(&mut queue).await.ack().await.unwrap();
        assert_quiet(next_within(&mut queue, QUIET).await);
        drop(cleanup);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_typed_error() {
        let config = NatsBusConfig::new(
            "nats://127.0.0.1:1",
            "CLAIMS_TEST_UNREACHABLE",
            vec![SubjectPattern::new("claims.>").unwrap()],
        );
        let refused = NatsBus::connect(config).await;
        assert!(
            matches!(refused, Err(NatsBusError::Connect { .. })),
            "{refused:?}"
        );
    }

    /// nats-server can leave a `no_wait` fetch open without sending anything: when what it
    /// counted as pending goes to another worker's request first, or, as here, when the
    /// consumer already has as many deliveries unacknowledged as it allows. The batch in
    /// hand must not wait on such a fetch for long.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_in_hand_does_not_wait_long_on_a_fetch_the_server_leaves_open() {
        let (bus, ns, cleanup) = connect().await;
        let spec = ns.queue("intake", &["work"]);
        let mut queue = bus.work_queue(spec.clone()).await.unwrap();
        one_unacknowledged_at_a_time(&cleanup, &spec).await;

        bus.publish_all(vec![ns.message("work", "a"), ns.message("work", "b")])
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let batch = next_batch_within(&mut queue, 10, Duration::from_secs(10)).await;
        let waited = started.elapsed();
        assert_eq!(payloads(&batch), ["a"]);
        assert!(
            waited < Duration::from_secs(1),
            "the batch waited {waited:?} for a fetch that brought nothing"
        );
        for delivery in batch {
            delivery.ack().await.unwrap();
        }
        // What the open fetch catches later is delivered, not lost, and not handed back
        // to the server either, which would spend one of its attempts.
        let rest = next_batch_within(&mut queue, 10, Duration::from_secs(10)).await;
        assert_eq!(payloads(&rest), ["b"]);
        assert_eq!(rest[0].attempt, 1, "the open fetch spent an attempt of b");
        for delivery in rest {
            delivery.ack().await.unwrap();
        }
    }

    /// What such a fetch brings while the worker is busy waits for the worker's next call.
    /// If it waited there past its `ack_wait`, the server has taken it back: the worker
    /// gets the server's next delivery of it, not the stale copy as well, which it would
    /// work alongside whoever has the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_left_waiting_past_its_ack_wait_comes_once_as_the_next_attempt() {
        let (bus, ns, cleanup) = connect().await;
        let spec = WorkQueueSpec {
            ack_wait: Duration::from_secs(2),
            ..ns.queue("intake", &["work"])
        };
        let mut queue = bus.work_queue(spec.clone()).await.unwrap();
        one_unacknowledged_at_a_time(&cleanup, &spec).await;
        bus.publish_all(vec![ns.message("work", "a"), ns.message("work", "b")])
            .await
            .unwrap();
        let batch = next_batch_within(&mut queue, 10, Duration::from_secs(10)).await;
        assert_eq!(payloads(&batch), ["a"]);
        for delivery in batch {
            // The fetch left open now brings b, and the worker is busy past b's ack_wait.
            delivery.ack().await.unwrap();
        }
        tokio::time::sleep(spec.ack_wait + Duration::from_secs(1)).await;

        let again = next_batch_within(&mut queue, 10, Duration::from_secs(10)).await;
        assert_eq!(payloads(&again), ["b"]);
        assert_eq!(again[0].attempt, 2, "the stale copy of b was delivered");
        for delivery in again {
            delivery.ack().await.unwrap();
        }
        assert_quiet(next_within(&mut queue, spec.ack_wait + QUIET).await);
    }

    /// Takes and acknowledges what `first` (and `second`, if given) deliver, adding each
    /// payload to `delivered`, until `wanted` is among them or ten seconds pass.
    async fn take_until(
        wanted: &str,
        delivered: &mut Vec<String>,
        first: &mut Box<dyn WorkQueue>,
        mut second: Option<&mut Box<dyn WorkQueue>>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !delivered.iter().any(|seen| seen == wanted) && Instant::now() < deadline {
            let delivery = match second.as_deref_mut() {
                Some(second) => tokio::select! {
                    delivery = next_within(first, QUIET) => delivery,
                    delivery = next_within(second, QUIET) => delivery,
                },
                None => next_within(first, QUIET).await,
            };
            if let Some(delivery) = delivery {
                delivered.push(payload(&delivery.message));
                delivery.ack().await.unwrap();
            }
        }
    }

    /// Fails unless one of two processes' queues delivers `wanted` within ten seconds.
    async fn delivered_again(
        wanted: &str,
        delivered: &mut Vec<String>,
        first: &mut Box<dyn WorkQueue>,
        second: &mut Box<dyn WorkQueue>,
    ) {
        take_until(wanted, delivered, first, Some(second)).await;
        assert!(
            delivered.iter().any(|seen| seen == wanted),
            "{wanted:?} was skipped; delivered: {delivered:?}"
        );
    }

    /// Lets the queue's consumer have one unacknowledged delivery at a time: a second
    /// message stays pending while the first is in hand.
    async fn one_unacknowledged_at_a_time(cleanup: &DeleteStream, spec: &WorkQueueSpec) {
        let stream = cleanup.on_the_server().await;
        let mut consumer = stream
            .consumer_info(&spec.name)
            .await
            .unwrap()
            .config
            .clone();
        consumer.max_ack_pending = 1;
        stream
            .create_consumer(consumer)
            .await
            .expect("allowing one unacknowledged delivery");
    }

    /// An operator who deletes a queue's consumer on the server (`nats consumer rm`) does
    /// not stop the queue: the bus declares it again, and neither the message in hand when
    /// it went nor one published after it is lost; what was acknowledged before is not
    /// delivered again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queue_whose_consumer_is_deleted_on_the_server_is_declared_again() {
        let (bus, ns, cleanup) = connect().await;
        let spec = ns.queue("intake", &["work"]);
        let mut queue = bus.work_queue(spec.clone()).await.unwrap();
        bus.publish(ns.message("work", "done")).await.unwrap();
        next(&mut queue).await.ack().await.unwrap();
        bus.publish(ns.message("work", "in hand")).await.unwrap();
        let in_hand = next(&mut queue).await;

        let stream = cleanup.on_the_server().await;
        let declared = stream
            .consumer_info(&spec.name)
            .await
            .unwrap()
            .config
            .clone();
        stream
            .delete_consumer(&spec.name)
            .await
            .expect("deleting the queue's consumer");
        bus.publish(ns.message("work", "after")).await.unwrap();
        // The worker's answer goes to a consumer that no longer exists, or, if the bus
        // heard of the deletion first and declared the consumer again, nowhere.
        in_hand
            .nak(None, "failed while the consumer was gone")
            .await
            .unwrap();

        let mut delivered = Vec::new();
        for _ in 0..2 {
            let delivery = next_within(&mut queue, Duration::from_secs(5))
                .await
                .expect("the queue should deliver again once its consumer is back");
            delivered.push((payload(&delivery.message), delivery.attempt));
            delivery.ack().await.unwrap();
        }
        // In either order: when the consumer is declared again before the worker's nak
        // reaches the server, the new message has been seen to come first.
        delivered.sort();
        assert_eq!(
            delivered,
            [("after".to_owned(), 1), ("in hand".to_owned(), 1)]
        );
        assert_quiet(next_within(&mut queue, QUIET).await);
        // Declared again as the spec says: the same filter, attempts and dead letters.
        let again = stream
            .consumer_info(&spec.name)
            .await
            .unwrap()
            .config
            .clone();
        assert_eq!(
            (
                again.description,
                again.filter_subject,
                again.max_deliver,
                again.ack_wait
            ),
            (
                declared.description,
                declared.filter_subject,
                declared.max_deliver,
                declared.ack_wait
            )
        );
    }

    /// Two processes share a queue; the consumer is deleted while the second holds a
    /// message, and the first declares it again from after that message (it knows only
    /// its own). When the second hands its message back, it finds the consumer starting
    /// after it and declares it again from there: the message is delivered again, not
    /// skipped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_another_process_holds_is_not_skipped_when_the_consumer_is_declared_again() {
        let (first, ns, cleanup) = connect().await;
        let second = NatsBus::connect(first.config().clone()).await.unwrap();
        let spec = ns.queue("intake", &["work"]);
        let mut first_queue = first.work_queue(spec.clone()).await.unwrap();
        let mut second_queue = second.work_queue(spec.clone()).await.unwrap();
        first
            .publish(ns.message("work", "held by the second"))
            .await
            .unwrap();
        let in_hand = next(&mut second_queue).await;
        first
            .publish(ns.message("work", "done by the first"))
            .await
            .unwrap();
        next(&mut first_queue).await.ack().await.unwrap();

        let stream = cleanup.on_the_server().await;
        stream.delete_consumer(&spec.name).await.unwrap();
        first.publish(ns.message("work", "after")).await.unwrap();
        // The first process's pull fails and it declares the consumer again, perhaps after
        // what it was given (the second may have been quicker, hearing of the deletion).
        let mut delivered = Vec::new();
        take_until("after", &mut delivered, &mut first_queue, None).await;
        in_hand
            .nak(None, "failed after the consumer was deleted")
            .await
            .unwrap();

        delivered_again(
            "held by the second",
            &mut delivered,
            &mut first_queue,
            &mut second_queue,
        )
        .await;
        second.shutdown();
    }

    /// The same when the second process handed its message back before the deletion and
    /// has no pull open to fail: it hears the server announce the deletion, and looks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_another_process_handed_back_before_the_consumer_was_deleted_is_not_skipped()
    {
        let (first, ns, cleanup) = connect().await;
        let second = NatsBus::connect(first.config().clone()).await.unwrap();
        let spec = ns.queue("intake", &["work"]);
        let mut first_queue = first.work_queue(spec.clone()).await.unwrap();
        let mut second_queue = second.work_queue(spec.clone()).await.unwrap();
        first
            .publish(ns.message("work", "handed back"))
            .await
            .unwrap();
        // Handed back for a later attempt, which the deleted consumer will never make.
        next(&mut second_queue)
            .await
            .nak(
                Some(Duration::from_secs(60)),
                "failed before the consumer was deleted",
            )
            .await
            .unwrap();
        first.publish(ns.message("work", "done")).await.unwrap();
        let done = next(&mut first_queue).await;
        assert_eq!(payload(&done.message), "done");
        done.ack().await.unwrap();
        let mut delivered = Vec::new();

        let stream = cleanup.on_the_server().await;
        stream.delete_consumer(&spec.name).await.unwrap();
        first.publish(ns.message("work", "after")).await.unwrap();

        // Only the first process pulls at first: its pull fails, and it declares the
        // consumer again after what it was given.
        take_until("after", &mut delivered, &mut first_queue, None).await;
        delivered_again(
            "handed back",
            &mut delivered,
            &mut first_queue,
            &mut second_queue,
        )
        .await;
        second.shutdown();
    }

    /// A worker rejects a delivery of a consumer since deleted. The consumer declared in
    /// its place starts at or before that message, so it delivers it again, and a worker
    /// rejects it again: the message is dead-lettered once, not twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_rejected_by_a_worker_of_a_deleted_consumer_is_dead_lettered_once() {
        let (bus, ns, cleanup) = connect().await;
        let spec = ns.queue("intake", &["work"]);
        let mut dead_letters = bus
            .subscribe(SubjectPattern::from(spec.dead_letter.clone()))
            .await
            .unwrap();
        let mut queue = bus.work_queue(spec.clone()).await.unwrap();
        bus.publish(ns.message("work", "malformed")).await.unwrap();
        let in_hand = next(&mut queue).await;

        let stream = cleanup.on_the_server().await;
        stream.delete_consumer(&spec.name).await.unwrap();
        bus.publish(ns.message("work", "after")).await.unwrap();
        // The consumer declared again starts at the message in hand; each worker that gets
        // it rejects it.
        let mut delivered = Vec::new();
        for _ in 0..2 {
            let delivery = next_within(&mut queue, Duration::from_secs(5))
                .await
                .expect("the queue should deliver again once its consumer is back");
            delivered.push(payload(&delivery.message));
            if payload(&delivery.message) == "malformed" {
                delivery.reject("not a claim").await.unwrap();
            } else {
                delivery.ack().await.unwrap();
            }
        }
        delivered.sort();
        assert_eq!(delivered, ["after", "malformed"]);
        in_hand.reject("not a claim").await.unwrap();

        let letter = heard(&mut dead_letters).await;
        assert_eq!(payload(&letter), "malformed");
        if let Ok(again) = tokio::time::timeout(Duration::from_secs(1), dead_letters.next()).await {
            panic!("the message was dead-lettered twice; the second: {again:?}");
        }
    }

    /// A subscription reads what the stream stores through a consumer of its own. When
    /// that consumer is lost before it delivered anything (a server restarted, or here,
    /// deleted), the client makes it again from the stream's first message: the
    /// subscription still hears only what was stored after it subscribed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscription_whose_consumer_is_lost_hears_nothing_from_before_it() {
        let (bus, ns, cleanup) = connect().await;
        let dead_letters = ns.pattern("deadletter.>");
        bus.publish(ns.message("deadletter.intake", "before"))
            .await
            .unwrap();
        let mut subscription = bus.subscribe(dead_letters).await.unwrap();

        let stream = cleanup.on_the_server().await;
        use futures::StreamExt;
        let mut consumers = stream.consumers();
        let mut deleted = 0;
        while let Some(consumer) = consumers.next().await {
            let consumer = consumer.unwrap();
            if consumer.config.deliver_subject.is_some() {
                stream.delete_consumer(&consumer.name).await.unwrap();
                deleted += 1;
            }
        }
        assert_eq!(deleted, 1, "the subscription's consumer");
        // The client notices the missing heartbeats (about ten seconds) and makes the
        // consumer again.
        tokio::time::sleep(Duration::from_secs(12)).await;
        bus.publish(ns.message("deadletter.intake", "after"))
            .await
            .unwrap();

        let heard = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("the subscription should hear what comes after")
            .unwrap();
        assert_eq!(payload(&heard), "after");
    }

    /// A queue that never acknowledged anything starts again where it was declared: what the
    /// stream held before the declaration stays outside it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_deleted_before_any_acknowledgement_is_declared_again_from_its_start() {
        let (bus, ns, cleanup) = connect().await;
        bus.publish(ns.message("work", "before")).await.unwrap();
        let spec = ns.queue("intake", &["work"]);
        let mut queue = bus.work_queue(spec.clone()).await.unwrap();
        bus.publish(ns.message("work", "declared")).await.unwrap();

        let stream = cleanup.on_the_server().await;
        stream.delete_consumer(&spec.name).await.unwrap();

        let delivery = next_within(&mut queue, Duration::from_secs(5))
            .await
            .expect("the queue should deliver again once its consumer is back");
        assert_eq!(payload(&delivery.message), "declared");
        delivery.ack().await.unwrap();
        assert_quiet(next_within(&mut queue, QUIET).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_ends_pullers_and_subscriptions_and_refuses_publishing() {
        let (bus, ns, _cleanup) = connect().await;
        let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
        let mut subscription = bus.subscribe(ns.pattern(">")).await.unwrap();
        let puller = tokio::spawn(async move { queue.next().await.map(|d| d.attempt) });
        tokio::time::sleep(QUIET).await;

        bus.shutdown();

        let pulled = tokio::time::timeout(PATIENCE, puller)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pulled, None);
        let heard = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .unwrap();
        assert_eq!(heard, None);
        assert!(bus.is_shut_down());
        let refused = bus.publish(ns.message("work", "job")).await;
        assert!(
            matches!(refused, Err(BusError::Unavailable(_))),
            "{refused:?}"
        );
        let refused = bus.subscribe(ns.pattern(">")).await;
        assert!(matches!(refused, Err(BusError::Unavailable(_))));
        let refused = bus.work_queue(ns.queue("intake", &["work"])).await;
        assert!(matches!(refused, Err(BusError::Unavailable(_))));
    }
}

/// The NATS bus again, with every subject under a namespace on the wire
/// (`NatsBusConfig::namespace`): the port must not be able to tell, and a plain client
/// sees the messages under the namespace.
mod nats_in_namespace {
    use super::*;
    use futures::StreamExt;

    async fn fresh() -> Fixture {
        let (bus, namespace, cleanup) =
            nats::connect_with(Some(format!("w{}", uuid::Uuid::new_v4().simple()))).await;
        Fixture {
            bus: Arc::new(bus),
            namespace: namespace.0,
            _keep: Box::new(cleanup),
        }
    }

    bus_contract!(fresh);

    /// A plain client watching a check's subjects on the wire: under the namespace `wire`,
    /// and bare.
    struct WireWatch {
        client: async_nats::Client,
        wire: String,
        on_wire: async_nats::Subscriber,
        bare: async_nats::Subscriber,
    }

    impl WireWatch {
        async fn start(wire: &str, ns: &Namespace) -> Self {
            let client = async_nats::connect(nats::url()).await.unwrap();
            let on_wire = client
                .subscribe(format!("{wire}.{}", ns.pattern(">")))
                .await
                .unwrap();
            let bare = client.subscribe(ns.pattern(">").to_string()).await.unwrap();
            let watch = Self {
                client,
                wire: wire.to_owned(),
                on_wire,
                bare,
            };
            // The bus publishes on a connection of its own: make sure the server has both
            // subscriptions before it does.
            let probe = format!("_PROBE.{}", uuid::Uuid::new_v4().simple());
            watch.subscribe_ready(&probe).await;
            watch
        }

        /// The next message under the namespace is `subject`'s.
        async fn hears_under_the_namespace(&mut self, subject: &Subject) {
            let heard = tokio::time::timeout(PATIENCE, self.on_wire.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(heard.subject.as_str(), format!("{}.{subject}", self.wire));
        }

        /// A subscription of this client to `subject` that the server has surely taken,
        /// with every earlier one: `flush` only writes the request, and another
        /// connection's message could reach the server first, so a probe sent on this
        /// connection is awaited (the server handles one connection's requests in order).
        async fn subscribe_ready(&self, subject: &str) -> async_nats::Subscriber {
            let mut subscriber = self.client.subscribe(subject.to_owned()).await.unwrap();
            self.client
                .publish(subject.to_owned(), Bytes::from_static(b"probe"))
                .await
                .unwrap();
            let probe = tokio::time::timeout(PATIENCE, subscriber.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(probe.payload.as_ref(), b"probe");
            subscriber
        }

        async fn hears_nothing_bare(&mut self) {
            assert!(
                tokio::time::timeout(QUIET, self.bare.next()).await.is_err(),
                "nothing travels under the bare subject"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_the_wire_every_captured_subject_is_under_the_namespace() {
        let wire = format!("w{}", uuid::Uuid::new_v4().simple());
        let (bus, ns, _cleanup) = nats::connect_with(Some(wire.clone())).await;
        let mut watch = WireWatch::start(&wire, &ns).await;
        let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();

        bus.publish(ns.message("work", "job")).await.unwrap();

        watch.hears_under_the_namespace(&ns.subject("work")).await;
        let delivery = next(&mut queue).await;
        assert_eq!(
            delivery.message.subject,
            ns.subject("work"),
            "the port sees its own subject"
        );
        delivery.ack().await.unwrap();
        watch.hears_nothing_bare().await;
    }

    /// A subject the stream does not capture (an answer to an insurer) travels plain, but
    /// under the namespace too, so that two engines' listeners never hear each other; an
    /// inbox is NATS's own and keeps its name.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_subjects_travel_under_the_namespace_too_and_inboxes_do_not() {
        let wire = format!("w{}", uuid::Uuid::new_v4().simple());
        let (bus, ns, _cleanup) = nats::connect_capturing(Some(wire.clone()), &["stored.>"]).await;
        let mut watch = WireWatch::start(&wire, &ns).await;
        let inbox = format!("_INBOX.{}.answer", ns.0);
        let mut inbox_heard = watch.subscribe_ready(&inbox).await;
        let mut said = bus.subscribe(ns.pattern("said.>")).await.unwrap();

        bus.publish(ns.message("said.acme", "answer"))
            .await
            .unwrap();
        bus.publish(Message::new(
            Subject::new(inbox.clone()).unwrap(),
            Bytes::from_static(b"direct answer"),
        ))
        .await
        .unwrap();

        watch
            .hears_under_the_namespace(&ns.subject("said.acme"))
            .await;
        let through_port = tokio::time::timeout(PATIENCE, said.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            through_port.subject,
            ns.subject("said.acme"),
            "the port sees its own subject"
        );
        let direct = tokio::time::timeout(PATIENCE, inbox_heard.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(direct.payload.as_ref(), b"direct answer");
        watch.hears_nothing_bare().await;
    }
}

#[test]
fn malformed_subjects_and_patterns_are_refused() {
    for text in [
        "",
        "claims..acme",
        ".claims",
        "claims.",
        "claims.sub mit",
        "claims.*",
        "claims.>",
    ] {
        assert!(
            matches!(Subject::new(text), Err(BusError::InvalidSubject { ref subject, .. }) if subject == text),
            "{text:?} should not be a subject"
        );
    }
    for text in ["", "events.>.claim", "claims.sub*", "claims..*"] {
        assert!(
            matches!(SubjectPattern::new(text), Err(BusError::InvalidSubject { ref subject, .. }) if subject == text),
            "{text:?} should not be a pattern"
        );
    }
    assert!(Subject::new("a".repeat(257)).is_err());
    assert!(SubjectPattern::new("events.*.ClaimSubmitted.>").is_ok());
}

// ---- helpers ----

/// How long to wait for something that should happen.
const PATIENCE: Duration = Duration::from_secs(2);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(250);

/// A namespace of subjects and queue names of one check.
struct Namespace(String);

impl Namespace {
    fn new() -> Self {
        Self(format!("t{}", uuid::Uuid::new_v4().simple()))
    }

    fn subject(&self, rest: &str) -> Subject {
        Subject::new(format!("{}.{rest}", self.0)).unwrap()
    }

    fn pattern(&self, rest: &str) -> SubjectPattern {
        SubjectPattern::new(format!("{}.{rest}", self.0)).unwrap()
    }

    fn queue(&self, name: &str, subjects: &[&str]) -> WorkQueueSpec {
        WorkQueueSpec {
            name: format!("{}_{name}", self.0),
            subjects: subjects.iter().map(|rest| self.pattern(rest)).collect(),
            max_deliveries: 3,
            ack_wait: Duration::from_secs(30),
            dead_letter: self.subject(&format!("deadletter.{name}")),
        }
    }

    fn message(&self, rest: &str, payload: &str) -> Message {
        Message::new(self.subject(rest), Bytes::from(payload.to_owned()))
    }
}

async fn next_within(queue: &mut Box<dyn WorkQueue>, wait: Duration) -> Option<Delivery> {
    tokio::time::timeout(wait, queue.next())
        .await
        .ok()
        .flatten()
}

async fn next(queue: &mut Box<dyn WorkQueue>) -> Delivery {
    next_within(queue, PATIENCE)
        .await
        .expect("a delivery should arrive")
}

#[track_caller]
fn assert_quiet(delivery: Option<Delivery>) {
    if let Some(delivery) = delivery {
        panic!(
            "nothing should be delivered, got {:?} (attempt {})",
            payload(&delivery.message),
            delivery.attempt
        );
    }
}

async fn heard(subscription: &mut Subscription) -> Message {
    tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .expect("a message should be heard")
        .expect("the subscription should be open")
}

async fn heard_nothing(subscription: &mut Subscription) {
    if let Ok(message) = tokio::time::timeout(QUIET, subscription.next()).await {
        panic!("nothing should be heard, got {message:?}");
    }
}

fn payload(message: &Message) -> String {
    String::from_utf8_lossy(&message.payload).into_owned()
}

// ---- the contract ----

async fn a_queue_captures_what_is_published_after_it_is_declared(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    bus.publish(ns.message("claims.submit.acme", "too early"))
        .await
        .unwrap();
    let mut intake = bus
        .work_queue(ns.queue("intake", &["claims.submit.*"]))
        .await
        .unwrap();

    let reply_to = ns.subject("inbox.1");
    let sent = ns
        .message("claims.submit.acme", "claim 1")
        .with_id(format!("{}-claim-1", ns.0))
        .with_header("Content-Type", "application/json")
        .with_reply_to(reply_to.clone());
    bus.publish(sent.clone()).await.unwrap();
    bus.publish(ns.message("claims.ack.acme", "not a submission"))
        .await
        .unwrap();
    bus.publish(ns.message("claims.submit.beta", "claim 2"))
        .await
        .unwrap();

    let first = next(&mut intake).await;
    assert_eq!(first.attempt, 1);
    assert_eq!(first.message.subject, sent.subject);
    assert_eq!(payload(&first.message), "claim 1");
    assert_eq!(
        first.message.header("Content-Type"),
        Some("application/json")
    );
    assert_eq!(first.message.reply_to, Some(reply_to));
    assert_eq!(first.message.id, sent.id);
    first.ack().await.unwrap();
    let second = next(&mut intake).await;
    assert_eq!(payload(&second.message), "claim 2");
    assert_eq!(second.message.subject, ns.subject("claims.submit.beta"));
    second.ack().await.unwrap();
    assert_quiet(next_within(&mut intake, QUIET).await);
}

async fn every_queue_gets_its_own_copy(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let mut settlement = bus
        .work_queue(ns.queue("settlement", &["events.claim.*"]))
        .await
        .unwrap();
    let mut outcomes = bus
        .work_queue(ns.queue("outcomes", &["events.>"]))
        .await
        .unwrap();

    bus.publish(ns.message("events.claim.ClaimAdjudicated", "adjudicated"))
        .await
        .unwrap();

    let to_settlement = next(&mut settlement).await;
    assert_eq!(payload(&to_settlement.message), "adjudicated");
    to_settlement.ack().await.unwrap();
    let to_outcomes = next(&mut outcomes).await;
    assert_eq!(payload(&to_outcomes.message), "adjudicated");
    assert_eq!(to_outcomes.attempt, 1);
    to_outcomes.ack().await.unwrap();
    assert_quiet(next_within(&mut settlement, QUIET).await);
    assert_quiet(next_within(&mut outcomes, QUIET).await);
}

async fn workers_sharing_a_queue_each_get_different_messages(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let spec = ns.queue("adjudication", &["work.*"]);
    let mut first_worker = bus.work_queue(spec.clone()).await.unwrap();
    let mut second_worker = bus.work_queue(spec).await.unwrap();
    let sent: BTreeSet<String> = (0..20).map(|n| format!("claim {n:02}")).collect();
    for text in &sent {
        bus.publish(ns.message("work.claim", text)).await.unwrap();
    }

    // While one worker holds a message, the other gets a different one.
    let held = next(&mut first_worker).await;
    let other = next(&mut second_worker).await;
    assert_ne!(payload(&held.message), payload(&other.message));
    let mut received = vec![payload(&held.message), payload(&other.message)];
    held.ack().await.unwrap();
    other.ack().await.unwrap();

    let drain = |mut worker: Box<dyn WorkQueue>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(delivery) = next_within(&mut worker, QUIET).await {
                got.push(payload(&delivery.message));
                delivery.ack().await.unwrap();
            }
            got
        })
    };
    let first = drain(first_worker);
    let second = drain(second_worker);
    received.extend(first.await.unwrap());
    received.extend(second.await.unwrap());

    assert_eq!(
        received.len(),
        20,
        "each message exactly once: {received:?}"
    );
    assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), sent);
}

async fn next_batch_within(
    queue: &mut Box<dyn WorkQueue>,
    max: usize,
    wait: Duration,
) -> Vec<Delivery> {
    tokio::time::timeout(wait, queue.next_batch(max))
        .await
        .unwrap_or_default()
}

fn payloads(batch: &[Delivery]) -> Vec<String> {
    batch
        .iter()
        .map(|delivery| payload(&delivery.message))
        .collect()
}

async fn a_batch_takes_what_is_ready_up_to_its_size_in_order(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    let sent: Vec<String> = (0..7).map(|n| format!("claim {n}")).collect();
    bus.publish_all(sent.iter().map(|text| ns.message("work", text)).collect())
        .await
        .unwrap();

    let first = next_batch_within(&mut queue, 5, PATIENCE).await;
    assert_eq!(payloads(&first), sent[..5], "the first five, in order");
    assert!(first.iter().all(|delivery| delivery.attempt == 1));
    for delivery in first {
        delivery.ack().await.unwrap();
    }
    let rest = next_batch_within(&mut queue, 5, PATIENCE).await;
    assert_eq!(payloads(&rest), sent[5..], "what was left, no more");
    for delivery in rest {
        delivery.ack().await.unwrap();
    }
    assert!(next_batch_within(&mut queue, 5, QUIET).await.is_empty());
}

async fn a_batch_does_not_wait_for_more_than_is_ready(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    // Nothing ready: the batch waits for the first message, then takes it alone.
    let waiting = tokio::spawn(async move {
        let batch = queue.next_batch(100).await;
        (queue, batch)
    });
    tokio::time::sleep(QUIET).await;
    bus.publish(ns.message("work", "alone")).await.unwrap();
    let started = tokio::time::Instant::now();
    let (mut queue, batch) = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the batch should come as soon as one message is ready")
        .unwrap();
    assert_eq!(payloads(&batch), ["alone"]);
    assert!(started.elapsed() < PATIENCE);
    for delivery in batch {
        delivery.ack().await.unwrap();
    }
    // A batch of one is a plain pull.
    bus.publish(ns.message("work", "a")).await.unwrap();
    bus.publish(ns.message("work", "b")).await.unwrap();
    let one = next_batch_within(&mut queue, 1, PATIENCE).await;
    assert_eq!(payloads(&one), ["a"]);
    let two = next_batch_within(&mut queue, 1, PATIENCE).await;
    assert_eq!(payloads(&two), ["b"]);
    for delivery in one.into_iter().chain(two) {
        delivery.ack().await.unwrap();
    }
}

async fn each_delivery_of_a_batch_is_answered_on_its_own(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let spec = ns.queue("intake", &["work"]);
    let mut dead_letters = bus
        .subscribe(SubjectPattern::from(spec.dead_letter.clone()))
        .await
        .unwrap();
    let mut queue = bus.work_queue(spec).await.unwrap();
    for text in ["good", "retry", "poison"] {
        bus.publish(ns.message("work", text)).await.unwrap();
    }
    let batch = next_batch_within(&mut queue, 10, PATIENCE).await;
    assert_eq!(payloads(&batch), ["good", "retry", "poison"]);
    let mut batch = batch.into_iter();
    batch.next().unwrap().ack().await.unwrap();
    batch.next().unwrap().nak(None, "store busy").await.unwrap();
    batch.next().unwrap().reject("not a claim").await.unwrap();

    let dead = heard(&mut dead_letters).await;
    assert_eq!(payload(&dead), "poison");
    assert_eq!(
        dead.header(dead_letter_headers::REASON),
        Some("not a claim")
    );
    let again = next_batch_within(&mut queue, 10, PATIENCE).await;
    assert_eq!(payloads(&again), ["retry"]);
    assert_eq!(again[0].attempt, 2);
    for delivery in again {
        delivery.ack().await.unwrap();
    }
    assert!(next_batch_within(&mut queue, 10, QUIET).await.is_empty());
}

async fn an_acked_message_is_not_delivered_again(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let spec = WorkQueueSpec {
        ack_wait: Duration::from_millis(100),
        ..ns.queue("intake", &["work"])
    };
    let mut queue = bus.work_queue(spec).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    let delivery = next(&mut queue).await;
    assert_eq!(payload(&delivery.message), "job");
    delivery.ack().await.unwrap();

    // Well past ack_wait: an unacked message would have come back by now.
    assert_quiet(next_within(&mut queue, QUIET).await);
}

async fn a_nak_redelivers_with_the_next_attempt(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    let first = next(&mut queue).await;
    assert_eq!(first.attempt, 1);
    first.nak(None, "plan store unavailable").await.unwrap();

    let second = next(&mut queue).await;
    assert_eq!(second.attempt, 2);
    assert_eq!(payload(&second.message), "job");
    second.ack().await.unwrap();
    assert_quiet(next_within(&mut queue, QUIET).await);
}

async fn a_nak_with_a_delay_waits_and_the_rest_keep_their_order(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    for text in ["a", "b", "c"] {
        bus.publish(ns.message("work", text)).await.unwrap();
    }

    let a = next(&mut queue).await;
    assert_eq!(payload(&a.message), "a");
    let delay = Duration::from_millis(300);
    let naked_at = Instant::now();
    a.nak(Some(delay), "member not enrolled yet").await.unwrap();

    let b = next(&mut queue).await;
    assert_eq!((payload(&b.message).as_str(), b.attempt), ("b", 1));
    b.ack().await.unwrap();
    let c = next(&mut queue).await;
    assert_eq!((payload(&c.message).as_str(), c.attempt), ("c", 1));
    c.ack().await.unwrap();
    let again = next(&mut queue).await;
    let waited = naked_at.elapsed();
    assert_eq!((payload(&again.message).as_str(), again.attempt), ("a", 2));
    assert!(
        waited >= delay,
        "redelivered after {waited:?}, before the {delay:?} delay"
    );
    again.ack().await.unwrap();
}

async fn after_max_deliveries_a_message_is_dead_lettered(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let spec = WorkQueueSpec {
        max_deliveries: 2,
        ..ns.queue("intake", &["claims.submit.*"])
    };
    let mut dead_letters = bus
        .subscribe(SubjectPattern::from(spec.dead_letter.clone()))
        .await
        .unwrap();
    let mut operators = bus
        .work_queue(ns.queue("operators", &["deadletter.>"]))
        .await
        .unwrap();
    let mut queue = bus.work_queue(spec.clone()).await.unwrap();
    let sent = ns
        .message("claims.submit.acme", "claim")
        .with_id(format!("{}-claim", ns.0))
        .with_header("Content-Type", "application/json");
    bus.publish(sent.clone()).await.unwrap();

    let first = next(&mut queue).await;
    assert!(!first.is_last_attempt(), "{first:?}");
    first.nak(None, "plan store unavailable").await.unwrap();
    let second = next(&mut queue).await;
    assert_eq!(second.attempt, 2);
    assert!(second.is_last_attempt(), "{second:?}");
    second
        .nak(None, "plan store still unavailable")
        .await
        .unwrap();

    let letter = heard(&mut dead_letters).await;
    assert_eq!(letter.subject, spec.dead_letter);
    assert_eq!(payload(&letter), "claim");
    // An id of its own, naming the queue and the message, not the original's (the stream
    // would drop the dead letter as a duplicate of it): a second dead letter of this
    // message from this queue is the duplicate, and is dropped.
    assert!(
        letter.id.is_some() && letter.id != sent.id,
        "dead letter id {:?}",
        letter.id
    );
    assert_eq!(
        letter.header(dead_letter_headers::REASON),
        Some("plan store still unavailable")
    );
    assert_eq!(
        letter.header(dead_letter_headers::ORIGINAL_SUBJECT),
        Some(sent.subject.as_str())
    );
    assert_eq!(letter.header(dead_letter_headers::DELIVERIES), Some("2"));
    assert_eq!(
        letter.header(dead_letter_headers::QUEUE),
        Some(spec.name.as_str())
    );
    assert_eq!(letter.header("Content-Type"), Some("application/json"));
    let captured = next(&mut operators).await;
    assert_eq!(captured.message, letter);
    captured.ack().await.unwrap();
    assert_quiet(next_within(&mut queue, QUIET).await);
}

async fn a_rejected_message_is_dead_lettered_at_once(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let spec = ns.queue("intake", &["claims.submit.*"]);
    let mut dead_letters = bus
        .subscribe(SubjectPattern::from(spec.dead_letter.clone()))
        .await
        .unwrap();
    let mut queue = bus.work_queue(spec.clone()).await.unwrap();
    bus.publish(ns.message("claims.submit.acme", "{not json"))
        .await
        .unwrap();

    let delivery = next(&mut queue).await;
    delivery
        .reject("the submission is not valid JSON")
        .await
        .unwrap();

    let letter = heard(&mut dead_letters).await;
    assert_eq!(payload(&letter), "{not json");
    assert_eq!(
        letter.header(dead_letter_headers::REASON),
        Some("the submission is not valid JSON")
    );
    assert_eq!(letter.header(dead_letter_headers::DELIVERIES), Some("1"));
    assert_eq!(
        letter.header(dead_letter_headers::QUEUE),
        Some(spec.name.as_str())
    );
    assert_quiet(next_within(&mut queue, QUIET).await);
    heard_nothing(&mut dead_letters).await;
}

async fn a_dropped_delivery_is_delivered_again(bus: Arc<dyn MessageBus>, ns: Namespace) {
    // ack_wait is long: the redelivery must come from the drop, not from the timer.
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    let dropped = next(&mut queue).await;
    assert_eq!(dropped.attempt, 1);
    drop(dropped);

    let again = next_within(&mut queue, Duration::from_secs(1))
        .await
        .expect("the dropped delivery should come back well before ack_wait");
    assert_eq!(again.attempt, 2);
    assert_eq!(payload(&again.message), "job");
    again.ack().await.unwrap();
}

async fn an_unacknowledged_delivery_is_redelivered_after_ack_wait(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let ack_wait = Duration::from_millis(200);
    let spec = WorkQueueSpec {
        ack_wait,
        ..ns.queue("intake", &["work"])
    };
    let mut queue = bus.work_queue(spec).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    let pulled_at = Instant::now();
    let stalled = next(&mut queue).await;
    let again = next(&mut queue).await;
    let waited = pulled_at.elapsed();

    assert_eq!(again.attempt, 2);
    assert_eq!(payload(&again.message), "job");
    assert!(
        waited >= ack_wait,
        "redelivered after {waited:?}, before ack_wait"
    );
    again.ack().await.unwrap();
    // The stalled worker's late answer does not bring the finished work back.
    drop(stalled);
    assert_quiet(next_within(&mut queue, QUIET + ack_wait).await);
}

async fn a_delivery_in_progress_is_kept_past_ack_wait_without_spending_an_attempt(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let ack_wait = Duration::from_millis(400);
    let spec = WorkQueueSpec {
        ack_wait,
        ..ns.queue("intake", &["work"])
    };
    let mut queue = bus.work_queue(spec).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    // Held for three times the ack_wait, the worker saying so every half of it (as one
    // waiting for the store to come back does).
    let held = next(&mut queue).await;
    for _ in 0..6 {
        tokio::time::sleep(ack_wait / 2).await;
        held.in_progress().await.unwrap();
    }
    // Had the message been handed back meanwhile, it would be waiting here.
    assert_quiet(next_within(&mut queue, ack_wait / 4).await);

    held.nak(None, "the store is back: once more")
        .await
        .unwrap();
    let again = next(&mut queue).await;
    assert_eq!(again.attempt, 2, "holding the message spent no attempt");
    again.ack().await.unwrap();
}

async fn an_unacknowledged_last_delivery_is_dead_lettered(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let spec = WorkQueueSpec {
        max_deliveries: 1,
        ack_wait: Duration::from_millis(100),
        ..ns.queue("intake", &["work"])
    };
    let mut dead_letters = bus
        .subscribe(SubjectPattern::from(spec.dead_letter.clone()))
        .await
        .unwrap();
    let mut queue = bus.work_queue(spec.clone()).await.unwrap();
    bus.publish(ns.message("work", "job")).await.unwrap();

    let stalled = next(&mut queue).await;
    assert_quiet(next_within(&mut queue, QUIET).await);

    let letter = heard(&mut dead_letters).await;
    assert_eq!(payload(&letter), "job");
    assert_eq!(letter.header(dead_letter_headers::DELIVERIES), Some("1"));
    assert!(letter.header(dead_letter_headers::REASON).is_some());
    drop(stalled);
    assert_quiet(next_within(&mut queue, QUIET).await);
    heard_nothing(&mut dead_letters).await;
}

async fn a_message_id_is_published_once(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let mut queue = bus
        .work_queue(ns.queue("intake", &["claims.submit.*"]))
        .await
        .unwrap();
    let mut listener = bus.subscribe(ns.pattern("claims.submit.*")).await.unwrap();
    let id = format!("{}-acme-claim-1", ns.0);

    let first = bus
        .publish(
            ns.message("claims.submit.acme", "original")
                .with_id(id.clone()),
        )
        .await
        .unwrap();
    let repeat = bus
        .publish(ns.message("claims.submit.acme", "re-sent").with_id(id))
        .await
        .unwrap();
    let other = bus
        .publish(
            ns.message("claims.submit.acme", "another claim")
                .with_id(format!("{}-acme-claim-2", ns.0)),
        )
        .await
        .unwrap();

    assert!(!first.duplicate);
    assert!(repeat.duplicate);
    assert!(!other.duplicate);
    for expected in ["original", "another claim"] {
        let delivery = next(&mut queue).await;
        assert_eq!(payload(&delivery.message), expected);
        delivery.ack().await.unwrap();
        assert_eq!(payload(&heard(&mut listener).await), expected);
    }
    assert_quiet(next_within(&mut queue, QUIET).await);
    heard_nothing(&mut listener).await;
}

async fn messages_published_together_keep_their_order_and_ids(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let mut queue = bus
        .work_queue(ns.queue("relay", &["events.>"]))
        .await
        .unwrap();
    let id = |index: usize| format!("{}-event-{index}", ns.0);
    let messages: Vec<Message> = (0..30)
        .map(|index| {
            ns.message("events.claim", &format!("event {index}"))
                .with_id(id(index))
        })
        // A repeat of event 3, in the same lot: dropped like any repeated id.
        .chain(Some(ns.message("events.claim", "repeat").with_id(id(3))))
        .collect();

    let published = bus.publish_all(messages).await.unwrap();

    let duplicates: Vec<bool> = published.iter().map(|one| one.duplicate).collect();
    let mut expected_duplicates = vec![false; 30];
    expected_duplicates.push(true);
    assert_eq!(duplicates, expected_duplicates);
    for index in 0..30 {
        let delivery = next(&mut queue).await;
        assert_eq!(payload(&delivery.message), format!("event {index}"));
        delivery.ack().await.unwrap();
    }
    assert_quiet(next_within(&mut queue, QUIET).await);
}

async fn a_subscription_hears_later_matching_messages(bus: Arc<dyn MessageBus>, ns: Namespace) {
    bus.publish(ns.message("claims.ack.acme", "before"))
        .await
        .unwrap();
    let mut acks = bus.subscribe(ns.pattern("claims.ack.*")).await.unwrap();
    let mut everything = bus.subscribe(ns.pattern(">")).await.unwrap();

    bus.publish(ns.message("claims.ack.acme", "accepted"))
        .await
        .unwrap();
    bus.publish(ns.message("claims.outcome.acme", "paid"))
        .await
        .unwrap();
    bus.publish(ns.message("claims.ack.acme.extra", "too deep"))
        .await
        .unwrap();

    let ack = heard(&mut acks).await;
    assert_eq!(ack.subject, ns.subject("claims.ack.acme"));
    assert_eq!(payload(&ack), "accepted");
    heard_nothing(&mut acks).await;
    let mut all = Vec::new();
    for _ in 0..3 {
        all.push(payload(&heard(&mut everything).await));
    }
    assert_eq!(all, ["accepted", "paid", "too deep"]);
}

async fn re_declaring_a_queue_keeps_it_unless_the_spec_differs(
    bus: Arc<dyn MessageBus>,
    ns: Namespace,
) {
    let spec = ns.queue("intake", &["work"]);
    let first = bus.work_queue(spec.clone()).await.unwrap();
    bus.publish(ns.message("work", "captured")).await.unwrap();
    drop(first);

    let mut again = bus.work_queue(spec.clone()).await.unwrap();
    let delivery = next(&mut again).await;
    assert_eq!(payload(&delivery.message), "captured");
    delivery.ack().await.unwrap();

    let changed = WorkQueueSpec {
        ack_wait: Duration::from_secs(5),
        ..spec.clone()
    };
    match bus.work_queue(changed).await {
        Err(BusError::QueueMismatch(name)) => assert_eq!(name, spec.name),
        Err(other) => panic!("expected a queue mismatch, got {other:?}"),
        Ok(_) => panic!("a queue re-declared with another spec should be refused"),
    }
    let other_subjects = WorkQueueSpec {
        subjects: vec![ns.pattern("other")],
        ..spec.clone()
    };
    assert!(matches!(
        bus.work_queue(other_subjects).await,
        Err(BusError::QueueMismatch(_))
    ));
}

async fn an_oversized_message_is_refused(bus: Arc<dyn MessageBus>, ns: Namespace) {
    let mut queue = bus.work_queue(ns.queue("intake", &["work"])).await.unwrap();
    let size = 1024 * 1024 + 1;

    let refused = bus
        .publish(Message::new(ns.subject("work"), vec![b'x'; size]))
        .await;

    match refused {
        Err(BusError::TooLarge {
            size: reported,
            limit,
        }) => {
            assert_eq!(reported, size);
            assert!(limit < size);
        }
        other => panic!("expected the message to be refused as too large, got {other:?}"),
    }
    bus.publish(ns.message("work", "small")).await.unwrap();
    let delivery = next(&mut queue).await;
    assert_eq!(payload(&delivery.message), "small");
    delivery.ack().await.unwrap();
}
