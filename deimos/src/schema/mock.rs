//! `mock`: Deimos' mock schema backend. No schema work: values pass through unchecked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Days, Duration, Millis, Months, Schema};
use serde_json::{json, Map, Value as Json};

use super::{AvroLocal, SchemaBackend, SchemaRef, SerializationContext};
use crate::config::SchemaBackendKind;
use crate::error::{BoxError, Result};

/// Deimos' `mock` backend: encoding and decoding do no schema work at all. Values are not
/// resolved or validated, and the wire bytes are a self-describing JSON form of the
/// [`Value`] that decodes back to the identical value, whatever the schema says.
///
/// Schemas are still read from `<root>` when something needs one (the generated key schema
/// of `key_config(field)`, the fields of `key_config(schema)`), through [`AvroLocal`].
///
/// The wire form, one JSON object per value with the Avro type as its only key, e.g.
/// `{"record":[["id",{"long":1}],["name",{"string":"a"}]]}`; bytes and fixed are arrays of
/// byte values, decimals their two's-complement unscaled bytes, durations
/// `[months, days, millis]`. Not meant for other readers: use `avro_validation` for JSON
/// other tools can read.
#[derive(Debug)]
pub struct Mock {
    local: AvroLocal,
}

impl Mock {
    /// A mock backend that reads schemas (when asked for one) from the `.avsc` tree at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mock {
            local: AvroLocal::new(root),
        }
    }
}

#[async_trait::async_trait]
impl SchemaBackend for Mock {
    fn kind(&self) -> SchemaBackendKind {
        SchemaBackendKind::Mock
    }

    fn validates(&self) -> bool {
        false
    }

    async fn schema(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        self.local.load(schema)
    }

    async fn encode(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &Schema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError> {
        Ok(serde_json::to_vec(&to_tagged(&value)?)?)
    }

    async fn decode(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &Schema,
        bytes: &[u8],
    ) -> Result<Value, BoxError> {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| format!("mock payload is not JSON: {e}"))?;
        from_tagged(&json, &mut String::from("$"))
    }
}

fn to_tagged(value: &Value) -> Result<Json, BoxError> {
    let (tag, inner) = match value {
        Value::Null => ("null", Json::Null),
        Value::Boolean(b) => ("boolean", json!(b)),
        Value::Int(i) => ("int", json!(i)),
        Value::Long(i) => ("long", json!(i)),
        Value::Float(f) => ("float", float_json(f64::from(*f))),
        Value::Double(f) => ("double", float_json(*f)),
        Value::Bytes(b) => ("bytes", json!(b)),
        Value::String(s) => ("string", json!(s)),
        Value::Fixed(_, b) => ("fixed", json!(b)),
        Value::Enum(i, s) => ("enum", json!([i, s])),
        Value::Union(i, v) => ("union", json!([i, to_tagged(v)?])),
        Value::Array(items) => (
            "array",
            Json::Array(items.iter().map(to_tagged).collect::<Result<_, _>>()?),
        ),
        Value::Map(m) => {
            let mut map = Map::new();
            for (k, v) in m {
                map.insert(k.clone(), to_tagged(v)?);
            }
            ("map", Json::Object(map))
        }
        Value::Record(fields) => (
            "record",
            Json::Array(
                fields
                    .iter()
                    .map(|(k, v)| Ok(json!([k, to_tagged(v)?])))
                    .collect::<Result<_, BoxError>>()?,
            ),
        ),
        Value::Date(d) => ("date", json!(d)),
        Value::Decimal(d) => ("decimal", json!(Vec::<u8>::try_from(d)?)),
        Value::BigDecimal(d) => ("big-decimal", json!(d.to_string())),
        Value::TimeMillis(t) => ("time-millis", json!(t)),
        Value::TimeMicros(t) => ("time-micros", json!(t)),
        Value::TimestampMillis(t) => ("timestamp-millis", json!(t)),
        Value::TimestampMicros(t) => ("timestamp-micros", json!(t)),
        Value::TimestampNanos(t) => ("timestamp-nanos", json!(t)),
        Value::LocalTimestampMillis(t) => ("local-timestamp-millis", json!(t)),
        Value::LocalTimestampMicros(t) => ("local-timestamp-micros", json!(t)),
        Value::LocalTimestampNanos(t) => ("local-timestamp-nanos", json!(t)),
        Value::Duration(d) => (
            "duration",
            json!([
                u32::from(d.months()),
                u32::from(d.days()),
                u32::from(d.millis())
            ]),
        ),
        Value::Uuid(u) => ("uuid", json!(u.to_string())),
    };
    let mut map = Map::with_capacity(1);
    map.insert(tag.to_owned(), inner);
    Ok(Json::Object(map))
}

/// JSON has no NaN or infinities: those travel as strings.
fn float_json(f: f64) -> Json {
    if f.is_finite() {
        json!(f)
    } else {
        json!(f.to_string())
    }
}

fn from_tagged(json: &Json, path: &mut String) -> Result<Value, BoxError> {
    let here = path.clone();
    let bad = |what: &str| -> BoxError { format!("mock payload at {here}: {what}").into() };
    let Some((tag, inner)) = json
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(bad("expected an object with one type key"));
    };
    let int = |v: &Json| {
        v.as_i64()
            .ok_or_else(|| bad(&format!("`{tag}` needs an integer")))
    };
    let int32 = |v: &Json| {
        int(v).and_then(|i| i32::try_from(i).map_err(|_| bad(&format!("`{tag}` out of range"))))
    };
    let float = |v: &Json| match v {
        Json::String(s) => s.parse::<f64>().map_err(|_| bad("bad float")),
        other => other.as_f64().ok_or_else(|| bad("bad float")),
    };
    let bytes = |v: &Json| -> Result<Vec<u8>, BoxError> {
        v.as_array()
            .ok_or_else(|| bad("bytes must be an array"))?
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .ok_or_else(|| bad("bytes must be 0..=255"))
            })
            .collect()
    };
    let pair = |v: &Json| -> Result<(Json, Json), BoxError> {
        match v.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((a.clone(), b.clone())),
            _ => Err(bad("expected a two-element array")),
        }
    };
    Ok(match tag.as_str() {
        "null" => Value::Null,
        "boolean" => Value::Boolean(inner.as_bool().ok_or_else(|| bad("bad boolean"))?),
        "int" => Value::Int(int32(inner)?),
        "long" => Value::Long(int(inner)?),
        #[allow(clippy::cast_possible_truncation)]
        "float" => Value::Float(float(inner)? as f32),
        "double" => Value::Double(float(inner)?),
        "bytes" => Value::Bytes(bytes(inner)?),
        "string" => Value::String(inner.as_str().ok_or_else(|| bad("bad string"))?.to_owned()),
        "fixed" => {
            let b = bytes(inner)?;
            Value::Fixed(b.len(), b)
        }
        "enum" => {
            let (i, s) = pair(inner)?;
            let i = i
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad("bad enum index"))?;
            Value::Enum(
                i,
                s.as_str().ok_or_else(|| bad("bad enum symbol"))?.to_owned(),
            )
        }
        "union" => {
            let (i, v) = pair(inner)?;
            let i = i
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad("bad union index"))?;
            Value::Union(i, Box::new(from_tagged(&v, path)?))
        }
        "array" => {
            let items = inner.as_array().ok_or_else(|| bad("bad array"))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(from_tagged(item, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        "map" => {
            let entries = inner.as_object().ok_or_else(|| bad("bad map"))?;
            let mut out = HashMap::with_capacity(entries.len());
            for (k, v) in entries {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                out.insert(k.clone(), from_tagged(v, path)?);
                path.truncate(len);
            }
            Value::Map(out)
        }
        "record" => {
            let fields = inner.as_array().ok_or_else(|| bad("bad record"))?;
            let mut out = Vec::with_capacity(fields.len());
            for field in fields {
                let (name, v) = pair(field)?;
                let name = name
                    .as_str()
                    .ok_or_else(|| bad("bad field name"))?
                    .to_owned();
                let len = path.len();
                path.push('.');
                path.push_str(&name);
                let v = from_tagged(&v, path)?;
                path.truncate(len);
                out.push((name, v));
            }
            Value::Record(out)
        }
        "date" => Value::Date(int32(inner)?),
        "decimal" => Value::Decimal(bytes(inner)?.into()),
        "big-decimal" => Value::BigDecimal(
            inner
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad big-decimal"))?,
        ),
        "time-millis" => Value::TimeMillis(int32(inner)?),
        "time-micros" => Value::TimeMicros(int(inner)?),
        "timestamp-millis" => Value::TimestampMillis(int(inner)?),
        "timestamp-micros" => Value::TimestampMicros(int(inner)?),
        "timestamp-nanos" => Value::TimestampNanos(int(inner)?),
        "local-timestamp-millis" => Value::LocalTimestampMillis(int(inner)?),
        "local-timestamp-micros" => Value::LocalTimestampMicros(int(inner)?),
        "local-timestamp-nanos" => Value::LocalTimestampNanos(int(inner)?),
        "duration" => {
            let parts = inner.as_array().map(Vec::as_slice);
            let n = |v: &Json| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("bad duration"))
            };
            match parts {
                Some([m, d, ms]) => Value::Duration(Duration::new(
                    Months::new(n(m)?),
                    Days::new(n(d)?),
                    Millis::new(n(ms)?),
                )),
                _ => return Err(bad("a duration is [months, days, millis]")),
            }
        }
        "uuid" => Value::Uuid(
            inner
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| bad("bad uuid"))?,
        ),
        other => return Err(bad(&format!("unknown type `{other}`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_kind_round_trips() {
        let value = Value::Record(vec![
            ("n".into(), Value::Null),
            ("b".into(), Value::Boolean(true)),
            ("i".into(), Value::Int(-3)),
            ("l".into(), Value::Long(i64::MAX)),
            ("f".into(), Value::Float(1.5)),
            ("d".into(), Value::Double(f64::INFINITY)),
            ("by".into(), Value::Bytes(vec![0, 255])),
            ("s".into(), Value::String("é".into())),
            ("fx".into(), Value::Fixed(2, vec![1, 2])),
            ("e".into(), Value::Enum(1, "B".into())),
            ("u".into(), Value::Union(1, Box::new(Value::Long(2)))),
            ("a".into(), Value::Array(vec![Value::Int(1)])),
            (
                "m".into(),
                Value::Map([("k".to_owned(), Value::Int(1))].into()),
            ),
            ("dt".into(), Value::Date(19000)),
            ("dec".into(), Value::Decimal(vec![0x01, 0x00].into())),
            ("bd".into(), Value::BigDecimal("12.50".parse().unwrap())),
            ("tm".into(), Value::TimeMillis(1)),
            ("tu".into(), Value::TimeMicros(2)),
            ("ts".into(), Value::TimestampMillis(3)),
            ("tsu".into(), Value::TimestampMicros(4)),
            ("tsn".into(), Value::TimestampNanos(5)),
            ("lts".into(), Value::LocalTimestampMillis(6)),
            ("ltu".into(), Value::LocalTimestampMicros(7)),
            ("ltn".into(), Value::LocalTimestampNanos(8)),
            (
                "dur".into(),
                Value::Duration(Duration::new(Months::new(1), Days::new(2), Millis::new(3))),
            ),
            ("id".into(), Value::Uuid(uuid::Uuid::from_u128(42))),
        ]);
        let json = serde_json::to_vec(&to_tagged(&value).unwrap()).unwrap();
        let back = from_tagged(&serde_json::from_slice(&json).unwrap(), &mut "$".into()).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn bad_input_names_the_path() {
        let json: Json =
            serde_json::from_str(r#"{"record":[["a",{"array":[{"int":1},{"int":"x"}]}]]}"#)
                .unwrap();
        let err = from_tagged(&json, &mut "$".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mock payload at $.a[1]: `int` needs an integer"
        );
    }
}
