//! `bench upsert`: the batch entity consumer writing N messages into a database, side by side
//! with a hand-written SeaORM `insert_many … on conflict` loop over the same rows.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use apache_avro::types::Value;
use deimos::config::ProducerBackendKind;
use deimos::consumer::BatchMetadata;
use deimos::schema::Incoming;
use deimos::Config;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, EntityTrait, Schema, Set, TransactionTrait,
};

use super::{print_round, print_summary, rate, sides, OnlySide, Side};

/// The `stock` table (schema `com.example.Stock`, compound key `Stock_key`).
mod stock {
    #![allow(missing_docs, unreachable_pub)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_stock")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub warehouse: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        pub quantity: i32,
        pub price: f64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The batch entity consumer the deimos side runs (its handler is called directly, without a
/// broker: the bench times the database side of the consumer).
#[deimos::consumer(
    topic = "bench-stock",
    schema = "com.example.Stock",
    group_id = "bench-stock",
    key_config(schema = "Stock_key"),
    entity = stock::Entity,
    delivery = "inline_batch"
)]
#[derive(Debug)]
struct BenchStockRows;

/// One row, as the raw side holds it.
#[derive(Debug, Clone)]
struct Row {
    warehouse: String,
    sku: String,
    quantity: i32,
    price: f64,
    updated_at_ms: i64,
}

fn rows(messages: usize) -> Vec<Row> {
    (0..messages)
        .map(|i| Row {
            warehouse: format!("w{}", i % 16),
            sku: format!("sku-{}", i / 16),
            quantity: (i % 1000) as i32,
            price: (i % 10_000) as f64 / 100.0,
            updated_at_ms: 1_764_000_000_000 + i as i64,
        })
        .collect()
}

/// The message a consumer decodes for `row`: its value and its key record.
fn message(row: &Row) -> (Value, Value) {
    let value = Value::Record(vec![
        ("warehouse".into(), Value::String(row.warehouse.clone())),
        ("sku".into(), Value::String(row.sku.clone())),
        ("quantity".into(), Value::Int(row.quantity)),
        ("price".into(), Value::Double(row.price)),
        (
            "updated_at".into(),
            Value::TimestampMillis(row.updated_at_ms),
        ),
    ]);
    let key = Value::Record(vec![
        ("warehouse".into(), Value::String(row.warehouse.clone())),
        ("sku".into(), Value::String(row.sku.clone())),
    ]);
    (value, key)
}

/// Times the batch entity consumer and the raw loop writing `messages` rows, in transactions
/// of `batch` rows, into `database_url` (default: a SQLite file in a temporary directory).
pub(crate) async fn upsert(
    database_url: Option<String>,
    messages: usize,
    batch: usize,
    rounds: usize,
    only: Option<OnlySide>,
) -> anyhow::Result<()> {
    let (url, dir) = super::database_or_sqlite(database_url, "upsert")?;
    let db = Database::connect(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let backend = db.get_database_backend();
    db.execute_unprepared("DROP TABLE IF EXISTS bench_stock")
        .await?;
    db.execute(&Schema::new(backend).create_table_from_entity(stock::Entity))
        .await
        .context("creating bench_stock")?;
    let mut config = Config::default();
    config.schema.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas").into();
    config.producers.backend = ProducerBackendKind::Test;
    let app = deimos::configure(config)?;
    app.set_database(db.clone());
    let data = rows(messages);
    let decoded: Vec<(Value, Value)> = data.iter().map(message).collect();
    println!("upsert: {messages} rows into {backend:?}, transactions of {batch}");

    let mut results = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut deimos = Side::default();
        let mut raw = Side::default();
        for side in sides(round, only) {
            stock::Entity::delete_many().exec(&db).await?;
            if side == 0 {
                deimos = upsert_deimos(&decoded, batch).await?;
            } else {
                raw = upsert_raw(&db, &data, batch).await?;
            }
            let written = stock::Entity::find().all(&db).await?.len();
            anyhow::ensure!(
                written == messages,
                "side {side} left {written} rows, {messages} expected"
            );
        }
        if rounds > 1 && only.is_none() {
            print_round(round, deimos, raw);
        }
        results.push((deimos, raw));
    }
    print_summary("upsert", &results, only);
    db.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The deimos side: the registered batch handler of `BenchStockRows` (decoded values to
/// payloads, compaction, one bulk upsert per batch in a transaction), batch by batch.
async fn upsert_deimos(decoded: &[(Value, Value)], batch: usize) -> anyhow::Result<Side> {
    // What the consumer loop hands the handler: decoded values and keys per batch (made
    // before the clock starts, as the raw side's rows are).
    let mut offset = 0i64;
    let batches: Vec<(Vec<Incoming>, BatchMetadata)> = decoded
        .chunks(batch)
        .map(|chunk| {
            let incoming = chunk
                .iter()
                .map(|(value, _)| Incoming::Value(Some(value.clone())))
                .collect();
            let offsets: Vec<i64> = (offset..offset + chunk.len() as i64).collect();
            offset += chunk.len() as i64;
            let keys = chunk.iter().map(|(_, key)| Some(key.clone())).collect();
            (
                incoming,
                BatchMetadata::new("bench-stock", 0, offsets, keys),
            )
        })
        .collect();
    let started = Instant::now();
    for (incoming, metadata) in batches {
        deimos::orm::handle_batch::<BenchStockRows>(incoming, metadata, true)
            .await
            .map_err(|e| anyhow::anyhow!("deimos batch: {e}"))?;
    }
    Ok(measured(decoded.len(), started.elapsed()))
}

/// The raw side: active models built by hand from the rows, `insert_many … on conflict
/// (warehouse, sku) do update` per batch, in a transaction.
async fn upsert_raw(db: &DatabaseConnection, data: &[Row], batch: usize) -> anyhow::Result<Side> {
    use stock::Column as C;
    let started = Instant::now();
    for chunk in data.chunks(batch) {
        let models = chunk.iter().map(|r| stock::ActiveModel {
            warehouse: Set(r.warehouse.clone()),
            sku: Set(r.sku.clone()),
            quantity: Set(r.quantity),
            price: Set(r.price),
            updated_at: Set(
                chrono::DateTime::from_timestamp_millis(r.updated_at_ms).unwrap_or_default()
            ),
        });
        let txn = db.begin().await?;
        stock::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([C::Warehouse, C::Sku])
                    .update_columns([C::Quantity, C::Price, C::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(measured(data.len(), started.elapsed()))
}

fn measured(rows: usize, took: Duration) -> Side {
    Side {
        rate: rate(rows, took),
        cpu_us: None,
    }
}
