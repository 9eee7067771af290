//! The typed fast path (serde straight to and from Avro binary with `serde_avro_fast`) writes
//! exactly the bytes of the `Value` path, reads them back to equal structs, falls back where
//! it must, and handles hostile bytes with errors.

use std::sync::Arc;

use apache_avro::types::Value;
use deimos::schema::{AvroLocal, Codec, Incoming, KeyConfig, Mock, SchemaRef};
use deimos::{Error, Producer};
use deimos_tests::all_types::{AllTypes, Color, Dimensions};
use deimos_tests::Widget;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

fn local() -> Codec {
    Codec::new(Arc::new(AvroLocal::new(deimos_tests::schema_dir())))
}

/// Encodes on both paths, asserts equal bytes and keys, then decodes the bytes on both
/// decode paths and asserts both give `payload` back. `fast` says whether `P` is expected to
/// take the fast path (otherwise the fast attempt falls back to the `Value` path).
async fn check_same<
    P: Producer<Payload = P> + serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
>(
    payload: &P,
    fast_expected: bool,
) {
    let codec = local();
    let fast = codec
        .encode_payload(
            P::TOPIC,
            &P::SCHEMA,
            &P::KEY_CONFIG,
            payload,
            P::plain_key(payload),
            false,
        )
        .await
        .unwrap();
    let slow = codec
        .encode_payload(
            P::TOPIC,
            &P::SCHEMA,
            &P::KEY_CONFIG,
            payload,
            P::plain_key(payload),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        fast.value.is_none(),
        fast_expected,
        "the fast path builds no Value; a fallback does"
    );
    assert!(slow.value.is_some());
    assert_eq!(fast.payload, slow.payload, "same value bytes");
    assert_eq!(fast.key, slow.key, "same key");

    let at = (P::TOPIC, 0, 0);
    let Incoming::Datum(datum) = codec
        .decode_incoming(&P::SCHEMA, Some(&fast.payload), at)
        .await
        .unwrap()
    else {
        panic!("avro_local hands typed handlers the raw datum");
    };
    match datum.deserialize_fast::<P>() {
        Ok(read) => assert_eq!(&read, payload),
        Err(e) => assert!(!fast_expected, "{e}"),
    }
    let value = datum.to_value().unwrap();
    assert_eq!(
        &deimos::schema::from_avro_value::<P>(&value).unwrap(),
        payload
    );
}

#[tokio::test]
async fn widget_bytes_and_values_match_the_value_path() {
    let mut w = Widget::new(42, "sprocket");
    w.tags = vec!["a".into(), "b".into()];
    w.description = Some("shiny".into());
    w.updated_at = 1_732_000_000_123;
    check_same(&w, true).await;
    check_same(&Widget::new(-1, ""), true).await;
}

/// `com.example.NoDecimal`: every type of `AllTypes` but the decimal.
#[deimos::producer(
    topic = "no-decimal",
    schema = "com.example.NoDecimal",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoDecimal {
    id: String,
    flag: bool,
    small: i32,
    big: i64,
    ratio: f32,
    amount: f64,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    nested: Dimensions,
    history: Vec<Dimensions>,
    labels: std::collections::HashMap<String, i64>,
    color: Color,
    maybe: Option<String>,
    #[serde(with = "serde_bytes")]
    hash: Vec<u8>,
    day: i32,
    time_ms: i32,
    time_us: i64,
    ts_ms: i64,
    ts_us: i64,
    uid: uuid::Uuid,
    comment: String,
}

#[tokio::test]
async fn every_type_but_decimal_takes_the_fast_path_with_identical_bytes() {
    let all = AllTypes::sample();
    let mut p = NoDecimal {
        id: all.id,
        flag: all.flag,
        small: all.small,
        big: all.big,
        ratio: all.ratio,
        amount: all.amount,
        blob: all.blob,
        nested: all.nested,
        history: all.history,
        // One entry: the Value path writes map entries in HashMap order.
        labels: [("only".to_owned(), 5)].into(),
        color: all.color,
        maybe: all.maybe,
        hash: all.hash,
        day: all.day,
        time_ms: all.time_ms,
        time_us: all.time_us,
        ts_ms: all.ts_ms,
        ts_us: all.ts_us,
        uid: all.uid,
        comment: all.comment,
    };
    check_same(&p, true).await;
    p.maybe = None;
    p.color = Color::Red;
    p.history.clear();
    p.labels.clear();
    check_same(&p, true).await;
}

/// apache-avro's `Decimal` serializes as bytes, which `serde_avro_fast` does not take for a
/// decimal: such payloads fall back to the `Value` path, with the same bytes.
#[tokio::test]
async fn decimal_payloads_fall_back_to_the_value_path() {
    let mut other = AllTypes::sample();
    other.labels = [("only".to_owned(), 5)].into();
    check_same(&other, false).await;
}

/// A payload whose value the fast path rejects (a `u64` beyond `long`; `#[producer]` would not
/// compile it, `Codec` takes any serde type) gets the `Value` path's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HugeId {
    id: u64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    updated_at: i64,
}

#[tokio::test]
async fn a_payload_the_fast_path_rejects_gets_the_value_path_error() {
    let codec = local();
    let huge = HugeId {
        id: u64::MAX,
        name: "n".into(),
        price: 1.0,
        tags: vec![],
        description: None,
        updated_at: 0,
    };
    let key = KeyConfig::Field("id".into());
    let err = codec
        .encode_payload("widgets", &Widget::SCHEMA, &key, &huge, None, false)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("widgets") && text.contains("com.example.Widget"),
        "{text}"
    );
    // In range, the same type takes the fast path and writes a widget's bytes.
    let fine = HugeId { id: 7, ..huge };
    let fast = codec
        .encode_payload("widgets", &Widget::SCHEMA, &key, &fine, None, false)
        .await
        .unwrap();
    assert!(fast.value.is_none());
    let slow = codec
        .encode_payload(
            "widgets",
            &Widget::SCHEMA,
            &key,
            &Widget::new(7, "n"),
            None,
            true,
        )
        .await
        .unwrap();
    assert_eq!(fast.payload, slow.payload);
    assert_eq!(fast.key, slow.key);
}

#[tokio::test]
async fn other_wire_formats_take_the_value_path() {
    let codec = Codec::new(Arc::new(Mock::new(deimos_tests::schema_dir())));
    let w = Widget::new(1, "m");
    let encoded = codec
        .encode_payload(
            "widgets",
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &w,
            None,
            false,
        )
        .await
        .unwrap();
    assert!(
        encoded.value.is_some(),
        "mock is not Avro binary: no fast path"
    );
    let incoming = codec
        .decode_incoming(&Widget::SCHEMA, Some(&encoded.payload), ("widgets", 0, 0))
        .await
        .unwrap();
    assert!(
        matches!(incoming, Incoming::Value(Some(Value::Record(_)))),
        "{incoming:?}"
    );
}

#[tokio::test]
async fn hostile_bytes_are_errors_on_the_fast_path() {
    let codec = local();
    let schema = SchemaRef::parse("com.example.Widget");
    let hostile: [&[u8]; 5] = [
        &[],
        &[0x02],
        // id 1, then a name declaring a negative length.
        &[0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        // id 1, name "", price, then tags declaring a block of 2^40 items.
        &[
            0x02, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
        ],
        // A valid widget followed by trailing garbage.
        &[
            0x02, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x00, 0x00, 0xaa,
        ],
    ];
    // The guard rejects each before a handler could run, naming where the bytes went wrong.
    let expected = [
        "at byte 0 (`$.id`)",
        "at byte 1 (`$.name`)",
        "at byte 1 (`$.name`)",
        "(`$.tags`)",
        "1 trailing bytes",
    ];
    for (bytes, what) in hostile.iter().zip(expected) {
        let err = codec
            .decode_incoming(&schema, Some(bytes), ("widgets", 3, 77))
            .await
            .expect_err("hostile bytes are a decode error");
        let Error::Decode {
            topic,
            partition,
            offset,
            what: part,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(
            (topic.as_str(), *partition, *offset, *part),
            ("widgets", 3, 77, "payload")
        );
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains(what), "{bytes:?}: {text}");
    }
}
