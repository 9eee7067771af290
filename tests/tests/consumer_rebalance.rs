//! Rebalances: a message held for retry (its partition paused) when the partition is revoked
//! is neither committed nor lost. The consumer lets it go uncommitted, and whoever owns the
//! partition after the rebalance receives it again from the committed offset.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deimos::producer::PublishOptions;
use deimos::App;
use deimos_tests::spans;
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

const TOPIC: &str = "rebalanced-widgets";

static FAIL: AtomicBool = AtomicBool::new(true);
/// (id, succeeded)
static REBALANCED: Recorder<(i64, bool)> = Recorder::new();

#[deimos::consumer(
    topic = "rebalanced-widgets",
    schema = "com.example.Widget",
    group_id = "rebalanced",
    key_config(field = "id")
)]
async fn on_rebalanced(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let id = widget.ok_or("tombstone")?.id;
    let fail = id == 1 && FAIL.load(Ordering::SeqCst);
    REBALANCED.push((id, !fail));
    if fail {
        return Err("widget 1 fails until the rebalance".into());
    }
    Ok(())
}

/// The first deliveries (attempt 1) of widget 1's position, from the consume spans.
fn first_attempts(position: &(String, String)) -> usize {
    consume_spans_at(position)
        .iter()
        .filter(|s| s.fields.get("deimos.attempt").map(String::as_str) == Some("1"))
        .count()
}

/// The closed `deimos.consume` spans at (partition, offset) of the topic.
fn consume_spans_at((partition, offset): &(String, String)) -> Vec<spans::ClosedSpan> {
    spans::closed()
        .into_iter()
        .filter(|s| {
            s.name == "deimos.consume"
                && s.fields
                    .get("messaging.destination.name")
                    .map(String::as_str)
                    == Some(TOPIC)
                && s.fields.get("messaging.kafka.destination.partition") == Some(partition)
                && s.fields.get("messaging.kafka.message.offset") == Some(offset)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn work_held_for_retry_is_redelivered_after_its_partition_is_revoked() {
    spans::capture();
    let broker = Broker::embedded();
    broker.create_topics(&[TOPIC], 2).await;
    let mut config = test_config(&broker);
    config.consumers.reraise_errors = true;
    config.consumers.backoff.min = Duration::from_millis(100);
    config.consumers.backoff.max = Duration::from_millis(300);
    let app = App::from_config(config).unwrap();
    let sent: Vec<Widget> = (1..=40).map(|id| Widget::new(id, "r")).collect();
    app.publish_list_with::<Widget, _>(&sent, &PublishOptions::new().topic(TOPIC))
        .await
        .unwrap();

    let first = Running::start(&app, &["on_rebalanced"]);
    REBALANCED
        .wait_until(Duration::from_secs(30), "widget 1 failing twice", |s| {
            s.iter().filter(|(id, ok)| *id == 1 && !ok).count() >= 2
        })
        .await;
    let position = spans::closed()
        .iter()
        .find(|s| {
            s.name == "deimos.consume"
                && s.fields
                    .get("messaging.destination.name")
                    .map(String::as_str)
                    == Some(TOPIC)
                && s.fields.get("otel.status_code").map(String::as_str) == Some("ERROR")
        })
        .map(|s| {
            (
                s.fields["messaging.kafka.destination.partition"].clone(),
                s.fields["messaging.kafka.message.offset"].clone(),
            )
        })
        .expect("a failed consume span for widget 1");
    let history: Vec<String> = consume_spans_at(&position)
        .iter()
        .map(|s| format!("{:?}", s.fields.get("deimos.attempt")))
        .collect();
    assert_eq!(
        first_attempts(&position),
        1,
        "{history:?} {}",
        "retries so far are attempts 2, 3, …"
    );

    // A second member joins the group: every partition is revoked and assigned anew.
    let second = Running::start(&app, &["on_rebalanced"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while first_attempts(&position) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "widget 1 was not delivered afresh after the rebalance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    FAIL.store(false, Ordering::SeqCst);
    let seen = REBALANCED
        .wait_until(Duration::from_secs(30), "every widget handled", |s| {
            (1..=40).all(|id| s.iter().any(|(i, ok)| *i == id && *ok))
        })
        .await;
    second.stop().await;
    first.stop().await;
    assert!(
        seen.iter().filter(|(id, ok)| *id == 1 && *ok).count() >= 1,
        "widget 1 handled in the end: {seen:?}"
    );
}

static WAITING_FAIL: AtomicBool = AtomicBool::new(true);
/// (id, succeeded)
static WAITING: Recorder<(i64, bool)> = Recorder::new();

#[deimos::consumer(
    topic = "waiting-widgets",
    schema = "com.example.Widget",
    group_id = "waiting",
    key_config(field = "id")
)]
async fn on_waiting(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let id = widget.ok_or("tombstone")?.id;
    let fail = id == 1 && WAITING_FAIL.load(Ordering::SeqCst);
    WAITING.push((id, !fail));
    if fail {
        return Err("widget 1 fails once".into());
    }
    Ok(())
}

#[deimos::consumer(
    topic = "waiting-other",
    schema = "com.example.Widget",
    group_id = "waiting",
    key_config(field = "id")
)]
async fn on_waiting_other(
    _widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    Ok(())
}

/// A partition paused for a retry 20 s away is let go as soon as it is revoked: after the
/// rebalance its message is delivered afresh within seconds, not when the old retry is due.
/// The member that joins subscribes to another topic, so the first member gets the same
/// partitions back (and librdkafka would keep them paused).
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_partition_does_not_wait_for_its_retry() {
    let broker = Broker::embedded();
    broker
        .create_topics(&["waiting-widgets", "waiting-other"], 2)
        .await;
    let mut config = test_config(&broker);
    config.consumers.reraise_errors = true;
    config.consumers.backoff.min = Duration::from_secs(20);
    config.consumers.backoff.max = Duration::from_secs(20);
    let app = App::from_config(config).unwrap();
    let sent: Vec<Widget> = (1..=10).map(|id| Widget::new(id, "w")).collect();
    app.publish_list_with::<Widget, _>(&sent, &PublishOptions::new().topic("waiting-widgets"))
        .await
        .unwrap();
    let first = Running::start(&app, &["on_waiting"]);
    WAITING
        .wait_until(Duration::from_secs(30), "widget 1's failure", |s| {
            s.iter().any(|(id, ok)| *id == 1 && !ok)
        })
        .await;
    WAITING_FAIL.store(false, Ordering::SeqCst);
    let joined = std::time::Instant::now();
    let second = Running::start(&app, &["on_waiting_other"]);
    WAITING
        .wait_until(
            Duration::from_secs(15),
            "widget 1 redelivered well before its 20 s retry",
            |s| s.iter().any(|(id, ok)| *id == 1 && *ok),
        )
        .await;
    assert!(joined.elapsed() < Duration::from_secs(15));
    second.stop().await;
    first.stop().await;
}
