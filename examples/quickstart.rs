//! Quickstart: publish widgets with `#[producer]`, consume them with `#[consumer]` through
//! `deimos::run`, print them, exit.
//!
//! ```text
//! cargo run --example quickstart                 # embedded broker (librdkafka mock cluster)
//! DEIMOS_KAFKA_BROKERS=127.0.0.1:9092 cargo run --example quickstart   # a real cluster
//! ```
//!
//! `QUICKSTART_COUNT` (default 10) sets how many widgets; `QUICKSTART_TIMEOUT_SECS` (default
//! 60) how long to wait for them before failing.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deimos::testing::EmbeddedKafka;
use deimos::Config;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The payload: its fields are checked against `schemas/com/example/Widget.avsc` at compile
/// time.
#[deimos::producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Widget id, also the Kafka key (Avro-encoded as `com.example.Widget_key`).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Price.
    pub price: f64,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Optional description.
    pub description: Option<String>,
    /// Last update, milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// Ids consumed so far in this run, and a wake-up for `main`.
static RECEIVED: Mutex<BTreeSet<i64>> = Mutex::new(BTreeSet::new());
static ARRIVED: Notify = Notify::const_new();

/// Called once per message; `widget` is `None` for a tombstone.
#[deimos::consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "quickstart",
    key_config(field = "id")
)]
async fn on_widget(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let key: i64 = metadata.key_as()?;
    match widget {
        Some(w) => {
            println!(
                "consumed {}/{}@{} key={key}: {} \"{}\" ${:.2} tags={:?}",
                metadata.topic, metadata.partition, metadata.offset, w.id, w.name, w.price, w.tags
            );
            RECEIVED.lock().unwrap().insert(w.id);
        }
        None => println!("consumed tombstone for key {key}"),
    }
    ARRIVED.notify_waiters();
    Ok(())
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?} is not a number: {e}")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match quickstart().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn quickstart() -> anyhow::Result<()> {
    let count = env_number("QUICKSTART_COUNT", 10)?;
    let timeout = Duration::from_secs(env_number("QUICKSTART_TIMEOUT_SECS", 60)?);

    // deimos.toml / DEIMOS_* environment, then adjustments in code.
    let figment = Config::figment()?;
    let mut config = Config::from_figment(&figment)?;
    if !figment.contains("schema.path") {
        config.schema.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas").into();
    }
    // No brokers configured: start the embedded one.
    let embedded = if figment.contains("kafka.brokers") {
        println!("using brokers {}", config.kafka.brokers.join(","));
        false
    } else {
        let embedded = EmbeddedKafka::start()?;
        println!(
            "no brokers configured; started embedded Kafka at {}",
            embedded.bootstrap_servers()
        );
        config.kafka.brokers = embedded.brokers();
        // The mock cluster takes topics through its own API (it has no CreateTopics).
        embedded.create_topic("widgets", 3)?;
        // The global app's clients live until the process exits; so must their broker, or
        // librdkafka reports it gone while the process shuts down.
        std::mem::forget(embedded);
        true
    };
    let brokers = config.kafka.brokers.join(",");
    let app = deimos::configure(config)?;

    // Ids unique to this run, so a rerun against a real cluster only waits for its own.
    let base = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64 * 1000;
    let wanted: BTreeSet<i64> = (base..base + count as i64).collect();
    let run = async {
        if !embedded {
            // Brokers without auto-creation (tansu) need the topic first; an existing one is
            // kept.
            app.create_topics(&[("widgets", 3)]).await?;
        }
        let widgets: Vec<Widget> = wanted
            .iter()
            .enumerate()
            .map(|(i, &id)| Widget {
                id,
                name: format!("widget-{i}"),
                price: 1.25 * (i + 1) as f64,
                tags: if i % 2 == 0 {
                    vec!["even".into()]
                } else {
                    vec![]
                },
                description: (i % 3 == 0).then(|| format!("widget number {i}")),
                updated_at: base / 1000,
            })
            .collect();
        Widget::publish_list(&widgets).await?;
        println!("published {count} widgets to `widgets`");

        // deimos::run() consumes until SIGINT/SIGTERM or request_shutdown(), which we send once
        // every widget of this run arrived.
        let waiting_for = wanted.clone();
        tokio::spawn(async move {
            loop {
                let notified = ARRIVED.notified();
                if waiting_for.is_subset(&RECEIVED.lock().unwrap()) {
                    break;
                }
                notified.await;
            }
            deimos::request_shutdown();
        });
        deimos::run().await
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    let received = RECEIVED.lock().unwrap().intersection(&wanted).count();
    match outcome {
        Ok(result) => {
            result?;
            anyhow::ensure!(
                received == wanted.len(),
                "stopped before all widgets arrived: received {received} of {count}"
            );
            println!("received all {received} widgets; bye");
            Ok(())
        }
        Err(_) => anyhow::bail!(
            "timed out after {timeout:?}: received {received} of {count} widgets \
             (is the broker at {brokers} reachable?)"
        ),
    }
}
