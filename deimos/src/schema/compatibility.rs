//! Schema evolution checks: can one version of a schema read data written with another?
//!
//! The rules are Avro's "Schema Resolution" (Avro specification): a reader schema can read a
//! writer's datum when every reader field is either present in the writer (by name or alias,
//! with a readable type) or has a default, every writer enum symbol exists in the reader, every
//! writer union branch matches a reader branch, and primitive types are equal or promotable
//! (`int` → `long`/`float`/`double`, `long` → `float`/`double`, `float` → `double`,
//! `string` ↔ `bytes`). The levels are Confluent Schema Registry's `BACKWARD`, `FORWARD` and
//! `FULL` (non-transitive: one old version against one new version).
//!
//! The check itself is apache-avro's
//! [`SchemaCompatibility::can_read`](apache_avro::schema_compatibility::SchemaCompatibility::can_read);
//! this module loads the two schemas and turns its verdict into a reason that names the field.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use apache_avro::error::CompatibilityError;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

use crate::error::BoxError;

/// Which readers must be able to read which writers' data (Confluent Schema Registry's
/// compatibility levels, checked between exactly two versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compatibility {
    /// Confluent `BACKWARD`: consumers using the **new** schema can read data written with the
    /// **old** one (reader = new, writer = old). Upgrade consumers first. Allows deleting fields
    /// and adding fields that have a default.
    Backward,
    /// Confluent `FORWARD`: consumers still using the **old** schema can read data written with
    /// the **new** one (reader = old, writer = new). Upgrade producers first. Allows adding
    /// fields and deleting fields that had a default.
    Forward,
    /// Confluent `FULL`: both [`Backward`](Self::Backward) and [`Forward`](Self::Forward).
    /// Upgrade in any order. Only fields with defaults may be added or deleted.
    Full,
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compatibility::Backward => "backward",
            Compatibility::Forward => "forward",
            Compatibility::Full => "full",
        })
    }
}

/// Where a schema for [`compatible`] comes from.
///
/// Usually built implicitly through `From`: a parsed [`Schema`](apache_avro::Schema), a JSON
/// `&str` / `&String` (the schema text itself, never a path), or a `&Path` / `&PathBuf` to an
/// `.avsc` file.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum SchemaSource<'a> {
    /// An already parsed schema; used as is.
    Parsed(&'a Schema),
    /// Avro schema JSON text, parsed with `Schema::parse_str`.
    Json(&'a str),
    /// An `.avsc` file, read and parsed. The file must be self-contained (no references to
    /// named types defined in other files).
    File(&'a Path),
}

impl<'a> From<&'a Schema> for SchemaSource<'a> {
    fn from(schema: &'a Schema) -> Self {
        SchemaSource::Parsed(schema)
    }
}

impl<'a> From<&'a str> for SchemaSource<'a> {
    fn from(json: &'a str) -> Self {
        SchemaSource::Json(json)
    }
}

impl<'a> From<&'a String> for SchemaSource<'a> {
    fn from(json: &'a String) -> Self {
        SchemaSource::Json(json)
    }
}

impl<'a> From<&'a Path> for SchemaSource<'a> {
    fn from(path: &'a Path) -> Self {
        SchemaSource::File(path)
    }
}

impl<'a> From<&'a PathBuf> for SchemaSource<'a> {
    fn from(path: &'a PathBuf) -> Self {
        SchemaSource::File(path)
    }
}

impl<'a> SchemaSource<'a> {
    /// Parses (or borrows) the schema. `role` is `old` or `new`, for the error.
    fn load(self, role: &'static str) -> Result<Cow<'a, Schema>, Incompatibility> {
        let load_err = |origin: String, source: BoxError| Incompatibility::Load {
            role,
            origin,
            source,
        };
        super::names::install_lenient_names();
        match self {
            SchemaSource::Parsed(schema) => Ok(Cow::Borrowed(schema)),
            SchemaSource::Json(json) => super::names::parse_schema(json)
                .map(Cow::Owned)
                .map_err(|e| load_err("inline JSON".to_owned(), e)),
            SchemaSource::File(path) => {
                let origin = || format!("file `{}`", path.display());
                let text =
                    std::fs::read_to_string(path).map_err(|e| load_err(origin(), e.into()))?;
                super::names::parse_schema(&text)
                    .map(Cow::Owned)
                    .map_err(|e| load_err(origin(), e))
            }
        }
    }
}

/// Why [`compatible`] said no.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatibility {
    /// Avro schema resolution fails in one direction: the reader schema cannot read data
    /// written with the writer schema. Display, e.g.:
    /// ``backward: reader field `com.example.Widget.price` has no default and is missing from
    /// the writer schema``.
    #[error("{direction}: {reason}")]
    Resolution {
        /// The direction that failed: [`Compatibility::Backward`] (reader = new, writer = old)
        /// or [`Compatibility::Forward`] (reader = old, writer = new); never `Full`.
        direction: Compatibility,
        /// Dotted path to the offending part: the reader's full name followed by field names,
        /// e.g. `com.example.Widget.dimensions.width`. `None` when the top-level schema is
        /// unnamed.
        path: Option<String>,
        /// What does not resolve, naming the field, types, symbols or union branches involved.
        reason: String,
    },
    /// One of the two schemas could not be read or parsed.
    #[error("could not load the {role} schema from {origin}")]
    Load {
        /// `old` or `new`.
        role: &'static str,
        /// ``file `<path>` `` or `inline JSON`.
        origin: String,
        /// The I/O error or apache-avro's parse error.
        #[source]
        source: BoxError,
    },
}

impl Incompatibility {
    /// The direction that failed, or `None` when a schema could not be loaded.
    pub fn direction(&self) -> Option<Compatibility> {
        match self {
            Incompatibility::Resolution { direction, .. } => Some(*direction),
            Incompatibility::Load { .. } => None,
        }
    }

    /// The dotted path to the offending field or type, when known.
    pub fn path(&self) -> Option<&str> {
        match self {
            Incompatibility::Resolution { path, .. } => path.as_deref(),
            Incompatibility::Load { .. } => None,
        }
    }
}

/// Checks that `new` is a compatible evolution of `old` at the given level.
///
/// Inputs are anything that converts into a [`SchemaSource`]: `&apache_avro::Schema`, schema
/// JSON as `&str`, or an `.avsc` path as `&Path`. [`Compatibility::Backward`] checks that `new`
/// can read `old`'s data, [`Compatibility::Forward`] that `old` can read `new`'s data, and
/// [`Compatibility::Full`] checks backward first, then forward.
///
/// Resolution rules come from the Avro specification ("Schema Resolution"), applied by
/// apache-avro's `SchemaCompatibility::can_read`. Its known limits (0.21) carry over:
/// - named types are matched by simple name only: a namespace change passes, type aliases are
///   not honoured;
/// - an enum `default` does not make missing writer symbols acceptable (the spec says it does).
///
/// Decimals, which apache-avro's checker cannot compare, are checked here by the spec's rule:
/// precision and scale must be equal.
///
/// # Errors
/// - [`Incompatibility::Load`] when `old` or `new` is a file that cannot be read, or is not a
///   valid Avro schema; it names the file (or `inline JSON`).
/// - [`Incompatibility::Resolution`] for the first direction that fails, with the path of the
///   field at fault and a readable reason.
///
/// # Examples
/// ```
/// use deimos::schema::{compatible, Compatibility};
///
/// let v1 = r#"{"type":"record","name":"Widget","namespace":"com.example",
///              "fields":[{"name":"id","type":"long"}]}"#;
/// let v2 = r#"{"type":"record","name":"Widget","namespace":"com.example",
///              "fields":[{"name":"id","type":"long"},{"name":"price","type":"double"}]}"#;
///
/// assert!(compatible(v1, v2, Compatibility::Forward).is_ok());
/// let err = compatible(v1, v2, Compatibility::Backward).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "backward: reader field `com.example.Widget.price` has no default and is missing \
///      from the writer schema"
/// );
/// ```
pub fn compatible<'o, 'n>(
    old: impl Into<SchemaSource<'o>>,
    new: impl Into<SchemaSource<'n>>,
    mode: Compatibility,
) -> Result<(), Incompatibility> {
    let old = old.into().load("old")?;
    let new = new.into().load("new")?;
    if matches!(mode, Compatibility::Backward | Compatibility::Full) {
        check(Compatibility::Backward, &old, &new)?;
    }
    if matches!(mode, Compatibility::Forward | Compatibility::Full) {
        check(Compatibility::Forward, &new, &old)?;
    }
    Ok(())
}

/// One direction: can `reader` read `writer`'s data?
///
/// apache-avro 0.21's checker has no rule for `decimal` against `decimal` (it reports a schema
/// with a decimal incompatible even with itself), so decimals are checked here by the Avro
/// specification's rule — two decimals match when their precision and scale match — and the
/// rest by apache-avro on the schemas with decimals replaced by their underlying `bytes` or
/// `fixed`.
fn check(
    direction: Compatibility,
    writer: &Schema,
    reader: &Schema,
) -> Result<(), Incompatibility> {
    let top = reader.name().map(|n| n.fullname(None));
    let (writer, writer_decimals) = without_decimals(writer);
    let (reader, reader_decimals) = without_decimals(reader);
    for (path, r) in &reader_decimals {
        if let Some((_, w)) = writer_decimals.iter().find(|(p, _)| p == path) {
            if w != r {
                let path = match &top {
                    Some(t) if !path.is_empty() => format!("{t}.{path}"),
                    Some(t) => t.clone(),
                    None => path.clone(),
                };
                return Err(Incompatibility::Resolution {
                    direction,
                    reason: format!(
                        "`{path}`: writer type `decimal({}, {})` does not match reader type \
                         `decimal({}, {})`: precision and scale must be equal (Avro \
                         specification, Schema Resolution)",
                        w.0, w.1, r.0, r.1
                    ),
                    path: Some(path),
                });
            }
        }
    }
    let (writer, reader) = (writer.as_ref(), reader.as_ref());
    let Err(err) = SchemaCompatibility::can_read(writer, reader) else {
        return Ok(());
    };
    let (path, reason) = explain(&err, Some(writer), Some(reader), top);
    Err(Incompatibility::Resolution {
        direction,
        path,
        reason,
    })
}

/// Precision and scale of each decimal, by field path (`a.b`, empty for the top level).
type Decimals = Vec<(String, (u64, u64))>;

/// `schema` with every `decimal` replaced by its underlying `bytes` or `fixed`, and where the
/// decimals were. Borrows `schema` when it has none.
fn without_decimals(schema: &Schema) -> (Cow<'_, Schema>, Decimals) {
    let Ok(mut json) = serde_json::to_value(schema) else {
        return (Cow::Borrowed(schema), Vec::new());
    };
    let mut found = Vec::new();
    strip_decimals(&mut json, "", &mut found);
    if found.is_empty() {
        return (Cow::Borrowed(schema), found);
    }
    match super::names::parse_schema_json(&json) {
        Ok(stripped) => (Cow::Owned(stripped), found),
        Err(_) => (Cow::Borrowed(schema), Vec::new()),
    }
}

fn strip_decimals(json: &mut serde_json::Value, path: &str, found: &mut Decimals) {
    use serde_json::Value as J;
    let child = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match json {
        J::Array(branches) => {
            for b in branches {
                strip_decimals(b, path, found);
            }
        }
        J::Object(map) => {
            if map.get("logicalType").and_then(J::as_str) == Some("decimal") {
                let n = |k: &str| map.get(k).and_then(J::as_u64).unwrap_or(0);
                found.push((path.to_owned(), (n("precision"), n("scale"))));
                map.remove("logicalType");
                map.remove("precision");
                map.remove("scale");
            }
            if let Some(J::Array(fields)) = map.get_mut("fields") {
                for field in fields {
                    let name = field
                        .get("name")
                        .and_then(J::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(ty) = field.get_mut("type") {
                        strip_decimals(ty, &child(&name), found);
                    }
                }
            }
            for key in ["items", "values"] {
                if let Some(inner) = map.get_mut(key) {
                    strip_decimals(inner, path, found);
                }
            }
            if let Some(inner @ (J::Object(_) | J::Array(_))) = map.get_mut("type") {
                strip_decimals(inner, path, found);
            }
        }
        _ => {}
    }
}

/// Walks apache-avro's error chain alongside both schemas, building the field path, and
/// describes the failure at the end of the chain.
fn explain(
    err: &CompatibilityError,
    writer: Option<&Schema>,
    reader: Option<&Schema>,
    path: Option<String>,
) -> (Option<String>, String) {
    let join = |name: &str| match &path {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    };
    let at = match &path {
        Some(p) => format!("`{p}`"),
        None => "the top-level schema".to_owned(),
    };
    let types = |what: &str| match (writer, reader) {
        (Some(w), Some(r)) => format!(
            "{at}: writer type `{}` {what} reader type `{}`",
            describe(w),
            describe(r)
        ),
        _ => format!("{at}: {err}"),
    };
    let reason = match err {
        CompatibilityError::FieldTypeMismatch(name, inner) => {
            let reader_field = reader.and_then(|r| field_of(r, &[name.as_str()]));
            let writer_field = reader_field.and_then(|rf| {
                let mut names = vec![rf.name.as_str()];
                names.extend(rf.aliases.iter().flatten().map(String::as_str));
                writer.and_then(|w| field_of(w, &names))
            });
            return explain(
                inner,
                writer_field.map(|f| &f.schema),
                reader_field.map(|f| &f.schema),
                Some(join(name)),
            );
        }
        CompatibilityError::MissingDefaultValue(name) => {
            let field = join(name);
            let reason = format!(
                "reader field `{field}` has no default and is missing from the writer schema"
            );
            return (Some(field), reason);
        }
        CompatibilityError::MissingSymbols => {
            match (writer.and_then(enum_of), reader.and_then(enum_of)) {
                (Some((_, w_symbols)), Some((r_name, r_symbols))) => {
                    let missing: Vec<String> = w_symbols
                        .iter()
                        .filter(|s| !r_symbols.contains(s))
                        .map(|s| format!("`{s}`"))
                        .collect();
                    format!(
                        "{at}: reader enum `{r_name}` lacks writer symbol(s) {}",
                        missing.join(", ")
                    )
                }
                _ => format!("{at}: the reader enum lacks some of the writer's symbols"),
            }
        }
        CompatibilityError::MissingUnionElements => match (writer, reader) {
            (Some(Schema::Union(w)), Some(r)) => unreadable_branches(&at, w, r),
            _ => types("matches no branch of"),
        },
        CompatibilityError::FixedMismatch => match (writer, reader) {
            (Some(Schema::Fixed(w)), Some(Schema::Fixed(r))) => format!(
                "{at}: writer fixed `{}` ({} bytes) and reader fixed `{}` ({} bytes) differ in \
                 name or size",
                w.name.fullname(None),
                w.size,
                r.name.fullname(None),
                r.size
            ),
            _ => format!("{at}: fixed types differ in name or size"),
        },
        CompatibilityError::NameMismatch {
            writer_name,
            reader_name,
        } => format!(
            "{at}: writer type `{writer_name}` and reader type `{reader_name}` have different \
             names"
        ),
        CompatibilityError::WrongType { .. } | CompatibilityError::TypeExpected { .. } => {
            types("cannot be read as")
        }
        // apache-avro gives up on type pairs it has no rule for. Nearly all are real mismatches
        // (`record` vs `string`), but a writer union against a non-union reader and two
        // schemas of the same kind (`decimal` vs `decimal`) land here too.
        CompatibilityError::Inconclusive(_) => match (writer, reader) {
            (Some(Schema::Union(w)), Some(r)) => unreadable_branches(&at, w, r),
            (Some(w), Some(r)) if std::mem::discriminant(w) == std::mem::discriminant(r) => {
                format!(
                    "{at}: apache-avro cannot compare writer type `{}` with reader type `{}` \
                     (a limitation of its checker, not an Avro rule)",
                    describe(w),
                    describe(r)
                )
            }
            _ => types("cannot be read as"),
        },
    };
    (path, reason)
}

/// ``<at>: writer union branch(es) `a`, `b` cannot be read as reader type `r` ``.
fn unreadable_branches(
    at: &str,
    writer: &apache_avro::schema::UnionSchema,
    reader: &Schema,
) -> String {
    let unreadable: Vec<String> = writer
        .variants()
        .iter()
        .filter(|branch| SchemaCompatibility::can_read(branch, reader).is_err())
        .map(|branch| format!("`{}`", describe(branch)))
        .collect();
    format!(
        "{at}: writer union branch(es) {} cannot be read as reader type `{}`",
        unreadable.join(", "),
        describe(reader)
    )
}

/// The record field named one of `names`, in `schema` or the first record inside it
/// (through unions, arrays and maps) that has one.
fn field_of<'s>(
    schema: &'s Schema,
    names: &[&str],
) -> Option<&'s apache_avro::schema::RecordField> {
    match schema {
        Schema::Record(record) => names
            .iter()
            .find_map(|n| record.lookup.get(*n))
            .map(|&i| &record.fields[i]),
        Schema::Union(u) => u.variants().iter().find_map(|v| field_of(v, names)),
        Schema::Array(a) => field_of(&a.items, names),
        Schema::Map(m) => field_of(&m.types, names),
        _ => None,
    }
}

/// The enum's full name and symbols, in `schema` or the first enum inside it.
fn enum_of(schema: &Schema) -> Option<(String, &[String])> {
    match schema {
        Schema::Enum(e) => Some((e.name.fullname(None), &e.symbols)),
        Schema::Union(u) => u.variants().iter().find_map(enum_of),
        Schema::Array(a) => enum_of(&a.items),
        Schema::Map(m) => enum_of(&m.types),
        _ => None,
    }
}

/// A short type name for messages: `long`, `array<string>`, `["null", string]`, or a named
/// type's full name.
fn describe(schema: &Schema) -> String {
    let simple = match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes => "bytes",
        Schema::String => "string",
        Schema::BigDecimal => "big-decimal",
        Schema::Uuid => "uuid",
        Schema::Date => "date",
        Schema::TimeMillis => "time-millis",
        Schema::TimeMicros => "time-micros",
        Schema::TimestampMillis => "timestamp-millis",
        Schema::TimestampMicros => "timestamp-micros",
        Schema::TimestampNanos => "timestamp-nanos",
        Schema::LocalTimestampMillis => "local-timestamp-millis",
        Schema::LocalTimestampMicros => "local-timestamp-micros",
        Schema::LocalTimestampNanos => "local-timestamp-nanos",
        Schema::Duration => "duration",
        Schema::Array(a) => return format!("array<{}>", describe(&a.items)),
        Schema::Map(m) => return format!("map<{}>", describe(&m.types)),
        Schema::Union(u) => {
            let branches: Vec<String> = u.variants().iter().map(describe).collect();
            return format!("[{}]", branches.join(", "));
        }
        Schema::Decimal(d) => return format!("decimal({}, {})", d.precision, d.scale),
        Schema::Record(_) | Schema::Enum(_) | Schema::Fixed(_) | Schema::Ref { .. } => {
            return schema.name().map(|n| n.fullname(None)).unwrap_or_default()
        }
    };
    simple.to_owned()
}
