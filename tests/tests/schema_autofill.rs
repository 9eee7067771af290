//! Deimos' auto-added fields: `message_id` and `timestamp` are filled when the schema has them
//! and the payload leaves them unset, in the schema's representation; set values stay.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use apache_avro::types::Value;
use deimos::config::ProducerBackendKind;
use deimos::schema::{AvroLocal, Codec, SchemaRef};
use deimos::{App, Config};
use serde::{Deserialize, Serialize};

fn codec() -> Codec {
    Codec::new(Arc::new(AvroLocal::new(deimos_tests::schema_dir())))
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    let Value::Record(fields) = v else {
        panic!("not a record: {v:?}")
    };
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {v:?}"))
        .1
}

#[tokio::test]
async fn string_fields_are_filled_with_a_uuid_and_an_rfc3339_time() {
    let codec = codec();
    let schema = SchemaRef::parse("com.example.Event");
    let before = now_ms();
    let value = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("kind".into(), Value::String("created".into())),
    ]);
    let (resolved, bytes) = codec.encode_value("events", &schema, value).await.unwrap();
    let after = now_ms();
    let decoded = codec
        .decode_value(&schema, Some(&bytes), ("events", 0, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decoded, resolved);
    let Value::String(id) = field(&decoded, "message_id") else {
        panic!()
    };
    let id = uuid::Uuid::parse_str(id).expect("message_id is a UUID");
    assert_eq!(id.get_version_num(), 4);
    let Value::String(ts) = field(&decoded, "timestamp") else {
        panic!()
    };
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-11-30T09:15:02.123Z".len(),
        "{ts}"
    );
    let parsed = humantime::parse_rfc3339(ts).expect("RFC 3339");
    let ms = i64::try_from(parsed.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    assert!(
        (before..=after).contains(&ms),
        "{before} <= {ms} <= {after}"
    );
}

#[tokio::test]
async fn empty_strings_count_as_unset_but_set_values_stay() {
    let codec = codec();
    let schema = SchemaRef::parse("com.example.Event");
    let empty = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("kind".into(), Value::String("x".into())),
        ("message_id".into(), Value::String(String::new())),
        ("timestamp".into(), Value::String(String::new())),
    ]);
    let (resolved, _) = codec.encode_value("events", &schema, empty).await.unwrap();
    assert!(matches!(field(&resolved, "message_id"), Value::String(s) if s.len() == 36));
    assert!(matches!(field(&resolved, "timestamp"), Value::String(s) if !s.is_empty()));

    let set = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("kind".into(), Value::String("x".into())),
        ("message_id".into(), Value::String("mine".into())),
        ("timestamp".into(), Value::String("yesterday".into())),
    ]);
    let (resolved, _) = codec.encode_value("events", &schema, set).await.unwrap();
    assert_eq!(
        field(&resolved, "message_id"),
        &Value::String("mine".into())
    );
    assert_eq!(
        field(&resolved, "timestamp"),
        &Value::String("yesterday".into())
    );
}

#[tokio::test]
async fn typed_representations_nullable_uuid_and_timestamp_millis() {
    let codec = codec();
    let schema = SchemaRef::parse("com.example.Tick");
    let before = now_ms();
    let value = Value::Record(vec![
        ("seq".into(), Value::Int(7)),
        ("message_id".into(), Value::Null),
    ]);
    let (resolved, _) = codec.encode_value("ticks", &schema, value).await.unwrap();
    let after = now_ms();
    let Value::Union(1, id) = field(&resolved, "message_id") else {
        panic!("{resolved:?}")
    };
    assert!(matches!(id.as_ref(), Value::Uuid(u) if u.get_version_num() == 4));
    let Value::TimestampMillis(ts) = field(&resolved, "timestamp") else {
        panic!("{resolved:?}")
    };
    assert!((before..=after).contains(ts));

    let explicit = Value::Record(vec![
        ("seq".into(), Value::Int(7)),
        ("timestamp".into(), Value::TimestampMillis(5)),
    ]);
    let (resolved, _) = codec
        .encode_value("ticks", &schema, explicit)
        .await
        .unwrap();
    assert_eq!(field(&resolved, "timestamp"), &Value::TimestampMillis(5));
}

/// A typed payload that leaves both fields out entirely: they are schema fields without
/// defaults, so without auto-fill the publish would fail.
#[deimos::producer(
    topic = "events",
    schema = "com.example.Event",
    key_config(field = "id")
)]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NewEvent {
    id: i64,
    kind: String,
}

#[tokio::test]
async fn typed_producers_get_the_fields_too() {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    let app = App::from_config(config).unwrap();
    app.publish(&NewEvent {
        id: 3,
        kind: "made".into(),
    })
    .await
    .unwrap();
    app.publish(&NewEvent {
        id: 4,
        kind: "made".into(),
    })
    .await
    .unwrap();
    let sent = app.test_backend().unwrap().sent_messages();
    assert_eq!(sent.len(), 2);
    let ids: Vec<&Value> = sent
        .iter()
        .map(|m| field(m.decoded_payload.as_ref().unwrap(), "message_id"))
        .collect();
    assert_ne!(ids[0], ids[1], "each message gets its own id");
}
