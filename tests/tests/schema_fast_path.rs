//! The typed fast path (serde straight to and from Avro binary with `serde_avro_fast`) writes
//! exactly the bytes of the `Value` path, reads them back to equal structs, falls back where
//! it must, and handles hostile bytes with errors.

use std::sync::Arc;

use apache_avro::types::Value;
use deimos::config::{SchemaBackendKind, SchemaConfig};
use deimos::schema::{
    AvroLocal, AvroSchemaRegistry, Codec, Incoming, KeyConfig, Mock, SchemaRef, PARALLEL_ENCODE_MIN,
};
use deimos::testing::SchemaRegistryServer;
use deimos::{Error, Producer};
use deimos_tests::all_types::{AllTypes, Color, Dimensions};
use deimos_tests::avro_gen::chain;
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

/// `com.example.Keys`: a field of every Avro primitive type, and a few that resolution
/// changes (an `int` written to a `long`, a logical type, a union, a UUID, an enum).
const KEYS_SCHEMA: &str = r#"{
  "type": "record", "name": "Keys", "namespace": "com.example",
  "fields": [
    {"name": "n", "type": "null"},
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "by", "type": "bytes"},
    {"name": "s", "type": "string"},
    {"name": "promoted", "type": "long"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "opt", "type": ["null", "string"], "default": null},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "shade", "type": {"type": "enum", "name": "Shade", "symbols": ["LIGHT", "DARK"]}}
  ]
}"#;

/// A key schema for `Keys` whose fields come in another order than the payload's.
const KEYS_KEY_SCHEMA: &str = r#"{
  "type": "record", "name": "Keys_key", "namespace": "com.example",
  "fields": [
    {"name": "s", "type": "string"},
    {"name": "l", "type": "long"},
    {"name": "b", "type": "boolean"}
  ]
}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shade {
    #[serde(rename = "LIGHT")]
    Light,
    #[serde(rename = "DARK")]
    Dark,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Keys {
    n: (),
    b: bool,
    i: i32,
    l: i64,
    f: f32,
    d: f64,
    #[serde(with = "serde_bytes")]
    by: Vec<u8>,
    s: String,
    promoted: i32,
    ts: i64,
    opt: Option<String>,
    uid: uuid::Uuid,
    shade: Shade,
}

fn keys() -> Keys {
    Keys {
        n: (),
        b: true,
        i: -7,
        l: 1 << 40,
        f: 1.5,
        d: -2.25,
        by: vec![0, 1, 254, 255],
        s: "clé".into(),
        promoted: 12,
        ts: 1_732_000_000_123,
        opt: Some("there".into()),
        uid: uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0),
        shade: Shade::Dark,
    }
}

/// The checked-in schema tree plus `Keys` and `Keys_key`, in a temporary directory.
fn key_schemas() -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&deimos_tests::schema_dir(), dir.path());
    let example = dir.path().join("com/example");
    std::fs::write(example.join("Keys.avsc"), KEYS_SCHEMA).unwrap();
    std::fs::write(example.join("Keys_key.avsc"), KEYS_KEY_SCHEMA).unwrap();
    dir
}

/// Encodes `payload` on both paths with `key_config` (on a topic of its own, so that each
/// value and key schema gets its own registry subjects) and asserts that the fast path took
/// it, that both give the same key (decoded form and bytes), and that the key bytes decode
/// back to that decoded form.
async fn check_key<P: serde::Serialize + 'static>(
    codec: &Codec,
    schema: &SchemaRef,
    key_config: KeyConfig,
    payload: &P,
) {
    let topic = format!("keys-{}-{key_config:?}", schema.name)
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        .to_lowercase();
    let fast = codec
        .encode_payload(&topic, schema, &key_config, payload, None, false)
        .await
        .unwrap();
    let slow = codec
        .encode_payload(&topic, schema, &key_config, payload, None, true)
        .await
        .unwrap();
    assert!(
        fast.value.is_none(),
        "{key_config:?}: the fast path took it"
    );
    assert_eq!(fast.payload, slow.payload, "{key_config:?}: value bytes");
    assert_eq!(fast.key, slow.key, "{key_config:?}: key");
    let (decoded, bytes) = fast.key.expect("a key");
    let read = codec
        .decode_key(schema, &key_config, Some(&bytes), (&topic, 0, 0))
        .await
        .unwrap();
    assert_eq!(read, Some(decoded), "{key_config:?}: key bytes decode back");
}

/// Field keys of every Avro primitive type (and of types resolution changes), field keys of
/// every type `NoDecimal` has (records, arrays, maps, enums, fixed, unions, logical types),
/// and schema keys (fields in the payload's order and in another): the fast path writes the
/// `Value` path's key bytes and decoded key, with each backend's framing.
async fn keys_match_the_value_path(codec: &Codec) {
    let schema = SchemaRef::parse("com.example.Keys");
    let mut payload = keys();
    for field in [
        "n", "b", "i", "l", "f", "d", "by", "s", "promoted", "ts", "opt", "uid", "shade",
    ] {
        check_key(codec, &schema, KeyConfig::Field(field.into()), &payload).await;
    }
    check_key(
        codec,
        &schema,
        KeyConfig::Schema("Keys_key".into()),
        &payload,
    )
    .await;
    payload.opt = None;
    payload.s = String::new();
    check_key(codec, &schema, KeyConfig::Field("opt".into()), &payload).await;
    check_key(
        codec,
        &schema,
        KeyConfig::Schema("Keys_key".into()),
        &payload,
    )
    .await;

    let all = AllTypes::sample();
    let no_decimal = NoDecimal {
        id: all.id,
        flag: all.flag,
        small: all.small,
        big: all.big,
        ratio: all.ratio,
        amount: all.amount,
        blob: all.blob,
        nested: all.nested,
        history: all.history,
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
    for field in [
        "id", "flag", "small", "big", "ratio", "amount", "blob", "nested", "history", "labels",
        "color", "maybe", "hash", "day", "time_ms", "time_us", "ts_ms", "ts_us", "uid", "comment",
    ] {
        check_key(
            codec,
            &NoDecimal::SCHEMA,
            KeyConfig::Field(field.into()),
            &no_decimal,
        )
        .await;
    }
    let widget = Widget::new(42, "sprocket");
    check_key(
        codec,
        &Widget::SCHEMA,
        KeyConfig::Schema("Widget_key".into()),
        &widget,
    )
    .await;
    check_key(codec, &Widget::SCHEMA, Widget::KEY_CONFIG, &widget).await;
}

/// A payload that lacks a field of its key schema gets the `Value` path's error on the fast
/// path too.
async fn a_missing_key_field_is_the_value_paths_error(codec: &Codec) {
    let key_config = KeyConfig::Schema("Keys_key".into());
    let widget = Widget::new(1, "w");
    let mut errors = Vec::new();
    for want_value in [false, true] {
        let err = codec
            .encode_payload(
                "keys-missing",
                &Widget::SCHEMA,
                &key_config,
                &widget,
                None,
                want_value,
            )
            .await
            .unwrap_err();
        errors.push(format!(
            "{err}: {}",
            std::error::Error::source(&err).unwrap()
        ));
    }
    assert_eq!(errors[0], errors[1]);
    assert!(
        errors[0].contains("payload has no field `s` for key schema `com.example.Keys_key`"),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn avro_local_keys_match_the_value_path() {
    let dir = key_schemas();
    let codec = Codec::new(Arc::new(AvroLocal::new(dir.path())));
    keys_match_the_value_path(&codec).await;
    a_missing_key_field_is_the_value_paths_error(&codec).await;
}

#[tokio::test]
async fn avro_schema_registry_keys_match_the_value_path() {
    let dir = key_schemas();
    let server = SchemaRegistryServer::start().await.unwrap();
    let mut config = SchemaConfig::default();
    config.backend = SchemaBackendKind::AvroSchemaRegistry;
    config.path = dir.path().to_owned();
    config.registry_url = server.url();
    let codec = Codec::new(Arc::new(AvroSchemaRegistry::from_config(&config).unwrap()));
    keys_match_the_value_path(&codec).await;
    a_missing_key_field_is_the_value_paths_error(&codec).await;
    // Registry framing on both parts: magic byte, then the id registered for the subject.
    let encoded = codec
        .encode_payload(
            "keys-framing",
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &Widget::new(3, "f"),
            None,
            false,
        )
        .await
        .unwrap();
    let (_, key) = encoded.key.unwrap();
    assert_eq!((key[0], encoded.payload[0]), (0, 0), "magic bytes");
    assert_ne!(key[1..5], encoded.payload[1..5], "key and value schema ids");
}

/// `Codec::payload_encoder` (one lookup per run of payloads) gives what `encode_payload`
/// gives for each payload: bytes, key, decoded value, errors, fallbacks.
#[tokio::test]
async fn a_payload_encoder_encodes_as_encode_payload_does() {
    let codec = local();
    let widgets: Vec<Widget> = (0..5).map(|i| Widget::new(i, "w")).collect();
    for want_value in [false, true] {
        let mut encoder = codec.payload_encoder::<Widget>(
            "widgets",
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            want_value,
        );
        for w in &widgets {
            let one = codec
                .encode_payload(
                    "widgets",
                    &Widget::SCHEMA,
                    &Widget::KEY_CONFIG,
                    w,
                    None,
                    want_value,
                )
                .await
                .unwrap();
            assert_eq!(encoder.encode(w, None).await.unwrap(), one);
            assert_eq!(one.value.is_some(), want_value);
        }
    }

    // A payload the fast path rejects mid-run gets the `Value` path's error; the run goes on.
    let key = KeyConfig::Field("id".into());
    let huge = |id| HugeId {
        id,
        name: "n".into(),
        price: 1.0,
        tags: vec![],
        description: None,
        updated_at: 0,
    };
    let mut encoder = codec.payload_encoder::<HugeId>("widgets", &Widget::SCHEMA, &key, false);
    assert!(encoder
        .encode(&huge(1), None)
        .await
        .unwrap()
        .value
        .is_none());
    let err = encoder.encode(&huge(u64::MAX), None).await.unwrap_err();
    let one = codec
        .encode_payload(
            "widgets",
            &Widget::SCHEMA,
            &key,
            &huge(u64::MAX),
            None,
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), one.to_string());
    let after = encoder.encode(&huge(2), None).await.unwrap();
    assert!(after.value.is_none(), "still the fast path");

    // Backends that are not Avro binary: the `Value` path, as for one payload.
    let mock = Codec::new(Arc::new(Mock::new(deimos_tests::schema_dir())));
    let mut encoder =
        mock.payload_encoder::<Widget>("widgets", &Widget::SCHEMA, &Widget::KEY_CONFIG, false);
    let encoded = encoder.encode(&widgets[0], None).await.unwrap();
    assert!(encoded.value.is_some());
}

/// A run long enough for `Codec::encode_payloads` to encode on several threads, with names
/// of varied lengths so that datums straddle the 64 KiB run buffers.
fn long_run() -> Vec<Widget> {
    let n = (PARALLEL_ENCODE_MIN * 6) as i64;
    (0..n)
        .map(|i| Widget::new(i, &"w".repeat((i % 97) as usize)))
        .collect()
}

/// `Codec::encode_payloads` gives, in order, exactly what `encode_payload` gives for each
/// payload of a long run (encoded on rayon's threads) and of a short one (on this thread):
/// value bytes, key bytes and decoded keys, with a field key, a plain key and no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_encodes_as_encode_payload_does() {
    let codec = local();
    let widgets = long_run();
    let plain = |w: &Widget| Some(format!("widget-{}", w.id));
    for key_config in [
        Widget::KEY_CONFIG,
        KeyConfig::Plain,
        KeyConfig::None,
        KeyConfig::Field("name".into()),
    ] {
        for len in [widgets.len(), PARALLEL_ENCODE_MIN / 2] {
            let refs: Vec<&Widget> = widgets[..len].iter().collect();
            let run = codec
                .encode_payloads("widgets", &Widget::SCHEMA, &key_config, &refs, plain, false)
                .await
                .unwrap();
            assert_eq!(run.len(), len, "{key_config:?}");
            if key_config == Widget::KEY_CONFIG {
                // The key is copied right behind its value, in the same buffer: one
                // allocation for both (a datum larger than its estimate may move alone).
                let adjacent = run
                    .iter()
                    .filter(|e| {
                        let key = &e.key.as_ref().expect("a key").1;
                        e.payload.as_ptr_range().end == key.as_ptr()
                    })
                    .count();
                assert!(adjacent * 10 >= len * 9, "{adjacent} of {len} adjacent");
            }
            for (w, got) in refs.iter().zip(&run) {
                let one = codec
                    .encode_payload("widgets", &Widget::SCHEMA, &key_config, *w, plain(w), false)
                    .await
                    .unwrap();
                assert_eq!(got, &one, "{key_config:?}, widget {}", w.id);
                assert!(got.value.is_none(), "the fast path");
            }
        }
    }
    // And the `Value` path (the test backend's), for the whole run.
    let refs: Vec<&Widget> = widgets.iter().collect();
    let run = codec
        .encode_payloads(
            "widgets",
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &refs,
            plain,
            true,
        )
        .await
        .unwrap();
    assert!(run.iter().all(|e| e.value.is_some()));
    let fast = codec
        .encode_payloads(
            "widgets",
            &Widget::SCHEMA,
            &Widget::KEY_CONFIG,
            &refs,
            plain,
            false,
        )
        .await
        .unwrap();
    for (slow, fast) in run.iter().zip(&fast) {
        assert_eq!((&slow.payload, &slow.key), (&fast.payload, &fast.key));
    }
}

/// A field serde may write as a `long` or as a string.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Loose {
    Long(i64),
    Text(String),
}

/// A widget whose values may not fit the schema in two different ways: an `id` beyond `long`,
/// an `updated_at` that is a string.
#[derive(Debug, Clone, Serialize)]
struct LooseWidget {
    id: u64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    updated_at: Loose,
}

/// In a long run, the error is the first failing payload's in run order, as `encode_payload`
/// gives it, whichever thread met it first: a value the fast path rejects (its `Value` path
/// error), and a `key_config(plain)` payload without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_fails_with_its_first_failure_in_order() {
    let codec = local();
    let n = PARALLEL_ENCODE_MIN as u64 * 6;
    let widgets: Vec<LooseWidget> = (0..n)
        .map(|i| LooseWidget {
            // The first failure in run order is a string `updated_at` (`n / 2`); later ones
            // (`n / 2 + 1`, `n - 10`) are ids beyond `long`, a different error.
            id: if i == n / 2 + 1 || i == n - 10 {
                u64::MAX
            } else {
                i
            },
            name: format!("widget {i}"),
            price: 1.0,
            tags: vec![],
            description: None,
            updated_at: if i == n / 2 {
                Loose::Text("yesterday".into())
            } else {
                Loose::Long(0)
            },
        })
        .collect();
    let refs: Vec<&LooseWidget> = widgets.iter().collect();
    let key = KeyConfig::Field("id".into());
    let err = codec
        .encode_payloads("widgets", &Widget::SCHEMA, &key, &refs, |_| None, false)
        .await
        .unwrap_err();
    let mut alone = Vec::new();
    for i in [n / 2, n - 10] {
        let payload = &widgets[i as usize];
        let e = codec
            .encode_payload("widgets", &Widget::SCHEMA, &key, payload, None, false)
            .await
            .unwrap_err();
        alone.push(e);
    }
    let (first, later) = (&alone[0], &alone[1]);
    assert_ne!(chain(first), chain(later), "the two failures differ");
    assert_eq!(chain(&err), chain(first));

    let widgets = long_run();
    let refs: Vec<&Widget> = widgets.iter().collect();
    let missing = [widgets.len() as i64 - 3, 1_000, 2_000];
    let err = codec
        .encode_payloads(
            "widgets",
            &Widget::SCHEMA,
            &KeyConfig::Plain,
            &refs,
            |w: &Widget| (!missing.contains(&w.id)).then(|| w.id.to_string()),
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Encode { what: "key", .. }),
        "a missing plain key: {err}"
    );
    // The error `encode_payload` gives widget 1000 (it names no payload, so this shows the
    // kind of error, not which one came first; the `HugeId` run above shows the order).
    let one = codec
        .encode_payload(
            "widgets",
            &Widget::SCHEMA,
            &KeyConfig::Plain,
            &widgets[1_000],
            None,
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), one.to_string());
}
