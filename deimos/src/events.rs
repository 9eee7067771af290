//! Instrumentation events (Deimos' `Deimos::Instrumentation` notifications, for subscribers
//! such as audit logs or custom metrics).
//!
//! | event | when | Deimos name |
//! |---|---|---|
//! | [`Event::EncodeMessages`] | a `publish` / `publish_list` encoded its messages | `encode_messages` |
//! | [`Event::Produce`] | the producer backend took them (`kafka`: delivered; `kafka_async`: queued) | `produce` |
//! | [`Event::ProduceError`] | the producer backend failed; for `kafka_async` also later, once per message whose delivery failed | `produce_error` |
//! | [`Event::DbProducerProduce`] | an outbox worker sent a batch, or removed a message that can never be sent | `db_producer.produce` |
//!
//! Subscribers run synchronously on the publishing task, in subscription order (a
//! `kafka_async` delivery failure: on librdkafka's polling thread). A subscriber
//! that panics is caught and logged (`tracing` error) and never breaks publishing or the other
//! subscribers.
//!
//! ```
//! let subscription = deimos::events::subscribe(|event| {
//!     if let deimos::events::Event::ProduceError { topic, error, .. } = event {
//!         eprintln!("publishing to {topic} failed: {error}");
//!     }
//! });
//! // ... publish ...
//! drop(subscription); // unsubscribes
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::backends::ProducedMessage;
use crate::error::Error;

/// One instrumentation event. `producer` names the producer: the payload type for
/// `#[producer]` structs, `DynamicProducer(<topic>)` for dynamic ones. `topic` has
/// `producers.topic_prefix` applied. `messages` are the encoded messages (their decoded
/// payloads are present when the `Value` path built them: test backend, dynamic payloads).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Messages were encoded and are about to be handed to the producer backend.
    EncodeMessages {
        /// The producer.
        producer: &'a str,
        /// The topic.
        topic: &'a str,
        /// The encoded messages.
        messages: &'a [ProducedMessage],
    },
    /// The producer backend took the messages (`kafka`: every delivery was acknowledged;
    /// `kafka_async`: every message was queued in librdkafka).
    Produce {
        /// The producer.
        producer: &'a str,
        /// The topic.
        topic: &'a str,
        /// The messages.
        messages: &'a [ProducedMessage],
    },
    /// The producer backend failed; `publish` returns `error`. With `kafka_async`, also fired
    /// after `publish` returned, once for each message whose delivery failed (`error` is
    /// [`Error::Produce`], `messages` that one message without decoded forms).
    ProduceError {
        /// The producer.
        producer: &'a str,
        /// The topic.
        topic: &'a str,
        /// What failed.
        error: &'a Error,
        /// The messages of the failed call (some may have been delivered).
        messages: &'a [ProducedMessage],
    },
    /// An outbox worker ([`crate::outbox`]) settled messages of `topic`: with `error` `None`,
    /// `messages` were delivered (acknowledged by all in-sync replicas) and deleted from the
    /// outbox; with `error`, the one message in `messages` can never be sent (larger than the
    /// broker accepts: [`Error::Produce`] with Kafka's `MessageSizeTooLarge`; or a row whose
    /// headers do not decode: [`Error::Database`]) and was removed from the outbox. Messages
    /// carry their encoded key, value, headers and partition key, not their decoded forms.
    DbProducerProduce {
        /// The topic.
        topic: &'a str,
        /// The messages.
        messages: &'a [ProducedMessage],
        /// Why the message was removed unsent; `None` for a delivered batch.
        error: Option<&'a Error>,
    },
}

type Subscriber = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

static SUBSCRIBERS: RwLock<Vec<(u64, Subscriber)>> = RwLock::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Subscribes `subscriber` to every event in this process until the returned guard is
/// dropped.
pub fn subscribe(subscriber: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Subscription {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    SUBSCRIBERS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, Arc::new(subscriber)));
    Subscription { id }
}

/// Keeps a subscriber subscribed; dropping it unsubscribes.
#[derive(Debug)]
#[must_use = "dropping the subscription unsubscribes at once"]
pub struct Subscription {
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        SUBSCRIBERS
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.id);
    }
}

/// Sends `event` to every subscriber, catching and logging their panics.
pub(crate) fn emit(event: &Event<'_>) {
    let subscribers: Vec<Subscriber> = {
        let all = SUBSCRIBERS.read().unwrap_or_else(|e| e.into_inner());
        if all.is_empty() {
            return;
        }
        all.iter().map(|(_, s)| s.clone()).collect()
    };
    for subscriber in subscribers {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| subscriber(event))) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            tracing::error!(event = ?event_name(event), panic = %what,
                "an instrumentation subscriber panicked; publishing goes on");
        }
    }
}

fn event_name(event: &Event<'_>) -> &'static str {
    match event {
        Event::EncodeMessages { .. } => "encode_messages",
        Event::Produce { .. } => "produce",
        Event::ProduceError { .. } => "produce_error",
        Event::DbProducerProduce { .. } => "db_producer.produce",
    }
}
