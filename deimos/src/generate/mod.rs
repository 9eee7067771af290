//! Generators behind the `deimos` command-line tool (feature `cli`): source files from schemas.
//!
//! [`entity`] is Deimos' `rails g deimos:active_record TABLE FULL_SCHEMA_NAME` for SeaORM
//! (`deimos generate entity <table> <full.schema.Name>`): a SeaORM entity (`<table>.rs`) and a
//! sea-orm-migration migration (`m<YYYYMMDD_HHMMSS>_create_<table>.rs`) for a table that holds
//! a record schema's messages. [`outbox_migration`] is Deimos' `rails g deimos:db_backend`
//! (`deimos generate migration outbox`): the transactional outbox's tables; [`poller_migration`]
//! is Deimos' `rails g deimos:db_poller` (`deimos generate migration poller`): `poll_info`.
//! The functions here
//! only return the files' text ([`Generated`], [`GeneratedMigration`]); the binary writes them.
//!
//! # Columns
//!
//! As in Deimos' generator (`lib/generators/deimos/active_record`), the table has one column
//! per schema field, named as the field, so deimos' entity producers and consumers map fields
//! to columns by name; the fields `id`, `message_id` and `timestamp` are left out, and the
//! table gets an auto-increment big-integer `id` primary key (Rails' `create_table`). With
//! [`GenerateEntity::primary_key`] the named fields form the (compound) primary key instead of
//! `id`: entity consumers find rows by primary key, a compound key by the key record's fields
//! of the same names. Then the schema's own `id` field is an ordinary column, and a skipped
//! field named as a key field is kept.
//!
//! A column is nullable when its field's type is a union with `null`. Rust field names are
//! the field names in snake_case (`updatedAt` → `updated_at`, keywords as raw identifiers:
//! `r#type`); where that differs from the Avro name the entity says `column_name = "<avro
//! name>"`, so the column keeps the Avro name.
//!
//! | Avro | Rust (SeaORM prelude) | SeaORM `ColumnType` | PostgreSQL | MySQL / MariaDB | SQLite |
//! |---|---|---|---|---|---|
//! | `boolean` | `bool` | `Boolean` | `bool` | `bool` | `boolean` |
//! | `int` | `i32` | `Integer` | `integer` | `int` | `integer` |
//! | `long` | `i64` | `BigInteger` | `bigint` | `bigint` | `integer` |
//! | `float` | `f32` | `Float` | `real` | `float` | `float` |
//! | `double` | `f64` | `Double` | `double precision` | `double` | `double` |
//! | `string`, `enum` (its symbol), `big-decimal` (its decimal text) | `String` | `Text`; in a primary key `String(StringLen::None)` | `text`; `varchar` | `text`; `varchar(255)` | `text`; `varchar` |
//! | `bytes`, `fixed` over 255 bytes | `Vec<u8>` | `Blob`; in a primary key `VarBinary(StringLen::N(255))` | `bytea` | `blob`; `varbinary(255)` | `blob` |
//! | `fixed` (n ≤ 255), `duration` (fixed 12) | `Vec<u8>` | `Binary(n)` | `bytea` | `binary(n)` | `blob(n)` |
//! | `decimal(p, s)`, p ≤ 28 | `Decimal` (rust_decimal) | `Decimal(Some((p, s)))` | `decimal(p, s)` | `decimal(p, s)` | `real(p, s)` |
//! | `decimal(p, s)`, p > 28 | `BigDecimal` | `Decimal(Some((p, s)))` | `decimal(p, s)` | `decimal(p, s)` | `real(p, s)` |
//! | `uuid` | `Uuid` | `Uuid` | `uuid` | `binary(16)` | `uuid_text` (text) |
//! | `date` | `Date` (chrono `NaiveDate`) | `Date` | `date` | `date` | `date_text` |
//! | `time-millis`, `time-micros` | `Time` (`NaiveTime`) | `Time` | `time` | `time(6)` | `time_text` |
//! | `timestamp-millis`, `-micros`, `-nanos` | `DateTimeUtc` | `TimestampWithTimeZone` | `timestamp with time zone` | `datetime(6)` | `timestamp_with_timezone_text` |
//! | `local-timestamp-*` | `DateTime` (`NaiveDateTime`) | `DateTime` | `timestamp without time zone` | `datetime(6)` | `datetime_text` |
//! | `record`, `array`, `map`, a union of several non-null types, `null` | `Json` (`serde_json::Value`) | `Json` | `json` | `json` | `json_text` |
//!
//! Complex types become JSON columns where the database has a JSON type and text elsewhere:
//! sea-query writes `ColumnType::Json` as `json` on PostgreSQL and on MySQL (where MariaDB
//! makes it a `longtext` with a `json_valid` check) and as `json_text` on SQLite, a declared
//! type SQLite gives text affinity; the JSON is stored as text there. Deimos' generator does
//! the same (`:json` when the connection `supports_json?`, `:string` otherwise).
//!
//! Limits of the column types, left as they are:
//! - MySQL and MariaDB keep whole seconds in `time`, `datetime` and `timestamp` columns unless
//!   one declares a fractional-seconds precision, and their `timestamp` ends in 2038 (and, with
//!   `explicit_defaults_for_timestamp` off, updates itself): the migration makes timestamp
//!   columns `datetime(6)` and time columns `time(6)` there (microseconds; `-nanos` values lose
//!   their last digits on every database). The entity keeps the portable column type.
//! - SQLite has no decimal type: sea-query's `real(p, s)` has REAL affinity, so SQLite keeps
//!   a decimal as a binary floating-point number (about 15 significant digits).
//! - `text` and `blob` hold at most 64 KiB on MySQL and MariaDB; widen them in the migration
//!   (`custom("mediumtext")`, `longblob`) for larger values.
//! - `uuid` is `binary(16)` on MySQL and MariaDB and text on SQLite: SeaORM's `Uuid` reads and
//!   writes each.
//!
//! The entity needs sea-orm's `macros` feature and, depending on its columns, `with-json`,
//! `with-chrono`, `with-rust_decimal`, `with-bigdecimal` and `with-uuid` (its header lists
//! which); the migration needs `sea-orm-migration`.

mod columns;
mod render;

use std::path::PathBuf;

use apache_avro::Schema;
use chrono::NaiveDateTime;

use crate::schema::{AvroLocal, SchemaRef};

/// A generated migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedMigration {
    /// The migration's name, also its module name (e.g.
    /// `m20261201_000001_deimos_outbox_tables`).
    pub name: String,
    /// Its file name: `<name>.rs`.
    pub file: String,
    /// The sea-orm-migration migration (`pub struct Migration`).
    pub text: String,
}

/// The outbox tables' migration (`deimos generate migration outbox`, Deimos' `rails g
/// deimos:db_backend`): the very migration deimos ships as
/// [`outbox::migrations`](crate::outbox::migrations), under the same name
/// (`m20261201_000001_deimos_outbox_tables`), as a file for your migration crate that needs
/// only `sea-orm-migration`. It creates `kafka_messages` and `kafka_topic_info` on PostgreSQL,
/// MySQL / MariaDB and SQLite (see [`CreateOutboxTables`](crate::outbox::CreateOutboxTables)).
pub fn outbox_migration() -> GeneratedMigration {
    let name = "m20261201_000001_deimos_outbox_tables".to_owned();
    let text = format!(
        "// Generated by `deimos generate migration outbox` (deimos {}). Add it to your Migrator: \
         `mod {name};` and `Box::new({name}::Migration)` in `migrations()`.\n\n{}",
        env!("CARGO_PKG_VERSION"),
        include_str!("../outbox/tables.rs")
    );
    GeneratedMigration {
        file: format!("{name}.rs"),
        name,
        text,
    }
}

/// The database pollers' migration (`deimos generate migration poller`, Deimos' `rails g
/// deimos:db_poller`): the very migration deimos ships as
/// [`poller::migrations`](crate::poller::migrations), under the same name
/// (`m20261201_000002_deimos_poll_info`), as a file for your migration crate that needs only
/// `sea-orm-migration`. It creates `poll_info` on PostgreSQL, MySQL / MariaDB and SQLite (see
/// [`CreatePollInfo`](crate::poller::CreatePollInfo)).
pub fn poller_migration() -> GeneratedMigration {
    let name = "m20261201_000002_deimos_poll_info".to_owned();
    let text = format!(
        "// Generated by `deimos generate migration poller` (deimos {}). Add it to your \
         Migrator: `mod {name};` and `Box::new({name}::Migration)` in `migrations()`.\n\n{}",
        env!("CARGO_PKG_VERSION"),
        include_str!("../poller/tables.rs")
    );
    GeneratedMigration {
        file: format!("{name}.rs"),
        name,
        text,
    }
}

/// What [`entity`] generates from: `deimos generate entity <table> <schema>`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerateEntity {
    /// The table to create, e.g. `widgets`: lower-case snake_case (`[a-z_][a-z0-9_]*`, at most
    /// 63 bytes, PostgreSQL's limit), not a Rust keyword; the entity's file and module are
    /// named after it.
    pub table: String,
    /// The record schema's full name, e.g. `com.example.Widget`.
    pub schema: String,
    /// The root of the `.avsc` tree (`schema.path`): `com.example.Widget` is
    /// `<schema_path>/com/example/Widget.avsc`. Default `schemas`.
    pub schema_path: PathBuf,
    /// Schema fields that form the primary key, in key order; empty (the default) for an
    /// auto-increment `id`.
    pub primary_key: Vec<String>,
    /// When the migration is made (UTC): its name is `m<YYYYMMDD_HHMMSS>_create_<table>`.
    /// Default: now.
    pub created_at: NaiveDateTime,
}

impl GenerateEntity {
    /// Generate the table `table` for the schema named `schema` (full name), from `schemas/`,
    /// with an auto-increment `id`, migration time now.
    pub fn new(table: impl Into<String>, schema: impl Into<String>) -> Self {
        GenerateEntity {
            table: table.into(),
            schema: schema.into(),
            schema_path: PathBuf::from("schemas"),
            primary_key: Vec::new(),
            created_at: chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                .naive_utc(),
        }
    }

    /// Reads the schema from the tree at `path` instead of `schemas`.
    pub fn schema_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.schema_path = path.into();
        self
    }

    /// These schema fields, in this order, form the primary key instead of a generated `id`.
    pub fn primary_key<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.primary_key = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Names the migration after `at` (UTC) instead of now.
    pub fn created_at(mut self, at: NaiveDateTime) -> Self {
        self.created_at = at;
        self
    }
}

/// The generated files, as text, and the columns they define.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Generated {
    /// The entity's file name: `<table>.rs`.
    pub entity_file: String,
    /// The SeaORM entity (`Model`, `Entity`, `Column`, … through `DeriveEntityModel`).
    pub entity_rs: String,
    /// The migration's name, `m<YYYYMMDD_HHMMSS>_create_<table>`, which is also its module
    /// name: `DeriveMigrationName` names a migration after its module.
    pub migration_name: String,
    /// The migration's file name: `<migration_name>.rs`.
    pub migration_file: String,
    /// The sea-orm-migration migration: `up` creates the table (if it does not exist), `down`
    /// drops it (if it exists).
    pub migration_rs: String,
    /// The table's columns in order, as both files define them.
    pub columns: Vec<Column>,
    /// The schema fields left out of the table (`id`, `message_id`, `timestamp`, as in
    /// Deimos' generator), in schema order.
    pub skipped: Vec<String>,
}

/// One column of a generated table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Column {
    /// The column's name: the Avro field's name (`id` for the generated key).
    pub name: String,
    /// The entity's Rust field name: `name` in snake_case, a raw identifier for keywords.
    pub field: String,
    /// What the column holds.
    pub kind: ColumnKind,
    /// The field's type is a union with `null`: `Option<_>` and a nullable column.
    pub nullable: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// The generated auto-increment `id`.
    pub auto_increment: bool,
    /// The Avro type, described: `long`, `timestamp-millis`, `union [null, string]`,
    /// `record com.example.Dimensions`, `none (generated)` for the generated `id`.
    pub avro_type: String,
    /// The field's `doc`.
    pub doc: Option<String>,
}

/// What a column holds, from its field's Avro type (the table in the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnKind {
    /// `boolean` → `bool`.
    Boolean,
    /// `int` → `i32`.
    Integer,
    /// `long` → `i64`.
    BigInteger,
    /// `float` → `f32`.
    Float,
    /// `double` → `f64`.
    Double,
    /// `string` → `String`.
    String,
    /// `enum` → `String`, the symbol.
    Enum,
    /// `bytes` (and `fixed` over 255 bytes) → `Vec<u8>`.
    Bytes,
    /// `fixed` of this size (and `duration`, fixed 12) → `Vec<u8>`.
    Fixed(u32),
    /// `decimal(precision, scale)` with at most 28 digits → `Decimal` (rust_decimal).
    Decimal {
        /// Digits in all.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// `decimal(precision, scale)` with more than 28 digits → `BigDecimal`.
    BigDecimal {
        /// Digits in all.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// `big-decimal` (precision and scale per value) → `String`, its decimal text.
    DecimalText,
    /// `uuid` → `Uuid`.
    Uuid,
    /// `date` → `Date` (chrono `NaiveDate`).
    Date,
    /// `time-millis`, `time-micros` → `Time` (chrono `NaiveTime`).
    Time,
    /// `timestamp-millis`, `-micros`, `-nanos` → `DateTimeUtc`.
    TimestampUtc,
    /// `local-timestamp-*` → `DateTime` (chrono `NaiveDateTime`).
    LocalTimestamp,
    /// `record`, `array`, `map`, unions of several non-null types → `Json`.
    Json,
}

impl ColumnKind {
    /// The Rust type of the entity field (names from `sea_orm::entity::prelude`), without
    /// `Option`.
    pub fn rust_type(self) -> &'static str {
        match self {
            ColumnKind::Boolean => "bool",
            ColumnKind::Integer => "i32",
            ColumnKind::BigInteger => "i64",
            ColumnKind::Float => "f32",
            ColumnKind::Double => "f64",
            ColumnKind::String | ColumnKind::Enum | ColumnKind::DecimalText => "String",
            ColumnKind::Bytes | ColumnKind::Fixed(_) => "Vec<u8>",
            ColumnKind::Decimal { .. } => "Decimal",
            ColumnKind::BigDecimal { .. } => "BigDecimal",
            ColumnKind::Uuid => "Uuid",
            ColumnKind::Date => "Date",
            ColumnKind::Time => "Time",
            ColumnKind::TimestampUtc => "DateTimeUtc",
            ColumnKind::LocalTimestamp => "DateTime",
            ColumnKind::Json => "Json",
        }
    }

    /// The SeaORM `ColumnType` (as the entity's `column_type = ".."` spells it) of a column of
    /// this kind; `primary_key` picks bounded types MySQL can index (`varchar(255)`,
    /// `varbinary(255)`) for text and bytes.
    pub fn column_type(self, primary_key: bool) -> String {
        match self {
            ColumnKind::Boolean => "Boolean".into(),
            ColumnKind::Integer => "Integer".into(),
            ColumnKind::BigInteger => "BigInteger".into(),
            ColumnKind::Float => "Float".into(),
            ColumnKind::Double => "Double".into(),
            ColumnKind::String | ColumnKind::Enum | ColumnKind::DecimalText if primary_key => {
                "String(StringLen::None)".into()
            }
            ColumnKind::String | ColumnKind::Enum | ColumnKind::DecimalText => "Text".into(),
            ColumnKind::Bytes if primary_key => "VarBinary(StringLen::N(255))".into(),
            ColumnKind::Bytes => "Blob".into(),
            ColumnKind::Fixed(n) => format!("Binary({n})"),
            ColumnKind::Decimal { precision, scale }
            | ColumnKind::BigDecimal { precision, scale } => {
                format!("Decimal(Some(({precision}, {scale})))")
            }
            ColumnKind::Uuid => "Uuid".into(),
            ColumnKind::Date => "Date".into(),
            ColumnKind::Time => "Time".into(),
            ColumnKind::TimestampUtc => "TimestampWithTimeZone".into(),
            ColumnKind::LocalTimestamp => "DateTime".into(),
            ColumnKind::Json => "Json".into(),
        }
    }

    /// The sea-orm feature the Rust type needs, beyond `macros`.
    fn sea_orm_feature(self) -> Option<&'static str> {
        match self {
            ColumnKind::Decimal { .. } => Some("with-rust_decimal"),
            ColumnKind::BigDecimal { .. } => Some("with-bigdecimal"),
            ColumnKind::Uuid => Some("with-uuid"),
            ColumnKind::Date
            | ColumnKind::Time
            | ColumnKind::TimestampUtc
            | ColumnKind::LocalTimestamp => Some("with-chrono"),
            ColumnKind::Json => Some("with-json"),
            _ => None,
        }
    }
}

/// Why [`entity`] generated nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The table name cannot be used.
    #[error("invalid table name `{table}`: {reason}")]
    TableName {
        /// The name given.
        table: String,
        /// What is wrong with it and what is expected.
        reason: &'static str,
    },
    /// There is no `.avsc` file for the schema name.
    #[error(
        "schema `{schema}` not found: no file `{}` (the schema path is `{}`; set it with \
         `--schema-path` or `schema.path`)",
        path.display(),
        schema_path.display()
    )]
    SchemaNotFound {
        /// The full name asked for.
        schema: String,
        /// The file looked for: `<schema_path>/<namespace as dirs>/<Name>.avsc`.
        path: PathBuf,
        /// The schema tree's root.
        schema_path: PathBuf,
    },
    /// The schema file exists but could not be read or parsed, or names another schema.
    #[error("schema `{schema}` could not be loaded")]
    Schema {
        /// The full name asked for.
        schema: String,
        /// [`crate::Error::SchemaLoad`] (naming the file and the Avro error) or apache-avro's
        /// error.
        #[source]
        source: crate::BoxError,
    },
    /// The schema is not a record, so it has no fields to make columns of.
    #[error(
        "schema `{schema}` is {found}, not a record; a table is generated from a record schema"
    )]
    NotARecord {
        /// The full name asked for.
        schema: String,
        /// What it is, e.g. `an enum`.
        found: &'static str,
    },
    /// A primary key field is not a field of the schema.
    #[error(
        "primary key field `{field}` is not a field of `{schema}`; its fields are {}",
        list(fields)
    )]
    UnknownPrimaryKey {
        /// The field named.
        field: String,
        /// The schema's full name.
        schema: String,
        /// The schema's fields.
        fields: Vec<String>,
    },
    /// A field is named twice as a primary key field.
    #[error("primary key field `{field}` is given twice")]
    DuplicatePrimaryKey {
        /// The field named twice.
        field: String,
    },
    /// A primary key field becomes a JSON column, which no database can index as a key.
    #[error(
        "primary key field `{field}` has type {avro_type}, which becomes a JSON column; a JSON \
         column cannot be part of a primary key"
    )]
    PrimaryKeyType {
        /// The field.
        field: String,
        /// Its Avro type, described.
        avro_type: String,
    },
    /// A primary key field is a union with `null`.
    #[error(
        "primary key field `{field}` is nullable ({avro_type}); primary key columns cannot hold \
         null: use a non-null type in the schema or another key field"
    )]
    NullablePrimaryKey {
        /// The field.
        field: String,
        /// Its Avro type, described.
        avro_type: String,
    },
    /// Two fields become the same Rust field, or the same variant of the `Column` enum SeaORM
    /// derives from the field names.
    #[error(
        "fields `{first}` and `{second}` both become `{rust}` in the entity; rename one of them \
         in the schema"
    )]
    FieldNameClash {
        /// The first field (`id` for the generated key).
        first: String,
        /// The second field.
        second: String,
        /// The Rust name both take: a field name (`updated_at`) or a variant
        /// (`Column::UpdatedAt`).
        rust: String,
    },
    /// A field names a type the schema does not define (a schema parsed together with
    /// others, passed to [`entity_from_schema`] alone).
    #[error("field `{field}` refers to `{name}`, which the schema does not define")]
    UnresolvedName {
        /// The field.
        field: String,
        /// The type name it uses.
        name: String,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Generates the entity and the migration for `spec`, reading the schema from
/// `<schema_path>/<namespace as dirs>/<Name>.avsc` with deimos' `avro_local` loader
/// ([`AvroLocal`]).
///
/// # Errors
/// - [`GenerateError::TableName`]: the table name is not lower-case snake_case, is too long or
///   is a Rust keyword.
/// - [`GenerateError::SchemaNotFound`]: no `.avsc` file where the name says (the error names
///   the path tried).
/// - [`GenerateError::Schema`]: the file is unreadable, not a valid Avro schema, or defines
///   another name.
/// - As [`entity_from_schema`] for the schema's content.
///
/// # Examples
///
/// ```no_run
/// use deimos::generate::{entity, GenerateEntity};
///
/// let spec = GenerateEntity::new("widgets", "com.example.Widget").primary_key(["id"]);
/// let generated = entity(&spec)?;
/// std::fs::write(format!("src/entity/{}", generated.entity_file), &generated.entity_rs)?;
/// std::fs::write(
///     format!("migration/src/{}", generated.migration_file),
///     &generated.migration_rs,
/// )?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn entity(spec: &GenerateEntity) -> Result<Generated, GenerateError> {
    check_table_name(&spec.table)?;
    let name = SchemaRef::parse(&spec.schema);
    let local = AvroLocal::new(&spec.schema_path);
    let path = local.path_of(&name);
    if !path.is_file() {
        return Err(GenerateError::SchemaNotFound {
            schema: spec.schema.clone(),
            path,
            schema_path: spec.schema_path.clone(),
        });
    }
    let schema = local.load(&name).map_err(|e| GenerateError::Schema {
        schema: spec.schema.clone(),
        source: e.into(),
    })?;
    entity_from_schema(spec, &schema)
}

/// Generates the entity and the migration for `spec` from an already parsed `schema`
/// (`spec.schema_path` is not read; `spec.schema` names the schema in the files' comments).
///
/// # Errors
/// - [`GenerateError::TableName`]: as in [`entity`].
/// - [`GenerateError::NotARecord`]: `schema` is not a record.
/// - [`GenerateError::UnknownPrimaryKey`], [`GenerateError::DuplicatePrimaryKey`]: a primary
///   key field that the schema lacks or that is given twice.
/// - [`GenerateError::PrimaryKeyType`], [`GenerateError::NullablePrimaryKey`]: a primary key
///   field that would be a JSON column or nullable.
/// - [`GenerateError::FieldNameClash`]: two fields with the same snake_case name (or the same
///   `Column` variant), or a field that becomes `id` next to the generated `id`.
/// - [`GenerateError::UnresolvedName`]: a field uses a named type `schema` does not define.
pub fn entity_from_schema(
    spec: &GenerateEntity,
    schema: &Schema,
) -> Result<Generated, GenerateError> {
    check_table_name(&spec.table)?;
    let Schema::Record(record) = schema else {
        return Err(GenerateError::NotARecord {
            schema: spec.schema.clone(),
            found: kind_name(schema),
        });
    };
    let (columns, skipped) = columns::columns(&spec.schema, record, schema, &spec.primary_key)?;
    let migration_name = format!(
        "m{}_create_{}",
        spec.created_at.format("%Y%m%d_%H%M%S"),
        spec.table
    );
    let entity_rs = render::entity(spec, &columns, &skipped, &migration_name);
    let migration_rs = render::migration(spec, &columns, &migration_name);
    Ok(Generated {
        entity_file: format!("{}.rs", spec.table),
        entity_rs,
        migration_file: format!("{migration_name}.rs"),
        migration_name,
        migration_rs,
        columns,
        skipped,
    })
}

/// PostgreSQL truncates identifiers to 63 bytes (MySQL allows 64).
const MAX_TABLE_NAME: usize = 63;

fn check_table_name(table: &str) -> Result<(), GenerateError> {
    let bad = |reason| {
        Err(GenerateError::TableName {
            table: table.to_owned(),
            reason,
        })
    };
    let mut chars = table.chars();
    let Some(first) = chars.next() else {
        return bad("it is empty");
    };
    if !(first.is_ascii_lowercase() || first == '_')
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return bad(
            "expected lower-case snake_case (`[a-z_][a-z0-9_]*`), which every database takes \
             unquoted and which names the entity's module",
        );
    }
    if table.len() > MAX_TABLE_NAME {
        return bad("it is longer than 63 bytes, PostgreSQL's limit for identifiers");
    }
    if columns::is_keyword(table) {
        return bad("it is a Rust keyword, and the entity's module is named after the table");
    }
    Ok(())
}

fn kind_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Enum(_) => "an enum",
        Schema::Fixed(_) => "a fixed",
        Schema::Array(_) => "an array",
        Schema::Map(_) => "a map",
        Schema::Union(_) => "a union",
        Schema::Record(_) => "a record",
        _ => "a primitive type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Schema {
        crate::schema::names::parse_schema(json).unwrap()
    }

    fn at() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 3, 4)
            .unwrap()
            .and_hms_opt(5, 6, 7)
            .unwrap()
    }

    /// The `//!` header of a generated file as one line of text.
    fn prose(text: &str) -> String {
        text.lines()
            .map_while(|l| l.strip_prefix("//!"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spec(table: &str) -> GenerateEntity {
        GenerateEntity::new(table, "com.example.Thing").created_at(at())
    }

    /// One field of each kind, a nullable variant of some, and the three skipped fields.
    const EVERYTHING: &str = r#"{
      "type": "record", "name": "Thing", "namespace": "com.example",
      "fields": [
        {"name": "id", "type": "long"},
        {"name": "message_id", "type": "string"},
        {"name": "timestamp", "type": "string"},
        {"name": "flag", "type": "boolean"},
        {"name": "count", "type": "int"},
        {"name": "total", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "name", "type": "string"},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "raw", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 16}},
        {"name": "blob", "type": {"type": "fixed", "name": "Big", "size": 256}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "huge", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 4}},
        {"name": "any_decimal", "type": {"type": "bytes", "logicalType": "big-decimal"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "address", "type": {"type": "record", "name": "Address",
          "fields": [{"name": "street", "type": "string"}]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "either", "type": ["string", "long"]},
        {"name": "maybe_either", "type": ["null", "string", "long"]},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "maybe_count", "type": ["int", "null"]},
        {"name": "maybe_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "other_address", "type": ["null", "Address"], "default": null},
        {"name": "other_color", "type": "Color"},
        {"name": "updatedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "type", "type": "string"}
      ]
    }"#;

    fn column<'a>(generated: &'a Generated, name: &str) -> &'a Column {
        generated
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column `{name}`"))
    }

    #[test]
    fn maps_every_avro_type() {
        let generated = entity_from_schema(&spec("things"), &parse(EVERYTHING)).unwrap();
        let expect = [
            ("flag", ColumnKind::Boolean, false, "bool", "Boolean"),
            ("count", ColumnKind::Integer, false, "i32", "Integer"),
            ("total", ColumnKind::BigInteger, false, "i64", "BigInteger"),
            ("ratio", ColumnKind::Float, false, "f32", "Float"),
            ("score", ColumnKind::Double, false, "f64", "Double"),
            ("name", ColumnKind::String, false, "String", "Text"),
            ("color", ColumnKind::Enum, false, "String", "Text"),
            ("raw", ColumnKind::Bytes, false, "Vec<u8>", "Blob"),
            (
                "hash",
                ColumnKind::Fixed(16),
                false,
                "Vec<u8>",
                "Binary(16)",
            ),
            ("blob", ColumnKind::Bytes, false, "Vec<u8>", "Blob"),
            (
                "price",
                ColumnKind::Decimal {
                    precision: 10,
                    scale: 2,
                },
                false,
                "Decimal",
                "Decimal(Some((10, 2)))",
            ),
            (
                "huge",
                ColumnKind::BigDecimal {
                    precision: 38,
                    scale: 4,
                },
                false,
                "BigDecimal",
                "Decimal(Some((38, 4)))",
            ),
            (
                "any_decimal",
                ColumnKind::DecimalText,
                false,
                "String",
                "Text",
            ),
            ("uid", ColumnKind::Uuid, false, "Uuid", "Uuid"),
            ("day", ColumnKind::Date, false, "Date", "Date"),
            ("at_ms", ColumnKind::Time, false, "Time", "Time"),
            ("at_us", ColumnKind::Time, false, "Time", "Time"),
            (
                "ts_ms",
                ColumnKind::TimestampUtc,
                false,
                "DateTimeUtc",
                "TimestampWithTimeZone",
            ),
            (
                "ts_us",
                ColumnKind::TimestampUtc,
                false,
                "DateTimeUtc",
                "TimestampWithTimeZone",
            ),
            (
                "local_ms",
                ColumnKind::LocalTimestamp,
                false,
                "DateTime",
                "DateTime",
            ),
            ("address", ColumnKind::Json, false, "Json", "Json"),
            ("tags", ColumnKind::Json, false, "Json", "Json"),
            ("attrs", ColumnKind::Json, false, "Json", "Json"),
            ("either", ColumnKind::Json, false, "Json", "Json"),
            ("maybe_either", ColumnKind::Json, true, "Json", "Json"),
            ("note", ColumnKind::String, true, "String", "Text"),
            ("maybe_count", ColumnKind::Integer, true, "i32", "Integer"),
            (
                "maybe_ts",
                ColumnKind::TimestampUtc,
                true,
                "DateTimeUtc",
                "TimestampWithTimeZone",
            ),
            ("other_address", ColumnKind::Json, true, "Json", "Json"),
            ("other_color", ColumnKind::Enum, false, "String", "Text"),
        ];
        for (name, kind, nullable, rust, column_type) in expect {
            let c = column(&generated, name);
            assert_eq!(c.kind, kind, "{name}");
            assert_eq!(c.nullable, nullable, "{name}");
            assert_eq!(c.kind.rust_type(), rust, "{name}");
            assert_eq!(c.kind.column_type(false), column_type, "{name}");
            assert!(!c.primary_key, "{name}");
        }
        assert_eq!(
            column(&generated, "other_address").avro_type,
            "union [null, record com.example.Address]"
        );
        assert_eq!(column(&generated, "price").avro_type, "decimal(10, 2)");
        assert_eq!(column(&generated, "tags").avro_type, "array<string>");
    }

    #[test]
    fn skips_deimos_fields_and_adds_an_auto_increment_id() {
        let generated = entity_from_schema(&spec("things"), &parse(EVERYTHING)).unwrap();
        let first = &generated.columns[0];
        assert_eq!(
            (
                first.name.as_str(),
                first.kind,
                first.primary_key,
                first.auto_increment
            ),
            ("id", ColumnKind::BigInteger, true, true)
        );
        assert_eq!(
            generated.columns.iter().filter(|c| c.name == "id").count(),
            1
        );
        for skipped in ["message_id", "timestamp"] {
            assert!(
                generated.columns.iter().all(|c| c.name != skipped),
                "{skipped}"
            );
        }
        assert_eq!(generated.skipped, ["id", "message_id", "timestamp"]);
        // Schema order after the key.
        assert_eq!(generated.columns[1].name, "flag");
        assert_eq!(generated.columns.last().unwrap().name, "type");
    }

    #[test]
    fn names_rust_fields_in_snake_case_and_keeps_avro_column_names() {
        let generated = entity_from_schema(&spec("things"), &parse(EVERYTHING)).unwrap();
        assert_eq!(column(&generated, "updatedAt").field, "updated_at");
        assert_eq!(column(&generated, "type").field, "r#type");
        let entity = &generated.entity_rs;
        assert!(
            entity.contains(
                "    #[sea_orm(column_name = \"updatedAt\", column_type = \"TimestampWithTimeZone\")]\n    pub updated_at: DateTimeUtc,"
            ),
            "{entity}"
        );
        assert!(
            entity.contains("    #[sea_orm(column_type = \"Text\")]\n    pub r#type: String,"),
            "{entity}"
        );
    }

    #[test]
    fn entity_and_migration_text() {
        let generated = entity_from_schema(&spec("things"), &parse(EVERYTHING)).unwrap();
        assert_eq!(generated.entity_file, "things.rs");
        assert_eq!(generated.migration_name, "m20260304_050607_create_things");
        assert_eq!(
            generated.migration_file,
            "m20260304_050607_create_things.rs"
        );
        let entity = &generated.entity_rs;
        for part in [
            "use sea_orm::entity::prelude::*;",
            "#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]\n#[sea_orm(table_name = \"things\")]\npub struct Model {",
            "    #[sea_orm(primary_key, column_type = \"BigInteger\")]\n    pub id: i64,",
            "    pub note: Option<String>,",
            "    #[sea_orm(column_type = \"Decimal(Some((10, 2)))\")]\n    pub price: Decimal,",
            "    pub other_address: Option<Json>,",
            "pub enum Relation {}",
            "impl ActiveModelBehavior for ActiveModel {}",
        ] {
            assert!(entity.contains(part), "missing {part:?} in\n{entity}");
        }
        let header = prose(entity);
        for part in [
            "The `things` table: a SeaORM entity for the Avro schema `com.example.Thing`.",
            "Generated by `deimos generate entity things com.example.Thing` (Deimos' `rails g \
             deimos:active_record`); the migration `m20260304_050607_create_things` creates the \
             table.",
            "Left out, as in Deimos' generator: `id`, `message_id`, `timestamp`. The primary key \
             is an auto-increment `id` (Rails' convention).",
            "`json` on PostgreSQL and MySQL/MariaDB",
            "Needs sea-orm's features `macros`, `with-bigdecimal`, `with-chrono`, `with-json`, \
             `with-rust_decimal`, `with-uuid`.",
        ] {
            assert!(header.contains(part), "missing {part:?} in\n{header}");
        }
        for line in entity.lines().chain(generated.migration_rs.lines()) {
            assert!(line.len() <= 100, "longer than 100: {line}");
        }
        let migration = &generated.migration_rs;
        for part in [
            "use sea_orm_migration::{prelude::*, schema::*};",
            "#[derive(DeriveMigrationName)]\npub struct Migration;",
            "                    .table(\"things\")\n                    .if_not_exists()\n                    .col(big_pk_auto(\"id\"))\n                    .col(boolean(\"flag\"))",
            ".col(text_null(\"note\"))",
            ".col(decimal_len(\"price\", 10, 2))",
            ".col(binary_len(\"hash\", 16))",
            ".col(blob(\"raw\"))",
            ".col(json_null(\"other_address\"))",
            ".col(fractional_seconds(backend, timestamp_with_time_zone(\"ts_ms\")))",
            ".col(fractional_seconds(backend, time(\"at_us\")))",
            ".col(fractional_seconds(backend, date_time(\"local_ms\")))",
            ".col(fractional_seconds(backend, timestamp_with_time_zone(\"updatedAt\")))",
            ".drop_table(Table::drop().table(\"things\").if_exists().to_owned())",
            "fn fractional_seconds(backend: sea_orm::DbBackend, mut column: ColumnDef) -> ColumnDef {",
        ] {
            assert!(migration.contains(part), "missing {part:?} in\n{migration}");
        }
        assert!(
            prose(migration).contains(
                "Add the migration to your `Migrator`: `mod m20260304_050607_create_things;` and \
                 `Box::new(m20260304_050607_create_things::Migration)` in `migrations()`."
            ),
            "{migration}"
        );
    }

    #[test]
    fn compound_primary_key_in_the_order_given() {
        let generated = entity_from_schema(
            &spec("things").primary_key(["name", "count"]),
            &parse(EVERYTHING),
        )
        .unwrap();
        let keys: Vec<(&str, bool)> = generated
            .columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| (c.name.as_str(), c.auto_increment))
            .collect();
        assert_eq!(keys, [("name", false), ("count", false)]);
        assert_eq!(generated.columns[0].name, "name");
        assert_eq!(generated.columns[1].name, "count");
        // With a key of its own, the schema's `id` is an ordinary column.
        assert_eq!(column(&generated, "id").kind, ColumnKind::BigInteger);
        assert!(!column(&generated, "id").primary_key);
        assert_eq!(generated.skipped, ["message_id", "timestamp"]);
        let entity = &generated.entity_rs;
        assert!(entity.contains(
            "    #[sea_orm(primary_key, auto_increment = false, column_type = \"String(StringLen::None)\")]\n    pub name: String,"
        ), "{entity}");
        assert!(
            prose(entity).contains("The primary key is the fields (`name`, `count`)."),
            "{entity}"
        );
        let migration = &generated.migration_rs;
        assert!(migration.contains(".col(string(\"name\"))"), "{migration}");
        assert!(
            migration.contains(".col(integer(\"count\"))"),
            "{migration}"
        );
        assert!(
            migration.contains(".primary_key(Index::create().col(\"name\").col(\"count\"))"),
            "{migration}"
        );
        assert!(!migration.contains("big_pk_auto"), "{migration}");
    }

    #[test]
    fn single_primary_key_fields() {
        let generated =
            entity_from_schema(&spec("things").primary_key(["raw"]), &parse(EVERYTHING)).unwrap();
        assert_eq!(
            column(&generated, "raw").kind.column_type(true),
            "VarBinary(StringLen::N(255))"
        );
        assert!(generated
            .migration_rs
            .contains(".col(var_binary(\"raw\", 255).primary_key())"));
        let generated =
            entity_from_schema(&spec("things").primary_key(["ts_us"]), &parse(EVERYTHING)).unwrap();
        assert!(generated.migration_rs.contains(
            ".col(fractional_seconds(backend, timestamp_with_time_zone(\"ts_us\").primary_key().take()))"
        ), "{}", generated.migration_rs);
        // A skipped field named as the key is kept.
        let generated = entity_from_schema(
            &spec("things").primary_key(["message_id"]),
            &parse(EVERYTHING),
        )
        .unwrap();
        assert!(column(&generated, "message_id").primary_key);
        assert_eq!(generated.skipped, ["timestamp"]);
    }

    fn error(spec: &GenerateEntity, schema: &str) -> String {
        entity_from_schema(spec, &parse(schema))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn primary_key_errors() {
        let msg = error(&spec("things").primary_key(["nope"]), EVERYTHING);
        assert!(
            msg.starts_with("primary key field `nope` is not a field of `com.example.Thing`; its fields are `id`, `message_id`, `timestamp`, `flag`,"),
            "{msg}"
        );
        assert_eq!(
            error(&spec("things").primary_key(["name", "name"]), EVERYTHING),
            "primary key field `name` is given twice"
        );
        assert_eq!(
            error(&spec("things").primary_key(["address"]), EVERYTHING),
            "primary key field `address` has type record com.example.Address, which becomes a \
             JSON column; a JSON column cannot be part of a primary key"
        );
        assert_eq!(
            error(&spec("things").primary_key(["either"]), EVERYTHING),
            "primary key field `either` has type union [string, long], which becomes a JSON \
             column; a JSON column cannot be part of a primary key"
        );
        assert!(
            error(&spec("things").primary_key(["note"]), EVERYTHING).starts_with(
                "primary key field `note` is nullable (union [null, string]); primary key columns cannot hold null"
            )
        );
    }

    #[test]
    fn table_name_errors() {
        for (table, reason) in [
            ("", "it is empty"),
            ("Widgets", "expected lower-case snake_case"),
            ("my-widgets", "expected lower-case snake_case"),
            ("1widgets", "expected lower-case snake_case"),
            ("widgets; drop", "expected lower-case snake_case"),
            ("type", "it is a Rust keyword"),
        ] {
            let msg = error(&spec(table), EVERYTHING);
            assert!(
                msg.starts_with(&format!("invalid table name `{table}`: {reason}")),
                "{table}: {msg}"
            );
        }
        let long = "w".repeat(64);
        assert!(error(&spec(&long), EVERYTHING).contains("longer than 63 bytes"));
        assert!(entity_from_schema(&spec(&"w".repeat(63)), &parse(EVERYTHING)).is_ok());
    }

    #[test]
    fn schema_errors() {
        assert_eq!(
            error(
                &spec("things"),
                r#"{"type": "enum", "name": "Color", "namespace": "com.example", "symbols": ["A"]}"#
            ),
            "schema `com.example.Thing` is an enum, not a record; a table is generated from a \
             record schema"
        );
        assert_eq!(
            error(
                &spec("things"),
                r#"{"type": "record", "name": "Thing", "fields": [
                    {"name": "updatedAt", "type": "long"}, {"name": "updated_at", "type": "long"}]}"#
            ),
            "fields `updatedAt` and `updated_at` both become `updated_at` in the entity; rename \
             one of them in the schema"
        );
        assert_eq!(
            error(
                &spec("things"),
                r#"{"type": "record", "name": "Thing", "fields": [
                    {"name": "foo_bar", "type": "long"}, {"name": "foo__bar", "type": "long"}]}"#
            ),
            "fields `foo_bar` and `foo__bar` both become `Column::FooBar` in the entity; rename \
             one of them in the schema"
        );
        assert_eq!(
            error(
                &spec("things"),
                r#"{"type": "record", "name": "Thing", "fields": [{"name": "ID", "type": "long"}]}"#
            ),
            "fields `id` and `ID` both become `id` in the entity; rename one of them in the \
             schema"
        );
    }

    #[test]
    fn loads_schemas_from_the_schema_path() {
        let dir = tempfile::tempdir().unwrap();
        let spec = GenerateEntity::new("things", "com.example.Thing")
            .schema_path(dir.path())
            .created_at(at());
        let err = entity(&spec).unwrap_err();
        let expected = dir.path().join("com").join("example").join("Thing.avsc");
        assert!(
            matches!(&err, GenerateError::SchemaNotFound { path, .. } if *path == expected),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "schema `com.example.Thing` not found: no file `{}`",
                expected.display()
            )),
            "{err}"
        );

        std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
        std::fs::write(&expected, "{not json").unwrap();
        let err = entity(&spec).unwrap_err();
        assert!(matches!(err, GenerateError::Schema { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "schema `com.example.Thing` could not be loaded"
        );

        std::fs::write(&expected, EVERYTHING).unwrap();
        let generated = entity(&spec).unwrap();
        assert_eq!(
            generated,
            entity_from_schema(&spec, &parse(EVERYTHING)).unwrap()
        );
    }
}
