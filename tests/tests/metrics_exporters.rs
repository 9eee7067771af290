//! The metrics exporters (`metrics.prometheus`, `metrics.dogstatsd`) after real traffic on
//! the embedded broker, and the lag reporter (`deimos::utils::LagReporter`).
//!
//! The `metrics` facade takes one recorder per process: every test here builds its app with
//! the same `metrics` section ([`fixture`]), so the first app installs both exporters and
//! the others share them (which is what `App::from_config` promises). Tests use topics and
//! groups of their own, so their series never mix. The DogStatsD "agent" is a UDP socket on
//! loopback that keeps every datagram.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use deimos::config::MetricsConfig;
use deimos::producer::PublishOptions;
use deimos::utils::{LagReporter, PartitionLag};
use deimos::{App, Config, Error};
use deimos_tests::{test_config, Broker, Recorder, Running, Widget};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// What every app of this process is configured with, and the datagrams the DogStatsD
/// "agent" received.
struct Fixture {
    metrics: MetricsConfig,
    datagrams: &'static Mutex<Vec<String>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let agent = UdpSocket::bind("127.0.0.1:0").expect("bind the fake agent");
        let address = agent.local_addr().unwrap().to_string();
        let datagrams: &'static Mutex<Vec<String>> = Box::leak(Box::default());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = agent.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                datagrams
                    .lock()
                    .unwrap()
                    .extend(text.lines().map(str::to_owned));
            }
        });
        let toml = format!(
            r#"
            [metrics.prometheus]
            enabled = true
            listen = "127.0.0.1:0"
            tags = {{ service = "deimos-tests" }}

            [metrics.dogstatsd]
            enabled = true
            address = "{address}"
            prefix = "deimos"
            tags = {{ env = "test" }}
            flush_interval = "100ms"
            "#
        );
        Fixture {
            metrics: Config::from_toml(&toml).expect("metrics config").metrics,
            datagrams,
        }
    })
}

/// The test config with the shared `metrics` section and `consumers.report_lag`.
fn config(broker: &Broker) -> Config {
    let mut config = test_config(broker);
    config.metrics = fixture().metrics.clone();
    config.consumers.report_lag = true;
    config
}

fn endpoint() -> &'static deimos::metrics::PrometheusExporter {
    deimos::metrics::installed()
        .expect("installed by App::from_config")
        .prometheus()
        .expect("prometheus enabled")
}

// ---- Prometheus ---------------------------------------------------------------------------

const PROM_TOPIC: &str = "prom-widgets";
static PROM_SEEN: Recorder<i64> = Recorder::new();

#[deimos::consumer(
    topic = "prom-widgets",
    schema = "com.example.Widget",
    group_id = "prom-group",
    key_config(field = "id")
)]
async fn on_prom_widget(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    PROM_SEEN.push(w.id);
    if w.name == "bad" {
        return Err(format!("widget {} is bad", w.id).into());
    }
    Ok(())
}

/// One sample of a scrape: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text format (the subset the exporter writes: no escapes in values).
fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {line:?}")),
            };
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        found.len() <= 1,
        "several samples match {name} {labels:?}: {found:?}"
    );
    found.first().map(|s| s.value)
}

async fn scrape(client: &reqwest::Client, url: &str) -> (reqwest::StatusCode, String, String) {
    let response = client.get(url).send().await.expect("scrape");
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

/// Publish three widgets through the `#[deimos::producer]` `Widget`, consume them through a
/// `#[deimos::consumer]` (one fails), then scrape the endpoint over HTTP: Deimos' names with
/// their tags, the handler timings as a histogram, the consumer's lag, the global label, one
/// `# TYPE` per name (else Prometheus rejects the whole scrape).
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_endpoint_shows_deimos_metrics_after_traffic() {
    let broker = Broker::embedded();
    broker.create_topics(&[PROM_TOPIC], 1).await;
    let app = App::from_config(config(&broker)).expect("app (installs the exporters)");
    let widgets = [
        Widget::new(1, "ok"),
        Widget::new(2, "bad"),
        Widget::new(3, "ok"),
    ];
    app.publish_list_with::<Widget, _>(&widgets, &PublishOptions::new().topic(PROM_TOPIC))
        .await
        .expect("publish");
    let running = Running::start(&app, &["on_prom_widget"]);
    PROM_SEEN
        .wait_until(Duration::from_secs(30), "three widgets", |s| s.len() == 3)
        .await;

    let exporter = endpoint();
    assert_eq!(exporter.path(), "/metrics");
    assert_ne!(exporter.local_addr().port(), 0, "the bound port is known");
    let url = exporter.url();
    let client = reqwest::Client::new();
    let topic = [("topic", PROM_TOPIC)];
    let lag = [
        ("consumer_group", "prom-group"),
        ("topic", PROM_TOPIC),
        ("partition", "0"),
    ];
    // Counters are final once the handler returned; the lag gauge comes with librdkafka's
    // next statistics (every heartbeat, 500 ms here) after the offsets were stored.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (status, content_type, text) = loop {
        let (status, content_type, text) = scrape(&client, &url).await;
        let samples = parse_exposition(&text);
        let ready = value(
            &samples,
            "handler",
            &[("topic", PROM_TOPIC), ("status", "success")],
        ) == Some(2.0)
            && value(&samples, "consumer_lag", &lag) == Some(0.0);
        if ready {
            break (status, content_type, text);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scrape never showed the traffic:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    running.stop().await;

    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let samples = parse_exposition(&text);
    let status_count =
        |s: &str| value(&samples, "handler", &[("topic", PROM_TOPIC), ("status", s)]);
    let published = [("status", "success"), ("topic", PROM_TOPIC)];
    assert_eq!(value(&samples, "publish", &published), Some(3.0), "{text}");
    assert_eq!(value(&samples, "publish_error", &topic), None, "{text}");
    assert_eq!(status_count("received"), Some(3.0), "{text}");
    assert_eq!(status_count("success"), Some(2.0), "{text}");
    assert_eq!(status_count("error"), Some(1.0), "{text}");
    let consume = [("topic", PROM_TOPIC), ("time", "consume")];
    assert_eq!(
        value(&samples, "handler_seconds_count", &consume),
        Some(2.0),
        "one time per success:\n{text}"
    );
    let inf = [("topic", PROM_TOPIC), ("time", "consume"), ("le", "+Inf")];
    assert_eq!(value(&samples, "handler_seconds_bucket", &inf), Some(2.0));
    let le_5m = [("topic", PROM_TOPIC), ("time", "consume"), ("le", "300")];
    assert_eq!(
        value(&samples, "handler_seconds_bucket", &le_5m),
        Some(2.0),
        "the default buckets reach 5 minutes:\n{text}"
    );
    let sum = value(&samples, "handler_seconds_sum", &consume).unwrap();
    assert!((0.0..30.0).contains(&sum), "seconds: {sum}");
    assert_eq!(value(&samples, "consumer_lag", &lag), Some(0.0));
    for sample in samples
        .iter()
        .filter(|s| s.labels.get("topic").map(String::as_str) == Some(PROM_TOPIC))
    {
        assert_eq!(
            sample.labels.get("service").map(String::as_str),
            Some("deimos-tests"),
            "the global label is on every series: {sample:?}"
        );
    }
    let mut types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let all = types.len();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), all, "one `# TYPE` line per name:\n{text}");
    assert!(text.contains("# TYPE handler counter"), "{text}");
    assert!(text.contains("# TYPE handler_seconds histogram"), "{text}");
    assert!(text.contains("# HELP consumer_lag "), "{text}");

    let (status, _, _) = scrape(&client, &url.replace("/metrics", "/other")).await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "only the configured path"
    );
}

// ---- DogStatsD ----------------------------------------------------------------------------

const DSD_TOPIC: &str = "dsd-widgets";
static DSD_SEEN: Recorder<i64> = Recorder::new();

#[deimos::consumer(
    topic = "dsd-widgets",
    schema = "com.example.Widget",
    group_id = "dsd-group",
    key_config(field = "id")
)]
async fn on_dsd_widget(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    DSD_SEEN.push(widget.ok_or("unexpected tombstone")?.id);
    Ok(())
}

/// One DogStatsD line: `name:value[:value…]|type[|@rate][|#tag:v,…][|T…]`.
#[derive(Debug)]
struct Datagram {
    name: String,
    values: Vec<f64>,
    kind: String,
    tags: BTreeMap<String, String>,
}

fn parse_datagram(line: &str) -> Datagram {
    let mut parts = line.split('|');
    let head = parts.next().unwrap();
    let (name, values) = head.split_once(':').unwrap_or_else(|| panic!("{line:?}"));
    let kind = parts
        .next()
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let mut tags = BTreeMap::new();
    for part in parts {
        if let Some(list) = part.strip_prefix('#') {
            for tag in list.split(',') {
                let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
                tags.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    Datagram {
        name: name.to_owned(),
        values: values
            .split(':')
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{line:?}")))
            .collect(),
        kind,
        tags,
    }
}

/// Every datagram line named `name` of `kind` whose tags include `tags`.
fn received(name: &str, kind: &str, tags: &[(&str, &str)]) -> Vec<Datagram> {
    let lines = fixture().datagrams.lock().unwrap().clone();
    lines
        .iter()
        .map(|l| parse_datagram(l))
        .filter(|d| {
            d.name == name
                && d.kind == kind
                && tags
                    .iter()
                    .all(|(k, v)| d.tags.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The counter's total over every flush.
fn counted(name: &str, tags: &[(&str, &str)]) -> f64 {
    received(name, "c", tags)
        .iter()
        .flat_map(|d| d.values.iter())
        .sum()
}

/// Publish and consume two widgets; the fake agent receives Deimos' names under the
/// `deimos.` prefix with their tags and the global tag: counters (`|c`), the handler timings
/// as histograms (`|h`, as Deimos' Datadog provider sends them), the lag gauge (`|g`).
#[tokio::test(flavor = "multi_thread")]
async fn dogstatsd_datagrams_carry_deimos_names_and_tags() {
    let broker = Broker::embedded();
    broker.create_topics(&[DSD_TOPIC], 1).await;
    let app = App::from_config(config(&broker)).expect("app");
    let widgets = [Widget::new(1, "a"), Widget::new(2, "b")];
    app.publish_list_with::<Widget, _>(&widgets, &PublishOptions::new().topic(DSD_TOPIC))
        .await
        .expect("publish");
    let running = Running::start(&app, &["on_dsd_widget"]);
    DSD_SEEN
        .wait_until(Duration::from_secs(30), "two widgets", |s| s.len() == 2)
        .await;
    let success = [("topic", DSD_TOPIC), ("status", "success")];
    let consume = [("topic", DSD_TOPIC), ("time", "consume")];
    let lag = [
        ("consumer_group", "dsd-group"),
        ("topic", DSD_TOPIC),
        ("partition", "0"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let times: usize = received("deimos.handler", "h", &consume)
            .iter()
            .map(|d| d.values.len())
            .sum();
        let lag_zero = received("deimos.consumer_lag", "g", &lag)
            .last()
            .is_some_and(|d| d.values == [0.0]);
        if counted("deimos.handler", &success) == 2.0 && times == 2 && lag_zero {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never got the traffic; it got:\n{}",
            fixture().datagrams.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
    assert_eq!(
        counted("deimos.publish", &success),
        2.0,
        "Deimos tags `publish` with status:success"
    );
    assert_eq!(
        counted(
            "deimos.handler",
            &[("topic", DSD_TOPIC), ("status", "received")]
        ),
        2.0
    );
    assert_eq!(
        counted(
            "deimos.handler",
            &[("topic", DSD_TOPIC), ("status", "error")]
        ),
        0.0
    );
    for d in received("deimos.handler", "h", &consume) {
        assert!(
            d.values.iter().all(|t| (0.0..30.0).contains(t)),
            "seconds: {d:?}"
        );
    }
    let ours: Vec<Datagram> = fixture()
        .datagrams
        .lock()
        .unwrap()
        .iter()
        .map(|l| parse_datagram(l))
        .filter(|d| d.tags.get("topic").map(String::as_str) == Some(DSD_TOPIC))
        .collect();
    assert!(!ours.is_empty());
    for d in &ours {
        assert!(d.name.starts_with("deimos."), "the prefix: {d:?}");
        assert_eq!(
            d.tags.get("env").map(String::as_str),
            Some("test"),
            "global tag: {d:?}"
        );
    }
}

// ---- The lag reporter ---------------------------------------------------------------------

const LAG_TOPIC: &str = "lag-widgets";
const LAG_GROUP: &str = "lag-group";

/// Produces `count` records to `partition` of `topic`.
async fn produce(broker: &Broker, topic: &str, partition: i32, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("producer");
    for i in 0..count {
        let payload = format!("record {i}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce to {topic}/{partition}: {e}"));
    }
}

/// Commits `offsets` (partition, next offset to read) for `group` on `topic`, as a consumer
/// of the group would, without joining it.
async fn commit(broker: &Broker, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let bootstrap = broker.bootstrap();
    let (group, topic, offsets) = (group.to_owned(), topic.to_owned(), offsets.to_vec());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("committer");
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in &offsets {
            tpl.add_partition_offset(&topic, *partition, Offset::Offset(*offset))
                .unwrap();
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .unwrap_or_else(|e| panic!("commit {offsets:?} for {group}: {e}"));
    })
    .await
    .unwrap();
}

fn lag_of(lags: &[PartitionLag]) -> Vec<(i32, Option<i64>, i64, Option<i64>)> {
    lags.iter()
        .map(|p| (p.partition, p.committed, p.high_watermark, p.lag))
        .collect()
}

/// Produce N per partition, commit M for a group: the reporter reads lag = N − M for each
/// partition (none where nothing was committed), sets the `consumer_lag` gauge with Deimos'
/// tags, and on an interval follows a new commit.
#[tokio::test(flavor = "multi_thread")]
async fn lag_reporter_reports_produced_minus_committed_per_partition() {
    let broker = Broker::embedded();
    broker.create_topics(&[LAG_TOPIC], 3).await;
    let app = App::from_config(config(&broker)).expect("app");
    produce(&broker, LAG_TOPIC, 0, 5).await;
    produce(&broker, LAG_TOPIC, 1, 3).await;
    produce(&broker, LAG_TOPIC, 2, 4).await;
    commit(&broker, LAG_GROUP, LAG_TOPIC, &[(0, 2), (1, 3)]).await;

    let reporter = LagReporter::new(app.config(), LAG_GROUP, [LAG_TOPIC]).expect("reporter");
    assert_eq!(reporter.group_id(), LAG_GROUP);
    let lags = reporter.report().await.expect("report");
    assert_eq!(
        lag_of(&lags),
        vec![
            (0, Some(2), 5, Some(3)),
            (1, Some(3), 3, Some(0)),
            (2, None, 4, None),
        ],
        "(partition, committed, high watermark, lag): {lags:?}"
    );
    assert!(lags
        .iter()
        .all(|p| p.topic == LAG_TOPIC && p.low_watermark == 0));

    let gauge = |text: &str, partition: &str| {
        value(
            &parse_exposition(text),
            "consumer_lag",
            &[
                ("consumer_group", LAG_GROUP),
                ("topic", LAG_TOPIC),
                ("partition", partition),
            ],
        )
    };
    let text = endpoint().render();
    assert_eq!(gauge(&text, "0"), Some(3.0), "{text}");
    assert_eq!(gauge(&text, "1"), Some(0.0), "{text}");
    assert_eq!(
        gauge(&text, "2"),
        None,
        "no offset, no gauge (as Deimos): {text}"
    );

    // On an interval: a new commit shows up without asking.
    let task = reporter.spawn(Duration::from_millis(100));
    commit(&broker, LAG_GROUP, LAG_TOPIC, &[(0, 5), (2, 1)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = endpoint().render();
        if gauge(&text, "0") == Some(0.0) && gauge(&text, "2") == Some(3.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the interval reporter never reported the new commits:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.stop();
}

/// A registered consumer's group and topic; errors that name the group and the topic.
#[tokio::test(flavor = "multi_thread")]
async fn lag_reporter_resolves_consumers_and_names_what_failed() {
    let broker = Broker::embedded();
    let app = App::from_config(config(&broker)).expect("app");

    let reporter = LagReporter::for_consumer(&app, "on_prom_widget").expect("registered");
    assert_eq!(reporter.group_id(), "prom-group");
    assert_eq!(reporter.topics(), [PROM_TOPIC.to_owned()]);
    let err = LagReporter::for_consumer(&app, "no_such_consumer").unwrap_err();
    assert!(err.to_string().contains("no_such_consumer"), "{err}");

    let err = LagReporter::new(app.config(), LAG_GROUP, Vec::<String>::new()).unwrap_err();
    assert!(
        matches!(&err, Error::Config { key, .. } if key == "topics"),
        "{err}"
    );

    let reporter = LagReporter::new(app.config(), "missing-group", ["no-such-topic"])
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let err = reporter.lag().await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("`missing-group`"), "{shown}");
    assert!(shown.contains("`no-such-topic`"), "{shown}");
    assert_eq!(
        err.kafka_code(),
        Some(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition),
        "{shown}"
    );
}

/// The facade takes one recorder: the same section again shares the exporters, another one
/// is refused with a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_install_shares_or_refuses() {
    let first = deimos::metrics::install(&fixture().metrics)
        .expect("same section")
        .expect("exporters");
    let again = deimos::metrics::install(&fixture().metrics)
        .expect("same section")
        .expect("exporters");
    assert!(std::ptr::eq(first, again), "installed once");
    assert!(first.dogstatsd());

    let mut other = fixture().metrics.clone();
    other.prometheus.path = "/other".into();
    let err = deimos::metrics::install(&other).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::MetricsExporter {
                section: "metrics",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("one recorder per process"),
        "{err}"
    );
    let mut config = test_config(&Broker::embedded());
    config.metrics = other;
    assert!(
        App::from_config(config).is_err(),
        "App::from_config installs too"
    );

    let none = MetricsConfig::default();
    assert!(
        deimos::metrics::install(&none).unwrap().is_none(),
        "nothing enabled, nothing installed"
    );
}
