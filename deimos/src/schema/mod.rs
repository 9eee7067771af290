//! Schemas: the [`SchemaBackend`] trait, schema references, key configuration and key schemas.
//!
//! Deimos encodes every message value (and, depending on `key_config`, its key) with a schema.
//! The backend chosen by `schema.backend` decides where schemas come from and what the bytes on
//! the wire look like:
//!
//! | backend | schemas from | wire format |
//! |---|---|---|
//! | `avro_local` ([`AvroLocal`]) | `<schema.path>/<namespace as dirs>/<Name>.avsc` | a bare Avro binary datum (Avro spec, "Binary Encoding"): no container, no framing |
//! | `avro_validation` ([`AvroValidation`]) | as `avro_local` | Avro's JSON encoding (Avro spec, "JSON Encoding"; [`avro_json`]): validated like `avro_local`, readable on the wire; for tests and development |
//! | `mock` ([`Mock`]) | as `avro_local`, only when a key needs one | a self-describing JSON form of the value: no validation at all |
//! | `avro_schema_registry` ([`AvroSchemaRegistry`]) | readers: the same `.avsc` files; writers: a Confluent Schema Registry at `schema.registry_url` (registered on first use with `schema.auto_register`, subjects per `schema.subject_name_strategy`) | Confluent's wire format: magic byte `0`, 4-byte big-endian schema id, Avro binary datum; decoding resolves the writer's schema to the local one |
//!
//! Values travel through the backend as [`apache_avro::types::Value`]; typed payloads are
//! converted with serde ([`to_avro_value`], [`from_avro_value`]), dynamic
//! [`Payload`](crate::Payload)s with Deimos' coercion rules ([`coerce`]).
//!
//! Message bytes are untrusted: every backend that reads Avro binary decodes through
//! [`guard::decode_datum`], which checks the bytes against the schema (declared lengths and
//! counts against the bytes present, indexes, varints, nesting depth) before apache-avro
//! allocates anything, so a hostile message is a decode error, not an aborted process.

pub mod avro_json;
mod avro_local;
mod avro_registry;
mod avro_validation;
pub mod coerce;
mod compatibility;
mod extract;
pub mod guard;
mod handle;
mod keyspan;
mod mock;
pub mod names;
mod path;
mod walk;

use std::borrow::Cow;
use std::fmt;

pub use apache_avro::types::Value;
pub use apache_avro::Decimal;
pub use apache_avro::Schema as AvroSchema;
pub use avro_local::AvroLocal;
pub use avro_registry::{split_frame, subject_name, AvroSchemaRegistry, RegistryError, MAGIC_BYTE};
pub use avro_validation::AvroValidation;
pub use compatibility::{compatible, Compatibility, Incompatibility, SchemaSource};
pub use handle::{SchemaField, SchemaHandle};
pub use mock::Mock;

use crate::config::SchemaBackendKind;
use crate::error::BoxError;

/// A schema's full name: `name` plus optional `namespace` (Avro spec, "Names").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaRef {
    /// The simple name, e.g. `Widget`.
    pub name: Cow<'static, str>,
    /// The namespace, e.g. `com.example`; `None` for the null namespace.
    pub namespace: Option<Cow<'static, str>>,
}

impl SchemaRef {
    /// Parses `com.example.Widget` (or `Widget`, null namespace) into a reference.
    pub fn parse(full_name: &str) -> Self {
        match full_name.rsplit_once('.') {
            Some((ns, name)) => SchemaRef {
                name: Cow::Owned(name.to_owned()),
                namespace: Some(Cow::Owned(ns.to_owned())),
            },
            None => SchemaRef {
                name: Cow::Owned(full_name.to_owned()),
                namespace: None,
            },
        }
    }

    /// A sibling schema in the same namespace, e.g. `Widget_key` next to `com.example.Widget`.
    pub fn sibling(&self, name: &str) -> Self {
        SchemaRef {
            name: Cow::Owned(name.to_owned()),
            namespace: self.namespace.clone(),
        }
    }

    /// `namespace.name`, or `name` in the null namespace.
    pub fn full_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => write!(f, "{ns}.{}", self.name),
            _ => f.write_str(&self.name),
        }
    }
}

/// How a message's Kafka key is made and read (Deimos' `key_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// `key_config(none)`: messages have no key (null key).
    None,
    /// `key_config(plain)`: the key is a plain UTF-8 string, not schema-encoded. Producers supply
    /// it with [`PayloadKey`](crate::producer::PayloadKey).
    Plain,
    /// `key_config(field = "id")`: the key is the payload's `id` field, encoded with a key schema
    /// generated from the value schema (one field, record name `<Name>_key`, same namespace).
    /// Consumers see the field's value as the decoded key.
    Field(Cow<'static, str>),
    /// `key_config(schema = "Widget_key")`: the key is a record encoded with that schema (same
    /// namespace as the value schema); producers fill it from the payload's fields of the same
    /// names. Consumers see the whole key record as the decoded key.
    Schema(Cow<'static, str>),
}

/// Which part of a Kafka message is being encoded or decoded (Confluent's `MessageField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageField {
    /// The message key.
    Key,
    /// The message value.
    Value,
}

/// What a backend encodes for or decodes from: the topic (after `producers.topic_prefix`) and
/// the part of the message. Confluent's `SerializationContext`; the registry backend derives
/// subject names from it (`<topic>-value`, `<topic>-key` under TopicNameStrategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerializationContext<'a> {
    /// The Kafka topic.
    pub topic: &'a str,
    /// Key or value.
    pub field: MessageField,
}

impl<'a> SerializationContext<'a> {
    /// The context of a message value on `topic`.
    pub fn value(topic: &'a str) -> Self {
        SerializationContext {
            topic,
            field: MessageField::Value,
        }
    }

    /// The context of a message key on `topic`.
    pub fn key(topic: &'a str) -> Self {
        SerializationContext {
            topic,
            field: MessageField::Key,
        }
    }
}

/// Where schemas come from and how values become bytes.
///
/// Implementations: [`AvroLocal`], [`AvroValidation`], [`AvroSchemaRegistry`], [`Mock`]: the
/// backends `schema.backend` names ([`SchemaBackendKind`]).
#[async_trait::async_trait]
pub trait SchemaBackend: Send + Sync + fmt::Debug {
    /// Which backend this is.
    fn kind(&self) -> SchemaBackendKind;

    /// The backend the test helpers put in this one's place (Deimos' `mock_backend`):
    /// `avro_validation` for the Avro backends, `mock` for `mock`.
    fn test_substitute(&self) -> SchemaBackendKind {
        match self.kind() {
            SchemaBackendKind::Mock => SchemaBackendKind::Mock,
            _ => SchemaBackendKind::AvroValidation,
        }
    }

    /// Whether values are resolved against their schema before [`SchemaBackend::encode`]
    /// (Avro "Schema Resolution": promotions, defaults, dropped fields). `false` only for
    /// `mock`, which passes values through unchecked.
    fn validates(&self) -> bool {
        true
    }

    /// Loads (and caches) the local (reader) schema with this full name.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`](crate::Error::SchemaLoad) when it cannot be found or parsed.
    async fn schema(&self, schema: &SchemaRef) -> crate::Result<std::sync::Arc<AvroSchema>>;

    /// Encodes `value` (already resolved against `avro`, the local schema `schema` names, when
    /// [`SchemaBackend::validates`]) into wire bytes for `ctx`.
    async fn encode(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &AvroSchema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError>;

    /// For backends whose wire format is a fixed prefix followed by the value's Avro binary
    /// datum written with `avro` (`avro_local`: no prefix; `avro_schema_registry`: magic byte
    /// and schema id, registering the schema first if needed): that prefix. `None` (the
    /// default) when the format is something else. Lets typed payloads be serialized straight
    /// to bytes, without an intermediate [`Value`].
    ///
    /// [`Codec`] asks once per payload type, topic, schema and key configuration and keeps the
    /// answer for its own life (an error is not kept: it asks again on the next message), so
    /// the prefix for a given `ctx`, `schema` and `avro` must not change.
    async fn datum_prefix(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &AvroSchema,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(None)
    }

    /// The part of `bytes` that is an Avro binary datum written with exactly the local schema
    /// `avro`, so typed handlers can deserialize it without schema resolution. `None` (the
    /// default) when the bytes need the general [`SchemaBackend::decode`]: another format, or
    /// another writer schema.
    async fn datum_body<'b>(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &AvroSchema,
        _bytes: &'b [u8],
    ) -> Result<Option<&'b [u8]>, BoxError> {
        Ok(None)
    }

    /// [`SchemaBackend::datum_body`] when the answer needs no waiting (nothing to fetch from a
    /// registry): `Some(answer)`; `None` sends the caller to `datum_body`. The consumer's
    /// per-message decode takes this path first. The default: `None`.
    fn datum_body_now<'b>(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &AvroSchema,
        _bytes: &'b [u8],
    ) -> Option<Result<Option<&'b [u8]>, BoxError>> {
        None
    }

    /// Decodes wire bytes for `ctx` into a value shaped by the local (reader) schema `avro`;
    /// backends that carry the writer's schema (the registry) resolve it to `avro`.
    ///
    /// The bytes come from the network: implementations that read Avro binary must decode
    /// with [`guard::decode_datum`] (never `apache_avro::from_avro_datum` directly), so that a
    /// hostile message cannot make apache-avro allocate gigabytes or overflow the stack.
    async fn decode(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &AvroSchema,
        bytes: &[u8],
    ) -> Result<Value, BoxError>;
}

/// Converts a serde value into an Avro value (records become `Value::Record`).
///
/// # Errors
/// The serde error when `value` cannot be represented in Avro's data model.
pub fn to_avro_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, BoxError> {
    Ok(apache_avro::to_value(value)?)
}

/// Converts an Avro value into a serde type.
///
/// # Errors
/// The serde error naming what did not fit.
pub fn from_avro_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, BoxError> {
    Ok(apache_avro::from_value::<T>(value)?)
}

mod codec;
pub(crate) use codec::Run;
pub use codec::{
    autofill, Codec, Datum, DecodedKey, Decoder, EncodedPayload, Incoming, PayloadEncoder,
    PARALLEL_ENCODE_CHUNK, PARALLEL_ENCODE_MIN, RUN_BUFFER_BYTES,
};

/// Builds the backend `schema.backend` names, configured from `schema.*`.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) when the backend's settings are unusable (e.g. a
/// registry URL that does not parse).
pub fn backend_from_config(
    config: &crate::config::SchemaConfig,
) -> crate::Result<std::sync::Arc<dyn SchemaBackend>> {
    use std::sync::Arc;
    Ok(match config.backend {
        SchemaBackendKind::AvroLocal => Arc::new(AvroLocal::new(config.path.clone())),
        SchemaBackendKind::AvroValidation => Arc::new(AvroValidation::new(config.path.clone())),
        SchemaBackendKind::Mock => Arc::new(Mock::new(config.path.clone())),
        SchemaBackendKind::AvroSchemaRegistry => Arc::new(AvroSchemaRegistry::from_config(config)?),
    })
}
