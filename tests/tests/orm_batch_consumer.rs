//! Batch entity consumers (`#[consumer(.., entity = .., delivery = "inline_batch")]`, Deimos'
//! batch `ActiveRecordConsumer`) on SQLite, PostgreSQL and MariaDB, through the embedded
//! broker: 50,000 messages over 10,000 compound keys with 10% tombstones end in exactly the
//! table a sequential replay produces, compacted and in slices; a bad record is written
//! message by message so it neither blocks nor hides the others.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use deimos::config::ProducerBackendKind;
use deimos::orm::{compact, slices, BatchMessage};
use deimos::{payload, App, Config, PayloadValue};
use deimos_tests::db::{Db, TestDb};
use deimos_tests::product::stock;
use deimos_tests::{Broker, Running};
use sea_orm::{EntityTrait, QueryOrder};
use serde::Serialize;

/// A stock message (schema `com.example.Stock`, key `com.example.Stock_key`).
#[deimos::producer(
    topic = "stock",
    schema = "com.example.Stock",
    key_config(schema = "Stock_key")
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stock {
    /// Warehouse, part of the key.
    pub warehouse: String,
    /// SKU, part of the key.
    pub sku: String,
    /// Units in stock.
    pub quantity: i32,
    /// Unit price.
    pub price: f64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// The key of a [`Stock`] message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StockKey {
    /// Warehouse.
    pub warehouse: String,
    /// SKU.
    pub sku: String,
}

/// Compacted (the default): the last message per key of each batch.
#[deimos::consumer(
    topic = "stock",
    schema = "com.example.Stock",
    group_id = "stock-compacted",
    key_config(schema = "Stock_key"),
    entity = stock::Entity,
    delivery = "inline_batch"
)]
#[derive(Debug)]
pub struct StockCompacted;

/// Uncompacted: slices of independent keys, in order.
#[deimos::consumer(
    topic = "stock",
    schema = "com.example.Stock",
    group_id = "stock-sliced",
    key_config(schema = "Stock_key"),
    entity = stock::Entity,
    delivery = "inline_batch",
    compacted = false
)]
#[derive(Debug)]
pub struct StockSliced;

/// A deterministic stream of `count` messages over `keys` keys, one in ten a tombstone.
fn stream(count: usize, keys: u64) -> Vec<(StockKey, Option<Stock>)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..count)
        .map(|i| {
            let k = next() % keys;
            let key = StockKey {
                warehouse: format!("w{}", k % 10),
                sku: format!("sku-{}", k / 10),
            };
            let value = (next() % 10 != 0).then(|| Stock {
                warehouse: key.warehouse.clone(),
                sku: key.sku.clone(),
                quantity: (next() % 1000) as i32,
                price: (next() % 100_000) as f64 / 100.0,
                updated_at: 1_764_000_000_000 + i as i64 * 1000,
            });
            (key, value)
        })
        .collect()
}

/// The table a sequential replay of `messages` leaves: key → (quantity, price, updated_at ms).
fn replay(messages: &[(StockKey, Option<Stock>)]) -> BTreeMap<StockKey, (i32, f64, i64)> {
    let mut table = BTreeMap::new();
    for (key, value) in messages {
        match value {
            Some(s) => {
                table.insert(key.clone(), (s.quantity, s.price, s.updated_at));
            }
            None => {
                table.remove(key);
            }
        }
    }
    table
}

async fn table(db: &TestDb) -> BTreeMap<StockKey, (i32, f64, i64)> {
    stock::Entity::find()
        .order_by_asc(stock::Column::Warehouse)
        .order_by_asc(stock::Column::Sku)
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                StockKey {
                    warehouse: r.warehouse,
                    sku: r.sku,
                },
                (r.quantity, r.price, r.updated_at.timestamp_millis()),
            )
        })
        .collect()
}

fn config(broker: &Broker, consumer: &str, topic: &str) -> Config {
    let mut config = deimos_tests::test_config(broker);
    let over = format!(
        "[consumer.{consumer}]\ntopic = \"{topic}\"\ngroup_id = \"{topic}-group\"\n\
         max_batch_size = 500\nmax_wait_time = \"100ms\"\nreraise_errors = true\n"
    );
    let extra = Config::from_toml(&format!(
        "[kafka]\nbrokers = [\"{}\"]\n{over}",
        broker.bootstrap()
    ))
    .unwrap();
    config.consumer = extra.consumer;
    config.consumers.offset_commit_interval = Duration::from_millis(100);
    config
}

/// Publishes `messages` in order to `topic` (the asynchronous backend: queued in order, then
/// every delivery awaited).
async fn publish(broker: &Broker, topic: &str, messages: &[(StockKey, Option<Stock>)]) {
    let mut config = deimos_tests::test_config(broker);
    config.producers.backend = ProducerBackendKind::KafkaAsync;
    // Room for the whole stream: the test queues it before awaiting any delivery.
    config.producers.max_buffer_size = 60_000;
    config.producers.max_queue_size = 60_000;
    let app = App::from_config(config).unwrap();
    let options = deimos::producer::PublishOptions::new().topic(topic);
    for (key, value) in messages {
        match value {
            Some(s) => app
                .publish_list_with::<Stock, _>([s], &options)
                .await
                .unwrap(),
            None => app.tombstone_with::<Stock, _>(key, &options).await.unwrap(),
        }
    }
    app.shutdown_producers().await.unwrap();
}

async fn replayed_on_every_database(consumer: &str, mode: &str) {
    let broker = Broker::embedded();
    let messages = stream(50_000, 10_000);
    let expected = replay(&messages);
    assert!(expected.len() > 8_000, "most keys end with a row");
    for db in Db::ALL {
        let topic = format!("stock-{mode}-{db:?}").to_lowercase();
        broker.create_topics(&[topic.as_str()], 3).await;
        publish(&broker, &topic, &messages).await;
        let test_db = TestDb::create(db).await;
        test_db.create_table(stock::Entity).await;
        let app = App::from_config(config(&broker, consumer, &topic)).unwrap();
        app.set_database(test_db.conn.clone());
        let started = std::time::Instant::now();
        let running = Running::start(&app, &[consumer]);
        let deadline = started + Duration::from_secs(240);
        loop {
            let now = table(&test_db).await;
            if now == expected {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{db:?} {mode}: {} rows, {} expected; first difference: {:?}",
                now.len(),
                expected.len(),
                expected.iter().find(|(k, v)| now.get(*k) != Some(*v))
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!(
            "{db:?} {mode}: 50000 messages matched the replay after {:?}",
            started.elapsed()
        );
        running.stop().await;
        assert_eq!(
            table(&test_db).await,
            expected,
            "{db:?} {mode}: after stopping"
        );
        test_db.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compacted_batches_end_in_the_sequential_replay() {
    replayed_on_every_database("StockCompacted", "compacted").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sliced_batches_end_in_the_sequential_replay() {
    replayed_on_every_database("StockSliced", "sliced").await;
}

fn message(key: i64, value: Option<i64>, offset: i64) -> BatchMessage {
    BatchMessage {
        key: PayloadValue::Int(key),
        payload: value.map(|v| payload! { "v" => v }),
        offset,
    }
}

#[test]
fn compaction_keeps_the_last_message_per_key_and_slices_keep_order() {
    let batch = vec![
        message(1, Some(1), 10),
        message(2, Some(2), 11),
        message(1, None, 12),
        message(3, Some(3), 13),
        message(2, Some(4), 14),
    ];
    let kept: Vec<i64> = compact(batch.clone()).iter().map(|m| m.offset).collect();
    assert_eq!(kept, [12, 13, 14]);
    let cut: Vec<Vec<i64>> = slices(batch)
        .iter()
        .map(|s| s.iter().map(|m| m.offset).collect())
        .collect();
    assert_eq!(cut, [vec![10, 11], vec![12, 13, 14]]);
}

/// Batch mode with a record that cannot be written (its `sku` is made null by the hook, and the
/// column is not nullable).
#[deimos::consumer(
    topic = "products-batch",
    schema = "com.example.Product",
    group_id = "products-batch",
    key_config(field = "id"),
    entity = deimos_tests::product::Entity,
    delivery = "inline_batch",
    hooks
)]
#[derive(Debug)]
pub struct ProductBatch;

impl deimos::orm::EntityConsumerHooks for ProductBatch {
    fn record_attributes(
        mut payload: deimos::Payload,
        key: Option<&PayloadValue>,
    ) -> deimos::Payload {
        if key == Some(&PayloadValue::Int(13)) {
            payload.insert("sku", PayloadValue::Null);
        }
        payload
    }
}

/// Publishes rows of `products` to `products-batch`.
#[deimos::producer(
    topic = "products-batch",
    schema = "com.example.Product",
    key_config(field = "id"),
    entity = deimos_tests::product::Entity
)]
#[derive(Debug)]
pub struct ProductsToBatch;

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_record_is_written_alone_and_the_others_land() {
    use deimos_tests::product;
    let broker = Broker::embedded();
    broker.create_topics(&["products-batch"], 1).await;
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(product::Entity).await;
        let rows: Vec<product::Model> = (1..=20)
            .map(|id| product::Model {
                id,
                sku: format!("SKU-{id}"),
                name: format!("p{id}"),
                price: "1.25".parse().unwrap(),
                weight: None,
                released_on: None,
                updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                dimensions: None,
                tags: serde_json::json!([]),
                active: true,
                external_id: None,
                internal_note: String::new(),
            })
            .collect();
        let mut config = deimos_tests::test_config(&broker);
        let group = format!("products-batch-{db:?}");
        config.consumer = Config::from_toml(&format!(
            "[kafka]\nbrokers = [\"x:1\"]\n[consumer.ProductBatch]\ngroup_id = \"{group}\"\n\
             max_batch_size = 50\nmax_wait_time = \"200ms\"\nreraise_errors = false\n"
        ))
        .unwrap()
        .consumer;
        let app = App::from_config(config).unwrap();
        app.set_database(test_db.conn.clone());
        deimos::orm::send_events_with::<ProductsToBatch>(
            &app,
            &rows,
            &deimos::producer::PublishOptions::default(),
        )
        .await
        .unwrap();
        let running = Running::start(&app, &["ProductBatch"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let expected: Vec<i64> = (1..=20).filter(|id| *id != 13).collect();
        loop {
            let ids: Vec<i64> = product::Entity::find()
                .order_by_asc(product::Column::Id)
                .all(&test_db.conn)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            if ids == expected {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{db:?}: rows {ids:?}, expected all but 13"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        running.stop().await;
        test_db.drop_database().await;
    }
}

#[test]
fn lock_conflicts_are_retried_and_other_errors_are_not() {
    use deimos::orm::is_retryable;
    use sea_orm::DbErr;
    let db = |text: &str| -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(DbErr::Custom(text.into()))
    };
    assert!(is_retryable(&*db(
        "error returned from database: deadlock detected"
    )));
    assert!(is_retryable(&*db(
        "could not serialize access due to concurrent update"
    )));
    assert!(is_retryable(&*db(
        "1213 (40001): Deadlock found when trying to get lock; try restarting transaction"
    )));
    assert!(is_retryable(&*db("(code: 5) database is locked")));
    // Found through the source chain, as deimos wraps database errors.
    let wrapped = deimos::Error::Database {
        context: "writing".into(),
        source: db("deadlock detected"),
    };
    assert!(is_retryable(&wrapped));
    assert!(!is_retryable(&*db(
        "duplicate key value violates unique constraint"
    )));
    assert!(!is_retryable(&*db("column `sku` does not take null")));
    // Not database errors: their text never counts, whatever it says.
    let text = |t: &str| -> Box<dyn std::error::Error + Send + Sync> { t.into() };
    assert!(!is_retryable(&*text(
        "offset 40001: column `quantity` does not take string \"not a number\""
    )));
    assert!(!is_retryable(&*text(
        "column `sku` does not take string \"deadlock detected\""
    )));
}

/// Batch hooks: negative quantities are skipped (`process_message`), a tombstone zeroes the
/// row instead of deleting it (`remove_records`); messages without a key are keyed from their
/// payload (the default `record_key`).
#[deimos::consumer(
    topic = "stock-hooked",
    schema = "com.example.Stock",
    group_id = "stock-hooked",
    key_config(schema = "Stock_key"),
    entity = stock::Entity,
    delivery = "inline_batch",
    hooks
)]
#[derive(Debug)]
pub struct StockHooked;

impl deimos::orm::EntityConsumerHooks for StockHooked {
    fn process_message(payload: Option<&deimos::Payload>, _metadata: &deimos::Metadata) -> bool {
        payload.is_none_or(|p| p.get("quantity").and_then(PayloadValue::as_i64) >= Some(0))
    }

    async fn remove_records<C: sea_orm::ConnectionTrait>(
        db: &C,
        keys: Vec<PayloadValue>,
    ) -> Result<(), deimos::BoxError> {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, QueryFilter};
        for key in keys {
            let map = key.as_map().ok_or("a key record")?;
            let field = |name: &str| {
                map.get(name)
                    .and_then(PayloadValue::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            stock::Entity::update_many()
                .col_expr(stock::Column::Quantity, Expr::value(0))
                .filter(stock::Column::Warehouse.eq(field("warehouse")))
                .filter(stock::Column::Sku.eq(field("sku")))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

fn stock_value(warehouse: &str, sku: &str, quantity: i32) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    Value::Record(vec![
        ("warehouse".into(), Value::String(warehouse.into())),
        ("sku".into(), Value::String(sku.into())),
        ("quantity".into(), Value::Int(quantity)),
        ("price".into(), Value::Double(2.5)),
        (
            "updated_at".into(),
            Value::TimestampMillis(1_764_000_000_000),
        ),
    ])
}

fn stock_key(warehouse: &str, sku: &str) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    Value::Record(vec![
        ("warehouse".into(), Value::String(warehouse.into())),
        ("sku".into(), Value::String(sku.into())),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_hooks_skip_key_and_remove_on_every_database() {
    use deimos::consumer::BatchMetadata;
    use deimos::schema::Incoming;
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    // The handler runs outside a consumer here: it takes the global app's database.
    let app = deimos::configure(config).unwrap();
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(stock::Entity).await;
        app.set_database(test_db.conn.clone());
        let first = vec![
            (Some(stock_value("w1", "a", 5)), Some(stock_key("w1", "a"))),
            (Some(stock_value("w1", "b", 7)), None), // keyed from its payload
            (Some(stock_value("w2", "a", -1)), Some(stock_key("w2", "a"))), // skipped
        ];
        let second = vec![
            (None, Some(stock_key("w1", "a"))), // zeroed, not deleted
            (Some(stock_value("w1", "b", 8)), None),
        ];
        for (batch, base) in [(first, 0i64), (second, 10)] {
            let offsets: Vec<i64> = (base..base + batch.len() as i64).collect();
            let keys = batch.iter().map(|(_, k)| k.clone()).collect();
            let incoming = batch.into_iter().map(|(v, _)| Incoming::Value(v)).collect();
            deimos::orm::handle_batch::<StockHooked>(
                incoming,
                BatchMetadata::new("stock-hooked", 0, offsets, keys),
                true,
            )
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        }
        let now = table(&test_db).await;
        let key = |w: &str, s: &str| StockKey {
            warehouse: w.into(),
            sku: s.into(),
        };
        assert_eq!(now.len(), 2, "{db:?}: {now:?}");
        assert_eq!(
            now[&key("w1", "a")].0,
            0,
            "{db:?}: the tombstone zeroed the row"
        );
        assert_eq!(
            now[&key("w1", "b")].0,
            8,
            "{db:?}: keyed from the payload, updated"
        );
        test_db.drop_database().await;
    }
}

/// A `record_key` hook of its own: every keyless message gets the same key (row `w1`/`b`), so
/// compaction keeps only the batch's last message.
#[deimos::consumer(
    topic = "stock-one-key",
    schema = "com.example.Stock",
    group_id = "stock-one-key",
    key_config(schema = "Stock_key"),
    entity = stock::Entity,
    delivery = "inline_batch",
    hooks
)]
#[derive(Debug)]
pub struct StockOneKey;

impl deimos::orm::EntityConsumerHooks for StockOneKey {
    fn record_key(_payload: &deimos::Payload) -> Result<PayloadValue, deimos::BoxError> {
        Ok(PayloadValue::Map(
            payload! { "warehouse" => "w1", "sku" => "b" },
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_key_hook_keys_the_messages_that_have_none() {
    use deimos::consumer::BatchMetadata;
    use deimos::schema::Incoming;
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    let app = App::from_config(config).unwrap();
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(stock::Entity).await;
        app.set_database(test_db.conn.clone());
        let incoming = vec![
            Incoming::Value(Some(stock_value("w1", "a", 5))),
            Incoming::Value(Some(stock_value("w1", "b", 7))),
        ];
        app.scope(deimos::orm::handle_batch::<StockOneKey>(
            incoming,
            BatchMetadata::new("stock-one-key", 0, vec![0, 1], vec![None, None]),
            true,
        ))
        .await
        .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        let now = table(&test_db).await;
        let skus: Vec<&str> = now.keys().map(|k| k.sku.as_str()).collect();
        assert_eq!(skus, ["b"], "{db:?}: one key for both, the last kept");
        test_db.drop_database().await;
    }
}

/// Messages that cannot be written at all (a keyless tombstone, a payload that is not a
/// record) are left out and named in the batch's error; the others are written (found by the
/// issue-6 check: such a message used to fail the whole batch before anything was written).
#[tokio::test(flavor = "multi_thread")]
async fn unwritable_messages_are_named_and_the_rest_of_the_batch_is_written() {
    use deimos::consumer::BatchMetadata;
    use deimos::schema::Incoming;
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    let app = App::from_config(config).unwrap();
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(stock::Entity).await;
        app.set_database(test_db.conn.clone());
        for compacted in [true, false] {
            let incoming = vec![
                Incoming::Value(Some(stock_value("w1", "a", 5))),
                Incoming::Value(None), // a tombstone without a key
                Incoming::Value(Some(apache_avro::types::Value::String("junk".into()))),
                Incoming::Value(Some(stock_value("w1", "b", 7))),
            ];
            let keys = vec![Some(stock_key("w1", "a")), None, None, None];
            let result = app
                .scope(deimos::orm::handle_batch::<StockCompacted>(
                    incoming,
                    BatchMetadata::new("stock-bad", 0, vec![20, 21, 22, 23], keys),
                    compacted,
                ))
                .await;
            let err = result
                .expect_err("the bad messages are reported")
                .to_string();
            assert!(
                err.contains("offset 21")
                    && err.contains("offset 22")
                    && !err.contains("offset 20"),
                "{db:?}: {err}"
            );
            let now = table(&test_db).await;
            let quantities: Vec<(String, i32)> =
                now.iter().map(|(k, v)| (k.sku.clone(), v.0)).collect();
            assert_eq!(
                quantities,
                [("a".to_owned(), 5), ("b".to_owned(), 7)],
                "{db:?} compacted={compacted}: the good messages were written"
            );
        }
        test_db.drop_database().await;
    }
}

/// Log lines written by a `tracing_subscriber::fmt` subscriber, kept for the test to read.
#[derive(Debug, Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;
    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

/// A stock row's batch message: key record and payload with this quantity.
fn stock_message(sku: &str, quantity: i32, offset: i64) -> BatchMessage {
    BatchMessage {
        key: PayloadValue::Map(payload! { "warehouse" => "w", "sku" => sku }),
        payload: Some(payload! {
            "warehouse" => "w", "sku" => sku, "quantity" => quantity, "price" => 1.0,
            "updated_at" => Utc.timestamp_millis_opt(1_764_000_000_000).unwrap(),
        }),
        offset,
    }
}

/// A real lock conflict, provoked on each database, makes the batch transaction fail and run
/// again (Deimos' DeadlockRetry): another client's transaction holds row `a` while the batch
/// upserts `b` and then, for a tombstone, deletes `a`, waiting for it. On PostgreSQL and
/// MariaDB the blocker then updates `b`, which the batch holds: a deadlock, whose victim is
/// the batch (PostgreSQL: the batch waited first, so its deadlock check fires first; MariaDB:
/// the blocker has written more rows, so InnoDB rolls the batch back). On SQLite the blocker
/// holds the write lock past the busy timeout ("database is locked"). The retry is logged, and
/// the batch's second attempt commits after the blocker: `b` has the batch's value, `a` is
/// gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_loses_a_lock_conflict_is_tried_again_as_one_transaction() {
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(stock::Entity).await;
        for sku in ["a", "b"] {
            stock::ActiveModel {
                warehouse: Set("w".into()),
                sku: Set(sku.into()),
                quantity: Set(0),
                price: Set(1.0),
                updated_at: Set(Utc.timestamp_millis_opt(1_700_000_000_000).unwrap()),
            }
            .insert(&t.conn)
            .await
            .unwrap();
        }
        let set_quantity = |sku: &'static str| {
            sea_orm::sea_query::Query::update()
                .table(stock::Entity)
                .value(stock::Column::Quantity, 100)
                // By the whole primary key, so that InnoDB locks that row only.
                .and_where(sea_orm::sea_query::ExprTrait::eq(
                    sea_orm::sea_query::Expr::col(stock::Column::Warehouse),
                    "w",
                ))
                .and_where(sea_orm::sea_query::ExprTrait::eq(
                    sea_orm::sea_query::Expr::col(stock::Column::Sku),
                    sku,
                ))
                .to_owned()
        };
        // The blocker is another client (its own connection), as another process would be.
        let other = sea_orm::Database::connect(t.url()).await.unwrap();
        let blocker = other.begin().await.unwrap();
        if db == Db::MariaDb {
            // Weight: InnoDB rolls back the transaction that changed fewer rows.
            for i in 0..50 {
                stock::ActiveModel {
                    warehouse: Set("filler".into()),
                    sku: Set(format!("f{i}")),
                    quantity: Set(0),
                    price: Set(0.0),
                    updated_at: Set(Utc.timestamp_millis_opt(1_700_000_000_000).unwrap()),
                }
                .insert(&blocker)
                .await
                .unwrap();
            }
        }
        blocker.execute(&set_quantity("a")).await.unwrap();
        if db == Db::Sqlite {
            blocker.execute(&set_quantity("b")).await.unwrap();
        }
        // The batch and the blocker on this thread, so that a thread-local subscriber sees
        // the batch's retry warning.
        let log = Log::default();
        let _guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(log.clone())
                .with_ansi(false)
                .finish(),
        );
        // The upsert of `b` (which locks it), then the tombstone of `a` (a DELETE that waits
        // for the blocker), in one transaction.
        let mut tombstone = stock_message("a", 0, 11);
        tombstone.payload = None;
        let messages = [stock_message("b", 1, 10), tombstone];
        let batch = deimos::orm::consume_batch::<StockCompacted, _>(&t.conn, &messages, true);
        let blocking = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if db == Db::Sqlite {
                // Past sqlx's 5 s busy timeout: the batch's first attempt fails.
                tokio::time::sleep(Duration::from_secs(6)).await;
            } else {
                blocker.execute(&set_quantity("b")).await.unwrap();
            }
            blocker.commit().await.unwrap();
        };
        let (outcome, ()) = tokio::join!(batch, blocking);
        assert!(outcome.is_ok(), "{db:?}: {outcome:?}");
        let logged = log.text();
        assert!(
            logged.contains("failed on a lock conflict; retrying"),
            "{db:?}: no retry was logged: {logged}"
        );
        let rows = stock::Entity::find()
            .order_by_asc(stock::Column::Sku)
            .all(&t.conn)
            .await
            .unwrap();
        let quantities: Vec<(String, i32)> = rows
            .into_iter()
            .filter(|r| r.warehouse == "w")
            .map(|r| (r.sku, r.quantity))
            .collect();
        assert_eq!(
            quantities,
            [("b".to_owned(), 1)],
            "{db:?}: the batch's second attempt commits after the blocker"
        );
        let _ = other.close().await;
        t.drop_database().await;
    }
}
