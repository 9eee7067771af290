//! `producers.compression_codec`: each of `none`, `gzip`, `snappy`, `lz4` and `zstd` is
//! accepted by deimos' librdkafka, really compresses what is sent, and comes back intact to a
//! consumer built from the same config — on the embedded broker and (ignored by default) on
//! tansu.
//!
//! Compression is seen in the producer's librdkafka statistics: the bytes it wrote to the
//! brokers (`brokers[].txbytes`) against the bytes of the payloads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deimos::config::CompressionCodec;
use deimos::producer::DynamicProducer;
use deimos::schema::KeyConfig;
use deimos::{payload, App};
use deimos_tests::{run_id, test_config, Broker};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const CODECS: [CompressionCodec; 5] = [
    CompressionCodec::None,
    CompressionCodec::Gzip,
    CompressionCodec::Snappy,
    CompressionCodec::Lz4,
    CompressionCodec::Zstd,
];

/// Messages per codec, each `PAYLOAD_BYTES` of very compressible text.
const MESSAGES: usize = 20;
const PAYLOAD_BYTES: usize = 8 * 1024;

/// Keeps the latest librdkafka statistics and how many have arrived.
#[derive(Clone, Default)]
struct LastStats(Arc<Mutex<(u64, Option<Statistics>)>>);

impl ClientContext for LastStats {
    fn stats(&self, statistics: Statistics) {
        let mut last = self.0.lock().unwrap();
        *last = (last.0 + 1, Some(statistics));
    }
}

impl LastStats {
    fn count(&self) -> u64 {
        self.0.lock().unwrap().0
    }

    /// Bytes written to the brokers, from the second report after `seen` reports: the first
    /// may have been taken before the last delivery (the top-level `txmsgs` counter runs ahead
    /// of the per-broker `txbytes`).
    async fn txbytes_after(&self, seen: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            {
                let last = self.0.lock().unwrap();
                if last.0 >= seen + 2 {
                    let stats = last.1.as_ref().expect("a report");
                    assert_eq!(stats.txmsgs, MESSAGES as i64, "all messages sent");
                    return stats.brokers.values().map(|b| b.txbytes).sum();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no librdkafka statistics within 30s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn payload(i: usize) -> Vec<u8> {
    let mut p = format!("message {i:04}: ").into_bytes();
    while p.len() < PAYLOAD_BYTES {
        p.extend_from_slice(b"the same widget description, again and again. ");
    }
    p.truncate(PAYLOAD_BYTES);
    p
}

/// Produces and consumes with `codec`; returns the bytes the producer wrote to the brokers.
async fn roundtrip_with(broker: &Broker, codec: CompressionCodec) -> u64 {
    let topic = format!("config-compression-{codec}-{}", run_id());
    broker.create_topics(&[&topic], 1).await;
    let mut config = test_config(broker);
    config.producers.compression_codec = codec;
    // Everything in one batch, so each codec compresses the same input.
    config.producers.delivery_interval = Duration::from_millis(200);
    config.validate().expect("valid config");

    let mut producer_config = config.producer_client_config();
    assert_eq!(
        producer_config.get("compression.codec"),
        Some(codec.as_str())
    );
    producer_config.set("statistics.interval.ms", "100");
    let stats = LastStats::default();
    let producer: FutureProducer<LastStats> = producer_config
        .create_with_context(stats.clone())
        .unwrap_or_else(|e| panic!("librdkafka refuses compression.codec={codec}: {e}"));
    let deliveries: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let key = format!("raw-{i}");
            producer
                .send_result(FutureRecord::to(&topic).key(&key).payload(&payload(i)))
                .unwrap_or_else(|(e, _)| panic!("enqueue with {codec}: {e}"))
        })
        .collect();
    for d in deliveries {
        d.await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("delivery with {codec}: {e}"));
    }
    let txbytes = stats.txbytes_after(stats.count()).await;

    // deimos' own producer (the `kafka` backend) with the same codec.
    let app = App::from_config(config.clone()).expect("app");
    let widgets = DynamicProducer::new(
        topic.clone(),
        "com.example.Widget",
        KeyConfig::Field("id".into()),
    );
    let deimos_sent = 3;
    app.publish_payloads(
        &widgets,
        (0..deimos_sent).map(|i| {
            payload! {
                "id" => i, "name" => format!("{codec}-{i}"), "price" => 1.0, "updated_at" => 0,
                "description" => "compressible ".repeat(100)
            }
        }),
    )
    .await
    .expect("publish");

    let consumer: StreamConsumer = config
        .consumer_client_config(&format!("config-compression-{}", run_id()))
        .create()
        .expect("consumer");
    // Assigned rather than subscribed: no group join to wait for.
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let mut raw = vec![false; MESSAGES];
    let mut deimos_messages = 0;
    while raw.iter().any(|seen| !seen) || deimos_messages < deimos_sent {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{codec}: not every message came back within 30s (raw {raw:?}, deimos {deimos_messages})")
            })
            .unwrap_or_else(|e| panic!("{codec}: consume: {e}"));
        let key = m.key().unwrap_or_default();
        match std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix("raw-"))
        {
            Some(i) => {
                let i: usize = i.parse().unwrap();
                assert_eq!(
                    m.payload(),
                    Some(payload(i).as_slice()),
                    "{codec}: message {i} changed on the way"
                );
                raw[i] = true;
            }
            None => {
                let body = m.payload().expect("a widget, not a tombstone");
                assert!(
                    body.windows(12).any(|w| w == b"compressible"),
                    "{codec}: a deimos message did not decompress to its Avro body"
                );
                deimos_messages += 1;
            }
        }
    }
    txbytes
}

async fn every_codec(broker: Broker) {
    let sent = (MESSAGES * PAYLOAD_BYTES) as u64;
    let mut results = Vec::new();
    for codec in CODECS {
        let txbytes = roundtrip_with(&broker, codec).await;
        results.push((codec, txbytes));
    }
    eprintln!(
        "{MESSAGES} x {PAYLOAD_BYTES} B payloads ({sent} B); bytes sent per codec: {results:?}"
    );
    for (codec, txbytes) in results {
        if codec == CompressionCodec::None {
            assert!(
                txbytes >= sent,
                "without compression at least the {sent} payload bytes are sent, saw {txbytes}"
            );
        } else {
            assert!(
                txbytes < sent / 4,
                "{codec} sent {txbytes} bytes for {sent} bytes of repetitive payloads: not \
                 compressed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_embedded() {
    every_codec(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu (TANSU_BROKERS)"]
async fn every_codec_tansu() {
    every_codec(Broker::real()).await;
}
