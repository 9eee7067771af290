//! The `avro_validation` backend through `Codec`: values are validated against the local
//! schema, the wire bytes are Avro's JSON encoding, and decoding gives back the same value.

use std::error::Error as _;
use std::sync::Arc;

use apache_avro::types::Value;
use deimos::config::{Config, SchemaBackendKind};
use deimos::schema::coerce::coerce_payload;
use deimos::schema::{
    backend_from_config, AvroValidation, Codec, KeyConfig, SchemaBackend, SchemaRef,
    SerializationContext,
};
use deimos::{payload, Error, PayloadValue};
use deimos_tests::{everything, schema_dir};
use serde_json::json;

fn backend() -> Arc<AvroValidation> {
    Arc::new(AvroValidation::new(schema_dir()))
}

fn codec() -> Codec {
    Codec::new(backend())
}

fn order_ref() -> SchemaRef {
    SchemaRef::parse("com.example.Order")
}

async fn order_value(discount: f64) -> Value {
    let schema = backend().schema(&order_ref()).await.unwrap();
    let p = payload! {
        "id" => 1001, "customer" => "c", "status" => "SHIPPED",
        "items" => vec![payload! { "sku" => "A", "qty" => 2, "price" => "12.34", "discount" => discount }],
        "placed_on" => "2024-01-31", "placed_at" => "2024-01-31T10:34:56.789Z",
        "ref" => everything::UID, "note" => "leave at door",
    };
    coerce_payload(&p, &schema).unwrap()
}

#[tokio::test]
async fn every_type_round_trips_through_the_codec_as_avro_json() {
    let codec = codec();
    let schema = SchemaRef::parse("com.example.Everything");
    let (resolved, bytes) = codec
        .encode_value("everything", &schema, everything::value())
        .await
        .unwrap();
    assert_eq!(resolved, everything::value());
    let wire: serde_json::Value = serde_json::from_slice(&bytes).expect("the wire bytes are JSON");
    assert_eq!(wire, everything::json());
    let back = codec
        .decode_value(&schema, Some(&bytes), ("everything", 0, 0))
        .await
        .unwrap();
    assert_eq!(back, Some(everything::value()));

    let (_, bytes) = codec
        .encode_value("everything", &schema, everything::value_with_nulls())
        .await
        .unwrap();
    let back = codec
        .decode_value(&schema, Some(&bytes), ("everything", 0, 1))
        .await
        .unwrap();
    assert_eq!(back, Some(everything::value_with_nulls()));
}

#[tokio::test]
async fn coerced_order_round_trips_with_exact_json() {
    let codec = codec();
    let value = order_value(0.25).await;
    let (_, bytes) = codec
        .encode_value("orders", &order_ref(), value.clone())
        .await
        .unwrap();
    let wire: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        wire,
        json!({
            "id": 1001, "customer": "c", "status": "SHIPPED",
            "items": [{"sku": "A", "qty": 2, "price": "\u{0}\u{0}\u{4}\u{d2}", "discount": {"double": 0.25}}],
            "attrs": {}, "note": {"string": "leave at door"}, "placed_on": 19_753,
            "placed_at": 1_706_697_296_789i64, "ref": everything::UID, "gift": false,
            "priority": 3, "shipping": null,
        })
    );
    let back = codec
        .decode_value(&order_ref(), Some(&bytes), ("orders", 0, 0))
        .await
        .unwrap();
    assert_eq!(back, Some(value));
}

#[tokio::test]
async fn nan_round_trips_as_the_string_nan() {
    let codec = codec();
    let (_, bytes) = codec
        .encode_value("orders", &order_ref(), order_value(f64::NAN).await)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(r#""discount":{"double":"NaN"}"#), "{text}");
    let back = codec
        .decode_value(&order_ref(), Some(&bytes), ("orders", 0, 0))
        .await
        .unwrap()
        .unwrap();
    let p = deimos::schema::coerce::to_payload(&back);
    let items = p.as_map().unwrap().get("items").unwrap();
    let PayloadValue::Array(items) = items else {
        panic!()
    };
    match items[0].as_map().unwrap().get("discount") {
        Some(PayloadValue::Float(x)) => assert!(x.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn field_keys_are_json_records_too() {
    let codec = codec();
    let value = order_value(0.0).await;
    let key = KeyConfig::Field("id".into());
    let (decoded, bytes) = codec
        .encode_key_from_value("orders", &order_ref(), &key, &value, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decoded, Value::Long(1001));
    assert_eq!(bytes, br#"{"id":1001}"#);
    let back = codec
        .decode_key(&order_ref(), &key, Some(&bytes), ("orders", 0, 0))
        .await
        .unwrap();
    assert_eq!(back, Some(Value::Long(1001)));
}

#[tokio::test]
async fn an_invalid_value_is_rejected_by_the_backend_with_its_path() {
    let backend = backend();
    let schema = backend.schema(&order_ref()).await.unwrap();
    let Value::Record(mut fields) = order_value(0.0).await else {
        panic!()
    };
    // items[0].qty as a string: never resolved, handed straight to the backend.
    let Value::Array(items) = &mut fields[3].1 else {
        panic!()
    };
    let Value::Record(item) = &mut items[0] else {
        panic!()
    };
    item[1].1 = Value::String("x".into());
    let err = backend
        .encode(
            SerializationContext::value("orders"),
            &order_ref(),
            &schema,
            Value::Record(fields),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"value does not match schema `com.example.Order`: items[0].qty: expected int, found String("x")"#
    );
}

#[tokio::test]
async fn an_invalid_value_is_rejected_through_the_codec() {
    let codec = codec();
    let Value::Record(mut fields) = order_value(0.0).await else {
        panic!()
    };
    fields[0].1 = Value::String("not a long".into());
    let err = codec
        .encode_value("orders", &order_ref(), Value::Record(fields))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Encode { topic, schema, what: "payload", .. }
            if topic == "orders" && schema == "com.example.Order"),
        "{err:?}"
    );
    // The codec's own resolution (apache-avro) refuses it before the backend sees it.
    let reason = err.source().unwrap().to_string();
    assert!(reason.contains(r#"String("not a long")"#), "{reason}");
}

#[tokio::test]
async fn bytes_that_are_not_json_are_a_decode_error() {
    let err = codec()
        .decode_value(&order_ref(), Some(b"\x00\x01not json"), ("orders", 3, 9))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Decode {
                partition: 3,
                offset: 9,
                what: "payload",
                ..
            }
        ),
        "{err:?}"
    );
    let reason = err.source().unwrap().to_string();
    assert!(reason.starts_with("not JSON: "), "{reason}");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_decode_error_naming_the_field() {
    let codec = codec();
    let (_, bytes) = codec
        .encode_value("orders", &order_ref(), order_value(0.0).await)
        .await
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["items"][0]["price"] = json!(12.34);
    let err = codec
        .decode_value(
            &order_ref(),
            Some(&serde_json::to_vec(&json).unwrap()),
            ("orders", 0, 0),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.source().unwrap().to_string(),
        "items[0].price: expected decimal(9, 2), found JSON number 12.34"
    );
}

#[test]
fn backend_from_config_builds_avro_validation() {
    let mut config = Config::default();
    config.schema.backend = SchemaBackendKind::AvroValidation;
    config.schema.path = schema_dir();
    let backend = backend_from_config(&config.schema).unwrap();
    assert_eq!(backend.kind(), SchemaBackendKind::AvroValidation);
    assert_eq!(backend.test_substitute(), SchemaBackendKind::AvroValidation);
    assert!(backend.validates());
}
