//! Avro schema → the marker kind (`deimos::__private::kinds::*`) that a field's Rust type must
//! be compatible with. rustc does the actual check, at the field's type.

use apache_avro::schema::{NamesRef, Schema};

/// An Avro type as far as Rust type compatibility is concerned.
///
/// Logical types this crate does not map (`local-timestamp-*`, `timestamp-nanos`,
/// `big-decimal`, `duration`, or unknown ones, which the Avro spec says to ignore) fall back to
/// the kind of their underlying type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Uuid,
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    Decimal,
    Fixed(usize),
    /// A record or enum (checked at runtime through serde).
    Named,
    /// A union other than `["null", T]` (checked at runtime).
    AnyUnion,
    /// `["null", T]` or `[T, "null"]`.
    Nullable(Box<Kind>),
    Array(Box<Kind>),
    Map(Box<Kind>),
}

impl Kind {
    /// The kind of `schema`; `names` resolves named references (from the same schema file).
    pub(crate) fn of(schema: &Schema, names: &NamesRef<'_>) -> Kind {
        match schema {
            Schema::Null => Kind::Null,
            Schema::Boolean => Kind::Boolean,
            Schema::Int => Kind::Int,
            Schema::Long
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Kind::Long,
            Schema::Float => Kind::Float,
            Schema::Double => Kind::Double,
            Schema::Bytes | Schema::BigDecimal => Kind::Bytes,
            Schema::String => Kind::Str,
            Schema::Uuid => Kind::Uuid,
            Schema::Date => Kind::Date,
            Schema::TimeMillis => Kind::TimeMillis,
            Schema::TimeMicros => Kind::TimeMicros,
            Schema::TimestampMillis => Kind::TimestampMillis,
            Schema::TimestampMicros => Kind::TimestampMicros,
            Schema::Decimal(_) => Kind::Decimal,
            Schema::Fixed(fixed) => Kind::Fixed(fixed.size),
            // Avro `duration` is a `fixed` of 12 bytes.
            Schema::Duration => Kind::Fixed(12),
            Schema::Record(_) | Schema::Enum(_) => Kind::Named,
            Schema::Array(array) => Kind::Array(Box::new(Kind::of(&array.items, names))),
            Schema::Map(map) => Kind::Map(Box::new(Kind::of(&map.types, names))),
            Schema::Union(union) => match union.variants() {
                [Schema::Null, other] | [other, Schema::Null] => {
                    Kind::Nullable(Box::new(Kind::of(other, names)))
                }
                _ => Kind::AnyUnion,
            },
            Schema::Ref { name } => match names.get(name) {
                // A definition is never itself a `Ref`, so this recursion ends.
                Some(definition) => Kind::of(definition, names),
                None => Kind::Named,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::schema::ResolvedSchema;

    /// The kind of each field of a record schema.
    fn field_kinds(json: &str) -> Vec<(String, Kind)> {
        let schema = Schema::parse_str(json).unwrap();
        let resolved = ResolvedSchema::try_from(&schema).unwrap();
        let Schema::Record(record) = &schema else {
            panic!("not a record")
        };
        record
            .fields
            .iter()
            .map(|f| (f.name.clone(), Kind::of(&f.schema, resolved.get_names())))
            .collect()
    }

    fn kind_of_field_type(field_type: &str) -> Kind {
        let json = format!(
            r#"{{"type": "record", "name": "R", "fields": [{{"name": "f", "type": {field_type}}}]}}"#
        );
        field_kinds(&json).remove(0).1
    }

    #[test]
    fn primitives() {
        for (avro, kind) in [
            (r#""null""#, Kind::Null),
            (r#""boolean""#, Kind::Boolean),
            (r#""int""#, Kind::Int),
            (r#""long""#, Kind::Long),
            (r#""float""#, Kind::Float),
            (r#""double""#, Kind::Double),
            (r#""bytes""#, Kind::Bytes),
            (r#""string""#, Kind::Str),
        ] {
            assert_eq!(kind_of_field_type(avro), kind, "{avro}");
        }
    }

    #[test]
    fn logical_types() {
        for (avro, kind) in [
            (r#"{"type": "string", "logicalType": "uuid"}"#, Kind::Uuid),
            (r#"{"type": "int", "logicalType": "date"}"#, Kind::Date),
            (
                r#"{"type": "int", "logicalType": "time-millis"}"#,
                Kind::TimeMillis,
            ),
            (
                r#"{"type": "long", "logicalType": "time-micros"}"#,
                Kind::TimeMicros,
            ),
            (
                r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
                Kind::TimestampMillis,
            ),
            (
                r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
                Kind::TimestampMicros,
            ),
            (
                r#"{"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}"#,
                Kind::Decimal,
            ),
            (
                r#"{"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 10}"#,
                Kind::Decimal,
            ),
        ] {
            assert_eq!(kind_of_field_type(avro), kind, "{avro}");
        }
    }

    #[test]
    fn unmapped_logical_types_fall_back_to_the_underlying_type() {
        for (avro, kind) in [
            (
                r#"{"type": "long", "logicalType": "local-timestamp-millis"}"#,
                Kind::Long,
            ),
            (
                r#"{"type": "long", "logicalType": "local-timestamp-micros"}"#,
                Kind::Long,
            ),
            (
                r#"{"type": "long", "logicalType": "timestamp-nanos"}"#,
                Kind::Long,
            ),
            (r#"{"type": "string", "logicalType": "made-up"}"#, Kind::Str),
            (
                r#"{"type": "int", "logicalType": "timestamp-millis"}"#,
                Kind::Int,
            ),
            (
                r#"{"type": "bytes", "logicalType": "big-decimal"}"#,
                Kind::Bytes,
            ),
            (
                r#"{"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}"#,
                Kind::Fixed(12),
            ),
            // Invalid decimal (scale > precision): the spec says to ignore the logical type.
            (
                r#"{"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 4}"#,
                Kind::Bytes,
            ),
        ] {
            assert_eq!(kind_of_field_type(avro), kind, "{avro}");
        }
    }

    #[test]
    fn complex_types() {
        use Kind::*;
        for (avro, kind) in [
            (r#"["null", "string"]"#, Nullable(Box::new(Str))),
            (r#"["long", "null"]"#, Nullable(Box::new(Long))),
            (r#"["int", "string"]"#, AnyUnion),
            (r#"["null", "int", "string"]"#, AnyUnion),
            (
                r#"{"type": "array", "items": "long"}"#,
                Array(Box::new(Long)),
            ),
            (
                r#"{"type": "map", "values": ["null", {"type": "array", "items": "double"}]}"#,
                Map(Box::new(Nullable(Box::new(Array(Box::new(Double)))))),
            ),
            (r#"{"type": "fixed", "name": "Md5", "size": 16}"#, Fixed(16)),
            (
                r#"{"type": "enum", "name": "Color", "symbols": ["RED"]}"#,
                Named,
            ),
            (
                r#"{"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]}"#,
                Named,
            ),
        ] {
            assert_eq!(kind_of_field_type(avro), kind, "{avro}");
        }
    }

    #[test]
    fn named_references_resolve_to_their_definition() {
        let kinds = field_kinds(
            r#"{"type": "record", "name": "R", "namespace": "com.example", "fields": [
                {"name": "hash", "type": {"type": "fixed", "name": "Md5", "size": 16}},
                {"name": "again", "type": "Md5"},
                {"name": "qualified", "type": ["null", "com.example.Md5"]},
                {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED"]}},
                {"name": "colors", "type": {"type": "array", "items": "Color"}},
                {"name": "self", "type": ["null", "R"]}
            ]}"#,
        );
        let kinds: Vec<Kind> = kinds.into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            kinds,
            [
                Kind::Fixed(16),
                Kind::Fixed(16),
                Kind::Nullable(Box::new(Kind::Fixed(16))),
                Kind::Named,
                Kind::Array(Box::new(Kind::Named)),
                Kind::Nullable(Box::new(Kind::Named)),
            ]
        );
    }
}
