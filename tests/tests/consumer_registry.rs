//! A consumer on the `avro_schema_registry` backend (the in-process registry over real HTTP):
//! Confluent-framed keys and values decode per message, without waiting once the writer
//! schema ids are known, and a value with a bad frame is a decode error of the payload that
//! names its offset and goes through the error policy.

use std::time::Duration;

use deimos::config::SchemaBackendKind;
use deimos::producer::PublishOptions;
use deimos::testing::SchemaRegistryServer;
use deimos::{App, Error, Producer as _};
use deimos_tests::avro_gen::chain;
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};

const TOPIC: &str = "registry-consumed";

/// Every call: (widget id, decoded key, offset).
static SEEN: Recorder<(i64, Option<i64>, i64)> = Recorder::new();
/// Every error the policy saw: (what, offset, error chain).
static ERRORS: Recorder<(String, i64, String)> = Recorder::new();

/// Records every error; none is fatal (the policy skips it).
fn record_errors(error: &Error) -> bool {
    if let Error::Decode { what, offset, .. } = error {
        ERRORS.push(((*what).to_owned(), *offset, chain(error)));
    } else {
        ERRORS.push(("other".to_owned(), -1, chain(error)));
    }
    false
}

#[deimos::consumer(
    topic = "registry-consumed",
    schema = "com.example.Widget",
    group_id = "registry-consumed",
    key_config(field = "id"),
    fatal_error = record_errors
)]
async fn on_registry_widget(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let widget = widget.ok_or("unexpected tombstone")?;
    SEEN.push((widget.id, metadata.key_as::<i64>().ok(), metadata.offset));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn framed_messages_decode_and_a_bad_frame_is_a_payload_decode_error() {
    let server = SchemaRegistryServer::start().await.expect("registry");
    let broker = Broker::embedded();
    broker.create_topics(&[TOPIC], 1).await;
    let mut config = test_config(&broker);
    config.schema.backend = SchemaBackendKind::AvroSchemaRegistry;
    config.schema.registry_url = server.url();
    let app = App::from_config(config).unwrap();
    let to_topic = PublishOptions::new().topic(TOPIC);
    app.publish_list_with::<Widget, _>(
        &[
            Widget::new(1, "a"),
            Widget::new(2, "b"),
            Widget::new(3, "c"),
        ],
        &to_topic,
    )
    .await
    .unwrap();
    // Offset 3: widget 4 with a good key and magic byte 1 where Confluent's framing has 0.
    let encoded = app
        .codec()
        .encode_payload(
            TOPIC,
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &Widget::new(4, "d"),
            None,
            false,
        )
        .await
        .unwrap();
    let mut payload = encoded.payload.to_vec();
    payload[0] = 1;
    let (_, key) = encoded.key.expect("a field key");
    broker.send_raw(TOPIC, &key, &payload, &[]).await;
    app.publish_list_with::<Widget, _>(&[Widget::new(5, "e")], &to_topic)
        .await
        .unwrap();

    let running = Running::start(&app, &["on_registry_widget"]);
    SEEN.wait_until(Duration::from_secs(30), "widget 5", |s| {
        s.iter().any(|(id, _, _)| *id == 5)
    })
    .await;
    running.stop().await;

    assert_eq!(
        SEEN.items(),
        vec![
            (1, Some(1), 0),
            (2, Some(2), 1),
            (3, Some(3), 2),
            (5, Some(5), 4)
        ],
        "framed keys and values decoded, in order, the bad frame skipped"
    );
    let errors = ERRORS.items();
    assert_eq!(errors.len(), 1, "one error: {errors:?}");
    let (what, offset, text) = &errors[0];
    assert_eq!(what, "payload", "{text}");
    assert_eq!(*offset, 3, "{text}");
    assert!(text.contains("magic byte"), "names the framing: {text}");
}
