//! The `avro_local` backend over every Avro type it supports: typed structs encode, decode
//! with the same `.avsc`, and come back equal; bad input names what was wrong.

use apache_avro::types::Value;
use deimos::config::ProducerBackendKind;
use deimos::schema::{Decimal, SchemaRef};
use deimos::{App, Config, Error};
use deimos_tests::all_types::{AllTypes, Color};

fn test_app() -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    App::from_config(config).unwrap()
}

#[tokio::test]
async fn every_type_round_trips() {
    let app = test_app();
    let mut values = vec![AllTypes::sample()];
    let mut other = AllTypes::sample();
    other.id = "a-2".into();
    other.maybe = None;
    other.color = Color::Blue;
    other.labels.clear();
    other.history.clear();
    other.price = Decimal::from(vec![0xff, 0xff, 0xff, 0xff, 0x85]); // -123 unscaled = -1.23
    values.push(other);
    app.publish_list(&values).await.unwrap();

    let sent = app.test_backend().unwrap().sent_messages();
    assert_eq!(sent.len(), 2);
    let schema = SchemaRef::parse("com.example.AllTypes");
    for (msg, original) in sent.iter().zip(&values) {
        assert_eq!(&*msg.topic, "all-types");
        let at = (&*msg.topic, 0, 0);
        let decoded = app
            .codec()
            .decode_value(&schema, msg.payload.as_deref(), at)
            .await
            .unwrap()
            .unwrap();
        // Logical types decode as their Avro logical values.
        let Value::Record(fields) = &decoded else {
            panic!("not a record")
        };
        let field = |n: &str| {
            fields
                .iter()
                .find(|(f, _)| f == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(field("day"), Value::Date(original.day));
        assert_eq!(field("ts_ms"), Value::TimestampMillis(original.ts_ms));
        assert_eq!(field("ts_us"), Value::TimestampMicros(original.ts_us));
        assert_eq!(field("time_ms"), Value::TimeMillis(original.time_ms));
        assert_eq!(field("time_us"), Value::TimeMicros(original.time_us));
        assert_eq!(field("uid"), Value::Uuid(original.uid));
        assert!(
            matches!(field("price"), Value::Decimal(_)),
            "{:?}",
            field("price")
        );
        assert!(
            matches!(field("hash"), Value::Fixed(16, _)),
            "{:?}",
            field("hash")
        );
        assert!(
            matches!(field("color"), Value::Enum(..)),
            "{:?}",
            field("color")
        );
        // ...and back into the typed struct, equal to what was sent.
        let back: AllTypes = deimos::schema::from_avro_value(&decoded).unwrap();
        assert_eq!(&back, original);
        // The key is the `id` field, encoded with the generated `AllTypes_key` schema.
        let key = app
            .codec()
            .decode_key(
                &schema,
                &deimos::schema::KeyConfig::Field("id".into()),
                msg.key.as_deref(),
                at,
            )
            .await
            .unwrap();
        assert_eq!(key, Some(Value::String(original.id.clone())));
    }
}

#[tokio::test]
async fn a_value_that_does_not_fit_names_the_field() {
    let app = test_app();
    let mut bad = AllTypes::sample();
    bad.hash = vec![1, 2, 3]; // fixed(16) needs 16 bytes
    let err = app.publish(&bad).await.unwrap_err();
    let Error::Encode {
        topic,
        schema,
        what,
        ..
    } = &err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(
        (topic.as_str(), schema.as_str(), *what),
        ("all-types", "com.example.AllTypes", "payload")
    );
    let chain = format!("{:?}", std::error::Error::source(&err).unwrap().to_string());
    assert!(
        chain.contains("hash"),
        "error should name the field: {chain}"
    );
    assert!(
        app.test_backend().unwrap().sent_messages().is_empty(),
        "nothing sent"
    );
}

#[tokio::test]
async fn garbage_bytes_are_a_decode_error_with_position() {
    let app = test_app();
    let schema = SchemaRef::parse("com.example.AllTypes");
    let err = app
        .codec()
        .decode_value(&schema, Some(&[0xff, 0xff, 0xff]), ("t", 2, 77))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { topic, partition: 2, offset: 77, what: "payload", .. } if topic == "t"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "failed to decode payload at t/2@77 with schema `com.example.AllTypes`"
    );
}

#[tokio::test]
async fn a_missing_schema_file_is_a_load_error() {
    let app = test_app();
    let err = app
        .codec()
        .decode_value(
            &SchemaRef::parse("com.example.Nope"),
            Some(&[0]),
            ("t", 0, 0),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::SchemaLoad { schema, .. } if schema == "com.example.Nope"),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("com/example/Nope.avsc"), "{cause}");
}
