//! Wire compatibility of the `avro_schema_registry` backend and of deimos' in-process registry
//! with an independent client: Python `confluent-kafka`'s `SchemaRegistryClient`,
//! `AvroSerializer` and `AvroDeserializer` (fastavro underneath), pointed at our registry
//! (`tests/python/registry_interop.py`). Bytes travel through the script's stdin/stdout; no
//! broker is involved.
//!
//! Needs `INTEROP_PYTHON` (a Python with `tests/python/requirements.txt` installed); `.ci/run`
//! provides it. Without it these tests fail: they never pass by skipping.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value;
use deimos::config::{SchemaBackendKind, SchemaConfig};
use deimos::schema::{AvroSchemaRegistry, Codec, KeyConfig, SchemaRef};
use deimos::testing::SchemaRegistryServer;
use deimos_tests::{run_id, schema_dir, Widget};
use serde_json::{json, Value as Json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Environment variable with the Python interpreter that has confluent-kafka's serdes.
const INTEROP_PYTHON_ENV: &str = "INTEROP_PYTHON";

/// The interpreter from `INTEROP_PYTHON`.
///
/// # Panics
/// When it is not set: this test must fail, not pass by skipping.
fn interop_python() -> String {
    std::env::var(INTEROP_PYTHON_ENV).unwrap_or_else(|_| {
        panic!(
            "{INTEROP_PYTHON_ENV} is not set: this test needs a Python with \
             tests/python/requirements.txt installed (.ci/run sets one up)"
        )
    })
}

/// Runs `registry_interop.py` with `args` and `stdin`; returns its JSON lines.
async fn script(python: &str, args: &[&str], stdin: String) -> Vec<Json> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/registry_interop.py");
    let mut child = Command::new(python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", path.display()));
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("registry_interop.py {args:?} did not finish within 120s"))
        .expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "registry_interop.py {args:?} failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        output.status
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("registry_interop.py printed a non-JSON line {l:?}: {e}")
            })
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn schema_id(bytes: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")))
}

fn codec(server: &SchemaRegistryServer) -> Codec {
    let mut config = SchemaConfig::default();
    config.backend = SchemaBackendKind::AvroSchemaRegistry;
    config.path = schema_dir();
    config.registry_url = server.url();
    Codec::new(Arc::new(
        AvroSchemaRegistry::from_config(&config).expect("backend"),
    ))
}

/// Varied widgets: unicode, empty strings, null and present descriptions, edge-case doubles,
/// timestamps before 1970 and far ahead.
fn widgets(base: i64) -> Vec<Widget> {
    let names = [
        "gear",
        "Zahnrad \u{2699}",
        "",
        "quote \" backslash \\",
        "\u{1f527}",
    ];
    let prices = [
        9.5,
        0.1,
        -3.25,
        0.0,
        1e-9,
        2.5e15,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    let tags: [&[&str]; 3] = [&[], &["red"], &["red", "blue", "\u{fc}ml\u{e4}ut"]];
    let descriptions = [
        None,
        Some("a fine widget"),
        Some(""),
        Some("\u{65e5}\u{672c}"),
    ];
    let stamps = [1_700_000_000_123, 0, -86_400_000 + 7, 4_102_444_800_000, -1];
    (0..12usize)
        .map(|i| Widget {
            id: base + i as i64,
            name: names[i % names.len()].to_owned(),
            price: prices[i % prices.len()],
            tags: tags[i % tags.len()]
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            description: descriptions[i % descriptions.len()].map(str::to_owned),
            updated_at: stamps[i % stamps.len()],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs INTEROP_PYTHON (confluent-kafka with its Avro serdes); run by .ci/run"]
async fn python_deserializer_reads_what_we_encode() {
    let python = interop_python();
    let server = SchemaRegistryServer::start().await.expect("registry");
    let codec = codec(&server);
    let topic = "registry-rust-to-python";
    let schema = SchemaRef::parse("com.example.Widget");
    let key_config = KeyConfig::Field("id".into());

    let sent = widgets(1000);
    let mut input = String::new();
    let mut ids = Vec::new();
    for widget in &sent {
        let value = deimos::schema::to_avro_value(widget).expect("to value");
        let (_, value_bytes) = codec
            .encode_value(topic, &schema, value)
            .await
            .expect("encode value");
        let (_, key_bytes) = codec
            .encode_key(topic, &schema, &key_config, Value::Long(widget.id))
            .await
            .expect("encode key");
        ids.push((schema_id(&key_bytes), schema_id(&value_bytes)));
        input.push_str(&json!({ "key": hex(&key_bytes), "value": hex(&value_bytes) }).to_string());
        input.push('\n');
    }

    let lines = script(
        &python,
        &["decode", "--registry", &server.url(), "--topic", topic],
        input,
    )
    .await;
    assert_eq!(lines.len(), sent.len(), "python decoded: {lines:#?}");
    for ((widget, line), (key_id, value_id)) in sent.iter().zip(&lines).zip(&ids) {
        let what = format!("widget {}", widget.id);
        assert_eq!(line["key"], json!({ "id": widget.id }), "{what}: key");
        assert_eq!(
            line["value"],
            serde_json::to_value(widget).expect("json"),
            "{what}: value"
        );
        assert_eq!(line["key_schema_id"], json!(key_id), "{what}: key id");
        assert_eq!(line["value_schema_id"], json!(value_id), "{what}: value id");
    }
    assert_eq!(
        server.subjects(),
        vec![format!("{topic}-key"), format!("{topic}-value")]
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs INTEROP_PYTHON (confluent-kafka with its Avro serdes); run by .ci/run"]
async fn we_read_what_python_serializer_writes() {
    let python = interop_python();
    let server = SchemaRegistryServer::start().await.expect("registry");
    let topic = "registry-python-to-rust";
    let run = i64::try_from(run_id() / 100 % 1_000_000_000).expect("fits");
    let schemas = schema_dir();
    let lines = script(
        &python,
        &[
            "encode",
            "--registry",
            &server.url(),
            "--topic",
            topic,
            "--schema-dir",
            schemas.to_str().expect("utf-8 path"),
            "--count",
            "12",
            "--run-id",
            &run.to_string(),
        ],
        String::new(),
    )
    .await;
    assert_eq!(lines.len(), 12, "python encoded: {lines:#?}");
    // Python registered through our server, under TopicNameStrategy.
    assert_eq!(
        server.subjects(),
        vec![format!("{topic}-key"), format!("{topic}-value")]
    );

    let codec = codec(&server);
    let schema = SchemaRef::parse("com.example.Widget");
    let key_config = KeyConfig::Field("id".into());
    for (i, line) in lines.iter().enumerate() {
        let what = format!("message {i}");
        let value_bytes = unhex(line["value"].as_str().expect("value hex"));
        let key_bytes = unhex(line["key"].as_str().expect("key hex"));
        let value = codec
            .decode_value(&schema, Some(&value_bytes), (topic, 0, i as i64))
            .await
            .unwrap_or_else(|e| panic!("{what}: decode value: {e:?}"))
            .expect("value");
        let widget: Widget = deimos::schema::from_avro_value(&value).expect("a widget");
        assert_eq!(
            serde_json::to_value(&widget).expect("json"),
            line["record"],
            "{what}: value"
        );
        let key = codec
            .decode_key(&schema, &key_config, Some(&key_bytes), (topic, 0, i as i64))
            .await
            .unwrap_or_else(|e| panic!("{what}: decode key: {e:?}"));
        assert_eq!(key, Some(Value::Long(widget.id)), "{what}: key");

        // The schema Python registered is the one deimos registers for the same .avsc: the
        // registry answers deimos with the same id (same canonical form, no new version).
        let (_, ours) = codec
            .encode_value(topic, &schema, value)
            .await
            .expect("re-encode");
        assert_eq!(schema_id(&ours), schema_id(&value_bytes), "{what}: same id");
    }
    let versions = reqwest::get(format!("{}/subjects/{topic}-value/versions", server.url()))
        .await
        .expect("get")
        .json::<Json>()
        .await
        .expect("json");
    assert_eq!(versions, json!([1]), "deimos added no version");
}
