//! Key and value encoding on top of a [`SchemaBackend`]: the part of the produce and consume
//! paths that knows about `key_config`.

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use apache_avro::schema::RecordSchema;
use apache_avro::types::Value;
use apache_avro::Schema;

use bytes::{BufMut as _, Bytes, BytesMut};
use rayon::prelude::*;

use super::keyspan::KeySpans;
use super::{KeyConfig, SchemaBackend, SchemaRef, SerializationContext};
use crate::error::{BoxError, Error, Result};

/// A decoded Kafka key, as handlers see it in [`Metadata::key`](crate::Metadata::key).
pub type DecodedKey = Value;

/// Shortest rest of a run (after its first payload) that [`Codec::encode_payloads`] encodes
/// on several threads: below it, handing work to other threads costs more than it saves
/// (a widget encodes in about 0.3 µs; a hand-off costs tens of µs).
pub const PARALLEL_ENCODE_MIN: usize = 512;

/// Fewest payloads a thread of [`Codec::encode_payloads`] encodes at a time.
pub const PARALLEL_ENCODE_CHUNK: usize = 256;

/// Most bytes the typed fast path allocates at once for the datums of a run (see
/// [`EncodedPayload`]): 64 KiB, the most a `bytes::BytesMut` remembers of its first capacity
/// as the least it grows to, so every buffer of a run is about this size.
pub const RUN_BUFFER_BYTES: usize = 64 * 1024;

/// Generated key schemas by (value schema, key field).
type FieldKeySchemas = HashMap<(SchemaRef, String), Arc<Schema>>;

/// What the typed fast paths need to know about one schema.
#[derive(Debug)]
struct FastEntry {
    /// The local schema (as the backend loaded it).
    avro: Arc<Schema>,
    /// Its `serde_avro_fast` form; `None` when that crate cannot read the schema.
    fast: Option<Arc<serde_avro_fast::Schema>>,
    /// The schema has auto-added fields ([`autofill`]), which only the `Value` path fills.
    autofill: bool,
    /// The record has a top-level `timestamp` field ([`Incoming::payload_timestamp_ms`]).
    has_timestamp: bool,
}

impl FastEntry {
    /// `body` (a datum written with this schema) copied out for a typed handler.
    fn datum(&self, fast: &Arc<serde_avro_fast::Schema>, body: &[u8]) -> Datum {
        Datum {
            bytes: body.to_vec(),
            fast: fast.clone(),
            avro: self.avro.clone(),
            has_timestamp: self.has_timestamp,
        }
    }
}

/// Fast-path entries by schema name.
type FastEntries = HashMap<SchemaRef, Arc<FastEntry>>;

/// The typed encode path for one payload type on one topic, schema and key configuration,
/// prepared on its first message ([`Codec::prepare_path`]): schemas, their `serde_avro_fast`
/// forms and the backend's wire prefixes are looked up once, so a message costs one lookup by
/// its payload type and the serialization itself.
#[derive(Debug)]
struct Prepared {
    topic: String,
    schema: SchemaRef,
    key_config: KeyConfig,
    /// `None` when the fast path does not apply (backend format, auto-added fields, a schema
    /// `serde_avro_fast` cannot read): such payloads take the `Value` path.
    plan: Option<FastPlan>,
    /// The payload type failed the fast path here where the `Value` path succeeded (a serde
    /// shape `serde_avro_fast` reads differently): later messages skip the attempt.
    slow: AtomicBool,
}

/// How the fast path writes a message's value and key.
#[derive(Debug)]
struct FastPlan {
    /// The value schema in `serde_avro_fast`'s form.
    fast: Arc<serde_avro_fast::Schema>,
    /// The backend's bytes before the value's Avro datum ([`SchemaBackend::datum_prefix`]).
    prefix: Box<[u8]>,
    /// Length of the last value datum, to size the next buffer (0 before the first).
    last_len: AtomicUsize,
    key: FastKey,
}

/// How the fast path makes the key.
#[derive(Debug)]
enum FastKey {
    /// `key_config(none)`.
    None,
    /// `key_config(plain)`: the producer's string.
    Plain,
    /// `key_config(field)` or `key_config(schema)`: an Avro record of payload fields.
    Avro(AvroKey),
}

/// A key record copied out of the value's datum ([`KeySpans`]) or written straight from the
/// payload's fields ([`super::extract::KeyFields`]).
#[derive(Debug)]
struct AvroKey {
    /// `key_config(field)`: the decoded key is the field's value rather than the record.
    field: bool,
    /// The key record's field names, in schema order.
    names: Vec<String>,
    /// The key record schema (generated `<Name>_key` for a field key).
    avro: Arc<Schema>,
    /// Its `serde_avro_fast` form.
    fast: Arc<serde_avro_fast::Schema>,
    /// The backend's bytes before the key's Avro datum.
    prefix: Box<[u8]>,
    /// Length of the last key datum.
    last_len: AtomicUsize,
    /// Where the key's bytes are in the value's datum, when they can be copied from there
    /// ([`KeySpans`]: plain primitive key fields after flat value fields only).
    spans: Option<KeySpans>,
}

/// Prepared encode paths by payload type.
type PreparedPaths = HashMap<TypeId, Vec<Arc<Prepared>>, BuildHasherDefault<TypeIdHasher>>;

/// Hashes a [`TypeId`] by the bits it carries (it is already a hash of the type), so the
/// per-message lookup of a payload type costs no SipHash round. Other input (which a
/// `TypeId` does not write today) is folded in FNV-1a style.
#[derive(Debug, Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// A typed payload encoded by [`Codec::encode_payload`].
///
/// The bytes are [`Bytes`]: on the typed fast path the key and value of a message, and the
/// messages of one run ([`Codec::encode_payloads`]), are slices of shared buffers of up to
/// [`RUN_BUFFER_BYTES`], so that a run costs a few allocations rather than two per message.
/// A slice keeps its whole buffer alive: copy it (`Bytes::copy_from_slice`) to keep one
/// message's bytes for long.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EncodedPayload {
    /// The value's wire bytes.
    pub payload: Bytes,
    /// The key's decoded form and wire bytes; `None` for `key_config(none)`.
    pub key: Option<(Value, Bytes)>,
    /// The value as resolved against the schema, when it was built (see
    /// [`Codec::encode_payload`]).
    pub value: Option<Value>,
}

/// The outcome of [`Codec::encode_typed`].
#[derive(Debug)]
enum FastEncode {
    /// Encoded: value bytes and the key (decoded form and bytes), if any.
    Done(Bytes, Option<(Value, Bytes)>),
    /// The fast path does not apply (backend format, auto-added fields, schema); nothing tried.
    NotApplicable,
    /// Tried and failed: use the `Value` path, which explains the failure or succeeds.
    Failed,
}

/// Encodes and decodes message keys and values for one schema backend.
///
/// Field keys (`key_config(field = "id")`) use a key schema generated from the value schema:
/// a record named `<Name>_key` in the same namespace with that one field (Deimos'
/// `key_config field:`). Generated key schemas are cached.
#[derive(Debug, Clone)]
pub struct Codec {
    backend: Arc<dyn SchemaBackend>,
    field_keys: Arc<RwLock<FieldKeySchemas>>,
    fast: Arc<RwLock<FastEntries>>,
    prepared: Arc<RwLock<PreparedPaths>>,
}

impl Codec {
    /// A codec over `backend`.
    pub fn new(backend: Arc<dyn SchemaBackend>) -> Self {
        Codec {
            backend,
            field_keys: Arc::default(),
            fast: Arc::default(),
            prepared: Arc::default(),
        }
    }

    /// The schema backend.
    pub fn backend(&self) -> &Arc<dyn SchemaBackend> {
        &self.backend
    }

    /// The fast-path entry of `schema` (cached): the loaded schema, its `serde_avro_fast`
    /// form (`None` when that crate cannot read it, which leaves the `Value` path), and
    /// whether it has auto-added fields.
    async fn fast_entry(&self, schema: &SchemaRef) -> Result<Arc<FastEntry>> {
        if let Some(found) = self
            .fast
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(schema)
        {
            return Ok(found.clone());
        }
        let avro = self.backend.schema(schema).await?;
        let fast = fast_schema(schema, &avro);
        let entry = Arc::new(FastEntry {
            autofill: needs_autofill(&avro),
            has_timestamp: matches!(
                avro.as_ref(),
                Schema::Record(r) if r.lookup.contains_key("timestamp")
            ),
            avro,
            fast,
        });
        Ok(self
            .fast
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(schema.clone())
            .or_insert(entry)
            .clone())
    }

    /// Encodes a typed payload and makes its key per `key_config` (`plain_key` for
    /// `key_config(plain)`).
    ///
    /// Unless `want_value` asks for the resolved [`Value`] (the test backend captures it), this
    /// is the fast path: serde straight to the wire bytes with `serde_avro_fast`, no
    /// intermediate `Value` (README, "Performance"), for the value and for a field or schema
    /// key alike (a key of plain primitive fields is copied out of the value's bytes, any
    /// other is serialized from the key's fields alone, against the key schema). It applies
    /// when the backend's wire format is a prefix plus an Avro datum (`avro_local`,
    /// `avro_schema_registry`), the schema has no auto-added fields to fill ([`autofill`]) and
    /// the payload type encodes that way; anything else goes through apache-avro's `Value` and
    /// schema resolution, which also names the field at fault when a payload does not fit.
    /// Both paths write the same bytes and the same decoded key.
    ///
    /// The first message of a payload type on a topic, schema and key configuration prepares
    /// its path: schemas, and the backend's wire prefixes ([`SchemaBackend::datum_prefix`];
    /// for the registry, the schemas' ids, registering them if needed), which are kept for the
    /// life of the codec.
    ///
    /// # Errors
    /// [`Error::Encode`] naming the field or key that does not fit, or the registry error
    /// while preparing (registry unreachable, schema refused); [`Error::SchemaLoad`].
    pub async fn encode_payload<P: serde::Serialize + 'static>(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        payload: &P,
        plain_key: Option<String>,
        want_value: bool,
    ) -> Result<EncodedPayload> {
        let mut plain_key = plain_key;
        let mut fast_failed = false;
        if !want_value {
            match self
                .encode_typed(
                    topic,
                    schema,
                    key_config,
                    payload,
                    &mut plain_key,
                    &mut BytesMut::new(),
                )
                .await?
            {
                FastEncode::Done(payload, key) => {
                    return Ok(EncodedPayload {
                        payload,
                        key,
                        value: None,
                    })
                }
                FastEncode::Failed => fast_failed = true,
                FastEncode::NotApplicable => {}
            }
        }
        let encoded = self
            .encode_via_value(topic, schema, key_config, payload, plain_key)
            .await?;
        if fast_failed {
            self.with_prepared(TypeId::of::<P>(), topic, schema, key_config, |p| {
                p.mark_slow::<P>();
            });
        }
        Ok(encoded)
    }

    /// An encoder for a run of payloads of type `P` on one `topic`, `schema` and `key_config`
    /// (a `publish_list`): [`PayloadEncoder::encode`] gives what [`Codec::encode_payload`]
    /// gives for each, and looks the prepared fast path up once, on the first payload,
    /// rather than once per message. Nothing is looked up or prepared before that. The
    /// encoder keeps its own copies of `topic`, `schema` and `key_config`.
    pub fn payload_encoder<P: serde::Serialize + 'static>(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        want_value: bool,
    ) -> PayloadEncoder<'_, P> {
        PayloadEncoder {
            codec: self,
            topic: topic.to_owned(),
            schema: schema.clone(),
            key_config: key_config.clone(),
            want_value,
            prepared: None,
            buf: BytesMut::new(),
            payload: PhantomData,
        }
    }

    /// Encodes a run of payloads of type `P` on one `topic`, `schema` and `key_config` (a
    /// `publish_list`), giving for each, in order, what [`Codec::encode_payload`] gives
    /// (`plain_key` makes each payload's key for `key_config(plain)`).
    ///
    /// The first payload prepares the path (see [`Codec::encode_payload`]). When the rest
    /// is at least [`PARALLEL_ENCODE_MIN`] payloads long and takes the typed fast path, it is
    /// encoded on rayon's global thread pool (one thread per core by default) in pieces of at
    /// least [`PARALLEL_ENCODE_CHUNK`] payloads, each thread writing into its own buffers of
    /// up to [`RUN_BUFFER_BYTES`]; the calling thread blocks until they are done, as it would
    /// while encoding them all itself. Payloads the fast path does not take are then encoded
    /// on the `Value` path, in order. Either way the result is the same bytes and keys.
    ///
    /// # Errors
    /// The error of the first payload in run order that fails, as [`Codec::encode_payload`]
    /// would return it.
    pub async fn encode_payloads<P, K>(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        payloads: &[&P],
        plain_key: K,
        want_value: bool,
    ) -> Result<Vec<EncodedPayload>>
    where
        P: serde::Serialize + Sync + 'static,
        K: Fn(&P) -> Option<String> + Sync,
    {
        let run = Run {
            topic,
            schema,
            key_config,
            want_value,
        };
        self.encode_run(run, payloads, plain_key, |_, encoded| encoded)
            .await
    }

    /// [`Codec::encode_payloads`], with each payload and its encoding mapped by `finish`
    /// (on the thread that encoded it).
    ///
    /// # Errors
    /// As [`Codec::encode_payloads`].
    pub(crate) async fn encode_run<P, K, F, T>(
        &self,
        run: Run<'_>,
        payloads: &[&P],
        plain_key: K,
        finish: F,
    ) -> Result<Vec<T>>
    where
        P: serde::Serialize + Sync + 'static,
        K: Fn(&P) -> Option<String> + Sync,
        F: Fn(&P, EncodedPayload) -> T + Sync,
        T: Send,
    {
        let Some((first, rest)) = payloads.split_first() else {
            return Ok(Vec::new());
        };
        let mut encoder =
            self.payload_encoder::<P>(run.topic, run.schema, run.key_config, run.want_value);
        let first = finish(first, encoder.encode(first, plain_key(first)).await?);
        let prepared = encoder
            .prepared
            .clone()
            .filter(|prepared| rest.len() >= PARALLEL_ENCODE_MIN && prepared.is_fast());
        let Some(prepared) = prepared else {
            if let Some(prepared) = &encoder.prepared {
                encoder.buf.reserve(prepared.run_bytes(rest.len()));
            }
            let mut done = Vec::with_capacity(payloads.len());
            done.push(first);
            for payload in rest {
                let encoded = encoder.encode(payload, plain_key(payload)).await?;
                done.push(finish(payload, encoded));
            }
            return Ok(done);
        };
        // One allocation for the whole run, written in place by rayon's threads (a run of
        // 10 000 messages is megabytes: fresh pages cost more than the moves).
        let mut outcomes = Vec::with_capacity(payloads.len());
        outcomes.push(Parallel::Done(first));
        let bytes = prepared.run_bytes(rest.len());
        outcomes.par_extend(
            rest.par_iter()
                .with_min_len(PARALLEL_ENCODE_CHUNK)
                .map_init(
                    || BytesMut::with_capacity(bytes),
                    |buf, payload| encode_fast(&prepared, *payload, &plain_key, &finish, buf),
                ),
        );
        if outcomes.iter().all(|o| matches!(o, Parallel::Done(_))) {
            // Collected in place, into the same allocation.
            return Ok(outcomes
                .into_iter()
                .filter_map(|o| match o {
                    Parallel::Done(done) => Some(done),
                    Parallel::Failed(_) | Parallel::Retry => None,
                })
                .collect());
        }
        let mut done = Vec::with_capacity(payloads.len());
        for (payload, outcome) in payloads.iter().zip(outcomes) {
            match outcome {
                Parallel::Done(finished) => done.push(finished),
                Parallel::Failed(error) => return Err(*error),
                // The encoder tries again and falls back to the `Value` path, which gives the
                // same bytes or explains the failure.
                Parallel::Retry => {
                    let encoded = encoder.encode(payload, plain_key(payload)).await?;
                    done.push(finish(payload, encoded));
                }
            }
        }
        Ok(done)
    }

    /// The `Value` path of [`Codec::encode_payload`]: serde to an Avro [`Value`], resolved
    /// against the schema and encoded by the backend, and the key made from the resolved
    /// value.
    ///
    /// # Errors
    /// As [`Codec::encode_payload`].
    async fn encode_via_value<P: serde::Serialize>(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        payload: &P,
        plain_key: Option<String>,
    ) -> Result<EncodedPayload> {
        let value = super::to_avro_value(payload).map_err(|source| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "payload",
            source,
        })?;
        let (resolved, bytes) = self
            .encode_value_with(topic, schema, value, || super::to_avro_value(payload).ok())
            .await?;
        let key = self
            .encode_key_from_value(topic, schema, key_config, &resolved, plain_key)
            .await?;
        Ok(EncodedPayload {
            payload: bytes.into(),
            key: key.map(|(decoded, bytes)| (decoded, bytes.into())),
            value: Some(resolved),
        })
    }

    /// The typed fast path: serializes `payload` straight into the backend's wire bytes with
    /// `serde_avro_fast` (no intermediate [`Value`]), and the key from the key fields alone,
    /// along the path prepared for `P` ([`Codec::prepare_path`]). Takes `plain_key` only when it
    /// returns [`FastEncode::Done`].
    ///
    /// # Errors
    /// A `key_config(plain)` payload without a key; errors while preparing.
    async fn encode_typed<P: serde::Serialize + 'static>(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        payload: &P,
        plain_key: &mut Option<String>,
        buf: &mut BytesMut,
    ) -> Result<FastEncode> {
        if !self.backend.validates() {
            return Ok(FastEncode::NotApplicable);
        }
        let found = self.with_prepared(TypeId::of::<P>(), topic, schema, key_config, |p| {
            p.encode(payload, plain_key, &mut *buf)
        });
        match found {
            Some(done) => done,
            None => self
                .prepare_path(TypeId::of::<P>(), topic, schema, key_config)
                .await?
                .encode(payload, plain_key, buf),
        }
    }

    /// Runs `f` on the path prepared for payload type `type_id` on `topic`, `schema` and
    /// `key_config`, if there is one (under the read lock: no reference count changes hands).
    fn with_prepared<R>(
        &self,
        type_id: TypeId,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        f: impl FnOnce(&Arc<Prepared>) -> R,
    ) -> Option<R> {
        let paths = self.prepared.read().unwrap_or_else(|e| e.into_inner());
        let found = paths
            .get(&type_id)?
            .iter()
            .find(|p| p.is(topic, schema, key_config))?;
        Some(f(found))
    }

    /// The path prepared for payload type `type_id` on `topic`, `schema` and `key_config`,
    /// preparing it if there is none yet ([`Codec::prepare_path`]).
    ///
    /// # Errors
    /// As [`Codec::prepare_path`].
    async fn prepared_path(
        &self,
        type_id: TypeId,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
    ) -> Result<Arc<Prepared>> {
        match self.with_prepared(type_id, topic, schema, key_config, |p| p.clone()) {
            Some(found) => Ok(found),
            None => self.prepare_path(type_id, topic, schema, key_config).await,
        }
    }

    /// Prepares the fast path of payload type `type_id` on `topic`, `schema` and `key_config`:
    /// loads the value schema and the key schema (generated for a field key), converts them to
    /// `serde_avro_fast`'s form, and asks the backend for the value's and then the key's wire
    /// prefix (the registry registers or looks up the schemas here, value first). A path where
    /// the fast path does not apply is kept too (as such). Nothing is kept on an error, so the
    /// next message tries again.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] for the value or key schema; [`Error::Encode`] (`what` =
    /// `"payload"` or `"key"`) when the backend cannot make the prefix (registry unreachable,
    /// schema refused) or the key schema is not a record.
    async fn prepare_path(
        &self,
        type_id: TypeId,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
    ) -> Result<Arc<Prepared>> {
        let plan = self.plan(topic, schema, key_config).await?;
        let prepared = Arc::new(Prepared {
            topic: topic.to_owned(),
            schema: schema.clone(),
            key_config: key_config.clone(),
            plan,
            slow: AtomicBool::new(false),
        });
        let mut paths = self.prepared.write().unwrap_or_else(|e| e.into_inner());
        let same_type = paths.entry(type_id).or_default();
        // Another task may have prepared the same path meanwhile: keep the first.
        if let Some(found) = same_type.iter().find(|p| p.is(topic, schema, key_config)) {
            return Ok(found.clone());
        }
        same_type.push(prepared.clone());
        Ok(prepared)
    }

    /// The fast path's plan for `schema` and `key_config` on `topic`; `None` when it does not
    /// apply. See [`Codec::prepare_path`].
    async fn plan(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
    ) -> Result<Option<FastPlan>> {
        let entry = self.fast_entry(schema).await?;
        let Some(fast) = entry.fast.clone() else {
            return Ok(None);
        };
        if entry.autofill {
            return Ok(None);
        }
        let err = |what: &'static str, source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what,
            source,
        };
        let prefix = self
            .backend
            .datum_prefix(SerializationContext::value(topic), schema, &entry.avro)
            .await
            .map_err(|source| err("payload", source))?;
        let Some(prefix) = prefix else {
            return Ok(None);
        };
        let (field, key_ref, key_schema) = match key_config {
            KeyConfig::None | KeyConfig::Plain => {
                let key = match key_config {
                    KeyConfig::None => FastKey::None,
                    _ => FastKey::Plain,
                };
                return Ok(Some(FastPlan {
                    fast,
                    prefix: prefix.into(),
                    last_len: AtomicUsize::new(0),
                    key,
                }));
            }
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                (true, key_ref, key_schema)
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                (false, key_ref, key_schema)
            }
        };
        let Schema::Record(RecordSchema { fields, .. }) = key_schema.as_ref() else {
            return Err(err(
                "key",
                format!("key schema `{key_ref}` is not a record").into(),
            ));
        };
        let names = fields.iter().map(|f| f.name.clone()).collect();
        let Some(key_fast) = fast_schema(&key_ref, &key_schema) else {
            return Ok(None);
        };
        let key_prefix = self
            .backend
            .datum_prefix(SerializationContext::key(topic), &key_ref, &key_schema)
            .await
            .map_err(|source| err("key", source))?;
        let Some(key_prefix) = key_prefix else {
            return Ok(None);
        };
        Ok(Some(FastPlan {
            fast,
            prefix: prefix.into(),
            last_len: AtomicUsize::new(0),
            key: FastKey::Avro(AvroKey {
                field,
                names,
                spans: KeySpans::plan(&entry.avro, &key_schema),
                avro: key_schema,
                fast: key_fast,
                prefix: key_prefix.into(),
                last_len: AtomicUsize::new(0),
            }),
        }))
    }

    /// Decodes a message value for a typed handler: the raw datum when the backend's bytes are
    /// an Avro datum in the reader schema ([`SchemaBackend::datum_body`]), so the handler's
    /// type is read straight from bytes; otherwise the decoded [`Value`].
    ///
    /// # Errors
    /// As [`Codec::decode_value`].
    pub async fn decode_incoming(
        &self,
        schema: &SchemaRef,
        bytes: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<Incoming> {
        let Some(raw) = bytes else {
            return Ok(Incoming::Value(None));
        };
        if !self.backend.validates() {
            return self
                .decode_value(schema, bytes, at)
                .await
                .map(Incoming::Value);
        }
        let entry = self.fast_entry(schema).await?;
        if let Some(datum) = self.fast_datum(&entry, schema, raw, at, true).await? {
            return Ok(Incoming::Datum(datum));
        }
        self.decode_value(schema, bytes, at)
            .await
            .map(Incoming::Value)
    }

    /// Prepares decoding for one consumer (value schema and key configuration), so that
    /// [`Codec::decode_message`] finds its schemas without cache lookups per message. Loads
    /// the schemas now.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the value schema or the key schema cannot be loaded.
    pub async fn decoder(&self, schema: &SchemaRef, key_config: &KeyConfig) -> Result<Decoder> {
        let value = if self.backend.validates() {
            Some(self.fast_entry(schema).await?)
        } else {
            None
        };
        let key = match key_config {
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                let primitive = match &key_schema.as_ref() {
                    Schema::Record(r) if r.fields.len() == 1 => match r.fields[0].schema {
                        Schema::Long => Some(KeyPrimitive::Long),
                        Schema::Int => Some(KeyPrimitive::Int),
                        Schema::String => Some(KeyPrimitive::String),
                        _ => None,
                    },
                    _ => None,
                };
                let fast = match primitive {
                    Some(_) if self.backend.validates() => fast_schema(&key_ref, &key_schema)
                        .map(|f| (f, primitive.unwrap_or(KeyPrimitive::Long))),
                    _ => None,
                };
                Some((key_ref, key_schema, fast))
            }
            _ => None,
        };
        Ok(Decoder {
            schema: schema.clone(),
            key_config: key_config.clone(),
            value,
            key,
        })
    }

    /// Decodes a message's key and value as [`Codec::decode_key`] and
    /// [`Codec::decode_incoming`] do, with the schemas `decoder` prepared. A `key_config(field)`
    /// key whose field is a `long`, `int` or `string` is read straight from the datum when the
    /// backend hands over the datum written with the local key schema.
    ///
    /// Unlike [`Codec::decode_incoming`], a value for the typed fast path
    /// ([`Incoming::Datum`]) is not walked by the guard here: it is checked as it is read,
    /// once, by [`Datum::deserialize_fast`] (bounded by `serde_avro_fast`'s limits) or
    /// [`Datum::to_value`] (the guard), whose errors the consumer reports as
    /// [`Error::Decode`] of the payload.
    ///
    /// # Errors
    /// As [`Codec::decode_key`] and [`Codec::decode_incoming`], except for a fast-path value's
    /// datum (see above).
    pub async fn decode_message(
        &self,
        decoder: &Decoder,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<(Option<Value>, Incoming)> {
        if let Some(decoded) = self.decode_message_now(decoder, key, value, at) {
            return decoded;
        }
        let key = match (&decoder.key, key) {
            (Some((key_ref, key_schema, Some((fast, primitive)))), Some(bytes)) => {
                let body = self
                    .backend
                    .datum_body(SerializationContext::key(at.0), key_ref, key_schema, bytes)
                    .await
                    .map_err(|source| decode_err(at, key_ref, "key", source))?;
                match body {
                    Some(body) => Some(
                        primitive
                            .read(fast, body)
                            .map_err(|source| decode_err(at, key_ref, "key", source))?,
                    ),
                    None => {
                        self.decode_key(&decoder.schema, &decoder.key_config, Some(bytes), at)
                            .await?
                    }
                }
            }
            _ => {
                self.decode_key(&decoder.schema, &decoder.key_config, key, at)
                    .await?
            }
        };
        let value = match (&decoder.value, value) {
            (Some(entry), Some(raw)) => {
                match self
                    .fast_datum(entry, &decoder.schema, raw, at, false)
                    .await?
                {
                    Some(datum) => Incoming::Datum(datum),
                    None => Incoming::Value(self.decode_value(&decoder.schema, value, at).await?),
                }
            }
            _ => self.decode_incoming(&decoder.schema, value, at).await?,
        };
        Ok((key, value))
    }

    /// [`Codec::decode_message`] without waiting, when that is possible: the fast paths
    /// (`key_config(field)` with a primitive key field, typed values), with the backend's
    /// framing known ([`SchemaBackend::datum_body_now`]); `None` sends the caller to
    /// `decode_message` (which tries this first).
    pub(crate) fn decode_message_now(
        &self,
        decoder: &Decoder,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Option<Result<(Option<Value>, Incoming)>> {
        let key = match (&decoder.key, key) {
            (_, None) => None,
            (Some((key_ref, key_schema, Some((fast, primitive)))), Some(bytes)) => {
                let body = match self.backend.datum_body_now(
                    SerializationContext::key(at.0),
                    key_ref,
                    key_schema,
                    bytes,
                )? {
                    Ok(Some(body)) => body,
                    Ok(None) => return None,
                    Err(source) => return Some(Err(decode_err(at, key_ref, "key", source))),
                };
                match primitive.read(fast, body) {
                    Ok(key) => Some(key),
                    Err(source) => return Some(Err(decode_err(at, key_ref, "key", source))),
                }
            }
            _ => return None,
        };
        let value = match (&decoder.value, value) {
            (_, None) => Incoming::Value(None),
            (Some(entry), Some(raw)) => {
                let fast = entry.fast.as_ref()?;
                let body = match self.backend.datum_body_now(
                    SerializationContext::value(at.0),
                    &decoder.schema,
                    &entry.avro,
                    raw,
                )? {
                    Ok(Some(body)) => body,
                    Ok(None) => return None,
                    Err(source) => {
                        return Some(Err(decode_err(at, &decoder.schema, "payload", source)))
                    }
                };
                Incoming::Datum(entry.datum(fast, body))
            }
            (None, Some(_)) => return None,
        };
        Some(Ok((key, value)))
    }

    /// The datum of `raw` for the fast path, or `None` when it needs the general path. With
    /// `guard`, checked here ([`super::guard::check_datum`]); without, the datum is only
    /// framed, and is checked as it is read ([`Datum::deserialize_fast`]'s limits, or the
    /// guard in [`Datum::to_value`]).
    async fn fast_datum(
        &self,
        entry: &FastEntry,
        schema: &SchemaRef,
        raw: &[u8],
        at: (&str, i32, i64),
        guard: bool,
    ) -> Result<Option<Datum>> {
        let Some(fast) = &entry.fast else {
            return Ok(None);
        };
        let body = self
            .backend
            .datum_body(SerializationContext::value(at.0), schema, &entry.avro, raw)
            .await
            .map_err(|source| decode_err(at, schema, "payload", source))?;
        let Some(body) = body else {
            return Ok(None);
        };
        if guard {
            // Untrusted bytes: the same guard as every other decode, so a hostile or malformed
            // datum is a decode error here.
            let checked = super::guard::check_datum(&entry.avro, body)
                .map_err(BoxError::from)
                .and_then(|len| match body.len() - len {
                    0 => Ok(()),
                    extra => Err(format!("{extra} trailing bytes after the Avro datum").into()),
                });
            checked.map_err(|source| decode_err(at, schema, "payload", source))?;
        }
        Ok(Some(entry.datum(fast, body)))
    }

    /// The schema of a message value. A backend that does not validate (`mock`) needs none:
    /// when it has no `.avsc` for the name, values pass with a `null` placeholder schema (no
    /// auto-added fields, nothing checked; `mock` ignores the schema it is given).
    async fn value_schema(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        match self.backend.schema(schema).await {
            Err(Error::SchemaLoad { .. }) if !self.backend.validates() => {
                static NONE: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
                Ok(NONE.get_or_init(|| Arc::new(Schema::Null)).clone())
            }
            other => other,
        }
    }

    /// Resolves `value` against `schema` when the backend validates; passes it through for
    /// `mock`.
    fn prepare(&self, value: Value, schema: &Schema) -> Result<Value, BoxError> {
        if self.backend.validates() {
            resolve(value, schema)
        } else {
            Ok(value)
        }
    }

    /// Resolves `value` against `schema` (Avro "Schema Resolution": promotions, defaults for
    /// missing fields) and encodes it. First fills `message_id` and `timestamp` when the
    /// schema has them and the value leaves them unset (see [`autofill`]).
    ///
    /// # Errors
    /// [`Error::SchemaLoad`], or [`Error::Encode`] naming the topic, schema and what did not
    /// fit.
    pub async fn encode_value(
        &self,
        topic: &str,
        schema: &SchemaRef,
        value: Value,
    ) -> Result<(Value, Vec<u8>)> {
        self.encode_value_with(topic, schema, value, || None).await
    }

    /// As [`Codec::encode_value`]; when resolution fails, `rebuild` may supply the value again
    /// so the error can name the field that did not fit (the first attempt consumed it; the
    /// common, successful path resolves once and clones nothing).
    pub(crate) async fn encode_value_with(
        &self,
        topic: &str,
        schema: &SchemaRef,
        value: Value,
        rebuild: impl FnOnce() -> Option<Value>,
    ) -> Result<(Value, Vec<u8>)> {
        let avro = self.value_schema(schema).await?;
        let err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "payload",
            source,
        };
        let mut value = value;
        autofill(&mut value, &avro);
        let resolved = match self.prepare(value, &avro) {
            Ok(resolved) => resolved,
            Err(first) => {
                let reason = rebuild().and_then(|v| diagnose(v, &avro)).unwrap_or(first);
                return Err(err(reason));
            }
        };
        let bytes = self
            .backend
            .encode(
                SerializationContext::value(topic),
                schema,
                &avro,
                resolved.clone(),
            )
            .await
            .map_err(err)?;
        Ok((resolved, bytes))
    }

    /// Makes the key of a message whose resolved value is `value`.
    ///
    /// Returns the decoded form (for test capture) and the wire bytes; `None` for
    /// `key_config(none)`.
    ///
    /// # Errors
    /// [`Error::Encode`] (`what = "key"`) when the key field is missing or does not fit.
    pub async fn encode_key_from_value(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        value: &Value,
        plain_key: Option<String>,
    ) -> Result<Option<(Value, Vec<u8>)>> {
        let key_err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "key",
            source,
        };
        match key_config {
            KeyConfig::None => Ok(None),
            KeyConfig::Plain => {
                let key = plain_key.ok_or_else(|| {
                    key_err("`key_config(plain)` producer returned no key".into())
                })?;
                Ok(Some((Value::String(key.clone()), key.into_bytes())))
            }
            KeyConfig::Field(field) => {
                let fields = record_fields(value).map_err(key_err)?;
                let v = fields
                    .iter()
                    .find(|(name, _)| name == field.as_ref())
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| key_err(format!("payload has no key field `{field}`").into()))?;
                self.encode_key(topic, schema, key_config, v)
                    .await
                    .map(Some)
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                let Schema::Record(RecordSchema {
                    fields: key_fields, ..
                }) = key_schema.as_ref()
                else {
                    return Err(key_err(
                        format!("key schema `{key_ref}` is not a record").into(),
                    ));
                };
                let fields = record_fields(value).map_err(key_err)?;
                let mut record = Vec::with_capacity(key_fields.len());
                for kf in key_fields {
                    let v = fields
                        .iter()
                        .find(|(n, _)| *n == kf.name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| {
                            key_err(
                                format!(
                                    "payload has no field `{}` for key schema `{key_ref}`",
                                    kf.name
                                )
                                .into(),
                            )
                        })?;
                    record.push((kf.name.clone(), v));
                }
                self.encode_key(topic, schema, key_config, Value::Record(record))
                    .await
                    .map(Some)
            }
        }
    }

    /// Encodes a key given directly (tombstones, or a caller-supplied key): for
    /// `key_config(field)` the field's value, for `key_config(schema)` the key record, for
    /// `key_config(plain)` a string.
    ///
    /// # Errors
    /// [`Error::Encode`] (`what = "key"`) when it does not fit the key schema, or for
    /// `key_config(none)`, which has no key.
    pub async fn encode_key(
        &self,
        topic: &str,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        key: Value,
    ) -> Result<(Value, Vec<u8>)> {
        let key_err = |source: BoxError| Error::Encode {
            topic: topic.to_owned(),
            schema: schema.full_name(),
            what: "key",
            source,
        };
        match key_config {
            KeyConfig::None => Err(key_err("`key_config(none)` has no key".into())),
            KeyConfig::Plain => match key {
                Value::String(s) => Ok((Value::String(s.clone()), s.into_bytes())),
                other => Err(key_err(
                    format!("a plain key must be a string, found {other:?}").into(),
                )),
            },
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                let record = if is_key_record(&key, field, &key_schema) {
                    key
                } else {
                    Value::Record(vec![(field.to_string(), key)])
                };
                let resolved = self.prepare(record, &key_schema).map_err(key_err)?;
                let bytes = self
                    .backend
                    .encode(
                        SerializationContext::key(topic),
                        &key_ref,
                        &key_schema,
                        resolved.clone(),
                    )
                    .await
                    .map_err(key_err)?;
                let decoded = match &resolved {
                    Value::Record(f) => f.first().map(|(_, v)| v.clone()).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                Ok((decoded, bytes))
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                let resolved = self.prepare(key, &key_schema).map_err(key_err)?;
                let bytes = self
                    .backend
                    .encode(
                        SerializationContext::key(topic),
                        &key_ref,
                        &key_schema,
                        resolved.clone(),
                    )
                    .await
                    .map_err(key_err)?;
                Ok((resolved, bytes))
            }
        }
    }

    /// Decodes a message value (`None` stays `None`: a tombstone).
    ///
    /// # Errors
    /// [`Error::Decode`] naming topic, partition, offset and schema.
    pub async fn decode_value(
        &self,
        schema: &SchemaRef,
        bytes: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<Option<Value>> {
        let Some(bytes) = bytes else { return Ok(None) };
        let avro = self.value_schema(schema).await?;
        self.backend
            .decode(SerializationContext::value(at.0), schema, &avro, bytes)
            .await
            .map(Some)
            .map_err(|source| decode_err(at, schema, "payload", source))
    }

    /// Decodes a message key per `key_config`: the field value for `field`, the record for
    /// `schema`, a string for `plain`, and the raw bytes (`Value::Bytes`) for `none`.
    ///
    /// # Errors
    /// [`Error::Decode`] (`what = "key"`).
    pub async fn decode_key(
        &self,
        schema: &SchemaRef,
        key_config: &KeyConfig,
        bytes: Option<&[u8]>,
        at: (&str, i32, i64),
    ) -> Result<Option<Value>> {
        let Some(bytes) = bytes else { return Ok(None) };
        let err = |s: &SchemaRef, source: BoxError| decode_err(at, s, "key", source);
        match key_config {
            KeyConfig::None => Ok(Some(Value::Bytes(bytes.to_vec()))),
            KeyConfig::Plain => String::from_utf8(bytes.to_vec())
                .map(|s| Some(Value::String(s)))
                .map_err(|e| err(schema, format!("plain key is not UTF-8: {e}").into())),
            KeyConfig::Field(field) => {
                let (key_ref, key_schema) = self.field_key_schema(schema, field).await?;
                let v = self
                    .backend
                    .decode(
                        SerializationContext::key(at.0),
                        &key_ref,
                        &key_schema,
                        bytes,
                    )
                    .await
                    .map_err(|e| err(&key_ref, e))?;
                match v {
                    Value::Record(mut fields) if fields.len() == 1 => Ok(Some(fields.remove(0).1)),
                    other => Err(err(
                        &key_ref,
                        format!("expected a one-field key record, found {other:?}").into(),
                    )),
                }
            }
            KeyConfig::Schema(name) => {
                let key_ref = schema.sibling(name);
                let key_schema = self.backend.schema(&key_ref).await?;
                self.backend
                    .decode(
                        SerializationContext::key(at.0),
                        &key_ref,
                        &key_schema,
                        bytes,
                    )
                    .await
                    .map(Some)
                    .map_err(|e| err(&key_ref, e))
            }
        }
    }

    /// The generated key schema for `key_config(field = ..)`: record `<Name>_key`, same
    /// namespace, with the value schema's definition of that one field.
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the value schema has no such field.
    pub async fn field_key_schema(
        &self,
        schema: &SchemaRef,
        field: &str,
    ) -> Result<(SchemaRef, Arc<Schema>)> {
        let key_ref = schema.sibling(&format!("{}_key", schema.name));
        let cache_key = (schema.clone(), field.to_owned());
        if let Some(found) = self
            .field_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
        {
            return Ok((key_ref, found.clone()));
        }
        let value_schema = self.backend.schema(schema).await?;
        let load_err = |source: BoxError| Error::SchemaLoad {
            schema: key_ref.full_name(),
            source,
        };
        let Schema::Record(RecordSchema { fields, .. }) = value_schema.as_ref() else {
            return Err(load_err(
                format!("value schema `{schema}` is not a record").into(),
            ));
        };
        let f = fields.iter().find(|f| f.name == field).ok_or_else(|| {
            load_err(format!("value schema `{schema}` has no field `{field}`").into())
        })?;
        // The field may name types defined elsewhere in the value schema (`"type": "Address"`):
        // the key schema stands alone, so those definitions are inlined at first use.
        let resolved = apache_avro::schema::ResolvedSchema::try_from(value_schema.as_ref())
            .map_err(|e| load_err(e.into()))?;
        let field_json = super::names::inline_named(&f.schema, resolved.get_names())
            .map_err(|e| load_err(e.into()))?;
        let mut json = serde_json::json!({
            "type": "record",
            "name": key_ref.name,
            "fields": [{"name": field, "type": field_json}],
        });
        if let Some(ns) = &schema.namespace {
            json["namespace"] = serde_json::Value::String(ns.to_string());
        }
        let key_schema = Arc::new(super::names::parse_schema_json(&json).map_err(load_err)?);
        self.field_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key, key_schema.clone());
        Ok((key_ref, key_schema))
    }
}

/// Deimos' auto-added fields. When the record schema has a field named `message_id` or
/// `timestamp` and `value` leaves it unset (absent, null, or an empty string), fills it:
///
/// - `message_id`: a new random UUID (v4), as a string (or a `uuid` logical value).
/// - `timestamp`: now, in the field's representation: a string gets RFC 3339 UTC with
///   milliseconds (`2026-11-30T09:15:02.123Z`; Deimos writes Ruby's `Time#to_s`, which no
///   other client parses reliably); `timestamp-millis` / `-micros` / `-nanos` (and their
///   `local-` forms) get the epoch time in that unit; a plain `long` gets epoch
///   milliseconds (Kafka's unit for timestamps), a plain `int` epoch seconds and a `double`
///   fractional epoch seconds. Other types are left alone.
///
/// Nullable fields (`["null", T]`) are filled per `T`. Values that are not records are left
/// alone.
pub fn autofill(value: &mut Value, schema: &Schema) {
    let (Value::Record(fields), Schema::Record(record)) = (value, schema) else {
        return;
    };
    for name in ["message_id", "timestamp"] {
        let Some(&i) = record.lookup.get(name) else {
            continue;
        };
        let slot = fields.iter().position(|(n, _)| n == name);
        let unset = match slot.map(|j| &fields[j].1) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Union(_, inner)) => {
                matches!(inner.as_ref(), Value::Null)
                    || matches!(inner.as_ref(), Value::String(s) if s.is_empty())
            }
            Some(_) => false,
        };
        if !unset {
            continue;
        }
        let Some(fill) = fill_value(name, &record.fields[i].schema) else {
            continue;
        };
        match slot {
            Some(j) => fields[j].1 = fill,
            None => fields.push((name.to_owned(), fill)),
        }
    }
}

fn fill_value(name: &str, schema: &Schema) -> Option<Value> {
    if let Schema::Union(u) = schema {
        return u
            .variants()
            .iter()
            .filter(|s| !matches!(s, Schema::Null))
            .find_map(|s| fill_value(name, s));
    }
    if name == "message_id" {
        let id = uuid::Uuid::new_v4();
        return match schema {
            Schema::String => Some(Value::String(id.to_string())),
            Schema::Uuid => Some(Value::Uuid(id)),
            _ => None,
        };
    }
    let now = std::time::SystemTime::now();
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let millis = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let micros = i64::try_from(since.as_micros()).unwrap_or(i64::MAX);
    let nanos = i64::try_from(since.as_nanos()).unwrap_or(i64::MAX);
    match schema {
        Schema::String => Some(Value::String(
            humantime::format_rfc3339_millis(now).to_string(),
        )),
        Schema::TimestampMillis => Some(Value::TimestampMillis(millis)),
        Schema::TimestampMicros => Some(Value::TimestampMicros(micros)),
        Schema::LocalTimestampMillis => Some(Value::LocalTimestampMillis(millis)),
        Schema::LocalTimestampMicros => Some(Value::LocalTimestampMicros(micros)),
        Schema::TimestampNanos => Some(Value::TimestampNanos(nanos)),
        Schema::LocalTimestampNanos => Some(Value::LocalTimestampNanos(nanos)),
        Schema::Long => Some(Value::Long(millis)),
        Schema::Int => i32::try_from(since.as_secs()).ok().map(Value::Int),
        Schema::Double => Some(Value::Double(since.as_secs_f64())),
        _ => None,
    }
}

/// Whether [`autofill`] may have work to do for this schema.
fn needs_autofill(schema: &Schema) -> bool {
    matches!(schema, Schema::Record(r)
        if r.lookup.contains_key("message_id") || r.lookup.contains_key("timestamp"))
}

/// Encodes a run of typed payloads of one type on one topic, schema and key configuration
/// (made by [`Codec::payload_encoder`]; a `publish_list` is such a run). Each
/// [`PayloadEncoder::encode`] gives what [`Codec::encode_payload`] would: same bytes, same
/// key, same errors; the difference is that the prepared fast path is looked up once, on
/// the first payload, instead of once per message.
pub struct PayloadEncoder<'c, P: ?Sized> {
    codec: &'c Codec,
    topic: String,
    schema: SchemaRef,
    key_config: KeyConfig,
    want_value: bool,
    /// The prepared fast path, once the first payload looked it up.
    prepared: Option<Arc<Prepared>>,
    /// Where the fast path writes this encoder's datums (see [`EncodedPayload`]).
    buf: BytesMut,
    payload: PhantomData<fn(&P)>,
}

impl<P: ?Sized> std::fmt::Debug for PayloadEncoder<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadEncoder")
            .field("topic", &self.topic)
            .field("schema", &self.schema)
            .field("key_config", &self.key_config)
            .field("want_value", &self.want_value)
            .field("payload", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

impl<P: serde::Serialize + 'static> PayloadEncoder<'_, P> {
    /// Encodes one payload and makes its key, as [`Codec::encode_payload`] does with this
    /// encoder's topic, schema, key configuration and `want_value` (`plain_key` for
    /// `key_config(plain)`). The first call prepares the fast path when needed (for the
    /// registry: registers or looks up the schemas); a failure there is returned and the
    /// next call tries again.
    ///
    /// # Errors
    /// As [`Codec::encode_payload`].
    pub async fn encode(
        &mut self,
        payload: &P,
        plain_key: Option<String>,
    ) -> Result<EncodedPayload> {
        let mut plain_key = plain_key;
        let mut fast_failed = false;
        if !self.want_value && self.codec.backend.validates() {
            let prepared = match self.prepared.take() {
                Some(prepared) => prepared,
                None => {
                    self.codec
                        .prepared_path(
                            TypeId::of::<P>(),
                            &self.topic,
                            &self.schema,
                            &self.key_config,
                        )
                        .await?
                }
            };
            let prepared = self.prepared.insert(prepared);
            match prepared.encode(payload, &mut plain_key, &mut self.buf)? {
                FastEncode::Done(payload, key) => {
                    return Ok(EncodedPayload {
                        payload,
                        key,
                        value: None,
                    })
                }
                FastEncode::Failed => fast_failed = true,
                FastEncode::NotApplicable => {}
            }
        }
        let encoded = self
            .codec
            .encode_via_value(
                &self.topic,
                &self.schema,
                &self.key_config,
                payload,
                plain_key,
            )
            .await?;
        if fast_failed {
            if let Some(prepared) = &self.prepared {
                prepared.mark_slow::<P>();
            }
        }
        Ok(encoded)
    }
}

impl Prepared {
    /// The buffer to allocate for the datums of `messages` messages along this path: about
    /// the last value and key lengths and half as much again each, at most
    /// [`RUN_BUFFER_BYTES`].
    fn run_bytes(&self, messages: usize) -> usize {
        let Some(plan) = &self.plan else {
            return 0;
        };
        let room = |prefix: &[u8], last: &AtomicUsize| {
            let last = last.load(Ordering::Relaxed);
            prefix.len() + last + last / 2
        };
        let key = match &plan.key {
            FastKey::Avro(key) => room(&key.prefix, &key.last_len),
            FastKey::None | FastKey::Plain => 0,
        };
        let per_message = room(&plan.prefix, &plan.last_len) + key;
        per_message.saturating_mul(messages).min(RUN_BUFFER_BYTES)
    }

    /// Whether payloads take the typed fast path here (a plan, and the payload type not
    /// marked slow).
    fn is_fast(&self) -> bool {
        self.plan.is_some() && !self.slow.load(Ordering::Relaxed)
    }

    /// Remembers that `P` fails the fast path here while the `Value` path takes it (a serde
    /// shape `serde_avro_fast` reads differently), so later messages skip the attempt.
    fn mark_slow<P: ?Sized>(&self) {
        if !self.slow.swap(true, Ordering::Relaxed) {
            tracing::debug!(schema = %self.schema, payload = std::any::type_name::<P>(),
                "payload type uses the Value path (serde_avro_fast could not encode it)");
        }
    }

    /// Whether this is the path for `topic`, `schema` and `key_config`.
    fn is(&self, topic: &str, schema: &SchemaRef, key_config: &KeyConfig) -> bool {
        self.topic == topic && self.schema == *schema && self.key_config == *key_config
    }

    /// Writes `payload`'s value and key along this path. Takes `plain_key` only when it
    /// returns [`FastEncode::Done`].
    ///
    /// # Errors
    /// A `key_config(plain)` payload without a key.
    fn encode<P: serde::Serialize + ?Sized>(
        &self,
        payload: &P,
        plain_key: &mut Option<String>,
        buf: &mut BytesMut,
    ) -> Result<FastEncode> {
        let Some(plan) = &self.plan else {
            return Ok(FastEncode::NotApplicable);
        };
        if self.slow.load(Ordering::Relaxed) {
            return Ok(FastEncode::NotApplicable);
        }
        // Room for the value and the key together: one allocation for both, or none while a
        // run's buffer lasts.
        buf.reserve(self.run_bytes(1));
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&plan.fast);
        start_datum(buf, &plan.prefix, &plan.last_len);
        let written = serde_avro_fast::to_datum(payload, (&mut *buf).writer(), &mut config).is_ok();
        let Some(bytes) = take_datum(buf, written, &plan.prefix, &plan.last_len) else {
            return Ok(FastEncode::Failed);
        };
        let key = match &plan.key {
            FastKey::None => None,
            FastKey::Plain => {
                let key = plain_key.take().ok_or_else(|| Error::Encode {
                    topic: self.topic.clone(),
                    schema: self.schema.full_name(),
                    what: "key",
                    source: "`key_config(plain)` producer returned no key".into(),
                })?;
                Some((Value::String(key.clone()), Bytes::from(key.into_bytes())))
            }
            FastKey::Avro(avro_key) => {
                let copied = avro_key
                    .spans
                    .as_ref()
                    .and_then(|spans| avro_key.copy(spans, &bytes[plan.prefix.len()..], buf));
                match copied.or_else(|| avro_key.encode(payload, buf)) {
                    Some(key) => Some(key),
                    None => return Ok(FastEncode::Failed),
                }
            }
        };
        Ok(FastEncode::Done(bytes, key))
    }
}

impl AvroKey {
    /// The key copied out of the value's datum (see [`KeySpans`]): its decoded form (read
    /// back from the same bytes, which for these plain primitives is what the `Value` path
    /// resolves the key fields to) and its wire bytes. `None` if the datum does not fit the
    /// plan; [`AvroKey::encode`] then writes the key.
    fn copy(&self, spans: &KeySpans, datum: &[u8], buf: &mut BytesMut) -> Option<(Value, Bytes)> {
        start_datum(buf, &self.prefix, &self.last_len);
        let decoded = if self.field {
            let mut first = None;
            spans
                .copy_key(datum, buf, |_, v| first = Some(v))
                .and(first)
        } else {
            let mut values = Vec::with_capacity(self.names.len());
            spans
                .copy_key(datum, buf, |_, v| values.push(v))
                .map(|()| Value::Record(self.names.iter().cloned().zip(values).collect()))
        };
        let bytes = take_datum(buf, decoded.is_some(), &self.prefix, &self.last_len)?;
        Some((decoded?, bytes))
    }

    /// The key of `payload`: its decoded form (as [`Codec::encode_key`] makes it: the field's
    /// resolved value for a field key, the resolved record for a schema key) and its wire
    /// bytes, written from the key fields alone. `None` when the payload does not fit this
    /// way (a field missing, a serde shape `serde_avro_fast` does not take): the `Value` path
    /// then gives the answer or the error.
    fn encode<P: serde::Serialize + ?Sized>(
        &self,
        payload: &P,
        buf: &mut BytesMut,
    ) -> Option<(Value, Bytes)> {
        let fields = super::extract::KeyFields::new(payload, &self.names);
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&self.fast);
        start_datum(buf, &self.prefix, &self.last_len);
        let written = serde_avro_fast::to_datum(&fields, (&mut *buf).writer(), &mut config).is_ok();
        let decoded = written.then(|| self.decoded(fields)).flatten();
        let bytes = take_datum(buf, decoded.is_some(), &self.prefix, &self.last_len)?;
        Some((decoded?, bytes))
    }

    /// The key's decoded form from the key fields' values, resolved against the key schema as
    /// the `Value` path resolves the key record; values that resolution would leave as they
    /// are (a `long` for a `long` field, ...) skip it.
    fn decoded<P: serde::Serialize + ?Sized>(
        &self,
        collected: super::extract::KeyFields<'_, P>,
    ) -> Option<Value> {
        let Schema::Record(RecordSchema { fields, .. }) = self.avro.as_ref() else {
            return None;
        };
        if self.field {
            let value = collected.into_first()?;
            if already_resolved(&value, &fields.first()?.schema) {
                return Some(value);
            }
            let record = Value::Record(vec![(self.names.first()?.clone(), value)]);
            return match resolve(record, &self.avro).ok()? {
                Value::Record(mut f) if !f.is_empty() => Some(f.swap_remove(0).1),
                _ => None,
            };
        }
        let values = collected.into_values()?;
        let as_is = values
            .iter()
            .zip(fields)
            .all(|(v, f)| already_resolved(v, &f.schema));
        let record = Value::Record(self.names.iter().cloned().zip(values).collect());
        if as_is {
            Some(record)
        } else {
            resolve(record, &self.avro).ok()
        }
    }
}

/// Starts a datum in `buf` (empty: every datum before it was split off): `prefix`, with room
/// for about `last_len` (the previous datum's length) and half as much again, so that most
/// datums are written without growing it. The room comes from what is left of `buf`'s
/// allocation when enough is; otherwise `buf` moves to a new one, at least as large as its
/// first (see [`RUN_BUFFER_BYTES`]).
fn start_datum(buf: &mut BytesMut, prefix: &[u8], last_len: &AtomicUsize) {
    let last = last_len.load(Ordering::Relaxed);
    buf.reserve(prefix.len() + last + last / 2);
    buf.extend_from_slice(prefix);
}

/// Where a run is encoded (see [`Codec::encode_payloads`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    /// The topic (prefix applied).
    pub(crate) topic: &'a str,
    /// The value schema.
    pub(crate) schema: &'a SchemaRef,
    /// The key configuration.
    pub(crate) key_config: &'a KeyConfig,
    /// Whether the resolved [`Value`] is wanted (see [`Codec::encode_payload`]).
    pub(crate) want_value: bool,
}

/// One payload's outcome on a thread of [`Codec::encode_run`] ([`encode_fast`]).
enum Parallel<T> {
    /// Encoded and finished.
    Done(T),
    /// Failed for good (a `key_config(plain)` payload without a key).
    Failed(Box<Error>),
    /// Not taken by the fast path: the caller encodes it on the `Value` path.
    Retry,
}

/// Encodes `payload` along `prepared`'s fast path and maps it by `finish` (on a thread of
/// rayon's pool, for [`Codec::encode_run`]).
fn encode_fast<P, K, F, T>(
    prepared: &Prepared,
    payload: &P,
    plain_key: &K,
    finish: &F,
    buf: &mut BytesMut,
) -> Parallel<T>
where
    P: serde::Serialize,
    K: Fn(&P) -> Option<String>,
    F: Fn(&P, EncodedPayload) -> T,
{
    match prepared.encode(payload, &mut plain_key(payload), buf) {
        Ok(FastEncode::Done(bytes, key)) => Parallel::Done(finish(
            payload,
            EncodedPayload {
                payload: bytes,
                key,
                value: None,
            },
        )),
        Ok(FastEncode::Failed | FastEncode::NotApplicable) => Parallel::Retry,
        Err(error) => Parallel::Failed(Box::new(error)),
    }
}

/// Ends the datum [`start_datum`] began in `buf`: when it was written (`ok`), splits it off
/// and remembers its length (without `prefix`) in `last_len`; otherwise drops what was
/// written and gives `None`.
fn take_datum(
    buf: &mut BytesMut,
    ok: bool,
    prefix: &[u8],
    last_len: &AtomicUsize,
) -> Option<Bytes> {
    if !ok {
        buf.clear();
        return None;
    }
    let bytes = buf.split().freeze();
    remember_len(last_len, bytes.len() - prefix.len());
    Some(bytes)
}

/// Keeps `len` as the last datum length for [`start_datum`], writing only when it changed: threads
/// encoding one run in parallel ([`Codec::encode_payloads`]) mostly read it, so its cache
/// line is not passed back and forth between cores on every message.
fn remember_len(last_len: &AtomicUsize, len: usize) {
    if last_len.load(Ordering::Relaxed) != len {
        last_len.store(len, Ordering::Relaxed);
    }
}

/// Whether resolving `value` against `schema` gives `value` back unchanged: a primitive
/// value of the schema's own type (no promotion, no logical type, no union).
fn already_resolved(value: &Value, schema: &Schema) -> bool {
    matches!(
        (value, schema),
        (Value::Null, Schema::Null)
            | (Value::Boolean(_), Schema::Boolean)
            | (Value::Int(_), Schema::Int)
            | (Value::Long(_), Schema::Long)
            | (Value::Float(_), Schema::Float)
            | (Value::Double(_), Schema::Double)
            | (Value::Bytes(_), Schema::Bytes)
            | (Value::String(_), Schema::String)
    )
}

/// `avro` in `serde_avro_fast`'s form (through its JSON); `None`, logged at debug level, when
/// that crate cannot read it, which leaves payloads of `schema` to the `Value` path.
fn fast_schema(schema: &SchemaRef, avro: &Schema) -> Option<Arc<serde_avro_fast::Schema>> {
    let parsed = serde_json::to_string(avro)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            json.parse::<serde_avro_fast::Schema>()
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(fast) => Some(Arc::new(fast)),
        Err(e) => {
            tracing::debug!(schema = %schema, error = %e,
                "serde_avro_fast cannot read this schema; typed payloads use the Value path");
            None
        }
    }
}

/// A decoded message value on its way to a typed handler (see [`Codec::decode_incoming`]).
#[derive(Debug)]
pub enum Incoming {
    /// A value decoded to [`Value`]; `None` for a tombstone.
    Value(Option<Value>),
    /// A raw Avro datum in the reader schema, deserialized by the handler's type.
    Datum(Datum),
}

/// Decoding prepared for one consumer by [`Codec::decoder`].
#[derive(Debug, Clone)]
pub struct Decoder {
    schema: SchemaRef,
    key_config: KeyConfig,
    value: Option<Arc<FastEntry>>,
    /// For `key_config(field)`: the key schema, and its fast form when the field is a
    /// primitive read directly.
    #[allow(clippy::type_complexity)]
    key: Option<(
        SchemaRef,
        Arc<Schema>,
        Option<(Arc<serde_avro_fast::Schema>, KeyPrimitive)>,
    )>,
}

/// A key field type read straight from the key datum.
#[derive(Debug, Clone, Copy)]
enum KeyPrimitive {
    Long,
    Int,
    String,
}

impl KeyPrimitive {
    /// The one field of a key record datum, as the `Value` the general path gives.
    fn read(self, fast: &serde_avro_fast::Schema, body: &[u8]) -> Result<Value, BoxError> {
        Ok(match self {
            KeyPrimitive::Long => Value::Long(fast_from_slice::<OnlyField<i64>>(fast, body)?.0),
            KeyPrimitive::Int => Value::Int(fast_from_slice::<OnlyField<i32>>(fast, body)?.0),
            KeyPrimitive::String => {
                Value::String(fast_from_slice::<OnlyField<String>>(fast, body)?.0)
            }
        })
    }
}

/// The value of a one-field record.
struct OnlyField<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for OnlyField<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = OnlyField<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a one-field key record")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let (_, value): (serde::de::IgnoredAny, T) = map
                    .next_entry()?
                    .ok_or_else(|| serde::de::Error::custom("empty key record"))?;
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(OnlyField(value))
            }
        }
        d.deserialize_map(Fields(PhantomData))
    }
}

/// Deserializes `T` from a bare datum with `serde_avro_fast`, with the limits of
/// [`Datum::deserialize_fast`]; trailing bytes are an error. Reads from the slice itself: a
/// length prefix beyond the bytes left is an end-of-input error before anything is allocated,
/// so no string or bytes allocation exceeds the datum's size.
fn fast_from_slice<T: serde::de::DeserializeOwned>(
    fast: &serde_avro_fast::Schema,
    bytes: &[u8],
) -> Result<T, BoxError> {
    use std::io::BufRead as _;
    let mut config = serde_avro_fast::de::DeserializerConfig::new(fast);
    config.max_seq_size = bytes.len() + SEQ_SLACK;
    let read = serde_avro_fast::de::read::SliceRead::new(bytes);
    let mut state = serde_avro_fast::de::DeserializerState::with_config(read, config);
    let t = T::deserialize(state.deserializer())?;
    let mut rest = state.into_reader();
    let left = rest.fill_buf().map_or(0, <[u8]>::len);
    if left != 0 {
        return Err(format!("{left} trailing bytes after the Avro datum").into());
    }
    Ok(t)
}

/// A raw Avro binary datum with the schema it was written in.
#[derive(Debug)]
pub struct Datum {
    bytes: Vec<u8>,
    fast: Arc<serde_avro_fast::Schema>,
    avro: Arc<Schema>,
    /// `avro` is a record with a top-level `timestamp` field (looked up once per schema).
    has_timestamp: bool,
}

impl Incoming {
    /// The payload's top-level `timestamp` field as milliseconds since the Unix epoch, for
    /// Deimos' `time:time_delayed` metric; `None` for a tombstone, a schema without the field,
    /// or a value that is not a time. Read as Deimos' auto-filled field is written (see
    /// [`Codec::encode_payload`]): a string in RFC 3339 or Ruby's `Time#to_s` form
    /// (`2024-01-31 12:00:00 -0500`), a `timestamp-millis` / `-micros` / `-nanos` or plain
    /// `long` (milliseconds), an `int` (seconds) or a `double` (seconds).
    pub fn payload_timestamp_ms(&self) -> Option<i64> {
        match self {
            Incoming::Value(None) => None,
            Incoming::Value(Some(Value::Record(fields))) => fields
                .iter()
                .find(|(name, _)| name == "timestamp")
                .and_then(|(_, v)| value_timestamp_ms(v)),
            Incoming::Value(Some(_)) => None,
            Incoming::Datum(datum) => {
                if !datum.has_timestamp {
                    return None;
                }
                let Schema::Record(record) = datum.avro.as_ref() else {
                    return None;
                };
                #[derive(serde::Deserialize)]
                struct TimestampOnly {
                    timestamp: Option<AnyTime>,
                }
                #[derive(serde::Deserialize)]
                #[serde(untagged)]
                enum AnyTime {
                    Long(i64),
                    Double(f64),
                    Text(String),
                }
                let t = datum.deserialize_fast::<TimestampOnly>().ok()?.timestamp?;
                let field = record
                    .lookup
                    .get("timestamp")
                    .and_then(|i| record.fields.get(*i))?;
                let value = match t {
                    AnyTime::Long(n) => match non_null(&field.schema) {
                        Some(Schema::Int) => Value::Int(i32::try_from(n).ok()?),
                        Some(Schema::TimestampMicros) => Value::TimestampMicros(n),
                        Some(Schema::TimestampNanos) => Value::TimestampNanos(n),
                        _ => Value::Long(n),
                    },
                    AnyTime::Double(d) => Value::Double(d),
                    AnyTime::Text(s) => Value::String(s),
                };
                value_timestamp_ms(&value)
            }
        }
    }
}

/// The one non-null branch of `schema` (itself when it is not a union).
fn non_null(schema: &Schema) -> Option<&Schema> {
    match schema {
        Schema::Union(u) => u.variants().iter().find(|s| !matches!(s, Schema::Null)),
        other => Some(other),
    }
}

fn value_timestamp_ms(value: &Value) -> Option<i64> {
    match value {
        Value::Union(_, inner) => value_timestamp_ms(inner),
        Value::Long(ms) | Value::TimestampMillis(ms) => Some(*ms),
        Value::TimestampMicros(us) => Some(us.div_euclid(1000)),
        Value::TimestampNanos(ns) => Some(ns.div_euclid(1_000_000)),
        Value::Int(secs) => Some(i64::from(*secs) * 1000),
        Value::Double(secs) if secs.is_finite() => Some((secs * 1000.0) as i64),
        Value::String(text) => {
            let text = text.trim();
            chrono::DateTime::parse_from_rfc3339(text)
                .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z"))
                .ok()
                .map(|t| t.timestamp_millis())
        }
        _ => None,
    }
}

/// Most elements a sequence may declare beyond the datum's size in bytes: only items that
/// take no bytes (nulls, empty records) can exceed it, and a hostile count must not spin.
const SEQ_SLACK: usize = 1 << 16;

impl Datum {
    /// Deserializes `T` straight from the bytes with `serde_avro_fast`. The bytes passed the
    /// guard ([`super::guard`]) in [`Codec::decode_incoming`], but not in
    /// [`Codec::decode_message`], where `serde_avro_fast`'s own limits are the check of
    /// untrusted bytes: no string or bytes allocation beyond the datum's own size,
    /// sequences of at most the datum's size plus 65 536 elements, nesting of at most 64
    /// levels.
    ///
    /// # Errors
    /// When the bytes are not a datum of the schema, `T` does not fit it, or `T`'s serde shape
    /// is one `serde_avro_fast` reads differently from apache-avro (callers then try
    /// [`Datum::to_value`]).
    pub fn deserialize_fast<T: serde::de::DeserializeOwned>(&self) -> Result<T, BoxError> {
        fast_from_slice(&self.fast, &self.bytes)
    }

    /// Decodes the datum to a [`Value`] with apache-avro.
    ///
    /// # Errors
    /// When the bytes are not a datum of the schema.
    pub fn to_value(&self) -> Result<Value, BoxError> {
        decode_datum(&self.avro, &self.bytes)
    }
}

/// Decodes one bare Avro binary datum written with `avro`, through the guard
/// ([`super::guard::decode_datum`]); trailing bytes are an error.
fn decode_datum(avro: &Schema, bytes: &[u8]) -> Result<Value, BoxError> {
    super::guard::decode_datum(avro, None, bytes)
}

fn decode_err(
    at: (&str, i32, i64),
    schema: &SchemaRef,
    what: &'static str,
    source: BoxError,
) -> Error {
    Error::Decode {
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        schema: schema.full_name(),
        what,
        source,
    }
}

/// Whether a `key_config(field)` key given to [`Codec::encode_key`] is already the key record
/// (`{field: value}`) rather than the field's value. A record-typed key field's value is a
/// record too, so only a one-entry record named after the field, for a field that is not
/// itself a record, counts as the key record.
fn is_key_record(key: &Value, field: &str, key_schema: &Schema) -> bool {
    let Value::Record(entries) = key else {
        return false;
    };
    let field_is_record = match key_schema {
        Schema::Record(r) => r
            .fields
            .first()
            .is_some_and(|f| matches!(f.schema, Schema::Record(_) | Schema::Ref { .. })),
        _ => false,
    };
    !field_is_record && entries.len() == 1 && entries[0].0 == field
}

fn record_fields(value: &Value) -> Result<&[(String, Value)], BoxError> {
    match value {
        Value::Record(fields) => Ok(fields),
        other => Err(format!("expected a record, found {other:?}").into()),
    }
}

/// Resolves a value against a schema (Avro spec "Schema Resolution"): promotions, defaults
/// for missing fields; fields the schema lacks are dropped. One pass of apache-avro's resolver,
/// after fixing up top-level UUID fields.
pub(crate) fn resolve(value: Value, schema: &Schema) -> Result<Value, BoxError> {
    let value = match (value, schema) {
        (Value::Record(fields), Schema::Record(record)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, v)| match record.lookup.get(&name) {
                    Some(&i) => {
                        let v = uuid_from_bytes(v, &record.fields[i].schema);
                        (name, v)
                    }
                    None => (name, v),
                })
                .collect(),
        ),
        (value, _) => value,
    };
    Ok(value.resolve(schema)?)
}

/// Explains why `value` does not resolve against a record `schema`, naming the first field at
/// fault; `None` when it cannot tell (not a record, or every field resolves on its own).
/// Slow (each field is resolved against the whole schema), so only used after a failure.
fn diagnose(value: Value, schema: &Schema) -> Option<BoxError> {
    let (Value::Record(mut fields), Schema::Record(record)) = (value, schema) else {
        return None;
    };
    for f in &record.fields {
        match fields.iter().position(|(n, _)| *n == f.name) {
            Some(i) => {
                let (_, v) = fields.swap_remove(i);
                if let Err(e) =
                    uuid_from_bytes(v, &f.schema).resolve_schemata(&f.schema, vec![schema])
                {
                    return Some(format!("field `{}`: {e}", f.name).into());
                }
            }
            None if f.default.is_none() => {
                return Some(format!("missing field `{}` (it has no default)", f.name).into());
            }
            None => {}
        }
    }
    None
}

/// `uuid::Uuid` serializes as 16 bytes through serde's non-human-readable path; an Avro `uuid`
/// (a string on the wire) wants the UUID itself. Converts a top-level `uuid` or
/// `["null", "uuid"]` field.
fn uuid_from_bytes(value: Value, schema: &Schema) -> Value {
    match (value, schema) {
        (Value::Bytes(b), Schema::Uuid) if b.len() == 16 => match uuid::Uuid::from_slice(&b) {
            Ok(u) => Value::Uuid(u),
            Err(_) => Value::Bytes(b),
        },
        (Value::Union(i, inner), Schema::Union(u)) => {
            let inner = match u.variants().iter().find(|s| matches!(s, Schema::Uuid)) {
                Some(uuid_schema) => uuid_from_bytes(*inner, uuid_schema),
                None => *inner,
            };
            Value::Union(i, Box::new(inner))
        }
        (value, _) => value,
    }
}

#[cfg(test)]
mod payload_timestamp_tests {
    use super::*;

    fn record(value: Value) -> Incoming {
        Incoming::Value(Some(Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("timestamp".into(), value),
        ])))
    }

    #[test]
    fn reads_every_representation_deimos_writes() {
        let ms = 1_706_720_400_000; // 2024-01-31T17:00:00Z
        let cases = [
            Value::String("2024-01-31T17:00:00Z".into()),
            Value::String("2024-01-31T12:00:00.000-05:00".into()),
            Value::String("2024-01-31 12:00:00 -0500".into()),
            Value::TimestampMillis(ms),
            Value::TimestampMicros(ms * 1000),
            Value::Long(ms),
            Value::Int((ms / 1000) as i32),
            Value::Double(ms as f64 / 1000.0),
            Value::Union(1, Box::new(Value::TimestampMillis(ms))),
        ];
        for value in cases {
            assert_eq!(
                record(value.clone()).payload_timestamp_ms(),
                Some(ms),
                "{value:?}"
            );
        }
        assert_eq!(
            record(Value::String("soon".into())).payload_timestamp_ms(),
            None
        );
        assert_eq!(record(Value::Null).payload_timestamp_ms(), None);
        assert_eq!(Incoming::Value(None).payload_timestamp_ms(), None);
    }
}
