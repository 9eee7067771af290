//! Error policy: `consumers.reraise_errors` retries the same message after a backoff and never
//! skips it; without it, the error is logged and consumption moves on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use deimos::App;
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

/// Every delivery attempt: (id, offset, succeeded).
static RETRY_ATTEMPTS: Recorder<(i64, i64, bool)> = Recorder::new();
static FAILURES_LEFT: Mutex<Option<HashMap<i64, u32>>> = Mutex::new(None);

#[deimos::consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "retry",
    key_config(field = "id")
)]
async fn on_retry(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    let fail = {
        let mut left = FAILURES_LEFT.lock().unwrap();
        let left = left
            .get_or_insert_with(HashMap::new)
            .entry(w.id)
            .or_insert(0);
        if *left > 0 {
            *left -= 1;
            true
        } else {
            false
        }
    };
    RETRY_ATTEMPTS.push((w.id, metadata.offset, !fail));
    if fail {
        return Err(format!("widget {} fails on purpose", w.id).into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn reraise_errors_retries_the_same_message_and_skips_nothing() {
    let broker = Broker::embedded();
    // One partition, so "after it" means the next offsets.
    broker.create_topics(&["widgets"], 1).await;
    let mut config = test_config(&broker);
    config.consumers.reraise_errors = true;
    let app = App::from_config(config).unwrap();
    FAILURES_LEFT
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(2, 2);
    let sent: Vec<_> = (1..=5).map(|id| Widget::new(id, "r")).collect();
    app.publish_list(&sent).await.unwrap();

    let running = Running::start(&app, &["on_retry"]);
    let attempts = RETRY_ATTEMPTS
        .wait_until(Duration::from_secs(30), "all 5 widgets handled", |a| {
            (1..=5).all(|id| a.iter().any(|(i, _, ok)| *i == id && *ok))
        })
        .await;
    running.stop().await;

    let of_two: Vec<_> = attempts.iter().filter(|(id, _, _)| *id == 2).collect();
    assert_eq!(
        of_two.len(),
        3,
        "widget 2 should be seen 3 times: {attempts:?}"
    );
    assert!(
        of_two.iter().all(|(_, off, _)| *off == of_two[0].1),
        "same offset each time: {of_two:?}"
    );
    assert_eq!(
        of_two.iter().map(|(_, _, ok)| *ok).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    // Nothing after it is handled before it succeeded, and nothing is skipped.
    let order: Vec<i64> = attempts.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(order, vec![1, 2, 2, 2, 3, 4, 5], "handling order");
}

static SKIPPED: Recorder<(i64, bool)> = Recorder::new();

#[deimos::consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "skip",
    key_config(field = "id")
)]
async fn on_skip(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    SKIPPED.push((w.id, w.name == "ok"));
    match w.name.as_str() {
        "bad" => Err("bad widget".into()),
        "panic" => panic!("widget {} makes the handler panic", w.id),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_reraise_a_failing_message_is_logged_and_consumption_moves_on() {
    let broker = Broker::embedded();
    broker.create_topics(&["widgets"], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let sent: Vec<Widget> = [(1, "ok"), (2, "bad"), (3, "panic"), (4, "ok")]
        .into_iter()
        .map(|(id, name)| Widget::new(id, name))
        .collect();
    app.publish_list(&sent).await.unwrap();
    let running = Running::start(&app, &["on_skip"]);
    let seen = SKIPPED
        .wait_until(Duration::from_secs(30), "4 widgets", |s| s.len() >= 4)
        .await;
    running.stop().await;
    // The failing and the panicking message are logged and skipped; the consumer keeps going.
    assert_eq!(seen, vec![(1, true), (2, false), (3, false), (4, true)]);
}
