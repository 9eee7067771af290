//! The error policy beyond skip-and-move-on (see consumer_errors.rs, consumer_metrics.rs):
//! `reraise_errors` pauses only the failing partition and retries the same offset with growing
//! delays; a dead-letter topic receives what still fails after its retries, undecodable bytes
//! included, with the failure in headers; a fatal predicate stops `run` on a message that
//! cannot be decoded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use deimos::consumer::dead_letter_headers as h;
use deimos::producer::PublishOptions;
use deimos::{App, Error};
use deimos_tests::read::read_topic;
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

/// Every attempt: (id, partition, offset, when, succeeded).
static PAUSED: Recorder<(i64, i32, i64, Instant, bool)> = Recorder::new();
static PAUSED_FAILURES: AtomicU32 = AtomicU32::new(3);

#[deimos::consumer(
    topic = "paused-widgets",
    schema = "com.example.Widget",
    group_id = "paused",
    key_config(field = "id")
)]
async fn on_paused(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    let fail = w.id == 1
        && PAUSED_FAILURES
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    PAUSED.push((
        w.id,
        metadata.partition,
        metadata.offset,
        Instant::now(),
        !fail,
    ));
    if fail {
        return Err("widget 1 fails on purpose".into());
    }
    Ok(())
}

/// Widget 1 fails three times. Its partition waits (nothing after it there is handled before
/// it succeeds), the retries hit the same offset after growing delays (backoff 150 ms to
/// 5 s: 150, 300, 600 ms), and the other partitions are handled meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn reraise_pauses_only_the_failing_partition() {
    let broker = Broker::embedded();
    broker.create_topics(&["paused-widgets"], 3).await;
    let mut config = test_config(&broker);
    config.consumers.reraise_errors = true;
    config.consumers.backoff.min = Duration::from_millis(150);
    config.consumers.backoff.max = Duration::from_secs(5);
    let app = App::from_config(config).unwrap();
    let to_topic = PublishOptions::new().topic("paused-widgets");
    app.publish_list_with::<Widget, _>(&[Widget::new(1, "w")], &to_topic)
        .await
        .unwrap();
    let running = Running::start(&app, &["on_paused"]);
    PAUSED
        .wait_until(Duration::from_secs(30), "widget 1's first failure", |a| {
            !a.is_empty()
        })
        .await;
    // Sent while widget 1 waits for its retries (about 1 s in all): they spread over all
    // three partitions.
    let sent: Vec<Widget> = (2..=60).map(|id| Widget::new(id, "w")).collect();
    app.publish_list_with::<Widget, _>(&sent, &to_topic)
        .await
        .unwrap();
    let seen = PAUSED
        .wait_until(Duration::from_secs(30), "all 60 widgets handled", |a| {
            (1..=60).all(|id| a.iter().any(|(i, _, _, _, ok)| *i == id && *ok))
        })
        .await;
    running.stop().await;

    let of_one: Vec<_> = seen.iter().filter(|(id, ..)| *id == 1).collect();
    assert_eq!(
        of_one.len(),
        4,
        "widget 1: 3 failures then success: {of_one:?}"
    );
    let (_, partition, offset, first_at, _) = *of_one[0];
    assert!(of_one
        .iter()
        .all(|(_, p, o, ..)| (*p, *o) == (partition, offset)));
    let gaps: Vec<Duration> = of_one.windows(2).map(|w| w[1].3 - w[0].3).collect();
    assert!(
        gaps[0] >= Duration::from_millis(140) && gaps[1] > gaps[0] && gaps[2] > gaps[1],
        "growing delays between attempts: {gaps:?}"
    );
    let done_at = of_one[3].3;
    // Nothing behind widget 1 in its partition is handled before widget 1 succeeded.
    let behind_early: Vec<_> = seen
        .iter()
        .filter(|(id, p, o, at, _)| *id != 1 && *p == partition && *o > offset && *at < done_at)
        .collect();
    assert!(
        behind_early.is_empty(),
        "handled before widget 1: {behind_early:?}"
    );
    // The other partitions flowed while widget 1 waited.
    let others_meanwhile = seen
        .iter()
        .filter(|(_, p, _, at, _)| *p != partition && *at > first_at && *at < done_at)
        .count();
    assert!(
        others_meanwhile > 0,
        "other partitions handled nothing during the retries: {seen:?}"
    );
    // Each other widget exactly once (nothing skipped, nothing repeated).
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for (id, ..) in &seen {
        *counts.entry(*id).or_default() += 1;
    }
    assert!((2..=60).all(|id| counts.get(&id) == Some(&1)), "{counts:?}");
}

static DEAD: Recorder<(i64, i64)> = Recorder::new();

#[deimos::consumer(
    topic = "dlq-widgets",
    schema = "com.example.Widget",
    group_id = "dlq",
    key_config(field = "id")
)]
async fn on_dead_letter(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    DEAD.push((w.id, metadata.offset));
    if w.name == "bad" {
        return Err(format!("widget {} is bad", w.id).into());
    }
    Ok(())
}

/// With `dead_letter_topic` and 2 retries: the bad widget is tried 3 times, then it (and the
/// undecodable bytes) go to the dead-letter topic with the original key and value and the
/// failure in headers; everything else is handled and the offsets move past both.
#[tokio::test(flavor = "multi_thread")]
async fn what_keeps_failing_goes_to_the_dead_letter_topic_with_headers() {
    let broker = Broker::embedded();
    broker
        .create_topics(&["dlq-widgets", "dlq-widgets.dead"], 1)
        .await;
    let config = deimos::Config::from_toml(&format!(
        r#"
        [kafka]
        brokers = ["{}"]
        [schema]
        path = "{}"
        [consumers]
        offset_commit_interval = "100ms"
        session_timeout = 6
        heartbeat_interval = "500ms"
        backoff = {{ min = "20ms", max = "100ms" }}
        [consumer.on_dead_letter]
        dead_letter_topic = "dlq-widgets.dead"
        dead_letter_max_retries = 2
        "#,
        broker.bootstrap(),
        deimos_tests::schema_dir().display()
    ))
    .unwrap();
    let app = App::from_config(config).unwrap();
    let to_topic = PublishOptions::new().topic("dlq-widgets");
    app.publish_list_with::<Widget, _>(&[Widget::new(1, "ok"), Widget::new(2, "bad")], &to_topic)
        .await
        .unwrap();
    broker
        .send_raw("dlq-widgets", &[7u8], &[0xffu8; 3], &[("trace", "abc")])
        .await;
    app.publish_list_with::<Widget, _>(&[Widget::new(4, "ok")], &to_topic)
        .await
        .unwrap();

    let running = Running::start(&app, &["on_dead_letter"]);
    DEAD.wait_until(Duration::from_secs(30), "widget 4", |s| {
        s.iter().any(|(id, _)| *id == 4)
    })
    .await;
    // Give the offset commit (100 ms interval) time to carry past widget 4.
    let dead = wait_for_records(&broker, "dlq-widgets.dead", 2).await;
    running.stop().await;

    let seen = DEAD.items();
    assert_eq!(
        seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![1, 2, 2, 2, 4],
        "widget 2 is tried 1 + 2 times; the bytes never reach the handler"
    );
    let original = read_topic(&broker, "dlq-widgets").await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    for (dead, original) in dead.iter().zip([&original[1], &original[2]]) {
        assert_eq!(dead.key, original.key, "original key kept");
        assert_eq!(dead.payload, original.payload, "original value kept");
        let header = |name: &str| {
            dead.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
                .unwrap_or_else(|| panic!("header {name} missing: {:?}", dead.headers))
        };
        assert_eq!(header(h::ORIGINAL_TOPIC), "dlq-widgets");
        assert_eq!(header(h::ORIGINAL_PARTITION), "0");
        assert_eq!(header(h::ORIGINAL_OFFSET), original.offset.to_string());
        assert!(header(h::CONSUMER).ends_with("::on_dead_letter"));
        assert_eq!(header(h::CONSUMER_GROUP), "dlq");
        assert_eq!(header(h::ATTEMPTS), "3");
        let error = header(h::ERROR);
        if original.offset == 1 {
            assert!(error.contains("widget 2 is bad"), "{error}");
        } else {
            assert!(
                error.contains("dlq-widgets/0@2"),
                "the decode error names the message: {error}"
            );
            assert_eq!(header("trace"), "abc", "original headers kept");
        }
    }

    // The offsets moved past both: a new run of the same group sees nothing again.
    let before = DEAD.items().len();
    let running = Running::start(&app, &["on_dead_letter"]);
    app.publish_list_with::<Widget, _>(&[Widget::new(5, "ok")], &to_topic)
        .await
        .unwrap();
    let after = DEAD
        .wait_until(Duration::from_secs(30), "widget 5", |s| {
            s.iter().any(|(id, _)| *id == 5)
        })
        .await;
    running.stop().await;
    assert_eq!(
        after[before..]
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        vec![5],
        "nothing redelivered"
    );
    assert_eq!(
        read_topic(&broker, "dlq-widgets.dead").await.len(),
        2,
        "nothing dead-lettered twice"
    );
}

async fn wait_for_records(
    broker: &Broker,
    topic: &str,
    n: usize,
) -> Vec<deimos_tests::read::Record> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let records = read_topic(broker, topic).await;
        if records.len() >= n {
            return records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}: {} of {n} records after 30 s",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

static UNDECODABLE: Recorder<i64> = Recorder::new();

#[deimos::consumer(
    topic = "fatal-bytes",
    schema = "com.example.Widget",
    group_id = "fatal-bytes",
    key_config(field = "id")
)]
async fn on_fatal_bytes(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    UNDECODABLE.push(widget.map_or(-1, |w| w.id));
    Ok(())
}

/// A fatal-error predicate that calls decode failures fatal stops `run` on the undecodable
/// message, with an error naming topic, partition and offset; the widget before it was handled
/// and the one after it was not.
#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_message_can_be_fatal() {
    let broker = Broker::embedded();
    broker.create_topics(&["fatal-bytes"], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let to_topic = PublishOptions::new().topic("fatal-bytes");
    app.publish_list_with::<Widget, _>(&[Widget::new(1, "ok")], &to_topic)
        .await
        .unwrap();
    broker
        .send_raw("fatal-bytes", &[2u8], &[0u8, 0, 0, 0, 1, 2], &[])
        .await;
    app.publish_list_with::<Widget, _>(&[Widget::new(3, "ok")], &to_topic)
        .await
        .unwrap();
    // The predicate is process-wide: only this test's topic is fatal.
    deimos::consumer::set_fatal_error(
        |e| matches!(e, Error::Decode { topic, .. } if topic == "fatal-bytes"),
    );
    let registration = deimos::consumer::registration("on_fatal_bytes").unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_consumers_until([registration], std::future::pending()),
    )
    .await
    .expect("run returns on the fatal error");
    let error = outcome.expect_err("fatal");
    match &error {
        Error::Decode {
            topic,
            partition,
            offset,
            ..
        } => assert_eq!((topic.as_str(), *partition, *offset), ("fatal-bytes", 0, 1)),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(UNDECODABLE.items(), vec![1]);
}

/// A payload type the `Widget` schema's datums do not fit: `sku` is no field of it.
#[derive(Debug, serde::Deserialize)]
struct Skued {
    id: i64,
    #[allow(dead_code)] // never read: no Widget has it
    sku: String,
}

static MISFIT: Recorder<i64> = Recorder::new();

/// The per-consumer hook of `on_misfit`: payload decode errors are fatal.
fn payload_decode_is_fatal(error: &Error) -> bool {
    matches!(
        error,
        Error::Decode {
            what: "payload",
            ..
        }
    )
}

#[deimos::consumer(
    topic = "misfit-widgets",
    schema = "com.example.Widget",
    group_id = "misfit",
    key_config(field = "id"),
    fatal_error = payload_decode_is_fatal
)]
async fn on_misfit(
    skued: Option<Skued>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    MISFIT.push(skued.map_or(-1, |s| s.id));
    Ok(())
}

/// A valid datum of the consumer's schema that does not fit the handler's payload type is a
/// decode error of the payload (not a handler error): the hook that makes payload decode
/// errors fatal stops `run` on the first message, before the handler ever runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_does_not_fit_the_handler_type_is_a_decode_error() {
    let broker = Broker::embedded();
    broker.create_topics(&["misfit-widgets"], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    app.publish_list_with::<Widget, _>(
        &[Widget::new(1, "a"), Widget::new(2, "b")],
        &PublishOptions::new().topic("misfit-widgets"),
    )
    .await
    .unwrap();
    let registration = deimos::consumer::registration("on_misfit").unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_consumers_until([registration], std::future::pending()),
    )
    .await
    .expect("run returns on the fatal error");
    match outcome.expect_err("fatal") {
        Error::Decode {
            topic,
            partition,
            offset,
            schema,
            what,
            source,
        } => {
            assert_eq!(
                (topic.as_str(), partition, offset, schema.as_str(), what),
                ("misfit-widgets", 0, 0, "com.example.Widget", "payload")
            );
            assert!(
                source.to_string().contains("sku"),
                "names the missing field: {source}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(MISFIT.items().is_empty(), "the handler never ran");
}

static HOOKED: Recorder<i64> = Recorder::new();

/// The per-consumer hook: only errors that mention "poison" are fatal.
fn poison_is_fatal(error: &Error) -> bool {
    deimos_tests::avro_gen::chain(error).contains("poison")
}

#[deimos::consumer(
    topic = "hooked-widgets",
    schema = "com.example.Widget",
    group_id = "hooked",
    key_config(field = "id"),
    fatal_error = poison_is_fatal
)]
async fn on_hooked(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("tombstone")?;
    HOOKED.push(w.id);
    match w.name.as_str() {
        "bad" => Err("just bad".into()),
        "poison" => Err("poison pill".into()),
        _ => Ok(()),
    }
}

/// `fatal_error = path`: the consumer's own hook makes the poison pill fatal (the plain bad
/// widget before it is skipped as usual) and `run` returns the handler's error.
#[tokio::test(flavor = "multi_thread")]
async fn the_consumers_own_fatal_hook_stops_run() {
    let broker = Broker::embedded();
    broker.create_topics(&["hooked-widgets"], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let sent = [
        Widget::new(1, "bad"),
        Widget::new(2, "ok"),
        Widget::new(3, "poison"),
        Widget::new(4, "ok"),
    ];
    app.publish_list_with::<Widget, _>(&sent, &PublishOptions::new().topic("hooked-widgets"))
        .await
        .unwrap();
    let registration = deimos::consumer::registration("on_hooked").unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_consumers_until([registration], std::future::pending()),
    )
    .await
    .expect("run returns on the fatal error");
    match outcome {
        Err(Error::Handler { offset, .. }) => assert_eq!(offset, 2),
        other => panic!("expected the poison pill's handler error, got {other:?}"),
    }
    assert_eq!(HOOKED.items(), vec![1, 2, 3]);
}

/// Attempts of inline batches: (first offset, ids, succeeded).
static INLINE_RETRIES: Recorder<(i64, Vec<i64>, bool)> = Recorder::new();
static INLINE_FAILURES: AtomicU32 = AtomicU32::new(2);

#[deimos::consumer(
    topic = "retried-batches",
    schema = "com.example.Widget",
    group_id = "retried-batches",
    key_config(field = "id"),
    delivery = "inline_batch",
    reraise_errors = true,
    backoff(min = "20ms", max = "100ms")
)]
async fn on_retried_batch(
    widgets: Vec<Option<Widget>>,
    metadata: deimos::BatchMetadata,
) -> Result<(), deimos::BoxError> {
    let ids: Vec<i64> = widgets.iter().flatten().map(|w| w.id).collect();
    let fail = ids.contains(&3)
        && INLINE_FAILURES
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    INLINE_RETRIES.push((metadata.first_offset, ids, !fail));
    if fail {
        return Err("the batch with widget 3 fails twice".into());
    }
    Ok(())
}

/// An inline batch that fails is retried whole (same first offset, same messages) until it
/// succeeds; `status:batch_error` counts the failures.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_inline_batch_is_retried_whole() {
    deimos_tests::metrics::snapshotter();
    let broker = Broker::embedded();
    broker.create_topics(&["retried-batches"], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let sent: Vec<Widget> = (1..=10).map(|id| Widget::new(id, "b")).collect();
    app.publish_list_with::<Widget, _>(&sent, &PublishOptions::new().topic("retried-batches"))
        .await
        .unwrap();
    let running = Running::start(&app, &["on_retried_batch"]);
    let attempts = INLINE_RETRIES
        .wait_until(Duration::from_secs(30), "all 10 handled", |a| {
            let mut ok: Vec<i64> = a.iter().filter(|x| x.2).flat_map(|x| x.1.clone()).collect();
            ok.sort_unstable();
            ok == (1..=10).collect::<Vec<_>>()
        })
        .await;
    running.stop().await;
    let with_three: Vec<_> = attempts.iter().filter(|a| a.1.contains(&3)).collect();
    assert_eq!(with_three.len(), 3, "2 failures then success: {attempts:?}");
    assert!(
        with_three
            .iter()
            .all(|a| a.0 == with_three[0].0 && a.1 == with_three[0].1),
        "the same batch each time: {with_three:?}"
    );
    assert_eq!(
        deimos_tests::metrics::counter_with(
            "handler",
            &[("topic", "retried-batches"), ("status", "batch_error")]
        ),
        2
    );
}
