//! The `kafka` backend: send and await each delivery report.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::Producer as _;
use rdkafka::util::Timeout;

use super::librdkafka::{self, Awaited, Pending, RdProducer, Tracker};
use super::partition::PartitionKeys;
use super::{ProducedMessage, ProducerBackend};
use crate::config::Config;
use crate::error::{Error, Result};

/// Sends through a librdkafka producer and awaits every delivery report, so `publish` returns
/// only once the broker acknowledged (per `producers.required_acks`) or delivery failed.
///
/// Messages of one `produce` call are queued together, then awaited; librdkafka keeps them in
/// order per partition. When librdkafka's queue is full (`producers.max_buffer_size` /
/// `max_buffer_bytesize`), `produce` waits for room, retrying every 5 ms. The delivery reports
/// of a call are counted together (one atomic count and one wake-up for the call, rather than
/// a channel per message); if any message failed, `produce` returns the error of a message
/// that could not be queued, else the first delivery failure reported, and logs one `tracing`
/// error with the number that failed.
///
/// When the broker is unreachable, each message fails after `producers.delivery_timeout`
/// (`message.timeout.ms`) with librdkafka's `MessageTimedOut`, and `produce` returns
/// [`Error::Produce`]. librdkafka keeps reconnecting in the background (backing off up to
/// `reconnect.backoff.max.ms`: 1 s in deimos' producers unless `kafka.extra` /
/// `producers.extra` set it; librdkafka's own default is 10 s), so publishing works again once
/// the broker is back, with no restart.
#[derive(Clone)]
pub struct KafkaBackend {
    producer: RdProducer,
    flush_timeout: Duration,
    partitions: Arc<PartitionKeys>,
}

impl std::fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBackend").finish_non_exhaustive()
    }
}

impl KafkaBackend {
    /// Creates the librdkafka producer from [`Config::producer_client_config`]. Nothing
    /// connects yet: librdkafka connects on first use.
    ///
    /// # Errors
    /// [`Error::Kafka`] when librdkafka rejects the configuration.
    pub fn from_config(config: &Config) -> Result<Self> {
        Ok(KafkaBackend {
            producer: librdkafka::create_producer(config, Arc::new(Tracker::default()))?,
            flush_timeout: librdkafka::flush_bound(config),
            partitions: Arc::new(PartitionKeys::from_config(config)),
        })
    }
}

#[async_trait::async_trait]
impl ProducerBackend for KafkaBackend {
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        // Queue every message first (librdkafka batches them per partition), then await the
        // delivery reports, counted together for the whole call.
        let awaited = Arc::new(Awaited::new());
        let pending = Arc::new(Pending::Awaited(awaited.clone()));
        let mut guard = Abandon::new(&awaited);
        for m in messages {
            let partition = match &m.partition_key {
                None => None,
                Some(key) => match self
                    .partitions
                    .partition(&self.producer, &m.topic, key)
                    .await
                {
                    Ok(partition) => Some(partition),
                    Err(e) => {
                        guard.not_queued(&m.topic, e);
                        continue;
                    }
                },
            };
            awaited.queueing();
            let record = librdkafka::record(m, partition, pending.clone());
            if let Err(e) = librdkafka::enqueue(&self.producer, record).await {
                awaited.done();
                guard.not_queued(
                    &m.topic,
                    Error::Produce {
                        topic: m.topic.to_string(),
                        source: e,
                    },
                );
            }
        }
        let (failed, first) = awaited.wait().await;
        let not_queued = guard.finish();
        let failed = failed + not_queued.as_ref().map_or(0, |n| n.0);
        // A message that was not queued came before any delivery report could.
        let error = match (not_queued, first) {
            (Some((_, e)), _) => e,
            (None, Some((topic, source))) => Error::Produce { topic, source },
            (None, None) => return Ok(()),
        };
        tracing::error!(failed, total = messages.len(), error = %error, "publish failed");
        Err(error)
    }

    /// Waits for anything still queued (only messages of cancelled `publish` calls can be), at
    /// most `producers.delivery_timeout + producers.ack_timeout + 1 s`.
    async fn flush(&self) -> Result<()> {
        let producer = self.producer.clone();
        let timeout = self.flush_timeout;
        tokio::task::spawn_blocking(move || producer.flush(Timeout::After(timeout)))
            .await
            .map_err(|_| Error::Timeout {
                context: "flushing the kafka producer".into(),
                after: timeout,
            })?
            .map_err(|e| Error::kafka("flushing the kafka producer", e))
    }
}

/// What a `kafka` `produce` call keeps besides the delivery count: the messages it could not
/// queue (how many, and the first error), and, should the call's future be dropped before
/// every delivery report came, [`Awaited::abandon`] on drop, so that the delivery callback
/// logs the failures nobody will return.
struct Abandon<'a> {
    /// `None` once the call has its reports.
    awaited: Option<&'a Awaited>,
    /// Messages not queued: how many, and the first one's error.
    not_queued: Option<(usize, Error)>,
}

impl<'a> Abandon<'a> {
    fn new(awaited: &'a Awaited) -> Self {
        Abandon {
            awaited: Some(awaited),
            not_queued: None,
        }
    }

    /// A message to `topic` could not be queued, for `error`.
    fn not_queued(&mut self, topic: &str, error: Error) {
        tracing::error!(topic, error = %error, "message not queued");
        match &mut self.not_queued {
            Some((count, _)) => *count += 1,
            None => self.not_queued = Some((1, error)),
        }
    }

    /// Every report came: nothing to abandon. The messages not queued.
    fn finish(mut self) -> Option<(usize, Error)> {
        self.awaited = None;
        self.not_queued.take()
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(awaited) = self.awaited {
            awaited.abandon();
        }
    }
}
