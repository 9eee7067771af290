//! `deimos generate entity` end to end. The real `deimos` binary generates a SeaORM entity and
//! a migration for `com.example.Shipment` (every column type, nullable and not) twice: once
//! with the generated `id` key, once with a compound key (`--primary-key warehouse
//! --primary-key sequence`). A scratch cargo project under the workspace's target directory
//! compiles both with a `main` that, for a database URL, migrates up, writes rows through the
//! entities (every column set, and every nullable column null), reads them back and compares,
//! checks the compound key rejects a duplicate, migrates down and checks the tables are gone.
//! It runs against SQLite, PostgreSQL and MariaDB (`deimos_tests::db`). Also: the binary's
//! error messages, its default output paths and `schema.path` from `deimos.toml`.
//!
//! The scratch project shares the workspace's `Cargo.lock` and target directory and asks for
//! the sea-orm and sea-orm-migration features deimos-tests has (it depends on deimos-tests
//! only so that every shared crate resolves to the same features), so `cargo test` already
//! compiled its dependencies: only the generated code and its `main` are compiled here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use deimos_tests::db::{Db, TestDb};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The target directory this test was built in: the test binary is
/// `<target>/<profile>/deps/cli_generate-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<test>")
        .to_owned()
}

fn show(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `cmd`; panics with its status, stdout and stderr unless it succeeded.
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    assert!(output.status.success(), "{what} failed: {}", show(&output));
    output
}

/// `cargo`, with the workspace's target directory.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

/// The `deimos` binary, built once per test process. Selecting deimos-tests too makes cargo
/// resolve features as for this test's own build (deimos-tests turns on deimos' `cli`), so
/// the library and its dependencies are the ones already compiled; only the binary is new.
fn deimos_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        run_ok(
            cargo()
                .current_dir(workspace())
                .args(["build", "--offline", "-p", "deimos", "-p", "deimos-tests"])
                .args(["--bin", "deimos"]),
            "building the deimos binary",
        );
        let bin = target_dir()
            .join("debug")
            .join(format!("deimos{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
}

fn deimos(args: &[&str]) -> Command {
    let mut cmd = Command::new(deimos_bin());
    cmd.args(args);
    cmd
}

fn schemas() -> String {
    workspace().join("schemas").display().to_string()
}

/// Generates `table` (with `extra` arguments) into `out`; returns the migration's module name.
fn generate(table: &str, out: &Path, extra: &[&str]) -> String {
    let out_arg = out.display().to_string();
    let mut args = vec![
        "generate",
        "entity",
        table,
        "com.example.Shipment",
        "--schema-path",
    ];
    let schemas = schemas();
    args.push(&schemas);
    args.extend(["--out", &out_arg]);
    args.extend(extra);
    let output = run_ok(
        &mut deimos(&args),
        &format!("deimos generate entity {table}"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let entity = out.join(format!("{table}.rs"));
    assert!(
        stdout.contains(&format!("created {}", entity.display())),
        "{stdout}"
    );
    assert!(entity.is_file(), "{}", entity.display());
    let suffix = format!("_create_{table}.rs");
    let migration = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with('m') && name.ends_with(&suffix))
        .unwrap_or_else(|| panic!("no migration for {table} in {}", out.display()));
    assert!(
        stdout.contains(&format!("created {}", out.join(&migration).display())),
        "{stdout}"
    );
    migration.trim_end_matches(".rs").to_owned()
}

const SEA_ORM_FEATURES: &str = r#"["macros", "with-json", "with-chrono", "with-rust_decimal", "with-bigdecimal", "with-uuid", "with-time", "sqlx-sqlite", "sqlx-postgres", "sqlx-mysql", "runtime-tokio"]"#;
const MIGRATION_FEATURES: &str =
    r#"["sqlx-sqlite", "sqlx-postgres", "sqlx-mysql", "runtime-tokio"]"#;

fn manifest() -> String {
    format!(
        r#"[package]
name = "generated-entity-check"
version = "0.0.0"
edition = "2021"
publish = false

# Not a member of the deimos-rs workspace.
[workspace]

[dependencies]
# The generated code's dependencies, with deimos-tests' features.
sea-orm = {{ version = "2", default-features = false, features = {SEA_ORM_FEATURES} }}
sea-orm-migration = {{ version = "2", default-features = false, features = {MIGRATION_FEATURES} }}
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
# Unused by the code: it makes every crate shared with deimos-tests resolve to the features
# `cargo test -p deimos-tests` built it with, so those builds are reused.
deimos-tests = {{ path = {tests:?} }}
"#,
        tests = workspace().join("tests").display().to_string(),
    )
}

/// The scratch project's `main`: `MIGRATION_SHIPMENTS` and `MIGRATION_BY_KEY` are replaced by
/// the generated migrations' module names.
const MAIN: &str = r##"//! Checks what `deimos generate entity` wrote (deimos-rs tests/tests/cli_generate.rs): for the
//! database URL given, migrate up, write and read rows through the entities, migrate down.

use std::error::Error;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::NotSet, Database, IntoActiveModel};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};

mod generated {
    pub mod shipments;
    pub mod shipments_by_key;
    pub mod MIGRATION_SHIPMENTS;
    pub mod MIGRATION_BY_KEY;
    pub mod m20261201_000001_deimos_outbox_tables;
    pub mod m20261201_000002_deimos_poll_info;
}
use generated::{shipments, shipments_by_key};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(generated::m20261201_000001_deimos_outbox_tables::Migration),
            Box::new(generated::m20261201_000002_deimos_poll_info::Migration),
            Box::new(generated::MIGRATION_SHIPMENTS::Migration),
            Box::new(generated::MIGRATION_BY_KEY::Migration),
        ]
    }
}

fn json(text: &str) -> Json {
    text.parse().unwrap()
}

/// A row with every column set; both entities have the same fields.
macro_rules! full {
    ($entity:ident) => {
        $entity::Model {
            id: 0,
            warehouse: "north".into(),
            sequence: 7,
            weight_grams: 12_345_678_901,
            ratio: 0.25,
            score: 98.125,
            fragile: true,
            label: vec![0, 1, 2, 254, 255],
            checksum: (0u8..16).collect(),
            status: "SHIPPED".into(),
            price: "12345.67".parse().unwrap(),
            declared_value: "123456789.5".parse().unwrap(),
            tracking_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            ship_date: Date::from_ymd_opt(2026, 3, 4).unwrap(),
            cutoff: Time::from_hms_milli_opt(17, 30, 0, 250).unwrap(),
            pickup_time: Time::from_hms_micro_opt(9, 15, 30, 123_456).unwrap(),
            shipped_at: "2026-03-04T05:06:07.123Z".parse().unwrap(),
            scanned_at: "2026-03-04T05:06:07.654321Z".parse().unwrap(),
            local_pickup: "2026-03-04T09:15:30.000042".parse().unwrap(),
            address: json(r#"{"street": "1 Main St", "zip": "12345"}"#),
            items: json(r#"["box", "envelope"]"#),
            attributes: json(r#"{"floor": 3, "gate": 12}"#),
            reference: json(r#""REF-1""#),
            r#type: "parcel".into(),
            note: Some("leave at the door".into()),
            pieces: Some(3),
            volume: Some(1_000_000_000_000),
            max_ratio: Some(0.5),
            insured_score: Some(1.75),
            signed: Some(false),
            photo: Some(vec![9, 8, 7]),
            previous_checksum: Some(vec![0xAB; 16]),
            previous_status: Some("PENDING".into()),
            discount: Some("1.50".parse().unwrap()),
            return_id: Some(Uuid::from_u128(42)),
            delivery_date: Some(Date::from_ymd_opt(2026, 3, 6).unwrap()),
            delivery_window: Some(Time::from_hms_micro_opt(14, 0, 0, 1).unwrap()),
            delivered_at: Some("2026-03-06T14:00:00.5Z".parse().unwrap()),
            return_address: Some(json(r#"{"street": "2 Side St", "zip": "54321"}"#)),
            notes: Some(json(r#"["fragile", "upright"]"#)),
            extra: Some(json(r#"{"color": "red"}"#)),
            alternate: Some(json("42")),
        }
    };
}

/// `row` with every nullable column null.
macro_rules! nulls {
    ($entity:ident, $row:expr) => {
        $entity::Model {
            note: None,
            pieces: None,
            volume: None,
            max_ratio: None,
            insured_score: None,
            signed: None,
            photo: None,
            previous_checksum: None,
            previous_status: None,
            discount: None,
            return_id: None,
            delivery_date: None,
            delivery_window: None,
            delivered_at: None,
            return_address: None,
            notes: None,
            extra: None,
            alternate: None,
            ..$row
        }
    };
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}:\n  got  {got:?}\n  want {want:?}"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args().nth(1).ok_or("usage: generated-entity-check <database url>")?;
    let db = Database::connect(&url).await?;
    let schema = SchemaManager::new(&db);

    Migrator::up(&db, None).await?;
    for table in ["shipments", "shipments_by_key", "kafka_messages", "kafka_topic_info", "poll_info"] {
        check(&format!("`{table}` exists after up"), schema.has_table(table).await?, true)?;
    }

    // The outbox (`deimos generate migration outbox`): a 200 KiB message (over MySQL's 64 KiB
    // `blob`), a tombstone, and the unique lock row per topic and shard.
    use sea_orm::sea_query::{Alias, Query};
    let big = vec![7u8; 200 * 1024];
    let insert = Query::insert()
        .into_table(Alias::new("kafka_messages"))
        .columns(["topic", "message", "key", "created_at"].map(Alias::new))
        .values_panic(["t".into(), big.clone().into(), b"k".to_vec().into(), ChronoUtc::now().naive_utc().into()])
        .values_panic(["t".into(), Option::<Vec<u8>>::None.into(), b"k".to_vec().into(), ChronoUtc::now().naive_utc().into()])
        .to_owned();
    db.execute(&insert).await?;
    let read = db
        .query_all(
            &Query::select()
                .columns(["message", "shard"].map(Alias::new))
                .from(Alias::new("kafka_messages"))
                .order_by(Alias::new("id"), sea_orm::sea_query::Order::Asc)
                .to_owned(),
        )
        .await?;
    check("outbox rows", read.len(), 2)?;
    check("the big message", read[0].try_get_by_index::<Option<Vec<u8>>>(0)?, Some(big))?;
    check("the tombstone", read[1].try_get_by_index::<Option<Vec<u8>>>(0)?, None)?;
    check("the default shard", read[1].try_get_by_index::<i32>(1)?, 0)?;
    let lock = Query::insert()
        .into_table(Alias::new("kafka_topic_info"))
        .columns(["topic", "shard"].map(Alias::new))
        .values_panic(["t".into(), 0.into()])
        .to_owned();
    db.execute(&lock).await?;
    check("a second lock row for the topic fails", db.execute(&lock).await.is_err(), true)?;

    // The poller's `poll_info` (`deimos generate migration poller`): a cursor with a
    // microsecond timestamp reads back as written, and one row per poller.
    let at = ChronoDateTime::parse_from_str("2026-12-01 10:11:12.123456", "%Y-%m-%d %H:%M:%S%.f")?;
    let info = Query::insert()
        .into_table(Alias::new("poll_info"))
        .columns(["poller", "last_sent", "last_sent_id"].map(Alias::new))
        .values_panic(["p".into(), at.into(), "42".into()])
        .to_owned();
    db.execute(&info).await?;
    check("a second poll_info row for the poller fails", db.execute(&info).await.is_err(), true)?;
    let read = db
        .query_one(
            &Query::select()
                .columns(["last_sent", "last_sent_id"].map(Alias::new))
                .from(Alias::new("poll_info"))
                .to_owned(),
        )
        .await?
        .ok_or("no poll_info row")?;
    check("poll_info.last_sent", read.try_get_by_index::<ChronoDateTime>(0)?, at)?;
    check("poll_info.last_sent_id", read.try_get_by_index::<String>(1)?, "42".to_owned())?;

    // The generated `id` key: the database assigns it.
    for want in [full!(shipments), nulls!(shipments, full!(shipments))] {
        let mut row = want.clone().into_active_model();
        row.id = NotSet;
        let inserted = row.insert(&db).await?;
        check("a new id", inserted.id > 0, true)?;
        let want = shipments::Model { id: inserted.id, ..want };
        check("the inserted row", &inserted, &want)?;
        let read = shipments::Entity::find_by_id(inserted.id).one(&db).await?;
        check("the row read back", read.as_ref(), Some(&want))?;
    }
    check("rows in shipments", shipments::Entity::find().count(&db).await?, 2)?;

    // The compound key (warehouse, sequence).
    let first = full!(shipments_by_key);
    let second = nulls!(shipments_by_key, shipments_by_key::Model { sequence: 8, ..full!(shipments_by_key) });
    for want in [first.clone(), second] {
        want.clone().into_active_model().insert(&db).await?;
        let read = shipments_by_key::Entity::find_by_id((want.warehouse.clone(), want.sequence))
            .one(&db)
            .await?;
        check("the keyed row read back", read.as_ref(), Some(&want))?;
    }
    let duplicate = shipments_by_key::Model { note: Some("again".into()), ..first };
    check(
        "inserting a duplicate key fails",
        duplicate.into_active_model().insert(&db).await.is_err(),
        true,
    )?;

    Migrator::down(&db, None).await?;
    for table in ["shipments", "shipments_by_key", "kafka_messages", "kafka_topic_info", "poll_info"] {
        check(&format!("`{table}` exists after down"), schema.has_table(table).await?, false)?;
    }
    println!("ok: {}", db.get_database_backend().as_str());
    Ok(())
}
"##;

/// Writes the scratch project (the generated files in `src/generated/`) and builds it;
/// returns the binary.
fn build_scratch() -> PathBuf {
    let dir = target_dir().join("generated-entity-check");
    let generated = dir.join("src").join("generated");
    if generated.exists() {
        std::fs::remove_dir_all(&generated).unwrap();
    }
    std::fs::create_dir_all(&generated).unwrap();

    let shipments = generate("shipments", &generated, &[]);
    let by_key = generate(
        "shipments_by_key",
        &generated,
        &["--primary-key", "warehouse", "--primary-key", "sequence"],
    );
    let out = generated.display().to_string();
    let output = run_ok(
        &mut deimos(&["generate", "migration", "outbox", "--out", &out]),
        "deimos generate migration outbox",
    );
    let file = generated.join("m20261201_000001_deimos_outbox_tables.rs");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("created {}", file.display())),
        "{}",
        show(&output)
    );
    let output = run_ok(
        &mut deimos(&["generate", "migration", "poller", "--out", &out]),
        "deimos generate migration poller",
    );
    let file = generated.join("m20261201_000002_deimos_poll_info.rs");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("created {}", file.display())),
        "{}",
        show(&output)
    );
    std::fs::write(dir.join("Cargo.toml"), manifest()).unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("src").join("main.rs"),
        MAIN.replace("MIGRATION_SHIPMENTS", &shipments)
            .replace("MIGRATION_BY_KEY", &by_key),
    )
    .unwrap();

    let started = Instant::now();
    let output = run_ok(
        cargo().current_dir(&dir).args(["build", "--offline"]),
        "building the generated code (target/generated-entity-check)",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let compiled: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Compiling "))
        .collect();
    eprintln!(
        "scratch build: {:.1} s, compiled {}: {}",
        started.elapsed().as_secs_f64(),
        compiled.len(),
        compiled.join(", ")
    );
    target_dir().join("debug").join(format!(
        "generated-entity-check{}",
        std::env::consts::EXE_SUFFIX
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_entity_compiles_and_migrates_on_three_databases() {
    let bin = tokio::task::spawn_blocking(build_scratch).await.unwrap();
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        let output = tokio::process::Command::new(&bin)
            .arg(test_db.url())
            .output()
            .await
            .unwrap_or_else(|e| panic!("{db:?}: cannot start {}: {e}", bin.display()));
        test_db.drop_database().await;
        assert!(
            output.status.success(),
            "{db:?}: the generated code failed: {}",
            show(&output)
        );
    }
}

#[test]
fn unknown_schema_names_the_path_tried() {
    let out = tempfile::tempdir().unwrap();
    let schemas = schemas();
    let output = deimos(&[
        "generate",
        "entity",
        "widgets",
        "com.example.Nope",
        "--schema-path",
        &schemas,
        "--out",
        &out.path().display().to_string(),
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tried = workspace().join("schemas/com/example/Nope.avsc");
    assert!(
        stderr.starts_with(&format!(
            "error: schema `com.example.Nope` not found: no file `{}`",
            tried.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn primary_key_errors_name_the_field() {
    let out = tempfile::tempdir().unwrap();
    let schemas = schemas();
    let out_arg = out.path().display().to_string();
    let run = |key: &str| {
        let output = deimos(&[
            "generate",
            "entity",
            "shipments",
            "com.example.Shipment",
            "--schema-path",
            &schemas,
            "--out",
            &out_arg,
            "--primary-key",
            "warehouse",
            "--primary-key",
            key,
        ])
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", show(&output));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run("warehous");
    assert!(
        stderr.starts_with(
            "error: primary key field `warehous` is not a field of `com.example.Shipment`; its \
             fields are `id`, `message_id`, `timestamp`, `warehouse`, `sequence`,"
        ),
        "{stderr}"
    );
    let stderr = run("address");
    assert_eq!(
        stderr.trim_end(),
        "error: primary key field `address` has type record com.example.Address, which becomes \
         a JSON column; a JSON column cannot be part of a primary key"
    );
    let stderr = run("note");
    assert!(
        stderr.starts_with("error: primary key field `note` is nullable (union [null, string])"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    // A usage error is clap's: exit status 2.
    let output = deimos(&["generate", "entity", "shipments"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
}

#[test]
fn default_paths_schema_path_from_the_config_file_and_no_overwriting() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("deimos.toml"),
        format!("[schema]\npath = {:?}\n", schemas()),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["generate", "entity", "shipments", "com.example.Shipment"];
        args.extend(extra);
        deimos(&args).current_dir(project.path()).output().unwrap()
    };
    let output = run(&[]);
    assert!(output.status.success(), "{}", show(&output));
    let entity = project.path().join("src/entity/shipments.rs");
    assert!(entity.is_file());
    let migrations: Vec<String> = std::fs::read_dir(project.path().join("migration/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(migrations.len(), 1, "{migrations:?}");
    assert!(
        migrations[0].ends_with("_create_shipments.rs"),
        "{migrations:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("created src/entity/shipments.rs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("left out (as in Deimos' generator): id, message_id, timestamp"),
        "{stdout}"
    );

    // A second run refuses to overwrite the entity.
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "error: `src/entity/shipments.rs` already exists; pass --force to overwrite it"
    );
    // With the entity gone, the existing migration stops it.
    std::fs::remove_file(&entity).unwrap();
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: a migration creating `shipments` already exists: "),
        "{stderr}"
    );
    assert!(!entity.exists());
    // --force writes both again.
    let output = run(&["--force"]);
    assert!(output.status.success(), "{}", show(&output));
    assert!(entity.is_file());
}

#[test]
fn outbox_migration_default_path_and_no_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir
        .path()
        .join("migration/src/m20261201_000001_deimos_outbox_tables.rs");
    let run = |args: &[&str]| {
        let mut all = vec!["generate", "migration", "outbox"];
        all.extend(args);
        deimos(&all).current_dir(dir.path()).output().unwrap()
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", show(&first));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("pub struct Migration;"), "{text}");
    // The file is deimos' own migration, under the same name.
    use deimos::orm::sea_orm_migration::MigrationName as _;
    assert!(text.contains(&format!(
        "\"{}\"",
        deimos::outbox::CreateOutboxTables.name()
    )));
    std::fs::write(&file, "// edited").unwrap();
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(1), "{}", show(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("pass --force to overwrite it"),
        "{}",
        show(&again)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "// edited");
    let forced = run(&["--force"]);
    assert!(forced.status.success(), "{}", show(&forced));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let unknown = deimos(&["generate", "migration", "inbox"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
}
