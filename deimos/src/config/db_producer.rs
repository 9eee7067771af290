//! `db_producer.*`: the outbox workers (Deimos' `db_producer` settings and its
//! `DbProducer` constants).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::duration;
use crate::error::{Error, Result};

/// `db_producer.*`: how the outbox workers ([`start_db_backend`](crate::start_db_backend))
/// send the `kafka_messages` table to Kafka (the `db` producer backend writes it).
///
/// ```toml
/// [db_producer]
/// workers = 2                     # run() starts two workers
/// compact_topics = ["widgets"]    # or "all"
/// shards = { "events" = 4 }       # one hot topic over four locks
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DbProducerConfig {
    /// Workers [`run`](crate::run) starts with the consumers (each a task with its own lock
    /// id; Deimos' `rake deimos:db_producer THREADS=n`). 0 (the default): `run` starts none;
    /// call [`start_db_backend`](crate::start_db_backend) instead.
    pub workers: usize,
    /// Topics whose batches are compacted before sending: of the messages of one batch with
    /// equal keys only the last is sent (the others are deleted unsent). A list of topic names
    /// as stored in the outbox (with `producers.topic_prefix`), or `"all"`. Default none, as in
    /// Deimos' `db_producer.compact_topics`.
    pub compact_topics: CompactTopics,
    /// Most rows one batch reads, sends and deletes (1 to 100 000). Default 1000, Deimos'
    /// `BATCH_SIZE`.
    pub batch_size: usize,
    /// A topic lock whose holder has not renewed it (its heartbeat, after every batch) for this
    /// long is taken over by another worker (the holder probably died). Default 1 min, as in
    /// Deimos. Must be longer than `send_timeout`.
    #[serde(with = "duration")]
    pub lock_timeout: Duration,
    /// A topic whose send failed is left alone for this long, then retried. Default 1 min, as
    /// in Deimos.
    #[serde(with = "duration")]
    pub error_backoff: Duration,
    /// How long a worker that found nothing to send waits before looking again. Default
    /// 500 ms (Deimos sleeps 0.5 s).
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// How long a batch may wait for its delivery reports (the outbox producer's
    /// `message.timeout.ms`). Default 30 s; it must stay below `lock_timeout`, so that a batch
    /// fails before its lock can expire under it.
    #[serde(with = "duration")]
    pub send_timeout: Duration,
    /// Topics spread over several locks (beyond Deimos, whose one lock per topic lets a single
    /// large topic use one worker): topic name (as stored, with the prefix) → number of shards
    /// (1 to 1024). A message's shard is a hash (CRC-32) of its partition key, or else its
    /// encoded key, modulo that number, fixed when the row is written; keyless messages go to
    /// shard 0. Each shard is locked and sent on its own, so per-key order holds and distinct
    /// keys may go out in parallel. Change a topic's count only while its outbox is empty: rows
    /// written under the old count keep their shard. Default none (one lock per topic).
    pub shards: BTreeMap<String, u16>,
}

impl Default for DbProducerConfig {
    fn default() -> Self {
        DbProducerConfig {
            workers: 0,
            compact_topics: CompactTopics::default(),
            batch_size: 1000,
            lock_timeout: Duration::from_secs(60),
            error_backoff: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            send_timeout: Duration::from_secs(30),
            shards: BTreeMap::new(),
        }
    }
}

impl DbProducerConfig {
    /// The number of shards of `topic` (1 unless `shards` names it).
    pub fn shards_of(&self, topic: &str) -> u16 {
        self.shards.get(topic).copied().unwrap_or(1).max(1)
    }

    pub(super) fn validate(&self) -> Result<()> {
        if !(1..=100_000).contains(&self.batch_size) {
            return Err(Error::config(
                "db_producer.batch_size",
                format!("must be 1 to 100000 rows, found {}", self.batch_size),
            ));
        }
        if self.send_timeout.is_zero() || self.send_timeout >= self.lock_timeout {
            return Err(Error::config(
                "db_producer.send_timeout",
                format!(
                    "must be above zero and shorter than `db_producer.lock_timeout` ({:?}), \
                     found {:?}: a batch still waiting for delivery when its lock expires could \
                     be sent by two workers",
                    self.lock_timeout, self.send_timeout
                ),
            ));
        }
        if self.poll_interval.is_zero() {
            return Err(Error::config(
                "db_producer.poll_interval",
                "must be above zero",
            ));
        }
        if let Some((topic, n)) = self.shards.iter().find(|(_, n)| !(1..=1024).contains(*n)) {
            return Err(Error::config(
                "db_producer.shards",
                format!("topic `{topic}`: must be 1 to 1024 shards, found {n}"),
            ));
        }
        Ok(())
    }
}

/// Which topics the outbox workers compact (`db_producer.compact_topics`): `"all"` or a list
/// of topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactTopics {
    /// Every topic (`"all"`, Deimos' `:all`).
    All,
    /// These topics (an empty list, the default: none).
    Topics(Vec<String>),
}

impl Default for CompactTopics {
    fn default() -> Self {
        CompactTopics::Topics(Vec::new())
    }
}

impl CompactTopics {
    /// Whether `topic`'s batches are compacted.
    pub fn contains(&self, topic: &str) -> bool {
        match self {
            CompactTopics::All => true,
            CompactTopics::Topics(topics) => topics.iter().any(|t| t == topic),
        }
    }
}

impl Serialize for CompactTopics {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            CompactTopics::All => s.serialize_str("all"),
            CompactTopics::Topics(topics) => topics.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CompactTopics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct TopicsVisitor;
        impl<'de> Visitor<'de> for TopicsVisitor {
            type Value = CompactTopics;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"all\" or a list of topic names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<CompactTopics, E> {
                match v {
                    "all" => Ok(CompactTopics::All),
                    // The environment gives lists as comma-separated strings.
                    "" => Ok(CompactTopics::default()),
                    list => Ok(CompactTopics::Topics(
                        list.split(',').map(|t| t.trim().to_owned()).collect(),
                    )),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CompactTopics, A::Error> {
                let mut topics = Vec::new();
                while let Some(topic) = seq.next_element::<String>()? {
                    topics.push(topic);
                }
                Ok(CompactTopics::Topics(topics))
            }
        }
        d.deserialize_any(TopicsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn reads_compact_topics_and_shards() {
        let config = Config::from_toml(
            r#"
            [db_producer]
            workers = 3
            compact_topics = ["a", "b"]
            shards = { "events" = 4 }
            lock_timeout = "2m"
            "#,
        )
        .unwrap();
        let d = &config.db_producer;
        assert_eq!(d.workers, 3);
        assert!(d.compact_topics.contains("b"));
        assert!(!d.compact_topics.contains("c"));
        assert_eq!(d.shards_of("events"), 4);
        assert_eq!(d.shards_of("other"), 1);
        assert_eq!(d.lock_timeout, Duration::from_secs(120));

        let all = Config::from_toml("[db_producer]\ncompact_topics = \"all\"").unwrap();
        assert!(all.db_producer.compact_topics.contains("anything"));
        assert!(!Config::default().db_producer.compact_topics.contains("x"));
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        for (toml, key) in [
            ("send_timeout = \"2m\"", "db_producer.send_timeout"),
            ("batch_size = 0", "db_producer.batch_size"),
            ("shards = { \"t\" = 0 }", "db_producer.shards"),
            ("poll_interval = 0", "db_producer.poll_interval"),
        ] {
            let err = Config::from_toml(&format!("[db_producer]\n{toml}")).unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }
}
