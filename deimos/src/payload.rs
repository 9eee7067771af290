//! Dynamic payloads: JSON-like maps for code that has no struct per schema.
//!
//! Ruby Deimos producers publish hashes (`{ 'id' => 1, 'name' => 'x' }`) and its coercer turns
//! them into what the Avro schema wants. [`Payload`] is that hash: field name →
//! [`PayloadValue`], in insertion order. [`coerce_payload`](crate::schema::coerce::coerce_payload)
//! turns one into an Avro record by Deimos' rules, and
//! [`to_payload`](crate::schema::coerce::to_payload) turns a decoded Avro value back into one.
//!
//! ```
//! use deimos::{payload, Payload, PayloadValue};
//!
//! let p: Payload = payload! { "id" => 1, "name" => "gear", "tags" => vec!["a", "b"] };
//! assert_eq!(p.get("id"), Some(&PayloadValue::Int(1)));
//! assert_eq!(p.len(), 3);
//! ```

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A dynamic payload: field name → [`PayloadValue`], kept in insertion order (an
/// [`IndexMap`]; equality ignores order, as for a Ruby hash).
///
/// Build one with [`payload!`](crate::payload!), [`Payload::insert`] / [`Payload::with`],
/// `FromIterator`, or from a JSON object with `TryFrom<serde_json::Value>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    fields: IndexMap<String, PayloadValue>,
}

/// One value in a [`Payload`]: what a JSON document holds, plus the types Avro's logical types
/// and `bytes` need.
///
/// Converting from Rust values: `bool`; `i8`..`i64`, `u16`, `u32` (→ `Int`); `f32`, `f64`;
/// `&str`, `String`, `char`; `Vec<u8>` and `&[u8]` (→ `Bytes`, so there is no `From<u8>`; write
/// `PayloadValue::Int(x.into())`); [`NaiveDate`], [`NaiveTime`], [`DateTime`] in any offset or
/// `Utc`, [`NaiveDateTime`], [`Uuid`]; `Vec<T>` (→ `Array`, for `T` other than `u8`);
/// [`Payload`] (→ `Map`); `Option<T>` (`None` → `Null`); [`serde_json::Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadValue {
    /// No value (JSON `null`, Ruby `nil`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any integer that fits an `i64`.
    Int(i64),
    /// A floating-point number (NaN and infinities allowed).
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// Raw bytes (Avro `bytes` and `fixed`).
    Bytes(Vec<u8>),
    /// A calendar date (Avro `date`).
    Date(NaiveDate),
    /// A time of day (Avro `time-millis` / `time-micros`).
    Time(NaiveTime),
    /// An instant with its UTC offset (Avro `timestamp-*`).
    DateTime(DateTime<FixedOffset>),
    /// A wall-clock date and time without a zone (Avro `local-timestamp-*`).
    NaiveDateTime(NaiveDateTime),
    /// A UUID (Avro `uuid`).
    Uuid(Uuid),
    /// A list (Avro `array`).
    Array(Vec<PayloadValue>),
    /// A nested map (Avro `record` or `map`).
    Map(Payload),
}

impl PayloadValue {
    /// A short name of the variant (`null`, `bool`, `int`, `float`, `string`, `bytes`, `date`,
    /// `time`, `datetime`, `naive datetime`, `uuid`, `array`, `map`), as errors print it.
    pub fn kind(&self) -> &'static str {
        match self {
            PayloadValue::Null => "null",
            PayloadValue::Bool(_) => "bool",
            PayloadValue::Int(_) => "int",
            PayloadValue::Float(_) => "float",
            PayloadValue::String(_) => "string",
            PayloadValue::Bytes(_) => "bytes",
            PayloadValue::Date(_) => "date",
            PayloadValue::Time(_) => "time",
            PayloadValue::DateTime(_) => "datetime",
            PayloadValue::NaiveDateTime(_) => "naive datetime",
            PayloadValue::Uuid(_) => "uuid",
            PayloadValue::Array(_) => "array",
            PayloadValue::Map(_) => "map",
        }
    }

    /// Whether this is [`PayloadValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, PayloadValue::Null)
    }

    /// The string inside a [`PayloadValue::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PayloadValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer inside a [`PayloadValue::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PayloadValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The map inside a [`PayloadValue::Map`].
    pub fn as_map(&self) -> Option<&Payload> {
        match self {
            PayloadValue::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// `kind value` as errors print it: `string "x"`, `int 5`, `array of 3`, `map of 2`, `null`.
/// Long strings are cut at 40 characters.
impl fmt::Display for PayloadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadValue::Null => f.write_str("null"),
            PayloadValue::Bool(b) => write!(f, "bool {b}"),
            PayloadValue::Int(i) => write!(f, "int {i}"),
            PayloadValue::Float(x) => write!(f, "float {x:?}"),
            PayloadValue::String(s) => {
                if s.chars().count() > 40 {
                    let cut: String = s.chars().take(40).collect();
                    write!(f, "string {cut:?}…")
                } else {
                    write!(f, "string {s:?}")
                }
            }
            PayloadValue::Bytes(b) => write!(f, "bytes of length {}", b.len()),
            PayloadValue::Date(d) => write!(f, "date {d}"),
            PayloadValue::Time(t) => write!(f, "time {t}"),
            PayloadValue::DateTime(t) => write!(f, "datetime {}", t.to_rfc3339()),
            PayloadValue::NaiveDateTime(t) => write!(f, "naive datetime {t}"),
            PayloadValue::Uuid(u) => write!(f, "uuid {u}"),
            PayloadValue::Array(a) => write!(f, "array of {}", a.len()),
            PayloadValue::Map(m) => write!(f, "map of {}", m.len()),
        }
    }
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Sets `name` to `value`, returning the previous value. A new name goes last; an existing
    /// one keeps its position.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<PayloadValue>,
    ) -> Option<PayloadValue> {
        self.fields.insert(name.into(), value.into())
    }

    /// Builder form of [`Payload::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<PayloadValue>) -> Self {
        self.insert(name, value);
        self
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&PayloadValue> {
        self.fields.get(name)
    }

    /// The value of `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut PayloadValue> {
        self.fields.get_mut(name)
    }

    /// Whether `name` is present (even as `Null`).
    pub fn contains_key(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// Removes `name`, keeping the order of the other fields.
    pub fn remove(&mut self, name: &str) -> Option<PayloadValue> {
        self.fields.shift_remove(name)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Fields in insertion order.
    pub fn iter(&self) -> indexmap::map::Iter<'_, String, PayloadValue> {
        self.fields.iter()
    }

    /// Field names in insertion order.
    pub fn keys(&self) -> indexmap::map::Keys<'_, String, PayloadValue> {
        self.fields.keys()
    }
}

impl<K: Into<String>, V: Into<PayloadValue>> FromIterator<(K, V)> for Payload {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Payload {
            fields: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<K: Into<String>, V: Into<PayloadValue>> Extend<(K, V)> for Payload {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.fields
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

impl IntoIterator for Payload {
    type Item = (String, PayloadValue);
    type IntoIter = indexmap::map::IntoIter<String, PayloadValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

impl<'a> IntoIterator for &'a Payload {
    type Item = (&'a String, &'a PayloadValue);
    type IntoIter = indexmap::map::Iter<'a, String, PayloadValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter()
    }
}

/// Builds a [`Payload`] from `"name" => value` pairs; each value goes through
/// `PayloadValue::from`, so nested `payload!{..}`, `vec![..]`, chrono values and `None` work.
///
/// ```
/// use deimos::{payload, PayloadValue};
///
/// let p = payload! {
///     "id" => 7,
///     "price" => 9.5,
///     "dims" => payload! { "w" => 2, "h" => 3 },
///     "note" => None::<String>,
/// };
/// assert_eq!(p.get("note"), Some(&PayloadValue::Null));
/// ```
#[macro_export]
macro_rules! payload {
    () => { $crate::Payload::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {{
        let mut payload = $crate::Payload::new();
        $( payload.insert($name, $crate::PayloadValue::from($value)); )+
        payload
    }};
}

// ---- From impls ------------------------------------------------------------------------------

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for PayloadValue {
            fn from(v: $t) -> Self { PayloadValue::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u16, u32);

impl From<bool> for PayloadValue {
    fn from(v: bool) -> Self {
        PayloadValue::Bool(v)
    }
}
impl From<f64> for PayloadValue {
    fn from(v: f64) -> Self {
        PayloadValue::Float(v)
    }
}
impl From<f32> for PayloadValue {
    fn from(v: f32) -> Self {
        PayloadValue::Float(f64::from(v))
    }
}
impl From<&str> for PayloadValue {
    fn from(v: &str) -> Self {
        PayloadValue::String(v.to_owned())
    }
}
impl From<String> for PayloadValue {
    fn from(v: String) -> Self {
        PayloadValue::String(v)
    }
}
impl From<&String> for PayloadValue {
    fn from(v: &String) -> Self {
        PayloadValue::String(v.clone())
    }
}
impl From<char> for PayloadValue {
    fn from(v: char) -> Self {
        PayloadValue::String(v.to_string())
    }
}
impl From<Vec<u8>> for PayloadValue {
    fn from(v: Vec<u8>) -> Self {
        PayloadValue::Bytes(v)
    }
}
impl From<&[u8]> for PayloadValue {
    fn from(v: &[u8]) -> Self {
        PayloadValue::Bytes(v.to_vec())
    }
}
impl From<NaiveDate> for PayloadValue {
    fn from(v: NaiveDate) -> Self {
        PayloadValue::Date(v)
    }
}
impl From<NaiveTime> for PayloadValue {
    fn from(v: NaiveTime) -> Self {
        PayloadValue::Time(v)
    }
}
impl From<DateTime<FixedOffset>> for PayloadValue {
    fn from(v: DateTime<FixedOffset>) -> Self {
        PayloadValue::DateTime(v)
    }
}
impl From<DateTime<Utc>> for PayloadValue {
    fn from(v: DateTime<Utc>) -> Self {
        PayloadValue::DateTime(v.fixed_offset())
    }
}
impl From<NaiveDateTime> for PayloadValue {
    fn from(v: NaiveDateTime) -> Self {
        PayloadValue::NaiveDateTime(v)
    }
}
impl From<Uuid> for PayloadValue {
    fn from(v: Uuid) -> Self {
        PayloadValue::Uuid(v)
    }
}
impl From<Payload> for PayloadValue {
    fn from(v: Payload) -> Self {
        PayloadValue::Map(v)
    }
}
impl<T: Into<PayloadValue>> From<Option<T>> for PayloadValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(PayloadValue::Null, Into::into)
    }
}
impl From<Vec<PayloadValue>> for PayloadValue {
    fn from(v: Vec<PayloadValue>) -> Self {
        PayloadValue::Array(v)
    }
}

macro_rules! from_vec {
    ($($t:ty),*) => {$(
        impl From<Vec<$t>> for PayloadValue {
            fn from(v: Vec<$t>) -> Self {
                PayloadValue::Array(v.into_iter().map(PayloadValue::from).collect())
            }
        }
    )*};
}
from_vec!(
    bool,
    i8,
    i16,
    i32,
    i64,
    u16,
    u32,
    f32,
    f64,
    &str,
    String,
    NaiveDate,
    NaiveTime,
    NaiveDateTime,
    DateTime<Utc>,
    DateTime<FixedOffset>,
    Uuid,
    Payload,
    Vec<u8>
);

/// JSON → payload: `null`, booleans, strings, arrays and objects map one to one; integers that
/// fit an `i64` become `Int`, other numbers `Float` (a `u64` above `i64::MAX` loses precision).
impl From<serde_json::Value> for PayloadValue {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => PayloadValue::Null,
            serde_json::Value::Bool(b) => PayloadValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => PayloadValue::Int(i),
                None => PayloadValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => PayloadValue::String(s),
            serde_json::Value::Array(a) => {
                PayloadValue::Array(a.into_iter().map(PayloadValue::from).collect())
            }
            serde_json::Value::Object(o) => PayloadValue::Map(o.into_iter().collect()),
        }
    }
}

/// The error of `Payload::try_from(serde_json::Value)` for anything but an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a payload must be a JSON object, found {found}")]
pub struct NotAnObject {
    /// The JSON type found: `null`, `boolean`, `number`, `string` or `array`.
    pub found: &'static str,
}

impl TryFrom<serde_json::Value> for Payload {
    type Error = NotAnObject;

    /// A JSON object becomes a payload (keys in document order, values per
    /// `From<serde_json::Value> for PayloadValue`).
    ///
    /// # Errors
    /// [`NotAnObject`] for any other JSON value.
    fn try_from(v: serde_json::Value) -> Result<Self, NotAnObject> {
        let found = match v {
            serde_json::Value::Object(o) => return Ok(o.into_iter().collect()),
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
        };
        Err(NotAnObject { found })
    }
}

// ---- serde -----------------------------------------------------------------------------------

/// Serializes as a map of the values below.
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.fields.iter())
    }
}

/// `Null` as unit (JSON `null`), `Bytes` as serde bytes (a JSON array of numbers), dates and
/// times as ISO-8601 strings (`2024-01-31`, `12:34:56.789`, RFC 3339 for `DateTime`,
/// `2024-01-31T12:34:56` for `NaiveDateTime`), UUIDs as hyphenated strings.
impl Serialize for PayloadValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PayloadValue::Null => serializer.serialize_unit(),
            PayloadValue::Bool(b) => serializer.serialize_bool(*b),
            PayloadValue::Int(i) => serializer.serialize_i64(*i),
            PayloadValue::Float(x) => serializer.serialize_f64(*x),
            PayloadValue::String(s) => serializer.serialize_str(s),
            PayloadValue::Bytes(b) => serializer.serialize_bytes(b),
            PayloadValue::Date(d) => serializer.collect_str(d),
            PayloadValue::Time(t) => serializer.collect_str(t),
            PayloadValue::DateTime(t) => serializer.serialize_str(&t.to_rfc3339()),
            PayloadValue::NaiveDateTime(t) => {
                serializer.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.f"))
            }
            PayloadValue::Uuid(u) => serializer.collect_str(u),
            PayloadValue::Array(a) => serializer.collect_seq(a),
            PayloadValue::Map(m) => m.serialize(serializer),
        }
    }
}

/// Reads any self-describing format (JSON, YAML, …): unit/none → `Null`, integers that fit
/// an `i64` → `Int` (others `Float`), strings stay strings (dates and UUIDs are not guessed;
/// coercion parses them when the schema asks), bytes → `Bytes`, sequences → `Array`, maps →
/// `Map`.
impl<'de> Deserialize<'de> for PayloadValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Reads a map (see `Deserialize for PayloadValue`).
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match PayloadValue::deserialize(deserializer)? {
            PayloadValue::Map(m) => Ok(m),
            other => Err(de::Error::custom(format!(
                "a payload must be a map, found {}",
                other.kind()
            ))),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = PayloadValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON-like value")
    }
    fn visit_unit<E>(self) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Null)
    }
    fn visit_none<E>(self) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<PayloadValue, D::Error> {
        PayloadValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<PayloadValue, E> {
        Ok(i64::try_from(v).map_or(PayloadValue::Float(v as f64), PayloadValue::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<PayloadValue, E> {
        Ok(PayloadValue::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<PayloadValue, E> {
        Ok(PayloadValue::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<PayloadValue, E> {
        Ok(PayloadValue::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PayloadValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(PayloadValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PayloadValue, A::Error> {
        let mut payload = Payload::new();
        while let Some((k, v)) = map.next_entry::<String, PayloadValue>()? {
            payload.fields.insert(k, v);
        }
        Ok(PayloadValue::Map(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_from_and_order() {
        let p = crate::payload! { "b" => 1, "a" => "x", "c" => vec![1i64, 2] };
        assert_eq!(p.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(
            p.get("c"),
            Some(&PayloadValue::Array(vec![
                PayloadValue::Int(1),
                PayloadValue::Int(2)
            ]))
        );
        let mut p = p;
        assert_eq!(p.remove("b"), Some(PayloadValue::Int(1)));
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a", "c"]);
    }

    #[test]
    fn json_round_trip_and_try_from() {
        let json = serde_json::json!({"id": 1, "n": null, "f": 1.5, "l": [true], "m": {"k": "v"},
                                      "big": 18446744073709551615u64});
        let p = Payload::try_from(json.clone()).unwrap();
        assert_eq!(
            p.get("big"),
            Some(&PayloadValue::Float(18446744073709551615.0))
        );
        let back: Payload = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        let text = serde_json::to_string(&crate::payload! { "d" =>
        NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(), "n" => PayloadValue::Null })
        .unwrap();
        assert_eq!(text, r#"{"d":"2024-01-31","n":null}"#);
        assert_eq!(
            Payload::try_from(serde_json::json!([1]))
                .unwrap_err()
                .to_string(),
            "a payload must be a JSON object, found array"
        );
    }
}
