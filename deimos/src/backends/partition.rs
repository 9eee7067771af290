//! Partition keys (Deimos' `partition_key`): the partition a key hashes to, with the hash of
//! librdkafka's configured `partitioner`, so a partition key lands where a message with that
//! key would.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;

use super::librdkafka::RdProducer;
use super::ProducedMessage;

use crate::config::Config;
use crate::error::{Error, Result};

/// How long a topic's partition count is trusted before metadata is fetched again.
const COUNT_TTL: Duration = Duration::from_secs(60);

/// The hash of a librdkafka partitioner (`partitioner` property, librdkafka's
/// `rd_kafka_msg_partitioner_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyHash {
    /// `consistent`, `consistent_random` (librdkafka's default), and `random` (which has no
    /// key hash of its own): CRC-32 of the key, modulo the partition count — also ruby-kafka's
    /// partitioner, which Deimos used.
    Crc32,
    /// `murmur2`, `murmur2_random`: Java's default partitioner, `(murmur2(key) & 0x7fffffff) %
    /// count`.
    Murmur2,
    /// `fnv1a`, `fnv1a_random`: Sarama's hash partitioner, `|fnv1a(key)| % count`.
    Fnv1a,
}

impl KeyHash {
    /// The hash the `partitioner` property set in `producers.extra` or `kafka.extra` selects.
    pub(crate) fn from_config(config: &Config) -> KeyHash {
        let name = config
            .producers
            .extra
            .get("partitioner")
            .or_else(|| config.kafka.extra.get("partitioner"));
        match name.map(String::as_str) {
            Some("murmur2" | "murmur2_random") => KeyHash::Murmur2,
            Some("fnv1a" | "fnv1a_random") => KeyHash::Fnv1a,
            _ => KeyHash::Crc32,
        }
    }

    /// The partition of `key` among `count` partitions (`count` ≥ 1).
    pub(crate) fn partition(self, key: &[u8], count: i32) -> i32 {
        let count = count.max(1).unsigned_abs();
        let hash = match self {
            KeyHash::Crc32 => crc32fast::hash(key),
            KeyHash::Murmur2 => murmur2(key) & 0x7fff_ffff,
            KeyHash::Fnv1a => fnv1a(key),
        };
        // `hash % count` < count ≤ i32::MAX.
        i32::try_from(hash % count).unwrap_or(0)
    }
}

/// Kafka's murmur2 (Java `Utils.murmur2`, librdkafka `rd_murmur2`): MurmurHash2 with seed
/// `0x9747b28c`, little-endian words.
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // The length is mixed in as a 32-bit value, as Java's `int` length is.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// FNV-1a 32-bit, then the absolute value of it as a signed integer (librdkafka `rd_fnv1a`,
/// matching Sarama).
fn fnv1a(data: &[u8]) -> u32 {
    const PRIME: u32 = 0x0100_0193;
    const OFFSET: u32 = 0x811c_9dc5;
    let h = data
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u32::from(b)).wrapping_mul(PRIME));
    (h as i32).wrapping_abs() as u32
}

/// Chooses partitions for partition keys: the configured hash over the topic's partition
/// count, which is read from broker metadata and cached for a minute.
#[derive(Debug)]
pub(crate) struct PartitionKeys {
    hash: KeyHash,
    metadata_timeout: Duration,
    counts: Mutex<HashMap<String, (i32, Instant)>>,
}

impl PartitionKeys {
    pub(crate) fn from_config(config: &Config) -> Self {
        PartitionKeys {
            hash: KeyHash::from_config(config),
            metadata_timeout: config.producers.ack_timeout.max(Duration::from_secs(1)),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The partition of `topic` that `key` hashes to.
    ///
    /// # Errors
    /// [`Error::Produce`] naming the topic when its metadata cannot be fetched (broker
    /// unreachable, unknown topic) within `producers.ack_timeout`.
    pub(crate) async fn partition(
        &self,
        producer: &RdProducer,
        topic: &str,
        key: &str,
    ) -> Result<i32> {
        let count = self.partition_count(producer, topic).await?;
        Ok(self.hash.partition(key.as_bytes(), count))
    }

    /// The partition of each message with a partition key (`None` for the others, which
    /// librdkafka's partitioner places by key).
    ///
    /// # Errors
    /// As [`partition`](Self::partition), for the first message whose topic fails.
    pub(crate) async fn partitions(
        &self,
        producer: &RdProducer,
        messages: &[ProducedMessage],
    ) -> Result<Vec<Option<i32>>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(match &m.partition_key {
                Some(key) => Some(self.partition(producer, &m.topic, key).await?),
                None => None,
            });
        }
        Ok(out)
    }

    async fn partition_count(&self, producer: &RdProducer, topic: &str) -> Result<i32> {
        if let Some((count, at)) = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
        {
            if at.elapsed() < COUNT_TTL {
                return Ok(*count);
            }
        }
        let producer = producer.clone();
        let owned = topic.to_owned();
        let timeout = self.metadata_timeout;
        let fetched = tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(Some(&owned), timeout)?;
            let Some(t) = metadata.topics().iter().find(|t| t.name() == owned) else {
                return Err(KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ));
            };
            if let Some(err) = t.error() {
                return Err(KafkaError::MetadataFetch(err.into()));
            }
            match i32::try_from(t.partitions().len()) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                )),
            }
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled));
        let count = fetched.map_err(|source| Error::Produce {
            topic: topic.to_owned(),
            source,
        })?;
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_owned(), (count, Instant::now()));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka's unit-test vectors (rdmurmur2.c, rdfnv1a.c): Java's murmur2 and Go's
    /// hash/fnv results.
    const KEYS: [&str; 11] = [
        "kafka",
        "giberish123456789",
        "1234",
        "234",
        "34",
        "4",
        "PreAmbleWillBeRemoved,ThePrePartThatIs",
        "reAmbleWillBeRemoved,ThePrePartThatIs",
        "eAmbleWillBeRemoved,ThePrePartThatIs",
        "AmbleWillBeRemoved,ThePrePartThatIs",
        "",
    ];

    #[test]
    fn murmur2_matches_java() {
        let java: [u32; 11] = [
            0xd067cf64, 0x8f552b0c, 0x9fc97b14, 0xe7c009ca, 0x873930da, 0x5a4b5ca1, 0x78424f1c,
            0x4a62b377, 0xe0e4e09e, 0x62b8b43f, 0x106e08d9,
        ];
        for (key, want) in KEYS.iter().zip(java) {
            assert_eq!(murmur2(key.as_bytes()), want, "murmur2({key:?})");
        }
    }

    #[test]
    fn fnv1a_matches_librdkafka() {
        let golang: [u32; 11] = [
            0x0d33c4e1, 0x77a58295, 0x023bdd03, 0x2dea3cd2, 0x740fa83e, 0x310ca263, 0x65cbd69c,
            0x6e49c79a, 0x69eed356, 0x6abcc023, 0x7ee3623b,
        ];
        for (key, want) in KEYS.iter().zip(golang) {
            assert_eq!(fnv1a(key.as_bytes()), want, "fnv1a({key:?})");
        }
    }

    #[test]
    fn partitions_stay_in_range() {
        for hash in [KeyHash::Crc32, KeyHash::Murmur2, KeyHash::Fnv1a] {
            for key in KEYS {
                for count in [1, 3, 4, 7, 64] {
                    let p = hash.partition(key.as_bytes(), count);
                    assert!((0..count).contains(&p), "{hash:?} {key:?} {count} → {p}");
                }
            }
        }
        assert_eq!(
            KeyHash::Crc32.partition(b"kafka", 1000),
            (crc32fast::hash(b"kafka") % 1000) as i32
        );
    }
}
