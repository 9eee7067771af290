//! Key bytes copied out of the value's datum.
//!
//! An Avro record is the concatenation of its fields' encodings (Avro spec, "Binary
//! Encoding"), and a key record field whose type is the same primitive as the value field of
//! that name encodes the same payload field to the same bytes. So when every key field is
//! such a primitive and every value field before the last of them has a flat encoding (one
//! that can be stepped over without a schema walk: primitives, their logical types, enums,
//! fixed, unions of those), the key's datum is the concatenation of those fields' byte spans
//! in the value's datum, in key schema order, and the decoded key is read back from the same
//! spans. That is what `key_config(field = "id")` on a record that starts with its `id`
//! costs: a varint step and a copy, where serializing the key on its own walks the whole
//! payload struct through serde again.

use apache_avro::types::Value;
use apache_avro::Schema;

/// Most key fields a [`KeySpans`] takes (their spans are kept on the stack).
const MAX_KEY_FIELDS: usize = 4;

/// How to find a key's fields in a value datum ([`KeySpans::plan`]).
#[derive(Debug)]
pub(crate) struct KeySpans {
    /// The value record's fields up to the last key field, in order: how to step over each,
    /// and which key field (index in the key schema) it is, if one.
    steps: Vec<(Flat, Option<usize>)>,
    /// The key fields' types, in key schema order.
    primitives: Vec<Primitive>,
}

/// A field encoding that can be stepped over without the schema.
#[derive(Debug, Clone, PartialEq)]
enum Flat {
    /// Nothing (`null`).
    Empty,
    /// One byte (`boolean`).
    Byte,
    /// A zig-zag varint (`int`, `long`, their logical types, an enum's index).
    Varint,
    /// `n` bytes (`float`, `double`, `fixed`).
    Fixed(usize),
    /// A varint length and that many bytes (`bytes`, `string`).
    LengthPrefixed,
    /// A varint branch index, then that branch.
    Union(Vec<Flat>),
}

/// The primitive type of a key field, to read its decoded value back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Primitive {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

impl KeySpans {
    /// The plan for taking `key`'s fields out of datums of `value`; `None` when the key
    /// cannot be copied that way (a key field that is not the same plain primitive in both
    /// schemas, a field before it without a flat encoding, more than four key fields, or a
    /// schema that is not a record).
    pub(crate) fn plan(value: &Schema, key: &Schema) -> Option<KeySpans> {
        let (Schema::Record(value), Schema::Record(key)) = (value, key) else {
            return None;
        };
        if key.fields.is_empty() || key.fields.len() > MAX_KEY_FIELDS {
            return None;
        }
        let mut at = Vec::with_capacity(key.fields.len());
        let mut primitives = Vec::with_capacity(key.fields.len());
        for kf in &key.fields {
            let vi = *value.lookup.get(&kf.name)?;
            let p = primitive(&kf.schema)?;
            if primitive(&value.fields[vi].schema) != Some(p) {
                return None;
            }
            at.push(vi);
            primitives.push(p);
        }
        let last = *at.iter().max()?;
        let steps = value.fields[..=last]
            .iter()
            .enumerate()
            .map(|(vi, f)| Some((flat(&f.schema)?, at.iter().position(|&a| a == vi))))
            .collect::<Option<_>>()?;
        Some(KeySpans { steps, primitives })
    }

    /// Appends the key's datum, taken from `datum` (a value datum of the planned schema,
    /// without any prefix), to `out`, and reads the key fields' values back in key schema
    /// order into `values`. `None` when `datum` does not have the planned shape (which a
    /// datum written with the value schema always has).
    pub(crate) fn copy_key(
        &self,
        datum: &[u8],
        out: &mut bytes::BytesMut,
        mut values: impl FnMut(usize, Value),
    ) -> Option<()> {
        let mut spans = [(0, 0); MAX_KEY_FIELDS];
        let mut pos = 0;
        for (flat, key) in &self.steps {
            let start = pos;
            pos = step(flat, datum, pos)?;
            if let Some(k) = *key {
                spans[k] = (start, pos);
            }
        }
        for (k, (&(start, end), &primitive)) in spans.iter().zip(&self.primitives).enumerate() {
            let bytes = &datum[start..end];
            values(k, read(primitive, bytes)?);
            out.extend_from_slice(bytes);
        }
        Some(())
    }
}

fn primitive(schema: &Schema) -> Option<Primitive> {
    Some(match schema {
        Schema::Null => Primitive::Null,
        Schema::Boolean => Primitive::Boolean,
        Schema::Int => Primitive::Int,
        Schema::Long => Primitive::Long,
        Schema::Float => Primitive::Float,
        Schema::Double => Primitive::Double,
        Schema::Bytes => Primitive::Bytes,
        Schema::String => Primitive::String,
        _ => return None,
    })
}

fn flat(schema: &Schema) -> Option<Flat> {
    Some(match schema {
        Schema::Null => Flat::Empty,
        Schema::Boolean => Flat::Byte,
        Schema::Int
        | Schema::Long
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos
        | Schema::Enum(_) => Flat::Varint,
        Schema::Float => Flat::Fixed(4),
        Schema::Double => Flat::Fixed(8),
        Schema::Fixed(f) => Flat::Fixed(f.size),
        Schema::Bytes | Schema::String => Flat::LengthPrefixed,
        Schema::Union(u) => Flat::Union(u.variants().iter().map(flat).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// A varint at `pos`: its zig-zag decoded value and the position after it.
fn varint(datum: &[u8], pos: usize) -> Option<(i64, usize)> {
    let mut z = 0u64;
    for (i, &b) in datum.get(pos..)?.iter().take(10).enumerate() {
        z |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((((z >> 1) as i64) ^ -((z & 1) as i64), pos + i + 1));
        }
    }
    None
}

/// The position after the value of encoding `flat` at `pos`.
fn step(flat: &Flat, datum: &[u8], pos: usize) -> Option<usize> {
    let end = match flat {
        Flat::Empty => pos,
        Flat::Byte => pos + 1,
        Flat::Varint => varint(datum, pos)?.1,
        Flat::Fixed(n) => pos + n,
        Flat::LengthPrefixed => {
            let (len, at) = varint(datum, pos)?;
            at.checked_add(usize::try_from(len).ok()?)?
        }
        Flat::Union(branches) => {
            let (index, at) = varint(datum, pos)?;
            step(branches.get(usize::try_from(index).ok()?)?, datum, at)?
        }
    };
    (end <= datum.len()).then_some(end)
}

/// The value of one primitive's encoding, as apache-avro decodes it.
fn read(primitive: Primitive, bytes: &[u8]) -> Option<Value> {
    let varint_all = || varint(bytes, 0).filter(|(_, end)| *end == bytes.len());
    Some(match primitive {
        Primitive::Null if bytes.is_empty() => Value::Null,
        Primitive::Boolean => match bytes {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            _ => return None,
        },
        Primitive::Int => Value::Int(i32::try_from(varint_all()?.0).ok()?),
        Primitive::Long => Value::Long(varint_all()?.0),
        Primitive::Float => Value::Float(f32::from_le_bytes(bytes.try_into().ok()?)),
        Primitive::Double => Value::Double(f64::from_le_bytes(bytes.try_into().ok()?)),
        Primitive::Bytes | Primitive::String => {
            let (len, at) = varint(bytes, 0)?;
            let body = bytes.get(at..)?;
            if usize::try_from(len).ok()? != body.len() {
                return None;
            }
            match primitive {
                Primitive::Bytes => Value::Bytes(body.to_vec()),
                _ => Value::String(String::from_utf8(body.to_vec()).ok()?),
            }
        }
        Primitive::Null => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> Schema {
        crate::schema::names::parse_schema(json).unwrap()
    }

    fn record(fields: &str) -> Schema {
        schema(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
    }

    #[test]
    fn plans_need_same_primitives_and_flat_fields_before_them() {
        let value = record(
            r#"{"name":"a","type":["null","string"]},{"name":"id","type":"long"},
               {"name":"tags","type":{"type":"array","items":"string"}},
               {"name":"name","type":"string"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}"#,
        );
        let key = |fields: &str| record(fields);
        assert!(KeySpans::plan(&value, &key(r#"{"name":"id","type":"long"}"#)).is_some());
        // After an array: not flat.
        assert!(KeySpans::plan(&value, &key(r#"{"name":"name","type":"string"}"#)).is_none());
        // Another type in the key, a logical type, a missing field.
        assert!(KeySpans::plan(&value, &key(r#"{"name":"id","type":"int"}"#)).is_none());
        assert!(KeySpans::plan(
            &value,
            &key(r#"{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}"#)
        )
        .is_none());
        assert!(KeySpans::plan(&value, &key(r#"{"name":"nope","type":"long"}"#)).is_none());
    }

    #[test]
    fn keys_are_copied_in_key_order_and_read_back() {
        let value = record(
            r#"{"name":"n","type":"null"},{"name":"b","type":"boolean"},
               {"name":"u","type":["null","string"]},{"name":"i","type":"int"},
               {"name":"f","type":"float"},{"name":"d","type":"double"},
               {"name":"by","type":"bytes"},{"name":"s","type":"string"},
               {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
               {"name":"fx","type":{"type":"fixed","name":"F","size":2}},
               {"name":"l","type":"long"}"#,
        );
        let datum = apache_avro::to_avro_datum(
            &value,
            Value::Record(vec![
                ("n".into(), Value::Null),
                ("b".into(), Value::Boolean(true)),
                (
                    "u".into(),
                    Value::Union(1, Box::new(Value::String("x".into()))),
                ),
                ("i".into(), Value::Int(-3)),
                ("f".into(), Value::Float(1.5)),
                ("d".into(), Value::Double(-2.5)),
                ("by".into(), Value::Bytes(vec![1, 2])),
                ("s".into(), Value::String("hé".into())),
                ("e".into(), Value::Enum(1, "Y".into())),
                ("fx".into(), Value::Fixed(2, vec![7, 8])),
                ("l".into(), Value::Long(1 << 40)),
            ]),
        )
        .unwrap();
        let fields = [
            ("l", "long", Value::Long(1 << 40)),
            ("s", "string", Value::String("hé".into())),
            ("n", "null", Value::Null),
            ("b", "boolean", Value::Boolean(true)),
        ];
        let key = record(
            &fields
                .iter()
                .map(|(n, t, _)| format!(r#"{{"name":"{n}","type":"{t}"}}"#))
                .collect::<Vec<_>>()
                .join(","),
        );
        let plan = KeySpans::plan(&value, &key).expect("a plan");
        let mut out = bytes::BytesMut::from(&[9u8][..]);
        let mut read = Vec::new();
        plan.copy_key(&datum, &mut out, |k, v| read.push((k, v)))
            .expect("the datum fits the plan");
        let expected = Value::Record(
            fields
                .iter()
                .map(|(n, _, v)| ((*n).to_owned(), v.clone()))
                .collect(),
        );
        let mut key_datum = vec![9];
        key_datum.extend(apache_avro::to_avro_datum(&key, expected).unwrap());
        assert_eq!(
            out.as_ref(),
            key_datum.as_slice(),
            "the key record's datum, after what was there"
        );
        assert_eq!(
            read,
            fields
                .iter()
                .enumerate()
                .map(|(k, (_, _, v))| (k, v.clone()))
                .collect::<Vec<_>>()
        );
        for (name, ty, v) in [
            ("i", "int", Value::Int(-3)),
            ("f", "float", Value::Float(1.5)),
            ("d", "double", Value::Double(-2.5)),
            ("by", "bytes", Value::Bytes(vec![1, 2])),
        ] {
            let key = record(&format!(r#"{{"name":"{name}","type":"{ty}"}}"#));
            let mut out = bytes::BytesMut::new();
            let mut got = None;
            KeySpans::plan(&value, &key)
                .unwrap()
                .copy_key(&datum, &mut out, |_, v| got = Some(v))
                .unwrap();
            assert_eq!(got, Some(v), "{name}");
        }
        // A datum shorter than the plan is refused, not read past.
        assert!(plan
            .copy_key(&datum[..3], &mut bytes::BytesMut::new(), |_, _| {})
            .is_none());
    }
}
