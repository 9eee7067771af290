//! Key and value encoding on top of a [`SchemaBackend`]: the part of the produce and consume
//! paths that knows about `key_config`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apache_avro::schema::RecordSchema;
use apache_avro::types::Value;
use apache_avro::Schema;

use super::{KeyConfig, SchemaBackend, SchemaRef, SerializationContext};
use crate::error::{BoxError, Error, Result};

/// A decoded Kafka key, as handlers see it in [`Metadata::key`](crate::Metadata::key).
pub type DecodedKey = Value;

/// Generated key schemas by (value schema, key field).
type FieldKeySchemas = HashMap<(SchemaRef, String), Arc<Schema>>;

/// Encodes and decodes message keys and values for one schema backend.
///
/// Field keys (`key_config(field = "id")`) use a key schema generated from the value schema:
/// a record named `<Name>_key` in the same namespace with that one field (Deimos'
/// `key_config field:`). Generated key schemas are cached.
#[derive(Debug, Clone)]
pub struct Codec {
    backend: Arc<dyn SchemaBackend>,
    field_keys: Arc<RwLock<FieldKeySchemas>>,
}

impl Codec {
    /// A codec over `backend`.
    pub fn new(backend: Arc<dyn SchemaBackend>) -> Self {
        Codec {
            backend,
            field_keys: Arc::default(),
        }
    }

    /// The schema backend.
    pub fn backend(&self) -> &Arc<dyn SchemaBackend> {
        &self.backend
    }

    /// Resolves `value` against `schema` when the backend validates; passes it through for
    /// `mock`.
    fn prepare(&self, value: Value, schema: &Schema) -> Result<Value, BoxError> {
        if self.backend.validates() {
            resolve(value, schema)
        } else {
            Ok(value)
        }
    }

    /// Resolves `value` against `schema` (Avro "Schema Resolution": promotions, defaults for
    /// missing fields) and encodes it.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`], or [`Error::Encode`] naming the topic, schema and what did not
    /// fit.
    pub async fn encode_value(
        &self,
        topic: &str,
        schema: &SchemaRef,
        value: Value,
    ) -> Result<(Value, Vec<u8>)> {
        self.encode_value_with(topic, schema, value, || None).await
    }

    /// As [`Codec::encode_value`]; when resolution fails, `rebuild` may supply the value again
    /// so the error can name the field that did not fit (the first attempt consumed it; the
    /// common, successful path resolves once and clones nothing).
    pub(crate) async fn encode_value_with(
        &self,
        topic: &str,
        schema: &SchemaRef,
        value: Value,
        rebuild: impl FnOnce() -> Option<Value>,
    ) -> Result<(Value, Vec<u8>)> {
        let avro = self.backend.schema(schema).await?;
        let err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "payload",
            source,
        };
        let resolved = match self.prepare(value, &avro) {
            Ok(resolved) => resolved,
            Err(first) => {
                let reason = rebuild().and_then(|v| diagnose(v, &avro)).unwrap_or(first);
                return Err(err(reason));
            }
        };
        let bytes = self
            .backend
            .encode(
                SerializationContext::value(topic),
                schema,
                &avro,
                resolved.clone(),
            )
            .await
            .map_err(err)?;
        Ok((resolved, bytes))
    }

    /// Makes the key of a message whose resolved value is `value`.
    ///
    /// Returns the decoded form (for test capture) and the wire bytes; `None` for
    /// `key_config(none)`.
    ///
    /// # Errors
    /// [`Error::Encode`] (`what = "key"`) when the key field is missing or does not fit.
    pub async fn encode_key_from_value(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        value: &Value,
        plain_key: Option<String>,
    ) -> Result<Option<(Value, Vec<u8>)>> {
        let key_err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "key",
            source,
        };
        match key_config {
            KeyConfig::None => Ok(None),
            KeyConfig::Plain => {
                let key = plain_key.ok_or_else(|| {
                    key_err("`key_config(plain)` producer returned no key".into())
                })?;
                Ok(Some((Value::String(key.clone()), key.into_bytes())))
            }
            KeyConfig::Field(field) => {
                let fields = record_fields(value).map_err(key_err)?;
                let v = fields
                    .iter()
                    .find(|(name, _)| name == field.as_ref())
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| key_err(format!("payload has no key field `{field}`").into()))?;
                self.encode_key(topic, schema, key_config, v)
                    .await
                    .map(Some)
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                let Schema::Record(RecordSchema {
                    fields: key_fields, ..
                }) = key_schema.as_ref()
                else {
                    return Err(key_err(
                        format!("key schema `{key_ref}` is not a record").into(),
                    ));
                };
                let fields = record_fields(value).map_err(key_err)?;
                let mut record = Vec::with_capacity(key_fields.len());
                for kf in key_fields {
                    let v = fields
                        .iter()
                        .find(|(n, _)| *n == kf.name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| {
                            key_err(
                                format!(
                                    "payload has no field `{}` for key schema `{key_ref}`",
                                    kf.name
                                )
                                .into(),
                            )
                        })?;
                    record.push((kf.name.clone(), v));
                }
                self.encode_key(topic, schema, key_config, Value::Record(record))
                    .await
                    .map(Some)
            }
        }
    }

    /// Encodes a key given directly (tombstones, or a caller-supplied key): for
    /// `key_config(field)` the field's value, for `key_config(schema)` the key record, for
    /// `key_config(plain)` a string.
    ///
    /// # Errors
    /// [`Error::Encode`] (`what = "key"`) when it does not fit the key schema, or for
    /// `key_config(none)`, which has no key.
    pub async fn encode_key(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        key: Value,
    ) -> Result<(Value, Vec<u8>)> {
        let key_err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "key",
            source,
        };
        match key_config {
            KeyConfig::None => Err(key_err("`key_config(none)` has no key".into())),
            KeyConfig::Plain => match key {
                Value::String(s) => Ok((Value::String(s.clone()), s.into_bytes())),
                other => Err(key_err(
                    format!("a plain key must be a string, found {other:?}").into(),
                )),
            },
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                let record = if is_key_record(&key, field, &key_schema) {
                    key
                } else {
                    Value::Record(vec![(field.to_string(), key)])
                };
                let resolved = self.prepare(record, &key_schema).map_err(key_err)?;
                let bytes = self
                    .backend
                    .encode(
                        SerializationContext::key(topic),
                        &key_ref,
                        &key_schema,
                        resolved.clone(),
                    )
                    .await
                    .map_err(key_err)?;
                let decoded = match &resolved {
                    Value::Record(f) => f.first().map(|(_, v)| v.clone()).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                Ok((decoded, bytes))
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                let resolved = self.prepare(key, &key_schema).map_err(key_err)?;
                let bytes = self
                    .backend
                    .encode(
                        SerializationContext::key(topic),
                        &key_ref,
                        &key_schema,
                        resolved.clone(),
                    )
                    .await
                    .map_err(key_err)?;
                Ok((resolved, bytes))
            }
        }
    }

    /// Decodes a message value (`None` stays `None`: a tombstone).
    ///
    /// # Errors
    /// [`Error::Decode`] naming topic, partition, offset and schema.
    pub async fn decode_value(
        &self,
        schema: &SchemaRef,
        bytes: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<Option<Value>> {
        let Some(bytes) = bytes else { return Ok(None) };
        let avro = self.backend.schema(schema).await?;
        self.backend
            .decode(SerializationContext::value(at.0), schema, &avro, bytes)
            .await
            .map(Some)
            .map_err(|source| decode_err(at, schema, "payload", source))
    }

    /// Decodes a message key per `key_config`: the field value for `field`, the record for
    /// `schema`, a string for `plain`, and the raw bytes (`Value::Bytes`) for `none`.
    ///
    /// # Errors
    /// [`Error::Decode`] (`what = "key"`).
    pub async fn decode_key(
        &self,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        bytes: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<Option<Value>> {
        let Some(bytes) = bytes else { return Ok(None) };
        let err = |s: &SchemaRef, source: BoxError| decode_err(at, s, "key", source);
        match key_config {
            KeyConfig::None => Ok(Some(Value::Bytes(bytes.to_vec()))),
            KeyConfig::Plain => String::from_utf8(bytes.to_vec())
                .map(|s| Some(Value::String(s)))
                .map_err(|e| err(schema, format!("plain key is not UTF-8: {e}").into())),
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                let v = self
                    .backend
                    .decode(
                        SerializationContext::key(at.0),
                        &key_ref,
                        &key_schema,
                        bytes,
                    )
                    .await
                    .map_err(|e| err(&key_ref, e))?;
                match v {
                    Value::Record(mut fields) if fields.len() == 1 => Ok(Some(fields.remove(0).1)),
                    other => Err(err(
                        &key_ref,
                        format!("expected a one-field key record, found {other:?}").into(),
                    )),
                }
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                self.backend
                    .decode(
                        SerializationContext::key(at.0),
                        &key_ref,
                        &key_schema,
                        bytes,
                    )
                    .await
                    .map(Some)
                    .map_err(|e| err(&key_ref, e))
            }
        }
    }

    /// The generated key schema for `key_config(field = ..)`: record `<Name>_key`, same
    /// namespace, with the value schema's definition of that one field.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the value schema has no such field.
    pub async fn field_key_schema(
        &self,
        schema: &SchemaRef,
        field: &str,
    ) -> Result<(SchemaRef, Arc<Schema>)> {
        let key_ref = schema.sibling(&format!("{}_key", schema.name));
        let cache_key = (schema.clone(), field.to_owned());
        if let Some(found) = self
            .field_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
        {
            return Ok((key_ref, found.clone()));
        }
        let value_schema = self.backend.schema(schema).await?;
        let load_err = |source: BoxError| Error::SchemaLoad {
            schema: key_ref.full_name(),
            source,
        };
        let Schema::Record(RecordSchema { fields, .. }) = value_schema.as_ref() else {
            return Err(load_err(
                format!("value schema `{schema}` is not a record").into(),
            ));
        };
        let f = fields.iter().find(|f| f.name == field).ok_or_else(|| {
            load_err(format!("value schema `{schema}` has no field `{field}`").into())
        })?;
        // The field may name types defined elsewhere in the value schema (`"type": "Address"`):
        // the key schema stands alone, so those definitions are inlined at first use.
        let resolved = apache_avro::schema::ResolvedSchema::try_from(value_schema.as_ref())
            .map_err(|e| load_err(e.into()))?;
        let field_json = super::names::inline_named(&f.schema, resolved.get_names())
            .map_err(|e| load_err(e.into()))?;
        let mut json = serde_json::json!({
            "type": "record",
            "name": key_ref.name,
            "fields": [{"name": field, "type": field_json}],
        });
        if let Some(ns) = &schema.namespace {
            json["namespace"] = serde_json::Value::String(ns.to_string());
        }
        let key_schema = Arc::new(super::names::parse_schema_json(&json).map_err(load_err)?);
        self.field_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key, key_schema.clone());
        Ok((key_ref, key_schema))
    }
}

fn decode_err(
    at: (&str, i32, i64),
    schema: &SchemaRef,
    what: &'static str,
    source: BoxError,
) -> Error {
    Error::Decode {
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        schema: schema.full_name(),
        what,
        source,
    }
}

/// Whether a `key_config(field)` key given to [`Codec::encode_key`] is already the key record
/// (`{field: value}`) rather than the field's value. A record-typed key field's value is a
/// record too, so only a one-entry record named after the field, for a field that is not
/// itself a record, counts as the key record.
fn is_key_record(key: &Value, field: &str, key_schema: &Schema) -> bool {
    let Value::Record(entries) = key else {
        return false;
    };
    let field_is_record = match key_schema {
        Schema::Record(r) => r
            .fields
            .first()
            .is_some_and(|f| matches!(f.schema, Schema::Record(_) | Schema::Ref { .. })),
        _ => false,
    };
    !field_is_record && entries.len() == 1 && entries[0].0 == field
}

fn record_fields(value: &Value) -> Result<&[(String, Value)], BoxError> {
    match value {
        Value::Record(fields) => Ok(fields),
        other => Err(format!("expected a record, found {other:?}").into()),
    }
}

/// Resolves a value against a schema (Avro spec "Schema Resolution"): promotions, defaults
/// for missing fields; fields the schema lacks are dropped. One pass of apache-avro's resolver,
/// after fixing up top-level UUID fields.
pub(crate) fn resolve(value: Value, schema: &Schema) -> Result<Value, BoxError> {
    let value = match (value, schema) {
        (Value::Record(fields), Schema::Record(record)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, v)| match record.lookup.get(&name) {
                    Some(&i) => {
                        let v = uuid_from_bytes(v, &record.fields[i].schema);
                        (name, v)
                    }
                    None => (name, v),
                })
                .collect(),
        ),
        (value, _) => value,
    };
    Ok(value.resolve(schema)?)
}

/// Explains why `value` does not resolve against a record `schema`, naming the first field at
/// fault; `None` when it cannot tell (not a record, or every field resolves on its own).
/// Slow (each field is resolved against the whole schema), so only used after a failure.
fn diagnose(value: Value, schema: &Schema) -> Option<BoxError> {
    let (Value::Record(mut fields), Schema::Record(record)) = (value, schema) else {
        return None;
    };
    for f in &record.fields {
        match fields.iter().position(|(n, _)| *n == f.name) {
            Some(i) => {
                let (_, v) = fields.swap_remove(i);
                if let Err(e) =
                    uuid_from_bytes(v, &f.schema).resolve_schemata(&f.schema, vec![schema])
                {
                    return Some(format!("field `{}`: {e}", f.name).into());
                }
            }
            None if f.default.is_none() => {
                return Some(format!("missing field `{}` (it has no default)", f.name).into());
            }
            None => {}
        }
    }
    None
}

/// `uuid::Uuid` serializes as 16 bytes through serde's non-human-readable path; an Avro `uuid`
/// (a string on the wire) wants the UUID itself. Converts a top-level `uuid` or
/// `["null", "uuid"]` field.
fn uuid_from_bytes(value: Value, schema: &Schema) -> Value {
    match (value, schema) {
        (Value::Bytes(b), Schema::Uuid) if b.len() == 16 => match uuid::Uuid::from_slice(&b) {
            Ok(u) => Value::Uuid(u),
            Err(_) => Value::Bytes(b),
        },
        (Value::Union(i, inner), Schema::Union(u)) => {
            let inner = match u.variants().iter().find(|s| matches!(s, Schema::Uuid)) {
                Some(uuid_schema) => uuid_from_bytes(*inner, uuid_schema),
                None => *inner,
            };
            Value::Union(i, Box::new(inner))
        }
        (value, _) => value,
    }
}
