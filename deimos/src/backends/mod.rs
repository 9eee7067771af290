//! Producer backends: where encoded messages go (`producers.backend`), after Deimos'
//! backends of the same names.
//!
//! | backend | type | what `publish` awaits | delivery failure | `publish` metric, `produce` event mean |
//! |---|---|---|---|---|
//! | `kafka` (default) | [`KafkaBackend`] | librdkafka's delivery report for every message | returned by `publish` ([`Error::Produce`](crate::Error::Produce)) | delivered |
//! | `kafka_async` (Deimos' default) | [`KafkaAsyncBackend`] | nothing: messages are queued in librdkafka; a full queue is [`Error::BufferOverflow`](crate::Error::BufferOverflow) | reported later: `produce_error` event, `publish_error` metric, `tracing` error | queued |
//! | `db` (feature `orm`) | [`DbBackend`] | the insert into the `kafka_messages` outbox table, on the caller's connection or transaction; outbox workers send later | returned by `publish` for the insert ([`Error::Database`](crate::Error::Database)); a send failure is retried by the workers | written to the outbox |
//! | `test` | [`TestBackend`] | nothing: messages are captured in memory | — | captured |
//!
//! Both kafka backends share one librdkafka producer setup and build their records in one
//! place. [`App::shutdown_producers`](crate::App::shutdown_producers) (also called when
//! [`run`](crate::run) ends) flushes the backend: for `kafka_async` it waits for every queued
//! message's delivery report.

mod db;
mod kafka;
mod kafka_async;
mod librdkafka;
#[cfg(feature = "orm")]
pub(crate) mod outbox_sender;
mod partition;
mod test;

pub use db::DbBackend;
pub use kafka::KafkaBackend;
pub use kafka_async::KafkaAsyncBackend;
pub use test::TestBackend;

use std::sync::Arc;

use apache_avro::types::Value;
use bytes::Bytes;

use crate::error::Result;

/// A message ready for a backend: topic (prefix applied), encoded key and value, and the
/// decoded forms they were encoded from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducedMessage {
    /// Final topic name, with `producers.topic_prefix` applied; shared by the messages of one
    /// call (compare with `&*message.topic == "widgets"`).
    pub topic: Arc<str>,
    /// Encoded key; `None` for `key_config(none)`. On the typed fast path a slice of a buffer
    /// shared with other messages of the same call (see
    /// [`EncodedPayload`](crate::schema::EncodedPayload)).
    pub key: Option<Bytes>,
    /// Encoded value; `None` for a tombstone. Shared as the key is.
    pub payload: Option<Bytes>,
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
    /// for the first failure reported (after trying every message).
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()>;

    /// As [`produce`](Self::produce), for the messages of `producer` (named as in
    /// [`Event`](crate::events::Event): the payload type, or `DynamicProducer(<topic>)`).
    /// [`App`](crate::App) calls this one. Backends that report failures after returning
    /// ([`KafkaAsyncBackend`]) name `producer` in the `produce_error` event; the default
    /// calls `produce`.
    ///
    /// # Errors
    /// As [`produce`](Self::produce).
    async fn produce_from(&self, producer: &str, messages: &[ProducedMessage]) -> Result<()> {
        let _ = producer;
        self.produce(messages).await
    }

    /// Waits for anything still queued (called by
    /// [`App::shutdown_producers`](crate::App::shutdown_producers)). The backend stays usable.
    ///
    /// # Errors
    /// When queued messages could not be delivered in time, or (`kafka_async`) failed
    /// delivery since the previous flush ([`Error::Flush`](crate::Error::Flush)).
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// This backend as a [`TestBackend`], if it is one.
    fn as_test(&self) -> Option<&TestBackend> {
        None
    }
}
