//! Finding, reading and checking `.avsc` files at compile time.
//!
//! `com.example.Widget` lives in `<dir>/com/example/Widget.avsc`, where `<dir>` is the first of
//! these `schemas` directories that holds the file:
//!
//! 1. `$CARGO_MANIFEST_DIR/schemas`, then `schemas` in each parent directory, up to and including
//!    the workspace root (the first directory whose `Cargo.toml` has a `[workspace]` table), so
//!    every crate of a workspace finds the workspace's `schemas/`;
//! 2. when the file that uses the attribute lies outside `$CARGO_MANIFEST_DIR` (trybuild copies a
//!    test case's crate into `target/`, but keeps the `.rs` file where it is), the same walk from
//!    that file's directory.
//!
//! No network access: registry checks happen at runtime.

use std::fmt;
use std::path::{Path, PathBuf};

use apache_avro::schema::{ResolvedSchema, Schema};
use syn::LitStr;

use super::args::code_list;
use super::kind::Kind;
use super::kw;

/// A schema's full name (Avro spec, "Names").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaName {
    /// The simple name, e.g. `Widget`.
    pub(crate) name: String,
    /// The namespace, e.g. `com.example`; `None` for the null namespace.
    pub(crate) namespace: Option<String>,
}

impl SchemaName {
    /// Resolves `schema = "..."` (a full name, or a simple name with `namespace = "..."`).
    pub(crate) fn resolve(
        schema: &LitStr,
        namespace: Option<&(kw::namespace, LitStr)>,
    ) -> syn::Result<SchemaName> {
        let value = schema.value();
        check_name(&value, "schema name").map_err(|msg| syn::Error::new(schema.span(), msg))?;
        match (value.rsplit_once('.'), namespace) {
            (Some((namespace, name)), None) => Ok(SchemaName {
                name: name.to_owned(),
                namespace: Some(namespace.to_owned()),
            }),
            (Some(_), Some((key, _))) => Err(syn::Error::new(
                key.span,
                format_args!(
                    "`namespace` cannot be combined with the full schema name `{value}`; drop \
                     `namespace`, or use the simple name in `schema`"
                ),
            )),
            (None, Some((_, namespace))) => {
                let ns = namespace.value();
                check_name(&ns, "namespace")
                    .map_err(|msg| syn::Error::new(namespace.span(), msg))?;
                Ok(SchemaName {
                    name: value,
                    namespace: Some(ns),
                })
            }
            (None, None) => Ok(SchemaName {
                name: value,
                namespace: None,
            }),
        }
    }

    /// `key_config(schema = "Widget_key")`: a simple name in this schema's namespace.
    pub(crate) fn sibling(&self, key_schema: &LitStr) -> syn::Result<SchemaName> {
        let value = key_schema.value();
        let error = |msg: String| syn::Error::new(key_schema.span(), msg);
        check_name(&value, "key schema name").map_err(error)?;
        if value.contains('.') {
            return Err(error(format!(
                "key schema `{value}` must be a simple name; it is looked up in the namespace of \
                 the value schema (`{}`)",
                self.namespace.as_deref().unwrap_or("")
            )));
        }
        Ok(SchemaName {
            name: value,
            namespace: self.namespace.clone(),
        })
    }

    /// `com/example/Widget.avsc`
    pub(crate) fn relative_path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}.avsc", ns.replace('.', "/"), self.name),
            None => format!("{}.avsc", self.name),
        }
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Avro names: dot-separated parts, each `[A-Za-z_][A-Za-z0-9_]*`; namespace parts may also
/// contain `-` after their first character, as Deimos schema trees do (Ruby's Avro accepted it;
/// see `deimos::schema::names`). Also keeps paths inside the schema directory.
fn check_name(value: &str, what: &str) -> Result<(), String> {
    let part = |part: &str, hyphens: bool| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (hyphens && c == '-'))
    };
    let valid = match value.rsplit_once('.') {
        _ if what == "namespace" => value.split('.').all(|p| part(p, true)),
        Some((namespace, name)) => part(name, false) && namespace.split('.').all(|p| part(p, true)),
        None => part(value, false),
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} `{value}`: expected dot-separated parts matching \
             `[A-Za-z_][A-Za-z0-9_]*`, e.g. `com.example.Widget`"
        ))
    }
}

/// Lets apache-avro parse Deimos' hyphenated namespaces in this (compiler) process, as
/// `deimos::schema::names::install_lenient_names` does at run time. The same rules as
/// [`check_name`].
fn install_lenient_names() {
    use apache_avro::schema::Namespace;
    use apache_avro::validator::{SchemaNameValidator, SchemaNamespaceValidator};
    use apache_avro::AvroResult;

    struct Lenient;
    impl SchemaNamespaceValidator for Lenient {
        fn validate(&self, ns: &str) -> AvroResult<()> {
            check_name(ns, "namespace").map_err(|_| {
                apache_avro::error::Details::InvalidNamespace(ns.to_owned(), "lenient").into()
            })
        }
    }
    impl SchemaNameValidator for Lenient {
        fn validate(&self, name: &str) -> AvroResult<(String, Namespace)> {
            check_name(name, "schema name").map_err(|_| {
                apache_avro::Error::from(apache_avro::error::Details::InvalidSchemaName(
                    name.to_owned(),
                    "lenient",
                ))
            })?;
            Ok(match name.rsplit_once('.') {
                Some((ns, simple)) => (simple.to_owned(), Some(ns.to_owned())),
                None => (name.to_owned(), None),
            })
        }
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = apache_avro::validator::set_schema_namespace_validator(Box::new(Lenient));
        let _ = apache_avro::validator::set_schema_name_validator(Box::new(Lenient));
    });
}

/// The `schemas` directories to search, in order.
#[derive(Debug)]
pub(crate) struct SchemaDirs {
    manifest_dir: PathBuf,
    candidates: Vec<PathBuf>,
}

impl SchemaDirs {
    /// From `CARGO_MANIFEST_DIR` and the file that uses the attribute.
    pub(crate) fn from_env() -> SchemaDirs {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let source_dir = call_site_file().and_then(|file| file.parent().map(Path::to_owned));
        SchemaDirs::new(manifest_dir, source_dir.as_deref())
    }

    pub(crate) fn new(manifest_dir: PathBuf, source_dir: Option<&Path>) -> SchemaDirs {
        let mut candidates = walk_up(&manifest_dir);
        if let Some(source_dir) = source_dir {
            if !canonical(source_dir).starts_with(canonical(&manifest_dir)) {
                for dir in walk_up(source_dir) {
                    if !candidates.contains(&dir) {
                        candidates.push(dir);
                    }
                }
            }
        }
        SchemaDirs {
            manifest_dir,
            candidates,
        }
    }

    /// The path of `relative` in the first directory that has it, or an error message saying
    /// where it looked.
    pub(crate) fn find(&self, relative: &str) -> Result<PathBuf, String> {
        if let Some(found) = self
            .candidates
            .iter()
            .map(|dir| dir.join(relative))
            .find(|path| path.is_file())
        {
            return Ok(found);
        }
        let existing: Vec<_> = self
            .candidates
            .iter()
            .filter(|dir| dir.is_dir())
            .map(|dir| dir.display())
            .collect();
        if existing.is_empty() {
            Err(format!(
                "schema file `{relative}` not found: there is no `schemas` directory in `{}` or \
                 its parent directories",
                self.manifest_dir.display()
            ))
        } else {
            Err(format!(
                "schema file `{relative}` not found (looked in {})",
                code_list(existing)
            ))
        }
    }
}

/// `<dir>/schemas` for `dir` and its parents, up to the workspace root.
fn walk_up(start: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for dir in start.ancestors() {
        dirs.push(dir.join("schemas"));
        if is_workspace_root(dir) {
            break;
        }
    }
    dirs
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|manifest| {
        manifest.lines().any(|line| {
            let line = line.trim_start();
            line.starts_with("[workspace]") || line.starts_with("[workspace.")
        })
    })
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The source file holding the attribute, made absolute (rustc's working directory is the base
/// of relative paths). `None` outside a macro expansion (unit tests).
fn call_site_file() -> Option<PathBuf> {
    if !proc_macro::is_available() {
        return None;
    }
    let file = proc_macro::Span::call_site().local_file()?;
    if file.is_absolute() {
        Some(file)
    } else {
        std::env::current_dir().ok().map(|cwd| cwd.join(file))
    }
}

/// A loaded and parsed record schema.
#[derive(Debug)]
pub(crate) struct SchemaFile {
    pub(crate) name: SchemaName,
    /// Absolute path of the `.avsc` file.
    pub(crate) path: PathBuf,
    pub(crate) fields: Vec<SchemaField>,
}

/// One field of a record schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaField {
    pub(crate) name: String,
    pub(crate) has_default: bool,
    pub(crate) kind: Kind,
}

impl SchemaFile {
    /// Finds, reads and parses the schema `name`; errors are spanned on `lit`.
    pub(crate) fn load(name: SchemaName, lit: &LitStr, dirs: &SchemaDirs) -> syn::Result<Self> {
        let error = |msg: String| syn::Error::new(lit.span(), msg);
        let path = dirs.find(&name.relative_path()).map_err(error)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| error(format!("cannot read schema file `{}`: {e}", path.display())))?;
        let fields = parse_record(&name, &text)
            .map_err(|msg| error(format!("schema file `{}` {msg}", path.display())))?;
        Ok(SchemaFile { name, path, fields })
    }

    pub(crate) fn field(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// `` `id`, `name`, … `` for messages.
    pub(crate) fn field_list(&self) -> String {
        code_list(self.fields.iter().map(|field| &field.name))
    }
}

/// Parses `text` as a record schema named `expected`. The error completes
/// "schema file `<path>` ...".
fn parse_record(expected: &SchemaName, text: &str) -> Result<Vec<SchemaField>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
    // apache-avro 0.21 panics (rather than erring) on a few malformed names; report those as
    // invalid schemas instead of crashing the compiler.
    install_lenient_names();
    let schema = std::panic::catch_unwind(|| Schema::parse(&json))
        .map_err(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("parser panicked");
            format!("is not a valid Avro schema: {reason}")
        })?
        .map_err(|e| format!("is not a valid Avro schema: {e}"))?;
    let Schema::Record(record) = &schema else {
        return Err(format!(
            "is of type `{}`; `{expected}` must be a `record`",
            type_name(&schema)
        ));
    };
    let found = SchemaName {
        name: record.name.name.clone(),
        namespace: record.name.namespace.clone(),
    };
    if found != *expected {
        return Err(format!(
            "defines `{found}`, expected `{expected}` (the file's `name` and `namespace` must \
             match its path)"
        ));
    }
    let resolved = ResolvedSchema::try_from(&schema)
        .map_err(|e| format!("is not a valid Avro schema: {e}"))?;
    Ok(record
        .fields
        .iter()
        .map(|field| SchemaField {
            name: field.name.clone(),
            has_default: field.default.is_some(),
            kind: Kind::of(&field.schema, resolved.get_names()),
        })
        .collect())
}

/// The Avro type name of a non-record top-level schema, for messages.
fn type_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Enum(_) => "enum",
        Schema::Fixed(_) | Schema::Duration => "fixed",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date | Schema::TimeMillis => "int",
        Schema::String | Schema::Uuid => "string",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::Decimal(_) | Schema::BigDecimal => "bytes",
        Schema::Ref { .. } => "named reference",
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn name(ns: Option<&str>, name: &str) -> SchemaName {
        SchemaName {
            name: name.to_owned(),
            namespace: ns.map(str::to_owned),
        }
    }

    #[test]
    fn resolves_full_and_simple_names() {
        let full: LitStr = parse_quote!("com.example.Widget");
        assert_eq!(
            SchemaName::resolve(&full, None).unwrap(),
            name(Some("com.example"), "Widget")
        );
        let simple: LitStr = parse_quote!("Widget");
        assert_eq!(
            SchemaName::resolve(&simple, None).unwrap(),
            name(None, "Widget")
        );
        let ns = (kw::namespace::default(), parse_quote!("com.example"));
        assert_eq!(
            SchemaName::resolve(&simple, Some(&ns)).unwrap(),
            name(Some("com.example"), "Widget")
        );
        let err = SchemaName::resolve(&full, Some(&ns)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("`namespace` cannot be combined"));
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in [
            "",
            "../etc/passwd",
            "com..Widget",
            "1Widget",
            "com.example.",
            "a-b",
        ] {
            let lit = LitStr::new(bad, proc_macro2::Span::call_site());
            let err = SchemaName::resolve(&lit, None).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid schema name `{bad}`")),
                "{err}"
            );
        }
        let ns = (kw::namespace::default(), parse_quote!("com/example"));
        let err = SchemaName::resolve(&parse_quote!("Widget"), Some(&ns)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid namespace `com/example`"));
    }

    #[test]
    fn key_schema_is_a_sibling() {
        let value = name(Some("com.example"), "Widget");
        assert_eq!(
            value.sibling(&parse_quote!("Widget_key")).unwrap(),
            name(Some("com.example"), "Widget_key")
        );
        let err = value
            .sibling(&parse_quote!("com.example.Widget_key"))
            .unwrap_err();
        assert!(err.to_string().contains("must be a simple name"), "{err}");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            name(Some("com.example"), "Widget").relative_path(),
            "com/example/Widget.avsc"
        );
        assert_eq!(name(None, "Widget").relative_path(), "Widget.avsc");
    }

    #[test]
    fn parses_records() {
        let fields = parse_record(
            &name(Some("com.example"), "R"),
            r#"{"type": "record", "name": "R", "namespace": "com.example", "fields": [
                {"name": "id", "type": "long"},
                {"name": "note", "type": ["null", "string"], "default": null}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            fields,
            [
                SchemaField {
                    name: "id".into(),
                    has_default: false,
                    kind: Kind::Long
                },
                SchemaField {
                    name: "note".into(),
                    has_default: true,
                    kind: Kind::Nullable(Box::new(Kind::Str))
                },
            ]
        );
        // A full name in `name` overrides `namespace` (Avro spec).
        assert!(parse_record(
            &name(Some("a.b"), "R"),
            r#"{"type": "record", "name": "a.b.R", "namespace": "x", "fields": []}"#
        )
        .is_ok());
    }

    #[test]
    fn reports_bad_files() {
        let expected = name(Some("com.example"), "R");
        let err = parse_record(&expected, "{").unwrap_err();
        assert!(err.starts_with("is not valid JSON: EOF"), "{err}");
        let err = parse_record(&expected, r#"{"type": "recrod"}"#).unwrap_err();
        assert!(err.starts_with("is not a valid Avro schema"), "{err}");
        let err = parse_record(
            &expected,
            r#"{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int", "default": "no"}]}"#,
        )
        .unwrap_err();
        assert!(err.starts_with("is not a valid Avro schema"), "{err}");
        let err = parse_record(
            &expected,
            r#"{"type": "record", "name": "Other", "namespace": "com.example", "fields": []}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "defines `com.example.Other`, expected `com.example.R` (the file's `name` and \
             `namespace` must match its path)"
        );
        let err = parse_record(
            &expected,
            r#"{"type": "enum", "name": "R", "namespace": "com.example", "symbols": ["A"]}"#,
        )
        .unwrap_err();
        assert_eq!(err, "is of type `enum`; `com.example.R` must be a `record`");
    }

    #[test]
    fn searches_manifest_dir_then_parents_up_to_the_workspace_root() {
        let root = std::env::temp_dir().join(format!("deimos-macros-test-{}", std::process::id()));
        let ws = root.join("ws");
        let member = ws.join("member");
        for dir in [
            member.join("schemas/com/example"),
            ws.join("schemas/com/example"),
            root.join("schemas"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(
            ws.join("Cargo.toml"),
            "[workspace]\nmembers = [\"member\"]\n",
        )
        .unwrap();
        std::fs::write(member.join("schemas/com/example/A.avsc"), "{}").unwrap();
        std::fs::write(ws.join("schemas/com/example/A.avsc"), "{}").unwrap();
        std::fs::write(ws.join("schemas/com/example/B.avsc"), "{}").unwrap();
        std::fs::write(root.join("schemas/C.avsc"), "{}").unwrap();

        let dirs = SchemaDirs::new(member.clone(), None);
        assert_eq!(
            dirs.find("com/example/A.avsc").unwrap(),
            member.join("schemas/com/example/A.avsc")
        );
        assert_eq!(
            dirs.find("com/example/B.avsc").unwrap(),
            ws.join("schemas/com/example/B.avsc")
        );
        // Above the workspace root is not searched.
        let err = dirs.find("C.avsc").unwrap_err();
        assert_eq!(
            err,
            format!(
                "schema file `C.avsc` not found (looked in `{}`, `{}`)",
                member.join("schemas").display(),
                ws.join("schemas").display()
            )
        );

        // A source file outside the manifest dir adds its own walk (trybuild).
        let copied = root.join("target/tests/trybuild/member");
        std::fs::create_dir_all(&copied).unwrap();
        std::fs::write(copied.join("Cargo.toml"), "[workspace]\n").unwrap();
        let dirs = SchemaDirs::new(copied.clone(), Some(&member.join("tests/ui")));
        assert_eq!(
            dirs.find("com/example/B.avsc").unwrap(),
            ws.join("schemas/com/example/B.avsc")
        );
        let err = SchemaDirs::new(copied.clone(), None)
            .find("B.avsc")
            .unwrap_err();
        assert_eq!(
            err,
            format!(
                "schema file `B.avsc` not found: there is no `schemas` directory in `{}` or its \
                 parent directories",
                copied.display()
            )
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
