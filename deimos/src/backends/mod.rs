//! Producer backends: where encoded messages go (`producers.backend`).
//!
//! | backend | type | what `publish` awaits |
//! |---|---|---|
//! | `kafka` | [`KafkaBackend`] | librdkafka's delivery report for every message |
//! | `test` | [`TestBackend`] | nothing: messages are captured in memory |
//!
//! The Deimos backends `kafka_async` and `db` (transactional outbox) implement the same trait.

mod kafka;
mod partition;
mod test;

pub use kafka::KafkaBackend;
pub use test::TestBackend;

use apache_avro::types::Value;

use crate::error::Result;

/// A message ready for a backend: topic (prefix applied), encoded key and value, and the
/// decoded forms they were encoded from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducedMessage {
    /// Final topic name, with `producers.topic_prefix` applied.
    pub topic: String,
    /// Encoded key; `None` for `key_config(none)`.
    pub key: Option<Vec<u8>>,
    /// Encoded value; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// The key before encoding (field value, key record, or plain string).
    pub decoded_key: Option<Value>,
    /// The value before encoding, resolved against its schema. `None` for a tombstone, and
    /// for typed payloads on the fast path (every backend but `test`), which never build it.
    pub decoded_payload: Option<Value>,
    /// Record headers, in order (names may repeat).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Chooses the partition instead of the key (Deimos' `partition_key`); `None`: the
    /// partitioner hashes the encoded key. See
    /// [`ProducerHooks::partition_key`](crate::producer::ProducerHooks::partition_key).
    pub partition_key: Option<String>,
}

/// Sends encoded messages somewhere (Deimos' producer backends).
#[async_trait::async_trait]
pub trait ProducerBackend: Send + Sync + std::fmt::Debug {
    /// Sends `messages` in order.
    ///
    /// # Errors
    /// Backend-specific; [`KafkaBackend`] returns [`Error::Produce`](crate::Error::Produce)
    /// for the first message that was not delivered (after trying every message).
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()>;

    /// Waits for anything still queued (called on shutdown).
    ///
    /// # Errors
    /// When queued messages could not be delivered in time.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// This backend as a [`TestBackend`], if it is one.
    fn as_test(&self) -> Option<&TestBackend> {
        None
    }
}
