//! The librdkafka producer of the outbox workers: `acks=all`, idempotent, and a result for
//! every message of a batch (a worker deletes exactly the rows that were delivered).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;

use super::librdkafka::{self, Awaited, Pending, RdProducer, Tracker};
use super::partition::PartitionKeys;
use super::ProducedMessage;
use crate::config::{Config, RequiredAcks};
use crate::error::{Error, Result};

/// Sends outbox batches and reports each message's outcome.
#[derive(Clone)]
pub(crate) struct OutboxSender {
    producer: RdProducer,
    partitions: Arc<PartitionKeys>,
}

impl std::fmt::Debug for OutboxSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSender").finish_non_exhaustive()
    }
}

impl OutboxSender {
    /// The producer of `config`'s `producers.*` with `acks=all`, idempotence (so retries
    /// neither reorder nor duplicate within a partition) and `db_producer.send_timeout` as
    /// `message.timeout.ms`.
    ///
    /// # Errors
    /// [`Error::Kafka`] when librdkafka rejects the configuration.
    pub(crate) fn from_config(config: &Config) -> Result<Self> {
        let mut config = config.clone();
        config.producers.required_acks = Some(RequiredAcks::All);
        config.producers.idempotence = true;
        config.producers.max_retries = config.producers.max_retries.max(1);
        config.producers.delivery_timeout = Some(config.db_producer.send_timeout);
        if config.producers.delivery_interval >= config.db_producer.send_timeout {
            config.producers.delivery_interval = Duration::from_millis(5);
        }
        Ok(OutboxSender {
            producer: librdkafka::create_producer(&config, Arc::new(Tracker::default()))?,
            partitions: Arc::new(PartitionKeys::from_config(&config)),
        })
    }

    /// librdkafka's fatal error, after which this producer sends nothing more (idempotence:
    /// e.g. a lost sequence); the workers then make a new one.
    pub(crate) fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code:?}: {reason}"))
    }

    /// Queues every message, then waits for every delivery report. One [`Outcome`] per
    /// message, in order.
    pub(crate) async fn send(&self, messages: &[ProducedMessage]) -> Vec<Outcome> {
        let awaited = Arc::new(Awaited::new());
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut outcome: Vec<Outcome> = (0..messages.len()).map(|_| Outcome::Delivered).collect();
        for (index, m) in messages.iter().enumerate() {
            let partition = match &m.partition_key {
                None => None,
                Some(key) => match self
                    .partitions
                    .partition(&self.producer, &m.topic, key)
                    .await
                {
                    Ok(partition) => Some(partition),
                    Err(e) => {
                        outcome[index] = Outcome::Refused(e);
                        continue;
                    }
                },
            };
            awaited.queueing();
            let pending = Arc::new(Pending::Each {
                awaited: awaited.clone(),
                failures: failures.clone(),
                index,
            });
            let record = librdkafka::record(m, partition, pending);
            if let Err(e) = librdkafka::enqueue(&self.producer, record).await {
                awaited.done();
                outcome[index] = Outcome::Refused(Error::Produce {
                    topic: m.topic.to_string(),
                    source: e,
                });
            }
        }
        let _ = awaited.wait().await;
        for (index, error) in failures.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            outcome[index] = Outcome::Failed(Error::Produce {
                topic: messages[index].topic.to_string(),
                source: error,
            });
        }
        outcome
    }
}

/// What became of one message given to [`OutboxSender::send`].
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The broker acknowledged it (`acks=all`).
    Delivered,
    /// It never left the process: librdkafka refused to queue it (for example larger than
    /// the producer's `message.max.bytes`: `MSG_SIZE_TOO_LARGE` from `rd_kafka_produce`), or
    /// its partition could not be computed. [`Error::Produce`] naming the topic.
    Refused(Error),
    /// Its delivery report carries an error: the broker refused the request or record batch
    /// it was in, or `message.timeout.ms` ran out. An error of a record batch is reported
    /// for each of its messages, so it does not say that this message is the cause.
    /// [`Error::Produce`] naming the topic.
    Failed(Error),
}

/// Whether `error` says the message is larger than the producer's `message.max.bytes` or the
/// broker's / topic's `max.message.bytes` (Kafka error 10, `MESSAGE_TOO_LARGE`; 18,
/// `RECORD_LIST_TOO_LARGE`): sending it again can never work.
pub(crate) fn is_too_large(error: &Error) -> bool {
    let Error::Produce { source, .. } = error else {
        return false;
    };
    matches!(
        source.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge)
    )
}
