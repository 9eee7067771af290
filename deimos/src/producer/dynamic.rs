//! Producers defined at run time, publishing dynamic [`Payload`]s (Deimos' producer classes
//! with hash payloads).

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::backends::ProducedMessage;
use crate::error::{BoxError, Error, Result};
use crate::payload::{Payload, PayloadValue};
use crate::producer::PublishOptions;
use crate::runtime::{App, Via};
use crate::schema::coerce::{coerce, coerce_payload, to_payload};
use crate::schema::{autofill, KeyConfig, SchemaRef};

/// The payload field that carries a message's key instead of its value (Deimos'
/// `payload_key`); it is removed before the payload is encoded.
pub const PAYLOAD_KEY: &str = "payload_key";

/// A producer whose topic, schema and key configuration are values: Deimos' producer classes,
/// publishing [`Payload`] maps that are coerced to the schema by Deimos' rules
/// ([`coerce`](crate::schema::coerce)).
///
/// Keys follow `key_config`, as in Deimos:
///
/// | `key_config` | key from | a `payload_key` field |
/// |---|---|---|
/// | `none` | no key | is an error: this producer's messages have no key |
/// | `plain` | `payload_key`, as a string | is required |
/// | `field = "id"` | the payload's `id` | overrides it (coerced to the field's type) |
/// | `schema = "X_key"` | the payload's fields named in `X_key` | overrides them (a map) |
///
/// A payload that holds nothing but a `payload_key` is a tombstone: a message with that key and
/// a null value, which log compaction uses to delete the key (Deimos' `_process_message`: "an
/// empty payload ... is intended"; Kafka).
///
/// ```no_run
/// # #[allow(dead_code)]
/// # async fn demo() -> deimos::Result<()> {
/// use deimos::producer::DynamicProducer;
/// use deimos::schema::KeyConfig;
///
/// let widgets = DynamicProducer::new("widgets", "com.example.Widget", KeyConfig::Field("id".into()));
/// widgets
///     .publish(deimos::payload! { "id" => "7", "name" => "sprocket", "price" => 9, "tags" => Vec::<String>::new(), "updated_at" => 0 })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicProducer {
    topic: String,
    schema: SchemaRef,
    key_config: KeyConfig,
}

impl DynamicProducer {
    /// A producer for `topic` (before `producers.topic_prefix`) with the schema of full name
    /// `schema` (e.g. `com.example.Widget`).
    pub fn new(topic: impl Into<String>, schema: &str, key_config: KeyConfig) -> Self {
        DynamicProducer {
            topic: topic.into(),
            schema: SchemaRef::parse(schema),
            key_config,
        }
    }

    /// The topic, before `producers.topic_prefix`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The value schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// How keys are made.
    pub fn key_config(&self) -> &KeyConfig {
        &self.key_config
    }

    /// Publishes one payload through the global app (see [`App::publish_payloads`]).
    ///
    /// # Errors
    /// As [`App::publish_payloads`].
    pub async fn publish(&self, payload: Payload) -> Result<()> {
        crate::runtime::global()?
            .publish_payloads(self, std::iter::once(payload))
            .await
    }

    /// Publishes payloads through the global app, in order (see [`App::publish_payloads`]).
    ///
    /// # Errors
    /// As [`App::publish_payloads`].
    pub async fn publish_list(&self, payloads: impl IntoIterator<Item = Payload>) -> Result<()> {
        crate::runtime::global()?
            .publish_payloads(self, payloads)
            .await
    }

    /// Publishes payloads through the global app with [`PublishOptions`] (see
    /// [`App::publish_payloads_with`]).
    ///
    /// # Errors
    /// As [`App::publish_payloads`].
    pub async fn publish_with(
        &self,
        payloads: impl IntoIterator<Item = Payload>,
        options: &PublishOptions,
    ) -> Result<()> {
        crate::runtime::global()?
            .publish_payloads_with(self, payloads, options)
            .await
    }
}

impl App {
    /// Publishes dynamic payloads with `producer`'s topic, schema and keys: each payload is
    /// given its auto-added fields, coerced to the schema (Deimos' rules; fields the schema
    /// lacks are dropped, missing fields take their defaults), encoded, and keyed per
    /// `key_config` (see [`DynamicProducer`]). Every payload is encoded before anything is sent,
    /// so one bad payload sends nothing.
    ///
    /// Does nothing when `producers.disabled` is true or a
    /// [`disable_producers`](crate::producer::disable_producers) scope of this task covers
    /// `producer`.
    ///
    /// # Errors
    /// [`Error::Encode`] naming the topic, schema and the field path that does not coerce (or
    /// the key problem); [`Error::SchemaLoad`]; the producer backend's error.
    pub async fn publish_payloads(
        &self,
        producer: &DynamicProducer,
        payloads: impl IntoIterator<Item = Payload>,
    ) -> Result<()> {
        self.publish_payloads_with(producer, payloads, &PublishOptions::default())
            .await
    }

    /// As [`App::publish_payloads`], with [`PublishOptions`] (topic override, `force_send`,
    /// partition key, headers).
    ///
    /// # Errors
    /// As [`App::publish_payloads`].
    pub async fn publish_payloads_with(
        &self,
        producer: &DynamicProducer,
        payloads: impl IntoIterator<Item = Payload>,
        options: &PublishOptions,
    ) -> Result<()> {
        self.publish_payloads_via(producer, payloads, options, Via::Default)
            .await
    }

    /// As [`App::publish_payloads_with`], writing on `db` with the `db` (outbox) backend
    /// (feature `orm`; see [`App::publish_list_on`]). Entity producers and the
    /// `#[kafka_source]` hooks publish through it.
    ///
    /// # Errors
    /// As [`App::publish_payloads`]; with the `db` backend, [`Error::Database`] naming the
    /// topic when the insert fails.
    #[cfg(feature = "orm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
    pub async fn publish_payloads_on<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        producer: &DynamicProducer,
        payloads: impl IntoIterator<Item = Payload>,
        options: &PublishOptions,
    ) -> Result<()> {
        self.publish_payloads_via(producer, payloads, options, Via::Db(db))
            .await
    }

    pub(crate) async fn publish_payloads_via(
        &self,
        producer: &DynamicProducer,
        payloads: impl IntoIterator<Item = Payload>,
        options: &PublishOptions,
        via: Via<'_>,
    ) -> Result<()> {
        if self.config().producers.disabled || crate::producer::disable::disabled_dynamic(producer)
        {
            return Ok(());
        }
        let topic = self.call_topic(&producer.topic, options);
        let mut messages = Vec::new();
        for payload in payloads {
            let mut message = self.encode_payload_map(&topic, producer, payload).await?;
            message.headers.extend(options.headers.iter().cloned());
            message.partition_key.clone_from(&options.partition_key);
            messages.push(message);
        }
        if messages.is_empty() {
            return Ok(());
        }
        self.send_with(
            &format!("DynamicProducer({})", producer.topic),
            &topic,
            messages,
            options,
            via,
        )
        .await
    }

    pub(crate) async fn encode_payload_map(
        &self,
        topic: &str,
        producer: &DynamicProducer,
        mut payload: Payload,
    ) -> Result<ProducedMessage> {
        let codec = self.codec();
        let schema = &producer.schema;
        let err = |what: &'static str, source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what,
            source,
        };
        let payload_key = payload.remove(PAYLOAD_KEY);
        // Deimos' `_process_message`: a payload that is only a `payload_key` is a tombstone
        // (a deletion), not an empty record.
        let tombstone = payload.is_empty() && payload_key.is_some();
        let (resolved, bytes) = if tombstone {
            (None, None)
        } else {
            let avro = codec.backend().schema(schema).await?;
            fill_unset(&mut payload, &avro);
            let value = coerce_payload(&payload, &avro).map_err(|e| err("payload", e.into()))?;
            let (resolved, bytes) = codec.encode_value(topic, schema, value).await?;
            (Some(resolved), Some(bytes))
        };
        let key = match (&producer.key_config, payload_key) {
            (KeyConfig::None, Some(_)) => {
                return Err(err(
                    "key",
                    format!(
                        "the payload has a `{PAYLOAD_KEY}`, but this producer has \
                         `key_config(none)`: its messages have no key"
                    )
                    .into(),
                ))
            }
            (KeyConfig::Plain, None) => {
                return Err(err(
                    "key",
                    format!("`key_config(plain)` needs a `{PAYLOAD_KEY}` in each payload").into(),
                ))
            }
            (_, None) => {
                let Some(resolved) = resolved.as_ref() else {
                    // Only a tombstone has no value, and a tombstone has a `payload_key`.
                    return Err(err(
                        "key",
                        format!("a tombstone needs a `{PAYLOAD_KEY}`").into(),
                    ));
                };
                codec
                    .encode_key_from_value(topic, schema, &producer.key_config, resolved, None)
                    .await?
            }
            (key_config, Some(given)) => {
                let key_schema = match key_config {
                    KeyConfig::Field(field) => {
                        let (_, key_schema) = codec.field_key_schema(schema, field).await?;
                        match key_schema.as_ref() {
                            Schema::Record(r) if r.fields.len() == 1 => r.fields[0].schema.clone(),
                            other => other.clone(),
                        }
                    }
                    KeyConfig::Schema(name) => codec
                        .backend()
                        .schema(&schema.sibling(name))
                        .await?
                        .as_ref()
                        .clone(),
                    // `Plain` (and `None`, refused above): a string.
                    _ => Schema::String,
                };
                let key = coerce(&given, &key_schema)
                    .map_err(|e| err("key", format!("{PAYLOAD_KEY}: {e}").into()))?;
                Some(codec.encode_key(topic, schema, key_config, key).await?)
            }
        };
        let (decoded_key, key) = key.unzip();
        Ok(ProducedMessage {
            topic: std::sync::Arc::from(topic),
            key: key.map(Into::into),
            payload: bytes.map(Into::into),
            decoded_key,
            decoded_payload: resolved,
            headers: Vec::new(),
            partition_key: None,
        })
    }
}

/// Fills `message_id` and `timestamp` (see [`autofill`]) in a dynamic payload that leaves them
/// unset (absent, null or an empty string), before coercion would call them missing.
pub(crate) fn fill_unset(payload: &mut Payload, avro: &Schema) {
    let mut filled = Value::Record(Vec::new());
    autofill(&mut filled, avro);
    let Value::Record(fields) = filled else {
        return;
    };
    for (name, value) in fields {
        let unset = match payload.get(&name) {
            None | Some(PayloadValue::Null) => true,
            Some(PayloadValue::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if unset {
            payload.insert(name, to_payload(&value));
        }
    }
}
