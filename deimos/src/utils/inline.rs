//! Deimos' `Utils::InlineConsumer`: read the last messages of a topic, outside any consumer
//! group, and return.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::error::{BoxError, Error, Result};
use crate::payload::PayloadValue;
use crate::producer::{DynamicProducer, Producer};
use crate::runtime::App;
use crate::schema::{Incoming, KeyConfig, SchemaRef};

/// One message as read from the broker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RawMessage {
    /// Its topic.
    pub topic: String,
    /// Its partition (Kafka `int32`).
    pub partition: i32,
    /// Its offset (Kafka `int64`).
    pub offset: i64,
    /// The key bytes.
    pub key: Option<Vec<u8>>,
    /// The value bytes (`None`: a tombstone).
    pub payload: Option<Vec<u8>>,
    /// The timestamp, milliseconds since the Unix epoch, if the broker sent one.
    pub timestamp: Option<i64>,
    /// The record headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A message decoded by [`InlineConsumer::get_messages_for`] (Deimos' `{payload:, key:}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecodedMessage {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The decoded key (`key_config(field)`: the field's value; `schema`: the key record;
    /// `plain`: a string), or `None`.
    pub key: Option<PayloadValue>,
    /// The decoded value (a record is a [`PayloadValue::Map`]); `None` for a tombstone.
    pub payload: Option<PayloadValue>,
}

/// How [`InlineConsumer::get_messages_for`] decodes: a value schema and a key configuration,
/// given directly (Deimos' `schema:, namespace:, key_config:`) or taken from a producer or a
/// registered consumer (Deimos' `config_class:`).
#[derive(Debug, Clone)]
pub struct MessageSource {
    schema: SchemaRef,
    key_config: KeyConfig,
}

impl MessageSource {
    /// Schema `name` in `namespace` (or `name` as a full name when `namespace` is `None`),
    /// keys per `key_config`.
    pub fn schema(name: &str, namespace: Option<&str>, key_config: KeyConfig) -> Self {
        let full = match namespace {
            Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
            _ => name.to_owned(),
        };
        MessageSource {
            schema: SchemaRef::parse(&full),
            key_config,
        }
    }

    /// The schema and key configuration of `#[producer]` type `P`.
    pub fn producer<P: Producer>() -> Self {
        MessageSource {
            schema: P::SCHEMA,
            key_config: P::KEY_CONFIG,
        }
    }

    /// The schema and key configuration of a dynamic (or entity) producer.
    pub fn dynamic(producer: &DynamicProducer) -> Self {
        MessageSource {
            schema: producer.schema().clone(),
            key_config: producer.key_config().clone(),
        }
    }

    /// The schema and key configuration of the `#[consumer]` named `name` (its function name
    /// or full path).
    ///
    /// # Errors
    /// [`Error::Config`] (key `consumer`) when no such consumer is linked in.
    pub fn consumer(name: &str) -> Result<Self> {
        let reg = crate::consumer::registration(name).ok_or_else(|| {
            Error::config(
                "consumer",
                format!("no #[consumer] named `{name}` is linked into this program"),
            )
        })?;
        Ok(MessageSource {
            schema: reg.schema.clone(),
            key_config: reg.key_config.clone(),
        })
    }
}

/// Reads the last messages of a topic and returns (Deimos' `Utils::InlineConsumer`): for
/// scripts, consoles and tests that want to look at what a topic holds, without a consumer
/// group (nothing is committed) and without running the consumers.
///
/// "The last `n` messages" is per partition: each partition is read from `max(low watermark,
/// high watermark − n)` up to the high watermark it had when the call started (messages
/// written later are not waited for). Messages come in partition, then offset order.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn demo() -> deimos::Result<()> {
/// use deimos::utils::{InlineConsumer, MessageSource};
/// use deimos::schema::KeyConfig;
///
/// let inline = InlineConsumer::global()?;
/// let last = inline
///     .get_messages_for(
///         "widgets",
///         MessageSource::schema("Widget", Some("com.example"), KeyConfig::Field("id".into())),
///         10,
///     )
///     .await?;
/// for m in last {
///     println!("{:?} {:?}", m.key, m.payload);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct InlineConsumer {
    app: App,
    timeout: Duration,
}

impl InlineConsumer {
    /// An inline consumer using `app`'s Kafka settings (`kafka.*`, `consumers.extra`) and
    /// schema backend. It reads for at most 30 s (see [`timeout`](Self::timeout)).
    pub fn new(app: &App) -> Self {
        InlineConsumer {
            app: app.clone(),
            timeout: Duration::from_secs(30),
        }
    }

    /// [`new`](Self::new) with the [`global`](crate::global) app.
    ///
    /// # Errors
    /// As [`global`](crate::global).
    pub fn global() -> Result<Self> {
        Ok(InlineConsumer::new(&crate::runtime::global()?))
    }

    /// How long one call may take in all (metadata, watermarks and reading). Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `handler` with each of the last `num_messages` messages of every partition of
    /// `topic` (names as on the broker: add `producers.topic_prefix` yourself), in partition,
    /// then offset order (Deimos' `InlineConsumer.consume(topic:, frk_consumer:,
    /// num_messages:)`). The number of messages handled.
    ///
    /// # Errors
    /// [`Error::Kafka`] naming the topic (and partition) when the topic does not exist, its
    /// metadata or watermarks cannot be read, or reading fails; [`Error::Runtime`] when the
    /// messages did not all arrive within the timeout (naming the partition and offsets);
    /// [`Error::Handler`] with the handler's error (the messages after it are not handled).
    pub async fn consume<F>(
        &self,
        topic: &str,
        num_messages: usize,
        mut handler: F,
    ) -> Result<usize>
    where
        F: FnMut(RawMessage) -> std::result::Result<(), BoxError>,
    {
        let messages = self.read(topic, num_messages).await?;
        let count = messages.len();
        for m in messages {
            let (partition, offset) = (m.partition, m.offset);
            handler(m).map_err(|source| Error::Handler {
                handler: "InlineConsumer::consume".to_owned(),
                topic: topic.to_owned(),
                partition,
                offset,
                source,
            })?;
        }
        Ok(count)
    }

    /// The last `num_messages` messages of every partition of `topic`, decoded with `source`'s
    /// schema and key configuration through the app's schema backend (Deimos'
    /// `InlineConsumer.get_messages_for(topic:, schema:, namespace:, key_config:,
    /// num_messages:)`), in partition, then offset order.
    ///
    /// # Errors
    /// As [`consume`](Self::consume); [`Error::Decode`] naming the topic, partition, offset
    /// and schema of a message that does not decode; [`Error::SchemaLoad`] when the schema
    /// cannot be found.
    pub async fn get_messages_for(
        &self,
        topic: &str,
        source: MessageSource,
        num_messages: usize,
    ) -> Result<Vec<DecodedMessage>> {
        let messages = self.read(topic, num_messages).await?;
        let codec = self.app.codec();
        let decoder = codec.decoder(&source.schema, &source.key_config).await?;
        let schema = codec.backend().schema(&source.schema).await?;
        let to_payload = |value: &apache_avro::types::Value| {
            crate::schema::coerce::to_payload_with_schema(value, &schema)
                .unwrap_or_else(|_| crate::schema::coerce::to_payload(value))
        };
        let mut decoded = Vec::with_capacity(messages.len());
        for m in messages {
            let at = (topic, m.partition, m.offset);
            let (key, value) = codec
                .decode_message(&decoder, m.key.as_deref(), m.payload.as_deref(), at)
                .await?;
            let value = match value {
                Incoming::Value(value) => value,
                Incoming::Datum(datum) => Some(datum.to_value().map_err(|e| Error::Decode {
                    topic: topic.to_owned(),
                    partition: m.partition,
                    offset: m.offset,
                    schema: source.schema.full_name(),
                    what: "payload",
                    source: e,
                })?),
            };
            decoded.push(DecodedMessage {
                partition: m.partition,
                offset: m.offset,
                key: key.as_ref().map(crate::schema::coerce::to_payload),
                payload: value.as_ref().map(to_payload),
            });
        }
        Ok(decoded)
    }

    /// The raw messages, read on a blocking thread.
    async fn read(&self, topic: &str, n: usize) -> Result<Vec<RawMessage>> {
        let config = self.app.config().clone();
        let topic = topic.to_owned();
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || read_blocking(&config, &topic, n, timeout))
            .await
            .map_err(|e| Error::Runtime {
                reason: format!("the inline consumer's reader ended abnormally: {e}"),
            })?
    }
}

fn read_blocking(
    config: &Config,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<RawMessage>> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let kafka = |context: String| move |e| Error::kafka(context, e);
    let mut client = config.kafka_client_config();
    client
        .set(
            "group.id",
            format!("deimos-inline-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // The end of a partition is also reported, for partitions whose last offsets hold no
        // message (transaction markers, compaction).
        .set("enable.partition.eof", "true");
    for (key, value) in &config.consumers.extra {
        client.set(key, value);
    }
    let consumer: BaseConsumer = client.create().map_err(kafka(format!(
        "creating the inline consumer for topic `{topic}`"
    )))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), left())
        .map_err(kafka(format!("reading the metadata of topic `{topic}`")))?;
    let partitions: Vec<i32> = match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            t.partitions().iter().map(|p| p.id()).collect()
        }
        _ => {
            return Err(Error::kafka(
                format!("reading topic `{topic}`"),
                rdkafka::error::KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ),
            ))
        }
    };
    let mut assignment = TopicPartitionList::new();
    // Partition → the high watermark to read up to.
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, left())
            .map_err(kafka(format!(
                "reading the watermarks of topic `{topic}` partition {p}"
            )))?;
        let start = low.max(high.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX)));
        if start < high {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(kafka(format!("assigning topic `{topic}` partition {p}")))?;
            ends.insert(p, high);
        }
    }
    let mut messages = Vec::new();
    if ends.is_empty() {
        return Ok(messages);
    }
    consumer
        .assign(&assignment)
        .map_err(kafka(format!("assigning topic `{topic}`")))?;
    // Partition → the next offset expected.
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    while !ends.is_empty() {
        if Instant::now() >= deadline {
            let waiting: Vec<String> = ends
                .iter()
                .map(|(p, end)| {
                    format!(
                        "partition {p} at offset {} of {end}",
                        next.get(p).copied().unwrap_or(-1)
                    )
                })
                .collect();
            return Err(Error::Runtime {
                reason: format!(
                    "inline consumer: topic `{topic}` not read to its end within {timeout:?} \
                     ({})",
                    waiting.join(", ")
                ),
            });
        }
        let Some(polled) = consumer.poll(left().min(Duration::from_millis(200))) else {
            continue;
        };
        let m = match polled {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                ends.remove(&p);
                continue;
            }
            Err(e) => return Err(Error::kafka(format!("reading topic `{topic}`"), e)),
        };
        let (p, offset) = (m.partition(), m.offset());
        let Some(&end) = ends.get(&p) else { continue };
        next.insert(p, offset + 1);
        if offset < end {
            messages.push(RawMessage {
                topic: topic.to_owned(),
                partition: p,
                offset,
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        if offset + 1 >= end {
            ends.remove(&p);
        }
    }
    messages.sort_by_key(|m| (m.partition, m.offset));
    Ok(messages)
}
