//! `DynamicProducer`: dynamic `Payload`s coerced by Deimos' rules, keys per `key_config` with
//! `payload_key`, auto-added fields, and errors that name the field path.

use apache_avro::types::Value;
use bytes::Bytes;
use deimos::config::ProducerBackendKind;
use deimos::producer::DynamicProducer;
use deimos::schema::KeyConfig;
use deimos::{payload, App, Config, Error, Payload};

fn app() -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    config.producers.topic_prefix = Some("dev.".into());
    App::from_config(config).unwrap()
}

fn widgets(key_config: KeyConfig) -> DynamicProducer {
    DynamicProducer::new("widgets", "com.example.Widget", key_config)
}

fn loose_widget() -> Payload {
    payload! {
        "id" => "7",
        "name" => 5,
        "price" => "9.5",
        "updated_at" => "2026-11-30T09:00:00Z",
        "not_in_schema" => "dropped",
    }
}

#[tokio::test]
async fn payloads_are_coerced_dropped_and_defaulted_then_keyed_by_field() {
    let app = app();
    app.publish_payloads(&widgets(KeyConfig::Field("id".into())), [loose_widget()])
        .await
        .unwrap();
    let sent = app.test_backend().unwrap().sent_messages();
    assert_eq!(sent.len(), 1);
    let msg = &sent[0];
    assert_eq!(&*msg.topic, "dev.widgets");
    assert_eq!(
        msg.decoded_payload,
        Some(Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("name".into(), Value::String("5".into())),
            ("price".into(), Value::Double(9.5)),
            ("tags".into(), Value::Array(vec![])),
            ("description".into(), Value::Union(0, Box::new(Value::Null))),
            (
                "updated_at".into(),
                Value::TimestampMillis(1_796_029_200_000)
            ),
        ]))
    );
    assert_eq!(msg.decoded_key, Some(Value::Long(7)));
    // The bytes decode with the same schema to the same value.
    let decoded = app
        .codec()
        .decode_value(
            &deimos::schema::SchemaRef::parse("com.example.Widget"),
            msg.payload.as_deref(),
            ("dev.widgets", 0, 0),
        )
        .await
        .unwrap();
    assert_eq!(decoded, msg.decoded_payload);
}

#[tokio::test]
async fn a_value_that_does_not_coerce_names_the_field_path_and_sends_nothing() {
    let app = app();
    let mut bad = loose_widget();
    bad.insert("tags", vec![payload! {"x" => 1}]);
    let err = app
        .publish_payloads(
            &widgets(KeyConfig::Field("id".into())),
            [loose_widget(), bad],
        )
        .await
        .unwrap_err();
    let Error::Encode {
        topic,
        schema,
        what,
        source,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (topic.as_str(), schema.as_str(), *what),
        ("dev.widgets", "com.example.Widget", "payload")
    );
    assert_eq!(
        source.to_string(),
        "tags[0]: expected string, found map of 1"
    );
    assert!(
        app.test_backend().unwrap().sent_messages().is_empty(),
        "one bad payload sends nothing"
    );
}

#[tokio::test]
async fn payload_key_follows_each_key_config() {
    let app = app();
    // none: a payload carrying a key is an error.
    let mut keyed = loose_widget();
    keyed.insert("payload_key", 1);
    let err = app
        .publish_payloads(&widgets(KeyConfig::None), [keyed.clone()])
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Encode { what: "key", .. }), "{err}");
    assert!(
        err.to_string().contains("key") && format!("{err:?}").contains("payload_key"),
        "{err:?}"
    );

    // plain: required, used as a string.
    let err = app
        .publish_payloads(&widgets(KeyConfig::Plain), [loose_widget()])
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("needs a `payload_key`"),
        "{err:?}"
    );
    app.publish_payloads(&widgets(KeyConfig::Plain), [keyed.clone()])
        .await
        .unwrap();

    // field: payload_key overrides the field, coerced to its type.
    let mut other = loose_widget();
    other.insert("payload_key", "99");
    app.publish_payloads(&widgets(KeyConfig::Field("id".into())), [other])
        .await
        .unwrap();

    // schema: payload_key is the key record.
    let mut record_key = loose_widget();
    record_key.insert("payload_key", payload! {"id" => "12"});
    app.publish_payloads(
        &widgets(KeyConfig::Schema("Widget_key".into())),
        [record_key, loose_widget()],
    )
    .await
    .unwrap();

    let sent = app.test_backend().unwrap().sent_messages();
    let keys: Vec<_> = sent
        .iter()
        .map(|m| (m.decoded_key.clone(), m.key.clone()))
        .collect();
    assert_eq!(
        keys[0],
        (
            Some(Value::String("1".into())),
            Some(Bytes::from_static(b"1"))
        )
    );
    assert_eq!(keys[1].0, Some(Value::Long(99)));
    assert_eq!(
        keys[2].0,
        Some(Value::Record(vec![("id".into(), Value::Long(12))]))
    );
    assert_eq!(
        keys[3].0,
        Some(Value::Record(vec![("id".into(), Value::Long(7))])),
        "from the payload's own id"
    );
    // `payload_key` never reaches the value.
    for m in &sent {
        let Some(Value::Record(fields)) = &m.decoded_payload else {
            panic!()
        };
        assert!(fields.iter().all(|(n, _)| n != "payload_key"));
    }
}

#[tokio::test]
async fn a_payload_of_only_payload_key_is_a_tombstone() {
    let app = app();
    // field: the key coerced to the key field's type, no value.
    app.publish_payloads(
        &widgets(KeyConfig::Field("id".into())),
        [payload! {"payload_key" => "41"}],
    )
    .await
    .unwrap();
    // schema: a key record.
    app.publish_payloads(
        &widgets(KeyConfig::Schema("Widget_key".into())),
        [payload! {"payload_key" => payload! {"id" => 42}}],
    )
    .await
    .unwrap();
    // plain: a string key.
    app.publish_payloads(
        &widgets(KeyConfig::Plain),
        [payload! {"payload_key" => "k"}],
    )
    .await
    .unwrap();
    let sent = app.test_backend().unwrap().sent_messages();
    assert_eq!(sent.len(), 3);
    for m in &sent {
        assert_eq!(m.payload, None, "a tombstone has a null value");
        assert_eq!(m.decoded_payload, None);
        assert!(m.key.is_some());
    }
    assert_eq!(sent[0].decoded_key, Some(Value::Long(41)));
    assert_eq!(
        sent[1].decoded_key,
        Some(Value::Record(vec![("id".into(), Value::Long(42))]))
    );
    assert_eq!(sent[2].key, Some(Bytes::from_static(b"k")));

    // An empty payload is not a tombstone: its fields are missing.
    let err = app
        .publish_payloads(&widgets(KeyConfig::Field("id".into())), [Payload::new()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Encode {
                what: "payload",
                ..
            }
        ),
        "{err:?}"
    );
    // Without a key there is nothing to delete.
    let err = app
        .publish_payloads(
            &widgets(KeyConfig::None),
            [payload! {"payload_key" => "41"}],
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Encode { what: "key", .. }), "{err:?}");
    // A key that does not fit the key field fails naming the key.
    let err = app
        .publish_payloads(
            &widgets(KeyConfig::Field("id".into())),
            [payload! {"payload_key" => "not a number"}],
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Encode { what: "key", .. }), "{err:?}");
}

#[tokio::test]
async fn auto_added_fields_fill_dynamic_payloads() {
    let app = app();
    let events = DynamicProducer::new("events", "com.example.Event", KeyConfig::None);
    app.publish_payloads(
        &events,
        [
            payload! {"id" => 1, "kind" => "x"},
            payload! {"id" => 2, "kind" => "y", "message_id" => "given"},
        ],
    )
    .await
    .unwrap();
    let sent = app.test_backend().unwrap().sent_messages();
    let field = |i: usize, name: &str| {
        let Some(Value::Record(fields)) = &sent[i].decoded_payload else {
            panic!()
        };
        fields.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    assert!(
        matches!(field(0, "message_id"), Value::String(s) if uuid::Uuid::parse_str(&s).is_ok())
    );
    assert!(matches!(field(0, "timestamp"), Value::String(s) if s.ends_with('Z')));
    assert_eq!(field(1, "message_id"), Value::String("given".into()));
}
