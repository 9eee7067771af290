//! `avro_validation`: schemas from `.avsc` files, Avro's JSON encoding on the wire.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::Schema;

use super::avro_json::{from_json, to_json};
use super::{AvroLocal, SchemaBackend, SchemaRef, SerializationContext};
use crate::config::SchemaBackendKind;
use crate::error::{BoxError, Result};

/// Deimos' `avro_validation` backend: "validates against the schema but leaves payloads
/// decoded". Schemas come from the same `.avsc` tree as [`AvroLocal`] (`com.example.Widget` at
/// `<root>/com/example/Widget.avsc`, cached); each value is checked against its schema and
/// written in Avro's JSON encoding (Avro spec, "JSON Encoding"; see
/// [`avro_json`](super::avro_json)), so the bytes on the wire stay readable in tests and
/// development while a value that would not encode with `avro_local` still fails.
///
/// Decoding parses that JSON with the reader schema back into the resolved [`Value`]:
/// `decode(encode(v)) == v` for every resolved value valid for the schema (what
/// [`Codec`](super::Codec) passes to `encode`).
///
/// It is the backend the test helpers substitute for the Avro backends (Deimos'
/// `mock_backend`).
#[derive(Debug)]
pub struct AvroValidation {
    local: AvroLocal,
}

impl AvroValidation {
    /// A backend over the `.avsc` tree at `root` (`schema.path`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AvroValidation {
            local: AvroLocal::new(root),
        }
    }

    /// The schema tree's root.
    pub fn root(&self) -> &Path {
        self.local.root()
    }
}

#[async_trait::async_trait]
impl SchemaBackend for AvroValidation {
    fn kind(&self) -> SchemaBackendKind {
        SchemaBackendKind::AvroValidation
    }

    async fn schema(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        self.local.load(schema)
    }

    /// Checks `value` with apache-avro's `Value::validate`, then writes its JSON encoding.
    ///
    /// # Errors
    /// `value does not match schema …: <reason>` naming the field path when `value` does not
    /// validate, or when it cannot be written in the JSON encoding.
    async fn encode(
        &self,
        _ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &Schema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError> {
        // `Value::validate` panics on a schema whose references do not resolve; `to_json`
        // reports that case as an error first.
        let json = to_json(&value, avro)
            .map_err(|e| format!("value does not match schema `{schema}`: {e}"))?;
        if !value.validate(avro) {
            return Err(format!(
                "value does not match schema `{schema}`: apache-avro's validation refused it"
            )
            .into());
        }
        Ok(serde_json::to_vec(&json)?)
    }

    /// Parses the bytes as JSON and reads them with the schema.
    ///
    /// # Errors
    /// `not JSON: …` for bytes that do not parse, or the [`AvroJsonError`](super::avro_json::AvroJsonError)
    /// naming the field path where the JSON does not have the schema's shape.
    async fn decode(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        avro: &Schema,
        bytes: &[u8],
    ) -> Result<Value, BoxError> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        Ok(from_json(&json, avro)?)
    }
}
