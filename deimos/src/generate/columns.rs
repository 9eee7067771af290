//! From a record schema to the table's columns: which fields become columns, their Rust field
//! names, their types, nullability and the primary key.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, ResolvedSchema};
use apache_avro::Schema;

use super::{Column, ColumnKind, GenerateError};

/// Fields Deimos' generator leaves out of the table: `id` (Rails adds its own) and the two
/// fields Deimos fills on every message (`message_id`, `timestamp`).
pub(super) const SKIPPED: [&str; 3] = ["id", "message_id", "timestamp"];

/// The largest `decimal` precision `rust_decimal::Decimal` holds exactly (28 digits); wider
/// decimals become `BigDecimal`.
const RUST_DECIMAL_DIGITS: usize = 28;

/// The largest `fixed` size stored as `binary(n)`: MySQL and MariaDB allow `binary` up to 255
/// bytes. Larger fixed values are `blob`s.
const MAX_BINARY_LEN: usize = 255;

/// The columns of the table for `record`: the generated `id` (when `primary_key` is empty),
/// then the primary key fields in the order given, then the other fields in schema order; and
/// the fields left out.
pub(super) fn columns(
    schema_name: &str,
    record: &RecordSchema,
    whole: &Schema,
    primary_key: &[String],
) -> Result<(Vec<Column>, Vec<String>), GenerateError> {
    let resolved = ResolvedSchema::try_from(whole).map_err(|e| GenerateError::Schema {
        schema: schema_name.to_owned(),
        source: e.into(),
    })?;
    let names = resolved.get_names();

    for (i, field) in primary_key.iter().enumerate() {
        if primary_key[..i].contains(field) {
            return Err(GenerateError::DuplicatePrimaryKey {
                field: field.clone(),
            });
        }
        if !record.fields.iter().any(|f| &f.name == field) {
            return Err(GenerateError::UnknownPrimaryKey {
                field: field.clone(),
                schema: schema_name.to_owned(),
                fields: record.fields.iter().map(|f| f.name.clone()).collect(),
            });
        }
    }

    let mut keys = Vec::with_capacity(primary_key.len());
    let mut others = Vec::with_capacity(record.fields.len());
    let mut skipped_fields = Vec::new();
    for field in &record.fields {
        let key_position = primary_key.iter().position(|k| k == &field.name);
        // Deimos' template skips these; `id` only while the generated `id` replaces it.
        let skipped = SKIPPED.contains(&field.name.as_str())
            && (field.name != "id" || primary_key.is_empty());
        if skipped && key_position.is_none() {
            skipped_fields.push(field.name.clone());
            continue;
        }
        let (kind, nullable, avro_type) = map_type(&field.name, &field.schema, names)?;
        let is_key = key_position.is_some();
        if is_key {
            if kind == ColumnKind::Json {
                return Err(GenerateError::PrimaryKeyType {
                    field: field.name.clone(),
                    avro_type,
                });
            }
            if nullable {
                return Err(GenerateError::NullablePrimaryKey {
                    field: field.name.clone(),
                    avro_type,
                });
            }
        }
        let column = Column {
            name: field.name.clone(),
            field: rust_field(&field.name),
            kind,
            nullable,
            primary_key: is_key,
            auto_increment: false,
            avro_type,
            doc: field.doc.clone(),
        };
        match key_position {
            Some(at) => keys.push((at, column)),
            None => others.push(column),
        }
    }
    keys.sort_by_key(|(at, _)| *at);

    let mut all = Vec::with_capacity(1 + keys.len() + others.len());
    if primary_key.is_empty() {
        all.push(Column {
            name: "id".to_owned(),
            field: "id".to_owned(),
            kind: ColumnKind::BigInteger,
            nullable: false,
            primary_key: true,
            auto_increment: true,
            avro_type: "none (generated)".to_owned(),
            doc: None,
        });
    }
    all.extend(keys.into_iter().map(|(_, c)| c));
    all.extend(others);
    check_clashes(&all)?;
    Ok((all, skipped_fields))
}

/// Two columns whose Rust field names, or the `Column` enum variants SeaORM derives from them,
/// are the same.
fn check_clashes(columns: &[Column]) -> Result<(), GenerateError> {
    let mut seen: HashMap<String, &Column> = HashMap::new();
    for column in columns {
        let bare = column.field.trim_start_matches("r#");
        for rust in [bare.to_owned(), format!("Column::{}", upper_camel(bare))] {
            if let Some(first) = seen.insert(rust.clone(), column) {
                return Err(GenerateError::FieldNameClash {
                    first: first.name.clone(),
                    second: column.name.clone(),
                    rust,
                });
            }
        }
    }
    Ok(())
}

/// The column kind, nullability and a short Avro type description of one field's schema.
fn map_type(
    field: &str,
    schema: &Schema,
    names: &HashMap<Name, &Schema>,
) -> Result<(ColumnKind, bool, String), GenerateError> {
    let schema = resolve(field, schema, names)?;
    let Schema::Union(union) = schema else {
        let nullable = matches!(schema, Schema::Null);
        return Ok((kind_of(schema), nullable, describe(schema, names)));
    };
    let nullable = union.variants().iter().any(|v| matches!(v, Schema::Null));
    let mut others = Vec::new();
    for variant in union.variants() {
        let variant = resolve(field, variant, names)?;
        if !matches!(variant, Schema::Null) {
            others.push(variant);
        }
    }
    let kind = match others.as_slice() {
        [only] => kind_of(only),
        // Only `null`, or several types: the value's JSON form.
        _ => ColumnKind::Json,
    };
    Ok((kind, nullable, describe(schema, names)))
}

/// A named reference replaced by the type it names.
fn resolve<'s>(
    field: &str,
    schema: &'s Schema,
    names: &HashMap<Name, &'s Schema>,
) -> Result<&'s Schema, GenerateError> {
    match schema {
        Schema::Ref { name } => {
            names
                .get(name)
                .copied()
                .ok_or_else(|| GenerateError::UnresolvedName {
                    field: field.to_owned(),
                    name: name.fullname(None),
                })
        }
        other => Ok(other),
    }
}

/// The column kind of a non-union, resolved schema.
fn kind_of(schema: &Schema) -> ColumnKind {
    match schema {
        Schema::Boolean => ColumnKind::Boolean,
        Schema::Int => ColumnKind::Integer,
        Schema::Long => ColumnKind::BigInteger,
        Schema::Float => ColumnKind::Float,
        Schema::Double => ColumnKind::Double,
        Schema::String => ColumnKind::String,
        Schema::Enum(_) => ColumnKind::Enum,
        Schema::Bytes => ColumnKind::Bytes,
        Schema::Fixed(f) if f.size <= MAX_BINARY_LEN => ColumnKind::Fixed(narrow(f.size)),
        Schema::Fixed(_) => ColumnKind::Bytes,
        // Avro's `duration`: a fixed(12) of three little-endian u32s.
        Schema::Duration => ColumnKind::Fixed(12),
        Schema::Decimal(d) if d.precision <= RUST_DECIMAL_DIGITS => ColumnKind::Decimal {
            precision: narrow(d.precision),
            scale: narrow(d.scale),
        },
        Schema::Decimal(d) => ColumnKind::BigDecimal {
            precision: narrow(d.precision),
            scale: narrow(d.scale),
        },
        // Arbitrary precision and scale per value: no column type holds it exactly everywhere.
        Schema::BigDecimal => ColumnKind::DecimalText,
        Schema::Uuid => ColumnKind::Uuid,
        Schema::Date => ColumnKind::Date,
        Schema::TimeMillis | Schema::TimeMicros => ColumnKind::Time,
        Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => {
            ColumnKind::TimestampUtc
        }
        Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => ColumnKind::LocalTimestamp,
        Schema::Null
        | Schema::Record(_)
        | Schema::Array(_)
        | Schema::Map(_)
        | Schema::Union(_)
        | Schema::Ref { .. } => ColumnKind::Json,
    }
}

/// A size from a schema as the `u32` SeaORM's column types take (no database takes more).
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A short description of a field's Avro type for the generated comments and errors:
/// `long`, `timestamp-millis`, `decimal(10, 2)`, `record com.example.Dimensions`,
/// `array<string>`, `map<long>`, `enum com.example.Color`, `union [null, string]`.
fn describe(schema: &Schema, names: &HashMap<Name, &Schema>) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(a) => format!("array<{}>", describe(&a.items, names)),
        Schema::Map(m) => format!("map<{}>", describe(&m.types, names)),
        Schema::Union(u) => format!(
            "union [{}]",
            u.variants()
                .iter()
                .map(|v| describe(v, names))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed {} ({} bytes)", f.name.fullname(None), f.size),
        Schema::Decimal(d) => format!("decimal({}, {})", d.precision, d.scale),
        Schema::BigDecimal => "big-decimal".into(),
        Schema::Uuid => "uuid".into(),
        Schema::Date => "date".into(),
        Schema::TimeMillis => "time-millis".into(),
        Schema::TimeMicros => "time-micros".into(),
        Schema::TimestampMillis => "timestamp-millis".into(),
        Schema::TimestampMicros => "timestamp-micros".into(),
        Schema::TimestampNanos => "timestamp-nanos".into(),
        Schema::LocalTimestampMillis => "local-timestamp-millis".into(),
        Schema::LocalTimestampMicros => "local-timestamp-micros".into(),
        Schema::LocalTimestampNanos => "local-timestamp-nanos".into(),
        Schema::Duration => "duration".into(),
        Schema::Ref { name } => match names.get(name) {
            // A reference is described by name only: its definition came earlier.
            Some(Schema::Record(_)) => format!("record {}", name.fullname(None)),
            Some(Schema::Enum(_)) => format!("enum {}", name.fullname(None)),
            Some(Schema::Fixed(f)) => format!("fixed {} ({} bytes)", name.fullname(None), f.size),
            _ => name.fullname(None),
        },
    }
}

/// Rust's strict and reserved keywords (2021 edition), which need `r#` as field names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "super", "crate", "_"];

/// Whether `name` is a Rust keyword (strict or reserved), including those that cannot be raw
/// identifiers.
pub(super) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name) || NOT_RAW.contains(&name)
}

/// The Rust field name for an Avro field name: snake_case (`updatedAt` → `updated_at`,
/// `HTTPStatus` → `http_status`); a keyword becomes a raw identifier (`r#type`), or gets a
/// `_field` suffix where Rust allows no raw form (`self_field`).
pub(super) fn rust_field(avro_name: &str) -> String {
    let snake = snake_case(avro_name);
    if NOT_RAW.contains(&snake.as_str()) {
        format!("{snake}_field")
    } else if KEYWORDS.contains(&snake.as_str()) {
        format!("r#{snake}")
    } else {
        snake
    }
}

/// snake_case of an Avro name (`[A-Za-z_][A-Za-z0-9_]*`): an underscore before an upper-case
/// letter that follows a lower-case letter or digit, or that starts a word after an acronym;
/// then everything lower-case.
pub(super) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower);
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// UpperCamelCase of a snake_case name, as SeaORM names the `Column` variant of a field
/// (words split at `_`, each capitalised).
fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_avro_names() {
        for (avro, rust) in [
            ("name", "name"),
            ("updatedAt", "updated_at"),
            ("UpdatedAt", "updated_at"),
            ("HTTPStatus", "http_status"),
            ("userID", "user_id"),
            ("already_snake", "already_snake"),
            ("a1B", "a1_b"),
            ("_private", "_private"),
        ] {
            assert_eq!(snake_case(avro), rust, "{avro}");
        }
    }

    #[test]
    fn keywords_become_raw_or_suffixed() {
        assert_eq!(rust_field("type"), "r#type");
        assert_eq!(rust_field("Type"), "r#type");
        assert_eq!(rust_field("match"), "r#match");
        assert_eq!(rust_field("self"), "self_field");
        assert_eq!(rust_field("_"), "__field");
        assert_eq!(rust_field("kind"), "kind");
    }

    #[test]
    fn upper_camel_as_sea_orm_names_variants() {
        assert_eq!(upper_camel("updated_at"), "UpdatedAt");
        assert_eq!(upper_camel("foo__bar"), "FooBar");
        assert_eq!(upper_camel("type"), "Type");
    }
}
