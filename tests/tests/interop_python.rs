//! Interop with independent clients over a real broker: Python's confluent-kafka (librdkafka)
//! and fastavro, given the same `.avsc` files, read what deimos produces and produce what deimos
//! consumes (`tests/python/interop.py`).
//!
//! Needs `TANSU_BROKERS` (a running tansu) and `INTEROP_PYTHON` (a Python with
//! `tests/python/requirements.txt` installed); `.ci/run` provides both. Without them these tests
//! fail: they never pass by skipping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use deimos::App;
use deimos_tests::{run_id, schema_dir, test_config, Broker, Recorder, Running};
use serde_json::{json, Value as Json};
use tokio::process::Command;

/// Environment variable with the Python interpreter that has confluent-kafka and fastavro.
const INTEROP_PYTHON_ENV: &str = "INTEROP_PYTHON";

/// The quickstart's payload, as both sides see it.
#[deimos::producer(
    topic = "interop-rust-to-python",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Widget {
    /// Widget id; the Kafka key.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Price.
    pub price: f64,
    /// Tags.
    pub tags: Vec<String>,
    /// Optional description.
    pub description: Option<String>,
    /// `timestamp-millis`.
    pub updated_at: i64,
}

/// What the consumer below saw of one message.
#[derive(Debug, Clone)]
struct Received {
    key: Result<i64, String>,
    widget: Option<Widget>,
    topic: String,
    partition: i32,
    offset: i64,
}

static FROM_PYTHON: Recorder<Received> = Recorder::new();

#[deimos::consumer(
    topic = "interop-python-to-rust",
    schema = "com.example.Widget",
    group_id = "interop-python-to-rust",
    key_config(field = "id")
)]
async fn widget_from_python(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    FROM_PYTHON.push(Received {
        key: metadata.key_as::<i64>().map_err(|e| e.to_string()),
        widget,
        topic: metadata.topic.clone(),
        partition: metadata.partition,
        offset: metadata.offset,
    });
    Ok(())
}

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

/// Runs `interop.py` with `args` and returns its JSON lines.
async fn interop(python: &str, args: &[&str]) -> Vec<Json> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/interop.py");
    let run = Command::new(python)
        .arg(&script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .unwrap_or_else(|_| panic!("interop.py {args:?} did not finish within 180s"))
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "interop.py {args:?} failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        output.status
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("interop.py printed a non-JSON line {l:?}: {e}"))
        })
        .collect()
}

/// A run id small enough that `run * 1000 + i` fits an `i64` (ids are unique per run).
fn small_run_id() -> i64 {
    // run_id() is microseconds * 100 + a counter; keep the microseconds within ~11 days.
    i64::try_from(run_id() / 100 % 1_000_000_000_000).expect("fits")
}

/// Varied widgets: unicode, empty strings, null description, empty tags, edge-case doubles,
/// timestamps before 1970 and far ahead.
fn widgets(base: i64, count: i64) -> Vec<Widget> {
    let names = [
        "gear",
        "Zahnrad \u{2699}",
        "",
        "quote \" backslash \\ tab \t",
        "\u{1f527} wrench",
    ];
    let prices = [
        9.5,
        0.1,
        -3.25,
        0.0,
        1e-9,
        1234567.891,
        2.5e15,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    let tags: [&[&str]; 4] = [
        &[],
        &["red"],
        &["red", "blue", "green"],
        &["\u{fc}ml\u{e4}ut", ""],
    ];
    let descriptions = [
        None,
        Some("a fine widget"),
        Some(""),
        Some("line one\nline two"),
        Some("\u{65e5}\u{672c}"),
    ];
    let stamps = [1_700_000_000_123, 0, -86_400_000 + 7, 4_102_444_800_000, -1];
    (0..count)
        .map(|i| {
            let n = usize::try_from(i).expect("small");
            Widget {
                id: base + i,
                name: names[n % names.len()].to_owned(),
                price: prices[n % prices.len()],
                tags: tags[n % tags.len()]
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect(),
                description: descriptions[n % descriptions.len()].map(str::to_owned),
                updated_at: stamps[n % stamps.len()] + i,
            }
        })
        .collect()
}

/// Asserts that `got` (decoded by the other side, as JSON) equals `expected`, field by field.
fn assert_same_fields(what: &str, got: &Json, expected: &Json) {
    let (Some(got_obj), Some(expected_obj)) = (got.as_object(), expected.as_object()) else {
        panic!("{what}: expected {expected}, got {got}");
    };
    for (field, want) in expected_obj {
        assert_eq!(
            got_obj.get(field),
            Some(want),
            "{what}: field `{field}` (got {got}, expected {expected})"
        );
    }
    let extra: Vec<_> = got_obj
        .keys()
        .filter(|k| !expected_obj.contains_key(*k))
        .collect();
    assert!(
        extra.is_empty(),
        "{what}: unexpected fields {extra:?} in {got}"
    );
}

fn id_of(line: &Json) -> i64 {
    line["key"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("line without a key id: {line}"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS) and INTEROP_PYTHON; run by .ci/run"]
async fn python_reads_what_we_produce() {
    let broker = Broker::real();
    let python = interop_python();
    let run = run_id();

    let mut config = test_config(&broker);
    let prefix = format!("run{run}.");
    config.producers.topic_prefix = Some(prefix.clone());
    let topic = format!("{prefix}{}", <Widget as deimos::Producer>::TOPIC);
    broker.create_topics(&[&topic], 3).await;
    let app = App::from_config(config).expect("app");

    let base = small_run_id() * 1000;
    let sent = widgets(base, 20);
    app.publish_list(&sent).await.expect("publish_list");
    let tombstone_id = base + 999;
    app.tombstone::<Widget, _>(&tombstone_id)
        .await
        .expect("tombstone");

    let group = format!("interop-python-{run}");
    let count = (sent.len() + 1).to_string();
    let schemas = schema_dir();
    let lines = interop(
        &python,
        &[
            "consume",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--schema-dir",
            schemas.to_str().expect("utf-8 path"),
            "--count",
            &count,
            "--timeout",
            "90",
            "--group",
            &group,
        ],
    )
    .await;

    assert_eq!(lines.len(), sent.len() + 1, "python read: {lines:#?}");
    let by_id: BTreeMap<i64, &Json> = lines.iter().map(|l| (id_of(l), l)).collect();
    assert_eq!(
        by_id.len(),
        lines.len(),
        "python read a key twice: {lines:#?}"
    );

    for widget in &sent {
        let what = format!("widget {}", widget.id);
        let line = by_id
            .get(&widget.id)
            .unwrap_or_else(|| panic!("{what} not read by python; read: {lines:#?}"));
        assert_eq!(line["key"], json!({ "id": widget.id }), "{what}: key");
        let expected = serde_json::to_value(widget).expect("to json");
        assert_same_fields(&what, &line["value"], &expected);
        let decoded: Widget =
            serde_json::from_value(line["value"].clone()).expect("python's value is a Widget");
        assert_eq!(&decoded, widget, "{what}");
    }

    let tombstone = by_id
        .get(&tombstone_id)
        .unwrap_or_else(|| panic!("tombstone not read by python; read: {lines:#?}"));
    assert_eq!(
        tombstone["key"],
        json!({ "id": tombstone_id }),
        "tombstone key"
    );
    assert_eq!(tombstone["value"], Json::Null, "tombstone value");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS) and INTEROP_PYTHON; run by .ci/run"]
async fn we_read_what_python_produces() {
    let broker = Broker::real();
    let python = interop_python();
    let topic = "interop-python-to-rust";
    broker.create_topics(&[topic], 3).await;

    let run = small_run_id();
    let schemas = schema_dir();
    let sent = interop(
        &python,
        &[
            "produce",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            topic,
            "--schema-dir",
            schemas.to_str().expect("utf-8 path"),
            "--count",
            "20",
            "--run-id",
            &run.to_string(),
        ],
    )
    .await;
    assert_eq!(sent.len(), 20, "python sent: {sent:#?}");
    let expected_ids: BTreeSet<i64> = sent.iter().map(id_of).collect();
    assert_eq!(
        expected_ids.len(),
        20,
        "python sent duplicate ids: {sent:#?}"
    );

    // Earlier runs against the same broker may have left messages: only this run's ids count.
    let this_run = |r: &Received| r.widget.as_ref().is_some_and(|w| w.id / 1000 == run);
    let app = App::from_config(test_config(&broker)).expect("app");
    let running = Running::start(&app, &["widget_from_python"]);
    let received = FROM_PYTHON
        .wait_until(
            Duration::from_secs(90),
            "the widgets python produced",
            |items| {
                let ids: BTreeSet<i64> = items
                    .iter()
                    .filter(|r| this_run(r))
                    .filter_map(|r| r.widget.as_ref().map(|w| w.id))
                    .collect();
                ids == expected_ids
            },
        )
        .await;
    running.stop().await;

    for line in &sent {
        let id = id_of(line);
        let what = format!("widget {id}");
        let copies: Vec<&Received> = received
            .iter()
            .filter(|r| r.widget.as_ref().is_some_and(|w| w.id == id))
            .collect();
        // At-least-once: a redelivery is allowed, and each copy must be right.
        assert!(!copies.is_empty(), "{what} not received");
        for r in copies {
            let widget = r.widget.as_ref().expect("filtered on Some");
            assert_same_fields(
                &what,
                &serde_json::to_value(widget).expect("to json"),
                &line["value"],
            );
            assert_eq!(r.key, Ok(id), "{what}: metadata.key");
            assert_eq!(r.topic, topic, "{what}: topic");
            assert_eq!(
                i64::from(r.partition),
                line["partition"].as_i64().expect("partition"),
                "{what}: partition"
            );
            assert_eq!(
                r.offset,
                line["offset"].as_i64().expect("offset"),
                "{what}: offset"
            );
        }
    }
}
