//! The spine end to end: `#[producer]` → Avro → Kafka → `#[consumer]`, on the embedded broker
//! and (ignored by default) on tansu.

use std::time::Duration;

use apache_avro::Schema;
use deimos::App;
use deimos_tests::{run_id, test_config, Broker, Recorder, Running};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

#[deimos::producer(
    topic = "roundtrip-widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    updated_at: i64,
}

/// (decoded key, payload) per message seen by the handler.
static SEEN: Recorder<(i64, Option<Widget>)> = Recorder::new();

#[deimos::consumer(
    topic = "roundtrip-widgets",
    schema = "com.example.Widget",
    group_id = "roundtrip",
    key_config(field = "id")
)]
async fn on_roundtrip(
    widget: Option<Widget>,
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    SEEN.push((metadata.key_as::<i64>()?, widget));
    Ok(())
}

fn widgets(run: i64) -> Vec<Widget> {
    (0..5)
        .map(|i| Widget {
            id: run * 100 + i,
            name: format!("w-{i} ünïcødé"),
            price: 0.5 + i as f64,
            tags: (0..i).map(|t| format!("t{t}")).collect(),
            description: (i % 2 == 0).then(|| "even".to_owned()),
            updated_at: 1_700_000_000_000 + i,
        })
        .collect()
}

/// Reads the raw Kafka keys of `count` messages with a plain rdkafka consumer.
async fn raw_keys(broker: &Broker, topic: &str, count: usize) -> Vec<(Vec<u8>, bool)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", format!("raw-{}", run_id()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    while out.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("raw consumer got messages within 30s")
            .unwrap();
        out.push((m.key().unwrap().to_vec(), m.payload().is_none()));
    }
    out
}

async fn roundtrip(broker: Broker) {
    let run = run_id() as i64 % 1_000_000_000;
    broker.create_topics(&["roundtrip-widgets"], 3).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let sent = widgets(run);
    app.publish_list(&sent).await.unwrap();
    let tombstone_id = sent[1].id;
    app.tombstone::<Widget, _>(&tombstone_id).await.unwrap();

    let running = Running::start(&app, &["on_roundtrip"]);
    let mine = |(k, _): &(i64, Option<Widget>)| k / 100 == run;
    let seen = SEEN
        .wait_until(
            Duration::from_secs(60),
            "5 widgets and a tombstone",
            |items| items.iter().filter(|i| mine(i)).count() >= 6,
        )
        .await;
    running.stop().await;

    let seen: Vec<_> = seen.into_iter().filter(|i| mine(i)).collect();
    for w in &sent {
        assert!(
            seen.contains(&(w.id, Some(w.clone()))),
            "widget {w:?} not consumed with equal fields; seen {seen:?}"
        );
    }
    assert!(
        seen.contains(&(tombstone_id, None)),
        "tombstone for {tombstone_id} did not reach the handler as None; seen {seen:?}"
    );

    // The Kafka key is the Avro-encoded key record `com.example.Widget_key` {id: long}.
    let key_schema = Schema::parse_str(
        &std::fs::read_to_string(deimos_tests::schema_dir().join("com/example/Widget_key.avsc"))
            .unwrap(),
    )
    .unwrap();
    let keys = raw_keys(&broker, "roundtrip-widgets", 6).await;
    let mut decoded_ids = Vec::new();
    for (bytes, _tombstone) in &keys {
        let value = apache_avro::from_avro_datum(&key_schema, &mut bytes.as_slice(), None).unwrap();
        let apache_avro::types::Value::Record(fields) = value else {
            panic!("key is not a record")
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].0, "id");
        let apache_avro::types::Value::Long(id) = fields[0].1 else {
            panic!("id is not a long: {fields:?}")
        };
        decoded_ids.push(id);
    }
    for w in &sent {
        assert!(
            decoded_ids.contains(&w.id),
            "no Avro key for {}; keys {decoded_ids:?}",
            w.id
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_roundtrip_embedded() {
    roundtrip(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn typed_roundtrip_tansu() {
    roundtrip(Broker::real()).await;
}
