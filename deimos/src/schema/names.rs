//! Avro names as Deimos users have them.
//!
//! The Avro specification ("Names") allows `[A-Za-z_][A-Za-z0-9_]*` segments only, and
//! Java-based tools (the Confluent Schema Registry among them) enforce it. Ruby's `avro` gem
//! never checked namespaces, so Deimos schema trees often use hyphens (`com.my-namespace`).
//! deimos-rs loads such local schemas (with a warning naming the schema) by installing a
//! lenient namespace check in apache-avro, and keeps the strict rule for what it registers
//! ([`strict_name_violation`]).

use std::collections::{HashMap, HashSet};
use std::sync::Once;

use apache_avro::schema::Namespace;
use apache_avro::validator::{SchemaNameValidator, SchemaNamespaceValidator};
use apache_avro::{AvroResult, Schema};

/// A strict Avro name segment: `[A-Za-z_][A-Za-z0-9_]*`.
fn strict_segment(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A lenient namespace segment: a strict one that may also contain `-` after its first
/// character (Ruby Avro's leniency, as Deimos' examples use it).
fn lenient_segment(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn lenient_namespace(ns: &str) -> bool {
    ns.is_empty() || ns.split('.').all(lenient_segment)
}

struct Lenient;

impl SchemaNamespaceValidator for Lenient {
    fn validate(&self, ns: &str) -> AvroResult<()> {
        if lenient_namespace(ns) {
            Ok(())
        } else {
            Err(apache_avro::error::Details::InvalidNamespace(
                ns.to_owned(),
                "^([A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z_][A-Za-z0-9_-]*)*)?$",
            )
            .into())
        }
    }
}

impl SchemaNameValidator for Lenient {
    fn validate(&self, schema_name: &str) -> AvroResult<(String, Namespace)> {
        let (ns, name) = match schema_name.rsplit_once('.') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, schema_name),
        };
        if strict_segment(name) && ns.is_none_or(|ns| !ns.is_empty() && lenient_namespace(ns)) {
            Ok((name.to_owned(), ns.map(str::to_owned)))
        } else {
            Err(apache_avro::error::Details::InvalidSchemaName(
                schema_name.to_owned(),
                "^(([A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z_][A-Za-z0-9_-]*)*)\\.)?[A-Za-z_][A-Za-z0-9_]*$",
            )
            .into())
        }
    }
}

/// Installs the lenient namespace and name checks in apache-avro, once per process, before
/// the first schema is parsed. Called by every deimos entry point that parses schemas. If the
/// application installed validators of its own first, those stay.
pub fn install_lenient_names() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = apache_avro::validator::set_schema_namespace_validator(Box::new(Lenient));
        let _ = apache_avro::validator::set_schema_name_validator(Box::new(Lenient));
    });
}

/// Parses Avro schema JSON text with the lenient name rules, turning apache-avro's panics
/// (0.21 unwraps an invalid record name instead of returning an error) into errors, so a bad
/// `.avsc` file or a hostile registry answer cannot bring the process down.
///
/// # Errors
/// apache-avro's parse error, or `invalid schema: …` for what made it panic.
pub fn parse_schema(text: &str) -> Result<Schema, crate::BoxError> {
    install_lenient_names();
    match std::panic::catch_unwind(|| Schema::parse_str(text)) {
        Ok(parsed) => Ok(parsed?),
        Err(panic) => Err(format!("invalid schema: {}", panic_text(&panic)).into()),
    }
}

/// As [`parse_schema`], from parsed JSON.
///
/// # Errors
/// As [`parse_schema`].
pub fn parse_schema_json(json: &serde_json::Value) -> Result<Schema, crate::BoxError> {
    install_lenient_names();
    match std::panic::catch_unwind(|| Schema::parse(json)) {
        Ok(parsed) => Ok(parsed?),
        Err(panic) => Err(format!("invalid schema: {}", panic_text(&panic)).into()),
    }
}

/// `schema` as standalone JSON: the first reference to each named type that is not defined
/// earlier in the output is replaced by its definition from `names` (for example
/// `apache_avro::schema::ResolvedSchema::get_names` over the schemata it was parsed with), so
/// the text parses on its own with [`parse_schema`]. Later references stay names. Used for
/// generated key schemas (a key field may name a type defined elsewhere in the value schema)
/// and for schemas that refer to types in other files.
///
/// # Errors
/// A serialization error from `serde_json` (apache-avro's `Serialize` for `Schema`).
pub fn inline_named(
    schema: &Schema,
    names: &HashMap<apache_avro::schema::Name, &Schema>,
) -> serde_json::Result<serde_json::Value> {
    inline_into(schema, names, &mut HashSet::new())
}

fn inline_into(
    schema: &Schema,
    names: &HashMap<apache_avro::schema::Name, &Schema>,
    defined: &mut HashSet<String>,
) -> serde_json::Result<serde_json::Value> {
    use serde_json::Value as Json;
    Ok(match schema {
        Schema::Ref { name } => {
            let full = name.fullname(None);
            match names.get(name) {
                Some(target) if !defined.contains(&full) => inline_into(target, names, defined)?,
                _ => Json::String(full),
            }
        }
        Schema::Record(r) => {
            defined.insert(r.name.fullname(None));
            let mut json = serde_json::to_value(schema)?;
            for (i, f) in r.fields.iter().enumerate() {
                json["fields"][i]["type"] = inline_into(&f.schema, names, defined)?;
            }
            json
        }
        Schema::Enum(e) => {
            defined.insert(e.name.fullname(None));
            serde_json::to_value(schema)?
        }
        Schema::Fixed(x) => {
            defined.insert(x.name.fullname(None));
            serde_json::to_value(schema)?
        }
        Schema::Decimal(d) => {
            if let Schema::Fixed(x) = d.inner.as_ref() {
                defined.insert(x.name.fullname(None));
            }
            serde_json::to_value(schema)?
        }
        Schema::Array(a) => {
            let mut json = serde_json::to_value(schema)?;
            json["items"] = inline_into(&a.items, names, defined)?;
            json
        }
        Schema::Map(m) => {
            let mut json = serde_json::to_value(schema)?;
            json["values"] = inline_into(&m.types, names, defined)?;
            json
        }
        Schema::Union(u) => Json::Array(
            u.variants()
                .iter()
                .map(|v| inline_into(v, names, defined))
                .collect::<serde_json::Result<_>>()?,
        ),
        other => serde_json::to_value(other)?,
    })
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "apache-avro panicked".to_owned()
    }
}

/// The first named type in `schema` whose full name breaks the Avro specification's name rule
/// (e.g. `com.my-namespace.Widget`), or `None` when every name is strict. The registry backend
/// refuses to register schemas with such names, as the Confluent Schema Registry would.
pub fn strict_name_violation(schema: &Schema) -> Option<String> {
    let mut bad = None;
    visit_names(schema, &mut |fullname| {
        if bad.is_none() && !fullname.split('.').all(strict_segment) {
            bad = Some(fullname.to_owned());
        }
    });
    bad
}

fn visit_names(schema: &Schema, f: &mut dyn FnMut(&str)) {
    match schema {
        Schema::Record(r) => {
            f(&r.name.fullname(None));
            for field in &r.fields {
                visit_names(&field.schema, f);
            }
        }
        Schema::Enum(e) => f(&e.name.fullname(None)),
        Schema::Fixed(x) => f(&x.name.fullname(None)),
        Schema::Decimal(d) => visit_names(&d.inner, f),
        Schema::Array(a) => visit_names(&a.items, f),
        Schema::Map(m) => visit_names(&m.types, f),
        Schema::Union(u) => {
            for v in u.variants() {
                visit_names(v, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_namespaces_parse_and_are_reported_as_not_strict() {
        install_lenient_names();
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Widget","namespace":"com.my-namespace",
                "fields":[{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A"]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            strict_name_violation(&schema).as_deref(),
            Some("com.my-namespace.Widget")
        );
        let strict = Schema::parse_str(
            r#"{"type":"record","name":"Widget","namespace":"com.example","fields":[]}"#,
        )
        .unwrap();
        assert_eq!(strict_name_violation(&strict), None);
    }

    #[test]
    fn lenient_rules_still_reject_garbage() {
        install_lenient_names();
        for ns in ["com..x", "-com", "com.1x", "com.x y"] {
            assert!(!lenient_namespace(ns), "{ns}");
        }
        assert!(lenient_namespace("com.my-namespace"));
        let err = parse_schema(
            r#"{"type":"record","name":"Wid-get","namespace":"com.example","fields":[]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Wid-get"), "{err}");
    }
}
