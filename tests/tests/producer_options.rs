//! Publish options and producer hooks, on the embedded broker and on tansu: topic override
//! with `producers.topic_prefix`, headers (hook, then options), partition keys (hook and
//! option, for the CRC-32 and murmur2 partitioners), and the producer-type form sharing one
//! payload type, and `force_send` / `sync` with the `db` and `kafka_async` backends.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deimos::config::ProducerBackendKind;
use deimos::producer::{DynamicProducer, PayloadKey, ProducerHooks, PublishOptions};
use deimos::schema::KeyConfig;
use deimos::{payload, App, PayloadValue};
use deimos_tests::{read_topic, run_id, test_config, Broker, Widget};
use serde::{Deserialize, Serialize};

/// A second producer of `deimos_tests::Widget` (whose own `#[producer]` publishes to
/// `widgets`): same payload type, another topic, with hooks.
#[deimos::producer(
    topic = "widgets-by-name",
    schema = "com.example.Widget",
    key_config(field = "id"),
    payload = Widget,
    hooks
)]
struct WidgetsByName;

impl ProducerHooks for WidgetsByName {
    fn partition_key(widget: &Widget) -> Option<String> {
        Some(widget.name.clone())
    }
    fn headers(widget: &Widget) -> Vec<(String, Vec<u8>)> {
        vec![("name".into(), widget.name.clone().into_bytes())]
    }
}

/// A plain-keyed payload: its Kafka key is the UTF-8 of `gadget-<id>`, so a partition key of
/// the same text must land where the keyed message does.
#[deimos::producer(topic = "gadgets", schema = "com.example.Widget", key_config(plain))]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Gadget {
    id: i64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    updated_at: i64,
}

impl PayloadKey for Gadget {
    fn payload_key(&self) -> String {
        format!("gadget-{}", self.id)
    }
}

fn gadget(id: i64) -> Gadget {
    Gadget {
        id,
        name: format!("g{id}"),
        price: 2.0,
        tags: Vec::new(),
        description: None,
        updated_at: 0,
    }
}

/// An app publishing through the kafka backend with a per-run topic prefix, and that prefix.
fn app(broker: &Broker, extra: &[(&str, &str)]) -> (App, String) {
    let prefix = format!("opt{}.", run_id());
    let mut config = test_config(broker);
    config.producers.topic_prefix = Some(prefix.clone());
    for (k, v) in extra {
        config.producers.extra.insert((*k).into(), (*v).into());
    }
    (App::from_config(config).expect("app"), prefix)
}

/// Decoded `id`s of the records' values (`None` for a tombstone).
async fn ids(app: &App, topic: &str, records: &[deimos_tests::Record]) -> Vec<Option<i64>> {
    let handle = app.schema_backend("com.example.Widget", "");
    let mut out = Vec::new();
    for r in records {
        out.push(match &r.payload {
            None => None,
            Some(bytes) => match handle
                .decode(topic, bytes)
                .await
                .expect("decodes")
                .get("id")
            {
                Some(PayloadValue::Int(id)) => Some(*id),
                other => panic!("id is {other:?}"),
            },
        });
    }
    out
}

async fn topic_override_with_prefix(broker: Broker) {
    let (app, prefix) = app(&broker, &[]);
    let widgets = format!("{prefix}widgets");
    let replay = format!("{prefix}widgets-replay");
    broker.create_topics(&[&widgets, &replay], 1).await;

    app.publish(&Widget::new(1, "home")).await.unwrap();
    let to_replay = PublishOptions::new().topic("widgets-replay");
    app.publish_list_with::<Widget, _>([&Widget::new(2, "moved")], &to_replay)
        .await
        .unwrap();
    let dynamic = DynamicProducer::new(
        "widgets",
        "com.example.Widget",
        KeyConfig::Field("id".into()),
    );
    app.publish_payloads_with(
        &dynamic,
        [payload! {"id" => 3, "name" => "dyn", "price" => 1.0, "updated_at" => 0}],
        &to_replay,
    )
    .await
    .unwrap();
    app.tombstone_with::<Widget, _>(&4i64, &to_replay)
        .await
        .unwrap();

    let home = read_topic(&broker, &widgets).await;
    assert_eq!(ids(&app, &widgets, &home).await, [Some(1)]);
    let moved = read_topic(&broker, &replay).await;
    assert_eq!(
        ids(&app, &replay, &moved).await,
        [Some(2), Some(3), None],
        "the override takes the prefix too, for typed, dynamic and tombstone publishes"
    );
    assert!(
        moved[2].key.as_deref().is_some_and(|k| !k.is_empty()),
        "the tombstone keeps its key: {:?}",
        moved[2]
    );
}

async fn headers_from_hook_then_options(broker: Broker) {
    let (app, prefix) = app(&broker, &[]);
    let by_name = format!("{prefix}widgets-by-name");
    let widgets = format!("{prefix}widgets");
    broker.create_topics(&[&by_name, &widgets], 1).await;
    let options = PublishOptions::new()
        .header("trace", "abc")
        .header("trace", "def");
    app.publish_list_with::<WidgetsByName, _>([&Widget::new(1, "anvil")], &options)
        .await
        .unwrap();
    app.publish_list_with::<Widget, _>([&Widget::new(2, "bolt")], &options)
        .await
        .unwrap();
    let hooked = read_topic(&broker, &by_name).await;
    let header = |k: &str, v: &str| (k.to_owned(), v.as_bytes().to_vec());
    assert_eq!(
        hooked[0].headers,
        [
            header("name", "anvil"),
            header("trace", "abc"),
            header("trace", "def")
        ],
        "the hook's headers, then the options', repeats kept"
    );
    let plain = read_topic(&broker, &widgets).await;
    assert_eq!(
        plain[0].headers,
        [header("trace", "abc"), header("trace", "def")]
    );
}

/// Partition of each record's key text.
fn partitions_by_key(records: &[deimos_tests::Record]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().expect("keyed")).expect("utf-8 key");
        out.entry(key).or_default().insert(r.partition);
    }
    out
}

/// With `partitioner` (librdkafka) set as given: messages keyed `gadget-N` go where
/// librdkafka's partitioner puts them; a message with another key but partition key
/// `gadget-N` must go to the same partition.
async fn partition_key_lands_where_the_key_does(broker: Broker, partitioner: Option<&str>) {
    let extra: Vec<(&str, &str)> = partitioner
        .map(|p| ("partitioner", p))
        .into_iter()
        .collect();
    let (app, prefix) = app(&broker, &extra);
    let gadgets = format!("{prefix}gadgets");
    broker.create_topics(&[&gadgets], 4).await;
    let keyed: Vec<Gadget> = (0..24).map(gadget).collect();
    app.publish_list_with::<Gadget, _>(&keyed, &PublishOptions::new())
        .await
        .unwrap();
    let by_key = partitions_by_key(&read_topic(&broker, &gadgets).await);
    let used: BTreeSet<i32> = by_key.values().flatten().copied().collect();
    assert!(
        used.len() >= 3,
        "24 keys spread over the 4 partitions (else this test proves nothing): {by_key:?}"
    );
    // Gadgets 100.. keyed `gadget-100..`, each with partition key `gadget-N` of a keyed one.
    for n in 0..24i64 {
        let options = PublishOptions::new().partition_key(format!("gadget-{n}"));
        app.publish_list_with::<Gadget, _>([&gadget(100 + n)], &options)
            .await
            .unwrap();
    }
    let all = partitions_by_key(&read_topic(&broker, &gadgets).await);
    for n in 0..24i64 {
        let want = &by_key[&format!("gadget-{n}")];
        let got = &all[&format!("gadget-{}", 100 + n)];
        assert_eq!(
            got, want,
            "partition key `gadget-{n}` ({partitioner:?}) lands where key `gadget-{n}` does"
        );
    }
}

/// The `partition_key` hook of `WidgetsByName` keeps each name on one partition, whatever the
/// id; without the hook (the payload-struct producer) the same ids spread.
async fn hook_groups_by_name(broker: Broker) {
    let (app, prefix) = app(&broker, &[]);
    let by_name = format!("{prefix}widgets-by-name");
    let widgets = format!("{prefix}widgets");
    broker.create_topics(&[&by_name, &widgets], 4).await;
    let batch: Vec<Widget> = (0..40)
        .map(|id| Widget::new(id, ["anvil", "bolt", "cog"][id as usize % 3]))
        .collect();
    app.publish_list_with::<WidgetsByName, _>(&batch, &PublishOptions::new())
        .await
        .unwrap();
    app.publish_list(&batch).await.unwrap();
    let mut by_names: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for r in read_topic(&broker, &by_name).await {
        let (_, name) = r
            .headers
            .iter()
            .find(|(k, _)| k == "name")
            .expect("hook header");
        by_names
            .entry(String::from_utf8(name.clone()).unwrap())
            .or_default()
            .insert(r.partition);
    }
    assert_eq!(by_names.len(), 3);
    for (name, partitions) in &by_names {
        assert_eq!(
            partitions.len(),
            1,
            "`{name}` on one partition: {by_names:?}"
        );
    }
    let spread: BTreeSet<i32> = read_topic(&broker, &widgets)
        .await
        .iter()
        .map(|r| r.partition)
        .collect();
    assert!(
        spread.len() >= 3,
        "without the hook, 40 ids spread over the partitions: {spread:?}"
    );
}

/// `force_send` bypasses the `db` backend (here without a database: its publish fails) and the
/// `kafka_async` one; `sync` makes `kafka_async` await delivery. Each message is on the broker
/// when its publish returns.
async fn force_send_and_sync(broker: Broker) {
    let prefix = format!("opt{}.", run_id());
    let widgets = format!("{prefix}widgets");
    broker.create_topics(&[&widgets], 1).await;
    let with_backend = |kind: ProducerBackendKind| {
        let mut config = test_config(&broker);
        config.producers.topic_prefix = Some(prefix.clone());
        config.producers.backend = kind;
        App::from_config(config).expect("app")
    };

    let db = with_backend(ProducerBackendKind::Db);
    let refused = db.publish(&Widget::new(1, "outbox")).await.unwrap_err();
    assert!(matches!(refused, deimos::Error::Config { .. }), "{refused}");
    db.publish_list_with::<Widget, _>(
        [&Widget::new(2, "forced")],
        &PublishOptions::new().force_send(true),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&db, &widgets, &read_topic(&broker, &widgets).await).await,
        [Some(2)],
        "force_send went straight to Kafka, and awaited delivery"
    );

    // On the embedded broker a 5 s linger keeps a message that is only queued off the broker
    // for longer than the reads below take, so "on the broker when publish returned" tells
    // forced from queued. tansu takes one record per batch (see `test_config`), which sends a
    // queued message at once: there this checks delivery only.
    let lingers = matches!(broker, Broker::Embedded(_));
    let queued = {
        let mut config = test_config(&broker);
        config.producers.topic_prefix = Some(prefix.clone());
        config.producers.backend = ProducerBackendKind::KafkaAsync;
        config.producers.delivery_interval = Duration::from_secs(5);
        App::from_config(config).expect("app")
    };
    queued.publish(&Widget::new(5, "queued")).await.unwrap();
    let on_broker = ids(&queued, &widgets, &read_topic(&broker, &widgets).await).await;
    assert!(
        !lingers || !on_broker.contains(&Some(5)),
        "a queued message lingers: {on_broker:?}"
    );
    for (id, options) in [
        (3, PublishOptions::new().sync(true)),
        (4, PublishOptions::new().force_send(true)),
    ] {
        queued
            .publish_list_with::<Widget, _>([&Widget::new(id, "now")], &options)
            .await
            .unwrap();
        let on_broker = ids(&queued, &widgets, &read_topic(&broker, &widgets).await).await;
        assert!(
            on_broker.contains(&Some(id)),
            "{options:?}: delivered when publish returned: {on_broker:?}"
        );
    }
    queued.shutdown_producers().await.unwrap();
    let on_broker = ids(&queued, &widgets, &read_topic(&broker, &widgets).await).await;
    assert!(
        on_broker.contains(&Some(5)),
        "the queued one is delivered by the flush: {on_broker:?}"
    );
    db.shutdown_producers().await.unwrap();
}

macro_rules! on_both_brokers {
    ($($name:ident => $body:expr;)*) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let broker = Broker::embedded();
                    ($body)(broker).await;
                }
            )*
        }
        mod tansu {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                #[ignore = "needs tansu (TANSU_BROKERS)"]
                async fn $name() {
                    let broker = Broker::real();
                    ($body)(broker).await;
                }
            )*
        }
    };
}

on_both_brokers! {
    topic_override_takes_the_prefix => topic_override_with_prefix;
    headers_come_from_the_hook_then_the_options => headers_from_hook_then_options;
    partition_key_uses_librdkafkas_default_hash => |b| partition_key_lands_where_the_key_does(b, None);
    partition_key_uses_murmur2_when_configured => |b| partition_key_lands_where_the_key_does(b, Some("murmur2_random"));
    partition_key_uses_fnv1a_when_configured => |b| partition_key_lands_where_the_key_does(b, Some("fnv1a_random"));
    partition_key_hook_groups_by_name => hook_groups_by_name;
    force_send_and_sync_bypass_the_queueing_backends => force_send_and_sync;
}
