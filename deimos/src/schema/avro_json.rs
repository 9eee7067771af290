//! Avro's JSON encoding (Avro spec, "JSON Encoding"), the wire format of the
//! [`AvroValidation`](super::AvroValidation) backend.
//!
//! | Avro type | JSON |
//! |---|---|
//! | `null` | `null` |
//! | `boolean` | `true` / `false` |
//! | `int`, `long` | an integer |
//! | `float`, `double` | a number; NaN and the infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers; this is what Java Avro's Jackson-based encoder writes and its decoder reads) |
//! | `bytes`, `fixed` | a string with one character per byte, U+0000–U+00FF (ISO-8859-1) |
//! | `string` | a string |
//! | `enum` | the symbol, a string |
//! | `array` | an array |
//! | `map` | an object (written with its keys sorted, so equal maps give equal bytes) |
//! | record | an object with every field, in schema order |
//! | union | `null` for the null branch, otherwise `{"<branch>": value}`, where the branch is the type's name: the full name of a record, enum or fixed, `array`, `map`, or the primitive's name |
//! | logical types | as the underlying type: `date`, `time-millis` → int; `time-micros`, `timestamp-*`, `local-timestamp-*` → long; `uuid` → string; `decimal` → its bytes or fixed (two's complement, big-endian); `big-decimal` → bytes (apache-avro's layout: unscaled bytes and scale); `duration` → its 12-byte fixed, in unions under the name `duration` (apache-avro keeps no other) |
//!
//! Decoding is strict: every record field must be present, unknown fields, out-of-range
//! integers, characters above U+00FF in bytes, a wrong fixed size, an unknown symbol or union
//! branch are errors that name the field path. A decoded value is in resolved form (what
//! `Value::resolve` and `from_avro_datum` produce: `Value::Long` for a long, `Value::Union` for
//! every union, `Value::Enum`, `Value::Date`, `Value::Decimal`, …), so
//! `from_json(to_json(v)) == v` for every resolved value `v` valid for the schema. A valid but
//! unresolved value (`Value::Int` in a long, a bare value in a union) comes back resolved.
//!
//! JSON nested deeper than 128 levels is refused on both sides (serde_json reads no deeper).

use std::collections::HashMap;

use apache_avro::schema::{Namespace, RecordSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::Value as Json;

use super::path::{child, Path, Seg};
use super::walk::{branch_name, Names, MAX_DEPTH};

/// A value or JSON document that does not have its schema's shape.
///
/// Displays as `<path>: expected <Avro type>, found <what>` plus a parenthesised detail, e.g.
/// `items[0].qty: expected int, found JSON string "x"`.
///
/// The same error as coercion's ([`CoercionError`](super::coerce::CoercionError)): `found` is
/// a `Value` variant when encoding, a JSON value when decoding.
pub type AvroJsonError = super::coerce::CoercionError;

/// Writes `value` in Avro's JSON encoding for `schema` (see the [module docs](self)).
///
/// Accepts what `Value::validate` accepts for the schema (e.g. `Value::Int` for a long, a
/// `Value::String` symbol for an enum, a bare value for a union: the first branch it fits).
///
/// # Errors
/// [`AvroJsonError`] at the first place where `value` does not fit `schema`.
pub fn to_json(value: &Value, schema: &Schema) -> Result<Json, AvroJsonError> {
    let names = Names::of(schema).map_err(|e| bad_schema(schema, e))?;
    Writer { names: &names }.write(value, schema, &schema.namespace(), None, 0)
}

/// Reads Avro's JSON encoding of a `schema` value back into its resolved [`Value`].
///
/// # Errors
/// [`AvroJsonError`] at the first place where `json` does not have the schema's shape.
pub fn from_json(json: &Json, schema: &Schema) -> Result<Value, AvroJsonError> {
    let names = Names::of(schema).map_err(|e| bad_schema(schema, e))?;
    Reader {
        names: &names,
        defaults: false,
    }
    .read(json, schema, &schema.namespace(), None, 0)
}

/// Reads a field default from a schema (Avro spec, "Schema Declaration"): as the JSON
/// encoding, except that a union's default is the bare value of its first branch (others are
/// tried after it) and a record default may leave out fields that have defaults.
pub(crate) fn from_default<'s>(
    json: &Json,
    schema: &'s Schema,
    names: &Names<'s>,
    ns: &Namespace,
) -> Result<Value, AvroJsonError> {
    Reader {
        names,
        defaults: true,
    }
    .read(json, schema, ns, None, 0)
}

fn bad_schema(schema: &Schema, e: String) -> AvroJsonError {
    AvroJsonError::new(None, schema, "a schema that does not resolve").with(e)
}

fn found_value(v: &Value) -> String {
    let text = format!("{v:?}");
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn found_json(j: &Json) -> String {
    let text = match j {
        Json::Null => return "JSON null".into(),
        Json::Bool(b) => format!("boolean {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(a) => return format!("JSON array of {}", a.len()),
        Json::Object(o) => return format!("JSON object with {} keys", o.len()),
    };
    let text = if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    };
    format!("JSON {text}")
}

fn latin1(bytes: &[u8]) -> Json {
    Json::String(bytes.iter().map(|&b| char::from(b)).collect())
}

fn from_latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(c).ok()).collect()
}

fn float_json(x: f64) -> Json {
    match serde_json::Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("NaN".into()),
        None if x > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn json_float(j: &Json) -> Option<f64> {
    match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// apache-avro's big-decimal layout: the Avro binary datum of the value is a length-prefixed
/// byte string; the JSON encoding carries its content.
fn big_decimal_bytes(d: &apache_avro::BigDecimal) -> Result<Vec<u8>, String> {
    let datum = apache_avro::to_avro_datum(&Schema::BigDecimal, Value::BigDecimal(d.clone()))
        .map_err(|e| e.to_string())?;
    let mut reader = datum.as_slice();
    let len = read_varint(&mut reader).ok_or("bad length")?;
    if usize::try_from(len).ok() != Some(reader.len()) {
        return Err("bad length".into());
    }
    Ok(reader.to_vec())
}

fn big_decimal_from(bytes: &[u8]) -> Result<apache_avro::BigDecimal, String> {
    let mut datum = Vec::with_capacity(bytes.len() + 10);
    let mut n = (bytes.len() as u64) << 1; // zigzag of a non-negative length
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            datum.push(b);
            break;
        }
        datum.push(b | 0x80);
    }
    datum.extend_from_slice(bytes);
    let mut reader = datum.as_slice();
    match apache_avro::from_avro_datum(&Schema::BigDecimal, &mut reader, None) {
        Ok(Value::BigDecimal(d)) if reader.is_empty() => Ok(d),
        Ok(_) => Err("trailing bytes".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn read_varint(bytes: &mut &[u8]) -> Option<i64> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        n |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
    }
    None
}

struct Writer<'n, 's> {
    names: &'n Names<'s>,
}

impl<'s> Writer<'_, 's> {
    fn write(
        &self,
        v: &Value,
        schema: &'s Schema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Json, AvroJsonError> {
        if depth > MAX_DEPTH {
            return Err(AvroJsonError::new(at, schema, "a value")
                .with(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (schema, ns) = self
            .names
            .deref(schema, ns)
            .map_err(|e| AvroJsonError::new(at, schema, found_value(v)).with(e))?;
        let err = || AvroJsonError::new(at, schema, found_value(v));
        // Only the nesting types recurse; scalars are in a separate function so that the
        // recursion's stack frames stay small (debug builds give every arm its own slots).
        Ok(match (schema, v) {
            (Schema::Array(a), Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let here = child(at, Seg::Index(i));
                    out.push(self.write(item, &a.items, &ns, Some(&here), depth + 1)?);
                }
                Json::Array(out)
            }
            (Schema::Map(m), Value::Map(entries)) => {
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::with_capacity(keys.len());
                for k in keys {
                    let here = child(at, Seg::Key(k));
                    out.insert(
                        k.clone(),
                        self.write(&entries[k], &m.types, &ns, Some(&here), depth + 1)?,
                    );
                }
                Json::Object(out)
            }
            (Schema::Record(r), Value::Record(fields)) => {
                let lookup = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                self.record(
                    r,
                    lookup,
                    fields.iter().map(|(n, _)| n.as_str()),
                    &ns,
                    at,
                    depth,
                )?
            }
            (Schema::Record(r), Value::Map(entries)) => self.record(
                r,
                |n| entries.get(n),
                entries.keys().map(String::as_str),
                &ns,
                at,
                depth,
            )?,
            (Schema::Union(u), Value::Union(i, inner)) => {
                let Some(branch) = u.variants().get(*i as usize) else {
                    return Err(err().with(format!("the union has no branch {i}")));
                };
                self.branch(inner, branch, &ns, at, depth)?
            }
            (Schema::Union(u), bare) => {
                // A bare value (valid for `Value::validate`): the first branch it fits.
                let found = u
                    .variants()
                    .iter()
                    .find_map(|branch| self.branch(bare, branch, &ns, at, depth).ok());
                found.ok_or_else(|| err().with("no branch accepts it"))?
            }
            _ => self.write_scalar(v, schema, at)?,
        })
    }

    #[inline(never)]
    fn write_scalar(
        &self,
        v: &Value,
        schema: &'s Schema,
        at: Option<&Path<'_>>,
    ) -> Result<Json, AvroJsonError> {
        let err = || AvroJsonError::new(at, schema, found_value(v));
        Ok(match (schema, v) {
            (Schema::Null, Value::Null) => Json::Null,
            (Schema::Boolean, Value::Boolean(b)) => Json::Bool(*b),
            (Schema::Int, Value::Int(i))
            | (Schema::Long, Value::Int(i))
            | (Schema::Date, Value::Date(i) | Value::Int(i))
            | (Schema::TimeMillis, Value::TimeMillis(i) | Value::Int(i)) => Json::from(*i),
            (Schema::Long, Value::Long(i))
            | (Schema::TimeMicros, Value::TimeMicros(i) | Value::Long(i))
            | (Schema::TimestampMillis, Value::TimestampMillis(i) | Value::Long(i))
            | (Schema::TimestampMicros, Value::TimestampMicros(i) | Value::Long(i))
            | (Schema::TimestampNanos, Value::TimestampNanos(i))
            | (Schema::LocalTimestampMillis, Value::LocalTimestampMillis(i) | Value::Long(i))
            | (Schema::LocalTimestampMicros, Value::LocalTimestampMicros(i) | Value::Long(i))
            | (Schema::LocalTimestampNanos, Value::LocalTimestampNanos(i)) => Json::from(*i),
            (Schema::Float | Schema::Double, Value::Float(x)) => float_json(f64::from(*x)),
            (Schema::Double, Value::Double(x)) => float_json(*x),
            (Schema::Bytes, Value::Bytes(b)) => latin1(b),
            (Schema::String, Value::String(s)) => Json::String(s.clone()),
            (Schema::Uuid, Value::Uuid(u)) => Json::String(u.hyphenated().to_string()),
            (Schema::Uuid, Value::String(s)) => match uuid::Uuid::parse_str(s) {
                Ok(u) => Json::String(u.hyphenated().to_string()),
                Err(_) => return Err(err().with("not a UUID")),
            },
            (Schema::Fixed(f), Value::Fixed(_, b) | Value::Bytes(b)) => {
                if b.len() != f.size {
                    return Err(err().with(format!("{} bytes, fixed size is {}", b.len(), f.size)));
                }
                latin1(b)
            }
            (Schema::Enum(e), Value::Enum(_, s) | Value::String(s)) => {
                if !e.symbols.contains(s) {
                    return Err(err().with(format!("symbols are {}", e.symbols.join(", "))));
                }
                Json::String(s.clone())
            }
            (Schema::Decimal(d), Value::Decimal(x)) => {
                let bytes = Vec::<u8>::try_from(x).map_err(|e| err().with(e.to_string()))?;
                match d.inner.as_ref() {
                    Schema::Fixed(f) => {
                        latin1(&super::coerce::sign_extend(&bytes, f.size).ok_or_else(|| {
                            err().with(format!("does not fit fixed size {}", f.size))
                        })?)
                    }
                    _ => latin1(&bytes),
                }
            }
            (Schema::Decimal(d), Value::Bytes(b) | Value::Fixed(_, b)) => match d.inner.as_ref() {
                Schema::Fixed(f) if f.size != b.len() => {
                    return Err(err().with(format!("{} bytes, fixed size is {}", b.len(), f.size)))
                }
                _ => latin1(b),
            },
            (Schema::BigDecimal, Value::BigDecimal(d)) => {
                latin1(&big_decimal_bytes(d).map_err(|e| err().with(e))?)
            }
            (Schema::Duration, Value::Duration(d)) => latin1(&<[u8; 12]>::from(*d)),
            (Schema::Duration, Value::Fixed(12, b)) if b.len() == 12 => latin1(b),
            _ => return Err(err()),
        })
    }

    fn branch(
        &self,
        v: &Value,
        branch: &'s Schema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Json, AvroJsonError> {
        let (target, _) = self
            .names
            .deref(branch, ns)
            .map_err(|e| AvroJsonError::new(at, branch, found_value(v)).with(e))?;
        if matches!(target, Schema::Null) {
            return match v {
                Value::Null => Ok(Json::Null),
                other => Err(AvroJsonError::new(at, target, found_value(other))),
            };
        }
        let inner = self.write(v, branch, ns, at, depth + 1)?;
        let mut obj = serde_json::Map::with_capacity(1);
        obj.insert(branch_name(target), inner);
        Ok(Json::Object(obj))
    }

    fn record<'v, 'k>(
        &self,
        r: &'s RecordSchema,
        lookup: impl Fn(&str) -> Option<&'v Value>,
        present: impl Iterator<Item = &'k str>,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Json, AvroJsonError> {
        let schema = Schema::Record(r.clone());
        for name in present {
            if !r.lookup.contains_key(name) {
                let here = child(at, Seg::Field(name));
                return Err(
                    AvroJsonError::new(Some(&here), &schema, format!("field `{name}`"))
                        .with("the record has no such field"),
                );
            }
        }
        let mut out = serde_json::Map::with_capacity(r.fields.len());
        for f in &r.fields {
            let here = child(at, Seg::Field(&f.name));
            let Some(v) = lookup(&f.name) else {
                return Err(
                    AvroJsonError::new(Some(&here), &f.schema, "nothing").with("missing field")
                );
            };
            out.insert(
                f.name.clone(),
                self.write(v, &f.schema, ns, Some(&here), depth + 1)?,
            );
        }
        Ok(Json::Object(out))
    }
}

struct Reader<'n, 's> {
    names: &'n Names<'s>,
    /// Reading a schema default rather than an encoded value.
    defaults: bool,
}

impl<'s> Reader<'_, 's> {
    fn read(
        &self,
        j: &Json,
        schema: &'s Schema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Value, AvroJsonError> {
        if depth > MAX_DEPTH {
            return Err(AvroJsonError::new(at, schema, found_json(j))
                .with(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (schema, ns) = self
            .names
            .deref(schema, ns)
            .map_err(|e| AvroJsonError::new(at, schema, found_json(j)).with(e))?;
        let err = || AvroJsonError::new(at, schema, found_json(j));
        Ok(match schema {
            Schema::Array(a) => {
                let items = j.as_array().ok_or_else(err)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let here = child(at, Seg::Index(i));
                    out.push(self.read(item, &a.items, &ns, Some(&here), depth + 1)?);
                }
                Value::Array(out)
            }
            Schema::Map(m) => {
                let obj = j.as_object().ok_or_else(err)?;
                let mut out = HashMap::with_capacity(obj.len());
                for (k, item) in obj {
                    let here = child(at, Seg::Key(k));
                    out.insert(
                        k.clone(),
                        self.read(item, &m.types, &ns, Some(&here), depth + 1)?,
                    );
                }
                Value::Map(out)
            }
            Schema::Record(r) => {
                let obj = j.as_object().ok_or_else(err)?;
                if !self.defaults {
                    if let Some(k) = obj.keys().find(|k| !r.lookup.contains_key(k.as_str())) {
                        let here = child(at, Seg::Field(k));
                        return Err(AvroJsonError::new(
                            Some(&here),
                            schema,
                            format!("field `{k}`"),
                        )
                        .with("the record has no such field"));
                    }
                }
                let mut out = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    let here = child(at, Seg::Field(&f.name));
                    let v = match (obj.get(&f.name), &f.default) {
                        (Some(fj), _) => self.read(fj, &f.schema, &ns, Some(&here), depth + 1)?,
                        (None, Some(d)) if self.defaults => {
                            self.read(d, &f.schema, &ns, Some(&here), depth + 1)?
                        }
                        (None, _) => {
                            return Err(AvroJsonError::new(Some(&here), &f.schema, "nothing")
                                .with("missing field"))
                        }
                    };
                    out.push((f.name.clone(), v));
                }
                Value::Record(out)
            }
            Schema::Union(u) => {
                let variants = u.variants();
                if self.defaults {
                    // The first branch, then any other that fits (apache-avro accepts those).
                    for (i, b) in variants.iter().enumerate() {
                        if let Ok(v) = self.read(j, b, &ns, at, depth + 1) {
                            return Ok(Value::Union(i as u32, Box::new(v)));
                        }
                    }
                    return Err(err().with("no branch accepts the default"));
                }
                if j.is_null() {
                    return match variants.iter().position(|s| matches!(s, Schema::Null)) {
                        Some(i) => Ok(Value::Union(i as u32, Box::new(Value::Null))),
                        None => Err(err().with("the union has no null branch")),
                    };
                }
                let Some((name, inner)) = j
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.iter().next())
                else {
                    return Err(err().with("a union value is null or {\"<branch>\": value}"));
                };
                for (i, b) in variants.iter().enumerate() {
                    let target = self.names.deref(b, &ns).map(|(s, _)| s);
                    if target.is_ok_and(|t| !matches!(t, Schema::Null) && branch_name(t) == *name) {
                        let v = self.read(inner, b, &ns, at, depth + 1)?;
                        return Ok(Value::Union(i as u32, Box::new(v)));
                    }
                }
                return Err(err().with(format!("the union has no branch `{name}`")));
            }
            _ => self.read_scalar(j, schema, at)?,
        })
    }

    #[inline(never)]
    fn read_scalar(
        &self,
        j: &Json,
        schema: &'s Schema,
        at: Option<&Path<'_>>,
    ) -> Result<Value, AvroJsonError> {
        let err = || AvroJsonError::new(at, schema, found_json(j));
        let int = || -> Result<i32, AvroJsonError> {
            let i = j.as_i64().ok_or_else(err)?;
            i32::try_from(i).map_err(|_| err().with("out of range for int"))
        };
        let long = || j.as_i64().ok_or_else(err);
        let bytes = || -> Result<Vec<u8>, AvroJsonError> {
            let s = j.as_str().ok_or_else(err)?;
            from_latin1(s).ok_or_else(|| err().with("a character above U+00FF"))
        };
        Ok(match schema {
            Schema::Array(_) | Schema::Map(_) | Schema::Record(_) | Schema::Union(_) => {
                return Err(err().with("internal: nesting type in scalar decoding"))
            }
            Schema::Ref { .. } => return Err(err().with("reference to a reference")),
            Schema::Null => match j {
                Json::Null => Value::Null,
                _ => return Err(err()),
            },
            Schema::Boolean => Value::Boolean(j.as_bool().ok_or_else(err)?),
            Schema::Int => Value::Int(int()?),
            Schema::Date => Value::Date(int()?),
            Schema::TimeMillis => Value::TimeMillis(int()?),
            Schema::Long => Value::Long(long()?),
            Schema::TimeMicros => Value::TimeMicros(long()?),
            Schema::TimestampMillis => Value::TimestampMillis(long()?),
            Schema::TimestampMicros => Value::TimestampMicros(long()?),
            Schema::TimestampNanos => Value::TimestampNanos(long()?),
            Schema::LocalTimestampMillis => Value::LocalTimestampMillis(long()?),
            Schema::LocalTimestampMicros => Value::LocalTimestampMicros(long()?),
            Schema::LocalTimestampNanos => Value::LocalTimestampNanos(long()?),
            Schema::Float => Value::Float(json_float(j).ok_or_else(err)? as f32),
            Schema::Double => Value::Double(json_float(j).ok_or_else(err)?),
            Schema::String => Value::String(j.as_str().ok_or_else(err)?.to_owned()),
            Schema::Bytes => Value::Bytes(bytes()?),
            Schema::Uuid => Value::Uuid(
                uuid::Uuid::parse_str(j.as_str().ok_or_else(err)?)
                    .map_err(|_| err().with("not a UUID"))?,
            ),
            Schema::Fixed(f) => {
                let b = bytes()?;
                if b.len() != f.size {
                    return Err(err().with(format!("{} bytes, fixed size is {}", b.len(), f.size)));
                }
                Value::Fixed(f.size, b)
            }
            Schema::Enum(e) => {
                let s = j.as_str().ok_or_else(err)?;
                match e.symbols.iter().position(|x| x == s) {
                    Some(i) => Value::Enum(i as u32, s.to_owned()),
                    None => return Err(err().with(format!("symbols are {}", e.symbols.join(", ")))),
                }
            }
            Schema::Decimal(d) => {
                let b = bytes()?;
                if let Schema::Fixed(f) = d.inner.as_ref() {
                    if b.len() != f.size {
                        return Err(err().with(format!(
                            "{} bytes, fixed size is {}",
                            b.len(),
                            f.size
                        )));
                    }
                }
                Value::Decimal(apache_avro::Decimal::from(b))
            }
            Schema::BigDecimal => {
                Value::BigDecimal(big_decimal_from(&bytes()?).map_err(|e| err().with(e))?)
            }
            Schema::Duration => {
                let b = bytes()?;
                let raw = <[u8; 12]>::try_from(b.as_slice())
                    .map_err(|_| err().with("a duration is 12 bytes"))?;
                Value::Duration(apache_avro::Duration::from(raw))
            }
        })
    }
}
