//! Schemas: the [`SchemaBackend`] trait, schema references, key configuration and key schemas.
//!
//! Deimos encodes every message value (and, depending on `key_config`, its key) with a schema.
//! The backend chosen by `schema.backend` decides where schemas come from and what the bytes on
//! the wire look like:
//!
//! | backend | schemas from | wire format |
//! |---|---|---|
//! | `avro_local` ([`AvroLocal`]) | `<schema.path>/<namespace as dirs>/<Name>.avsc` | a bare Avro binary datum (Avro spec, "Binary Encoding"): no container, no framing |
//!
//! Values travel through the backend as [`apache_avro::types::Value`]; typed payloads are
//! converted with serde ([`to_avro_value`], [`from_avro_value`]).

mod avro_local;
mod compatibility;

use std::borrow::Cow;
use std::fmt;

pub use apache_avro::types::Value;
pub use apache_avro::Decimal;
pub use apache_avro::Schema as AvroSchema;
pub use avro_local::AvroLocal;
pub use compatibility::{compatible, Compatibility, Incompatibility, SchemaSource};

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

/// Where schemas come from and how values become bytes.
///
/// Implementations: [`AvroLocal`]. The registry, validation and mock backends of Deimos plug in
/// here too.
#[async_trait::async_trait]
pub trait SchemaBackend: Send + Sync + fmt::Debug {
    /// Loads (and caches) the schema with this full name.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`](crate::Error::SchemaLoad) when it cannot be found or parsed.
    async fn schema(&self, schema: &SchemaRef) -> crate::Result<std::sync::Arc<AvroSchema>>;

    /// Encodes `value` (already resolved against `schema`) into wire bytes.
    async fn encode(
        &self,
        schema: &SchemaRef,
        avro: &AvroSchema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError>;

    /// Decodes wire bytes written with `schema`.
    async fn decode(
        &self,
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
pub use codec::{Codec, DecodedKey};
