//! Throughput harness: deimos side by side with raw rdkafka, same broker, same run.
//!
//! ```text
//! cargo run --release --example bench -- produce                       # embedded broker
//! cargo run --release --example bench -- produce --brokers 127.0.0.1:9092 --messages 200000
//! cargo run --release --example bench -- produce --rounds 5            # alternate, medians
//! ```
//!
//! `produce` publishes N `com.example.Widget` messages through deimos' `kafka` producer
//! backend (`publish_list` in batches of `--batch`, each batch awaiting every delivery
//! report), and sends the same N messages with a raw rdkafka `FutureProducer`: the very key
//! and value bytes deimos wrote for each widget (encoded beforehand, outside the timing), to
//! the same topic, with a producer built from the same librdkafka configuration
//! (`Config::producer_client_config`, as the `kafka` backend builds its own), enqueued per
//! group of `--batch` and then awaited as the `kafka` backend does. Both sides warm up with the
//! same first 100 messages. It prints
//!
//! ```text
//! encode: deimos=<msgs/s>
//! cpu: deimos=<µs/msg> raw=<µs/msg>
//! produce: deimos=<msgs/s> raw=<msgs/s> ratio=<deimos/raw>
//! ```
//!
//! where `encode` times `Codec::encode_payloads` alone over the N widgets, a run per `--batch`
//! as `publish_list` encodes them (the part of `publish_list` that raw rdkafka does not do),
//! and `cpu` is the CPU time the whole process
//! (every thread: tokio, librdkafka, the embedded broker) used per message on each side, from
//! `/proc/self/stat` (Linux, 10 ms ticks; the line is left out elsewhere): on a machine shared
//! with other work it moves much less than the wall-clock rates. With `--rounds R` (R > 1) the
//! two sides take turns R times, the first side alternating so that neither always runs on a
//! fresher broker; each round gets a `round` line and the other lines give the medians (the
//! ratio is the median of the per-round ratios). `--only deimos` or `--only raw` runs one side
//! (to profile it, e.g. under `perf record`) and prints only its rate. It exits non-zero if
//! any message failed.
//!
//! ```text
//! cargo run --release --example bench -- consume --rounds 5            # embedded broker
//! ```
//!
//! `consume` takes the same flags (`--batch` is the `publish_list` size that fills the topic).
//! It fills a fresh 3-partition topic with N widgets through deimos' `publish_list` (not
//! timed), then reads it whole on each side, each time in a fresh consumer group from the
//! beginning: deimos runs the no-op `#[consumer]` `on_bench_widget` (typed payload: the
//! `Widget` struct) through `App::run_consumers_until` and stops it once it has seen N
//! messages; the raw side is an rdkafka `StreamConsumer` on a tokio task, built from the same
//! librdkafka properties (`ResolvedConsumer::client_config`, as deimos builds its own), that
//! decodes each key into its `Widget_key` record and each payload into a `Widget` with
//! `serde_avro_fast` (deimos' typed decoder; `avro_local` writes bare datums, so there is no
//! framing to strip) and stores its offset
//! (`store_offset_from_message`) as deimos does. The clock on each side runs from the first
//! decoded message to the Nth, so group join, the first fetch and deimos' schema loading are
//! left out on both sides alike, and the rate is the N-1 messages after the first over that
//! time; `cpu` is the process CPU over the same span. It prints `cpu:` and
//! `consume: deimos=<msgs/s> raw=<msgs/s> ratio=<deimos/raw>` (and `round` lines) as
//! `produce` does. Deimos also builds the handler's `Metadata` (headers, timestamp); the raw
//! side reads neither.
//!
//! ```text
//! cargo run --release --example bench -- upsert                        # SQLite, temp file
//! cargo run --release --example bench -- upsert --database-url postgres://postgres@127.0.0.1/test
//! ```
//!
//! `upsert` writes N `com.example.Stock` rows (compound key `warehouse` + `sku`, all distinct)
//! into a fresh `bench_stock` table, in transactions of `--batch` rows, on each side: deimos
//! calls the registered handler of a batch entity consumer (`#[consumer(.., entity = ..,
//! delivery = "inline_batch")]`: decoded Avro values to payloads, compaction, values to
//! columns, one `INSERT … ON CONFLICT DO UPDATE` per batch in a transaction) with each batch's
//! decoded values and keys, as the consumer loop would (no broker: the bench times the
//! database side); the raw side builds the same rows' SeaORM active models by hand and runs
//! the same `insert_many … on conflict (warehouse, sku) do update` per batch in a transaction.
//! The table is emptied (not timed) before each side, and each side's row count is checked. It
//! prints `upsert: deimos=<rows/s> raw=<rows/s> ratio=<deimos/raw>` (and `round` lines).
//!
//! ```text
//! cargo run --release --example bench -- outbox                        # SQLite, embedded broker
//! cargo run --release --example bench -- outbox --database-url postgres://postgres@127.0.0.1/test --workers 4 --topics 20
//! ```
//!
//! `outbox` fills the transactional outbox (`kafka_messages`, recreated with deimos' migration)
//! with N widgets spread over `--topics` topics of 3 partitions (through `publish_list_on`
//! with the `db` backend; not timed), then times the drain to the broker on each side: deimos
//! starts `--workers` outbox workers (`App::start_db_backend`: topic locks, batches of 1000,
//! `acks=all` idempotent producer, delete, heartbeat, unlock) and the clock stops when the
//! table is empty; the raw side is one loop doing the same work by hand (select the distinct
//! topics and shards; per pair select 1000 rows in id order, produce them with an rdkafka
//! `FutureProducer` configured alike, await the deliveries, delete the rows), no locks. Each
//! side's count on the broker (high watermarks) is checked. `--shards S` gives each topic S
//! locks (`db_producer.shards`, beyond Deimos) so that several workers share one topic; the
//! raw loop goes through the shards one after the other. The workers poll at the default
//! `db_producer.poll_interval` (500 ms) when they find nothing to lock. It prints `outbox:
//! deimos=<msgs/s> raw=<msgs/s> ratio=<deimos/raw>` (and `round` lines).

#[path = "bench/outbox.rs"]
mod outbox;
#[path = "bench/upsert.rs"]
mod upsert;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use deimos::config::{ConsumerOverride, ProducerBackendKind};
use deimos::consumer::ResolvedConsumer;
use deimos::producer::PublishOptions;
use deimos::testing::EmbeddedKafka;
use deimos::{App, Config, Producer};
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

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
        /// Messages per side (per round), at least 1.
        #[arg(long, default_value_t = 100_000,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        messages: usize,
        /// Messages per `publish_list` call (and per awaited group on the raw side).
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Rounds: each side runs this many times, taking turns; medians are printed.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Run one side only (for profiling it, e.g. under `perf record`); the ratio is
        /// then not printed.
        #[arg(long, value_enum)]
        only: Option<OnlySide>,
    },
    /// Fill a topic with N Widget messages, then consume them through a no-op `#[consumer]`
    /// and through a raw rdkafka loop that decodes the same payloads.
    Consume {
        /// Bootstrap servers (`host:port,...`); an embedded broker when absent.
        #[arg(long)]
        brokers: Option<String>,
        /// Messages in the topic, consumed by each side (per round), at least 2.
        #[arg(long, default_value_t = 100_000,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..))]
        messages: usize,
        /// Messages per `publish_list` call filling the topic (not timed).
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Rounds: each side runs this many times, taking turns; medians are printed.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Run one side only (for profiling it, e.g. under `perf record`); the ratio is
        /// then not printed.
        #[arg(long, value_enum)]
        only: Option<OnlySide>,
    },
    /// Write N rows into a database through a batch entity consumer and through a raw SeaORM
    /// `insert_many … on conflict` loop.
    Upsert {
        /// Database URL (`postgres://…`, `mysql://…`, `sqlite://…`); a SQLite file in a
        /// temporary directory when absent. The table `bench_stock` is dropped and created.
        #[arg(long)]
        database_url: Option<String>,
        /// Rows written by each side (per round).
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// Rows per batch (one transaction, one upsert statement).
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Rounds: each side runs this many times, taking turns; medians are printed.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Run one side only; the ratio is then not printed.
        #[arg(long, value_enum)]
        only: Option<OnlySide>,
    },
    /// Fill the outbox with N messages, then drain it to the broker with outbox workers and
    /// with a raw select + produce + delete loop.
    Outbox(outbox::OutboxArgs),
}

/// The side `--only` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnlySide {
    /// deimos (`publish_list`, a `#[consumer]`, the batch entity consumer, outbox workers).
    Deimos,
    /// The hand-written loop (rdkafka, SeaORM).
    Raw,
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

/// How far one side of a `consume` round got: messages seen, and the moments the first and
/// the last (`target`th) of them had been decoded.
#[derive(Debug)]
struct Progress {
    seen: AtomicU64,
    target: AtomicU64,
    first: Mutex<Option<Mark>>,
    last: Mutex<Option<Mark>>,
    done: Notify,
}

/// A moment: wall clock and process CPU time.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    cpu: Option<Duration>,
}

impl Mark {
    fn now() -> Mark {
        Mark {
            at: Instant::now(),
            cpu: cpu_time(),
        }
    }
}

impl Progress {
    const fn new() -> Progress {
        Progress {
            seen: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            first: Mutex::new(None),
            last: Mutex::new(None),
            done: Notify::const_new(),
        }
    }

    /// Starts a round that ends at the `target`th message.
    fn reset(&self, target: usize) {
        self.seen.store(0, Ordering::SeqCst);
        self.target.store(target as u64, Ordering::SeqCst);
        *self.first.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// One more message decoded: marks the first and the last, and wakes [`Progress::wait`]
    /// at the last. Both sides call it at the same point: the payload is decoded, its offset
    /// not stored yet.
    fn record(&self) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == 1 {
            *self.first.lock().unwrap_or_else(|e| e.into_inner()) = Some(Mark::now());
        }
        if seen == self.target.load(Ordering::Relaxed) {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Mark::now());
            self.done.notify_one();
        }
    }

    /// Completes once the `target`th message was recorded.
    async fn wait(&self) {
        self.done.notified().await;
    }

    /// The rate and CPU per message between the first and the last message: the messages
    /// after the first, over the time they took.
    fn measured(&self, messages: usize) -> anyhow::Result<Side> {
        let first = *self.first.lock().unwrap_or_else(|e| e.into_inner());
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(first), Some(last)) = (first, last) else {
            anyhow::bail!("the round ended before its last message");
        };
        let counted = (messages - 1) as f64;
        Ok(Side {
            rate: counted / (last.at - first.at).as_secs_f64(),
            cpu_us: first
                .cpu
                .zip(last.cpu)
                .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / counted),
        })
    }
}

/// The deimos side of the current `consume` round.
static CONSUMED: Progress = Progress::new();

/// The `consume` bench's no-op handler: the payload arrives decoded (deimos' typed path), and
/// is only counted.
#[deimos::consumer(
    topic = "bench-widgets",
    schema = "com.example.Widget",
    group_id = "bench-consume",
    key_config(field = "id")
)]
async fn on_bench_widget(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    std::hint::black_box(&widget);
    CONSUMED.record();
    Ok(())
}

/// `on_bench_widget`'s name, for [`deimos::consumer::registration`] and `[consumer.<name>]`.
const CONSUMER: &str = "on_bench_widget";

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
            rounds,
            only,
        } => produce(brokers, messages, batch.max(1), rounds.max(1), only).await,
        Command::Consume {
            brokers,
            messages,
            batch,
            rounds,
            only,
        } => consume(brokers, messages, batch.max(1), rounds.max(1), only).await,
        Command::Upsert {
            database_url,
            messages,
            batch,
            rounds,
            only,
        } => upsert::upsert(database_url, messages, batch.max(1), rounds.max(1), only).await,
        Command::Outbox(args) => outbox::outbox(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Messages of the warm-up, sent by each side before its first timed run.
const WARM_UP: usize = 100;

/// Both sides produce to the Widget producer's topic, `bench-widgets` (created with 3
/// partitions when missing).
async fn produce(
    brokers: Option<String>,
    messages: usize,
    batch: usize,
    rounds: usize,
    only: Option<OnlySide>,
) -> anyhow::Result<()> {
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

    // What deimos writes for each widget: the raw side sends these bytes. Timed on its own:
    // the encoding is the work deimos does that raw rdkafka does not, done as `publish_list`
    // does it (a run per `--batch` widgets).
    let started = Instant::now();
    let mut runs = Vec::with_capacity(messages.div_ceil(batch));
    for chunk in payloads.chunks(batch) {
        let chunk: Vec<&Widget> = chunk.iter().collect();
        let run = app
            .codec()
            .encode_payloads(
                topic,
                &Widget::SCHEMA,
                &Widget::KEY_CONFIG,
                &chunk,
                Widget::plain_key,
                false,
            )
            .await
            .context("encoding the widgets")?;
        runs.push(run);
    }
    let encode_rate = rate(messages, started.elapsed());
    // Copied out of deimos' shared buffers: what a raw rdkafka user would hold.
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = runs
        .into_iter()
        .flatten()
        .map(|e| {
            let key = e.key.map(|(_, bytes)| bytes.to_vec()).unwrap_or_default();
            (key, e.payload.to_vec())
        })
        .collect();
    println!("encode: deimos={encode_rate:.0}");

    let raw: FutureProducer = config
        .producer_client_config()
        .create()
        .context("raw producer")?;
    let warm = WARM_UP.min(messages);
    let bound = config.producers.effective_delivery_timeout()
        + config.producers.ack_timeout
        + Duration::from_secs(5);
    // Warm-up: connections, metadata, schema caches.
    app.publish_list(&payloads[..warm])
        .await
        .context("deimos warm-up")?;
    send_raw(&raw, topic, &encoded[..warm], batch, bound)
        .await
        .context("raw warm-up")?;

    let mut results = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut deimos = Side::default();
        let mut raw_side = Side::default();
        // Alternate which side goes first, so neither always meets a fresher broker.
        for side in sides(round, only) {
            let started = Instant::now();
            let cpu_before = cpu_time();
            if side == 0 {
                for chunk in payloads.chunks(batch) {
                    app.publish_list(chunk)
                        .await
                        .context("deimos publish_list")?;
                }
                deimos = Side::measured(messages, started, cpu_before);
            } else {
                send_raw(&raw, topic, &encoded, batch, bound).await?;
                raw_side = Side::measured(messages, started, cpu_before);
            }
        }
        if rounds > 1 && only.is_none() {
            print_round(round, deimos, raw_side);
        }
        results.push((deimos, raw_side));
    }
    print_summary("produce", &results, only);
    Ok(())
}

/// Prints one round's line: both rates, their ratio and, where measured, CPU µs per message.
fn print_round(round: usize, deimos: Side, raw: Side) {
    println!(
        "round {}: deimos={:.0} raw={:.0} ratio={:.3}{}",
        round + 1,
        deimos.rate,
        raw.rate,
        deimos.rate / raw.rate,
        match (deimos.cpu_us, raw.cpu_us) {
            (Some(d), Some(r)) => format!(" cpu: deimos={d:.2} raw={r:.2}"),
            _ => String::new(),
        }
    );
}

/// Prints the medians over the rounds: the `cpu` line (when every round measured CPU time)
/// and `<kind>: deimos=… raw=… ratio=…` (only the side kept, with `--only`).
fn print_summary(kind: &str, results: &[(Side, Side)], only: Option<OnlySide>) {
    let deimos_rate = median(results.iter().map(|r| r.0.rate));
    let raw_rate = median(results.iter().map(|r| r.1.rate));
    let ratio = median(results.iter().map(|r| r.0.rate / r.1.rate));
    let cpu: Option<Vec<(f64, f64)>> = results
        .iter()
        .map(|(d, r)| Some((d.cpu_us?, r.cpu_us?)))
        .collect();
    if let Some(cpu) = cpu {
        println!(
            "cpu: deimos={:.2} raw={:.2}",
            median(cpu.iter().map(|c| c.0)),
            median(cpu.iter().map(|c| c.1))
        );
    }
    match only {
        None => println!("{kind}: deimos={deimos_rate:.0} raw={raw_rate:.0} ratio={ratio:.3}"),
        Some(OnlySide::Deimos) => println!("{kind}: deimos={deimos_rate:.0}"),
        Some(OnlySide::Raw) => println!("{kind}: raw={raw_rate:.0}"),
    }
}

/// Fills a fresh topic (3 partitions) with `messages` widgets through deimos' `publish_list`
/// (not timed), then consumes it whole, each side in a fresh consumer group per round.
async fn consume(
    brokers: Option<String>,
    messages: usize,
    batch: usize,
    rounds: usize,
    only: Option<OnlySide>,
) -> anyhow::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let run_id = format!("{}-{nanos}", std::process::id());
    let topic = format!("bench-consume-{run_id}");
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
            embedded.create_topic(&topic, 3)?;
            config.kafka.brokers = embedded.brokers();
            Some(embedded)
        }
    };
    {
        // Dropped after filling: its producer does not run beside the timed sides.
        let filler = App::from_config(config.clone())?;
        if brokers.is_some() {
            filler.create_topics(&[(topic.as_str(), 3)]).await?;
        }
        let payloads: Vec<Widget> = (0..messages as i64).map(widget).collect();
        let options = PublishOptions::new().topic(topic.clone());
        for chunk in payloads.chunks(batch) {
            filler
                .publish_list_with::<Widget, _>(chunk, &options)
                .await
                .context("filling the topic")?;
        }
    }
    // The consumers' side of the configuration: the `publish_list` producer is not needed.
    config.producers.backend = ProducerBackendKind::Test;
    let reg = deimos::consumer::registration(CONSUMER)
        .with_context(|| format!("`{CONSUMER}` is not registered"))?;
    // The raw side's decoder: `serde_avro_fast` (deimos' typed path) over the same `.avsc`.
    let schema_json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/com/example/Widget.avsc"
    ))
    .context("reading Widget.avsc")?;
    let schema: Arc<serde_avro_fast::Schema> = Arc::new(
        schema_json
            .parse()
            .context("serde_avro_fast cannot read Widget.avsc")?,
    );
    // And the key: `key_config(field = "id")` writes the record deimos generates for it.
    let key_schema: Arc<serde_avro_fast::Schema> = Arc::new(
        WIDGET_KEY_SCHEMA
            .parse()
            .context("serde_avro_fast cannot read the Widget key schema")?,
    );
    let schemas = RawSchemas {
        value: schema,
        key: key_schema,
    };
    // Joining a group on the embedded broker takes a few seconds; each message well under
    // a millisecond.
    let bound = Duration::from_secs(60) + Duration::from_micros(500) * messages as u32;

    let mut results = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut deimos = Side::default();
        let mut raw_side = Side::default();
        // Alternate which side goes first, so neither always meets a fresher broker.
        for side in sides(round, only) {
            let group = format!("bench-consume-{run_id}-{round}-{side}");
            let config = consumer_config(&config, &topic, group);
            if side == 0 {
                deimos = consume_deimos(config, reg, messages, bound).await?;
            } else {
                let settings = ResolvedConsumer::resolve(&config, reg)?;
                raw_side = consume_raw(&config, &settings, &schemas, messages, bound).await?;
            }
        }
        if rounds > 1 && only.is_none() {
            print_round(round, deimos, raw_side);
        }
        results.push((deimos, raw_side));
    }
    print_summary("consume", &results, only);
    Ok(())
}

/// `config` with `[consumer.on_bench_widget]` set to read `topic` from the beginning in
/// `group`: both sides build their librdkafka consumer from it.
fn consumer_config(config: &Config, topic: &str, group: String) -> Config {
    let mut config = config.clone();
    let mut over = ConsumerOverride::default();
    over.topic = Some(topic.to_owned());
    over.group_id = Some(group);
    over.start_from_beginning = Some(true);
    config.consumer.insert(CONSUMER.to_owned(), over);
    config
}

/// Runs `on_bench_widget` through `App::run_consumers_until` until it has seen `messages`
/// messages, then shuts it down (committing and leaving the group, not timed).
///
/// # Errors
/// When the consumer fails, or has not seen every message within `bound`.
async fn consume_deimos(
    config: Config,
    reg: &'static deimos::consumer::ConsumerRegistration,
    messages: usize,
    bound: Duration,
) -> anyhow::Result<Side> {
    let app = App::from_config(config)?;
    CONSUMED.reset(messages);
    let run = app.run_consumers_until(std::iter::once(reg), CONSUMED.wait());
    tokio::time::timeout(bound, run)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "deimos saw {} of {messages} messages in {bound:?}",
                CONSUMED.seen.load(Ordering::SeqCst)
            )
        })?
        .context("deimos consumer")?;
    CONSUMED.measured(messages)
}

/// The key schema deimos derives for `key_config(field = "id")` on `com.example.Widget`
/// (`Codec::field_key_schema`), written out as a hand-written consumer would.
const WIDGET_KEY_SCHEMA: &str = r#"{"type": "record", "name": "Widget_key",
    "namespace": "com.example", "fields": [{"name": "id", "type": "long"}]}"#;

/// The raw side's decoders.
struct RawSchemas {
    value: Arc<serde_avro_fast::Schema>,
    key: Arc<serde_avro_fast::Schema>,
}

/// A decoded `Widget_key`.
#[derive(serde::Deserialize)]
struct WidgetKey {
    #[allow(dead_code)] // read into, as deimos reads the key for `Metadata::key`
    id: i64,
}

/// The raw side: a `StreamConsumer` with the client properties deimos' consumer gets
/// (`ResolvedConsumer::client_config`), on a tokio task as deimos' consumer runs, that
/// decodes each message as deimos does for the handler (the key into its `Widget_key`
/// record, the payload into a `Widget`, both with `serde_avro_fast`) and stores its offset,
/// as deimos does after its handler returned; commits like deimos' loop (after every
/// `offset_commit_threshold` messages when set, and when done). It reads neither headers
/// nor timestamps, which deimos puts in every handler's `Metadata`.
///
/// # Errors
/// When the consumer cannot be created or subscribed, a payload does not decode, or the loop
/// has not seen every message within `bound`.
async fn consume_raw(
    config: &Config,
    settings: &ResolvedConsumer,
    schemas: &RawSchemas,
    messages: usize,
    bound: Duration,
) -> anyhow::Result<Side> {
    let consumer: StreamConsumer = settings
        .client_config(config)
        .create()
        .context("raw consumer")?;
    consumer
        .subscribe(&[settings.topic.as_str()])
        .context("raw subscribe")?;
    let progress = Arc::new(Progress::new());
    progress.reset(messages);
    let threshold = settings.offset_commit_threshold;
    let (task_progress, schema, key_schema) =
        (progress.clone(), schemas.value.clone(), schemas.key.clone());
    let task = tokio::spawn(async move {
        let mut since_commit = 0u64;
        for _ in 0..messages {
            let message = loop {
                match consumer.recv().await {
                    Ok(m) => break m,
                    Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) => {
                        anyhow::bail!("raw consumer: {e}")
                    }
                    // Transient, as deimos' loop treats them: librdkafka retries.
                    Err(e) => tracing::warn!(error = %e, "raw consumer error"),
                }
            };
            let key: Option<WidgetKey> = message
                .key()
                .map(|key| serde_avro_fast::from_datum_slice(key, &key_schema))
                .transpose()
                .with_context(|| format!("raw key decode at offset {}", message.offset()))?;
            let widget: Widget =
                serde_avro_fast::from_datum_slice(message.payload().unwrap_or_default(), &schema)
                    .with_context(|| format!("raw decode at offset {}", message.offset()))?;
            std::hint::black_box((&key, &widget));
            task_progress.record();
            if let Err(e) = consumer.store_offset_from_message(&message) {
                tracing::warn!(error = %e, "raw: could not store offset");
            }
            since_commit += 1;
            if threshold > 0 && since_commit >= threshold {
                since_commit = 0;
                let _ = consumer.commit_consumer_state(CommitMode::Async);
            }
        }
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
        consumer.unsubscribe();
        Ok(())
    });
    tokio::time::timeout(bound, task)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "raw saw {} of {messages} messages in {bound:?}",
                progress.seen.load(Ordering::SeqCst)
            )
        })?
        .context("raw consumer task")??;
    progress.measured(messages)
}

/// One side's run: messages per second (wall clock) and process CPU µs per message.
#[derive(Debug, Default, Clone, Copy)]
struct Side {
    rate: f64,
    cpu_us: Option<f64>,
}

impl Side {
    fn measured(messages: usize, started: Instant, cpu_before: Option<Duration>) -> Side {
        let cpu_us = cpu_before
            .zip(cpu_time())
            .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / messages as f64);
        Side {
            rate: rate(messages, started.elapsed()),
            cpu_us,
        }
    }
}

/// CPU time (user + system) this process has used, all threads together: fields 14 and 15
/// of `/proc/self/stat`, in clock ticks of 10 ms (Linux's `USER_HZ`). `None` without procfs.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Sends `messages` (key, value) with raw rdkafka: enqueue a group of `batch`, then await its
/// delivery reports, as the `kafka` backend does for one `publish_list`.
///
/// # Errors
/// When a message cannot be enqueued or is not delivered, or a group takes longer than
/// `bound` to enqueue and get its delivery reports (deimos' own flush bound: a report is due
/// within `producers.delivery_timeout` plus one `ack_timeout`; librdkafka may take far longer
/// to time out messages for a broker that died, and the bench must end).
async fn send_raw(
    raw: &FutureProducer,
    topic: &str,
    messages: &[(Vec<u8>, Vec<u8>)],
    batch: usize,
    bound: Duration,
) -> anyhow::Result<()> {
    for group in messages.chunks(batch) {
        let deadline = tokio::time::Instant::now() + bound;
        let mut deliveries = Vec::with_capacity(group.len());
        for (key, value) in group {
            let mut record = FutureRecord::to(topic)
                .key(key.as_slice())
                .payload(value.as_slice());
            loop {
                match raw.send_result(record) {
                    Ok(delivery) => break deliveries.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        if tokio::time::Instant::now() >= deadline {
                            anyhow::bail!("raw enqueue: the queue is still full after {bound:?}");
                        }
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => anyhow::bail!("raw enqueue: {e}"),
                }
            }
        }
        let reports = async {
            let mut failed = 0usize;
            for delivery in deliveries {
                failed += usize::from(!matches!(delivery.await, Ok(Ok(_))));
            }
            failed
        };
        let failed = tokio::time::timeout_at(deadline, reports)
            .await
            .map_err(|_| anyhow::anyhow!("raw delivery reports still missing after {bound:?}"))?;
        // As deimos' `publish_list` returns its error: stop at the first group with failures.
        if failed > 0 {
            anyhow::bail!("{failed} raw messages failed");
        }
    }
    Ok(())
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

/// The sides round `round` runs, in order (0 = deimos, 1 = raw): they take turns going first,
/// so that neither always meets a fresher broker or database; `--only` keeps one.
fn sides(round: usize, only: Option<OnlySide>) -> impl Iterator<Item = usize> {
    [round % 2, 1 - round % 2]
        .into_iter()
        .filter(move |side| match only {
            Some(OnlySide::Deimos) => *side == 0,
            Some(OnlySide::Raw) => *side == 1,
            None => true,
        })
}

/// `database_url`, or a SQLite file in a fresh temporary directory (returned, to be removed
/// at the end) when absent.
fn database_or_sqlite(
    database_url: Option<String>,
    name: &str,
) -> anyhow::Result<(String, std::path::PathBuf)> {
    let dir = std::env::temp_dir().join(format!("deimos-bench-{name}-{}", std::process::id()));
    let url = match database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}?mode=rwc", dir.join("bench.db").display())
        }
    };
    Ok((url, dir))
}

/// The median (the mean of the middle two for an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
