//! The `kafka_async` backend: queue in librdkafka and return without awaiting delivery.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use super::librdkafka::{self, Pending, RdProducer, Tracker};
use super::partition::PartitionKeys;
use super::{ProducedMessage, ProducerBackend};
use crate::config::Config;
use crate::error::{Error, Result};

/// Queues every message in librdkafka and returns at once (Deimos' `kafka_async` backend,
/// its default). librdkafka sends the queue in the background, batched per partition and in
/// order per partition.
///
/// - **Queue limits.** librdkafka's queue holds at most `producers.max_buffer_size` messages
///   (`queue.buffering.max.messages`) and `producers.max_buffer_bytesize` bytes
///   (`queue.buffering.max.kbytes`), counting every message from `publish` until its delivery
///   report. A message that does not fit is not waited for: `publish` returns
///   [`Error::BufferOverflow`] at once (ruby-kafka's `Kafka::BufferOverflow`). The messages of
///   the same call before it stay queued and are delivered (or reported as failed, below);
///   the overflowing one and those after it are not queued ([`Error::BufferOverflow`]'s
///   `queued` says how many were).
/// - **Delivery failures.** Delivery reports are still collected, by librdkafka's polling
///   thread. A message that cannot be delivered within `producers.delivery_timeout`
///   (`message.timeout.ms`), or that the broker rejects, is reported there: a `tracing`
///   error naming producer, topic and error; the `publish_error` counter (tagged `topic`)
///   incremented by one; and the [`Event::ProduceError`](crate::events::Event::ProduceError)
///   event with [`Error::Produce`] and that one message (subscribers run on the polling
///   thread). `publish` had returned `Ok` for it long before.
/// - **Metrics and events on `publish`.** As in Deimos, where `produce` fires when the
///   messages are handed to the backend: the `publish` counter and the `produce` event mean
///   *queued*, not delivered. A message that later fails is counted in `publish` and then in
///   `publish_error`.
/// - **Shutdown.** Queued messages are lost if the process exits first: call
///   [`App::shutdown_producers`](crate::App::shutdown_producers) (or let
///   [`run`](crate::run) end, which calls it) before exiting. Dropping the last [`App`] purges
///   the queue (each purged message is reported as a failure, as above).
///
/// [`App`]: crate::App
pub struct KafkaAsyncBackend {
    producer: RdProducer,
    tracker: Arc<Tracker>,
    max_buffer_size: u32,
    max_buffer_bytesize: u64,
    flush_timeout: Duration,
    partitions: PartitionKeys,
}

impl std::fmt::Debug for KafkaAsyncBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAsyncBackend")
            .field("in_flight", &self.tracker.in_flight())
            .finish_non_exhaustive()
    }
}

impl KafkaAsyncBackend {
    /// Creates the librdkafka producer from [`Config::producer_client_config`]. Nothing
    /// connects yet: librdkafka connects on first use.
    ///
    /// # Errors
    /// [`Error::Kafka`] when librdkafka rejects the configuration.
    pub fn from_config(config: &Config) -> Result<Self> {
        let tracker = Arc::new(Tracker::default());
        Ok(KafkaAsyncBackend {
            producer: librdkafka::create_producer(config, tracker.clone())?,
            tracker,
            max_buffer_size: config.producers.effective_max_messages(),
            max_buffer_bytesize: config.producers.max_buffer_bytesize,
            flush_timeout: librdkafka::flush_bound(config),
            partitions: PartitionKeys::from_config(config),
        })
    }

    /// Messages queued by this backend that have no delivery report yet.
    pub fn in_flight(&self) -> u64 {
        self.tracker.in_flight()
    }

    /// Queues `messages`; partition keys are resolved first (broker metadata), so a topic
    /// whose metadata cannot be read fails the call before anything is queued.
    async fn queue(&self, producer: &str, messages: &[ProducedMessage]) -> Result<()> {
        let partitions = if messages.iter().any(|m| m.partition_key.is_some()) {
            self.partitions.partitions(&self.producer, messages).await?
        } else {
            Vec::new()
        };
        let pending = Arc::new(Pending::Queued {
            producer: Arc::from(producer),
        });
        for (queued, m) in messages.iter().enumerate() {
            let partition = partitions.get(queued).copied().flatten();
            self.tracker.queueing();
            if let Err((error, _record)) =
                self.producer
                    .send(librdkafka::record(m, partition, pending.clone()))
            {
                self.tracker.done();
                tracing::error!(topic = %m.topic, queued, total = messages.len(), error = %error,
                    "kafka_async: message not queued");
                return Err(match error {
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        Error::BufferOverflow {
                            topic: m.topic.to_string(),
                            max_buffer_size: self.max_buffer_size,
                            max_buffer_bytesize: self.max_buffer_bytesize,
                            queued,
                        }
                    }
                    error => Error::Produce {
                        topic: m.topic.to_string(),
                        source: error,
                    },
                });
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ProducerBackend for KafkaAsyncBackend {
    /// Queues `messages` in order and returns; see the [type docs](KafkaAsyncBackend). The
    /// `produce_error` event of a later delivery failure names the producer
    /// `"KafkaAsyncBackend"`; [`App`](crate::App) calls
    /// [`produce_from`](ProducerBackend::produce_from), which names the real one.
    ///
    /// # Errors
    /// [`Error::BufferOverflow`] when the queue is full; [`Error::Produce`] when librdkafka
    /// refuses a message for another reason (e.g. larger than `message.max.bytes`). In both
    /// cases the messages before it stay queued and the rest of the call is not queued.
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        self.queue("KafkaAsyncBackend", messages).await
    }

    async fn produce_from(&self, producer: &str, messages: &[ProducedMessage]) -> Result<()> {
        self.queue(producer, messages).await
    }

    /// Waits until every queued message has its delivery report, at most
    /// `producers.delivery_timeout + producers.ack_timeout + 1 s` (by then librdkafka has
    /// timed out every message that was queued when the flush began). Messages still lingering
    /// in librdkafka's batches (`queue.buffering.max.ms`, 5 ms by default) may be sent only
    /// when their linger ends: rust-rdkafka's flush raises librdkafka's "send now" flag only
    /// for moments at a time.
    /// Messages queued by other tasks during the flush are waited for too, within the same
    /// bound. The producer stays usable afterwards.
    ///
    /// # Errors
    /// [`Error::Flush`] when messages failed delivery since the previous flush (`failed`;
    /// each was already reported, see the [type docs](KafkaAsyncBackend)) or were still
    /// queued when the bound ran out (`pending`).
    async fn flush(&self) -> Result<()> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.flush_timeout;
        let producer = self.producer.clone();
        let timeout = self.flush_timeout;
        // A timeout here shows as `pending` below.
        let _ = tokio::task::spawn_blocking(move || producer.flush(Timeout::After(timeout))).await;
        // The polling thread may still be running the last delivery callbacks.
        self.tracker.drained(deadline).await;
        let pending = self.tracker.in_flight();
        let failed = self.tracker.take_failed();
        if pending == 0 && failed == 0 {
            return Ok(());
        }
        Err(Error::Flush {
            backend: "kafka_async",
            failed,
            pending,
            waited: started.elapsed(),
        })
    }
}
