//! The librdkafka producer both kafka backends share: one record builder, one delivery
//! callback.
//!
//! Both backends hand records to a [`ThreadedProducer`] (librdkafka's queue plus a thread
//! that polls for delivery reports). Each record carries an `Arc` of a [`Pending`], shared by
//! the records of one `produce` call, as its delivery opaque; it tells the callback what to
//! do with the report: count it for the `produce` call awaiting them all (`kafka`), or report
//! a failure itself (`kafka_async`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers as _, Message as _};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Notify;

use super::ProducedMessage;
use crate::config::Config;
use crate::error::{Error, Result};

/// The librdkafka producer of both kafka backends.
pub(super) type RdProducer = ThreadedProducer<DeliveryContext>;

/// librdkafka property capping the delay between reconnection attempts to a broker.
const RECONNECT_BACKOFF_MAX: &str = "reconnect.backoff.max.ms";

/// Our [`RECONNECT_BACKOFF_MAX`] unless `kafka.extra` / `producers.extra` set one: 1 s, the
/// Java client's default (librdkafka's is 10 s). librdkafka times out the messages queued for
/// a broker that is down only when it next tries to reconnect, so with its default a message
/// fails up to 10 s after `producers.delivery_timeout`, and the first publish after the broker
/// is back can wait as long.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// Creates the librdkafka producer from [`Config::producer_client_config`], with
/// `reconnect.backoff.max.ms = 1000` unless set there (see [`RECONNECT_BACKOFF_MAX_MS`]).
pub(super) fn create_producer(config: &Config, tracker: Arc<Tracker>) -> Result<RdProducer> {
    let mut client = config.producer_client_config();
    if client.get(RECONNECT_BACKOFF_MAX).is_none() {
        client.set(RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MAX_MS);
    }
    client
        .create_with_context(DeliveryContext { tracker })
        .map_err(|e| {
            let e = crate::config::secret::redact_client_error(e, &client);
            Error::kafka("creating the kafka producer", e)
        })
}

/// How long a flush waits for the queue: a message's delivery report comes at most
/// `message.timeout.ms` (`producers.delivery_timeout`) after it was queued, plus one
/// `request.timeout.ms` (`producers.ack_timeout`) for a request in flight at that moment,
/// plus a second for librdkafka's timeout scan.
pub(super) fn flush_bound(config: &Config) -> Duration {
    let p = &config.producers;
    p.effective_delivery_timeout() + p.ack_timeout + Duration::from_secs(1)
}

/// Builds the librdkafka record for `message`: topic, partition (`None`: librdkafka's
/// partitioner picks it from the key; see [`PartitionKeys`](super::partition::PartitionKeys)),
/// key, value (none for a tombstone) and headers, with `pending` as its delivery opaque. Every
/// record either kafka backend sends is built here.
pub(super) fn record(
    message: &ProducedMessage,
    partition: Option<i32>,
    pending: Arc<Pending>,
) -> BaseRecord<'_, [u8], [u8], Arc<Pending>> {
    let mut record = BaseRecord::with_opaque_to(&message.topic, pending);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    if let Some(key) = &message.key {
        record = record.key(key.as_ref());
    }
    if let Some(payload) = &message.payload {
        record = record.payload(payload.as_ref());
    }
    if !message.headers.is_empty() {
        let headers = message
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                })
            });
        record = record.headers(headers);
    }
    record
}

/// How long to wait before retrying a message the full local queue refused.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

/// Hands `record` to librdkafka, waiting for room while its local queue is full
/// (`producers.max_buffer_size` / `max_buffer_bytesize`; it drains as earlier messages are
/// delivered or time out), retrying every 5 ms, as rdkafka's `FutureProducer::send` does.
///
/// # Errors
/// librdkafka's error when it refuses the record for another reason (e.g. larger than
/// `message.max.bytes`, unknown partition).
pub(super) async fn enqueue(
    producer: &RdProducer,
    mut record: BaseRecord<'_, [u8], [u8], Arc<Pending>>,
) -> std::result::Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(QUEUE_FULL_WAIT).await;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// What the delivery callback does with a message's delivery report; one is shared (through
/// an `Arc`, the record's delivery opaque) by every message of one `produce` call.
#[derive(Debug)]
pub(super) enum Pending {
    /// `kafka`: count the report for the `produce` call awaiting every message of the call.
    Awaited(Arc<Awaited>),
    /// `kafka_async`: nobody awaits it; a failure is reported by the callback (see
    /// [`report_async_failure`]). `producer` names the producer in the `produce_error` event.
    Queued {
        /// The producer name, as in [`Event`](crate::events::Event).
        producer: Arc<str>,
    },
    /// The outbox sender: count the report as `Awaited` does, and keep a failure by the
    /// message's index in its batch (one `Pending` per message).
    #[cfg(feature = "orm")]
    Each {
        /// The batch's count and wake-up.
        awaited: Arc<Awaited>,
        /// Failures by index in the batch.
        failures: Arc<Mutex<Vec<(usize, KafkaError)>>>,
        /// This message's index.
        index: usize,
    },
}

/// The delivery reports of one `kafka` `produce` call: how many are outstanding, how many
/// failed and the first failure, and a wake-up for the call once none is outstanding. One
/// counter for the whole call instead of a channel per message: a report costs an atomic
/// decrement, and the call wakes once.
#[derive(Debug)]
pub(super) struct Awaited {
    /// Messages queued without a report yet, plus one held by the `produce` call until it
    /// has queued its last message (so the count cannot reach zero early).
    outstanding: AtomicUsize,
    /// Failed deliveries.
    failed: AtomicUsize,
    /// The first failure reported: the message's topic and librdkafka's error.
    first_failure: Mutex<Option<(String, KafkaError)>>,
    /// Notified (with a stored permit) when `outstanding` reaches zero.
    done: Notify,
    /// The `produce` call was dropped before every report came: the callback logs failures
    /// itself, since nobody will return them.
    abandoned: AtomicBool,
}

impl Awaited {
    /// A new count holding the `produce` call's own one.
    pub(super) fn new() -> Self {
        Awaited {
            outstanding: AtomicUsize::new(1),
            failed: AtomicUsize::new(0),
            first_failure: Mutex::new(None),
            done: Notify::new(),
            abandoned: AtomicBool::new(false),
        }
    }

    /// One more message is about to be queued (counted before `send`, because its delivery
    /// report may arrive before `send` returns).
    pub(super) fn queueing(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// A message counted by [`queueing`](Self::queueing) got its report (or was not queued
    /// after all), or the `produce` call dropped its own count.
    pub(super) fn done(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    /// Records a failed delivery of a message to `topic`.
    pub(super) fn failed(&self, topic: &str, error: &KafkaError) {
        self.failed.fetch_add(1, Ordering::AcqRel);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some((topic.to_owned(), error.clone()));
        }
    }

    /// Drops the `produce` call's own count and waits until every queued message has its
    /// report; then the number of failures and the first one.
    pub(super) async fn wait(&self) -> (usize, Option<(String, KafkaError)>) {
        self.done();
        // `notify_one` keeps a permit when nobody waits yet, so the wake-up is never lost.
        while self.outstanding.load(Ordering::Acquire) != 0 {
            self.done.notified().await;
        }
        let first = self
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        (self.failed.load(Ordering::Acquire), first)
    }

    /// The `produce` call went away before [`wait`](Self::wait) returned: later failures are
    /// logged by the callback, and failures already counted are logged now.
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        let failed = self.failed.load(Ordering::Acquire);
        if failed > 0 {
            let first = self
                .first_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some((topic, error)) = first {
                tracing::error!(topic, error = %error, failed,
                    "message delivery failed after its publish was cancelled");
            }
        }
    }
}

/// Counts `kafka_async` messages between `produce` and their delivery report, so a flush can
/// wait for them and say how many failed.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    /// Queued messages without a delivery report yet.
    in_flight: AtomicU64,
    /// Failed delivery reports since the last [`Tracker::take_failed`].
    failed: AtomicU64,
    /// Notified when `in_flight` drops to zero.
    drained: Notify,
}

impl Tracker {
    /// One more message is about to be queued (counted before `send`, because its delivery
    /// report may arrive before `send` returns).
    pub(super) fn queueing(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// A message counted by [`queueing`](Self::queueing) was not queued after all, or got its
    /// delivery report.
    pub(super) fn done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Messages still waiting for a delivery report.
    pub(super) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Failed deliveries since the previous call, resetting the count.
    pub(super) fn take_failed(&self) -> u64 {
        self.failed.swap(0, Ordering::SeqCst)
    }

    /// Waits until no message is in flight, or until `deadline`.
    pub(super) async fn drained(&self, deadline: tokio::time::Instant) {
        loop {
            let notified = self.drained.notified();
            if self.in_flight() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

/// The producer context: routes each delivery report according to its [`Pending`]. Runs on
/// librdkafka's polling thread (or on a thread inside `flush`).
#[derive(Debug)]
pub(super) struct DeliveryContext {
    tracker: Arc<Tracker>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        match &*pending {
            Pending::Awaited(awaited) => {
                if let Err((error, message)) = result {
                    let topic = message.topic();
                    if awaited.abandoned.load(Ordering::Acquire) {
                        tracing::error!(topic, error = %error,
                            "message delivery failed after its publish was cancelled");
                    } else {
                        awaited.failed(topic, error);
                    }
                }
                awaited.done();
            }
            #[cfg(feature = "orm")]
            Pending::Each {
                awaited,
                failures,
                index,
            } => {
                if let Err((error, _)) = result {
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((*index, error.clone()));
                }
                awaited.done();
            }
            Pending::Queued { producer } => {
                if let Err((error, message)) = result {
                    self.tracker.failed.fetch_add(1, Ordering::SeqCst);
                    report_async_failure(producer, error, message);
                }
                self.tracker.done();
            }
        }
    }
}

/// Reports a failed `kafka_async` delivery, as `App::send` reports a failed `kafka` publish:
/// a `tracing` error naming producer, topic and error, the `publish_error` counter (tagged
/// `topic`) incremented by one, and the `produce_error` event with [`Error::Produce`] and the
/// one message (its key, value and headers as sent; no decoded forms).
fn report_async_failure(producer: &str, error: &KafkaError, message: &BorrowedMessage<'_>) {
    let topic = message.topic();
    tracing::error!(producer, topic, error = %error,
        "kafka_async: message delivery failed; it was not delivered");
    metrics::counter!("publish_error", "topic" => topic.to_owned()).increment(1);
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    let produced = ProducedMessage {
        topic: Arc::from(topic),
        key: message.key().map(bytes::Bytes::copy_from_slice),
        payload: message.payload().map(bytes::Bytes::copy_from_slice),
        decoded_key: None,
        decoded_payload: None,
        headers,
        // The partition it was sent to is chosen; the key that chose it is not kept.
        partition_key: None,
    };
    let error = Error::Produce {
        topic: topic.to_owned(),
        source: error.clone(),
    };
    crate::events::emit(&crate::events::Event::ProduceError {
        producer,
        topic,
        error: &error,
        messages: std::slice::from_ref(&produced),
    });
}
