//! Outbox workers across processes and faults, on PostgreSQL and the embedded broker: 4
//! workers in 2 processes drain 100 000 messages over 20 topics (every message once, per-key
//! order, both processes sending); a worker SIGKILLed mid-batch is taken over once its lock expires, duplicates coming
//! only from the killed batch; dropped database connections lose nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use deimos::producer::PublishOptions;
use deimos::App;
use deimos_tests::db::{Db, TestDb};
use deimos_tests::outbox::{migrate, outbox_app, rows, topic_info, OutboxRow};
use deimos_tests::{read_topic, run_id, Broker, Record, Widget};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Writes `keys` × `versions` widgets (id = key, price = version, versions in order) to each
/// topic, in calls of 5000.
async fn fill(app: &App, db: &impl ConnectionTrait, topics: &[String], keys: i64, versions: i32) {
    for topic in topics {
        let mut widgets = Vec::new();
        for version in 0..versions {
            for id in 0..keys {
                let mut w = Widget::new(id, "w");
                w.price = f64::from(version);
                widgets.push(w);
            }
        }
        let options = PublishOptions::new().topic(topic.clone());
        for chunk in widgets.chunks(5000) {
            app.publish_list_on::<Widget, _, _>(db, chunk, &options)
                .await
                .unwrap();
        }
    }
}

/// A running `outbox_worker` process.
struct WorkerProcess {
    child: Child,
    /// Its workers' lock ids, space-separated.
    ids: String,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl WorkerProcess {
    /// Stops it with SIGTERM (its workers finish their batch) and returns the number of
    /// messages its workers delivered.
    async fn stop(mut self) -> usize {
        let pid = self.child.id().expect("the worker process runs");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}: {status}");
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .expect("outbox_worker reports what it sent")
            .unwrap()
            .expect("a line");
        self.child.wait().await.unwrap();
        line.strip_prefix("sent ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("`sent <n>`, not {line:?}"))
    }
}

/// An `outbox_worker` process with `workers` workers on `t`'s database, started and running.
async fn spawn_worker(
    broker: &Broker,
    t: &TestDb,
    workers: usize,
    env: &[(&str, &str)],
) -> WorkerProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outbox_worker"));
    command
        .env("OUTBOX_TEST_DB_URL", t.url())
        .env("OUTBOX_TEST_WORKERS", workers.to_string())
        .env("DEIMOS_KAFKA_BROKERS", broker.bootstrap())
        .env("DEIMOS_SCHEMA_PATH", deimos_tests::schema_dir())
        .env("DEIMOS_DB_PRODUCER_POLL_INTERVAL", "50ms")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("outbox_worker starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("outbox_worker reports its start")
        .unwrap()
        .expect("a line");
    let ids = line
        .strip_prefix("started ")
        .expect("`started <ids>`")
        .to_owned();
    WorkerProcess { child, ids, stdout }
}

/// Rows left in the outbox, through a fresh connection (the test's own may have been
/// terminated); `None` while the database refuses.
async fn left(url: &str) -> Option<usize> {
    let conn = Database::connect(url).await.ok()?;
    let n = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) FROM kafka_messages",
        ))
        .await
        .ok()??
        .try_get_by_index::<i64>(0)
        .ok();
    let _ = conn.close().await;
    n.map(|n| n as usize)
}

async fn drained(url: &str, within: Duration) {
    let start = Instant::now();
    loop {
        match left(url).await {
            Some(0) => return,
            n => assert!(
                start.elapsed() < within,
                "outbox not drained after {within:?}: {n:?} left"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// For each record of `topic`, the id of the row it came from (rows are told apart by key and
/// value, which the tests make unique).
fn row_ids(topic: &str, records: &[Record], stored: &[OutboxRow]) -> Vec<i64> {
    let by_content: BTreeMap<(&[u8], &[u8]), i64> = stored
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| {
            (
                (r.key.as_deref().unwrap(), r.message.as_deref().unwrap()),
                r.id,
            )
        })
        .collect();
    records
        .iter()
        .map(|r| {
            *by_content
                .get(&(r.key.as_deref().unwrap(), r.payload.as_deref().unwrap()))
                .unwrap_or_else(|| panic!("`{topic}`: a record no row holds: {r:?}"))
        })
        .collect()
}

/// Checks `topic` against the rows written for it: every row arrived; per key, the first
/// arrivals are in id order; returns the ids that arrived more than once.
fn check_topic(topic: &str, records: &[Record], stored: &[OutboxRow]) -> BTreeSet<i64> {
    let ids = row_ids(topic, records, stored);
    let expected: BTreeSet<i64> = stored
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| r.id)
        .collect();
    let arrived: BTreeSet<i64> = ids.iter().copied().collect();
    let missing: Vec<_> = expected.difference(&arrived).collect();
    assert!(
        missing.is_empty(),
        "`{topic}`: {} rows never arrived, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let mut seen = BTreeSet::new();
    let mut dupes = BTreeSet::new();
    let mut last_per_key: BTreeMap<&[u8], i64> = BTreeMap::new();
    for (record, id) in records.iter().zip(&ids) {
        if !seen.insert(*id) {
            dupes.insert(*id);
            continue;
        }
        let key = record.key.as_deref().unwrap();
        if let Some(last) = last_per_key.insert(key, *id) {
            assert!(
                last < *id,
                "`{topic}`: key {key:?} got row {id} after row {last}"
            );
        }
    }
    dupes
}

#[tokio::test]
async fn four_workers_in_two_processes_send_100k_messages_over_20_topics_once_each_in_key_order() {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let run = run_id();
    let topics: Vec<String> = (0..20).map(|i| format!("fleet-{run}-{i}")).collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    broker.create_topics(&names, 3).await;
    let app = outbox_app(&broker, &t, |_| {});
    // Both processes poll before the rows appear, all at once (one transaction): they compete
    // for the topics from the start.
    let a = spawn_worker(&broker, &t, 2, &[]).await;
    let b = spawn_worker(&broker, &t, 2, &[]).await;
    let txn = t.conn.begin().await.unwrap();
    // 20 topics × 50 keys × 100 versions.
    fill(&app, &txn, &topics, 50, 100).await;
    let stored = rows(&txn).await;
    assert_eq!(stored.len(), 100_000);
    let started = Instant::now();
    txn.commit().await.unwrap();
    drained(t.url(), Duration::from_secs(300)).await;
    let took = started.elapsed();
    let (ids_a, ids_b) = (a.ids.clone(), b.ids.clone());
    let (sent_a, sent_b) = (a.stop().await, b.stop().await);
    eprintln!("100 000 messages drained in {took:?}: {sent_a} by {ids_a}, {sent_b} by {ids_b}");
    assert_eq!(sent_a + sent_b, 100_000);
    assert!(
        sent_a > 0 && sent_b > 0,
        "both processes send: {sent_a} by {ids_a}, {sent_b} by {ids_b}"
    );

    for topic in &topics {
        let records = read_topic(&broker, topic).await;
        let dupes = check_topic(topic, &records, &stored);
        assert!(
            dupes.is_empty(),
            "`{topic}`: {} rows sent twice with no worker dying: {dupes:?}",
            dupes.len()
        );
        assert_eq!(records.len(), 5000, "`{topic}`");
    }
    let info = topic_info(&t.conn).await;
    assert_eq!(info.len(), 20);
    assert!(
        info.iter()
            .all(|i| i.locked_by.is_none() && !i.error && i.processed),
        "{info:?}"
    );
    t.drop_database().await;
}

#[tokio::test]
async fn a_worker_killed_mid_batch_is_taken_over_after_its_lock_expires_with_duplicates_only_from_that_batch(
) {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let Broker::Embedded(embedded) = &broker else {
        unreachable!()
    };
    let topic = format!("killed-{}", run_id());
    broker.create_topics(&[&topic], 1).await;
    let lock_timeout = Duration::from_secs(10);
    let app = outbox_app(&broker, &t, |c| {
        c.db_producer.batch_size = 500;
        c.db_producer.lock_timeout = lock_timeout;
        c.db_producer.send_timeout = Duration::from_secs(8);
    });
    fill(&app, &t.conn, std::slice::from_ref(&topic), 50, 100).await;
    let stored = rows(&t.conn).await;
    // Every request is answered 500 ms after the broker handled it: a produce request is
    // written at once and acknowledged half a second later.
    let rtt = Duration::from_millis(500);
    embedded.broker_round_trip_time(-1, rtt).unwrap();
    let env = [
        ("DEIMOS_DB_PRODUCER_BATCH_SIZE", "500"),
        ("DEIMOS_DB_PRODUCER_LOCK_TIMEOUT", "10s"),
        ("DEIMOS_DB_PRODUCER_SEND_TIMEOUT", "8s"),
    ];
    let WorkerProcess {
        mut child,
        ids: child_ids,
        ..
    } = spawn_worker(&broker, &t, 1, &env).await;
    // Once two batches are sent and deleted, the worker goes on with the third: kill it half
    // a round trip later, while it waits for that batch's acknowledgement.
    let start = Instant::now();
    loop {
        let left = rows(&t.conn).await.len();
        if left <= stored.len() - 1000 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{left} rows left after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(rtt / 2).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let killed_at = Instant::now();
    let remaining = rows(&t.conn).await;
    let held = topic_info(&t.conn).await;
    assert_eq!(
        held[0].locked_by.as_deref(),
        Some(child_ids.as_str()),
        "the dead worker still holds the lock"
    );
    // What the killed worker was sending: the first batch of what it left.
    let killed_batch: BTreeSet<i64> = remaining.iter().take(500).map(|r| r.id).collect();
    embedded.broker_round_trip_time(-1, Duration::ZERO).unwrap();

    let workers = app.start_db_backend(1).unwrap();
    drained(t.url(), Duration::from_secs(60)).await;
    let took = killed_at.elapsed();
    workers.shutdown().await;
    assert!(
        took >= lock_timeout - Duration::from_secs(2),
        "taken over after {took:?}, before the lock expired"
    );

    let records = read_topic(&broker, &topic).await;
    let dupes = check_topic(&topic, &records, &stored);
    assert!(
        dupes.is_subset(&killed_batch),
        "duplicates outside the killed batch: {:?}",
        dupes.difference(&killed_batch).collect::<Vec<_>>()
    );
    eprintln!(
        "{} rows sent twice, all from the killed batch of {}",
        dupes.len(),
        killed_batch.len()
    );
    let info = topic_info(&t.conn).await;
    assert_eq!(
        (info[0].locked_by.as_deref(), info[0].error),
        (None, false),
        "{info:?}"
    );
    t.drop_database().await;
}

#[tokio::test]
async fn dropped_database_connections_lose_nothing() {
    let t = TestDb::create(Db::Postgres).await;
    migrate(&t.conn).await;
    let broker = Broker::embedded();
    let Broker::Embedded(embedded) = &broker else {
        unreachable!()
    };
    let run = run_id();
    let topics: Vec<String> = (0..4).map(|i| format!("dropped-{run}-{i}")).collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    broker.create_topics(&names, 2).await;
    let app = outbox_app(&broker, &t, |c| {
        c.db_producer.batch_size = 200;
        c.db_producer.error_backoff = Duration::from_secs(1);
    });
    fill(&app, &t.conn, &topics, 20, 100).await;
    let stored = rows(&t.conn).await;
    embedded
        .broker_round_trip_time(-1, Duration::from_millis(300))
        .unwrap();

    let workers = app.start_db_backend(2).unwrap();
    // Terminate every connection to the database, three times, while the workers run.
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Database::connect(&admin_url).await.unwrap();
    let name = t.url().rsplit('/').next().unwrap().to_owned();
    let mut terminated = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let killed = admin
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
            ))
            .await
            .unwrap();
        terminated += killed.len();
    }
    assert!(terminated > 0, "no connection was terminated");
    let left_then = left(t.url()).await.unwrap();
    assert!(
        left_then > 0,
        "the workers finished before the connections dropped; nothing was tested"
    );
    embedded.broker_round_trip_time(-1, Duration::ZERO).unwrap();
    drained(t.url(), Duration::from_secs(90)).await;
    workers.shutdown().await;

    let mut twice = 0;
    for topic in &topics {
        let records = read_topic(&broker, topic).await;
        twice += check_topic(topic, &records, &stored).len();
    }
    eprintln!("{terminated} connections terminated; {twice} rows sent twice");
    let _ = admin.close().await;
    t.drop_database().await;
}
