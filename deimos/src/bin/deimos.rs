//! The `deimos` command-line tool (feature `cli`): Deimos' Rails generators for deimos-rs.
//!
//! `deimos generate entity <TABLE> <FULL_SCHEMA_NAME>` writes a SeaORM entity and a
//! sea-orm-migration migration for a table holding a record schema's messages (Deimos'
//! `rails g deimos:active_record`); the generator itself is `deimos::generate::entity`.
//! `deimos generate migration outbox` writes the transactional outbox's migration (Deimos'
//! `rails g deimos:db_backend`; `deimos::generate::outbox_migration`), and `deimos generate
//! migration poller` the database pollers' `poll_info` table (Deimos' `rails g
//! deimos:db_poller`; `deimos::generate::poller_migration`).
//!
//! The files are formatted with `rustfmt` when it is installed. Exit status: 0 when the files
//! were written, 1 on an error (printed with its causes), 2 on a usage error (clap's).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use deimos::generate::{self, GenerateEntity};

/// Generators for deimos-rs applications (Deimos' `rails g deimos:*`).
#[derive(Debug, Parser)]
#[command(name = "deimos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate source files from schemas.
    #[command(subcommand)]
    Generate(Generate),
}

/// What `deimos generate` makes.
#[derive(Debug, Subcommand)]
enum Generate {
    /// A SeaORM entity and its table's migration, from a record schema (Deimos'
    /// `rails g deimos:active_record`).
    ///
    /// Writes a SeaORM entity and a sea-orm-migration migration for a table that holds the
    /// schema's messages. One column per schema field, named as the field (`id`, `message_id` and `timestamp`
    /// are left out, as in Deimos), plus an auto-increment `id` primary key unless
    /// --primary-key names the key fields. Records, arrays and maps become JSON columns where
    /// the database has a JSON type, text elsewhere.
    Entity(EntityArgs),
    /// A migration of deimos' own tables (Deimos' `rails g deimos:db_backend` and `rails g
    /// deimos:db_poller`).
    ///
    /// `outbox`: the transactional outbox's `kafka_messages` and `kafka_topic_info` tables
    /// (`producers.backend = "db"`). `poller`: the database pollers' `poll_info` table. For
    /// PostgreSQL, MySQL / MariaDB and SQLite. The file is the migration deimos ships as
    /// `deimos::outbox::migrations()` (or `deimos::poller::migrations()`), under the same name,
    /// and needs only sea-orm-migration.
    Migration(MigrationArgs),
}

/// The migrations `deimos generate migration` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Tables {
    /// The transactional outbox: `kafka_messages` and `kafka_topic_info`.
    Outbox,
    /// The database pollers: `poll_info`.
    Poller,
}

#[derive(Debug, Args)]
struct MigrationArgs {
    /// Which tables.
    #[arg(value_enum)]
    tables: Tables,

    /// Write the file into DIR. Default: `migration/src` (sea-orm-cli's layout).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Overwrite the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct EntityArgs {
    /// The table to create, lower-case snake_case (e.g. `widgets`); also the entity's file name.
    table: String,

    /// The record schema's full name, e.g. `com.example.Widget`.
    full_schema_name: String,

    /// The root of the `.avsc` tree (`com.example.Widget` is `<DIR>/com/example/Widget.avsc`).
    /// Default: the configured `schema.path` (deimos.toml, DEIMOS_SCHEMA_PATH; by default
    /// `schemas`).
    #[arg(long, value_name = "DIR")]
    schema_path: Option<PathBuf>,

    /// Write both files into DIR. Default: the entity into `src/entity`, the migration into
    /// `migration/src` (sea-orm-cli's layout).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// A schema field of the primary key, instead of an auto-increment `id`; repeat it for a
    /// compound key, in key order.
    #[arg(long = "primary-key", value_name = "FIELD")]
    primary_key: Vec<String>,

    /// Overwrite an existing entity file, and write the migration even when one creating the
    /// table exists.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(Generate::Entity(args)) => entity(args),
        Command::Generate(Generate::Migration(args)) => migration(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn entity(args: EntityArgs) -> Result<(), BoxError> {
    let schema_path = match args.schema_path {
        Some(path) => path,
        None => {
            deimos::Config::load()
                .map_err(|e| {
                    format!(
                    "reading the deimos configuration for `schema.path` (or pass --schema-path): \
                     {e}"
                )
                })?
                .schema
                .path
        }
    };
    let spec = GenerateEntity::new(&args.table, &args.full_schema_name)
        .schema_path(schema_path)
        .primary_key(args.primary_key);
    let generated = generate::entity(&spec)?;

    let (entity_dir, migration_dir) = match &args.out {
        Some(dir) => (dir.clone(), dir.clone()),
        None => (PathBuf::from("src/entity"), PathBuf::from("migration/src")),
    };
    let entity_path = entity_dir.join(&generated.entity_file);
    let migration_path = migration_dir.join(&generated.migration_file);
    if !args.force {
        if entity_path.exists() {
            return Err(format!(
                "`{}` already exists; pass --force to overwrite it",
                entity_path.display()
            )
            .into());
        }
        if let Some(existing) = existing_migration(&migration_dir, &args.table)? {
            return Err(format!(
                "a migration creating `{}` already exists: `{}`; pass --force to write another",
                args.table,
                existing.display()
            )
            .into());
        }
    }
    write(&entity_path, &generated.entity_rs)?;
    write(&migration_path, &generated.migration_rs)?;

    println!("created {}", entity_path.display());
    println!("created {}", migration_path.display());
    rustfmt(&[&entity_path, &migration_path]);
    if !generated.skipped.is_empty() {
        println!(
            "left out (as in Deimos' generator): {}",
            generated.skipped.join(", ")
        );
    }
    println!(
        "next: add `pub mod {};` to {}, and `mod {};` plus `Box::new({}::Migration)` to your \
         Migrator's `migrations()`",
        args.table,
        entity_dir.join("mod.rs").display(),
        generated.migration_name,
        generated.migration_name
    );
    Ok(())
}

fn migration(args: &MigrationArgs) -> Result<(), BoxError> {
    let generated = match args.tables {
        Tables::Outbox => generate::outbox_migration(),
        Tables::Poller => generate::poller_migration(),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("migration/src"));
    let path = dir.join(&generated.file);
    if path.exists() && !args.force {
        return Err(format!(
            "`{}` already exists; pass --force to overwrite it",
            path.display()
        )
        .into());
    }
    write(&path, &generated.text)?;
    println!("created {}", path.display());
    rustfmt(&[&path]);
    let before = match args.tables {
        Tables::Outbox => {
            ", before the migrations of tables whose entities publish through the outbox"
        }
        Tables::Poller => "",
    };
    println!(
        "next: add `mod {name};` and `Box::new({name}::Migration)` to your Migrator's \
         `migrations()`{before}",
        name = generated.name
    );
    Ok(())
}

/// A file `m<timestamp>_create_<table>.rs` in `dir`, as an earlier run would have written.
fn existing_migration(dir: &Path, table: &str) -> Result<Option<PathBuf>, BoxError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading `{}`: {e}", dir.display()).into()),
    };
    let suffix = format!("_create_{table}.rs");
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading `{}`: {e}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('m') && name.ends_with(&suffix) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// Formats the files with rustfmt, as sea-orm-cli does with what it generates (the project's
/// `rustfmt.toml` applies). Without rustfmt the files stay as generated, which compiles the same.
fn rustfmt(paths: &[&Path]) {
    match std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(paths)
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "warning: rustfmt failed ({}), the files are not formatted: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ),
        Err(e) => eprintln!("note: the files are not formatted (rustfmt: {e})"),
    }
}

fn write(path: &Path, text: &str) -> Result<(), BoxError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating the directory `{}`: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("writing `{}`: {e}", path.display()))?;
    Ok(())
}
