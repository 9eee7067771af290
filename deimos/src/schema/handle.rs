//! `deimos::schema_backend(schema, namespace)`: one schema's encode, decode, coerce, validate
//! and field list, usable outside producers and consumers (Deimos' `Deimos.schema_backend`).

use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::Schema;

use super::coerce::{coerce_payload, to_payload_with_schema, validate};
use super::{Codec, SchemaBackend, SchemaRef};
use crate::error::{Error, Result};
use crate::payload::{Payload, PayloadValue};

/// One field of a record schema, as Deimos' `schema_fields` lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchemaField {
    /// The field's name.
    pub name: String,
    /// The field's type, as parsed.
    pub schema: Schema,
    /// The field's type as schema JSON, e.g. `"long"` or `["null","string"]`.
    pub type_json: serde_json::Value,
    /// The default from the schema (JSON, as written there), if any.
    pub default: Option<serde_json::Value>,
    /// The field's `doc`, if any.
    pub doc: Option<String>,
    /// The symbols, when the field's type is an enum declared inline (or a nullable one).
    pub enum_values: Vec<String>,
}

/// One schema bound to the configured schema backend. Get one from
/// [`schema_backend`](crate::schema_backend) or [`App::schema_backend`](crate::App::schema_backend).
///
/// Cheap to clone; schemas are loaded (and cached by the backend) on first use.
#[derive(Debug, Clone)]
pub struct SchemaHandle {
    codec: Codec,
    schema: SchemaRef,
}

impl SchemaHandle {
    /// `schema` (a simple name like `Widget`, or a full name) in `namespace` (empty for the
    /// null namespace, or when `schema` is already a full name) through `codec`.
    pub fn new(codec: Codec, schema: &str, namespace: &str) -> Self {
        let schema = if namespace.is_empty() {
            SchemaRef::parse(schema)
        } else {
            SchemaRef::parse(&format!("{namespace}.{schema}"))
        };
        SchemaHandle { codec, schema }
    }

    /// The schema's full name.
    pub fn schema_ref(&self) -> &SchemaRef {
        &self.schema
    }

    /// The backend this handle encodes and decodes with.
    pub fn backend(&self) -> &Arc<dyn SchemaBackend> {
        self.codec.backend()
    }

    /// The parsed schema.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the backend cannot find or parse it.
    pub async fn schema(&self) -> Result<Arc<Schema>> {
        self.codec.backend().schema(&self.schema).await
    }

    /// The record's fields in schema order: name, type, default and doc (Deimos'
    /// `schema_fields`).
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the schema cannot be loaded or is not a record.
    pub async fn schema_fields(&self) -> Result<Vec<SchemaField>> {
        let schema = self.schema().await?;
        let Schema::Record(record) = schema.as_ref() else {
            return Err(Error::SchemaLoad {
                schema: self.schema.full_name(),
                source: "schema_fields needs a record schema".into(),
            });
        };
        Ok(record
            .fields
            .iter()
            .map(|f| SchemaField {
                name: f.name.clone(),
                type_json: serde_json::to_value(&f.schema).unwrap_or(serde_json::Value::Null),
                schema: f.schema.clone(),
                default: f.default.clone(),
                doc: f.doc.clone(),
                enum_values: enum_symbols(&f.schema),
            })
            .collect())
    }

    /// Encodes a dynamic payload for `topic` (the registry backend derives the subject from
    /// it): auto-added fields are filled, the payload is coerced by Deimos' rules
    /// ([`coerce`](super::coerce)), resolved and encoded.
    ///
    /// # Errors
    /// [`Error::Encode`] naming the field path that does not coerce; [`Error::SchemaLoad`].
    pub async fn encode(&self, topic: &str, payload: &Payload) -> Result<Vec<u8>> {
        let avro = self.schema().await?;
        let mut payload = payload.clone();
        crate::producer::dynamic::fill_unset(&mut payload, &avro);
        let value = coerce_payload(&payload, &avro).map_err(|e| self.encode_err(topic, e))?;
        self.encode_value(topic, value).await
    }

    /// Decodes wire bytes written for `topic` into a dynamic payload (decimals as strings at
    /// their scale, enums as strings, unions unwrapped; see
    /// [`to_payload_with_schema`](super::coerce::to_payload_with_schema)).
    ///
    /// # Errors
    /// [`Error::Decode`] (partition and offset are `-1`: there is no message).
    pub async fn decode(&self, topic: &str, bytes: &[u8]) -> Result<Payload> {
        let value = self.decode_value(topic, bytes).await?;
        let avro = self.schema().await?;
        self.to_map(topic, &value, &avro)
    }

    /// Coerces a payload to the schema by Deimos' rules and returns it in its canonical
    /// dynamic form (Deimos' `coerce`): `{"id": "7"}` comes back as `{"id": 7}` for a `long`,
    /// fields the schema lacks are dropped, missing ones take their defaults.
    ///
    /// # Errors
    /// [`Error::Encode`] naming the field path that does not coerce.
    pub async fn coerce(&self, payload: &Payload) -> Result<Payload> {
        let avro = self.schema().await?;
        let topic = "";
        let value = coerce_payload(payload, &avro).map_err(|e| self.encode_err(topic, e))?;
        self.to_map(topic, &value, &avro)
    }

    /// Checks a payload strictly (Deimos' `validate`, Avro's `SchemaValidator` with
    /// `recursive: true, fail_on_extra_fields: true`): it must coerce, and may not carry
    /// fields the schema lacks, at any depth (see [`validate`](super::coerce::validate)).
    ///
    /// # Errors
    /// [`Error::Encode`] naming the first field path at fault.
    pub async fn validate(&self, payload: &Payload) -> Result<()> {
        let avro = self.schema().await?;
        validate(&PayloadValue::Map(payload.clone()), &avro)
            .map(drop)
            .map_err(|e| self.encode_err("", e))
    }

    fn encode_err(&self, topic: &str, e: super::coerce::CoercionError) -> Error {
        Error::Encode {
            topic: topic.to_owned(),
            schema: self.schema.full_name(),
            what: "payload",
            source: e.into(),
        }
    }

    fn to_map(&self, topic: &str, value: &Value, avro: &Schema) -> Result<Payload> {
        match to_payload_with_schema(value, avro) {
            Ok(PayloadValue::Map(map)) => Ok(map),
            Ok(other) => Err(Error::Decode {
                topic: topic.to_owned(),
                partition: -1,
                offset: -1,
                schema: self.schema.full_name(),
                what: "payload",
                source: format!("expected a record, found {other}").into(),
            }),
            Err(e) => Err(Error::Decode {
                topic: topic.to_owned(),
                partition: -1,
                offset: -1,
                schema: self.schema.full_name(),
                what: "payload",
                source: e.into(),
            }),
        }
    }

    /// Encodes a value already in Avro form for `topic` (the registry backend derives the
    /// subject from it): auto-added fields are filled, then it is resolved and encoded.
    ///
    /// # Errors
    /// [`Error::Encode`] naming the field that does not fit.
    pub async fn encode_value(&self, topic: &str, value: Value) -> Result<Vec<u8>> {
        Ok(self.codec.encode_value(topic, &self.schema, value).await?.1)
    }

    /// Decodes wire bytes written for `topic` into an Avro value shaped by the local schema.
    ///
    /// # Errors
    /// [`Error::Decode`] (partition and offset are `-1`: there is no message).
    pub async fn decode_value(&self, topic: &str, bytes: &[u8]) -> Result<Value> {
        self.codec
            .decode_value(&self.schema, Some(bytes), (topic, -1, -1))
            .await
            .map(|v| v.unwrap_or(Value::Null))
    }
}

fn enum_symbols(schema: &Schema) -> Vec<String> {
    match schema {
        Schema::Enum(e) => e.symbols.clone(),
        Schema::Union(u) => u
            .variants()
            .iter()
            .find_map(|s| match s {
                Schema::Enum(e) => Some(e.symbols.clone()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
