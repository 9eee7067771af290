//! Calling `#[consumer]` handlers in tests without a broker (Deimos' `test_consume_message`,
//! `test_consume_invalid_message` and `test_consume_batch`).

use serde::Serialize;

use crate::consumer::{registration, BatchMetadata, ConsumerRegistration, Handler, Metadata};
use crate::error::{Error, Result};
use crate::payload::{Payload, PayloadValue};
use crate::producer::dynamic::fill_unset;
use crate::producer::{DynamicProducer, PAYLOAD_KEY};
use crate::runtime::App;
use crate::schema::Incoming;

/// How [`test_consume_message_with`] and [`test_consume_batch_with`] build the message(s).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConsumeOptions {
    /// The key (any JSON value: the key field's value for `key_config(field)`, the key record
    /// for `key_config(schema)`, a string for `key_config(plain)`). Default: made from the
    /// payload as a producer would (`key_config(field)`), none otherwise.
    pub key: Option<serde_json::Value>,
    /// For batches: one key per payload (overrides `key`).
    pub keys: Option<Vec<serde_json::Value>>,
    /// Record headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The partition the message claims to come from. Default 0.
    pub partition: i32,
    /// The (first) offset. Default 0.
    pub offset: i64,
    /// Only check the payload against the consumer's schema; do not call the handler
    /// (Deimos' `test_consume_message(.., skip_expectation: true)` style checks).
    pub validate_only: bool,
}

impl ConsumeOptions {
    /// The defaults: no key, partition 0, offset 0, call the handler.
    pub fn new() -> Self {
        ConsumeOptions::default()
    }

    /// With this key.
    ///
    /// # Panics
    /// When the key does not serialize to JSON.
    pub fn key(mut self, key: impl Serialize) -> Self {
        self.key = Some(serde_json::to_value(key).expect("the key serializes to JSON"));
        self
    }

    /// Only validate, do not call the handler.
    pub fn validate_only(mut self) -> Self {
        self.validate_only = true;
        self
    }
}

/// The consumer named `consumer` (function name or full path), else the one consumer of the
/// topic `consumer` (Deimos' `handler_class_or_topic`).
fn find(consumer: &str) -> Result<&'static ConsumerRegistration> {
    if let Some(found) = registration(consumer) {
        return Ok(found);
    }
    let registered = crate::consumer::registered();
    let of_topic: Vec<&'static ConsumerRegistration> = registered
        .iter()
        .copied()
        .filter(|r| r.topic == consumer)
        .collect();
    match of_topic.as_slice() {
        [one] => Ok(one),
        [] => {
            let known: Vec<String> = registered
                .iter()
                .map(|r| format!("{} (topic `{}`)", r.name, r.topic))
                .collect();
            Err(Error::config(
                "consumer",
                format!(
                    "no #[consumer] named `{consumer}`, nor one of a topic of that name, is \
                     linked into this test (known: [{}])",
                    known.join(", ")
                ),
            ))
        }
        several => {
            let names: Vec<&str> = several.iter().map(|r| r.name).collect();
            Err(Error::config(
                "consumer",
                format!(
                    "several #[consumer]s read topic `{consumer}`: [{}]; name one",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Encodes `payload` (with `key`) as a producer of the consumer's topic, schema and key
/// configuration would, then decodes it as the consumer does: the key and the value the
/// handler gets.
async fn round_trip(
    app: &App,
    reg: &ConsumerRegistration,
    payload: serde_json::Value,
    key: Option<serde_json::Value>,
    at: (i32, i64),
) -> Result<(Option<apache_avro::types::Value>, Incoming)> {
    let invalid = |reason: String| Error::Encode {
        topic: reg.topic.to_owned(),
        schema: reg.schema.full_name(),
        what: "payload",
        source: reason.into(),
    };
    let mut map = match payload {
        serde_json::Value::Null => Payload::new(),
        other => Payload::try_from(other).map_err(|e| invalid(e.to_string()))?,
    };
    // Deimos' `validate` (`fail_on_extra_fields`), stricter than a producer's coercion: a
    // field the schema lacks is an error here, at any depth. Fields deimos fills in
    // (`message_id`, `timestamp`) may be left out, as when publishing.
    if !map.is_empty() {
        let avro = app.codec().backend().schema(&reg.schema).await?;
        let mut filled = map.clone();
        fill_unset(&mut filled, &avro);
        crate::schema::coerce::validate(&PayloadValue::Map(filled), &avro)
            .map_err(|e| invalid(e.to_string()))?;
    }
    if let Some(key) = key {
        map.insert(PAYLOAD_KEY, key);
    }
    let producer = DynamicProducer::new(reg.topic, &reg.schema.full_name(), reg.key_config.clone());
    let message = app.encode_payload_map(reg.topic, &producer, map).await?;
    let codec = app.codec();
    let decoder = codec.decoder(&reg.schema, &reg.key_config).await?;
    codec
        .decode_message(
            &decoder,
            message.key.as_deref(),
            message.payload.as_deref(),
            (reg.topic, at.0, at.1),
        )
        .await
}

/// Validates `payload` against consumer `consumer`'s schema, then calls its handler with it
/// (Deimos' `test_consume_message`). `consumer` is the handler's name (`handle_widget`), its
/// full path (`my_app::consumers::handle_widget`), or a topic that one consumer reads
/// (Deimos' `handler_class_or_topic`); the app is [`global`](crate::global), so
/// a preset's ([`unit_test`](super::unit_test)) on this thread. `payload` is any `Serialize`
/// value shaped like the schema (a struct, `serde_json::json!`, a [`Payload`]); `()` / JSON
/// `null` is a tombstone (give its key with [`ConsumeOptions::key`]).
///
/// The payload is first validated as Deimos' `validate` does (Avro's `SchemaValidator` with
/// `fail_on_extra_fields`: a field the schema lacks, at any depth, is an error, where a
/// producer's coercion would drop it), then goes the whole way: Deimos' coercion and encoding
/// with the schema backend (as a producer would), then the consumer's decoding, so a payload
/// that does not fit fails here as it would on the wire.
///
/// # Errors
/// [`Error::Config`] when no consumer has that name or reads that topic, or several read it;
/// [`Error::Encode`] naming the field when
/// the payload does not fit the schema; [`Error::Decode`] when the handler's type cannot take
/// it; [`Error::Handler`] when the handler returns an error. A handler that panics panics
/// here too (the test fails), unlike in a running consumer.
pub async fn test_consume_message(consumer: &str, payload: impl Serialize) -> Result<()> {
    test_consume_message_with(consumer, payload, ConsumeOptions::new()).await
}

/// [`test_consume_message`] with a key, headers, a partition and offset, or
/// [`validate_only`](ConsumeOptions::validate_only).
///
/// # Errors
/// As [`test_consume_message`].
pub async fn test_consume_message_with(
    consumer: &str,
    payload: impl Serialize,
    options: ConsumeOptions,
) -> Result<()> {
    let reg = find(consumer)?;
    let app = crate::runtime::global()?;
    let payload = to_json(reg, &payload)?;
    let at = (options.partition, options.offset);
    let (key, value) = round_trip(&app, reg, payload, options.key.clone(), at).await?;
    if options.validate_only {
        return Ok(());
    }
    let Handler::Message(handler) = reg.handler else {
        return Err(Error::config(
            "consumer",
            format!(
                "`{}` takes batches (`delivery = \"inline_batch\"`): use test_consume_batch",
                reg.name
            ),
        ));
    };
    let metadata = Metadata {
        key,
        topic: reg.topic.to_owned(),
        partition: at.0,
        offset: at.1,
        timestamp: Some(chrono::Utc::now().timestamp_millis()),
        headers: options.headers,
    };
    let future = handler(value, metadata).map_err(|e| payload_error(reg, at.0, e))?;
    app.scope(future).await.map_err(|source| Error::Handler {
        handler: reg.name.to_owned(),
        topic: reg.topic.to_owned(),
        partition: at.0,
        offset: at.1,
        source,
    })
}

/// Checks that `payload` does **not** fit consumer `consumer`'s schema (Deimos'
/// `test_consume_invalid_message`), without calling the handler: the schema error it gets
/// ([`Error::Encode`] naming the field, or [`Error::Decode`] when the consumer's type cannot
/// take it). As in Deimos (`fail_on_extra_fields`), a field the schema lacks, at any depth,
/// makes a payload invalid.
///
/// # Panics
/// When the payload is valid (the assertion failed), or when checking fails for another
/// reason than the payload (no such consumer, a schema that cannot be loaded): naming the
/// consumer and the error.
pub async fn test_consume_invalid_message(consumer: &str, payload: impl Serialize) -> Error {
    let options = ConsumeOptions::new().validate_only();
    match test_consume_message_with(consumer, payload, options).await {
        Ok(()) => panic!("the payload fits the schema of consumer `{consumer}`"),
        Err(e @ (Error::Encode { .. } | Error::Decode { .. })) => e,
        Err(other) => panic!(
            "checking the payload against consumer `{consumer}` failed for another reason \
             than the payload: {other}"
        ),
    }
}

/// Calls an `inline_batch` consumer's handler with `payloads` as one batch (Deimos'
/// `test_consume_batch`): each validated, encoded and decoded as in [`test_consume_message`],
/// at offsets 0, 1, ….
///
/// # Errors
/// As [`test_consume_message`]; [`Error::Config`] when the consumer is not `inline_batch`.
pub async fn test_consume_batch<T: Serialize>(
    consumer: &str,
    payloads: impl IntoIterator<Item = T>,
) -> Result<()> {
    test_consume_batch_with(consumer, payloads, ConsumeOptions::new()).await
}

/// [`test_consume_batch`] with options (`keys`: one per payload).
///
/// # Errors
/// As [`test_consume_batch`].
pub async fn test_consume_batch_with<T: Serialize>(
    consumer: &str,
    payloads: impl IntoIterator<Item = T>,
    options: ConsumeOptions,
) -> Result<()> {
    let reg = find(consumer)?;
    let app = crate::runtime::global()?;
    let payloads: Vec<T> = payloads.into_iter().collect();
    if let Some(keys) = &options.keys {
        if keys.len() != payloads.len() {
            return Err(Error::config(
                "keys",
                format!(
                    "{} keys for {} payloads: give one key per payload",
                    keys.len(),
                    payloads.len()
                ),
            ));
        }
    }
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut offsets = Vec::new();
    for (i, payload) in payloads.into_iter().enumerate() {
        let payload = to_json(reg, &payload)?;
        let key = match &options.keys {
            Some(keys) => keys.get(i).cloned(),
            None => options.key.clone(),
        };
        let offset = options.offset + i as i64;
        let (key, value) = round_trip(&app, reg, payload, key, (options.partition, offset)).await?;
        keys.push(key);
        values.push(value);
        offsets.push(offset);
    }
    if options.validate_only {
        return Ok(());
    }
    let Handler::Batch(handler) = reg.handler else {
        return Err(Error::config(
            "consumer",
            format!(
                "`{}` takes one message at a time: use test_consume_message",
                reg.name
            ),
        ));
    };
    let count = values.len();
    let mut metadata = BatchMetadata::new(reg.topic, options.partition, offsets, keys);
    metadata.headers = vec![options.headers.clone(); count];
    let future = handler(values, metadata).map_err(|e| payload_error(reg, options.partition, e))?;
    app.scope(future).await.map_err(|source| Error::Handler {
        handler: reg.name.to_owned(),
        topic: reg.topic.to_owned(),
        partition: options.partition,
        offset: options.offset,
        source,
    })
}

fn to_json(reg: &ConsumerRegistration, payload: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(payload).map_err(|e| Error::Encode {
        topic: reg.topic.to_owned(),
        schema: reg.schema.full_name(),
        what: "payload",
        source: format!("the test payload does not serialize: {e}").into(),
    })
}

fn payload_error(
    reg: &ConsumerRegistration,
    partition: i32,
    e: crate::consumer::PayloadError,
) -> Error {
    Error::Decode {
        topic: reg.topic.to_owned(),
        partition,
        offset: e.offset,
        schema: reg.schema.full_name(),
        what: "payload",
        source: e.source,
    }
}
