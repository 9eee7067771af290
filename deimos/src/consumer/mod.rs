//! Consumers: handlers registered with `#[consumer]` and the loop that feeds them.
//!
//! ```no_run
//! # #![allow(dead_code)]
//! # use serde::Deserialize;
//! # #[derive(Debug, Deserialize)] struct Widget { id: i64 }
//! #[deimos::consumer(topic = "widgets", schema = "com.example.Widget",
//!                    group_id = "widget-service", key_config(field = "id"))]
//! async fn handle(widget: Option<Widget>, metadata: deimos::Metadata) -> Result<(), deimos::BoxError> {
//!     match widget {
//!         Some(w) => println!("widget {} at offset {}", w.id, metadata.offset),
//!         None => println!("tombstone for key {:?}", metadata.key),
//!     }
//!     Ok(())
//! }
//!
//! // One call per partition batch, with per-consumer settings (see "Settings" below).
//! #[deimos::consumer(topic = "widgets", schema = "com.example.Widget",
//!                    group_id = "widget-archive", key_config(field = "id"),
//!                    delivery = "inline_batch", max_batch_size = 500, max_wait_time = "250ms",
//!                    backoff(min = "100ms", max = 60), reraise_errors = true,
//!                    dead_letter_topic = "widgets.dlq", fatal_error = is_fatal)]
//! async fn archive(
//!     widgets: Vec<Option<Widget>>,
//!     metadata: deimos::BatchMetadata,
//! ) -> Result<(), deimos::BoxError> {
//!     println!("{} widgets from {}/{}", widgets.len(), metadata.topic, metadata.partition);
//!     Ok(())
//! }
//!
//! fn is_fatal(error: &deimos::Error) -> bool {
//!     matches!(error, deimos::Error::Config { .. })
//! }
//! # fn main() {}
//! ```
//!
//! # Settings
//! Besides `topic`, `schema`, `namespace`, `group_id` and `key_config`, `#[consumer]` takes
//! these optional arguments, each at most once. Each one is the consumer's default for the
//! configuration key of the same name: `[consumer.<name>]` in the configuration overrides it,
//! and it overrides `consumers.*` (see [`ResolvedConsumer`]). Durations are whole seconds
//! (`session_timeout = 30`, as in the configuration files) or a
//! [`humantime`](https://docs.rs/humantime) string (`"500ms"`, `"2m"`, `"1s 500ms"`), checked at
//! compile time.
//!
//! | Argument | Value | Meaning |
//! |---|---|---|
//! | `delivery` | `"message"` (default), `"batch"`, `"inline_batch"` | see [`Delivery`]; `inline_batch` handlers take `(Vec<Option<T>>, BatchMetadata)` |
//! | `max_concurrency` | integer ≥ 1 | independent consumers in the group |
//! | `start_from_beginning` | bool | `auto.offset.reset` earliest (true) or latest for a new group |
//! | `session_timeout` | duration | `session.timeout.ms` |
//! | `heartbeat_interval` | duration | `heartbeat.interval.ms` |
//! | `offset_commit_interval` | duration | `auto.commit.interval.ms` |
//! | `offset_commit_threshold` | integer | also commit after this many handled messages (0: interval only) |
//! | `backoff(min = .., max = ..)` | durations, `min` ≤ `max` | retry delays when `reraise_errors` is true |
//! | `reraise_errors` | bool | retry a failing message instead of logging and skipping it |
//! | `disabled` | bool | do not start this consumer |
//! | `max_batch_size` | integer ≥ 1 | most messages per batch (`batch`, `inline_batch`) |
//! | `max_wait_time` | duration | longest wait to fill a batch |
//! | `min_bytes` | integer ≥ 1 | `fetch.min.bytes` |
//! | `max_bytes_per_partition` | integer ≥ 1 | `max.partition.fetch.bytes` |
//! | `report_lag` | bool | report the `consumer_lag` gauge |
//! | `dead_letter_topic` | topic name, not `topic` | where failing messages go |
//! | `dead_letter_max_retries` | integer | retries before the dead-letter topic |
//! | `fatal_error` | path to a `fn(&deimos::Error) -> bool` | per-consumer fatal-error hook, asked besides [`set_fatal_error`]'s predicate |
//!
//! `offset_retention_time` is refused at compile time: librdkafka does not send a retention
//! time in OffsetCommit (KIP-211 removed it in Kafka 2.1); set the broker's
//! `offsets.retention.minutes` instead.
//!
//! # Delivery and offsets
//! Each registration gets `max_concurrency` librdkafka consumers in group `group_id`, each
//! subscribed to `topic` and given its share of the partitions by the group. Within a
//! partition messages are handled in offset order. Offsets are at-least-once: a message's
//! offset is stored (`rd_kafka_offsets_store`) only after its handler returned (or its error
//! was skipped or dead-lettered), and stored offsets are committed every
//! `offset_commit_interval`, after `offset_commit_threshold` messages when set, on revocation
//! and on shutdown. A crash between handling and commit redelivers the message; nothing is
//! skipped. A new group starts at the earliest offset unless `start_from_beginning` is false.
//!
//! [`Delivery::Batch`] and [`Delivery::InlineBatch`] gather up to `max_batch_size` messages,
//! waiting at most `max_wait_time` after the first, and split them by partition; `batch`
//! calls the handler per message, `inline_batch` once per partition's share, with a
//! [`BatchMetadata`] whose keys line up with the payloads.
//!
//! # Errors in handlers
//! A handler error (or a message that cannot be decoded, including a payload that does not
//! fit the handler's type, or a panic) goes through Deimos' error policy:
//!
//! 1. **Fatal**: the global predicate ([`set_fatal_error`], Deimos' `consumers.fatal_error`)
//!    or the consumer's `fatal_error` hook says so. The consumer stops without storing the
//!    message, every other consumer stops gracefully, and [`run`](crate::run) returns the
//!    error. On restart the message is delivered again.
//! 2. **Dead letter** (beyond Deimos; Karafka's and Spring Kafka's dead-letter topics): with
//!    `dead_letter_topic`, the message is retried `dead_letter_max_retries` times (with the
//!    backoff below), then produced to the dead-letter topic with its original key, value and
//!    headers plus the failure in [`dead_letter_headers`] (awaiting delivery, through the
//!    synchronous `kafka` producer whatever `producers.backend` is; the topic is used as
//!    given, without `producers.topic_prefix`), and its offset is stored. A failed
//!    dead-letter send is retried; the message is never skipped unsent. An inline batch goes
//!    to the dead-letter topic whole.
//! 3. **Retry** (`reraise_errors = true`): the message's partition is paused
//!    (`rd_kafka_pause_partitions`) and the message (and what was fetched after it) is held
//!    and retried after an exponential backoff between `backoff.min` and `backoff.max`,
//!    until it succeeds; other partitions keep flowing meanwhile. The partition is resumed
//!    once the held messages are handled. An inline batch is retried whole.
//! 4. **Skip** (Deimos' default): the error is logged with its topic, partition and offset,
//!    counted, and consumption moves on.
//!
//! An inline batch succeeds or fails as a whole, as in Deimos: one message in it that cannot
//! be decoded fails the batch, so under the skip policy the whole batch is skipped (every
//! message of it logged as skipped by offset range), with `reraise_errors` the batch is
//! retried until the message decodes, and with a dead-letter topic the whole batch goes
//! there.
//!
//! # Rebalances and shutdown
//! librdkafka revokes partitions from inside the consumer's poll, so no handler is running
//! then: librdkafka commits what was handled (the stored offsets of the revoked partitions,
//! `enable.auto.commit`) before the unassignment completes, without blocking the consumer's
//! task; messages
//! held for a revoked partition (a batch being gathered, a message waiting for its retry)
//! are dropped unstored, so the partition's next owner receives them from the committed
//! offset. On shutdown the handler in flight finishes, the rest of its batch is not started,
//! what was handled is committed, and the consumer leaves its group.
//!
//! # Metrics and tracing
//! Deimos' consumer metrics, through the `metrics` facade: the counter `handler` tagged
//! `topic` and `status` (`received` once the message is decoded, then `success` or `error`;
//! a message that cannot be decoded counts one `error` and no `received`; for inline batches
//! also `batch_received`, `batch_success`, `batch_error`, once per batch, and `received` /
//! `success` per message), and the histogram `handler` tagged `topic` and `time`:
//! `consume` (seconds from the start of decoding to the handler's return), `consume_batch`
//! for inline batches, and `time_delayed` (seconds from the payload's `timestamp` field to
//! its handling, when the schema has one). With `report_lag`, the gauge `consumer_lag`
//! tagged `topic`, `partition` and `consumer_group` reports each assigned partition's lag
//! (high watermark minus the stored offset, from librdkafka's statistics, every
//! `heartbeat_interval`). Each attempt runs in a `deimos.consume` span with OpenTelemetry's
//! messaging attributes (`messaging.system`, `messaging.destination.name`,
//! `messaging.kafka.destination.partition`, `messaging.kafka.message.offset`,
//! `messaging.kafka.consumer.group`, and `messaging.batch.message_count` for batches) plus
//! `deimos.consumer` and `deimos.attempt`; decoding runs in a child `deimos.decode` span with
//! the same attributes. A failure is recorded on the span as `error` and
//! `otel.status_code = "ERROR"`.

mod runner;
mod settings;

pub use runner::dead_letter_headers;
#[cfg_attr(not(feature = "orm"), allow(unused_imports))] // used by deimos::orm
pub(crate) use runner::{error_chain, run_consumer};
pub(crate) use settings::check_override_names;
pub use settings::ResolvedConsumer;

use std::sync::{Arc, RwLock};

use crate::error::Error;

/// A fatal-error predicate (see [`set_fatal_error`]).
type FatalErrorFn = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

static FATAL_ERROR: RwLock<Option<FatalErrorFn>> = RwLock::new(None);

/// Sets Deimos' global `consumers.fatal_error` predicate for this process, replacing any
/// earlier one: it is asked about every handler error and every message that cannot be
/// decoded ([`Error::Handler`], or a decode error naming topic, partition and offset), in
/// any consumer. When it returns true, the error is fatal: the consumer does not retry or
/// skip the message and does not commit its offset; it stops, every other consumer is
/// stopped gracefully, and [`run`](crate::run) / [`App::run`](crate::App::run) returns the
/// error. On restart the message is delivered again. A panicking predicate counts as false
/// (the panic is logged). Without a predicate no error is fatal (Deimos' default).
pub fn set_fatal_error(predicate: impl Fn(&Error) -> bool + Send + Sync + 'static) {
    *FATAL_ERROR.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(predicate));
}

/// Removes the predicate [`set_fatal_error`] set: no error is fatal any more.
pub fn clear_fatal_error() {
    *FATAL_ERROR.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Whether the [`set_fatal_error`] predicate calls `error` fatal (false without one, or when
/// it panics).
pub(crate) fn is_fatal(error: &Error) -> bool {
    let predicate = FATAL_ERROR
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(predicate) = predicate else {
        return false;
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| predicate(error))).unwrap_or_else(
        |_| {
            tracing::error!(error = %error, "the fatal_error predicate panicked; not fatal");
            false
        },
    )
}

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use apache_avro::types::Value;

use crate::error::BoxError;
use crate::schema::{KeyConfig, SchemaRef};

/// What a handler is told about the message besides its payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metadata {
    /// The decoded key (see [`Codec::decode_key`](crate::schema::Codec::decode_key)): the key
    /// field's value for `key_config(field)`, the key record for `key_config(schema)`, a
    /// string for `key_config(plain)`, the raw bytes for `key_config(none)`; `None` when the
    /// message had no key.
    pub key: Option<Value>,
    /// Topic the message came from.
    pub topic: String,
    /// Partition (Kafka `int32`).
    pub partition: i32,
    /// Offset within the partition (Kafka `int64`).
    pub offset: i64,
    /// Message timestamp in milliseconds since the Unix epoch (create or log-append time), if
    /// the broker sent one.
    pub timestamp: Option<i64>,
    /// Record headers in order; a header value may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Metadata {
    /// Metadata of a message at `topic`/`partition`@`offset` with the decoded `key`, no
    /// timestamp and no headers: for calling handlers and hooks outside a consumer (tests,
    /// replays).
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64, key: Option<Value>) -> Self {
        Metadata {
            key,
            topic: topic.into(),
            partition,
            offset,
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// The decoded key as a serde type, e.g. `metadata.key_as::<i64>()` for a `long` key field.
    ///
    /// # Errors
    /// When there is no key or it does not fit `T`.
    pub fn key_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, BoxError> {
        let key = self.key.as_ref().ok_or_else(|| -> BoxError {
            format!(
                "message at {}/{}@{} has no key",
                self.topic, self.partition, self.offset
            )
            .into()
        })?;
        crate::schema::from_avro_value(key)
    }

    /// The value of the first header with this name; `None` when there is no such header or
    /// its value is null (look in [`headers`](Self::headers) to tell the two apart).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The boxed future a registered handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// A handler as registered by `#[consumer]`: the decoded value (a raw datum for the typed fast
/// path, or a `Value`; `Incoming::Value(None)` for a tombstone) and the metadata in. The
/// payload is converted to the handler's type before the handler runs: a payload that does
/// not convert is a [`PayloadError`] (the consumer reports it as [`Error::Decode`] through the
/// error policy); otherwise the handler's future, whose output is the handler's result.
///
/// [`Error::Decode`]: crate::Error::Decode
pub type HandlerFn = fn(crate::schema::Incoming, Metadata) -> Result<HandlerFuture, PayloadError>;

/// An `inline_batch` handler as registered by `#[consumer(delivery = "inline_batch")]`: the
/// decoded values of one partition's batch, in offset order, and the batch's metadata; the
/// payloads convert as for [`HandlerFn`], the first that does not is the [`PayloadError`].
pub type BatchHandlerFn =
    fn(Vec<crate::schema::Incoming>, BatchMetadata) -> Result<HandlerFuture, PayloadError>;

/// A message payload that does not convert to its handler's payload type: not a valid datum of
/// the schema it was written with, or a datum that does not fit the type. The consumer turns
/// it into [`Error::Decode`] (`what = "payload"`) with the topic, partition and consumer
/// schema, and applies its error policy.
#[derive(Debug)]
pub struct PayloadError {
    /// Offset of the message whose payload did not convert (Kafka `int64`).
    pub offset: i64,
    /// What did not fit (the `serde_avro_fast`, apache-avro or serde error).
    pub source: BoxError,
}

/// The two handler shapes.
#[derive(Debug, Clone, Copy)]
pub enum Handler {
    /// Called once per message (`message` and `batch` delivery).
    Message(HandlerFn),
    /// Called once per batch (`inline_batch` delivery).
    Batch(BatchHandlerFn),
}

/// How a consumer receives messages (Phobos' and Deimos' `delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// One message at a time; each offset is stored once its handler returned.
    Message,
    /// Messages are gathered into batches per partition (up to `max_batch_size`, waiting at
    /// most `max_wait_time`), and the handler is called per message (Phobos' `batch`). Offsets
    /// are stored per message, as in `message`.
    Batch,
    /// The handler receives one partition's batch at once: a `Vec` of payloads and a
    /// [`BatchMetadata`] (Deimos' `consume_batch`). The batch's offsets are stored after the
    /// handler returned; a failure retries, skips or dead-letters the whole batch.
    InlineBatch,
}

impl Delivery {
    /// The configuration name: `message`, `batch` or `inline_batch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Message => "message",
            Delivery::Batch => "batch",
            Delivery::InlineBatch => "inline_batch",
        }
    }
}

/// What an `inline_batch` handler is told about its batch (Deimos' batch metadata): every
/// message comes from one partition of one topic, in offset order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchMetadata {
    /// Topic the batch came from.
    pub topic: String,
    /// Partition (Kafka `int32`).
    pub partition: i32,
    /// Offset of the first message.
    pub first_offset: i64,
    /// Offset of the last message.
    pub last_offset: i64,
    /// The decoded keys, one per payload, in the same order (see [`Metadata::key`]).
    pub keys: Vec<Option<Value>>,
    /// The offsets, one per payload (not always contiguous: compaction and transaction markers
    /// leave gaps).
    pub offsets: Vec<i64>,
    /// Message timestamps (milliseconds since the Unix epoch), one per payload.
    pub timestamps: Vec<Option<i64>>,
    /// Record headers, one list per payload.
    pub headers: Vec<Vec<(String, Option<Vec<u8>>)>>,
}

impl BatchMetadata {
    /// Metadata of a batch from `topic`/`partition` with these offsets and decoded keys (one
    /// per message, in order), no timestamps and no headers: for calling batch handlers outside
    /// a consumer (tests, replays, benchmarks). `first_offset` and `last_offset` come from
    /// `offsets` (0 when it is empty).
    pub fn new(
        topic: impl Into<String>,
        partition: i32,
        offsets: Vec<i64>,
        keys: Vec<Option<Value>>,
    ) -> Self {
        BatchMetadata {
            topic: topic.into(),
            partition,
            first_offset: offsets.first().copied().unwrap_or(0),
            last_offset: offsets.last().copied().unwrap_or(0),
            timestamps: vec![None; offsets.len()],
            headers: vec![Vec::new(); offsets.len()],
            keys,
            offsets,
        }
    }

    /// Number of messages in the batch.
    pub fn batch_size(&self) -> usize {
        self.offsets.len()
    }

    /// The metadata of message `index` alone, as a per-message handler would see it.
    pub fn message(&self, index: usize) -> Option<Metadata> {
        Some(Metadata {
            key: self.keys.get(index)?.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            offset: *self.offsets.get(index)?,
            timestamp: *self.timestamps.get(index)?,
            headers: self.headers.get(index)?.clone(),
        })
    }
}

/// A per-consumer fatal-error hook (`#[consumer(fatal_error = path)]`, Deimos' consumer
/// `fatal_error?`): true makes the error fatal, as the global [`set_fatal_error`] predicate.
pub type FatalErrorHook = fn(&Error) -> bool;

/// Settings given in the `#[consumer]` attribute; `None` leaves the setting to `consumers.*`.
/// `[consumer.<name>]` in the configuration overrides each (see
/// [`ConsumerOverride`](crate::config::ConsumerOverride)). Built by the macro; the fields
/// mean what the configuration keys of the same names mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConsumerSettings {
    /// Independent consumers in the group.
    pub max_concurrency: Option<u32>,
    /// `auto.offset.reset`.
    pub start_from_beginning: Option<bool>,
    /// `session.timeout.ms`.
    pub session_timeout: Option<Duration>,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Option<Duration>,
    /// `auto.commit.interval.ms`.
    pub offset_commit_interval: Option<Duration>,
    /// Commit after this many handled messages as well.
    pub offset_commit_threshold: Option<u64>,
    /// Refused when set (librdkafka cannot send it).
    pub offset_retention_time: Option<Duration>,
    /// Smallest retry delay.
    pub backoff_min: Option<Duration>,
    /// Largest retry delay.
    pub backoff_max: Option<Duration>,
    /// Retry failing messages instead of skipping them.
    pub reraise_errors: Option<bool>,
    /// Do not start this consumer.
    pub disabled: Option<bool>,
    /// Most messages per batch.
    pub max_batch_size: Option<usize>,
    /// Longest wait to fill a batch.
    pub max_wait_time: Option<Duration>,
    /// `fetch.min.bytes`.
    pub min_bytes: Option<u32>,
    /// `max.partition.fetch.bytes`.
    pub max_bytes_per_partition: Option<u32>,
    /// Report the `consumer_lag` gauge.
    pub report_lag: Option<bool>,
    /// Dead-letter topic.
    pub dead_letter_topic: Option<&'static str>,
    /// Retries before the dead-letter topic.
    pub dead_letter_max_retries: Option<u32>,
}

impl ConsumerSettings {
    /// Nothing set (usable in `const` contexts, unlike `Default`).
    pub const NONE: ConsumerSettings = ConsumerSettings {
        max_concurrency: None,
        start_from_beginning: None,
        session_timeout: None,
        heartbeat_interval: None,
        offset_commit_interval: None,
        offset_commit_threshold: None,
        offset_retention_time: None,
        backoff_min: None,
        backoff_max: None,
        reraise_errors: None,
        disabled: None,
        max_batch_size: None,
        max_wait_time: None,
        min_bytes: None,
        max_bytes_per_partition: None,
        report_lag: None,
        dead_letter_topic: None,
        dead_letter_max_retries: None,
    };
}

/// One `#[consumer]` registration, collected at link time with `inventory`.
#[derive(Debug)]
pub struct ConsumerRegistration {
    /// `module::path::fn_name` of the handler; unique within a binary.
    pub name: &'static str,
    /// Topic to subscribe to.
    pub topic: &'static str,
    /// Value schema.
    pub schema: SchemaRef,
    /// Kafka consumer group.
    pub group_id: &'static str,
    /// How keys are decoded.
    pub key_config: KeyConfig,
    /// How messages are delivered (`Delivery::InlineBatch` exactly when `handler` is
    /// [`Handler::Batch`]).
    pub delivery: Delivery,
    /// The attribute's other settings.
    pub settings: ConsumerSettings,
    /// The per-consumer fatal-error hook, if any.
    pub fatal_error: Option<FatalErrorHook>,
    /// The handler.
    pub handler: Handler,
}

inventory::collect!(ConsumerRegistration);

/// Every `#[consumer]` linked into this binary, sorted by name.
pub fn registered() -> Vec<&'static ConsumerRegistration> {
    let mut all: Vec<_> = inventory::iter::<ConsumerRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The registration whose name is `name` or ends with `::name`.
pub fn registration(name: &str) -> Option<&'static ConsumerRegistration> {
    registered()
        .into_iter()
        .find(|r| r.name == name || r.name.ends_with(&format!("::{name}")))
}
