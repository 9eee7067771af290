//! The `producers.*` delivery settings as behaviour on the embedded broker (librdkafka's mock
//! cluster), where `config/kafka.rs` only checks the librdkafka properties they render to:
//! `max_retries` and `retry_backoff` against produce requests the broker refuses
//! ([`EmbeddedKafka::push_request_errors`]), `required_acks = 0`, `idempotence`,
//! `max_buffer_bytesize`, and `delivery_threshold` / `delivery_interval`. Each test but
//! `idempotent_producer_rides_out_refused_produce_requests` would fail if its setting did not
//! reach librdkafka (checked by breaking each mapping in `config/kafka.rs` in turn).
//!
//! Not covered, because the mock cluster cannot show it: `required_acks = "all"` (the mock
//! reads a produce request's `acks` and ignores it, so `all` and `1` behave alike), and the
//! idempotent producer's deduplication of a retried batch the broker had already written (the
//! mock checks producer ids and sequence numbers only for transactional producers).

use std::time::{Duration, Instant};

use deimos::config::{ProducerBackendKind, RequiredAcks};
use deimos::testing::EmbeddedKafka;
use deimos::{App, Config, Error};
use deimos_tests::metrics::{counter, snapshotter};
use deimos_tests::{read_topic, run_id, test_config, Broker, Widget};
use rdkafka::types::{RDKafkaApiKey, RDKafkaErrorCode};

// ---------------------------------------------------------------------------------------------
// Harness

/// The retriable error the tests inject into produce requests: librdkafka retries it
/// (`RD_KAFKA_ERR_ACTION_RETRY`, message not persisted) and counts each retry against
/// `retries`; the mock writes nothing for a request it refuses.
const RETRIABLE: RDKafkaErrorCode = RDKafkaErrorCode::NotEnoughReplicas;

/// A fresh embedded broker with `topic` (one partition, so batches and order are per topic),
/// and a config for the `kafka` backend (publish awaits delivery) with `topic_prefix` set so
/// that the Widget producer writes to `topic`. `delivery_timeout` is a generous 60 s: no test
/// here waits for it, and a slow machine must not time a message out in the middle of its
/// retries.
fn setup(tag: &str) -> (Broker, String, Config) {
    let prefix = format!("pd{}-{tag}.", run_id());
    let topic = format!("{prefix}widgets");
    let broker = Broker::embedded();
    embedded(&broker)
        .create_topic(&topic, 1)
        .expect("create topic");
    let mut config = test_config(&broker);
    config.producers.backend = ProducerBackendKind::Kafka;
    config.producers.topic_prefix = Some(prefix);
    config.producers.delivery_timeout = Some(Duration::from_secs(60));
    (broker, topic, config)
}

fn embedded(broker: &Broker) -> &EmbeddedKafka {
    match broker {
        Broker::Embedded(kafka) => kafka,
        Broker::Real(_) => unreachable!("these tests inject errors into the embedded broker"),
    }
}

/// Makes the next `n` produce requests fail with [`RETRIABLE`].
fn refuse_produce_requests(broker: &Broker, n: usize) {
    embedded(broker)
        .push_request_errors(RDKafkaApiKey::Produce, &vec![RETRIABLE; n])
        .expect("push produce errors");
}

/// The ids of the Widgets on `topic`, in offset order (a duplicate shows twice).
async fn ids_on(broker: &Broker, topic: &str) -> Vec<i64> {
    let schema = apache_avro::Schema::parse_str(
        &std::fs::read_to_string(deimos_tests::schema_dir().join("com/example/Widget.avsc"))
            .unwrap(),
    )
    .unwrap();
    read_topic(broker, topic)
        .await
        .into_iter()
        .map(|r| {
            let value =
                apache_avro::from_avro_datum(&schema, &mut r.payload.unwrap().as_slice(), None)
                    .unwrap();
            apache_avro::from_value::<Widget>(&value).unwrap().id
        })
        .collect()
}

fn widgets(ids: std::ops::Range<i64>) -> Vec<Widget> {
    ids.map(|id| Widget::new(id, "delivery")).collect()
}

/// Asserts that `result` is the `kafka` backend's delivery failure for `topic` with `code`.
fn assert_produce_error(result: deimos::Result<()>, topic: &str, code: RDKafkaErrorCode) {
    let err = result.expect_err("publish fails");
    assert!(
        matches!(&err, Error::Produce { topic: t, .. } if t == topic),
        "{err:?}"
    );
    assert_eq!(err.kafka_code(), Some(code), "{err}");
}

// ---------------------------------------------------------------------------------------------
// max_retries (`retries`) and retry_backoff (`retry.backoff.ms`)

/// `producers.retry_backoff` of the retry tests that do not measure it.
const SHORT_BACKOFF: Duration = Duration::from_millis(20);

/// With `max_retries = 2`, two refused produce requests are ridden out: `publish` succeeds on
/// the third attempt and the message is on the topic once. (librdkafka's default, 2 147 483 647
/// retries, would pass this too; [`too_few_retries_fail_with_the_broker_error`] would not.)
#[tokio::test(flavor = "multi_thread")]
async fn max_retries_ride_out_refused_produce_requests() {
    snapshotter();
    let (broker, topic, mut config) = setup("retries2");
    config.producers.max_retries = 2;
    config.producers.retry_backoff = SHORT_BACKOFF;
    let app = App::from_config(config).unwrap();
    refuse_produce_requests(&broker, 2);

    app.publish(&Widget::new(1, "retried")).await.unwrap();
    assert_eq!(ids_on(&broker, &topic).await, [1], "written once");
    assert_eq!(counter("publish", &topic), 1);
    assert_eq!(counter("publish_error", &topic), 0);
}

/// With two refused produce requests queued up on the broker, `max_retries = 1` fails the
/// first `publish` with the broker's error (2 attempts, both refused) and the next one
/// succeeds; `max_retries = 0` fails two publishes (one attempt each, one error each) and the
/// third succeeds. Only the successful publishes reach the topic. So each message gets exactly
/// `max_retries` retries, and `retries` is not librdkafka's default (2 147 483 647).
#[tokio::test(flavor = "multi_thread")]
async fn too_few_retries_fail_with_the_broker_error() {
    snapshotter();
    for max_retries in [0u32, 1] {
        let (broker, topic, mut config) = setup(&format!("retries{max_retries}"));
        config.producers.max_retries = max_retries;
        config.producers.retry_backoff = SHORT_BACKOFF;
        let app = App::from_config(config).unwrap();
        refuse_produce_requests(&broker, 2);

        let failing = 2 / (max_retries as i64 + 1);
        for id in 0..failing {
            let result = app.publish(&Widget::new(id, "refused")).await;
            assert_produce_error(result, &topic, RETRIABLE);
        }
        app.publish(&Widget::new(failing, "accepted"))
            .await
            .unwrap_or_else(|e| panic!("max_retries = {max_retries}: errors used up: {e}"));
        assert_eq!(
            ids_on(&broker, &topic).await,
            [failing],
            "max_retries = {max_retries}: only the accepted message was written"
        );
        assert_eq!(counter("publish_error", &topic), failing as u64);
        assert_eq!(counter("publish", &topic), 1);
    }
}

/// `producers.retry_backoff = 1 s` spaces the two retries of a message: librdkafka waits
/// `retry.backoff.ms × 2^(retry − 1)` with ±20 % jitter, capped at `retry.backoff.max.ms`
/// (which deimos sets to the same value), so at least 0.8 s + 1 s. librdkafka's defaults
/// (100 ms, max 1 s) would take about 0.3 s.
#[tokio::test(flavor = "multi_thread")]
async fn retry_backoff_spaces_the_retries() {
    const BACKOFF: Duration = Duration::from_secs(1);
    let (broker, topic, mut config) = setup("backoff");
    config.producers.max_retries = 2;
    config.producers.retry_backoff = BACKOFF;
    let app = App::from_config(config).unwrap();
    // Connect and learn the partition leader first, so that only the retries are timed.
    app.publish(&Widget::new(0, "warm-up")).await.unwrap();
    refuse_produce_requests(&broker, 2);

    let started = Instant::now();
    app.publish(&Widget::new(1, "retried")).await.unwrap();
    let took = started.elapsed();
    eprintln!("two retries with retry_backoff {BACKOFF:?} took {took:?}");
    let at_least = BACKOFF.mul_f64(0.8) + BACKOFF - Duration::from_millis(50);
    assert!(took >= at_least, "{took:?} < {at_least:?}");
    assert_eq!(ids_on(&broker, &topic).await, [0, 1]);
}

// ---------------------------------------------------------------------------------------------
// required_acks (`acks`)

/// With `required_acks = 0` librdkafka does not wait for the broker's answer: a message the
/// broker refused is reported delivered, so `publish` succeeds and the message is lost
/// unseen. The same refusal with `acks = 1` fails `publish`
/// ([`too_few_retries_fail_with_the_broker_error`], `max_retries = 0`).
#[tokio::test(flavor = "multi_thread")]
async fn acks_0_does_not_see_a_refused_write() {
    snapshotter();
    let (broker, topic, mut config) = setup("acks0");
    config.producers.required_acks = Some(RequiredAcks::None);
    config.producers.max_retries = 0;
    let app = App::from_config(config).unwrap();
    refuse_produce_requests(&broker, 1);

    app.publish(&Widget::new(1, "refused, unseen"))
        .await
        .unwrap();
    app.publish(&Widget::new(2, "accepted")).await.unwrap();
    assert_eq!(
        ids_on(&broker, &topic).await,
        [2],
        "the broker wrote only the second message"
    );
    assert_eq!(counter("publish", &topic), 2);
    assert_eq!(counter("publish_error", &topic), 0);
}

// ---------------------------------------------------------------------------------------------
// idempotence (`enable.idempotence`)

/// An idempotent producer (`acks=all` by default, a producer id from the broker) rides out
/// two refused produce requests with `max_retries = 2` (librdkafka drains the partition's
/// requests in flight, then retries with the same sequence numbers): `publish_list` succeeds
/// and the three messages are on the topic once each, in order. The mock wrote nothing for
/// the refused requests, so this does not show deduplication (see the module docs), and a
/// producer without idempotence passes it too: it shows that idempotence does not get in the
/// way of retries; [`idempotence_makes_the_producer_request_a_producer_id`] shows that it is
/// on.
#[tokio::test(flavor = "multi_thread")]
async fn idempotent_producer_rides_out_refused_produce_requests() {
    let (broker, topic, mut config) = setup("idempotent");
    config.producers.idempotence = true;
    config.producers.max_retries = 2;
    config.producers.retry_backoff = SHORT_BACKOFF;
    let app = App::from_config(config).unwrap();
    refuse_produce_requests(&broker, 2);

    app.publish_list(&widgets(1..4)).await.unwrap();
    assert_eq!(ids_on(&broker, &topic).await, [1, 2, 3]);
}

/// `idempotence = true` reaches librdkafka: the producer asks the broker for a producer id
/// (`InitProducerId`) before producing, and a `CLUSTER_AUTHORIZATION_FAILED` answer is a fatal
/// error for it (librdkafka's `rd_kafka_idemp_check_error`), so `publish` fails: the first one
/// with the message purged from the queue by the fatal error (or refused, when the fatal error
/// came first), every later one refused. With `idempotence = false` the same injected error is
/// never requested and publishing works.
#[tokio::test(flavor = "multi_thread")]
async fn idempotence_makes_the_producer_request_a_producer_id() {
    for idempotence in [true, false] {
        let (broker, topic, mut config) = setup(&format!("pid-{idempotence}"));
        config.producers.idempotence = idempotence;
        // The producer id is requested as soon as the producer is created.
        embedded(&broker)
            .push_request_errors(
                RDKafkaApiKey::InitProducerId,
                &[RDKafkaErrorCode::ClusterAuthorizationFailed],
            )
            .unwrap();
        let app = App::from_config(config).unwrap();

        let first = app.publish(&Widget::new(1, "first")).await;
        if !idempotence {
            first.unwrap();
            assert_eq!(ids_on(&broker, &topic).await, [1]);
            continue;
        }
        let err = first.expect_err("an idempotent producer without a producer id fails");
        eprintln!(
            "idempotent producer, producer id refused: {:?}: {err}",
            err.kafka_code()
        );
        assert!(
            matches!(
                err.kafka_code(),
                Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::Fatal)
            ),
            "{err:?}"
        );
        let result = app.publish(&Widget::new(2, "after the fatal error")).await;
        assert_produce_error(result, &topic, RDKafkaErrorCode::Fatal);
        assert_eq!(ids_on(&broker, &topic).await, [0i64; 0]);
    }
}

// ---------------------------------------------------------------------------------------------
// max_buffer_bytesize (`queue.buffering.max.kbytes`)

/// `kafka_async` with the broker down, `max_buffer_bytesize = 1024` and room for 10 000
/// messages: librdkafka counts each message's payload bytes against the limit until its
/// delivery report, so a call of 6 Widgets of about 320 bytes queues 3 and gets
/// `BufferOverflow` naming the byte limit; the 3 queued ones time out and the flush counts
/// them. With the broker back and the queue empty again, 3 more fit and are delivered.
#[tokio::test(flavor = "multi_thread")]
async fn kafka_async_bytesize_limit_is_buffer_overflow() {
    const BYTES: u64 = 1024;
    const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
    snapshotter();
    let (broker, topic, mut config) = setup("bytesize");
    let big = |ids: std::ops::Range<i64>| -> Vec<Widget> {
        ids.map(|id| Widget::new(id, &"x".repeat(300))).collect()
    };

    // How many of the call's payloads fit in BYTES, measured with the `test` backend (on a
    // topic of its own, so that its `publish` counts stay apart).
    let mut capture_config = config.clone();
    capture_config.producers.backend = ProducerBackendKind::Test;
    capture_config.producers.topic_prefix = Some(format!("pd{}-capture.", run_id()));
    let capture = App::from_config(capture_config).unwrap();
    capture.publish_list(&big(1..7)).await.unwrap();
    let sizes: Vec<usize> = capture
        .test_backend()
        .unwrap()
        .sent_messages()
        .iter()
        .map(|m| m.payload.as_ref().unwrap().len())
        .collect();
    let fit = sizes
        .iter()
        .scan(0, |total, size| {
            *total += size;
            Some(*total)
        })
        .take_while(|total| *total as u64 <= BYTES)
        .count();
    assert_eq!(fit, 3, "the test's sizing: payloads of {sizes:?} bytes");

    config.producers.backend = ProducerBackendKind::KafkaAsync;
    config.producers.max_buffer_size = 10_000;
    config.producers.max_buffer_bytesize = BYTES;
    config.producers.delivery_timeout = Some(DELIVERY_TIMEOUT);
    let app = App::from_config(config).unwrap();
    app.publish(&Widget::new(0, "before the outage"))
        .await
        .unwrap();
    app.shutdown_producers().await.unwrap();

    embedded(&broker).broker_down(1).unwrap();
    let err = app.publish_list(&big(1..7)).await.unwrap_err();
    match &err {
        Error::BufferOverflow {
            topic: t,
            max_buffer_size: 10_000,
            max_buffer_bytesize: BYTES,
            queued: 3,
            ..
        } if *t == topic => {}
        other => panic!("expected BufferOverflow with 3 queued: {other:?}"),
    }
    let text = err.to_string();
    for part in [
        topic.as_str(),
        "3 message(s) of this call were queued",
        "1024 bytes (`producers.max_buffer_bytesize`)",
    ] {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
    // Returned without waiting for room: waiting would have queued all 6 once the first 3
    // timed out, and returned `Ok`.
    assert_eq!(err.kafka_code(), Some(RDKafkaErrorCode::QueueFull));

    // The 3 queued messages stay queued until they time out; the flush reports them.
    match app.shutdown_producers().await.unwrap_err() {
        Error::Flush {
            failed: 3,
            pending: 0,
            ..
        } => {}
        other => panic!("expected a flush error with 3 failed: {other:?}"),
    }
    assert_eq!(
        counter("publish_error", &topic),
        3 + 3,
        "3 not queued, then the 3 queued ones timed out"
    );
    assert_eq!(counter("publish", &topic), 1 + 3, "queued");

    // The limit is on what is queued now: with the queue empty, 3 fit again.
    embedded(&broker).broker_up(1).unwrap();
    app.publish_list(&big(7..10)).await.unwrap();
    app.shutdown_producers().await.unwrap();
    assert_eq!(ids_on(&broker, &topic).await, [0, 7, 8, 9]);
    assert_eq!(counter("publish_error", &topic), 6);
}

// ---------------------------------------------------------------------------------------------
// delivery_threshold (`batch.num.messages`) and delivery_interval (`linger.ms`)

/// With `delivery_threshold = 10`, librdkafka sends a partition's messages as soon as 10 are
/// queued, however long `delivery_interval` is: a `publish_list` of 10 (one partition) is
/// delivered at once with `delivery_interval = 10 min`. librdkafka's default (10 000
/// messages) would hold them for the 10 minutes.
#[tokio::test(flavor = "multi_thread")]
async fn delivery_threshold_sends_a_full_batch_at_once() {
    let (broker, topic, mut config) = setup("threshold");
    config.producers.delivery_interval = Duration::from_secs(600);
    config.producers.delivery_timeout = Some(Duration::from_secs(1200));
    config.producers.delivery_threshold = 10;
    let app = App::from_config(config).unwrap();

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.publish_list(&widgets(0..10)))
        .await
        .expect("a full batch is sent without waiting for delivery_interval")
        .unwrap();
    eprintln!(
        "delivery_threshold 10: a batch of 10 took {:?}",
        started.elapsed()
    );
    assert_eq!(ids_on(&broker, &topic).await, (0..10).collect::<Vec<i64>>());
}

/// With `delivery_interval = 2 s`, librdkafka holds a batch that has not reached
/// `delivery_threshold` until its oldest message has waited 2 s: a `publish_list` of 9
/// messages (threshold 10) takes at least 2 s. librdkafka's default (5 ms) would not.
#[tokio::test(flavor = "multi_thread")]
async fn delivery_interval_holds_a_partial_batch() {
    const LINGER: Duration = Duration::from_secs(2);
    let (broker, topic, mut config) = setup("interval");
    config.producers.delivery_interval = LINGER;
    config.producers.delivery_threshold = 10;
    let app = App::from_config(config).unwrap();

    let started = Instant::now();
    app.publish_list(&widgets(0..9)).await.unwrap();
    let took = started.elapsed();
    eprintln!("delivery_interval {LINGER:?}: a batch of 9 took {took:?}");
    assert!(
        took >= LINGER - Duration::from_millis(100),
        "a partial batch lingers: {took:?}"
    );
    assert_eq!(ids_on(&broker, &topic).await, (0..9).collect::<Vec<i64>>());
}
