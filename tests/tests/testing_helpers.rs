//! `deimos::testing`'s helpers: presets scoped to the test's thread (two threads of one test
//! process with different presets never see each other's settings or messages),
//! `test_consume_message` / `test_consume_invalid_message` / `test_consume_batch`,
//! `sent_messages` and `assert_sent!` / `SentQuery` with partial matching of payload, key,
//! partition key and headers, `schemas_compatible`.

use std::sync::{Arc, Barrier};

use deimos::config::{ProducerBackendKind, SchemaBackendKind};
use deimos::producer::PublishOptions;
use deimos::testing::{
    self, test_consume_batch, test_consume_invalid_message, test_consume_message,
    test_consume_message_with, ConsumeOptions, SentQuery,
};
use deimos::{assert_not_sent, assert_sent, Config, Error};
use deimos_tests::{read_topic, schema_dir, test_config, Broker, Recorder, Widget};
use futures::FutureExt as _;
use serde_json::json;

static HANDLED: Recorder<(Option<Widget>, Option<i64>, String)> = Recorder::new();
/// One batch: the widgets and their keys.
type Batch = (Vec<Option<Widget>>, Vec<Option<i64>>);
static BATCHES: Recorder<Batch> = Recorder::new();

#[deimos::consumer(
    topic = "helper-widgets",
    schema = "com.example.Widget",
    group_id = "helpers",
    key_config(field = "id")
)]
async fn handle_helper_widget(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    if widget.as_ref().is_some_and(|w| w.name == "fail") {
        return Err("the handler refuses `fail`".into());
    }
    // What the handler publishes goes through the test's app too.
    if let Some(w) = &widget {
        let mut echo = w.clone();
        echo.name = format!("echo of {}", w.name);
        echo.publish().await?;
    }
    HANDLED.push((widget, metadata.key_as::<i64>().ok(), metadata.topic));
    Ok(())
}

#[deimos::consumer(
    topic = "helper-batches",
    schema = "com.example.Widget",
    group_id = "helpers-batch",
    key_config(field = "id"),
    delivery = "inline_batch"
)]
async fn handle_helper_batch(
    widgets: Vec<Option<Widget>>,
    metadata: deimos::BatchMetadata,
) -> Result<(), deimos::BoxError> {
    let keys = (0..metadata.batch_size())
        .map(|i| metadata.message(i).and_then(|m| m.key_as::<i64>().ok()))
        .collect();
    BATCHES.push((widgets, keys));
    Ok(())
}

fn base() -> Config {
    let mut config = Config::default();
    config.schema.path = schema_dir();
    config
}

/// Two threads of this test process, each with its own preset, publishing at the same time:
/// each sees only its own settings and captured messages.
#[test]
fn presets_in_parallel_threads_never_see_each_other() {
    let broker = Broker::embedded();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(broker.create_topics(&["widgets"], 1));
    let both = Arc::new(Barrier::new(2));
    let unit = {
        let both = both.clone();
        std::thread::spawn(move || {
            let scope = testing::unit_test_with(base()).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            both.wait(); // both presets are installed
            rt.block_on(async {
                Widget::new(1, "from unit").publish().await.unwrap();
                Widget::new(2, "from unit").publish().await.unwrap();
            });
            both.wait(); // both have published
            let config = deimos::global().unwrap().config().clone();
            assert_eq!(config.producers.backend, ProducerBackendKind::Test);
            assert_eq!(config.schema.backend, SchemaBackendKind::AvroValidation);
            assert!(config.consumers.reraise_errors);
            let sent = scope.sent_messages().unwrap();
            let names: Vec<_> = sent
                .iter()
                .map(|m| m.payload.as_ref().unwrap()["name"].clone())
                .collect();
            assert_eq!(names, [json!("from unit"), json!("from unit")]);
            assert_sent!("widgets", json!({ "name": "from unit" }), 2);
            assert_not_sent!("widgets", json!({ "name": "from kafka" }));
        })
    };
    let kafka = {
        let both = both.clone();
        let bootstrap = test_config(&broker).kafka.brokers;
        std::thread::spawn(move || {
            let mut config = base();
            config.kafka.brokers = bootstrap;
            let _scope = testing::kafka_test_with(config).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            both.wait();
            rt.block_on(async {
                Widget::new(3, "from kafka").publish().await.unwrap();
            });
            both.wait();
            let config = deimos::global().unwrap().config().clone();
            assert_eq!(config.producers.backend, ProducerBackendKind::Kafka);
            assert_eq!(config.schema.backend, SchemaBackendKind::AvroLocal);
            // The kafka preset captures nothing: asking says why.
            match testing::sent_messages() {
                Err(Error::Config { key, .. }) => assert_eq!(key, "producers.backend"),
                other => panic!("{other:?}"),
            }
        })
    };
    unit.join().unwrap();
    kafka.join().unwrap();
    // Only the kafka thread's message reached the broker.
    let records = runtime.block_on(read_topic(&broker, "widgets"));
    assert_eq!(records.len(), 1, "{records:?}");
}

#[tokio::test]
async fn a_scope_ends_with_its_value_and_restores_the_previous_one() {
    let outer = testing::unit_test_with(base()).unwrap();
    Widget::new(1, "outer").publish().await.unwrap();
    {
        let inner = testing::unit_test_with(base()).unwrap();
        Widget::new(2, "inner").publish().await.unwrap();
        assert_eq!(inner.sent_messages().unwrap().len(), 1);
        assert_sent!("widgets", json!({ "name": "inner" }));
        assert_not_sent!("widgets", json!({ "name": "outer" }));
    }
    assert_eq!(outer.sent_messages().unwrap().len(), 1);
    assert_sent!("widgets", json!({ "name": "outer" }));
    testing::clear_sent_messages().unwrap();
    assert!(outer.sent_messages().unwrap().is_empty());
}

#[tokio::test]
async fn assert_sent_matches_part_of_the_payload_and_the_key() {
    let _scope = testing::unit_test_with(base()).unwrap();
    let mut widget = Widget::new(7, "bolt");
    widget.tags = vec!["a".into(), "b".into()];
    widget.publish().await.unwrap();
    // Partial payload; the key as the field's value or as the key record; the struct itself.
    assert_sent!("widgets", json!({ "name": "bolt" }));
    assert_sent!("widgets", json!({ "name": "bolt", "tags": ["a", "b"] }), 7);
    assert_sent!("widgets", json!({ "id": 7 }), json!({ "id": 7 }));
    assert_sent!("widgets", widget.clone());
    assert_not_sent!("widgets", json!({ "name": "bolt" }), 8);
    assert_not_sent!("widgets", json!({ "name": "nut" }));
    assert_not_sent!("other-topic", json!({ "name": "bolt" }));
    let failed = std::panic::catch_unwind(|| {
        assert_sent!("widgets", json!({ "name": "nut" }));
    })
    .unwrap_err();
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("no message matches topic `widgets`, payload including")
            && message.contains("\"bolt\""),
        "{message}"
    );
}

/// Deimos' `have_sent(payload, topic, key, partition_key, headers)`: the partition key and
/// headers are matched too, positionally in `assert_sent!` or through `SentQuery`.
#[tokio::test]
async fn assert_sent_matches_partition_key_and_headers() {
    let _scope = testing::unit_test_with(base()).unwrap();
    let options = PublishOptions::new()
        .partition_key("store-3")
        .header("trace-id", "abc")
        .header("origin", "test");
    Widget::new(7, "bolt").publish_with(&options).await.unwrap();
    Widget::new(8, "nut").publish().await.unwrap();

    assert_sent!("widgets", json!({ "name": "bolt" }), 7, "store-3");
    assert_sent!("widgets", json!({}), None::<()>, "store-3");
    assert_sent!(
        "widgets",
        json!({ "name": "bolt" }),
        7,
        "store-3",
        json!({ "trace-id": "abc" })
    );
    assert_sent!(
        "widgets",
        json!({ "name": "bolt" }),
        None::<()>,
        None::<()>,
        json!({ "origin": "test", "trace-id": "abc" })
    );
    assert_not_sent!("widgets", json!({ "name": "bolt" }), 7, "store-4");
    assert_not_sent!("widgets", json!({ "name": "nut" }), 8, "store-3");
    assert_not_sent!(
        "widgets",
        json!({ "name": "bolt" }),
        7,
        None::<()>,
        json!({ "trace-id": "xyz" })
    );
    assert_not_sent!(
        "widgets",
        json!({ "name": "nut" }),
        None::<()>,
        None::<()>,
        json!({ "trace-id": "abc" })
    );

    // The builder: any payload unless one is given.
    let found = SentQuery::topic("widgets")
        .partition_key("store-3")
        .header("trace-id", "abc")
        .find()
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, Some(json!(7)));
    assert_eq!(SentQuery::topic("widgets").find().unwrap().len(), 2);
    SentQuery::topic("widgets").key(8).assert_sent();
    SentQuery::topic("widgets").tombstone().assert_not_sent();
    SentQuery::topic("widgets")
        .payload(json!({ "name": "nut" }))
        .header("trace-id", "abc")
        .assert_not_sent();

    // A failure names what was asked and lists the partition keys and headers sent.
    let failed = std::panic::catch_unwind(|| {
        assert_sent!("widgets", json!({ "name": "bolt" }), 7, "store-9");
    })
    .unwrap_err();
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("partition key \"store-9\"")
            && message.contains("partition_key=\"store-3\"")
            && message.contains("trace-id=\"abc\""),
        "{message}"
    );
    // Headers must be an object of strings.
    let failed = std::panic::catch_unwind(|| {
        assert_sent!(
            "widgets",
            json!({}),
            7,
            None::<()>,
            json!({ "trace-id": 5 })
        );
    })
    .unwrap_err();
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("the expected header `trace-id` is not a string"),
        "{message}"
    );
}

#[tokio::test]
async fn test_consume_message_validates_then_calls_the_handler() {
    let _scope = testing::unit_test_with(base()).unwrap();
    let before = HANDLED.items().len();
    test_consume_message(
        "handle_helper_widget",
        json!({ "id": 5, "name": "five", "price": 2.5, "tags": [], "description": null,
                "updated_at": 0 }),
    )
    .await
    .unwrap();
    // A typed payload, by full path.
    test_consume_message(
        "testing_helpers::handle_helper_widget",
        Widget::new(6, "six"),
    )
    .await
    .unwrap();
    let handled = HANDLED.items()[before..].to_vec();
    let seen: Vec<_> = handled
        .iter()
        .map(|(w, key, topic)| (w.as_ref().map(|w| w.id), *key, topic.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(5), Some(5), "helper-widgets"),
            (Some(6), Some(6), "helper-widgets")
        ]
    );
    // By topic (Deimos' `handler_class_or_topic`): the topic's one consumer.
    test_consume_message("helper-widgets", Widget::new(4, "by topic"))
        .await
        .unwrap();
    assert_eq!(
        HANDLED
            .items()
            .last()
            .map(|(w, _, _)| w.as_ref().map(|w| w.id)),
        Some(Some(4))
    );
    // What the handler published was captured by this test's app.
    assert_sent!("widgets", json!({ "name": "echo of five" }), 5);

    // A tombstone with its key.
    test_consume_message_with("handle_helper_widget", (), ConsumeOptions::new().key(9))
        .await
        .unwrap();
    assert_eq!(HANDLED.items().last().unwrap().0, None);
    assert_eq!(HANDLED.items().last().unwrap().1, Some(9));

    // validate_only checks without calling.
    let count = HANDLED.items().len();
    test_consume_message_with(
        "handle_helper_widget",
        Widget::new(10, "ten"),
        ConsumeOptions::new().validate_only(),
    )
    .await
    .unwrap();
    assert_eq!(HANDLED.items().len(), count);

    // The handler's error comes back naming the handler.
    let err = test_consume_message("handle_helper_widget", Widget::new(11, "fail"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Handler { handler, .. } if handler.ends_with("handle_helper_widget")),
        "{err:?}"
    );
    // An unknown consumer is named.
    let err = test_consume_message("no_such_handler", Widget::new(1, "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_handler"), "{err}");
}

#[tokio::test]
async fn test_consume_invalid_message_returns_the_schema_error() {
    let _scope = testing::unit_test_with(base()).unwrap();
    // Another test of this binary calls the same handler meanwhile: look for these payloads.
    let called = || {
        HANDLED
            .items()
            .iter()
            .any(|(w, _, _)| w.as_ref().is_some_and(|w| w.name == "x"))
    };
    let err = test_consume_invalid_message(
        "handle_helper_widget",
        json!({ "id": "not a long", "name": "x", "price": 1.0, "tags": [], "updated_at": 0 }),
    )
    .await;
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    assert!(text.contains("id"), "{text}");
    assert!(!called(), "the handler was not called");
    // A field the schema lacks makes it invalid, as Deimos' `fail_on_extra_fields` does
    // (a producer's coercion would drop it).
    let extra = json!({ "id": 3, "name": "x", "price": 1.0, "tags": [], "updated_at": 0,
                        "colour": "red" });
    let err = test_consume_invalid_message("handle_helper_widget", extra.clone()).await;
    let text = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        text.starts_with("colour: expected no such field"),
        "{err}: {text}"
    );
    let err = test_consume_message("handle_helper_widget", extra)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    assert!(!called(), "the handler was not called");
    // A valid payload fails the assertion.
    let valid = std::panic::AssertUnwindSafe(test_consume_invalid_message(
        "handle_helper_widget",
        Widget::new(1, "fine"),
    ))
    .catch_unwind()
    .await;
    assert!(
        valid.is_err(),
        "test_consume_invalid_message accepted a valid payload"
    );
}

#[tokio::test]
async fn test_consume_batch_calls_an_inline_batch_handler_once() {
    let _scope = testing::unit_test_with(base()).unwrap();
    let before = BATCHES.items().len();
    test_consume_batch(
        "handle_helper_batch",
        [
            Widget::new(1, "a"),
            Widget::new(2, "b"),
            Widget::new(3, "c"),
        ],
    )
    .await
    .unwrap();
    let batches = BATCHES.items()[before..].to_vec();
    assert_eq!(batches.len(), 1);
    let (widgets, keys) = &batches[0];
    assert_eq!(
        widgets
            .iter()
            .map(|w| w.as_ref().unwrap().id)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(keys, &[Some(1), Some(2), Some(3)]);
    // A per-message consumer is not a batch consumer.
    let err = test_consume_batch("handle_helper_widget", [Widget::new(1, "a")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("test_consume_message"), "{err}");
}

#[test]
fn schemas_compatible_follows_backward_compatibility() {
    let v1 = r#"{"type":"record","name":"W","fields":[{"name":"id","type":"long"}]}"#;
    let v2_default = r#"{"type":"record","name":"W","fields":[{"name":"id","type":"long"},
        {"name":"n","type":"string","default":""}]}"#;
    let v2_required = r#"{"type":"record","name":"W","fields":[{"name":"id","type":"long"},
        {"name":"n","type":"string"}]}"#;
    assert!(testing::schemas_compatible(v1, v2_default));
    assert!(!testing::schemas_compatible(v1, v2_required));
    let err = testing::check_schemas_compatible(v1, v2_required).unwrap_err();
    assert!(err.to_string().contains("W.n"), "{err}");
    // Files work too.
    let widget = schema_dir().join("com/example/Widget.avsc");
    assert!(testing::schemas_compatible(
        widget.as_path(),
        widget.as_path()
    ));
}

#[tokio::test]
async fn sent_messages_without_a_preset_say_which_backend_is_needed() {
    // A kafka preset (no broker is contacted before a publish).
    let mut config = base();
    config.kafka.brokers = vec!["127.0.0.1:1".into()];
    let _scope = testing::kafka_test_with(config).unwrap();
    let err = testing::sent_messages().unwrap_err();
    assert!(err.to_string().contains("unit_test"), "{err}");
}
