//! What a handler is told: decoded key, topic, partition, offset, timestamp and headers, for a
//! message written by a plain librdkafka producer.

use std::time::Duration;

use apache_avro::types::Value;
use deimos::schema::{KeyConfig, SchemaRef};
use deimos::App;
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

static SEEN: Recorder<(Option<Widget>, deimos::Metadata)> = Recorder::new();

#[deimos::consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "metadata",
    key_config(field = "id")
)]
async fn on_metadata(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    SEEN.push((widget, metadata));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn handler_sees_key_position_timestamp_and_headers() {
    let broker = Broker::embedded();
    broker.create_topics(&["widgets"], 2).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let schema = SchemaRef::parse("com.example.Widget");
    let widget = Widget::new(77, "meta");
    let value = deimos::schema::to_avro_value(&widget).unwrap();
    let (_, payload) = app
        .codec()
        .encode_value("widgets", &schema, value)
        .await
        .unwrap();
    let (_, key) = app
        .codec()
        .encode_key(
            "widgets",
            &schema,
            &KeyConfig::Field("id".into()),
            Value::Long(77),
        )
        .await
        .unwrap();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "trace-id",
            value: Some("abc-123"),
        })
        .insert(Header::<&[u8]> {
            key: "empty",
            value: None,
        });
    let timestamp = 1_700_000_123_456;
    let delivery = producer
        .send(
            FutureRecord::to("widgets")
                .key(&key)
                .payload(&payload)
                .partition(1)
                .timestamp(timestamp)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let running = Running::start(&app, &["on_metadata"]);
    let seen = SEEN
        .wait_until(Duration::from_secs(30), "one message", |s| !s.is_empty())
        .await;
    running.stop().await;

    let (got, meta) = &seen[0];
    assert_eq!(got.as_ref(), Some(&widget));
    assert_eq!(meta.key, Some(Value::Long(77)));
    assert_eq!(meta.key_as::<i64>().unwrap(), 77);
    assert_eq!(
        (meta.topic.as_str(), meta.partition, meta.offset),
        ("widgets", delivery.partition, delivery.offset)
    );
    assert_eq!(meta.timestamp, Some(timestamp));
    assert_eq!(
        meta.headers,
        vec![
            ("trace-id".to_owned(), Some(b"abc-123".to_vec())),
            ("empty".to_owned(), None)
        ]
    );
    assert_eq!(meta.header("trace-id"), Some(&b"abc-123"[..]));
    assert_eq!(meta.header("empty"), None);
}
