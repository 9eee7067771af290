//! Reading back what reached a topic: every message between each partition's low and high
//! watermark, with a plain rdkafka consumer (no group, nothing committed).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::Broker;

/// One message as it sits in the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partition it was written to.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Raw key bytes.
    pub key: Option<Vec<u8>>,
    /// Raw value bytes (`None`: a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Every message in `topic` now, ordered by partition then offset. A topic that does not exist
/// reads as empty only on the embedded broker (which creates it); expect the caller to have
/// created it.
///
/// # Panics
/// When metadata or watermarks cannot be read, or the messages the watermarks promise do not
/// arrive within 30 s.
pub async fn read_topic(broker: &Broker, topic: &str) -> Vec<Record> {
    let bootstrap = broker.bootstrap();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&bootstrap, &topic))
        .await
        .expect("reader task")
}

fn read_blocking(bootstrap: &str, topic: &str) -> Vec<Record> {
    let timeout = Duration::from_secs(10);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("deimos-tests-reader-{}", crate::run_id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("reader consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .unwrap_or_else(|e| panic!("metadata of `{topic}`: {e}"));
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut expected = 0i64;
    let mut high_of = Vec::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .unwrap_or_else(|e| panic!("watermarks of `{topic}` [{p}]: {e}"));
        if high > low {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(low))
                .expect("add partition");
            expected += high - low;
            high_of.push((p, high));
        }
    }
    let mut records = Vec::new();
    if expected == 0 {
        return records;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(30);
    while (records.len() as i64) < expected {
        assert!(
            Instant::now() < deadline,
            "`{topic}`: read {} of the {expected} messages the watermarks promise: {records:?}",
            records.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = message.unwrap_or_else(|e| panic!("reading `{topic}`: {e}"));
        let high = high_of
            .iter()
            .find(|(p, _)| *p == m.partition())
            .map_or(0, |(_, h)| *h);
        if m.offset() >= high {
            continue;
        }
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers,
        });
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}
