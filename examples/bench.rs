//! Throughput harness: deimos side by side with raw rdkafka, same broker, same run.
//!
//! ```text
//! cargo run --release --example bench -- produce                       # embedded broker
//! cargo run --release --example bench -- produce --brokers 127.0.0.1:9092 --messages 200000
//! ```
//!
//! `produce` publishes N `com.example.Widget` messages through deimos' `kafka` producer
//! backend (`publish_list` in batches of `--batch`, each batch awaiting every delivery
//! report), then sends the same number of pre-encoded messages (the same key and value bytes)
//! with a raw rdkafka `FutureProducer` built from the same librdkafka configuration, also
//! awaiting every delivery. It prints
//!
//! ```text
//! produce: deimos=<msgs/s> raw=<msgs/s> ratio=<deimos/raw>
//! ```
//!
//! and exits non-zero if any message failed. Later issues add subcommands.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use deimos::testing::EmbeddedKafka;
use deimos::{App, Config, Producer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use serde::{Deserialize, Serialize};

/// Throughput of deimos against raw rdkafka.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce N Widget messages through deimos, then the same bytes with raw rdkafka.
    Produce {
        /// Bootstrap servers (`host:port,...`); an embedded broker when absent.
        #[arg(long)]
        brokers: Option<String>,
        /// Messages per side.
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Messages per `publish_list` call (and per awaited group on the raw side).
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
    },
}

/// The quickstart's payload.
#[deimos::producer(
    topic = "bench-widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    updated_at: i64,
}

fn widget(id: i64) -> Widget {
    Widget {
        id,
        name: format!("widget {id}"),
        price: 9.99,
        tags: vec!["bench".into(), "widget".into()],
        description: Some("a widget sent by the bench".into()),
        updated_at: 1_732_000_000_000 + id,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce {
            brokers,
            messages,
            batch,
        } => produce(brokers, messages, batch.max(1)).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Both sides produce to the Widget producer's topic, `bench-widgets` (created with 3
/// partitions when missing).
async fn produce(brokers: Option<String>, messages: usize, batch: usize) -> anyhow::Result<()> {
    let topic = Widget::TOPIC;
    let mut config = Config::default();
    config.schema.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas").into();
    // Kept alive until the end of the run.
    let _embedded = match &brokers {
        Some(b) => {
            config.kafka.brokers = b.split(',').map(str::to_owned).collect();
            None
        }
        None => {
            let embedded = EmbeddedKafka::start()?;
            embedded.create_topic(topic, 3)?;
            config.kafka.brokers = embedded.brokers();
            Some(embedded)
        }
    };
    let app = App::from_config(config.clone())?;
    if brokers.is_some() {
        app.create_topics(&[(topic, 3)]).await?;
    }
    let payloads: Vec<Widget> = (0..messages as i64).map(widget).collect();

    // Warm-up: connections, metadata, schema caches.
    app.publish_list(&payloads[..payloads.len().min(100)])
        .await
        .context("deimos warm-up")?;

    let started = Instant::now();
    for chunk in payloads.chunks(batch) {
        app.publish_list(chunk)
            .await
            .context("deimos publish_list")?;
    }
    let deimos_rate = rate(messages, started.elapsed());

    // Raw rdkafka: the same librdkafka settings, pre-encoded key and value bytes.
    let encoded = app
        .codec()
        .encode_payload(
            topic,
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &payloads[0],
            None,
            false,
        )
        .await?;
    let key = encoded.key.map(|(_, bytes)| bytes).unwrap_or_default();
    let value = encoded.payload;
    let raw: FutureProducer = config
        .producer_client_config()
        .create()
        .context("raw producer")?;
    for _ in 0..10.min(messages) {
        send_raw(&raw, topic, &key, &value).await?;
    }
    let started = Instant::now();
    let mut failed = 0usize;
    let mut sent = 0usize;
    while sent < messages {
        let n = batch.min(messages - sent);
        // Enqueue the group, then await its delivery reports (as the `kafka` backend does).
        let mut deliveries = Vec::with_capacity(n);
        for _ in 0..n {
            let mut record = FutureRecord::to(topic).key(&key[..]).payload(&value[..]);
            loop {
                match raw.send_result(record) {
                    Ok(delivery) => break deliveries.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => anyhow::bail!("raw enqueue: {e}"),
                }
            }
        }
        for delivery in deliveries {
            failed += usize::from(!matches!(delivery.await, Ok(Ok(_))));
        }
        sent += n;
    }
    let raw_rate = rate(messages, started.elapsed());
    println!(
        "produce: deimos={deimos_rate:.0} raw={raw_rate:.0} ratio={:.3}",
        deimos_rate / raw_rate
    );
    if failed > 0 {
        anyhow::bail!("{failed} raw messages failed");
    }
    Ok(())
}

async fn send_raw(
    raw: &FutureProducer,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> anyhow::Result<()> {
    raw.send(
        FutureRecord::to(topic).key(key).payload(value),
        Timeout::Never,
    )
    .await
    .map_err(|(e, _)| anyhow::anyhow!("raw warm-up: {e}"))?;
    Ok(())
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}
