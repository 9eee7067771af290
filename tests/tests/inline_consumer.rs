//! `deimos::utils::InlineConsumer` (Deimos' `Utils::InlineConsumer`) on the embedded broker
//! and on tansu: the last N messages of each partition, raw and decoded (by schema, producer
//! or consumer), tombstones, an empty and a missing topic.

use deimos::producer::PublishOptions;
use deimos::schema::KeyConfig;
use deimos::utils::{InlineConsumer, MessageSource};
use deimos::{App, Error, PayloadValue};
use deimos_tests::{read_topic, run_id, test_config, Broker, Record, Widget};

#[deimos::consumer(
    topic = "inline-widgets",
    schema = "com.example.Widget",
    group_id = "inline-consumer-test",
    key_config(field = "id")
)]
async fn handle_inline_widget(
    _widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    Ok(())
}

/// The last `n` records of each partition, in partition then offset order.
fn last_of_each_partition(mut records: Vec<Record>, n: usize) -> Vec<(i32, i64)> {
    records.sort_by_key(|r| (r.partition, r.offset));
    let mut out = Vec::new();
    for p in 0..=records.iter().map(|r| r.partition).max().unwrap_or(0) {
        let of_p: Vec<_> = records.iter().filter(|r| r.partition == p).collect();
        let skip = of_p.len().saturating_sub(n);
        out.extend(of_p[skip..].iter().map(|r| (r.partition, r.offset)));
    }
    out
}

fn id_of(payload: &PayloadValue) -> i64 {
    match payload {
        PayloadValue::Map(map) => match map.get("id") {
            Some(PayloadValue::Int(id)) => *id,
            other => panic!("id: {other:?}"),
        },
        other => panic!("not a record: {other:?}"),
    }
}

async fn reads_the_last_messages_of_each_partition(broker: Broker) {
    let topic = format!("inline-{}", run_id());
    broker.create_topics(&[&topic], 2).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let to_topic = PublishOptions::new().topic(topic.clone());
    let widgets: Vec<Widget> = (1..=25).map(|id| Widget::new(id, "inline")).collect();
    app.publish_list_with::<Widget, _>(&widgets, &to_topic)
        .await
        .unwrap();
    app.tombstone_with::<Widget, _>(&3i64, &to_topic)
        .await
        .unwrap();
    let records = read_topic(&broker, &topic).await;
    assert_eq!(records.len(), 26);
    let expected = last_of_each_partition(records.clone(), 5);
    assert_eq!(expected.len(), 10, "both partitions hold more than 5");

    let inline = InlineConsumer::new(&app);
    // Raw: the handler sees each of the last 5 of each partition, in order.
    let mut raw = Vec::new();
    let handled = inline
        .consume(&topic, 5, |m| {
            raw.push((m.partition, m.offset, m.key.clone(), m.payload.clone()));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(handled, 10);
    assert_eq!(
        raw.iter().map(|(p, o, _, _)| (*p, *o)).collect::<Vec<_>>(),
        expected
    );
    for (p, o, key, payload) in &raw {
        let record = records
            .iter()
            .find(|r| r.partition == *p && r.offset == *o)
            .unwrap();
        assert_eq!((key, payload), (&record.key, &record.payload));
    }

    // Decoded, with the schema named directly, from the producer, or from the consumer.
    for source in [
        MessageSource::schema("Widget", Some("com.example"), KeyConfig::Field("id".into())),
        MessageSource::producer::<Widget>(),
        MessageSource::consumer("handle_inline_widget").unwrap(),
    ] {
        let decoded = inline.get_messages_for(&topic, source, 5).await.unwrap();
        assert_eq!(
            decoded
                .iter()
                .map(|m| (m.partition, m.offset))
                .collect::<Vec<_>>(),
            expected
        );
        for m in &decoded {
            match (&m.key, &m.payload) {
                (Some(PayloadValue::Int(key)), Some(payload)) => assert_eq!(*key, id_of(payload)),
                // The tombstone: its key, no payload.
                (Some(PayloadValue::Int(3)), None) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(
            decoded.iter().any(|m| m.payload.is_none()),
            "the tombstone is among the last messages"
        );
    }

    // More than a partition holds: all of it.
    let all = inline.consume(&topic, 1000, |_| Ok(())).await.unwrap();
    assert_eq!(all, 26);

    // An empty topic: nothing, at once.
    let empty = format!("inline-empty-{}", run_id());
    broker.create_topics(&[&empty], 1).await;
    assert_eq!(inline.consume(&empty, 10, |_| Ok(())).await.unwrap(), 0);

    // A handler's error stops the reading and names the message.
    let err = inline
        .consume(&topic, 5, |_| Err("stop".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Handler { topic: t, .. } if *t == topic),
        "{err:?}"
    );
}

#[tokio::test]
async fn inline_consumer_on_the_embedded_broker() {
    reads_the_last_messages_of_each_partition(Broker::embedded()).await;
}

#[tokio::test]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn inline_consumer_on_tansu() {
    reads_the_last_messages_of_each_partition(Broker::real()).await;
}

#[tokio::test]
async fn a_missing_topic_is_named() {
    let broker = Broker::embedded();
    let app = App::from_config(test_config(&broker)).unwrap();
    let topic = format!("inline-missing-{}", run_id());
    let err = InlineConsumer::new(&app)
        .timeout(std::time::Duration::from_secs(5))
        .consume(&topic, 5, |_| Ok(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&topic), "{err}");
}
