//! Deimos' coercion rules: a dynamic [`Payload`] becomes an Avro [`Value`] that fits a schema.
//!
//! Ruby Deimos runs every hash it publishes through `AvroSchemaCoercer`, so `"5"` fills an
//! `int` field, `5` fills a `string` field and a stray key is dropped. [`coerce`] and
//! [`coerce_payload`] apply the same rules, extended to Avro's logical types, and produce the
//! value's *resolved* form: each field in schema order, unions as `Value::Union(branch, ..)`,
//! enums as `Value::Enum(index, symbol)`, logical types as their own variants
//! (`Value::Date`, `Value::TimestampMillis`, `Value::Decimal`, `Value::Uuid`, …) — exactly what
//! [`Codec`](super::Codec) would produce, so the result encodes with any backend.
//!
//! # Rules
//!
//! Source: **D** = Deimos' `AvroSchemaCoercer` (kept on purpose), **A** = the Avro
//! specification, **R** = added here (Deimos passes these values through untouched and lets the
//! Avro gem fail).
//!
//! | schema | accepts | result |
//! |---|---|---|
//! | `int`, `long` | `Int` (range-checked for `int`); a string of an optional sign and ASCII digits (D; Ruby's `Integer()` also reads `0x1A`, `0b1`, `1_000` and leading-zero octal — not here); a `DateTime` as whole seconds since the epoch, floored (D: `Time#to_i`) | `Value::Int` / `Value::Long` |
//! | `float`, `double` | `Int`, `Float`, a decimal string such as `"1.5"`, `"-2e3"` (D; `"NaN"`/`"inf"` strings are refused, as Ruby's `Float()` refuses them). A finite value too large for `float` is an error | `Value::Float` / `Value::Double` |
//! | `string` | `String`; `Int` (`"5"`), `Float` (Rust's shortest round-trip form, `"1.0"`, `"NaN"`), `Bool` (`"true"`), `Date` (`2024-01-31`), `Time` (`12:34:56.789`), `DateTime` (RFC 3339), `NaiveDateTime` (`2024-01-31T12:34:56`), `Uuid` (hyphenated, lowercase) (D: anything with its own `to_s`); not `Null`, `Bytes`, `Array`, `Map` | `Value::String` |
//! | `boolean` | anything: `Null` and `Bool(false)` are `false`, everything else — including `"false"`, `0` and `""` — is `true`. This is Ruby truthiness, exactly what Deimos does (D); a union with `null` still keeps `Null` as null | `Value::Boolean` |
//! | `null` | `Null` only | `Value::Null` |
//! | union | `Null` → the `null` branch when there is one; otherwise the first branch of the value's own type (`String` → `string` or an enum with that symbol, `Int` → `int`/`long`, `Float` → `float`/`double`, `Bytes` → `bytes`/same-size `fixed`, `Map` → `map`/record, chrono values → their logical types, `Uuid` → `uuid`, `Array` → `array`) that accepts it; then the first branch in schema order that accepts it (D picks the first non-null branch; exact matches first is R) | `Value::Union(index, value)` |
//! | `enum` | a `String` that is one of the symbols. An unknown symbol is an error listing the symbols **even when the enum has a `default`**: Avro uses the default only when a *reader* meets a symbol it lacks (A, "Schema Resolution"); a producer sending one has a bug | `Value::Enum(index, symbol)` |
//! | record | `Map`: each schema field from the key of the same name; keys the schema lacks are dropped (D); a missing field takes its default (A), converted from the schema's JSON (a union default is for the first branch, else the first that fits); missing without a default is an error | `Value::Record` in schema order |
//! | `array` | `Array`, element by element | `Value::Array` |
//! | `map` | `Map`, value by value | `Value::Map` |
//! | `bytes` | `Bytes`; a `String` as its UTF-8 bytes (R) | `Value::Bytes` |
//! | `fixed` | `Bytes` of exactly the fixed size | `Value::Fixed` |
//! | `date` | `Date`; an ISO-8601 `YYYY-MM-DD` string; an `Int` as days since 1970-01-01, as is | `Value::Date` |
//! | `time-millis`, `time-micros` | `Time` (sub-unit digits dropped); `HH:MM`, `HH:MM:SS[.fff…]` strings; an `Int` as is | `Value::TimeMillis` / `Value::TimeMicros` |
//! | `timestamp-millis`, `-micros`, `-nanos` | `DateTime` (the instant); `NaiveDateTime` read as UTC; an RFC 3339 string, or `YYYY-MM-DD[T ]HH:MM:SS[.f…]` without offset read as UTC; an `Int` as is. Sub-unit digits are dropped (floored) | `Value::Timestamp*` |
//! | `local-timestamp-millis`, `-micros`, `-nanos` | `NaiveDateTime`; `DateTime` by its wall clock in its own offset; the same strings (an offset is ignored: the wall clock as written); an `Int` as is | `Value::LocalTimestamp*` |
//! | `decimal(p, s)` | `Int`, finite `Float` (by its shortest decimal form, so `0.1` is `0.1`), a decimal string (`"12.34"`, `"-1e-2"`; at most 10,000 digits once scaled), scaled to `s`. More fractional digits than `s` (other than trailing zeros) is an error rather than silent rounding (as Java Avro's `DecimalConversion`); more than `p` digits is an error; a `fixed` decimal must fit its size | `Value::Decimal` (two's complement, big-endian; sign-extended to the fixed size, or for `bytes` to the fewest bytes that hold any `p`-digit number — apache-avro's resolver refuses shorter ones) |
//! | `big-decimal` | `Int`, finite `Float`, a decimal string | `Value::BigDecimal` |
//! | `uuid` | `Uuid`; a string `Uuid::parse_str` reads (hyphenated, simple, braced, URN) | `Value::Uuid` |
//! | `duration` | `Bytes` of length 12 (months, days, milliseconds; little-endian `u32`s, A) | `Value::Duration` |
//!
//! When a value fails inside the one union branch of its own type, the error is that branch's,
//! naming the branch when the union has several: `shipping.qty: expected int, found string "x"
//! (via union branch com.example.LineItem)`. With no such branch, the error is the union's:
//! `expected union [null, int, string], found array of 1 (no branch accepts it)`.
//!
//! Values nested deeper than 128 levels are refused (an error, never a stack overflow);
//! recursive schemas are walked only as deep as the value goes.

use std::collections::HashMap;
use std::str::FromStr;

use apache_avro::schema::{Namespace, RecordSchema, UnionSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use num_bigint::{BigInt, Sign};

use super::path::{self, child, Path, Seg};
use super::walk::{type_name, Names, MAX_DEPTH};
use crate::payload::{Payload, PayloadValue};

/// A value that does not fit its schema, with where and why.
///
/// Displays as `<path>: expected <Avro type>, found <value>` plus a parenthesised detail when
/// there is one, e.g. `items[1].qty: expected int, found string "x"`, or
/// `color: expected enum com.example.Color, found string "PINK" (symbols are RED, GREEN, BLUE)`.
/// The path is `<root>` for the top-level value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: expected {expected}, found {found}{}", path::display(.path), path::detail(.detail))]
pub struct CoercionError {
    path: String,
    expected: String,
    found: String,
    detail: Option<String>,
}

impl CoercionError {
    pub(crate) fn new(
        at: Option<&Path<'_>>,
        schema: &Schema,
        found: impl std::fmt::Display,
    ) -> Self {
        CoercionError {
            path: path::render(at),
            expected: type_name(schema),
            found: found.to_string(),
            detail: None,
        }
    }

    pub(crate) fn with(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Where: record fields joined by `.`, array indexes as `[i]`, map keys as `["k"]`, e.g.
    /// `order.items[2].price` or `attrs["color"]`; empty for the top-level value.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The Avro type wanted there, e.g. `int`, `record com.example.Widget`,
    /// `union [null, string]`, `decimal(10, 2)`.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What was there, e.g. `string "x"`, `int 5`, `null`, `array of 3`, or `nothing` for a
    /// missing field.
    pub fn found(&self) -> &str {
        &self.found
    }

    /// Why it did not fit, when more than the types is needed: `out of range for int`, the
    /// enum's symbols, `missing field without a default`, a precision overflow, ….
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

/// Coerces one value to `schema` by the rules in the [module docs](self).
///
/// # Errors
/// [`CoercionError`] naming the first place (depth-first, in schema field order) where the
/// value does not fit, or the root when `schema` has a reference that does not resolve.
pub fn coerce(value: &PayloadValue, schema: &Schema) -> Result<Value, CoercionError> {
    coerce_with(value, schema, false)
}

/// [`coerce`], strictly (Deimos' `validate`: Avro's `SchemaValidator.validate!` with
/// `recursive: true, fail_on_extra_fields: true`): a map given for a record may not carry
/// keys the record lacks, at any depth, instead of dropping them (D).
///
/// # Errors
/// As [`coerce`], and a [`CoercionError`] at the extra key's path (`items[0].colour:
/// expected no such field, found string "red" (not a field of record com.example.Item)`).
pub fn validate(value: &PayloadValue, schema: &Schema) -> Result<Value, CoercionError> {
    coerce_with(value, schema, true)
}

fn coerce_with(
    value: &PayloadValue,
    schema: &Schema,
    strict: bool,
) -> Result<Value, CoercionError> {
    let names = Names::of(schema)
        .map_err(|e| CoercionError::new(None, schema, value).with(format!("bad schema: {e}")))?;
    Coercer {
        names: &names,
        strict,
    }
    .coerce(value, schema, &schema.namespace(), None, 0)
}

/// Coerces a payload to a record schema: [`coerce`] of `PayloadValue::Map(payload)`.
///
/// # Errors
/// As [`coerce`]; a schema that is not a record is an error at the root.
pub fn coerce_payload(payload: &Payload, schema: &Schema) -> Result<Value, CoercionError> {
    // One clone of the top map keeps `coerce` the single entry point.
    coerce(&PayloadValue::Map(payload.clone()), schema)
}

struct Coercer<'n, 's> {
    names: &'n Names<'s>,
    /// Extra keys in a record's map are errors, not dropped ([`validate`]).
    strict: bool,
}

impl<'s> Coercer<'_, 's> {
    fn coerce(
        &self,
        v: &PayloadValue,
        schema: &'s Schema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Value, CoercionError> {
        if depth > MAX_DEPTH {
            return Err(CoercionError::new(at, schema, v)
                .with(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (schema, ns) = self
            .names
            .deref(schema, ns)
            .map_err(|e| CoercionError::new(at, schema, v).with(e))?;
        let err = || CoercionError::new(at, schema, v);
        use PayloadValue as P;
        // Only the nesting types recurse; scalars are in a separate function so that the
        // recursion's stack frames stay small (debug builds give every arm its own slots).
        Ok(match schema {
            Schema::Array(a) => match v {
                P::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let at = child(at, Seg::Index(i));
                        out.push(self.coerce(item, &a.items, &ns, Some(&at), depth + 1)?);
                    }
                    Value::Array(out)
                }
                _ => return Err(err()),
            },
            Schema::Map(m) => match v {
                P::Map(p) => {
                    let mut out = HashMap::with_capacity(p.len());
                    for (k, item) in p {
                        let at = child(at, Seg::Key(k));
                        out.insert(
                            k.clone(),
                            self.coerce(item, &m.types, &ns, Some(&at), depth + 1)?,
                        );
                    }
                    Value::Map(out)
                }
                _ => return Err(err()),
            },
            Schema::Record(r) => match v {
                P::Map(p) => self.record(p, r, &ns, at, depth)?,
                _ => return Err(err()),
            },
            Schema::Union(u) => self.union(v, u, &ns, at, depth)?,
            _ => self.scalar(v, schema, at)?,
        })
    }

    #[inline(never)]
    fn scalar(
        &self,
        v: &PayloadValue,
        schema: &'s Schema,
        at: Option<&Path<'_>>,
    ) -> Result<Value, CoercionError> {
        let err = || CoercionError::new(at, schema, v);
        use PayloadValue as P;
        Ok(match schema {
            Schema::Array(_) | Schema::Map(_) | Schema::Record(_) | Schema::Union(_) => {
                return Err(err().with("internal: nesting type in scalar coercion"))
            }
            Schema::Ref { .. } => return Err(err().with("reference to a reference")),
            Schema::Null => match v {
                P::Null => Value::Null,
                _ => return Err(err()),
            },
            Schema::Boolean => Value::Boolean(!matches!(v, P::Null | P::Bool(false))),
            Schema::Int => {
                let i = integer(v).ok_or_else(err)?.map_err(|d| err().with(d))?;
                Value::Int(i32::try_from(i).map_err(|_| err().with("out of range for int"))?)
            }
            Schema::Long => Value::Long(integer(v).ok_or_else(err)?.map_err(|d| err().with(d))?),
            Schema::Double => Value::Double(float(v).ok_or_else(err)?),
            Schema::Float => {
                let x = float(v).ok_or_else(err)?;
                let f = x as f32;
                if x.is_finite() && !f.is_finite() {
                    return Err(err().with("out of range for float"));
                }
                Value::Float(f)
            }
            Schema::String => Value::String(string_form(v).ok_or_else(err)?),
            Schema::Bytes => match v {
                P::Bytes(b) => Value::Bytes(b.clone()),
                P::String(s) => Value::Bytes(s.as_bytes().to_vec()),
                _ => return Err(err()),
            },
            Schema::Fixed(f) => match v {
                P::Bytes(b) if b.len() == f.size => Value::Fixed(f.size, b.clone()),
                P::Bytes(b) => {
                    return Err(err().with(format!("{} bytes, fixed size is {}", b.len(), f.size)))
                }
                _ => return Err(err()),
            },
            Schema::Enum(e) => match v {
                P::String(s) => match e.symbols.iter().position(|x| x == s) {
                    Some(i) => Value::Enum(i as u32, s.clone()),
                    None => return Err(err().with(format!("symbols are {}", e.symbols.join(", ")))),
                },
                _ => return Err(err()),
            },
            Schema::Decimal(d) => {
                let text = decimal_text(v).ok_or_else(err)?;
                let unscaled =
                    scale_decimal(&text, d.scale, d.precision).map_err(|e| err().with(e))?;
                let bytes = unscaled.to_signed_bytes_be();
                // apache-avro's resolver wants at least as many bytes as the precision needs.
                let size = match d.inner.as_ref() {
                    Schema::Fixed(f) => f.size,
                    _ => bytes.len().max(bytes_for_precision(d.precision)),
                };
                let bytes = sign_extend(&bytes, size)
                    .ok_or_else(|| err().with(format!("does not fit fixed size {size}")))?;
                Value::Decimal(apache_avro::Decimal::from(bytes))
            }
            Schema::BigDecimal => {
                let text = decimal_text(v).ok_or_else(err)?;
                Value::BigDecimal(
                    apache_avro::BigDecimal::from_str(&text)
                        .map_err(|e| err().with(e.to_string()))?,
                )
            }
            Schema::Uuid => match v {
                P::Uuid(u) => Value::Uuid(*u),
                P::String(s) => {
                    Value::Uuid(uuid::Uuid::parse_str(s).map_err(|_| err().with("not a UUID"))?)
                }
                _ => return Err(err()),
            },
            Schema::Date => Value::Date(match v {
                P::Date(d) => days(*d),
                P::String(s) => {
                    days(NaiveDate::from_str(s).map_err(|_| err().with("not an ISO-8601 date"))?)
                }
                P::Int(i) => i32::try_from(*i).map_err(|_| err().with("out of range for int"))?,
                _ => return Err(err()),
            }),
            Schema::TimeMillis => Value::TimeMillis(match v {
                P::Int(i) => i32::try_from(*i).map_err(|_| err().with("out of range for int"))?,
                _ => {
                    let t = time(v).ok_or_else(err)?.map_err(|d| err().with(d))?;
                    (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32
                }
            }),
            Schema::TimeMicros => Value::TimeMicros(match v {
                P::Int(i) => *i,
                _ => {
                    let t = time(v).ok_or_else(err)?.map_err(|d| err().with(d))?;
                    i64::from(t.num_seconds_from_midnight()) * 1_000_000
                        + i64::from(t.nanosecond() / 1000)
                }
            }),
            Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.timestamp(v, schema).map_err(|d| match d {
                Some(d) => err().with(d),
                None => err(),
            })?,
            Schema::Duration => match v {
                P::Bytes(b) => match <[u8; 12]>::try_from(b.as_slice()) {
                    Ok(raw) => Value::Duration(apache_avro::Duration::from(raw)),
                    Err(_) => return Err(err().with("a duration is 12 bytes")),
                },
                _ => return Err(err()),
            },
        })
    }

    fn record(
        &self,
        p: &Payload,
        r: &'s RecordSchema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Value, CoercionError> {
        if self.strict {
            // The first in the payload's (insertion) order.
            if let Some((extra, value)) = p.iter().find(|(k, _)| !r.lookup.contains_key(*k)) {
                return Err(CoercionError {
                    path: path::render(Some(&child(at, Seg::Field(extra)))),
                    expected: "no such field".into(),
                    found: value.to_string(),
                    detail: Some(format!("not a field of record {}", r.name.fullname(None))),
                });
            }
        }
        let mut out = Vec::with_capacity(r.fields.len());
        for f in &r.fields {
            let here = child(at, Seg::Field(&f.name));
            let value = match p.get(&f.name) {
                Some(fv) => self.coerce(fv, &f.schema, ns, Some(&here), depth + 1)?,
                None => match &f.default {
                    Some(json) => super::avro_json::from_default(json, &f.schema, self.names, ns)
                        .map_err(|e| {
                        CoercionError::new(Some(&here), &f.schema, "nothing")
                            .with(format!("the schema's default does not fit: {e}"))
                    })?,
                    None => {
                        return Err(CoercionError::new(Some(&here), &f.schema, "nothing")
                            .with("missing field without a default"))
                    }
                },
            };
            out.push((f.name.clone(), value));
        }
        Ok(Value::Record(out))
    }

    fn union(
        &self,
        v: &PayloadValue,
        u: &'s UnionSchema,
        ns: &Namespace,
        at: Option<&Path<'_>>,
        depth: usize,
    ) -> Result<Value, CoercionError> {
        let variants = u.variants();
        if v.is_null() {
            if let Some(i) = variants.iter().position(|s| matches!(s, Schema::Null)) {
                return Ok(Value::Union(i as u32, Box::new(Value::Null)));
            }
        }
        let non_null: Vec<usize> = (0..variants.len())
            .filter(|&i| !matches!(variants[i], Schema::Null))
            .collect();
        let mut exact_errors = Vec::new();
        let mut tried = Vec::new();
        for &i in &non_null {
            let target = self.names.deref(&variants[i], ns).map(|(s, _)| s);
            if target.is_ok_and(|s| is_exact(v, s)) {
                tried.push(i);
                match self.coerce(v, &variants[i], ns, at, depth + 1) {
                    Ok(x) => return Ok(Value::Union(i as u32, Box::new(x))),
                    Err(e) => exact_errors.push((i, e)),
                }
            }
        }
        let mut errors = Vec::new();
        for &i in &non_null {
            if tried.contains(&i) {
                continue;
            }
            match self.coerce(v, &variants[i], ns, at, depth + 1) {
                Ok(x) => return Ok(Value::Union(i as u32, Box::new(x))),
                Err(e) => errors.push(e),
            }
        }
        // The most useful error: the only candidate's own (it names the deepest field).
        if exact_errors.len() == 1 {
            let (i, mut e) = exact_errors.remove(0);
            // With several non-null branches, say which one the value was taken for.
            if non_null.len() > 1 {
                let branch = match self.names.deref(&variants[i], ns) {
                    Ok((s, _)) => super::walk::branch_name(s),
                    Err(_) => type_name(&variants[i]),
                };
                let via = format!("via union branch {branch}");
                e.detail = Some(match e.detail.take() {
                    Some(d) => format!("{d}; {via}"),
                    None => via,
                });
            }
            return Err(e);
        }
        if non_null.len() == 1 && errors.len() == 1 {
            return Err(errors.remove(0));
        }
        let union_schema = Schema::Union(u.clone());
        Err(CoercionError::new(at, &union_schema, v).with("no branch accepts it"))
    }

    fn timestamp(&self, v: &PayloadValue, schema: &Schema) -> Result<Value, Option<String>> {
        use PayloadValue as P;
        let local = matches!(
            schema,
            Schema::LocalTimestampMillis
                | Schema::LocalTimestampMicros
                | Schema::LocalTimestampNanos
        );
        // Instants as UTC; local timestamps as their wall clock, read as if UTC (Avro spec).
        let wall: NaiveDateTime = match v {
            P::Int(i) => {
                return Ok(match schema {
                    Schema::TimestampMillis => Value::TimestampMillis(*i),
                    Schema::TimestampMicros => Value::TimestampMicros(*i),
                    Schema::TimestampNanos => Value::TimestampNanos(*i),
                    Schema::LocalTimestampMillis => Value::LocalTimestampMillis(*i),
                    Schema::LocalTimestampMicros => Value::LocalTimestampMicros(*i),
                    _ => Value::LocalTimestampNanos(*i),
                })
            }
            P::DateTime(dt) if local => dt.naive_local(),
            P::DateTime(dt) => dt.naive_utc(),
            P::NaiveDateTime(dt) => *dt,
            P::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(dt) if local => dt.naive_local(),
                Ok(dt) => dt.naive_utc(),
                Err(_) => parse_naive_datetime(s)
                    .ok_or_else(|| Some("not an ISO-8601 date-time".to_owned()))?,
            },
            _ => return Err(None),
        };
        let utc = Utc.from_utc_datetime(&wall);
        let nanos = || {
            utc.timestamp_nanos_opt()
                .ok_or_else(|| Some("out of range for timestamp-nanos".to_owned()))
        };
        Ok(match schema {
            Schema::TimestampMillis => Value::TimestampMillis(utc.timestamp_millis()),
            Schema::TimestampMicros => Value::TimestampMicros(utc.timestamp_micros()),
            Schema::TimestampNanos => Value::TimestampNanos(nanos()?),
            Schema::LocalTimestampMillis => Value::LocalTimestampMillis(utc.timestamp_millis()),
            Schema::LocalTimestampMicros => Value::LocalTimestampMicros(utc.timestamp_micros()),
            _ => Value::LocalTimestampNanos(nanos()?),
        })
    }
}

/// Whether `v` is of the schema's own kind (preferred among union branches).
fn is_exact(v: &PayloadValue, s: &Schema) -> bool {
    use PayloadValue as P;
    match (v, s) {
        (P::Bool(_), Schema::Boolean) => true,
        (P::Int(i), Schema::Int) => i32::try_from(*i).is_ok(),
        (P::Int(_), Schema::Long) => true,
        (P::Float(_), Schema::Float | Schema::Double) => true,
        (P::String(_), Schema::String) => true,
        (P::String(x), Schema::Enum(e)) => e.symbols.contains(x),
        (P::Bytes(_), Schema::Bytes) => true,
        (P::Bytes(b), Schema::Fixed(f)) => b.len() == f.size,
        (P::Date(_), Schema::Date) => true,
        (P::Time(_), Schema::TimeMillis | Schema::TimeMicros) => true,
        (
            P::DateTime(_),
            Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos,
        ) => true,
        (
            P::NaiveDateTime(_),
            Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos,
        ) => true,
        (P::Uuid(_), Schema::Uuid) => true,
        (P::Array(_), Schema::Array(_)) => true,
        (P::Map(_), Schema::Map(_) | Schema::Record(_)) => true,
        _ => false,
    }
}

/// `Some(Ok(i))` for an integer, an integer string or a `DateTime` (seconds); `Some(Err)` for
/// an integer string out of `i64` range; `None` for anything else.
fn integer(v: &PayloadValue) -> Option<Result<i64, &'static str>> {
    match v {
        PayloadValue::Int(i) => Some(Ok(*i)),
        PayloadValue::String(s) if is_integer_string(s) => {
            Some(s.parse::<i64>().map_err(|_| "out of range for long"))
        }
        PayloadValue::DateTime(dt) => Some(Ok(dt.timestamp())),
        _ => None,
    }
}

fn is_integer_string(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal numeral: optional sign, digits with an optional fraction (at least one digit),
/// optional exponent. No `NaN`, `inf`, hex or underscores.
fn is_decimal_string(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(is_integer_string);
    digits_ok(int) && digits_ok(frac) && !(int.is_empty() && frac.is_empty()) && exp_ok
}

fn float(v: &PayloadValue) -> Option<f64> {
    match v {
        PayloadValue::Int(i) => Some(*i as f64),
        PayloadValue::Float(x) => Some(*x),
        PayloadValue::String(s) if is_decimal_string(s) => s.parse().ok(),
        _ => None,
    }
}

fn string_form(v: &PayloadValue) -> Option<String> {
    use PayloadValue as P;
    Some(match v {
        P::String(s) => s.clone(),
        P::Int(i) => i.to_string(),
        P::Float(x) => format!("{x:?}"),
        P::Bool(b) => b.to_string(),
        P::Date(d) => d.to_string(),
        P::Time(t) => t.to_string(),
        P::DateTime(t) => t.to_rfc3339(),
        P::NaiveDateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        P::Uuid(u) => u.hyphenated().to_string(),
        P::Null | P::Bytes(_) | P::Array(_) | P::Map(_) => return None,
    })
}

fn decimal_text(v: &PayloadValue) -> Option<String> {
    match v {
        PayloadValue::Int(i) => Some(i.to_string()),
        // `Display` for f64 is the shortest round-trip form, without an exponent.
        PayloadValue::Float(x) if x.is_finite() => Some(x.to_string()),
        PayloadValue::String(s) if is_decimal_string(s) => Some(s.clone()),
        _ => None,
    }
}

/// The most digits a coerced decimal may have, whatever the schema's precision says.
const MAX_DECIMAL_DIGITS: i64 = 10_000;

/// The unscaled integer of the decimal numeral `text` at `scale`, checked against `precision`.
fn scale_decimal(text: &str, scale: usize, precision: usize) -> Result<BigInt, String> {
    let (negative, s) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (
            &s[..i],
            s[i + 1..]
                .parse::<i64>()
                .map_err(|_| "exponent out of range".to_owned())?,
        ),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{int}{frac}");
    // value = digits × 10^(exp − |frac|); unscaled = value × 10^scale
    let shift = exp
        .checked_sub(frac.len() as i64)
        .and_then(|x| x.checked_add(scale as i64))
        .ok_or_else(|| "exponent out of range".to_owned())?;
    let significant = digits.trim_start_matches('0').len();
    // Precision is checked below; this bound keeps a hostile exponent from allocating.
    if significant > 0 && significant as i64 + shift.max(0) > MAX_DECIMAL_DIGITS {
        return Err(format!("more than {MAX_DECIMAL_DIGITS} digits"));
    }
    if shift >= 0 {
        if significant > 0 && significant as i64 + shift > precision as i64 {
            return Err(format!(
                "needs {} digits, precision is {precision}",
                significant as i64 + shift
            ));
        }
        if significant > 0 {
            digits.extend(std::iter::repeat_n('0', shift as usize));
        }
    } else {
        let cut = shift.unsigned_abs().min(digits.len() as u64) as usize;
        let (keep, dropped) = digits.split_at(digits.len() - cut);
        if dropped.bytes().any(|b| b != b'0') {
            return Err(format!(
                "more than {scale} fractional digits; it cannot be stored without rounding"
            ));
        }
        digits = keep.to_owned();
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > precision {
        return Err(format!(
            "needs {} digits, precision is {precision}",
            digits.len()
        ));
    }
    if digits.is_empty() {
        return Ok(BigInt::from(0));
    }
    let magnitude = BigInt::parse_bytes(digits.as_bytes(), 10)
        .ok_or_else(|| "not a decimal number".to_owned())?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Sign-extends big-endian two's complement `bytes` to `size`, or drops redundant sign bytes;
/// `None` when the number needs more than `size` bytes.
pub(crate) fn sign_extend(bytes: &[u8], size: usize) -> Option<Vec<u8>> {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xFF } else { 0x00 };
    if bytes.len() <= size {
        let mut out = vec![fill; size - bytes.len()];
        out.extend_from_slice(bytes);
        return Some(out);
    }
    let extra = bytes.len() - size;
    let (head, tail) = bytes.split_at(extra);
    let tail_negative = tail.first().is_some_and(|b| b & 0x80 != 0);
    (head.iter().all(|&b| b == fill) && tail_negative == negative).then(|| tail.to_vec())
}

/// The fewest bytes whose two's complement holds every `precision`-digit number, by
/// apache-avro's formula (`floor(log10(2^(8n-1) - 1)) >= precision`).
fn bytes_for_precision(precision: usize) -> usize {
    (1..=precision.max(1))
        .find(|&n| {
            let bits = i32::try_from(8 * n - 1).unwrap_or(i32::MAX);
            (2.0_f64.powi(bits) - 1.0).log10().floor() >= precision as f64
        })
        .unwrap_or(precision.max(1))
}

fn days(d: NaiveDate) -> i32 {
    // chrono's range (±262,143 years) is ±96 million days: always an i32.
    (d - NaiveDate::default()).num_days() as i32
}

fn time(v: &PayloadValue) -> Option<Result<NaiveTime, &'static str>> {
    match v {
        PayloadValue::Time(t) => Some(Ok(*t)),
        PayloadValue::String(s) => Some(
            NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                .map_err(|_| "not an ISO-8601 time"),
        ),
        _ => None,
    }
}

fn parse_naive_datetime(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// The decode side: an Avro value as a [`PayloadValue`], without the schema.
///
/// `Null`, `Boolean`, `String`, `Array` map one to one; `Int`/`Long` → `Int`; `Float`/`Double`
/// → `Float`; `Bytes`/`Fixed` → `Bytes`; `Enum` → its symbol as `String`; `Union` → the value
/// inside; `Record` → `Map` in field order; `Map` → `Map` (keys sorted, since Avro maps have no
/// order); `Date` → `Date`; `TimeMillis`/`TimeMicros` → `Time`; `Timestamp*` → `DateTime` in
/// UTC; `LocalTimestamp*` → `NaiveDateTime`; `Uuid` → `Uuid`; `BigDecimal` → its decimal
/// `String`; `Duration` → its 12 bytes. A date or time outside chrono's range stays an `Int`.
///
/// `Decimal` → `Bytes` of the unscaled two's-complement integer, because a `Value::Decimal`
/// does not carry its scale; use [`to_payload_with_schema`] to get `"12.34"`.
pub fn to_payload(value: &Value) -> PayloadValue {
    use PayloadValue as P;
    match value {
        Value::Null => P::Null,
        Value::Boolean(b) => P::Bool(*b),
        Value::Int(i) => P::Int(i64::from(*i)),
        Value::Long(i) => P::Int(*i),
        Value::Float(x) => P::Float(f64::from(*x)),
        Value::Double(x) => P::Float(*x),
        Value::Bytes(b) | Value::Fixed(_, b) => P::Bytes(b.clone()),
        Value::String(s) => P::String(s.clone()),
        Value::Enum(_, s) => P::String(s.clone()),
        Value::Union(_, v) => to_payload(v),
        Value::Array(items) => P::Array(items.iter().map(to_payload).collect()),
        Value::Map(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            P::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_payload(v)))
                    .collect(),
            )
        }
        Value::Record(fields) => P::Map(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_payload(v)))
                .collect(),
        ),
        Value::Date(d) => NaiveDate::default()
            .checked_add_signed(chrono::TimeDelta::days(i64::from(*d)))
            .map_or(P::Int(i64::from(*d)), P::Date),
        Value::TimeMillis(ms) => time_of(i64::from(*ms) * 1_000_000, i64::from(*ms)),
        Value::TimeMicros(us) => time_of(us.saturating_mul(1000), *us),
        Value::TimestampMillis(ms) => DateTime::from_timestamp_millis(*ms)
            .map_or(P::Int(*ms), |t| P::DateTime(t.fixed_offset())),
        Value::TimestampMicros(us) => DateTime::from_timestamp_micros(*us)
            .map_or(P::Int(*us), |t| P::DateTime(t.fixed_offset())),
        Value::TimestampNanos(ns) => {
            P::DateTime(DateTime::from_timestamp_nanos(*ns).fixed_offset())
        }
        Value::LocalTimestampMillis(ms) => DateTime::from_timestamp_millis(*ms)
            .map_or(P::Int(*ms), |t| P::NaiveDateTime(t.naive_utc())),
        Value::LocalTimestampMicros(us) => DateTime::from_timestamp_micros(*us)
            .map_or(P::Int(*us), |t| P::NaiveDateTime(t.naive_utc())),
        Value::LocalTimestampNanos(ns) => {
            P::NaiveDateTime(DateTime::from_timestamp_nanos(*ns).naive_utc())
        }
        Value::Decimal(d) => P::Bytes(Vec::<u8>::try_from(d).unwrap_or_default()),
        Value::BigDecimal(d) => P::String(d.to_string()),
        Value::Duration(d) => P::Bytes(<[u8; 12]>::from(*d).to_vec()),
        Value::Uuid(u) => P::Uuid(*u),
    }
}

fn time_of(nanos: i64, raw: i64) -> PayloadValue {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    u32::try_from(secs)
        .ok()
        .and_then(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, sub as u32))
        .map_or(PayloadValue::Int(raw), PayloadValue::Time)
}

/// As [`to_payload`], with the schema for what the value alone does not say: decimals become
/// their decimal `String` at the schema's scale (`"12.34"`, `"-0.05"`), which [`coerce`] reads
/// back to the same `Value::Decimal`.
///
/// # Errors
/// [`CoercionError`] when `value` does not have the schema's shape where a decimal is expected.
pub fn to_payload_with_schema(
    value: &Value,
    schema: &Schema,
) -> Result<PayloadValue, CoercionError> {
    let names = Names::of(schema).map_err(|e| {
        CoercionError::new(None, schema, "a value").with(format!("bad schema: {e}"))
    })?;
    with_schema(value, schema, &schema.namespace(), &names, None, 0)
}

/// [`to_payload_with_schema`] for many values of one schema, its names resolved once.
///
/// # Errors
/// As [`to_payload_with_schema`]; the first value that fails.
pub fn to_payloads_with_schema<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    schema: &Schema,
) -> Result<Vec<PayloadValue>, CoercionError> {
    let names = Names::of(schema).map_err(|e| {
        CoercionError::new(None, schema, "a value").with(format!("bad schema: {e}"))
    })?;
    let ns = schema.namespace();
    values
        .into_iter()
        .map(|value| with_schema(value, schema, &ns, &names, None, 0))
        .collect()
}

fn with_schema<'s>(
    value: &Value,
    schema: &'s Schema,
    ns: &Namespace,
    names: &Names<'s>,
    at: Option<&Path<'_>>,
    depth: usize,
) -> Result<PayloadValue, CoercionError> {
    let found = || format!("{:?}", std::mem::discriminant(value));
    if depth > MAX_DEPTH {
        return Err(CoercionError::new(at, schema, "a value")
            .with(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let (schema, ns) = names
        .deref(schema, ns)
        .map_err(|e| CoercionError::new(at, schema, found()).with(e))?;
    Ok(match (value, schema) {
        (Value::Decimal(d), Schema::Decimal(ds)) => {
            let bytes = Vec::<u8>::try_from(d)
                .map_err(|e| CoercionError::new(at, schema, "a decimal").with(e.to_string()))?;
            PayloadValue::String(decimal_string(
                &BigInt::from_signed_bytes_be(&bytes),
                ds.scale,
            ))
        }
        (Value::Union(i, v), Schema::Union(u)) => match u.variants().get(*i as usize) {
            Some(s) => with_schema(v, s, &ns, names, at, depth + 1)?,
            None => to_payload(v),
        },
        (Value::Record(fields), Schema::Record(r)) => {
            let mut out = Payload::new();
            for (k, v) in fields {
                let here = child(at, Seg::Field(k));
                let p = match r.lookup.get(k) {
                    Some(&i) => {
                        with_schema(v, &r.fields[i].schema, &ns, names, Some(&here), depth + 1)?
                    }
                    None => to_payload(v),
                };
                out.insert(k.clone(), p);
            }
            PayloadValue::Map(out)
        }
        (Value::Array(items), Schema::Array(a)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let here = child(at, Seg::Index(i));
                out.push(with_schema(
                    v,
                    &a.items,
                    &ns,
                    names,
                    Some(&here),
                    depth + 1,
                )?);
            }
            PayloadValue::Array(out)
        }
        (Value::Map(m), Schema::Map(ms)) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Payload::new();
            for (k, v) in entries {
                let here = child(at, Seg::Key(k));
                out.insert(
                    k.clone(),
                    with_schema(v, &ms.types, &ns, names, Some(&here), depth + 1)?,
                );
            }
            PayloadValue::Map(out)
        }
        (v, _) => to_payload(v),
    })
}

/// `unscaled × 10^-scale` as a decimal numeral.
fn decimal_string(unscaled: &BigInt, scale: usize) -> String {
    let digits = unscaled.magnitude().to_string();
    let sign = if unscaled.sign() == Sign::Minus {
        "-"
    } else {
        ""
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_scaling() {
        assert_eq!(scale_decimal("12.3", 2, 10).unwrap(), BigInt::from(1230));
        assert_eq!(scale_decimal("-1e-2", 2, 10).unwrap(), BigInt::from(-1));
        assert_eq!(scale_decimal("1.230", 2, 10).unwrap(), BigInt::from(123));
        assert_eq!(scale_decimal("0", 2, 1).unwrap(), BigInt::from(0));
        assert!(scale_decimal("1.234", 2, 10).is_err());
        assert!(scale_decimal("123456789", 2, 10).is_err());
        assert!(scale_decimal("1e999999999999", 2, 10).is_err());
        assert_eq!(
            scale_decimal("1e999999", 0, usize::MAX).unwrap_err(),
            "more than 10000 digits"
        );
        assert!(scale_decimal("1e-99999999999", 2, 10).is_err());
        assert_eq!(decimal_string(&BigInt::from(-5), 2), "-0.05");
        assert_eq!(decimal_string(&BigInt::from(1234), 2), "12.34");
        assert_eq!(decimal_string(&BigInt::from(7), 0), "7");
    }

    #[test]
    fn precision_lengths_match_apache_avro() {
        // 2 bytes hold 4 digits (32767), 4 bytes 9 digits, 5 bytes 11 digits.
        assert_eq!(bytes_for_precision(1), 1);
        assert_eq!(bytes_for_precision(4), 2);
        assert_eq!(bytes_for_precision(5), 3);
        assert_eq!(bytes_for_precision(9), 4);
        assert_eq!(bytes_for_precision(10), 5);
        assert_eq!(bytes_for_precision(38), 16);
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(&[0xFF], 3), Some(vec![0xFF, 0xFF, 0xFF]));
        assert_eq!(sign_extend(&[0x00, 0x80], 1), None);
        assert_eq!(sign_extend(&[0xFF, 0x80], 1), Some(vec![0x80]));
        assert_eq!(sign_extend(&[0x01, 0x00], 1), None);
    }

    #[test]
    fn numeral_shapes() {
        for ok in ["1", "-1.5", "+2e3", ".5", "5.", "1E-2"] {
            assert!(is_decimal_string(ok), "{ok}");
        }
        for bad in ["", ".", "NaN", "inf", "1e", "0x1A", "1_000", " 1"] {
            assert!(!is_decimal_string(bad), "{bad}");
        }
    }
}
