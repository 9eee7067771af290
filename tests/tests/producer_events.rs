//! Instrumentation events and Deimos' `publish` / `publish_error` metrics around publishing;
//! a panicking subscriber never breaks publishing.

use std::sync::{Arc, Mutex};

use deimos::config::ProducerBackendKind;
use deimos::events::{self, Event};
use deimos::{App, Config};
use deimos_tests::metrics::{counter, snapshotter};
use deimos_tests::Widget;

fn app(prefix: &str, brokers: Option<&str>) -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.topic_prefix = Some(prefix.to_owned());
    match brokers {
        None => config.producers.backend = ProducerBackendKind::Test,
        Some(b) => {
            config.kafka.brokers = vec![b.to_owned()];
            config.producers.delivery_timeout = Some(DELIVERY_TIMEOUT);
            config.kafka.connect_timeout = std::time::Duration::from_secs(2);
        }
    }
    App::from_config(config).unwrap()
}

/// `producers.delivery_timeout` of the failing-broker test.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

type Seen = Arc<Mutex<Vec<(String, String, String, usize)>>>;

fn record(topic_prefix: &'static str) -> (Seen, events::Subscription) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let subscription = events::subscribe(move |event| {
        let (name, producer, topic, n) = match event {
            Event::EncodeMessages {
                producer,
                topic,
                messages,
            } => ("encode_messages", *producer, *topic, messages.len()),
            Event::Produce {
                producer,
                topic,
                messages,
            } => ("produce", *producer, *topic, messages.len()),
            Event::ProduceError {
                producer,
                topic,
                messages,
                ..
            } => ("produce_error", *producer, *topic, messages.len()),
            _ => return,
        };
        if topic.starts_with(topic_prefix) {
            sink.lock()
                .unwrap()
                .push((name.into(), producer.into(), topic.into(), n));
        }
    });
    (seen, subscription)
}

#[tokio::test]
async fn publishing_fires_events_and_counts_publish_by_topic() {
    snapshotter();
    let (seen, _subscription) = record("ev1.");
    // A panicking subscriber is caught and logged; the others still run and publishing works.
    let _bad = events::subscribe(|_| panic!("subscriber bug"));
    let app = app("ev1.", None);
    app.publish_list(&[Widget::new(1, "a"), Widget::new(2, "b")])
        .await
        .unwrap();
    app.publish(&Widget::new(3, "c")).await.unwrap();
    let producer = std::any::type_name::<Widget>().to_owned();
    let expect = |name: &str, n| {
        (
            name.to_owned(),
            producer.clone(),
            "ev1.widgets".to_owned(),
            n,
        )
    };
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            expect("encode_messages", 2),
            expect("produce", 2),
            expect("encode_messages", 1),
            expect("produce", 1),
        ]
    );
    assert_eq!(counter("publish", "ev1.widgets"), 3);
    assert_eq!(counter("publish_error", "ev1.widgets"), 0);
    assert_eq!(app.test_backend().unwrap().sent_messages().len(), 3);
}

/// A broker that refuses connections: `publish` fails within the configured timeout, the
/// `produce_error` event fires and `publish_error` counts the messages.
#[tokio::test]
async fn a_failed_publish_fires_produce_error_and_counts_publish_error() {
    snapshotter();
    let (seen, _subscription) = record("ev2.");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let app = app("ev2.", Some(&addr));
    let started = std::time::Instant::now();
    let err = app.publish(&Widget::new(1, "lost")).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("ev2.widgets"), "{err}");
    let names: Vec<String> = seen.lock().unwrap().iter().map(|e| e.0.clone()).collect();
    assert_eq!(names, ["encode_messages", "produce_error"]);
    assert_eq!(counter("publish_error", "ev2.widgets"), 1);
    assert_eq!(counter("publish", "ev2.widgets"), 0);
}
