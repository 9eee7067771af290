//! Shared harness for deimos integration tests.
//!
//! - [`Broker`]: the embedded broker (librdkafka mock cluster, default) or the real broker
//!   named by `TANSU_BROKERS` (real-infrastructure tests, `#[ignore]`d, run by `.ci/run`).
//! - [`test_config`]: a [`Config`] with short timeouts, the workspace's `schemas/`, and the
//!   given brokers.
//! - [`Recorder`]: a static, thread-safe log that handlers append to and tests wait on.
//!
//! Environment variables here never start with `DEIMOS_`: those are configuration keys.

pub mod avro_gen;
pub mod hostile;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deimos::testing::EmbeddedKafka;
use deimos::{App, Config};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

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
