//! Deimos' consumer metrics and the consume / decode spans: `handler` counted with
//! `status:received|success|error` and timed with `time:consume`, per topic; a
//! `deimos.consume` span per delivery attempt with the messaging attributes, and a child
//! `deimos.decode` span, errors recorded on both.

use std::time::Duration;

use deimos::producer::PublishOptions;
use deimos::App;
use deimos_tests::metrics::{counter_with, histogram_with};
use deimos_tests::spans::{self, ClosedSpan};
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

const TOPIC: &str = "metered-widgets";

static SEEN: Recorder<i64> = Recorder::new();

#[deimos::consumer(
    topic = "metered-widgets",
    schema = "com.example.Widget",
    group_id = "metered",
    key_config(field = "id")
)]
async fn on_metered(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    SEEN.push(w.id);
    if w.name == "bad" {
        return Err(format!("widget {} is bad", w.id).into());
    }
    Ok(())
}

/// Offsets 0..=3 on one partition: widget 1 (handled), widget 2 (the handler fails), bytes
/// that are no Avro datum (decoding fails), widget 4 (handled). Errors are skipped
/// (`reraise_errors = false`).
#[tokio::test(flavor = "multi_thread")]
async fn consuming_counts_times_and_traces_each_message() {
    spans::capture();
    // Installs the recorder before anything is counted.
    deimos_tests::metrics::snapshotter();
    let broker = Broker::embedded();
    broker.create_topics(&[TOPIC], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let to_topic = PublishOptions::new().topic(TOPIC);
    let first = [Widget::new(1, "ok"), Widget::new(2, "bad")];
    app.publish_list_with::<Widget, _>(&first, &to_topic)
        .await
        .unwrap();
    broker.send_raw(TOPIC, &[6u8], &[0xffu8; 3], &[]).await;
    app.publish_list_with::<Widget, _>(&[Widget::new(4, "ok")], &to_topic)
        .await
        .unwrap();

    let running = Running::start(&app, &["on_metered"]);
    SEEN.wait_until(Duration::from_secs(30), "widgets 1, 2 and 4", |s| {
        s.contains(&4)
    })
    .await;
    // The last attempt's span closes just after its handler returns.
    let consumed = wait_for_spans(4).await;
    running.stop().await;
    assert_eq!(
        SEEN.items(),
        vec![1, 2, 4],
        "the undecodable message never reaches it"
    );

    let handler = |status| counter_with("handler", &[("topic", TOPIC), ("status", status)]);
    assert_eq!(
        (handler("received"), handler("success"), handler("error")),
        (3, 2, 2),
        "received / success / error"
    );
    let times = histogram_with("handler", &[("topic", TOPIC), ("time", "consume")]);
    assert_eq!(times.len(), 2, "one time per success: {times:?}");
    assert!(
        times.iter().all(|t| (0.0..30.0).contains(t)),
        "seconds: {times:?}"
    );

    for (offset, span) in consumed.iter().enumerate() {
        let field = |name: &str| span.fields.get(name).map(String::as_str);
        assert_eq!(field("messaging.system"), Some("kafka"));
        assert_eq!(field("messaging.destination.name"), Some(TOPIC));
        assert_eq!(field("messaging.kafka.destination.partition"), Some("0"));
        assert_eq!(
            field("messaging.kafka.message.offset"),
            Some(offset.to_string().as_str())
        );
        assert_eq!(field("messaging.kafka.consumer.group"), Some("metered"));
        assert_eq!(field("deimos.attempt"), Some("1"));
        let failed = offset == 1 || offset == 2;
        assert_eq!(
            field("otel.status_code"),
            failed.then_some("ERROR"),
            "offset {offset}: {span:?}"
        );
        assert_eq!(
            field("error").is_some(),
            failed,
            "offset {offset}: {span:?}"
        );
    }
    assert!(consumed[1].fields["error"].contains("widget 2 is bad"));
    assert!(
        consumed[2].fields["error"].contains(TOPIC),
        "a decode error names the topic: {:?}",
        consumed[2].fields["error"]
    );

    let decodes: Vec<ClosedSpan> = spans::closed()
        .into_iter()
        .filter(|s| {
            s.name == "deimos.decode"
                && s.fields
                    .get("messaging.destination.name")
                    .map(String::as_str)
                    == Some(TOPIC)
        })
        .collect();
    assert_eq!(decodes.len(), 4, "one decode per message: {decodes:?}");
    assert!(decodes
        .iter()
        .all(|d| d.parent.as_deref() == Some("deimos.consume")));
    let failed: Vec<&str> = decodes
        .iter()
        .filter(|d| d.fields.get("otel.status_code").map(String::as_str) == Some("ERROR"))
        .map(|d| d.fields["messaging.kafka.message.offset"].as_str())
        .collect();
    assert_eq!(failed, vec!["2"], "only the garbage fails to decode");
}

/// The closed `deimos.consume` spans of this test's topic, in offset order, once there are
/// `n` of them.
async fn wait_for_spans(n: usize) -> Vec<ClosedSpan> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut consumed: Vec<ClosedSpan> = spans::closed()
            .into_iter()
            .filter(|s| {
                s.name == "deimos.consume"
                    && s.fields
                        .get("messaging.destination.name")
                        .map(String::as_str)
                        == Some(TOPIC)
            })
            .collect();
        if consumed.len() >= n {
            consumed.sort_by_key(|s| {
                s.fields["messaging.kafka.message.offset"]
                    .parse::<i64>()
                    .unwrap()
            });
            return consumed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} consume spans: {consumed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
