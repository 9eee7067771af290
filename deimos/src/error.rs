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
    /// Something did not happen in time.
    #[error("timed out after {after:?} while {context}")]
    Timeout {
        /// What deimos was waiting for.
        context: String,
        /// How long it waited.
        after: Duration,
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

    /// The librdkafka error code behind this error, if it came from librdkafka.
    pub fn kafka_code(&self) -> Option<rdkafka::types::RDKafkaErrorCode> {
        match self {
            Error::Produce { source, .. }
            | Error::Kafka { source, .. }
            | Error::Embedded { source } => source.rdkafka_error_code(),
            _ => None,
        }
    }
}
