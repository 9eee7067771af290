//! The `kafka` backend: send and await each delivery report.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

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
/// order per partition.
#[derive(Clone)]
pub struct KafkaBackend {
    producer: FutureProducer,
    flush_timeout: Duration,
    partitions: Arc<PartitionKeys>,
}

impl std::fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBackend").finish_non_exhaustive()
    }
}

impl KafkaBackend {
    /// Creates the librdkafka producer from [`Config::producer_client_config`].
    ///
    /// # Errors
    /// [`Error::Kafka`] when librdkafka rejects the configuration.
    pub fn from_config(config: &Config) -> Result<Self> {
        let producer = config
            .producer_client_config()
            .create()
            .map_err(|e| Error::kafka("creating the kafka producer", e))?;
        Ok(KafkaBackend {
            producer,
            flush_timeout: config.producers.ack_timeout * 2 + Duration::from_secs(5),
            partitions: Arc::new(PartitionKeys::from_config(config)),
        })
    }
}

#[async_trait::async_trait]
impl ProducerBackend for KafkaBackend {
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        // Enqueue every message first (librdkafka batches them per partition), then await
        // the delivery reports. `FutureProducer::send` would enqueue only when awaited, which
        // sends one message per linger interval when awaited in turn.
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&m.topic);
            if let Some(partition_key) = &m.partition_key {
                match self
                    .partitions
                    .partition(&self.producer, &m.topic, partition_key)
                    .await
                {
                    Ok(partition) => record = record.partition(partition),
                    Err(e) => {
                        pending.push((m.topic.as_str(), Err(e)));
                        continue;
                    }
                }
            }
            if let Some(k) = &m.key {
                record = record.key(k.as_slice());
            }
            if let Some(p) = &m.payload {
                record = record.payload(p.as_slice());
            }
            if !m.headers.is_empty() {
                let headers = m.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                    h.insert(Header {
                        key: k,
                        value: Some(v.as_slice()),
                    })
                });
                record = record.headers(headers);
            }
            let queued = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break Ok(delivery),
                    // The local queue (`producers.max_buffer_size` / `max_buffer_bytesize`)
                    // is full: it drains as earlier messages are delivered. Wait for room, as
                    // rdkafka's own `send` does.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(QUEUE_FULL_WAIT).await;
                    }
                    Err((e, _)) => break Err(e),
                }
            };
            pending.push((
                m.topic.as_str(),
                queued.map_err(|source| Error::Produce {
                    topic: m.topic.clone(),
                    source,
                }),
            ));
        }
        let mut first_error = None;
        let mut failed = 0usize;
        for (topic, queued) in pending {
            let outcome = match queued {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((source, _))) => Err(Error::Produce {
                        topic: topic.to_owned(),
                        source,
                    }),
                    Err(_) => Err(Error::Produce {
                        topic: topic.to_owned(),
                        source: KafkaError::Canceled,
                    }),
                },
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
