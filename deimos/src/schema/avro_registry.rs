//! `avro_schema_registry`: local `.avsc` reader schemas, writer schemas in a Confluent Schema
//! Registry, Confluent's wire format.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use apache_avro::types::Value;
use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_id, perform_sr_call, post_schema, SrSettings,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    RawError, SchemaType, SrCall, SuppliedSchema,
};

use super::{AvroLocal, MessageField, SchemaBackend, SchemaRef, SerializationContext};
use crate::config::Secret;
use crate::config::{SchemaBackendKind, SchemaConfig, SubjectNameStrategy};
use crate::error::{BoxError, Error, Result};

/// The first byte of every Confluent-framed message (Confluent docs, "Wire format").
pub const MAGIC_BYTE: u8 = 0;

/// Magic byte plus the 4-byte schema id.
const HEADER_LEN: usize = 5;

/// Deimos' `avro_schema_registry` backend: the local `.avsc` files (as [`AvroLocal`] finds
/// them) are the reader schemas and, registered in a Confluent Schema Registry, the writer
/// schemas; messages are in Confluent's wire format.
///
/// **Wire format** (Confluent docs, "Wire format"): byte 0 is the magic byte `0`, bytes 1–4
/// the schema id (big-endian `u32`), the rest one Avro binary datum (Avro spec, "Binary
/// Encoding").
///
/// **Encode**: the subject comes from `schema.subject_name_strategy` and the
/// [`SerializationContext`] ([`subject_name`]). With `schema.auto_register` (the default, as in
/// Deimos and Confluent's `auto.register.schemas`) the local schema is registered under it
/// (`POST /subjects/{subject}/versions`; the registry answers the existing id if it is already
/// there, or 409 if the subject's compatibility level refuses it); otherwise it is looked up
/// (`POST /subjects/{subject}`) and must already be registered. Schemas whose names break the
/// Avro specification (e.g. Deimos' hyphenated namespaces, which [`AvroLocal`] accepts) are
/// refused before any request, since a Confluent registry would reject them.
///
/// **Decode**: the framing is checked, the writer schema is fetched by id
/// (`GET /schemas/ids/{id}`), and the datum is read with it and resolved to the local reader
/// schema (Avro spec, "Schema Resolution": added fields take their defaults, removed fields are
/// skipped, numbers are promoted). Bytes left after the datum are an error.
///
/// **Caching**: subject + schema content → id and id → parsed writer schema are kept for the life of
/// the backend, so steady-state encoding and decoding make no requests, and ids already known
/// keep working while the registry is down. Failures are never cached: the next call asks the
/// registry again.
///
/// **HTTP**: `schema_registry_converter`'s REST client (reqwest), with `schema.user` /
/// `schema.password` as basic auth and `schema.registry_timeout` per request. `https://` URLs
/// need the `registry-tls` feature (rustls).
///
/// Errors returned by [`SchemaBackend::encode`] / [`SchemaBackend::decode`] are
/// [`RegistryError`]s (boxed; [`Codec`](super::Codec) wraps them in
/// [`Error::Encode`] / [`Error::Decode`]).
#[derive(Debug)]
pub struct AvroSchemaRegistry {
    local: AvroLocal,
    url: String,
    settings: SrSettings,
    strategy: SubjectNameStrategy,
    auto_register: bool,
    /// (subject, local schema) → id.
    ids: RwLock<HashMap<String, KnownIds>>,
    /// id → parsed writer schema.
    writers: RwLock<HashMap<u32, Arc<Schema>>>,
    /// (writer id, local schema) → whether they are the same schema (Parsing Canonical Form),
    /// so typed handlers can read the datum without resolution.
    same: RwLock<HashMap<(u32, SchemaRef), bool>>,
}

/// The schemas registered under one subject, with their ids.
type KnownIds = Vec<(Arc<Schema>, u32)>;

/// Why the registry backend could not encode or decode a message.
///
/// Every variant names what a support engineer needs: the registry URL for anything that
/// talked to it, and the subject or the schema id involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry could not be reached, timed out, or answered with a server error (5xx).
    /// Nothing is cached: the next message asks again.
    #[error("schema registry at `{url}` is unavailable while {action}")]
    Unavailable {
        /// The registry base URL (`schema.registry_url`).
        url: String,
        /// What deimos was doing, naming the subject or schema id.
        action: String,
        /// The HTTP client's error.
        #[source]
        source: BoxError,
    },
    /// The registry refused the request (4xx other than "not found"), e.g. 409 for a schema
    /// the subject's compatibility level rejects, 401 for bad credentials.
    #[error("schema registry at `{url}` refused {action}: error {error_code}: {message}")]
    Rejected {
        /// The registry base URL.
        url: String,
        /// What deimos was doing, naming the subject or schema id.
        action: String,
        /// Confluent's `error_code` (e.g. `409`, `42201`, `40101`), `0` when the answer had none.
        error_code: u32,
        /// The registry's message.
        message: String,
    },
    /// With `schema.auto_register = false`: the local schema is not registered under the
    /// subject (lookup answered 404).
    #[error("schema `{schema}` is not registered under subject `{subject}` at `{url}` (and `schema.auto_register` is off)")]
    NotRegistered {
        /// The registry base URL.
        url: String,
        /// The subject looked in.
        subject: String,
        /// The local schema's full name.
        schema: String,
    },
    /// A message names a schema id the registry does not know (404).
    #[error("schema id {id} is not known to the schema registry at `{url}` (decoding for subject `{subject}`)")]
    UnknownId {
        /// The registry base URL.
        url: String,
        /// The id from the message.
        id: u32,
        /// The reader's subject.
        subject: String,
    },
    /// The registry answered successfully, but with something unusable: not the expected
    /// JSON, or a writer schema that is not an Avro schema apache-avro can parse.
    #[error("schema registry at `{url}` gave an unusable answer while {action}")]
    InvalidAnswer {
        /// The registry base URL.
        url: String,
        /// What deimos was doing, naming the subject or schema id.
        action: String,
        /// What was wrong with it.
        #[source]
        source: BoxError,
    },
    /// A local schema has a name the Avro specification (and so the registry) rejects.
    #[error("schema `{schema}` cannot be registered under subject `{subject}`: name `{name}` breaks the Avro name rule ([A-Za-z_][A-Za-z0-9_]* segments; hyphenated namespaces are a Ruby Avro leniency)")]
    InvalidName {
        /// The local schema's full name.
        schema: String,
        /// The subject it was meant for.
        subject: String,
        /// The offending full name inside it.
        name: String,
    },
    /// The bytes are not in Confluent's wire format (empty, wrong magic byte, shorter than the
    /// 5-byte header).
    #[error("not a Confluent schema registry message (subject `{subject}`): {reason}")]
    Framing {
        /// The reader's subject.
        subject: String,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// The Avro datum could not be written with the schema.
    #[error("avro encoding failed for subject `{subject}` (schema id {id})")]
    Encode {
        /// The subject.
        subject: String,
        /// The schema id the message would carry.
        id: u32,
        /// apache-avro's error.
        #[source]
        source: BoxError,
    },
    /// The Avro datum could not be read with the writer schema, could not be resolved to the
    /// reader schema, or was followed by extra bytes.
    #[error("avro decoding failed for schema id {id} (subject `{subject}`)")]
    Decode {
        /// The writer schema id from the message.
        id: u32,
        /// The reader's subject.
        subject: String,
        /// apache-avro's error, or the count of trailing bytes.
        #[source]
        source: BoxError,
    },
}

impl RegistryError {
    /// Whether trying again later may succeed (the registry was unavailable).
    pub fn is_retriable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// The subject a schema is registered under (Confluent's `subject.name.strategy`):
/// `TopicName` gives `<topic>-value` / `<topic>-key`, `RecordName` the record's full name,
/// `TopicRecordName` `<topic>-<full name>`.
pub fn subject_name(
    strategy: SubjectNameStrategy,
    ctx: SerializationContext<'_>,
    schema: &SchemaRef,
) -> String {
    match strategy {
        SubjectNameStrategy::RecordName => schema.full_name(),
        SubjectNameStrategy::TopicRecordName => format!("{}-{}", ctx.topic, schema.full_name()),
        _ => match ctx.field {
            MessageField::Key => format!("{}-key", ctx.topic),
            MessageField::Value => format!("{}-value", ctx.topic),
        },
    }
}

/// Splits a Confluent-framed message into schema id and Avro datum.
///
/// # Errors
/// A description of what is wrong: empty input, wrong magic byte, or fewer than 5 bytes.
pub fn split_frame(bytes: &[u8]) -> std::result::Result<(u32, &[u8]), String> {
    match bytes {
        [] => Err("the message is empty (expected magic byte 0 and a 4-byte schema id)".into()),
        [magic, ..] if *magic != MAGIC_BYTE => Err(format!(
            "unknown magic byte {magic:#04x} (expected {MAGIC_BYTE:#04x}, the Confluent wire format)"
        )),
        [_, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        short => Err(format!(
            "the message is {} bytes long, shorter than the 5-byte header (magic byte, schema id)",
            short.len()
        )),
    }
}

impl AvroSchemaRegistry {
    /// The backend configured by `schema.*`: `path` (reader schemas), `registry_url`, `user`,
    /// `password`, `registry_timeout`, `subject_name_strategy`, `auto_register`. Makes no
    /// request: the registry is first asked on the first encode or decode.
    ///
    /// # Errors
    /// [`Error::Config`] for `schema.registry_url` when it is not an `http://` or `https://`
    /// URL, is `https://` without the `registry-tls` feature, or the HTTP client cannot be
    /// built.
    pub fn from_config(config: &SchemaConfig) -> Result<Self> {
        let url = config.registry_url.trim_end_matches('/').to_owned();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.len() <= "https://".len() {
            return Err(Error::config(
                "schema.registry_url",
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
        if url.starts_with("https://") && !cfg!(feature = "registry-tls") {
            return Err(Error::config(
                "schema.registry_url",
                format!("`{url}` needs TLS: enable deimos' `registry-tls` feature"),
            ));
        }
        let mut builder = SrSettings::new_builder(url.clone());
        builder.set_timeout(config.registry_timeout);
        if let Some(user) = &config.user {
            builder.set_basic_authorization(user, config.password.as_ref().map(Secret::expose));
        }
        let settings = builder.build().map_err(|e| {
            Error::config(
                "schema.registry_url",
                format!("cannot build the HTTP client for `{url}`: {}", e.error),
            )
        })?;
        Ok(AvroSchemaRegistry {
            local: AvroLocal::new(PathBuf::from(&config.path)),
            url,
            settings,
            strategy: config.subject_name_strategy,
            auto_register: config.auto_register,
            ids: RwLock::default(),
            writers: RwLock::default(),
            same: RwLock::default(),
        })
    }

    /// The registry base URL (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local schemas (reader schemas, and the writer schemas this backend registers).
    pub fn local(&self) -> &AvroLocal {
        &self.local
    }

    /// The schema id for `schema` under `subject`: cached, else registered or looked up.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`], [`RegistryError::Unavailable`],
    /// [`RegistryError::Rejected`], [`RegistryError::NotRegistered`],
    /// [`RegistryError::InvalidAnswer`].
    pub async fn schema_id(
        &self,
        subject: &str,
        schema: &SchemaRef,
        avro: &Schema,
    ) -> std::result::Result<u32, RegistryError> {
        // Keyed by subject, then by schema content (`same_schema`): one
        // name can stand for several schemas, e.g. the generated `<Name>_key` of two key fields.
        if let Some(ids) = read(&self.ids).get(subject) {
            if let Some((_, id)) = ids.iter().find(|(known, _)| same_schema(known, avro)) {
                return Ok(*id);
            }
        }
        if let Some(name) = super::names::strict_name_violation(avro) {
            return Err(RegistryError::InvalidName {
                schema: schema.full_name(),
                subject: subject.to_owned(),
                name,
            });
        }
        let text = serde_json::to_string(avro).map_err(|e| RegistryError::Encode {
            subject: subject.to_owned(),
            id: 0,
            source: e.into(),
        })?;
        let id = if self.auto_register {
            let action = format!("registering schema `{schema}` under subject `{subject}`");
            let supplied = SuppliedSchema::new(Some(schema.full_name()), SchemaType::Avro, text);
            post_schema(&self.settings, subject.to_owned(), supplied)
                .await
                .map_err(|e| self.classify(&e, action))?
                .id
        } else {
            let action = format!("looking up schema `{schema}` under subject `{subject}`");
            let body = serde_json::json!({ "schema": text, "schemaType": "AVRO" }).to_string();
            let found = perform_sr_call(&self.settings, SrCall::PostForVersion(subject, &body))
                .await
                .map_err(|e| match self.classify(&e, action) {
                    RegistryError::Rejected { error_code, .. }
                        if error_code == 40401 || error_code == 40403 =>
                    {
                        RegistryError::NotRegistered {
                            url: self.url.clone(),
                            subject: subject.to_owned(),
                            schema: schema.full_name(),
                        }
                    }
                    other => other,
                })?;
            found.id.ok_or_else(|| RegistryError::Rejected {
                url: self.url.clone(),
                action: format!("looking up schema `{schema}` under subject `{subject}`"),
                error_code: 0,
                message: "the answer has no `id`".into(),
            })?
        };
        let mut ids = write(&self.ids);
        let known = ids.entry(subject.to_owned()).or_default();
        if !known.iter().any(|(k, _)| same_schema(k, avro)) {
            known.push((Arc::new(avro.clone()), id));
        }
        drop(ids);
        write(&self.writers)
            .entry(id)
            .or_insert_with(|| Arc::new(avro.clone()));
        Ok(id)
    }

    /// The writer schema with this id: cached, else fetched and parsed.
    ///
    /// # Errors
    /// [`RegistryError::UnknownId`], [`RegistryError::InvalidAnswer`],
    /// [`RegistryError::Unavailable`], [`RegistryError::Rejected`]; `subject` only names the
    /// reader's subject in them.
    pub async fn writer_schema(
        &self,
        id: u32,
        subject: &str,
    ) -> std::result::Result<Arc<Schema>, RegistryError> {
        if let Some(found) = read(&self.writers).get(&id) {
            return Ok(found.clone());
        }
        let action = format!("fetching schema id {id} (subject `{subject}`)");
        let registered = get_schema_by_id(id, &self.settings).await.map_err(|e| {
            match self.classify(&e, action) {
                RegistryError::Rejected { error_code, .. }
                    if error_code == 40403 || error_code == 404 =>
                {
                    RegistryError::UnknownId {
                        url: self.url.clone(),
                        id,
                        subject: subject.to_owned(),
                    }
                }
                other => other,
            }
        })?;
        let invalid = |source: BoxError| RegistryError::InvalidAnswer {
            url: self.url.clone(),
            action: format!("fetching schema id {id} (subject `{subject}`)"),
            source,
        };
        if registered.schema_type != SchemaType::Avro {
            return Err(invalid(
                format!("schema type is {:?}, not AVRO", registered.schema_type).into(),
            ));
        }
        let parsed = Arc::new(super::names::parse_schema(&registered.schema).map_err(invalid)?);
        Ok(write(&self.writers).entry(id).or_insert(parsed).clone())
    }

    /// Turns the REST client's error into ours: HTTP error answers carry Confluent's
    /// `{error_code, message}` (5xx ones mean unavailable); transport failures (connection
    /// refused, timeout) are unavailability; a success answer it could not read is invalid.
    fn classify(&self, err: &SRCError, action: String) -> RegistryError {
        // SRCError's own Display repeats its cause and adds flags; keep its summary and the
        // chain below it (reqwest's error down to "connection refused", or Confluent's answer).
        let mut text = err.error.clone();
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        let raw = err.source().and_then(|s| s.downcast_ref::<RawError>());
        match raw {
            // 5xxxx are Confluent's server-side codes; 0 means the body was not Confluent's
            // (a proxy's 502 page, say): both are an unavailable registry.
            Some(raw) if raw.error_code != 0 && raw.error_code < 50000 => RegistryError::Rejected {
                url: self.url.clone(),
                action,
                error_code: raw.error_code,
                message: raw.message.clone(),
            },
            Some(_) => RegistryError::Unavailable {
                url: self.url.clone(),
                action,
                source: text.into(),
            },
            // The request went through but the answer was not what the API documents.
            None if !err.retriable => RegistryError::InvalidAnswer {
                url: self.url.clone(),
                action,
                source: text.into(),
            },
            // Connection refused, reset, timed out.
            None => RegistryError::Unavailable {
                url: self.url.clone(),
                action,
                source: text.into(),
            },
        }
    }
}

/// Whether two parsed schemas are the same schema: names, field names and order, symbols,
/// sizes, logical types. A structural walk, cheap enough for every message. (apache-avro's
/// `PartialEq` ignores field names, so `{"id": long}` equals `{"seq": long}` there.)
fn same_schema(a: &Schema, b: &Schema) -> bool {
    use std::mem::discriminant;
    match (a, b) {
        (Schema::Record(x), Schema::Record(y)) => {
            x.name == y.name
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|(f, g)| f.name == g.name && same_schema(&f.schema, &g.schema))
        }
        (Schema::Enum(x), Schema::Enum(y)) => x.name == y.name && x.symbols == y.symbols,
        (Schema::Fixed(x), Schema::Fixed(y)) => x.name == y.name && x.size == y.size,
        (Schema::Decimal(x), Schema::Decimal(y)) => {
            x.precision == y.precision && x.scale == y.scale && same_schema(&x.inner, &y.inner)
        }
        (Schema::Array(x), Schema::Array(y)) => same_schema(&x.items, &y.items),
        (Schema::Map(x), Schema::Map(y)) => same_schema(&x.types, &y.types),
        (Schema::Union(x), Schema::Union(y)) => {
            x.variants().len() == y.variants().len()
                && x.variants()
                    .iter()
                    .zip(y.variants())
                    .all(|(v, w)| same_schema(v, w))
        }
        (Schema::Ref { name: x }, Schema::Ref { name: y }) => x == y,
        // Primitives and the other logical types carry nothing more than their kind.
        (a, b) => discriminant(a) == discriminant(b),
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[async_trait::async_trait]
impl SchemaBackend for AvroSchemaRegistry {
    fn kind(&self) -> SchemaBackendKind {
        SchemaBackendKind::AvroSchemaRegistry
    }

    async fn schema(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        self.local.load(schema)
    }

    async fn encode(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &Schema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError> {
        let subject = subject_name(self.strategy, ctx, schema);
        let id = self.schema_id(&subject, schema, avro).await?;
        let datum = apache_avro::to_avro_datum(avro, value).map_err(|e| RegistryError::Encode {
            subject: subject.clone(),
            id,
            source: e.into(),
        })?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + datum.len());
        bytes.push(MAGIC_BYTE);
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&datum);
        Ok(bytes)
    }

    /// Magic byte and schema id: the typed fast path writes the Avro datum after them.
    async fn datum_prefix(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &Schema,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        let subject = subject_name(self.strategy, ctx, schema);
        let id = self.schema_id(&subject, schema, avro).await?;
        let mut prefix = Vec::with_capacity(HEADER_LEN + 64);
        prefix.push(MAGIC_BYTE);
        prefix.extend_from_slice(&id.to_be_bytes());
        Ok(Some(prefix))
    }

    /// The datum after the frame, when the writer schema (by id) is the local schema itself
    /// (same Parsing Canonical Form); `None` when it needs resolution.
    async fn datum_body<'b>(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &Schema,
        bytes: &'b [u8],
    ) -> Result<Option<&'b [u8]>, BoxError> {
        let subject = subject_name(self.strategy, ctx, schema);
        let (id, datum) = split_frame(bytes).map_err(|reason| RegistryError::Framing {
            subject: subject.clone(),
            reason,
        })?;
        let key = (id, schema.clone());
        let known = read(&self.same).get(&key).copied();
        let same = match known {
            Some(same) => same,
            None => {
                let writer = self.writer_schema(id, &subject).await?;
                let same = writer.canonical_form() == avro.canonical_form();
                write(&self.same).insert(key, same);
                same
            }
        };
        Ok(same.then_some(datum))
    }

    /// As `datum_body` when the writer schema's id has been seen with this local schema.
    fn datum_body_now<'b>(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        _avro: &Schema,
        bytes: &'b [u8],
    ) -> Option<Result<Option<&'b [u8]>, BoxError>> {
        let (id, datum) = match split_frame(bytes) {
            Ok(frame) => frame,
            Err(reason) => {
                let subject = subject_name(self.strategy, ctx, schema);
                return Some(Err(RegistryError::Framing { subject, reason }.into()));
            }
        };
        let same = read(&self.same).get(&(id, schema.clone())).copied()?;
        Some(Ok(same.then_some(datum)))
    }

    async fn decode(
        &self,
        ctx: SerializationContext<'_>,
        schema: &SchemaRef,
        avro: &Schema,
        bytes: &[u8],
    ) -> Result<Value, BoxError> {
        let subject = subject_name(self.strategy, ctx, schema);
        let (id, datum) = split_frame(bytes).map_err(|reason| RegistryError::Framing {
            subject: subject.clone(),
            reason,
        })?;
        let writer = self.writer_schema(id, &subject).await?;
        let decode_err = |source: BoxError| RegistryError::Decode {
            id,
            subject: subject.clone(),
            source,
        };
        // Untrusted bytes: the guard checks them against the writer schema first.
        Ok(super::guard::decode_datum(&writer, Some(avro), datum).map_err(decode_err)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_schema_sees_field_names_symbols_and_sizes() {
        let parse = |s: &str| crate::schema::names::parse_schema(s).unwrap();
        let record = |field: &str, ty: &str| {
            parse(&format!(
                r#"{{"type":"record","name":"K","fields":[{{"name":"{field}","type":{ty}}}]}}"#
            ))
        };
        assert!(same_schema(
            &record("id", r#""long""#),
            &record("id", r#""long""#)
        ));
        assert!(!same_schema(
            &record("id", r#""long""#),
            &record("seq", r#""long""#)
        ));
        assert!(!same_schema(
            &record("id", r#""long""#),
            &record("id", r#""int""#)
        ));
        let ts = r#"{"type":"long","logicalType":"timestamp-millis"}"#;
        assert!(!same_schema(&record("id", r#""long""#), &record("id", ts)));
        let e = |syms: &str| {
            record(
                "e",
                &format!(r#"{{"type":"enum","name":"E","symbols":{syms}}}"#),
            )
        };
        assert!(!same_schema(&e(r#"["A","B"]"#), &e(r#"["A","C"]"#)));
        let f = |n: u32| record("f", &format!(r#"{{"type":"fixed","name":"F","size":{n}}}"#));
        assert!(!same_schema(&f(4), &f(8)));
        assert!(same_schema(&f(4), &f(4)));
    }

    #[test]
    fn frames_are_checked() {
        assert!(split_frame(&[]).unwrap_err().contains("empty"));
        assert!(split_frame(&[1, 0, 0, 0, 1]).unwrap_err().contains("magic"));
        assert!(split_frame(&[0, 0, 1]).unwrap_err().contains("3 bytes"));
        assert_eq!(split_frame(&[0, 0, 0, 1, 2, 9]).unwrap(), (258, &[9u8][..]));
    }

    #[test]
    fn subjects_follow_the_strategy() {
        let widget = SchemaRef::parse("com.example.Widget");
        let v = SerializationContext::value("widgets");
        let k = SerializationContext::key("widgets");
        assert_eq!(
            subject_name(SubjectNameStrategy::TopicName, v, &widget),
            "widgets-value"
        );
        assert_eq!(
            subject_name(SubjectNameStrategy::TopicName, k, &widget),
            "widgets-key"
        );
        assert_eq!(
            subject_name(SubjectNameStrategy::RecordName, v, &widget),
            "com.example.Widget"
        );
        assert_eq!(
            subject_name(SubjectNameStrategy::TopicRecordName, k, &widget),
            "widgets-com.example.Widget"
        );
    }

    #[test]
    fn urls_are_checked() {
        let mut config = SchemaConfig {
            registry_url: "localhost:8081".into(),
            ..SchemaConfig::default()
        };
        let err = AvroSchemaRegistry::from_config(&config).unwrap_err();
        assert!(err.to_string().contains("schema.registry_url"), "{err}");
        config.registry_url = "http://localhost:8081/".into();
        let ok = AvroSchemaRegistry::from_config(&config).unwrap();
        assert_eq!(ok.url(), "http://localhost:8081");
    }
}
