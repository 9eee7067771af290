//! The `kafka` backend: send and await each delivery report.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

use super::librdkafka::{self, Pending, RdProducer, Tracker};
use super::partition::PartitionKeys;
use super::{ProducedMessage, ProducerBackend};
use crate::config::Config;
use crate::error::{Error, Result};

/// How long to wait before retrying a message the full local queue refused.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

/// Sends through a librdkafka producer and awaits every delivery report, so `publish` returns
/// only once the broker acknowledged (per `producers.required_acks`) or delivery failed.
///
/// Messages of one `produce` call are queued together, then awaited; librdkafka keeps them in
/// order per partition. When librdkafka's queue is full (`producers.max_buffer_size` /
/// `max_buffer_bytesize`), `produce` waits for room, retrying every 5 ms.
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
        // delivery reports.
        let mut pending = Vec::with_capacity(messages.len());
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
                        pending.push((m.topic.as_str(), Err(e)));
                        continue;
                    }
                },
            };
            let (tx, rx) = oneshot::channel();
            let mut record = librdkafka::record(m, partition, Box::new(Pending::Awaited(tx)));
            let queued = loop {
                match self.producer.send(record) {
                    Ok(()) => break Ok(rx),
                    // The local queue (`producers.max_buffer_size` / `max_buffer_bytesize`)
                    // is full: it drains as earlier messages are delivered or time out. Wait
                    // for room, as rdkafka's `FutureProducer::send` does.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(QUEUE_FULL_WAIT).await;
                    }
                    Err((e, _)) => {
                        break Err(Error::Produce {
                            topic: m.topic.clone(),
                            source: e,
                        })
                    }
                }
            };
            pending.push((m.topic.as_str(), queued));
        }
        let mut first_error = None;
        let mut failed = 0usize;
        for (topic, queued) in pending {
            let outcome = match queued {
                Ok(delivery) => match delivery.await {
                    Ok(outcome) => outcome,
                    // The producer went away without a report (it is never dropped while a
                    // `produce` call borrows this backend).
                    Err(_) => Err(KafkaError::Canceled),
                }
                .map_err(|source| Error::Produce {
                    topic: topic.to_owned(),
                    source,
                }),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                failed += 1;
                tracing::error!(topic, error = %e, "message delivery failed");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => {
                tracing::error!(failed, total = messages.len(), "publish failed");
                Err(e)
            }
        }
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
