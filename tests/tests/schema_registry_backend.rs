//! The `avro_schema_registry` backend against the in-process registry over real HTTP: round
//! trips through `Codec` under each subject strategy, schema evolution, framing errors,
//! registry outages, caching, and an `App` publishing through it.

use std::path::Path;
use std::sync::Arc;

use apache_avro::types::Value;
use deimos::config::{ProducerBackendKind, SchemaBackendKind, SchemaConfig, SubjectNameStrategy};
use deimos::schema::{AvroSchemaRegistry, Codec, Incoming, KeyConfig, RegistryError, SchemaRef};
use deimos::testing::SchemaRegistryServer;
use deimos::Producer;
use deimos::{App, Config};
use deimos_tests::{schema_dir, Widget};

fn widget_ref() -> SchemaRef {
    SchemaRef::parse("com.example.Widget")
}

fn config(server: &SchemaRegistryServer, schemas: &Path) -> SchemaConfig {
    let mut config = SchemaConfig::default();
    config.backend = SchemaBackendKind::AvroSchemaRegistry;
    config.path = schemas.to_owned();
    config.registry_url = server.url();
    config.registry_timeout = std::time::Duration::from_secs(5);
    config
}

fn codec(config: &SchemaConfig) -> Codec {
    Codec::new(Arc::new(
        AvroSchemaRegistry::from_config(config).expect("backend"),
    ))
}

fn widget_value(id: i64, name: &str) -> Value {
    deimos::schema::to_avro_value(&Widget::new(id, name)).expect("to value")
}

/// The error and every source, `: `-joined (what a log line with the chain shows).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn registry_error(err: &deimos::Error) -> &RegistryError {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<RegistryError>() {
            return found;
        }
        source = s.source();
    }
    panic!("no RegistryError in {}", chain(err))
}

async fn round_trip(codec: &Codec, topic: &str, id: i64) {
    let schema = widget_ref();
    let (_, bytes) = codec
        .encode_value(topic, &schema, widget_value(id, "gear"))
        .await
        .expect("encode value");
    assert_eq!(bytes[0], 0, "magic byte");
    let decoded = codec
        .decode_value(&schema, Some(&bytes), (topic, 0, 0))
        .await
        .expect("decode value")
        .expect("not a tombstone");
    let widget: Widget = deimos::schema::from_avro_value(&decoded).expect("a widget");
    assert_eq!(widget, Widget::new(id, "gear"));

    let key_config = KeyConfig::Field("id".into());
    let (_, key_bytes) = codec
        .encode_key(topic, &schema, &key_config, Value::Long(id))
        .await
        .expect("encode key");
    assert_eq!(key_bytes[0], 0, "key magic byte");
    let key = codec
        .decode_key(&schema, &key_config, Some(&key_bytes), (topic, 0, 0))
        .await
        .expect("decode key");
    assert_eq!(key, Some(Value::Long(id)));
}

#[tokio::test]
async fn round_trip_under_each_subject_strategy() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let cases = [
        (
            SubjectNameStrategy::TopicName,
            "widgets-a",
            vec!["widgets-a-key", "widgets-a-value"],
        ),
        (
            SubjectNameStrategy::RecordName,
            "widgets-b",
            vec!["com.example.Widget", "com.example.Widget_key"],
        ),
        (
            SubjectNameStrategy::TopicRecordName,
            "widgets-c",
            vec![
                "widgets-c-com.example.Widget",
                "widgets-c-com.example.Widget_key",
            ],
        ),
    ];
    let mut expected: Vec<String> = Vec::new();
    for (i, (strategy, topic, subjects)) in cases.into_iter().enumerate() {
        let mut config = config(&server, &schema_dir());
        config.subject_name_strategy = strategy;
        round_trip(&codec(&config), topic, i as i64 + 1).await;
        expected.extend(subjects.into_iter().map(str::to_owned));
        expected.sort();
        assert_eq!(server.subjects(), expected, "after {strategy:?}");
    }

    // The same Widget schema has one global id: ids in the three value frames are equal.
    let ids: Vec<[u8; 4]> = {
        let mut ids = Vec::new();
        for (strategy, topic) in [
            (SubjectNameStrategy::TopicName, "widgets-a"),
            (SubjectNameStrategy::RecordName, "widgets-b"),
        ] {
            let mut config = config(&server, &schema_dir());
            config.subject_name_strategy = strategy;
            let (_, bytes) = codec(&config)
                .encode_value(topic, &widget_ref(), widget_value(9, "x"))
                .await
                .expect("encode");
            ids.push(bytes[1..5].try_into().expect("4 bytes"));
        }
        ids
    };
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn lookup_without_auto_register() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let mut lookup_only = config(&server, &schema_dir());
    lookup_only.auto_register = false;
    let codec = codec(&lookup_only);

    let err = codec
        .encode_value("lookups", &widget_ref(), widget_value(1, "a"))
        .await
        .expect_err("nothing registered yet");
    let text = chain(&err);
    assert!(
        matches!(registry_error(&err), RegistryError::NotRegistered { .. })
            && text.contains("lookups-value")
            && text.contains(&server.url()),
        "{text}"
    );
    assert!(server.subjects().is_empty(), "a lookup registered nothing");

    // Registered by someone else: the lookup finds it.
    let registering = self::codec(&config(&server, &schema_dir()));
    registering
        .encode_value("lookups", &widget_ref(), widget_value(1, "a"))
        .await
        .expect("auto-register");
    let (_, bytes) = codec
        .encode_value("lookups", &widget_ref(), widget_value(2, "b"))
        .await
        .expect("found by lookup");
    assert_eq!(bytes[0], 0);
}

#[tokio::test]
async fn hyphenated_namespaces_are_not_registered() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = dir.path().join("com/my-namespace");
    std::fs::create_dir_all(&ns).expect("mkdir");
    std::fs::write(
        ns.join("Thing.avsc"),
        r#"{"type":"record","name":"Thing","namespace":"com.my-namespace",
            "fields":[{"name":"id","type":"long"}]}"#,
    )
    .expect("write");
    let codec = codec(&config(&server, dir.path()));
    let err = codec
        .encode_value(
            "things",
            &SchemaRef::parse("com.my-namespace.Thing"),
            Value::Record(vec![("id".into(), Value::Long(1))]),
        )
        .await
        .expect_err("refused");
    let text = chain(&err);
    assert!(
        matches!(registry_error(&err), RegistryError::InvalidName { .. })
            && text.contains("com.my-namespace.Thing")
            && text.contains("things-value"),
        "{text}"
    );
    assert_eq!(server.request_count(), 0, "refused before any request");
}

/// Writes `com/example/Gadget.avsc` with these fields under a fresh directory.
fn gadget_schemas(fields: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = dir.path().join("com/example");
    std::fs::create_dir_all(&ns).expect("mkdir");
    std::fs::write(
        ns.join("Gadget.avsc"),
        format!(
            r#"{{"type":"record","name":"Gadget","namespace":"com.example","fields":[{fields}]}}"#
        ),
    )
    .expect("write");
    dir
}

#[tokio::test]
async fn evolution_resolves_writer_to_reader() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let gadget = SchemaRef::parse("com.example.Gadget");
    let v1 = gadget_schemas(
        r#"{"name":"id","type":"int"},{"name":"legacy","type":"string","default":"old"}"#,
    );
    // v2: `id` promoted to long, `legacy` dropped, `color` added with a default.
    let v2 = gadget_schemas(
        r#"{"name":"id","type":"long"},{"name":"color","type":"string","default":"blue"}"#,
    );
    let old = codec(&config(&server, v1.path()));
    let new = codec(&config(&server, v2.path()));

    let (_, old_bytes) = old
        .encode_value(
            "gadgets",
            &gadget,
            Value::Record(vec![
                ("id".into(), Value::Int(7)),
                ("legacy".into(), Value::String("kept?".into())),
            ]),
        )
        .await
        .expect("v1 encodes");
    // v2 is a backward-compatible evolution: it registers as version 2.
    let (_, new_bytes) = new
        .encode_value(
            "gadgets",
            &gadget,
            Value::Record(vec![
                ("id".into(), Value::Long(8)),
                ("color".into(), Value::String("red".into())),
            ]),
        )
        .await
        .expect("v2 encodes");
    assert_ne!(old_bytes[1..5], new_bytes[1..5], "two schema ids");

    // A v2 reader reads v1 data: promoted id, default color, legacy skipped.
    let read = new
        .decode_value(&gadget, Some(&old_bytes), ("gadgets", 0, 0))
        .await
        .expect("v2 reads v1")
        .expect("value");
    assert_eq!(
        read,
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("color".into(), Value::String("blue".into())),
        ])
    );
    // A v1 reader reads v2 data: `legacy` takes its default, `color` is skipped. (`id` is a
    // long written, an int read: not a promotion in the Avro spec, but apache-avro narrows a
    // long that fits, and this one does.)
    let read = old
        .decode_value(&gadget, Some(&new_bytes), ("gadgets", 0, 1))
        .await
        .expect("v1 reads v2")
        .expect("value");
    assert_eq!(
        read,
        Value::Record(vec![
            ("id".into(), Value::Int(8)),
            ("legacy".into(), Value::String("old".into())),
        ])
    );
    // Typed handlers: the v2 reader gets v2 bytes as a raw datum (same schema, no
    // resolution), and v1 bytes as a resolved value.
    let same = new
        .decode_incoming(&gadget, Some(&new_bytes), ("gadgets", 0, 3))
        .await
        .expect("v2 bytes");
    assert!(
        matches!(&same, Incoming::Datum(d) if d.to_value().expect("datum") == Value::Record(vec![
            ("id".into(), Value::Long(8)),
            ("color".into(), Value::String("red".into())),
        ])),
        "{same:?}"
    );
    let other = new
        .decode_incoming(&gadget, Some(&old_bytes), ("gadgets", 0, 4))
        .await
        .expect("v1 bytes");
    assert!(
        matches!(&other, Incoming::Value(Some(Value::Record(f))) if f[1].1 == Value::String("blue".into())),
        "{other:?}"
    );
    // A reader whose schema cannot read the writer's fails, naming the id and subject.
    let strict = gadget_schemas(r#"{"name":"id","type":"long"},{"name":"size","type":"int"}"#);
    let err = codec(&config(&server, strict.path()))
        .decode_value(&gadget, Some(&old_bytes), ("gadgets", 0, 2))
        .await
        .expect_err("`size` has no default and v1 has no `size`");
    let text = chain(&err);
    let id = u32::from_be_bytes(old_bytes[1..5].try_into().expect("4 bytes"));
    assert!(
        text.contains(&format!("schema id {id}")) && text.contains("gadgets-value"),
        "{text}"
    );

    // An incompatible v3 (new field, no default) is refused by the registry with its reason.
    let v3 = gadget_schemas(r#"{"name":"id","type":"long"},{"name":"weight","type":"double"}"#);
    let err = codec(&config(&server, v3.path()))
        .encode_value(
            "gadgets",
            &gadget,
            Value::Record(vec![
                ("id".into(), Value::Long(9)),
                ("weight".into(), Value::Double(1.5)),
            ]),
        )
        .await
        .expect_err("incompatible");
    let text = chain(&err);
    assert!(
        matches!(
            registry_error(&err),
            RegistryError::Rejected {
                error_code: 409,
                ..
            }
        ) && text.contains("weight")
            && text.contains("gadgets-value"),
        "{text}"
    );
}

/// Typed payloads take the fast path through the registry too: the same frame and datum as
/// the `Value` path, key included, and the datum reads back into the struct.
#[tokio::test]
async fn typed_fast_path_writes_the_value_paths_bytes() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let codec = codec(&config(&server, &schema_dir()));
    let mut w = Widget::new(5, "framed");
    w.tags = vec!["x".into()];
    let (schema, key) = (Widget::SCHEMA, Widget::KEY_CONFIG);
    let fast = codec
        .encode_payload("widgets", &schema, &key, &w, None, false)
        .await
        .expect("fast");
    let slow = codec
        .encode_payload("widgets", &schema, &key, &w, None, true)
        .await
        .expect("value path");
    assert!(fast.value.is_none() && slow.value.is_some());
    assert_eq!(fast.payload, slow.payload);
    assert_eq!(fast.key, slow.key);
    assert_eq!(fast.payload[0], 0, "magic byte");
    let Incoming::Datum(datum) = codec
        .decode_incoming(&Widget::SCHEMA, Some(&fast.payload), ("widgets", 0, 0))
        .await
        .expect("decode")
    else {
        panic!("same writer and reader schema: the raw datum")
    };
    assert_eq!(datum.deserialize_fast::<Widget>().expect("typed"), w);
}

#[tokio::test]
async fn framing_errors_are_named() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let codec = codec(&config(&server, &schema_dir()));
    let schema = widget_ref();
    let (_, good) = codec
        .encode_value("frames", &schema, widget_value(1, "a"))
        .await
        .expect("encode");

    let mut bad_magic = good.clone();
    bad_magic[0] = 1;
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&4242u32.to_be_bytes());
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: [(&str, &[u8], &[&str]); 6] = [
        ("empty", &[], &["empty", "frames-value"]),
        (
            "bad magic",
            &bad_magic,
            &["magic byte 0x01", "frames-value"],
        ),
        ("short header", &good[..3], &["3 bytes", "5-byte header"]),
        (
            "unknown id",
            &unknown_id,
            &["schema id 4242", &server.url(), "frames-value"],
        ),
        (
            "truncated datum",
            &good[..good.len() - 2],
            &["schema id 1", "frames-value"],
        ),
        (
            "trailing bytes",
            &trailing,
            &["1 trailing bytes", "schema id 1"],
        ),
    ];
    for (what, bytes, needles) in cases {
        let err = codec
            .decode_value(&schema, Some(bytes), ("frames", 2, 40))
            .await
            .expect_err(what);
        let text = chain(&err);
        assert!(text.contains("frames/2@40"), "{what}: {text}");
        for needle in needles {
            assert!(
                text.contains(needle),
                "{what}: `{needle}` missing from: {text}"
            );
        }
    }
    // Hostile bytes never panic.
    for len in 0..64u8 {
        let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37) ^ len).collect();
        let mut framed = vec![0, 0, 0, 0, 1];
        framed.extend_from_slice(&bytes);
        let _ = codec
            .decode_value(&schema, Some(&bytes), ("frames", 0, 0))
            .await;
        let _ = codec
            .decode_value(&schema, Some(&framed), ("frames", 0, 0))
            .await;
    }
}

#[tokio::test]
async fn outages_fail_clearly_and_recover() {
    let mut server = SchemaRegistryServer::start().await.expect("server");
    let url = server.url();
    // Our schemas: Widget, and a Gadget with just an id.
    let ours = gadget_schemas(r#"{"name":"id","type":"long"}"#);
    std::fs::copy(
        schema_dir().join("com/example/Widget.avsc"),
        ours.path().join("com/example/Widget.avsc"),
    )
    .expect("copy Widget.avsc");
    let codec = codec(&config(&server, ours.path()));
    let widget = widget_ref();
    let gadget = SchemaRef::parse("com.example.Gadget");
    let (_, cached) = codec
        .encode_value("up", &widget, widget_value(1, "a"))
        .await
        .expect("encode while up");

    for outage in ["stopped", "failing"] {
        // Bytes with an id this codec has not seen: another client's Gadget, one more field.
        let theirs = gadget_schemas(&format!(
            r#"{{"name":"id","type":"long"}},{{"name":"{outage}","type":"string","default":""}}"#
        ));
        let foreign_topic = format!("foreign-{outage}");
        let (_, foreign) = self::codec(&config(&server, theirs.path()))
            .encode_value(
                &foreign_topic,
                &gadget,
                Value::Record(vec![
                    ("id".into(), Value::Long(5)),
                    (outage.into(), Value::String("x".into())),
                ]),
            )
            .await
            .expect("another client registers and encodes");
        let foreign_id = u32::from_be_bytes(foreign[1..5].try_into().expect("4 bytes"));

        match outage {
            "stopped" => server.stop().await,
            _ => server.set_failing(true),
        }
        // Known subject and id: no request needed.
        codec
            .encode_value("up", &widget, widget_value(2, "b"))
            .await
            .unwrap_or_else(|e| panic!("{outage}: cached id encodes: {}", chain(&e)));
        codec
            .decode_value(&widget, Some(&cached), ("up", 0, 0))
            .await
            .unwrap_or_else(|e| panic!("{outage}: cached id decodes: {}", chain(&e)));

        // A new subject and an unseen id fail, naming the URL and the subject / id.
        let down_topic = format!("down-{outage}");
        let err = codec
            .encode_value(&down_topic, &widget, widget_value(3, "c"))
            .await
            .expect_err("new subject while down");
        let text = chain(&err);
        assert!(
            registry_error(&err).is_retriable()
                && text.contains(&url)
                && text.contains(&format!("{down_topic}-value")),
            "{outage}: {text}"
        );
        let err = codec
            .decode_value(&gadget, Some(&foreign), (&foreign_topic, 0, 1))
            .await
            .expect_err("unseen id while down");
        let text = chain(&err);
        assert!(
            registry_error(&err).is_retriable()
                && text.contains(&url)
                && text.contains(&format!("schema id {foreign_id}")),
            "{outage}: {text}"
        );
        if outage == "failing" {
            assert!(
                text.contains("50001"),
                "{outage}: the 500 answer is shown: {text}"
            );
        }

        match outage {
            "stopped" => server.restart().await.expect("restart"),
            _ => server.set_failing(false),
        }
        // Recovered: nothing negative was cached.
        codec
            .encode_value(&down_topic, &widget, widget_value(3, "c"))
            .await
            .unwrap_or_else(|e| panic!("{outage}: after recovery: {}", chain(&e)));
        let read = codec
            .decode_value(&gadget, Some(&foreign), (&foreign_topic, 0, 1))
            .await
            .unwrap_or_else(|e| panic!("{outage}: after recovery: {}", chain(&e)));
        assert_eq!(
            read,
            Some(Value::Record(vec![("id".into(), Value::Long(5))]))
        );
    }
}

#[tokio::test]
async fn unreachable_registry_names_the_url() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut config = SchemaConfig::default();
    config.path = schema_dir();
    config.registry_url = format!("http://127.0.0.1:{port}");
    let codec = Codec::new(Arc::new(
        AvroSchemaRegistry::from_config(&config).expect("backend"),
    ));
    let err = codec
        .encode_value("nowhere", &widget_ref(), widget_value(1, "a"))
        .await
        .expect_err("nothing listens");
    let text = chain(&err);
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}")) && text.contains("nowhere-value"),
        "{text}"
    );
}

#[tokio::test]
async fn steady_state_makes_no_requests() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let codec = codec(&config(&server, &schema_dir()));
    let schema = widget_ref();
    let key_config = KeyConfig::Field("id".into());
    let (_, bytes) = codec
        .encode_value("cached", &schema, widget_value(1, "a"))
        .await
        .expect("encode");
    let (_, key) = codec
        .encode_key("cached", &schema, &key_config, Value::Long(1))
        .await
        .expect("key");
    codec
        .decode_value(&schema, Some(&bytes), ("cached", 0, 0))
        .await
        .expect("decode");
    let after_first = server.request_count();
    assert_eq!(after_first, 2, "one registration each for value and key");

    // A second client decodes: one fetch per id, then none.
    let reader = self::codec(&config(&server, &schema_dir()));
    for i in 0..50 {
        codec
            .encode_value("cached", &schema, widget_value(i, "b"))
            .await
            .expect("encode");
        codec
            .encode_key("cached", &schema, &key_config, Value::Long(i))
            .await
            .expect("key");
        reader
            .decode_value(&schema, Some(&bytes), ("cached", 0, i))
            .await
            .expect("decode");
        reader
            .decode_key(&schema, &key_config, Some(&key), ("cached", 0, i))
            .await
            .expect("decode key");
    }
    assert_eq!(
        server.request_count(),
        after_first + 2,
        "two id fetches, then cache"
    );
}

#[tokio::test]
async fn app_publishes_through_the_registry() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let mut config = Config::default();
    config.schema = self::config(&server, &schema_dir());
    config.producers.backend = ProducerBackendKind::Test;
    let app = App::from_config(config).expect("app");
    assert_eq!(
        app.codec().backend().kind(),
        SchemaBackendKind::AvroSchemaRegistry
    );

    let widget = Widget {
        tags: vec!["red".into()],
        description: Some("registry".into()),
        ..Widget::new(42, "gear")
    };
    app.publish(&widget).await.expect("publish");
    let sent = app.test_backend().expect("test backend").sent_messages();
    assert_eq!(sent.len(), 1);
    let message = &sent[0];
    assert_eq!(&*message.topic, "widgets");
    let payload = message.payload.as_deref().expect("payload");
    assert_eq!(payload[0], 0, "Confluent framing");
    assert_eq!(
        server.subjects(),
        vec!["widgets-key".to_owned(), "widgets-value".to_owned()]
    );

    let schema = widget_ref();
    let decoded = app
        .codec()
        .decode_value(&schema, Some(payload), ("widgets", 0, 0))
        .await
        .expect("decode")
        .expect("value");
    let back: Widget = deimos::schema::from_avro_value(&decoded).expect("widget");
    assert_eq!(back, widget);
    let key = app
        .codec()
        .decode_key(
            &schema,
            &KeyConfig::Field("id".into()),
            message.key.as_deref(),
            ("widgets", 0, 0),
        )
        .await
        .expect("key");
    assert_eq!(key, Some(Value::Long(42)));
}

/// A "registry" that answers every request with `status` and `body`: garbage a broken proxy or
/// a hostile server could send. Not our registry: a few lines of axum, on loopback.
async fn hostile_registry(
    status: u16,
    body: &'static str,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::from_u16(status).expect("status"),
            [("content-type", "application/vnd.schemaregistry.v1+json")],
            body,
        )
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test]
async fn hostile_registry_answers_are_errors_not_panics() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let (_, good) = codec(&config(&server, &schema_dir()))
        .encode_value("hostile", &widget_ref(), widget_value(1, "a"))
        .await
        .expect("encode");
    let answers: [(u16, &'static str); 9] = [
        (200, "not json"),
        (200, "{}"),
        (200, r#"{"schema": 42}"#),
        (200, r#"{"schema": "not avro"}"#),
        (200, r#"{"schema": "\"string\""}"#),
        (
            200,
            r#"{"schema": "{\"type\":\"record\",\"name\":\"Wid-get\",\"fields\":[]}"}"#,
        ),
        (
            200,
            r#"{"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}"#,
        ),
        (200, r#"{"id": "seven"}"#),
        (418, "<html>teapot</html>"),
    ];
    for (status, body) in answers {
        let (url, task) = hostile_registry(status, body).await;
        let mut config = config(&server, &schema_dir());
        config.registry_url = url.clone();
        let codec = codec(&config);
        let what = format!("{status} {body}");
        let err = codec
            .decode_value(&widget_ref(), Some(&good), ("hostile", 0, 0))
            .await
            .expect_err(&what);
        let text = chain(&err);
        assert!(
            text.contains(&url) || text.contains("schema id 1"),
            "{what}: {text}"
        );
        let err = codec
            .encode_value("hostile", &widget_ref(), widget_value(1, "a"))
            .await
            .expect_err(&what);
        let text = chain(&err);
        assert!(
            text.contains(&url) && text.contains("hostile-value"),
            "{what}: {text}"
        );
        task.abort();
    }
}

/// `schema.user` / `schema.password` reach the registry as HTTP basic auth (the password is a
/// `Secret`: used here, never printed by `Debug`).
#[tokio::test]
async fn basic_auth_reaches_the_registry() {
    let server = SchemaRegistryServer::start().await.unwrap();
    let mut config = config(&server, &schema_dir());
    config.user = Some("alice".into());
    config.password = Some(deimos::config::Secret::new("s3cret"));
    assert!(!format!("{config:?}").contains("s3cret"));
    round_trip(&codec(&config), "auth-widgets", 1).await;
    assert_eq!(
        server.last_authorization().as_deref(),
        Some("Basic YWxpY2U6czNjcmV0"),
        "base64 of alice:s3cret"
    );
}
