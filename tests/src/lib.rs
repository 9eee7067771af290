//! Shared harness for deimos integration tests.
//!
//! - [`Broker`]: the embedded broker (librdkafka mock cluster, default) or the real broker
//!   named by `TANSU_BROKERS` (real-infrastructure tests, `#[ignore]`d, run by `.ci/run`).
//! - [`test_config`]: a [`Config`] with short timeouts, the workspace's `schemas/`, and the
//!   given brokers.
//! - [`Recorder`]: a static, thread-safe log that handlers append to and tests wait on.
//! - [`child`]: consumer child processes (the `kill_consumer` binary), what they handled,
//!   and a group's committed offsets.
//! - [`tansu::TansuProcess`]: a tansu broker of the test's own (binary from `TANSU_BIN`) that
//!   the test can stop and restart.
//!
//! Environment variables here never start with `DEIMOS_`: those are configuration keys.

pub mod avro_gen;
pub mod child;
pub mod db;
pub mod hostile;
pub mod metrics;
pub mod outbox;
pub mod poll;
pub mod product;
pub mod read;
pub mod source;
pub mod spans;
pub mod tansu;

pub use read::{read_topic, Record};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deimos::testing::EmbeddedKafka;
use deimos::{App, Config};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

pub mod all_types;

/// The shared test payload (`schemas/com/example/Widget.avsc`) on topic `widgets`. Tests that
/// share a broker (tansu) use their own types and topics instead.
#[deimos::producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Id, also the key.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Price.
    pub price: f64,
    /// Tags.
    pub tags: Vec<String>,
    /// Optional description.
    pub description: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

impl Widget {
    /// A widget with this id and name and plain values elsewhere.
    pub fn new(id: i64, name: &str) -> Widget {
        Widget {
            id,
            name: name.to_owned(),
            price: 1.0,
            tags: Vec::new(),
            description: None,
            updated_at: 0,
        }
    }
}

/// Environment variable with the real broker's `host:port` (tansu, started by `.ci/run`).
pub const TANSU_BROKERS_ENV: &str = "TANSU_BROKERS";

/// The workspace's `schemas/` directory.
pub fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// A broker to test against.
#[derive(Debug)]
pub enum Broker {
    /// An in-process librdkafka mock cluster, dropped with the test.
    Embedded(EmbeddedKafka),
    /// A real broker at these bootstrap servers.
    Real(String),
}

impl Broker {
    /// A fresh embedded broker.
    pub fn embedded() -> Broker {
        Broker::Embedded(EmbeddedKafka::start().expect("embedded kafka starts"))
    }

    /// The real broker from `TANSU_BROKERS`.
    ///
    /// # Panics
    /// When the variable is not set: a real-infrastructure test must fail, never pass by
    /// skipping.
    pub fn real() -> Broker {
        let brokers = std::env::var(TANSU_BROKERS_ENV).unwrap_or_else(|_| {
            panic!("{TANSU_BROKERS_ENV} is not set: this test needs a running tansu broker (.ci/run starts one)")
        });
        Broker::Real(brokers)
    }

    /// Bootstrap servers.
    pub fn bootstrap(&self) -> String {
        match self {
            Broker::Embedded(e) => e.bootstrap_servers().to_owned(),
            Broker::Real(b) => b.clone(),
        }
    }

    /// Sends one record as given — raw key and value bytes (no Avro, no framing) and headers —
    /// with a plain rdkafka producer, awaiting its delivery: how tests put bytes deimos cannot
    /// decode on a topic.
    ///
    /// # Panics
    /// When the producer cannot be created or the record is not delivered within 10 s.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(&str, &str)],
    ) {
        use rdkafka::message::{Header, OwnedHeaders};
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("raw producer");
        let headers = headers
            .iter()
            .fold(OwnedHeaders::new(), |all, (key, value)| {
                all.insert(Header {
                    key,
                    value: Some(*value),
                })
            });
        producer
            .send(
                FutureRecord::to(topic)
                    .key(key)
                    .payload(payload)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("raw record to `{topic}`: {e}"));
    }

    /// Creates topics (no-op for ones that exist) with `partitions` partitions each.
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) {
        match self {
            Broker::Embedded(e) => {
                for t in topics {
                    // The mock cluster refuses a second creation; that is fine here.
                    let _ = e.create_topic(t, partitions);
                }
            }
            Broker::Real(_) => {
                let app = App::from_config(test_config(self)).expect("app");
                let specs: Vec<(&str, i32)> = topics.iter().map(|t| (*t, partitions)).collect();
                app.create_topics(&specs).await.expect("create topics");
            }
        }
    }
}

/// A config for tests: these brokers, the workspace schemas, and short group timeouts so
/// rebalances after a killed consumer take seconds, not minutes.
pub fn test_config(broker: &Broker) -> Config {
    let mut config = Config::default();
    config.kafka.brokers = vec![broker.bootstrap()];
    config.kafka.client_id = "deimos-tests".into();
    config.schema.path = schema_dir();
    config.consumers.session_timeout = Duration::from_secs(6);
    config.consumers.heartbeat_interval = Duration::from_millis(500);
    config.consumers.offset_commit_interval = Duration::from_millis(200);
    config.consumers.backoff.min = Duration::from_millis(20);
    config.consumers.backoff.max = Duration::from_millis(200);
    if let Broker::Real(_) = broker {
        // tansu 0.6 advances a partition's high watermark by one per record batch, not per
        // record (seen here: six records produced in one batch leave the high watermark at
        // 1, and a reader stopping there sees one), so tests send it one record per batch.
        config
            .producers
            .extra
            .insert("batch.num.messages".into(), "1".into());
    }
    config
}

/// A value unique to this test run (for ids and topic names on shared brokers).
pub fn run_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    (nanos / 1000) * 100 + COUNTER.fetch_add(1, Ordering::Relaxed) % 100
}

/// A log that handlers append to and tests wait on. Make one `static` per test.
#[derive(Debug)]
pub struct Recorder<T> {
    items: Mutex<Vec<T>>,
    changed: Notify,
}

impl<T: Clone> Recorder<T> {
    /// An empty recorder (usable in a `static`).
    pub const fn new() -> Self {
        Recorder {
            items: Mutex::new(Vec::new()),
            changed: Notify::const_new(),
        }
    }

    /// Appends an item and wakes waiters.
    pub fn push(&self, item: T) {
        self.items.lock().unwrap().push(item);
        self.changed.notify_waiters();
    }

    /// A copy of everything recorded.
    pub fn items(&self) -> Vec<T> {
        self.items.lock().unwrap().clone()
    }

    /// Waits until `done(items)` holds, or panics after `timeout` showing what was recorded.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[T]) -> bool,
    ) -> Vec<T>
    where
        T: std::fmt::Debug,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            {
                let items = self.items.lock().unwrap();
                if done(&items) {
                    return items.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let items = self.items.lock().unwrap();
                if done(&items) {
                    return items.clone();
                }
                panic!(
                    "timed out after {timeout:?} waiting for {what}; recorded: {:?}",
                    *items
                );
            }
        }
    }
}

impl<T: Clone> Default for Recorder<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Consumers running in the background until [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<deimos::Result<()>>,
}

impl Running {
    /// Starts the named `#[consumer]` registrations on `app`.
    ///
    /// # Panics
    /// When a name is not registered.
    pub fn start(app: &App, names: &[&str]) -> Running {
        let regs: Vec<_> = names
            .iter()
            .map(|n| {
                deimos::consumer::registration(n)
                    .unwrap_or_else(|| panic!("no consumer named `{n}`"))
            })
            .collect();
        let (stop, mut rx) = watch::channel(false);
        let app = app.clone();
        let task = tokio::spawn(async move {
            app.run_consumers_until(regs, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        });
        Running { stop, task }
    }

    /// Asks the consumers to stop and waits for a graceful shutdown.
    ///
    /// # Panics
    /// When the runtime returned an error or did not stop within 30 s.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("consumers stop within 30s")
            .expect("runtime task did not panic")
            .expect("runtime returned Ok");
    }
}

/// Distinct values of `items`.
pub fn distinct<T: std::hash::Hash + Eq + Clone>(items: &[T]) -> HashSet<T> {
    items.iter().cloned().collect()
}

/// Sample values of `schemas/com/example/Everything.avsc` (every Avro primitive and logical
/// type, each also inside a union), in resolved form, with the JSON encoding each must have.
pub mod everything {
    use std::collections::HashMap;

    use apache_avro::types::Value;
    use apache_avro::{BigDecimal, Days, Decimal, Duration, Millis, Months};
    use serde_json::json;

    /// The UUID used in the samples.
    pub const UID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

    fn uid() -> uuid::Uuid {
        uuid::Uuid::parse_str(UID).unwrap()
    }

    fn some(i: u32, v: Value) -> Value {
        Value::Union(i, Box::new(v))
    }

    /// A value with every union on its non-null branch.
    pub fn value() -> Value {
        Value::Record(vec![
            ("n".into(), Value::Null),
            ("b".into(), Value::Boolean(true)),
            ("i".into(), Value::Int(-5)),
            ("l".into(), Value::Long(1 << 40)),
            ("f".into(), Value::Float(1.5)),
            ("d".into(), Value::Double(0.1)),
            ("bytes".into(), Value::Bytes(vec![0x00, 0x7F, 0x80, 0xFF])),
            ("s".into(), Value::String("héllo \"q\"".into())),
            ("fx".into(), Value::Fixed(4, b"abcd".to_vec())),
            ("e".into(), Value::Enum(1, "SPADES".into())),
            (
                "arr".into(),
                Value::Array(vec![Value::Long(1), Value::Long(-2)]),
            ),
            (
                "m".into(),
                Value::Map(HashMap::from([
                    ("b".into(), Value::Enum(1, "SPADES".into())),
                    ("a".into(), Value::Enum(0, "HEARTS".into())),
                ])),
            ),
            ("date".into(), Value::Date(19_753)),
            ("t_ms".into(), Value::TimeMillis(45_296_789)),
            ("t_us".into(), Value::TimeMicros(45_296_789_123)),
            ("ts_ms".into(), Value::TimestampMillis(1_706_697_296_789)),
            (
                "ts_us".into(),
                Value::TimestampMicros(1_706_697_296_789_123),
            ),
            (
                "ts_ns".into(),
                Value::TimestampNanos(1_706_697_296_789_123_456),
            ),
            ("lts_ms".into(), Value::LocalTimestampMillis(-1)),
            ("lts_us".into(), Value::LocalTimestampMicros(0)),
            ("lts_ns".into(), Value::LocalTimestampNanos(i64::MAX)),
            // decimal(10, 2) is 5 bytes, decimal(5, 1) 3: apache-avro resolves no shorter ones.
            (
                "dec".into(),
                Value::Decimal(Decimal::from(vec![0, 0, 0, 0x04, 0xD2])),
            ),
            (
                "dec_fixed".into(),
                Value::Decimal(Decimal::from(vec![
                    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xD8, 0xF0,
                ])),
            ),
            (
                "big".into(),
                Value::BigDecimal("12.345".parse::<BigDecimal>().unwrap()),
            ),
            ("uid".into(), Value::Uuid(uid())),
            (
                "dur".into(),
                Value::Duration(Duration::new(Months::new(1), Days::new(2), Millis::new(3))),
            ),
            ("opt_long".into(), some(1, Value::Long(5))),
            ("opt_bytes".into(), some(1, Value::Bytes(vec![0xFF]))),
            (
                "opt_fixed".into(),
                some(1, Value::Fixed(4, b"wxyz".to_vec())),
            ),
            ("opt_enum".into(), some(1, Value::Enum(0, "HEARTS".into()))),
            (
                "opt_arr".into(),
                some(1, Value::Array(vec![Value::String("x".into())])),
            ),
            (
                "opt_map".into(),
                some(1, Value::Map(HashMap::from([("k".into(), Value::Int(1))]))),
            ),
            ("opt_date".into(), some(1, Value::Date(1))),
            ("opt_uuid".into(), some(1, Value::Uuid(uid()))),
            (
                "opt_dec".into(),
                some(1, Value::Decimal(Decimal::from(vec![0, 0, 0x7B]))),
            ),
            ("opt_double".into(), some(0, Value::Double(2.5))),
            // A string in a union that also has a fixed: apache-avro's resolver would move a
            // `Fixed` here to the `string` branch, so the codec test could not send one.
            ("choice".into(), some(1, Value::String("pick".into()))),
        ])
    }

    /// The Avro JSON encoding of [`value`].
    pub fn json() -> serde_json::Value {
        json!({
            "n": null,
            "b": true,
            "i": -5,
            "l": 1_099_511_627_776i64,
            "f": 1.5,
            "d": 0.1,
            "bytes": "\u{0}\u{7f}\u{80}\u{ff}",
            "s": "héllo \"q\"",
            "fx": "abcd",
            "e": "SPADES",
            "arr": [1, -2],
            "m": {"a": "HEARTS", "b": "SPADES"},
            "date": 19_753,
            "t_ms": 45_296_789,
            "t_us": 45_296_789_123i64,
            "ts_ms": 1_706_697_296_789i64,
            "ts_us": 1_706_697_296_789_123i64,
            "ts_ns": 1_706_697_296_789_123_456i64,
            "lts_ms": -1,
            "lts_us": 0,
            "lts_ns": i64::MAX,
            "dec": "\u{0}\u{0}\u{0}\u{4}\u{d2}",
            "dec_fixed": "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{d8}\u{f0}",
            // apache-avro's big-decimal: zigzag length 2, unscaled 12345 = 0x3039, zigzag scale 3.
            "big": "\u{4}\u{30}\u{39}\u{6}",
            "uid": UID,
            "dur": "\u{1}\u{0}\u{0}\u{0}\u{2}\u{0}\u{0}\u{0}\u{3}\u{0}\u{0}\u{0}",
            "opt_long": {"long": 5},
            "opt_bytes": {"bytes": "\u{ff}"},
            "opt_fixed": {"com.example.Four": "wxyz"},
            "opt_enum": {"com.example.Suit": "HEARTS"},
            "opt_arr": {"array": ["x"]},
            "opt_map": {"map": {"k": 1}},
            "opt_date": {"int": 1},
            "opt_uuid": {"string": UID},
            "opt_dec": {"bytes": "\u{0}\u{0}{"},
            "opt_double": {"double": 2.5},
            "choice": {"string": "pick"},
        })
    }

    /// [`value`] with every union on its null branch.
    pub fn value_with_nulls() -> Value {
        let Value::Record(mut fields) = value() else {
            unreachable!()
        };
        for (name, v) in &mut fields {
            if name.starts_with("opt_") || name == "choice" {
                let null_branch = if name == "opt_double" { 1 } else { 0 };
                *v = Value::Union(null_branch, Box::new(Value::Null));
            }
        }
        Value::Record(fields)
    }
}
