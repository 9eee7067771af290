//! What coercion and the JSON encoding share while walking a schema: named-type lookup
//! (`Schema::Ref`), type names for messages and union branches, and the depth limit.

use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, ResolvedSchema};
use apache_avro::Schema;

/// How deep a value may nest (records, arrays, maps, unions each count one level) before the
/// walk stops with an error instead of risking the stack.
pub(crate) const MAX_DEPTH: usize = 128;

/// The named types of one schema, by full name.
#[derive(Debug)]
pub(crate) struct Names<'s> {
    names: HashMap<Name, &'s Schema>,
}

impl<'s> Names<'s> {
    /// Collects the named types of `schema`.
    ///
    /// # Errors
    /// apache-avro's message when a reference does not resolve or a name is defined twice.
    pub(crate) fn of(schema: &'s Schema) -> Result<Self, String> {
        let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
        Ok(Names {
            names: resolved.get_names().clone(),
        })
    }

    /// Follows `Schema::Ref`s: returns the schema itself otherwise, with the namespace that
    /// names inside it are relative to.
    pub(crate) fn deref<'a>(
        &self,
        schema: &'s Schema,
        ns: &'a Namespace,
    ) -> Result<(&'s Schema, Namespace), String>
    where
        's: 'a,
    {
        match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                match self.names.get(&full) {
                    Some(found) => Ok((found, full.namespace)),
                    None => Err(format!("unresolved reference to `{full}`")),
                }
            }
            Schema::Record(r) => Ok((schema, r.name.namespace.clone().or_else(|| ns.clone()))),
            other => Ok((other, ns.clone())),
        }
    }
}

/// The type as messages name it: `int`, `record com.example.Widget`, `union [null, string]`,
/// `decimal(10, 2)`, `fixed com.example.Md5 (16 bytes)`, `timestamp-millis`, …
pub(crate) fn type_name(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(a) => format!("array of {}", type_name(&a.items)),
        Schema::Map(m) => format!("map of {}", type_name(&m.types)),
        Schema::Union(u) => format!(
            "union [{}]",
            u.variants()
                .iter()
                .map(short_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Schema::Record(r) => format!("record {}", r.name),
        Schema::Enum(e) => format!("enum {}", e.name),
        Schema::Fixed(f) => format!("fixed {} ({} bytes)", f.name, f.size),
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
        Schema::Ref { name } => name.to_string(),
    }
}

/// A union branch in a list: named types by full name, others as [`type_name`] without
/// nesting detail.
fn short_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => r.name.to_string(),
        Schema::Enum(e) => e.name.to_string(),
        Schema::Fixed(f) => f.name.to_string(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        other => type_name(other),
    }
}

/// The name a union branch goes by in Avro's JSON encoding (Avro spec, "JSON Encoding": the
/// type's name — the full name for named types, the underlying type for logical types).
pub(crate) fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::BigDecimal => "bytes".into(),
        Schema::String | Schema::Uuid => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Record(r) => r.name.to_string(),
        Schema::Enum(e) => e.name.to_string(),
        Schema::Fixed(f) => f.name.to_string(),
        Schema::Decimal(d) => branch_name(&d.inner),
        // apache-avro keeps no name for a duration's fixed; it writes schemas with `duration`.
        Schema::Duration => "duration".into(),
        Schema::Ref { name } => name.to_string(),
    }
}
