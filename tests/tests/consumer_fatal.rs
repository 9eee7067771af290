//! Fatal errors (`deimos::consumer::set_fatal_error`, Deimos' `consumers.fatal_error`): the
//! consumer stops without committing the message, the others stop gracefully, and the run
//! returns the error; the message comes again after a restart. And `in_consumer_process`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deimos::producer::PublishOptions;
use deimos::{App, Error};
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

const TOPIC: &str = "fatal-widgets";

/// Every handled attempt: (id, offset, in_consumer_process()).
static SEEN: Recorder<(i64, i64, bool)> = Recorder::new();
/// Whether the "doom" widget still fails.
static DOOMED: AtomicBool = AtomicBool::new(true);

#[deimos::consumer(
    topic = "fatal-widgets",
    schema = "com.example.Widget",
    group_id = "fatal",
    key_config(field = "id")
)]
async fn on_fatal(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    SEEN.push((w.id, metadata.offset, deimos::in_consumer_process()));
    match w.name.as_str() {
        "soft" => Err("a soft failure".into()),
        "doom" if DOOMED.load(Ordering::SeqCst) => Err("a doomed widget".into()),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_error_stops_the_run_with_it_and_leaves_its_message_uncommitted() {
    assert!(
        !deimos::in_consumer_process(),
        "not before consumers ran (and DEIMOS_TASK is not set)"
    );
    let broker = Broker::embedded();
    broker.create_topics(&[TOPIC], 1).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let widgets: Vec<Widget> = [(1, "ok"), (2, "soft"), (3, "doom"), (4, "ok")]
        .into_iter()
        .map(|(id, name)| Widget::new(id, name))
        .collect();
    app.publish_list_with::<Widget, _>(&widgets, &PublishOptions::new().topic(TOPIC))
        .await
        .unwrap();
    deimos::consumer::set_fatal_error(
        |error| matches!(error, Error::Handler { source, .. } if source.to_string().contains("doomed")),
    );

    let reg = deimos::consumer::registration("on_fatal").unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_consumers_until([reg], std::future::pending()),
    )
    .await
    .unwrap_or_else(|_| panic!("the fatal error ends the run; seen: {:?}", SEEN.items()));
    match outcome {
        Err(Error::Handler {
            topic,
            partition: 0,
            offset: 2,
            ..
        }) if topic == TOPIC => {}
        other => panic!("expected the handler error of offset 2: {other:?}"),
    }
    assert_eq!(
        SEEN.items(),
        vec![(1, 0, true), (2, 1, true), (3, 2, true)],
        "the soft failure is skipped; nothing after the fatal one is handled"
    );
    assert!(deimos::in_consumer_process(), "still the consumer process");

    // Restarted (the widget no longer fails): the fatal message comes again, the ones handled
    // before it do not.
    DOOMED.store(false, Ordering::SeqCst);
    deimos::consumer::clear_fatal_error();
    let running = Running::start(&app, &["on_fatal"]);
    let seen = SEEN
        .wait_until(Duration::from_secs(30), "widget 4", |s| {
            s.iter().any(|(id, _, _)| *id == 4)
        })
        .await;
    running.stop().await;
    assert_eq!(
        seen,
        vec![
            (1, 0, true),
            (2, 1, true),
            (3, 2, true),
            (3, 2, true),
            (4, 3, true)
        ]
    );
}
