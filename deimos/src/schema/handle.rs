//! `deimos::schema_backend(schema, namespace)`: one schema's encode, decode, coerce, validate
//! and field list, usable outside producers and consumers (Deimos' `Deimos.schema_backend`).

use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::Schema;

use super::{Codec, SchemaBackend, SchemaRef};
use crate::error::{Error, Result};

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
