//! The library's error type.

use std::time::Duration;

/// A boxed error from user code (handlers, hooks), after axum's `BoxError`.
///
/// Handlers may return any error that converts into it, so `anyhow::Error`, `std::io::Error` or
/// your own `thiserror` type all work.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error deimos returns.
///
/// Variants are named after the operation that failed and carry the context a support engineer
/// needs (topic, partition, offset, schema, config key). The underlying cause, if any, is the
/// error's [`source()`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has a bad value, is unknown, or the file could not be read.
    #[error("invalid configuration for `{key}`: {reason}")]
    Config {
        /// Dotted key, e.g. `kafka.brokers`; `<file>` when the file itself is unreadable.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A schema could not be found, read or parsed.
    #[error("schema `{schema}` could not be loaded")]
    SchemaLoad {
        /// Full schema name, e.g. `com.example.Widget`.
        schema: String,
        /// The cause (I/O or Avro parse error).
        #[source]
        source: BoxError,
    },
    /// A payload or key did not match its schema, or could not be serialized.
    #[error("failed to encode {what} for topic `{topic}` with schema `{schema}`")]
    Encode {
        /// Topic the message was meant for.
        topic: String,
        /// Full schema name.
        schema: String,
        /// `payload` or `key`.
        what: &'static str,
        /// The Avro or serde error, naming the field where it could.
        #[source]
        source: BoxError,
    },
    /// A message's key or value could not be decoded.
    #[error("failed to decode {what} at {topic}/{partition}@{offset} with schema `{schema}`")]
    Decode {
        /// Topic of the message.
        topic: String,
        /// Partition of the message.
        partition: i32,
        /// Offset of the message.
        offset: i64,
        /// Full schema name.
        schema: String,
        /// `payload` or `key`.
        what: &'static str,
        /// The Avro or serde error.
        #[source]
        source: BoxError,
    },
    /// librdkafka refused or failed to deliver a message.
    #[error("failed to produce to topic `{topic}`")]
    Produce {
        /// Topic the message was meant for.
        topic: String,
        /// The librdkafka error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The `kafka_async` backend's local queue is full: librdkafka holds at most
    /// `producers.max_buffer_size` messages (`queue.buffering.max.messages`) and
    /// `producers.max_buffer_bytesize` bytes (`queue.buffering.max.kbytes`) waiting for
    /// delivery, and this message did not fit (ruby-kafka's `Kafka::BufferOverflow`, which
    /// Deimos' `kafka_async` backend raised). The queue drains as the broker acknowledges
    /// messages; when the broker is down it drains only as messages time out
    /// (`producers.delivery_timeout`).
    ///
    /// The first `queued` messages of the failed call were queued before the overflow and stay
    /// queued: they are delivered (or reported as failed) like any other queued message. The
    /// overflowing message and every later one of the call were not queued; retry exactly
    /// those (`messages[queued..]`) once there is room. Metrics: the `queued` messages count
    /// in `publish`, the others in `publish_error`; the `produce_error` event carries every
    /// message of the call.
    #[error(
        "producer queue full while producing to topic `{topic}`: {queued} message(s) of this \
         call were queued, the rest were not; the queue holds at most {max_buffer_size} \
         messages (`producers.max_buffer_size`, or `max_queue_size` with kafka_async when \
         smaller) and {max_buffer_bytesize} bytes (`producers.max_buffer_bytesize`) until the \
         broker acknowledges them"
    )]
    BufferOverflow {
        /// Topic of the message that did not fit.
        topic: String,
        /// Messages the queue holds: `producers.max_buffer_size`, or with `kafka_async`
        /// `producers.max_queue_size` when that is smaller (see
        /// [`ProducersConfig::effective_max_messages`](crate::config::ProducersConfig::effective_max_messages)).
        max_buffer_size: u32,
        /// `producers.max_buffer_bytesize`: bytes the queue holds.
        max_buffer_bytesize: u64,
        /// How many messages of the failed call were queued (and will be delivered) before
        /// the one that did not fit.
        queued: usize,
    },
    /// Flushing a producer backend ([`App::shutdown_producers`](crate::App::shutdown_producers))
    /// left messages undelivered: `failed` messages queued by `kafka_async` got a failed
    /// delivery report since the previous flush (each was already reported through the
    /// `produce_error` event, the `publish_error` metric and a `tracing` error), and `pending`
    /// still had no delivery report when the flush gave up after `waited`.
    #[error(
        "flushing the `{backend}` producer left {} message(s) undelivered: {failed} failed \
         delivery, {pending} still queued after {waited:?}",
        failed + pending
    )]
    Flush {
        /// The backend, e.g. `kafka_async`.
        backend: &'static str,
        /// Messages whose delivery failed (since the previous flush).
        failed: u64,
        /// Messages still waiting for a delivery report when the flush stopped waiting.
        pending: u64,
        /// How long the flush waited.
        waited: Duration,
    },
    /// The configured producer backend cannot send messages yet.
    #[error("producer backend `{backend}` cannot publish to topic `{topic}`: {reason}")]
    BackendUnavailable {
        /// `producers.backend`, e.g. `db`.
        backend: &'static str,
        /// Topic of the first message of the call.
        topic: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A Kafka client (consumer, producer, admin) could not be created or used.
    #[error("kafka client error while {context}")]
    Kafka {
        /// What deimos was doing, e.g. `subscribing consumer `widgets` to topic `widgets``.
        context: String,
        /// The librdkafka error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A message handler failed.
    #[error("handler `{handler}` failed at {topic}/{partition}@{offset}")]
    Handler {
        /// Registered handler name (`module::fn`).
        handler: String,
        /// Topic of the message.
        topic: String,
        /// Partition of the message.
        partition: i32,
        /// Offset of the message.
        offset: i64,
        /// The handler's own error.
        #[source]
        source: BoxError,
    },
    /// A database operation failed (feature `orm`: SeaORM entity producers and consumers).
    #[error("database error while {context}")]
    Database {
        /// What deimos was doing, naming the table and key, e.g. ``reading `widgets` by
        /// primary key (int 7)``.
        context: String,
        /// The database error (a `sea_orm::DbErr`), or what was wrong.
        #[source]
        source: BoxError,
    },
    /// Something did not happen in time.
    #[error("timed out after {after:?} while {context}")]
    Timeout {
        /// What deimos was waiting for.
        context: String,
        /// How long it waited.
        after: Duration,
    },
    /// The metrics exporters (`metrics.prometheus`, `metrics.dogstatsd`) could not be started
    /// or installed ([`deimos::metrics::install`](crate::metrics::install)).
    #[error("metrics exporter `{section}` could not be installed: {reason}")]
    MetricsExporter {
        /// The config section: `metrics.prometheus`, `metrics.dogstatsd`, or `metrics` when
        /// the process' recorder is taken.
        section: &'static str,
        /// What failed, naming the key and address where one is at fault.
        reason: String,
        /// The I/O error of binding the endpoint, or the exporter's build error.
        #[source]
        source: Option<BoxError>,
    },
    /// A consumer task ended abnormally (a handler panicked).
    #[error("consumer runtime failure: {reason}")]
    Runtime {
        /// What happened.
        reason: String,
    },
    /// The in-process schema registry (`deimos::testing::SchemaRegistryServer`, feature
    /// `testing`) could not listen on its address.
    #[error("schema registry test server could not listen on `{addr}`")]
    RegistryServer {
        /// The address it tried, e.g. `127.0.0.1:0`.
        addr: String,
        /// The I/O error from binding the socket.
        #[source]
        source: std::io::Error,
    },
    /// The embedded broker (librdkafka mock cluster) could not be started.
    #[error("embedded kafka broker could not be started")]
    Embedded {
        /// The librdkafka error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

impl Error {
    pub(crate) fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Error::Kafka {
            context: context.into(),
            source,
        }
    }

    /// The librdkafka error code behind this error, if it came from librdkafka
    /// ([`Error::BufferOverflow`] is librdkafka's `QueueFull`).
    pub fn kafka_code(&self) -> Option<rdkafka::types::RDKafkaErrorCode> {
        match self {
            Error::Produce { source, .. }
            | Error::Kafka { source, .. }
            | Error::Embedded { source } => source.rdkafka_error_code(),
            Error::BufferOverflow { .. } => Some(rdkafka::types::RDKafkaErrorCode::QueueFull),
            _ => None,
        }
    }
}
