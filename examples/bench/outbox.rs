//! `bench outbox`: outbox workers draining N messages from the `kafka_messages` table to the
//! broker, side by side with the raw cost of the same work: one loop of select, produce and
//! delete with rdkafka and SeaORM.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use deimos::config::ProducerBackendKind;
use deimos::orm::sea_orm_migration::SchemaManager;
use deimos::producer::PublishOptions;
use deimos::testing::EmbeddedKafka;
use deimos::{App, Config};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use super::{print_round, print_summary, rate, sides, widget, OnlySide, Side, Widget};

/// Rows per batch on both sides (deimos' `db_producer.batch_size` default).
const BATCH: usize = 1000;

/// `bench outbox`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct OutboxArgs {
    /// Database URL (`postgres://…`, `mysql://…`, `sqlite://…`); a SQLite file in a
    /// temporary directory when absent. The outbox tables (`kafka_messages`,
    /// `kafka_topic_info`) are dropped and created, and nothing else is touched: still, use a
    /// scratch database.
    #[arg(long)]
    database_url: Option<String>,
    /// Bootstrap servers (`host:port,...`); an embedded broker when absent.
    #[arg(long)]
    brokers: Option<String>,
    /// Messages drained by each side (per round), at least 1.
    #[arg(long, default_value_t = 100_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    messages: usize,
    /// Outbox workers on the deimos side (the raw side is one loop), at least 1.
    #[arg(long, default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    workers: usize,
    /// Topics the messages are spread over, at least 1.
    #[arg(long, default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    topics: usize,
    /// Shards (locks) per topic (`db_producer.shards`, 1 to 1024): with more than one,
    /// several workers send one topic at once.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    shards: u16,
    /// Rounds: each side runs this many times, taking turns; medians are printed.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Run one side only; the ratio is then not printed.
    #[arg(long, value_enum)]
    only: Option<OnlySide>,
}

/// Times `workers` outbox workers and the raw loop draining `messages` messages spread over
/// `topics` topics (3 partitions each) from `database_url` (default: a SQLite file in a
/// temporary directory) to `brokers` (default: an embedded broker).
pub(crate) async fn outbox(args: OutboxArgs) -> anyhow::Result<()> {
    let OutboxArgs {
        database_url,
        brokers,
        messages,
        workers,
        topics,
        shards,
        rounds,
        only,
    } = args;
    let rounds = rounds.max(1);
    let (url, dir) = super::database_or_sqlite(database_url, "outbox")?;
    let db = Database::connect(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let backend = db.get_database_backend();
    // Only the outbox's own tables: the migration runs directly, not through a Migrator, so
    // `seaql_migrations` is neither used nor touched.
    for table in ["kafka_messages", "kafka_topic_info"] {
        db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await?;
    }
    let manager = SchemaManager::new(&db);
    for migration in deimos::outbox::migrations() {
        migration.up(&manager).await.context("outbox migration")?;
    }

    let embedded = match &brokers {
        Some(_) => None,
        None => Some(EmbeddedKafka::start()?),
    };
    let bootstrap = match (&brokers, &embedded) {
        (Some(b), _) => b.clone(),
        (None, Some(e)) => e.bootstrap_servers().to_owned(),
        (None, None) => unreachable!(),
    };
    let run = std::process::id();
    let names: Vec<String> = (0..topics)
        .map(|i| format!("bench-outbox-{run}-{i}"))
        .collect();
    let mut config = Config::default();
    config.kafka.brokers = vec![bootstrap.clone()];
    config.schema.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas").into();
    config.producers.backend = ProducerBackendKind::Db;
    config.db_producer.shards = names.iter().map(|n| (n.clone(), shards)).collect();
    let app = App::from_config(config.clone())?;
    app.set_database(db.clone());
    match &embedded {
        // The mock cluster creates topics itself (its admin API does not).
        Some(e) => {
            for name in &names {
                e.create_topic(name, 3)?;
            }
        }
        None => {
            let specs: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), 3)).collect();
            app.create_topics(&specs).await?;
        }
    }
    println!(
        "outbox: {messages} messages over {topics} topic(s) of {shards} shard(s) from \
         {backend:?}, {workers} worker(s), batches of {BATCH}"
    );

    let mut results = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut deimos = Side::default();
        let mut raw = Side::default();
        for side in sides(round, only) {
            fill(&app, &db, &names, messages).await?;
            let before = on_broker(&bootstrap, &names).await?;
            if side == 0 {
                deimos = drain_deimos(&app, &db, workers, messages).await?;
            } else {
                raw = drain_raw(&config, &db, messages).await?;
            }
            let sent = on_broker(&bootstrap, &names).await? - before;
            anyhow::ensure!(
                sent == messages as i64,
                "side {side} put {sent} messages on the broker, {messages} expected"
            );
        }
        if rounds > 1 && only.is_none() {
            print_round(round, deimos, raw);
        }
        results.push((deimos, raw));
    }
    print_summary("outbox", &results, only);
    db.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Writes `messages` widgets into the outbox (not timed), topic after topic in turn, through
/// `publish_list_on` (the `db` backend).
async fn fill(
    app: &App,
    db: &DatabaseConnection,
    topics: &[String],
    messages: usize,
) -> anyhow::Result<()> {
    let mut per_topic: Vec<Vec<Widget>> = vec![Vec::new(); topics.len()];
    for i in 0..messages {
        per_topic[i % topics.len()].push(widget(i as i64));
    }
    for (topic, widgets) in topics.iter().zip(per_topic) {
        let options = PublishOptions::new().topic(topic.clone());
        for chunk in widgets.chunks(5000) {
            app.publish_list_on::<Widget, _, _>(db, chunk, &options)
                .await?;
        }
    }
    Ok(())
}

/// Whether any row is left (one index probe, so the polling costs the database little).
async fn waiting(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let any = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("kafka_messages"))
        .limit(1)
        .to_owned();
    Ok(db.query_one(&any).await?.is_some())
}

/// The deimos side: `workers` outbox workers, timed from their start until the table is
/// empty (checked every 5 ms).
async fn drain_deimos(
    app: &App,
    db: &DatabaseConnection,
    workers: usize,
    messages: usize,
) -> anyhow::Result<Side> {
    let started = Instant::now();
    let handle = app.start_db_backend(workers)?;
    while waiting(db).await? {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the outbox did not drain in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    handle.shutdown().await;
    Ok(Side {
        rate: rate(messages, took),
        cpu_us: None,
    })
}

/// The raw side: one loop over the waiting topics and shards; per pair, select up to 1000 rows
/// in id order (the outbox index is `(topic, shard, id)`), produce them with an rdkafka `FutureProducer` configured as deimos' outbox producer
/// (`producers.*` with `acks=all` and idempotence), await every delivery, delete the rows.
async fn drain_raw(
    config: &Config,
    db: &DatabaseConnection,
    messages: usize,
) -> anyhow::Result<Side> {
    let started = Instant::now();
    let mut client = config.producer_client_config();
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            config.db_producer.send_timeout.as_millis().to_string(),
        );
    let producer: FutureProducer = client.create()?;
    let table = Alias::new("kafka_messages");
    loop {
        let distinct = Query::select()
            .distinct()
            .columns(["topic", "shard"].map(Alias::new))
            .from(table.clone())
            .to_owned();
        let topics: Vec<(String, i32)> = db
            .query_all(&distinct)
            .await?
            .iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
            .collect::<Result<_, sea_orm::DbErr>>()?;
        if topics.is_empty() {
            break;
        }
        for (topic, shard) in topics {
            loop {
                let select = Query::select()
                    .columns(["id", "key", "message"].map(Alias::new))
                    .from(table.clone())
                    .and_where(Expr::col(Alias::new("topic")).eq(topic.as_str()))
                    .and_where(Expr::col(Alias::new("shard")).eq(shard))
                    .order_by(Alias::new("id"), Order::Asc)
                    .limit(BATCH as u64)
                    .to_owned();
                let rows = db.query_all(&select).await?;
                if rows.is_empty() {
                    break;
                }
                let mut ids = Vec::with_capacity(rows.len());
                let mut deliveries = Vec::with_capacity(rows.len());
                for row in &rows {
                    ids.push(row.try_get_by_index::<i64>(0)?);
                    let key: Option<Vec<u8>> = row.try_get_by_index(1)?;
                    let value: Option<Vec<u8>> = row.try_get_by_index(2)?;
                    let mut record = FutureRecord::to(&topic);
                    if let Some(key) = &key {
                        record = record.key(key.as_slice());
                    }
                    if let Some(value) = &value {
                        record = record.payload(value.as_slice());
                    }
                    loop {
                        match producer.send_result(record) {
                            Ok(delivery) => break deliveries.push(delivery),
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                back,
                            )) => {
                                record = back;
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err((e, _)) => anyhow::bail!("raw enqueue: {e}"),
                        }
                    }
                }
                for delivery in deliveries {
                    match delivery.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((e, _))) => anyhow::bail!("raw delivery: {e}"),
                        Err(_) => anyhow::bail!("raw delivery canceled"),
                    }
                }
                let delete = Query::delete()
                    .from_table(table.clone())
                    .and_where(Expr::col(Alias::new("id")).is_in(ids))
                    .to_owned();
                db.execute(&delete).await?;
            }
        }
    }
    Ok(Side {
        rate: rate(messages, started.elapsed()),
        cpu_us: None,
    })
}

/// Messages on the broker in `topics`: the sum of every partition's high watermark.
async fn on_broker(bootstrap: &str, topics: &[String]) -> anyhow::Result<i64> {
    let bootstrap = bootstrap.to_owned();
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "bench-outbox-watermarks")
            .create()?;
        let timeout = Duration::from_secs(10);
        let mut total = 0;
        for topic in &topics {
            let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    total += consumer.fetch_watermarks(topic, p.id(), timeout)?.1;
                }
            }
        }
        Ok(total)
    })
    .await?
}
