//! The transactional outbox (`producers.backend = "db"`) and its workers, on the embedded
//! broker: rollback drops the messages and commit delivers them, byte for byte and in order
//! (SQLite, PostgreSQL, MariaDB); a message too large for the broker is removed and reported
//! without blocking its topic; compaction; shards; a broker down for 30 s; the metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deimos::config::{CompactTopics, ProducerBackendKind};
use deimos::events::{self, Event};
use deimos::outbox::PublishOn as _;
use deimos::producer::PublishOptions;
use deimos::testing::EmbeddedKafka;
use deimos::{App, Error};
use deimos_tests::db::{Db, TestDb};
use deimos_tests::outbox::{migrate, outbox_app, rows, topic_info, OutboxRow};
use deimos_tests::source::{gadget, new_gadget};
use deimos_tests::{read_topic, run_id, test_config, Broker, Record, Widget};
use rdkafka::types::{RDKafkaApiKey, RDKafkaErrorCode};
use sea_orm::{ActiveModelTrait, ConnectionTrait, TransactionTrait};

/// Waits until `kafka_messages` is empty.
async fn drained(conn: &impl ConnectionTrait, within: Duration) {
    let start = Instant::now();
    loop {
        let left = rows(conn).await;
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{} outbox rows still waiting after {within:?}: {:?}",
            left.len(),
            left.iter().map(|r| (&r.topic, r.id)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The headers a row stored, decoded.
fn headers(row: &OutboxRow) -> Vec<(String, Vec<u8>)> {
    row.headers
        .as_deref()
        .map(|h| deimos::outbox::decode_headers(h).unwrap())
        .unwrap_or_default()
}

/// Asserts that `records` are `expected` rows' key, value and headers, in order.
fn assert_same(db: Db, topic: &str, records: &[Record], expected: &[&OutboxRow]) {
    // Keys and value sizes only: a value can be megabytes.
    let sizes = |value: &Option<Vec<u8>>| value.as_ref().map(Vec::len);
    assert_eq!(
        records.len(),
        expected.len(),
        "{db:?} `{topic}`: (key, value size) on the broker {:?}, stored {:?}",
        records
            .iter()
            .map(|r| (&r.key, sizes(&r.payload)))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|r| (&r.key, sizes(&r.message)))
            .collect::<Vec<_>>()
    );
    for (record, row) in records.iter().zip(expected) {
        assert_eq!(record.key, row.key, "{db:?} `{topic}` row {}", row.id);
        assert!(
            record.payload == row.message,
            "{db:?} `{topic}` row {}: value of {:?} bytes on the broker, {:?} stored",
            row.id,
            sizes(&record.payload),
            sizes(&row.message)
        );
        assert_eq!(
            record.headers,
            headers(row),
            "{db:?} `{topic}` row {}",
            row.id
        );
    }
}

#[tokio::test]
async fn rollback_drops_the_messages_and_commit_delivers_them() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        migrate(&t.conn).await;
        t.create_table(gadget::Entity).await;
        let broker = Broker::embedded();
        let topics = ["gadgets", "gadget-prices", "widgets"];
        broker.create_topics(&topics, 1).await;
        let app = outbox_app(&broker, &t, |_| {});
        app.scope(async {
            // Rolled back: a #[kafka_source] insert (two producers) and a typed publish,
            // both on the transaction. Inside it the rows are there; after, nothing is.
            let txn = t.conn.begin().await.unwrap();
            new_gadget("lamp", 10.0).insert(&txn).await.unwrap();
            Widget::publish_on(&txn, &Widget::new(1, "rolled back"))
                .await
                .unwrap();
            assert_eq!(rows(&txn).await.len(), 3, "{db:?}: inside the transaction");
            txn.rollback().await.unwrap();
            assert_eq!(rows(&t.conn).await, vec![], "{db:?}: after the rollback");

            // Committed: the same, with a header, plus a plain publish (the app's database,
            // a statement of its own) and a force_send, which bypasses the outbox.
            let txn = t.conn.begin().await.unwrap();
            let desk = new_gadget("desk", 20.0).insert(&txn).await.unwrap();
            let options = PublishOptions::new().header("trace", "t-1");
            Widget::publish_list_on(&txn, [&Widget::new(2, "committed")], &options)
                .await
                .unwrap();
            txn.commit().await.unwrap();
            app.publish(&Widget::new(3, "plain")).await.unwrap();
            let forced = PublishOptions::new().force_send(true);
            app.publish_list_with::<Widget, _>([&Widget::new(4, "forced")], &forced)
                .await
                .unwrap();

            // A tombstone in a rolled-back transaction is dropped too.
            let txn = t.conn.begin().await.unwrap();
            app.tombstone_on::<Widget, _, _>(&txn, &9i64, &PublishOptions::new())
                .await
                .unwrap();
            txn.rollback().await.unwrap();
            // A committed one (its own statement on the connection) is a null value.
            app.tombstone_on::<Widget, _, _>(&t.conn, &5i64, &PublishOptions::new())
                .await
                .unwrap();

            let stored = rows(&t.conn).await;
            let stored_topics: Vec<&str> = stored.iter().map(|r| r.topic.as_str()).collect();
            assert_eq!(
                stored_topics,
                ["gadgets", "gadget-prices", "widgets", "widgets", "widgets"],
                "{db:?}"
            );
            assert_eq!(headers(&stored[2]), [("trace".to_owned(), b"t-1".to_vec())]);
            assert_eq!(stored[4].message, None, "{db:?}: the tombstone");
            // Only the forced message went out so far.
            assert_eq!(read_topic(&broker, "widgets").await.len(), 1, "{db:?}");
            assert!(read_topic(&broker, "gadgets").await.is_empty(), "{db:?}");

            let workers = app.start_db_backend(2).unwrap();
            drained(&t.conn, Duration::from_secs(30)).await;
            workers.shutdown().await;

            for topic in topics {
                let mut records = read_topic(&broker, topic).await;
                if topic == "widgets" {
                    records.remove(0); // the forced one
                }
                let expected: Vec<&OutboxRow> =
                    stored.iter().filter(|r| r.topic == topic).collect();
                assert_same(db, topic, &records, &expected);
            }
            // The gadget's message is the committed row.
            let gadgets = read_topic(&broker, "gadgets").await;
            let value = app
                .schema_backend("Gadget", "com.example")
                .decode("gadgets", gadgets[0].payload.as_deref().unwrap())
                .await
                .unwrap();
            assert_eq!(
                value.get("id").and_then(|v| v.as_i64()),
                Some(desk.id),
                "{db:?}"
            );

            // Every topic lock was released after a clean pass.
            let info = topic_info(&t.conn).await;
            assert_eq!(info.len(), 3, "{db:?}: {info:?}");
            for i in &info {
                assert_eq!(
                    (i.locked_by.as_deref(), i.error, i.retries, i.processed),
                    (None, false, 0, true),
                    "{db:?}: {i:?}"
                );
            }
        })
        .await;
        t.drop_database().await;
    }
}

/// `DbProducerProduce` events seen by a subscriber: (topic, payload sizes, error text).
type Seen = Arc<Mutex<Vec<(String, Vec<usize>, Option<String>)>>>;

fn watch_events() -> (Seen, events::Subscription) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let subscription = events::subscribe(move |event| {
        if let Event::DbProducerProduce {
            topic,
            messages,
            error,
        } = event
        {
            sink.lock().unwrap().push((
                (*topic).to_owned(),
                messages
                    .iter()
                    .map(|m| m.payload.as_ref().map_or(0, |p| p.len()))
                    .collect(),
                error.map(|e| {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(e);
                    while let Some(s) = source {
                        text.push_str(&format!(": {s}"));
                        source = s.source();
                    }
                    text
                }),
            ));
        }
    });
    (seen, subscription)
}

#[tokio::test]
async fn a_message_too_large_for_the_broker_is_removed_and_reported_without_blocking_its_topic() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        migrate(&t.conn).await;
        let broker = Broker::embedded();
        let topic = format!("big-{}", run_id());
        broker.create_topics(&[&topic], 1).await;
        let app = outbox_app(&broker, &t, |_| {});
        let (seen, _subscription) = watch_events();
        let mut big = Widget::new(2, "big");
        big.name = "x".repeat(1_500_000); // above the default message.max.bytes (1 000 000)
        let widgets = [Widget::new(1, "before"), big, Widget::new(3, "after")];
        let options = PublishOptions::new().topic(topic.clone());
        app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
            .await
            .unwrap();
        let stored = rows(&t.conn).await;
        assert_eq!(stored.len(), 3);

        let workers = app.start_db_backend(1).unwrap();
        drained(&t.conn, Duration::from_secs(30)).await;
        workers.shutdown().await;

        let records = read_topic(&broker, &topic).await;
        assert_same(db, &topic, &records, &[&stored[0], &stored[2]]);
        let seen = seen.lock().unwrap().clone();
        let removed: Vec<_> = seen
            .iter()
            .filter(|(t, _, e)| *t == topic && e.is_some())
            .collect();
        assert_eq!(removed.len(), 1, "{db:?}: {seen:?}");
        let (_, sizes, error) = removed[0];
        assert!(sizes[0] > 1_500_000, "{sizes:?}");
        let error = error.as_deref().unwrap();
        assert!(
            error.contains(&topic) && error.contains("too large"),
            "{db:?}: {error}"
        );
        let delivered: usize = seen
            .iter()
            .filter(|(t, _, e)| *t == topic && e.is_none())
            .map(|(_, sizes, _)| sizes.len())
            .sum();
        assert_eq!(delivered, 2, "{db:?}: {seen:?}");
        // The topic is not errored: the big message was settled, not failed.
        let info = topic_info(&t.conn).await;
        assert!(
            info.iter().all(|i| !i.error && i.retries == 0),
            "{db:?}: {info:?}"
        );
        t.drop_database().await;
    }
}

fn embedded(broker: &Broker) -> &EmbeddedKafka {
    match broker {
        Broker::Embedded(kafka) => kafka,
        Broker::Real(_) => unreachable!("these tests inject errors into the embedded broker"),
    }
}

/// The broker's `MESSAGE_TOO_LARGE` for a record batch is reported for every message in it:
/// the small messages of the batch are sent again and delivered, not removed with it. Only a
/// message the broker refuses when sent alone is removed (the embedded broker has no size
/// limit, so its refusals are injected: one for the first batch, then two for a message
/// alone and for its retry alone).
#[tokio::test]
async fn a_batch_the_broker_refuses_as_too_large_loses_only_the_message_refused_alone() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        migrate(&t.conn).await;
        let broker = Broker::embedded();
        let topic = format!("batch-too-large-{}", run_id());
        broker.create_topics(&[&topic], 1).await;
        let app = outbox_app(&broker, &t, |_| {});
        let (seen, _subscription) = watch_events();
        let options = PublishOptions::new().topic(topic.clone());
        let refuse = |n: usize| {
            embedded(&broker)
                .push_request_errors(
                    RDKafkaApiKey::Produce,
                    &vec![RDKafkaErrorCode::MessageSizeTooLarge; n],
                )
                .unwrap();
        };

        // One refused request: every message of the batch gets the error.
        let mut mid = Widget::new(2, "mid");
        mid.name = "x".repeat(500_000);
        let first = [Widget::new(1, "small"), mid, Widget::new(3, "small")];
        app.publish_list_on::<Widget, _, _>(&t.conn, &first, &options)
            .await
            .unwrap();
        let stored = rows(&t.conn).await;
        assert_eq!(stored.len(), 3);
        refuse(1);
        let workers = app.start_db_backend(1).unwrap();
        drained(&t.conn, Duration::from_secs(30)).await;
        let records = read_topic(&broker, &topic).await;
        assert_same(db, &topic, &records, &stored.iter().collect::<Vec<_>>());

        // A message refused alone, and again when sent on its own, is removed; the topic
        // goes on with the next message.
        refuse(2);
        app.publish_list_on::<Widget, _, _>(&t.conn, &[Widget::new(4, "refused")], &options)
            .await
            .unwrap();
        drained(&t.conn, Duration::from_secs(30)).await;
        workers.shutdown().await;
        let after = [Widget::new(5, "after")];
        app.publish_list_on::<Widget, _, _>(&t.conn, &after, &options)
            .await
            .unwrap();
        let last = rows(&t.conn).await;
        let workers = app.start_db_backend(1).unwrap();
        drained(&t.conn, Duration::from_secs(30)).await;
        workers.shutdown().await;

        let records = read_topic(&broker, &topic).await;
        let expected: Vec<&OutboxRow> = stored.iter().chain(&last).collect();
        assert_same(db, &topic, &records, &expected);
        let seen = seen.lock().unwrap().clone();
        let removed: Vec<_> = seen
            .iter()
            .filter(|(t, _, e)| *t == topic && e.is_some())
            .collect();
        assert_eq!(removed.len(), 1, "{db:?}: {seen:?}");
        let error = removed[0].2.as_deref().unwrap();
        assert!(
            error.contains(&topic) && error.contains("too large"),
            "{db:?}: {error}"
        );
        let info = topic_info(&t.conn).await;
        assert!(
            info.iter().all(|i| !i.error && i.retries == 0),
            "{db:?}: {info:?}"
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn compact_topics_send_the_last_message_per_key_of_a_batch() {
    let t = TestDb::create(Db::Sqlite).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let (compacted, plain) = (
        format!("compacted-{}", run_id()),
        format!("plain-{}", run_id()),
    );
    broker.create_topics(&[&compacted, &plain], 1).await;
    let list = CompactTopics::Topics(vec![compacted.clone()]);
    let app = outbox_app(&broker, &t, |c| c.db_producer.compact_topics = list);
    // Keys 1, 2, 1, 3, 2: compaction keeps the third, fourth and fifth, in that order.
    let widgets: Vec<Widget> = [(1, "a1"), (2, "b1"), (1, "a2"), (3, "c1"), (2, "b2")]
        .into_iter()
        .map(|(id, name)| Widget::new(id, name))
        .collect();
    for topic in [&compacted, &plain] {
        let options = PublishOptions::new().topic(topic.clone());
        app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
            .await
            .unwrap();
    }
    let stored = rows(&t.conn).await;
    let workers = app.start_db_backend(1).unwrap();
    drained(&t.conn, Duration::from_secs(30)).await;
    workers.shutdown().await;

    let of =
        |topic: &str| -> Vec<&OutboxRow> { stored.iter().filter(|r| r.topic == topic).collect() };
    let all = of(&compacted);
    assert_same(
        Db::Sqlite,
        &compacted,
        &read_topic(&broker, &compacted).await,
        &[all[2], all[3], all[4]],
    );
    assert_same(
        Db::Sqlite,
        &plain,
        &read_topic(&broker, &plain).await,
        &of(&plain),
    );
    t.drop_database().await;
}

#[tokio::test]
async fn shards_spread_one_topic_over_several_workers_and_keep_each_keys_order() {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let topic = format!("sharded-{}", run_id());
    broker.create_topics(&[&topic], 4).await;
    let shards = BTreeMap::from([(topic.clone(), 4u16)]);
    let app = outbox_app(&broker, &t, |c| {
        c.db_producer.shards = shards;
        c.db_producer.batch_size = 50;
    });
    // 40 keys, 25 versions each; `price` is the version.
    let mut widgets = Vec::new();
    for version in 0..25 {
        for id in 0..40 {
            let mut w = Widget::new(id, "w");
            w.price = f64::from(version);
            widgets.push(w);
        }
    }
    let options = PublishOptions::new().topic(topic.clone());
    app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
        .await
        .unwrap();
    let stored = rows(&t.conn).await;
    // Each key sits in one shard; all four shards are used.
    let mut shard_of: BTreeMap<&[u8], i32> = BTreeMap::new();
    for r in &stored {
        let shard = *shard_of.entry(r.key.as_deref().unwrap()).or_insert(r.shard);
        assert_eq!(shard, r.shard, "a key in two shards");
    }
    let used: std::collections::BTreeSet<i32> = shard_of.values().copied().collect();
    assert_eq!(used, (0..4).collect(), "shards used: {used:?}");

    let workers = app.start_db_backend(4).unwrap();
    drained(&t.conn, Duration::from_secs(60)).await;
    workers.shutdown().await;

    let records = read_topic(&broker, &topic).await;
    assert_eq!(records.len(), stored.len(), "every message once");
    // Per key, the records are the key's rows in id order.
    let mut by_key: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for r in &records {
        by_key
            .entry(r.key.as_deref().unwrap())
            .or_default()
            .push(r.payload.as_deref().unwrap());
    }
    for (key, payloads) in &by_key {
        let expected: Vec<&[u8]> = stored
            .iter()
            .filter(|r| r.key.as_deref() == Some(*key))
            .map(|r| r.message.as_deref().unwrap())
            .collect();
        assert_eq!(payloads, &expected, "order of key {key:?}");
    }
    // One lock row per shard, each released.
    let info = topic_info(&t.conn).await;
    assert_eq!(
        info.iter().map(|i| i.shard).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    t.drop_database().await;
}

#[tokio::test]
async fn a_broker_down_for_30_s_errors_the_topic_which_is_retried_and_loses_nothing() {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let topic = format!("outage-{}", run_id());
    broker.create_topics(&[&topic], 1).await;
    let app = outbox_app(&broker, &t, |c| {
        c.db_producer.send_timeout = Duration::from_secs(4);
        c.db_producer.lock_timeout = Duration::from_secs(10);
        c.db_producer.error_backoff = Duration::from_secs(3);
    });
    let Broker::Embedded(embedded) = &broker else {
        unreachable!()
    };
    let widgets: Vec<Widget> = (0..200).map(|i| Widget::new(i, "w")).collect();
    let options = PublishOptions::new().topic(topic.clone());
    app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
        .await
        .unwrap();
    let stored = rows(&t.conn).await;

    embedded.broker_down(-1).unwrap();
    let down_at = Instant::now();
    let workers = app.start_db_backend(1).unwrap();
    // The send times out: the topic is marked errored and its rows stay.
    let start = Instant::now();
    loop {
        let info = topic_info(&t.conn).await;
        if info.iter().any(|i| i.error && i.retries >= 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never errored: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows(&t.conn).await.len(),
        stored.len(),
        "rows kept while the broker is down"
    );
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed())).await;
    // Retried every error_backoff meanwhile.
    let retries = topic_info(&t.conn).await[0].retries;
    assert!(retries >= 2, "retries while down: {retries}");
    embedded.broker_up(-1).unwrap();

    drained(&t.conn, Duration::from_secs(60)).await;
    workers.shutdown().await;
    let records = read_topic(&broker, &topic).await;
    let all: Vec<&OutboxRow> = stored.iter().collect();
    assert_same(Db::Postgres, &topic, &records, &all);
    let info = topic_info(&t.conn).await;
    assert_eq!((info[0].error, info[0].retries), (false, 0), "{info:?}");
    t.drop_database().await;
}

#[tokio::test]
async fn metrics_count_inserts_and_processing_and_gauge_the_wait() {
    use deimos_tests::metrics::{counter_with, gauge_with, snapshotter};
    let _ = snapshotter();
    let t = TestDb::create(Db::Sqlite).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let topic = format!("metered-{}", run_id());
    let app = outbox_app(&broker, &t, |_| {});
    let widgets: Vec<Widget> = (0..30).map(|i| Widget::new(i, "w")).collect();
    let options = PublishOptions::new().topic(topic.clone());
    app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
        .await
        .unwrap();
    let tag = [("topic", topic.as_str())];
    assert_eq!(counter_with("db_producer.insert", &tag), 30);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let workers = app.start_db_backend(1).unwrap();
    drained(&t.conn, Duration::from_secs(30)).await;
    // The first pass saw the messages waiting for over a second.
    let waits = gauge_with("pending_db_messages_max_wait", &tag);
    assert!(waits.first().is_some_and(|w| *w >= 1.0), "{waits:?}");
    // The next refresh (at most 5 s later) finds nothing waiting.
    let start = Instant::now();
    while gauge_with("pending_db_messages_max_wait", &tag).last() != Some(&0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the wait never went back to 0"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    workers.shutdown().await;
    assert_eq!(counter_with("db_producer.process", &tag), 30);
    assert_eq!(counter_with("publish", &tag), 60, "30 written + 30 sent");
    t.drop_database().await;
}

#[tokio::test]
async fn publishing_without_a_database_names_the_fix() {
    let broker = Broker::embedded();
    let mut config = test_config(&broker);
    config.producers.backend = ProducerBackendKind::Db;
    let app = App::from_config(config).unwrap();
    let err = app.publish(&Widget::new(1, "w")).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert!(err.to_string().contains("set_database"), "{err}");
    assert!(app.start_db_backend(1).is_err());
}

/// The outbox against a real broker: tansu (idempotent `acks=all` producer, topics created
/// first), on PostgreSQL.
#[tokio::test]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn commit_delivers_and_rollback_drops_on_tansu() {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::real();
    let topic = format!("outbox-tansu-{}", run_id());
    broker.create_topics(&[&topic], 1).await;
    let app = outbox_app(&broker, &t, |_| {});
    let options = PublishOptions::new().topic(topic.clone());
    let widgets: Vec<Widget> = (0..50).map(|i| Widget::new(i, "tansu")).collect();

    let txn = t.conn.begin().await.unwrap();
    app.publish_list_on::<Widget, _, _>(&txn, &widgets, &options)
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    let txn = t.conn.begin().await.unwrap();
    app.publish_list_on::<Widget, _, _>(&txn, &widgets[..30], &options)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let stored = rows(&t.conn).await;
    assert_eq!(stored.len(), 30);

    let workers = app.start_db_backend(2).unwrap();
    drained(&t.conn, Duration::from_secs(60)).await;
    workers.shutdown().await;
    let records = read_topic(&broker, &topic).await;
    let all: Vec<&OutboxRow> = stored.iter().collect();
    assert_same(Db::Postgres, &topic, &records, &all);
    t.drop_database().await;
}

#[tokio::test]
async fn run_starts_db_producer_workers_and_stops_them_at_shutdown() {
    let t = TestDb::create(Db::Sqlite).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let topic = format!("run-{}", run_id());
    broker.create_topics(&[&topic], 1).await;
    let app = outbox_app(&broker, &t, |c| c.db_producer.workers = 2);
    let widgets: Vec<Widget> = (0..20).map(|i| Widget::new(i, "run")).collect();
    let options = PublishOptions::new().topic(topic.clone());
    app.publish_list_on::<Widget, _, _>(&t.conn, &widgets, &options)
        .await
        .unwrap();
    let stored = rows(&t.conn).await;
    // No consumers: `run` runs the outbox workers until the shutdown future completes.
    app.run_consumers_until([], drained(&t.conn, Duration::from_secs(30)))
        .await
        .unwrap();
    let records = read_topic(&broker, &topic).await;
    let all: Vec<&OutboxRow> = stored.iter().collect();
    assert_same(Db::Sqlite, &topic, &records, &all);
    // Stopped: a message written now stays in the outbox.
    app.publish_list_on::<Widget, _, _>(&t.conn, &widgets[..1], &options)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows(&t.conn).await.len(), 1);
    t.drop_database().await;
}
