//! The producer backends on a real broker and through broker outages: `kafka_async` (queue
//! and return, every queued message delivered by `shutdown_producers` and at the end of a run,
//! a full queue, delivery failures reported after `publish` returned), `kafka` with the broker
//! stopped and back, and the `db` backend's shape. Each behaviour runs on the embedded broker
//! and (ignored by default) on tansu; the outage tests stop and restart a tansu of their own
//! (`TANSU_BIN`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deimos::config::ProducerBackendKind;
use deimos::events::{self, Event};
use deimos::{App, Config, Error};
use deimos_tests::metrics::{counter, snapshotter};
use deimos_tests::tansu::TansuProcess;
use deimos_tests::{run_id, test_config, Broker, Widget};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// Partitions of every topic here.
const PARTITIONS: i32 = 3;

/// `producers.delivery_timeout` of the outage tests.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// Harness

/// One event seen for the test's topic.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    producer: String,
    messages: usize,
    error: Option<(String, Option<RDKafkaErrorCode>)>,
    at: Instant,
}

/// Records the events of `topic` until the subscription is dropped.
fn record_events(topic: &str) -> (Arc<Mutex<Vec<Seen>>>, events::Subscription) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    let topic = topic.to_owned();
    let subscription = events::subscribe(move |event| {
        let (name, producer, t, messages, error) = match event {
            Event::EncodeMessages {
                producer,
                topic,
                messages,
            } => ("encode_messages", *producer, *topic, messages.len(), None),
            Event::Produce {
                producer,
                topic,
                messages,
            } => ("produce", *producer, *topic, messages.len(), None),
            Event::ProduceError {
                producer,
                topic,
                messages,
                error,
            } => (
                "produce_error",
                *producer,
                *topic,
                messages.len(),
                Some((error.to_string(), error.kafka_code())),
            ),
            _ => return,
        };
        if t == topic {
            sink.lock().unwrap().push(Seen {
                name,
                producer: producer.to_owned(),
                messages,
                error,
                at: Instant::now(),
            });
        }
    });
    (seen, subscription)
}

fn names(seen: &Mutex<Vec<Seen>>) -> Vec<&'static str> {
    seen.lock().unwrap().iter().map(|s| s.name).collect()
}

/// A topic prefix of this run (`producers.topic_prefix`), so each test has topics of its own.
fn prefix(tag: &str) -> String {
    format!("pb{}-{tag}.", run_id())
}

/// The Widget producer's topic under `prefix`.
fn widgets_topic(prefix: &str) -> String {
    format!("{prefix}widgets")
}

fn config_for(broker: &Broker, backend: ProducerBackendKind, prefix: &str) -> Config {
    let mut config = test_config(broker);
    config.producers.backend = backend;
    config.producers.topic_prefix = Some(prefix.to_owned());
    config
}

/// How long librdkafka holds messages back before sending them (`queue.buffering.max.ms`) in
/// the delivery tests: a flush that did not wait for the queue would return before anything
/// reached the broker.
const LINGER: Duration = Duration::from_secs(2);

fn long_linger(config: &mut Config) {
    config.producers.extra.insert(
        "queue.buffering.max.ms".into(),
        LINGER.as_millis().to_string(),
    );
}

fn widgets(ids: std::ops::Range<i64>) -> Vec<Widget> {
    ids.map(|id| Widget::new(id, "backend")).collect()
}

/// How long the topic must stay quiet, after the expected ids arrived, before
/// [`widget_ids`] concludes it holds nothing else.
const QUIET: Duration = Duration::from_millis(1500);

/// The ids of every Widget on `topic`, sorted (a duplicate shows twice): consumed from the
/// beginning until every id of `expected` arrived (at most 30 s) and then nothing more for
/// [`QUIET`]. (tansu 0.6 reports a partition's high watermark per record batch, not per
/// message, so the watermarks cannot say how many messages to expect.)
async fn widget_ids(bootstrap: &str, topic: &str, expected: &[i64]) -> Vec<i64> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("pb-raw-{}", run_id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[topic]).unwrap();
    let schema = apache_avro::Schema::parse_str(
        &std::fs::read_to_string(deimos_tests::schema_dir().join("com/example/Widget.avsc"))
            .unwrap(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = Vec::new();
    loop {
        let complete = expected.iter().all(|id| ids.contains(id));
        let wait = if complete {
            QUIET
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(m) => {
                let m = m.unwrap();
                let value =
                    apache_avro::from_avro_datum(&schema, &mut m.payload().unwrap(), None).unwrap();
                ids.push(apache_avro::from_value::<Widget>(&value).unwrap().id);
            }
            Err(_) if complete => break,
            Err(_) => panic!(
                "not every expected id of {topic} arrived within 30 s: got {} message(s), {ids:?}",
                ids.len()
            ),
        }
    }
    ids.sort_unstable();
    ids
}

/// A broker the test can stop and start again: the embedded broker (broker 1 down and up,
/// topics and messages kept) or a tansu of the test's own (killed, then restarted on the same
/// port with empty memory storage).
struct Outage {
    broker: Broker,
    tansu: Option<TansuProcess>,
}

impl Outage {
    fn embedded() -> Outage {
        Outage {
            broker: Broker::embedded(),
            tansu: None,
        }
    }

    async fn tansu() -> Outage {
        let tansu = TansuProcess::start().await;
        Outage {
            broker: Broker::Real(tansu.bootstrap()),
            tansu: Some(tansu),
        }
    }

    async fn stop(&mut self) {
        match (&mut self.tansu, &self.broker) {
            (Some(tansu), _) => tansu.stop().await,
            (None, Broker::Embedded(embedded)) => embedded.broker_down(1).unwrap(),
            (None, Broker::Real(_)) => unreachable!("a real broker here is a tansu of our own"),
        }
    }

    /// Brings the broker back; `topics` are created again where the restart lost them.
    async fn start(&mut self, topics: &[&str]) {
        match (&mut self.tansu, &self.broker) {
            (Some(tansu), _) => {
                tansu.restart().await;
                self.broker.create_topics(topics, PARTITIONS).await;
            }
            (None, Broker::Embedded(embedded)) => embedded.broker_up(1).unwrap(),
            (None, Broker::Real(_)) => unreachable!("a real broker here is a tansu of our own"),
        }
    }
}

/// Serializes the tests that install the global app.
static GLOBAL_APP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// kafka_async: everything queued is delivered by `shutdown_producers` and at the end of a run

const N: i64 = 200;

/// `N` widgets published one by one through the global app on `kafka_async`, then
/// `deimos::shutdown_producers()`: by the time it returns, the topic holds exactly those `N`
/// ids (librdkafka held them back for up to [`LINGER`], so a flush that did not wait would
/// leave the topic empty). Publishing after the shutdown still works.
async fn async_shutdown_delivers_everything(broker: Broker) {
    let _global = GLOBAL_APP.lock().await;
    let prefix = prefix("shutdown");
    let topic = widgets_topic(&prefix);
    broker.create_topics(&[&topic], PARTITIONS).await;
    let mut config = config_for(&broker, ProducerBackendKind::KafkaAsync, &prefix);
    long_linger(&mut config);
    deimos::configure(config).unwrap();

    let started = Instant::now();
    for w in widgets(0..N) {
        w.publish().await.unwrap();
    }
    let publish_took = started.elapsed();
    let started = Instant::now();
    deimos::shutdown_producers().await.unwrap();
    let flush_took = started.elapsed();
    eprintln!(
        "kafka_async: {N} publishes took {publish_took:?}, shutdown_producers {flush_took:?}"
    );
    assert!(
        publish_took < Duration::from_secs(5),
        "publish does not wait for delivery: {publish_took:?}"
    );
    assert!(
        flush_took < LINGER + Duration::from_secs(5),
        "{flush_took:?}"
    );

    // The producer stays usable after a shutdown.
    Widget::new(N, "after shutdown").publish().await.unwrap();
    deimos::shutdown_producers().await.unwrap();

    // Replacing the global app drops its producer, which purges whatever is still queued (as
    // exiting the process would lose it): only what the shutdowns waited for is on the topic.
    deimos::configure(config_for(&broker, ProducerBackendKind::Test, &prefix)).unwrap();
    let all: Vec<i64> = (0..=N).collect();
    assert_eq!(
        widget_ids(&broker.bootstrap(), &topic, &all).await,
        all,
        "exactly the {} published ids, each once",
        N + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_async_shutdown_producers_delivers_everything_embedded() {
    async_shutdown_delivers_everything(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn kafka_async_shutdown_producers_delivers_everything_tansu() {
    async_shutdown_delivers_everything(Broker::real()).await;
}

/// `App::run_until` ending flushes: every message queued before is on the topic when it
/// returns (librdkafka held them back for up to [`LINGER`]).
async fn async_run_end_delivers_everything(broker: Broker) {
    let prefix = prefix("run");
    let topic = widgets_topic(&prefix);
    broker.create_topics(&[&topic], PARTITIONS).await;
    let mut config = config_for(&broker, ProducerBackendKind::KafkaAsync, &prefix);
    long_linger(&mut config);
    let app = App::from_config(config).unwrap();
    app.publish_list(&widgets(0..N)).await.unwrap();
    let started = Instant::now();
    // No consumer is registered in this test binary: the run ends at once and flushes.
    app.run_until(std::future::ready(())).await.unwrap();
    let run_took = started.elapsed();
    eprintln!("kafka_async: run_until ending (flush of {N} messages) took {run_took:?}");
    assert!(run_took < LINGER + Duration::from_secs(5), "{run_took:?}");
    // Dropping the app purges whatever is still queued: only what the run's end waited for
    // is on the topic.
    drop(app);
    let all: Vec<i64> = (0..N).collect();
    assert_eq!(widget_ids(&broker.bootstrap(), &topic, &all).await, all);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_async_run_end_delivers_everything_embedded() {
    async_run_end_delivers_everything(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn kafka_async_run_end_delivers_everything_tansu() {
    async_run_end_delivers_everything(Broker::real()).await;
}

// ---------------------------------------------------------------------------------------------
// kafka_async: a full queue

/// Which setting bounds the queue at 10 messages in [`async_buffer_overflow`].
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// `max_buffer_size = 10`.
    BufferSize,
    /// `max_queue_size = 10` (`max_buffer_size` stays 10 000): Deimos' async queue bound.
    QueueSize,
}

/// With the broker down and the queue bounded at 10 messages (by `limit`), a call of 15
/// messages queues 10 and gets `BufferOverflow` at once; the 10 queued ones time out and the
/// flush counts them.
async fn async_buffer_overflow(mut broker: Outage, limit: Limit) {
    let prefix = prefix("overflow");
    let topic = widgets_topic(&prefix);
    broker.broker.create_topics(&[&topic], PARTITIONS).await;
    let mut config = config_for(&broker.broker, ProducerBackendKind::KafkaAsync, &prefix);
    match limit {
        Limit::BufferSize => config.producers.max_buffer_size = 10,
        Limit::QueueSize => config.producers.max_queue_size = 10,
    }
    config.producers.delivery_timeout = Some(DELIVERY_TIMEOUT);
    let app = App::from_config(config).unwrap();
    app.publish(&Widget::new(0, "before the outage"))
        .await
        .unwrap();
    app.shutdown_producers().await.unwrap();

    broker.stop().await;
    let started = Instant::now();
    let err = app.publish_list(&widgets(1..16)).await.unwrap_err();
    let overflow_took = started.elapsed();
    match &err {
        Error::BufferOverflow {
            topic: t,
            max_buffer_size: 10,
            queued: 10,
            ..
        } if *t == topic => {}
        other => panic!("expected BufferOverflow with 10 queued: {other:?}"),
    }
    let text = err.to_string();
    for part in [
        topic.as_str(),
        "10 message(s) of this call were queued",
        "at most 10 messages (`producers.max_buffer_size`, or `max_queue_size`",
        "`producers.max_buffer_bytesize`",
    ] {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
    assert_eq!(err.kafka_code(), Some(RDKafkaErrorCode::QueueFull));
    assert!(
        overflow_took < Duration::from_secs(1),
        "a full queue fails at once: {overflow_took:?}"
    );

    // The 10 queued messages stay queued until they time out; the flush reports them.
    let started = Instant::now();
    let err = app.shutdown_producers().await.unwrap_err();
    let flush_took = started.elapsed();
    eprintln!("kafka_async overflow: error after {overflow_took:?}; flush with the broker down took {flush_took:?}: {err}");
    match err {
        Error::Flush {
            failed: 10,
            pending: 0,
            ..
        } => {}
        other => panic!("expected a flush error with 10 failed: {other:?}"),
    }
    assert!(
        flush_took < DELIVERY_TIMEOUT + Duration::from_secs(7),
        "{flush_took:?}"
    );
    assert_eq!(
        counter("publish_error", &topic),
        5 + 10,
        "5 not queued, then the 10 queued ones timed out"
    );
    assert_eq!(counter("publish", &topic), 1 + 10, "queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_async_full_queue_is_buffer_overflow_embedded() {
    snapshotter();
    async_buffer_overflow(Outage::embedded(), Limit::BufferSize).await;
    async_buffer_overflow(Outage::embedded(), Limit::QueueSize).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BIN); run by .ci/run"]
async fn kafka_async_full_queue_is_buffer_overflow_tansu() {
    snapshotter();
    async_buffer_overflow(Outage::tansu().await, Limit::QueueSize).await;
}

// ---------------------------------------------------------------------------------------------
// kafka_async: delivery failures after publish returned

/// With the broker down, `publish` returns `Ok` at once (queued); after
/// `producers.delivery_timeout` each message's failure fires `produce_error` naming the
/// producer and counts in `publish_error`; the flush counts them too.
async fn async_delivery_failure(mut broker: Outage) {
    let prefix = prefix("undelivered");
    let topic = widgets_topic(&prefix);
    broker.broker.create_topics(&[&topic], PARTITIONS).await;
    let (seen, _subscription) = record_events(&topic);
    let mut config = config_for(&broker.broker, ProducerBackendKind::KafkaAsync, &prefix);
    config.producers.delivery_timeout = Some(DELIVERY_TIMEOUT);
    let app = App::from_config(config).unwrap();
    app.publish(&Widget::new(0, "before the outage"))
        .await
        .unwrap();
    app.shutdown_producers().await.unwrap();

    broker.stop().await;
    let started = Instant::now();
    app.publish_list(&widgets(1..4)).await.unwrap();
    let publish_took = started.elapsed();
    assert!(
        publish_took < Duration::from_secs(1),
        "queued, not awaited: {publish_took:?}"
    );
    assert_eq!(
        counter("publish", &topic),
        4,
        "`publish` counts queued messages"
    );
    assert_eq!(counter("publish_error", &topic), 0);

    let deadline = started + DELIVERY_TIMEOUT + Duration::from_secs(15);
    while names(&seen)
        .iter()
        .filter(|n| **n == "produce_error")
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "3 produce_error events within the delivery timeout + 15 s; seen {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let failures: Vec<&Seen> = seen.iter().filter(|s| s.name == "produce_error").collect();
    let first_failure = failures[0].at.duration_since(started);
    let last_failure = failures[2].at.duration_since(started);
    eprintln!("kafka_async: delivery failures reported {first_failure:?} to {last_failure:?} after publish (delivery_timeout {DELIVERY_TIMEOUT:?})");
    assert!(
        first_failure >= DELIVERY_TIMEOUT - Duration::from_millis(500),
        "not before the delivery timeout: {first_failure:?}"
    );
    for failure in &failures {
        assert_eq!(failure.producer, std::any::type_name::<Widget>());
        assert_eq!(failure.messages, 1, "one event per failed message");
        let (text, code) = failure.error.clone().unwrap();
        assert!(text.contains(&topic), "{text}");
        assert_eq!(code, Some(RDKafkaErrorCode::MessageTimedOut), "{text}");
    }
    assert_eq!(
        seen.iter().map(|s| s.name).collect::<Vec<_>>(),
        [
            "encode_messages",
            "produce",
            "encode_messages",
            "produce",
            "produce_error",
            "produce_error",
            "produce_error"
        ]
    );
    assert_eq!(counter("publish_error", &topic), 3);
    assert_eq!(counter("publish", &topic), 4);

    match app.shutdown_producers().await.unwrap_err() {
        Error::Flush {
            failed: 3,
            pending: 0,
            ..
        } => {}
        other => panic!("expected a flush error with 3 failed: {other:?}"),
    }
    // Each failure is counted by one flush only.
    app.shutdown_producers().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_async_delivery_failure_is_reported_embedded() {
    snapshotter();
    async_delivery_failure(Outage::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BIN); run by .ci/run"]
async fn kafka_async_delivery_failure_is_reported_tansu() {
    snapshotter();
    async_delivery_failure(Outage::tansu().await).await;
}

// ---------------------------------------------------------------------------------------------
// kafka (sync): the broker stopped, then back

/// With the broker stopped, `publish` returns an error within the delivery timeout,
/// `publish_error` counts it and `produce_error` fires; once the broker is back, publishing
/// works again and the message is consumable.
async fn sync_broker_stopped_then_back(mut broker: Outage) {
    let prefix = prefix("stopped");
    let topic = widgets_topic(&prefix);
    broker.broker.create_topics(&[&topic], PARTITIONS).await;
    let (seen, _subscription) = record_events(&topic);
    let mut config = config_for(&broker.broker, ProducerBackendKind::Kafka, &prefix);
    config.producers.delivery_timeout = Some(DELIVERY_TIMEOUT);
    let app = App::from_config(config).unwrap();
    app.publish(&Widget::new(1, "before")).await.unwrap();

    broker.stop().await;
    let started = Instant::now();
    let err = app
        .publish(&Widget::new(2, "while stopped"))
        .await
        .unwrap_err();
    let failed_after = started.elapsed();
    eprintln!("kafka: publish with the broker stopped failed after {failed_after:?} (delivery_timeout {DELIVERY_TIMEOUT:?}): {err}");
    assert!(
        matches!(&err, Error::Produce { topic: t, .. } if *t == topic),
        "{err:?}"
    );
    assert_eq!(err.kafka_code(), Some(RDKafkaErrorCode::MessageTimedOut));
    assert!(
        failed_after >= DELIVERY_TIMEOUT - Duration::from_millis(500)
            && failed_after < DELIVERY_TIMEOUT + Duration::from_secs(3),
        "fails at the delivery timeout: {failed_after:?}"
    );
    assert_eq!(counter("publish_error", &topic), 1);
    assert_eq!(counter("publish", &topic), 1);
    assert_eq!(
        names(&seen),
        [
            "encode_messages",
            "produce",
            "encode_messages",
            "produce_error"
        ]
    );

    let restarted = Instant::now();
    broker.start(&[&topic]).await;
    let started = Instant::now();
    app.publish(&Widget::new(3, "back")).await.unwrap();
    let back_took = started.elapsed();
    eprintln!(
        "kafka: broker back after {:?}; the next publish took {back_took:?}",
        started.duration_since(restarted)
    );
    assert_eq!(counter("publish", &topic), 2);
    let expected: &[i64] = match broker.tansu {
        // The embedded broker kept the topic; tansu's memory storage started empty.
        None => &[1, 3],
        Some(_) => &[3],
    };
    let ids = widget_ids(&broker.broker.bootstrap(), &topic, expected).await;
    assert_eq!(ids, expected, "the timed-out message was never written");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_broker_stopped_then_back_embedded() {
    snapshotter();
    sync_broker_stopped_then_back(Outage::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BIN); run by .ci/run"]
async fn kafka_broker_stopped_then_back_tansu() {
    snapshotter();
    sync_broker_stopped_then_back(Outage::tansu().await).await;
}

// ---------------------------------------------------------------------------------------------
// db: without a database, publish names the fix; `kafka_backend` serves `force_send`
// (the outbox itself: tests/tests/outbox.rs)

async fn db_backend(broker: Broker) {
    let prefix = prefix("db");
    let topic = widgets_topic(&prefix);
    broker.create_topics(&[&topic], PARTITIONS).await;
    let app = App::from_config(config_for(&broker, ProducerBackendKind::Db, &prefix)).unwrap();
    let err = app.publish(&Widget::new(7, "outbox")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config { key, .. } if key == "database"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("App::set_database")
            && err.to_string().contains("publish_list_on"),
        "{err}"
    );

    // `kafka_backend` (what `force_send` uses) sends straight to Kafka, awaiting delivery.
    let capture =
        App::from_config(config_for(&broker, ProducerBackendKind::Test, &prefix)).unwrap();
    capture.publish(&Widget::new(8, "forced")).await.unwrap();
    let kafka = app.kafka_backend().unwrap();
    assert!(
        Arc::ptr_eq(&kafka, &app.kafka_backend().unwrap()),
        "built once"
    );
    use deimos::backends::ProducerBackend as _;
    kafka
        .produce(&capture.test_backend().unwrap().sent_messages())
        .await
        .unwrap();
    app.shutdown_producers().await.unwrap();
    assert_eq!(widget_ids(&broker.bootstrap(), &topic, &[8]).await, [8]);
}

#[tokio::test(flavor = "multi_thread")]
async fn db_backend_without_database_embedded() {
    db_backend(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn db_backend_without_database_tansu() {
    db_backend(Broker::real()).await;
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn producers_backend_parses_every_deimos_name() {
    for (name, kind) in [
        ("kafka", ProducerBackendKind::Kafka),
        ("kafka_async", ProducerBackendKind::KafkaAsync),
        ("db", ProducerBackendKind::Db),
        ("test", ProducerBackendKind::Test),
    ] {
        let config = Config::from_toml(&format!("[producers]\nbackend = \"{name}\"")).unwrap();
        assert_eq!(config.producers.backend, kind, "{name}");
    }
    assert_eq!(
        Config::default().producers.backend,
        ProducerBackendKind::Kafka,
        "the default stays kafka (publish returns after delivery)"
    );
    let err = Config::from_toml("[producers]\nbackend = \"kafka_sync\"").unwrap_err();
    assert!(err.to_string().contains("producers.backend"), "{err}");
}
