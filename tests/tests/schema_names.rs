//! Deimos schema trees with hyphenated namespaces (`com.my-namespace`) load, with a warning
//! naming the schema, and encode and decode like any other schema.

use std::io::Write;
use std::sync::{Arc, Mutex};

use apache_avro::types::Value;
use deimos::schema::{names, AvroLocal, Codec, SchemaRef};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn hyphenated_namespaces_load_with_a_warning_and_round_trip() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);

    let codec = Codec::new(Arc::new(AvroLocal::new(deimos_tests::schema_dir())));
    let schema = SchemaRef::parse("com.my-namespace.Legacy");
    let value = Value::Record(vec![
        ("id".into(), Value::Long(9)),
        ("status".into(), Value::Enum(1, "GONE".into())),
    ]);
    let (resolved, bytes) = codec.encode_value("legacy", &schema, value).await.unwrap();
    let decoded = codec
        .decode_value(&schema, Some(&bytes), ("legacy", 0, 0))
        .await
        .unwrap();
    assert_eq!(decoded, Some(resolved));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("com.my-namespace.Legacy"), "{logs}");

    let avro = codec.backend().schema(&schema).await.unwrap();
    assert_eq!(
        names::strict_name_violation(&avro).as_deref(),
        Some("com.my-namespace.Legacy"),
        "kept for the registry backend to refuse"
    );
}

#[test]
fn invalid_names_are_errors_not_panics() {
    // apache-avro 0.21 unwraps an invalid record name while parsing; deimos turns that into
    // an error.
    let err = names::parse_schema(r#"{"type":"record","name":"9lives","fields":[]}"#).unwrap_err();
    assert!(err.to_string().contains("9lives"), "{err}");
    let err =
        names::parse_schema(r#"{"type":"record","name":"X","namespace":"com..x","fields":[]}"#)
            .unwrap_err();
    assert!(err.to_string().contains("com..x"), "{err}");
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Status {
    #[serde(rename = "ACTIVE")]
    Active,
    #[serde(rename = "GONE")]
    Gone,
}

/// A typed producer on a hyphenated namespace: the macros take Deimos' names too.
#[deimos::producer(
    topic = "legacy",
    schema = "com.my-namespace.Legacy",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Legacy {
    id: i64,
    status: Status,
}

#[tokio::test]
async fn typed_producers_take_hyphenated_namespaces() {
    let mut config = deimos::Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = deimos::config::ProducerBackendKind::Test;
    let app = deimos::App::from_config(config).unwrap();
    app.publish(&Legacy {
        id: 4,
        status: Status::Gone,
    })
    .await
    .unwrap();
    let sent = app.test_backend().unwrap().sent_messages();
    assert_eq!(&*sent[0].topic, "legacy");
    assert_eq!(
        sent[0].decoded_payload,
        Some(Value::Record(vec![
            ("id".into(), Value::Long(4)),
            ("status".into(), Value::Enum(1, "GONE".into())),
        ]))
    );
}
