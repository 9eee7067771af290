//! Deimos' `TestHelpers` for Rust: configuration presets scoped to the test's thread, sent
//! message inspection and `assert_sent!` (Deimos' `have_sent`), and `schemas_compatible`.

use serde::Serialize;

use crate::backends::ProducedMessage;
use crate::config::{Config, ProducerBackendKind, SchemaBackendKind};
use crate::error::{Error, Result};
use crate::runtime::App;
use crate::schema::{compatible, Compatibility, Incompatibility, SchemaSource};

/// A test's app, installed for the calling thread by a preset ([`unit_test`], [`kafka_test`],
/// [`full_integration_test`], or [`TestScope::install`] with any configuration) and removed
/// when dropped (the thread's previous app, if any, comes back).
///
/// While it lives, [`global`](crate::global) on this thread returns its app: producers'
/// `publish`, entity producers, `#[kafka_source]` hooks and the helpers of this module use
/// it, and tests running in other threads of the same `cargo test` process (each with a scope
/// of its own) never see its settings or its captured messages. `#[tokio::test]`'s default
/// runtime runs the test and the tasks it spawns on the test's thread; with `flavor =
/// "multi_thread"` only the test's own future is on that thread, so publish from spawned
/// tasks through [`app`](Self::app) explicitly or inside [`App::scope`].
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn demo() -> deimos::Result<()> {
/// let scope = deimos::testing::unit_test()?;  // test backend, avro_validation schemas
/// // ... code under test publishes ...
/// deimos::assert_sent!("widgets", serde_json::json!({ "id": 7 }));
/// assert_eq!(scope.sent_messages()?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "the preset lasts as long as the scope: bind it (`let _scope = ...`)"]
pub struct TestScope {
    app: App,
    previous: Option<App>,
    /// Not `Send`: the scope belongs to the thread it was installed on.
    _thread: std::marker::PhantomData<*const ()>,
}

impl TestScope {
    /// Builds an app from `config` and makes it this thread's app until the scope is dropped.
    ///
    /// # Errors
    /// As [`App::from_config`].
    pub fn install(config: Config) -> Result<TestScope> {
        let app = App::from_config(config)?;
        let previous = crate::runtime::set_thread_app(Some(app.clone()));
        Ok(TestScope {
            app,
            previous,
            _thread: std::marker::PhantomData,
        })
    }

    /// The scope's app.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The messages the scope's app sent, in order, decoded (the `test` producer backend).
    ///
    /// # Errors
    /// [`Error::Config`] (key `producers.backend`) when the app does not use the `test`
    /// backend.
    pub fn sent_messages(&self) -> Result<Vec<SentMessage>> {
        sent_by(&self.app)
    }

    /// Forgets the messages sent so far (Deimos' `clear_kafka_messages!`).
    ///
    /// # Errors
    /// As [`sent_messages`](Self::sent_messages).
    pub fn clear_sent_messages(&self) -> Result<()> {
        test_backend_of(&self.app)?;
        if let Some(backend) = self.app.test_backend() {
            backend.clear();
        }
        Ok(())
    }
}

impl Drop for TestScope {
    fn drop(&mut self) {
        crate::runtime::set_thread_app(self.previous.take());
    }
}

/// Deimos' `unit_test!`: `config` with the `test` producer backend (messages are captured,
/// see [`sent_messages`]), the `avro_validation` schema backend (payloads are checked against
/// their schemas, the bytes stay readable JSON) and `consumers.reraise_errors = true`,
/// installed for this thread ([`TestScope`]).
///
/// # Errors
/// As [`App::from_config`].
pub fn unit_test_with(mut config: Config) -> Result<TestScope> {
    config.producers.backend = ProducerBackendKind::Test;
    config.schema.backend = SchemaBackendKind::AvroValidation;
    config.consumers.reraise_errors = true;
    TestScope::install(config)
}

/// [`unit_test_with`] over [`Config::load`] (`deimos.toml` and `DEIMOS_*`).
///
/// # Errors
/// As [`Config::load`] and [`App::from_config`].
pub fn unit_test() -> Result<TestScope> {
    unit_test_with(Config::load()?)
}

/// Deimos' `kafka_test!`: `config` with the `kafka` producer backend and the `avro_local`
/// schema backend (real Avro bytes to a real broker, local `.avsc` files), installed for this
/// thread.
///
/// # Errors
/// As [`App::from_config`].
pub fn kafka_test_with(mut config: Config) -> Result<TestScope> {
    config.producers.backend = ProducerBackendKind::Kafka;
    config.schema.backend = SchemaBackendKind::AvroLocal;
    TestScope::install(config)
}

/// [`kafka_test_with`] over [`Config::load`].
///
/// # Errors
/// As [`Config::load`] and [`App::from_config`].
pub fn kafka_test() -> Result<TestScope> {
    kafka_test_with(Config::load()?)
}

/// Deimos' `full_integration_test!`: `config` with the `kafka` producer backend and the
/// `avro_schema_registry` schema backend (`schema.registry_url`), installed for this thread.
///
/// # Errors
/// As [`App::from_config`].
pub fn full_integration_test_with(mut config: Config) -> Result<TestScope> {
    config.producers.backend = ProducerBackendKind::Kafka;
    config.schema.backend = SchemaBackendKind::AvroSchemaRegistry;
    TestScope::install(config)
}

/// [`full_integration_test_with`] over [`Config::load`].
///
/// # Errors
/// As [`Config::load`] and [`App::from_config`].
pub fn full_integration_test() -> Result<TestScope> {
    full_integration_test_with(Config::load()?)
}

/// A message the `test` backend captured, decoded to JSON for assertions.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The topic, with `producers.topic_prefix`.
    pub topic: String,
    /// The decoded key as JSON (`key_config(field)`: the field's value, e.g. `7`), or `None`.
    pub key: Option<serde_json::Value>,
    /// The decoded payload as JSON (apache-avro's JSON form: logical types as their
    /// underlying numbers, as serde writes the payload structs); `None` for a tombstone.
    pub payload: Option<serde_json::Value>,
    /// The record headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The partition key, when one was given.
    pub partition_key: Option<String>,
    /// The message as the backend got it (encoded bytes and decoded Avro values).
    pub message: ProducedMessage,
}

impl SentMessage {
    fn of(message: ProducedMessage) -> SentMessage {
        // The Avro value's JSON form (apache-avro's): logical types as their underlying
        // numbers (a `timestamp-millis` is its `long`), as serde writes the payload structs.
        let json = |value: &apache_avro::types::Value| {
            serde_json::Value::try_from(value.clone()).unwrap_or_else(|_| {
                serde_json::to_value(crate::schema::coerce::to_payload(value))
                    .unwrap_or(serde_json::Value::Null)
            })
        };
        let payload = match (&message.decoded_payload, &message.payload) {
            (Some(value), _) => Some(json(value)),
            (None, None) => None,
            // Bytes without their decoded form: readable when the schema backend writes JSON
            // (`avro_validation`, `mock`), else left as null.
            (None, Some(bytes)) => {
                Some(serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null))
            }
        };
        SentMessage {
            topic: message.topic.to_string(),
            key: message.decoded_key.as_ref().map(json),
            payload,
            headers: message.headers.clone(),
            partition_key: message.partition_key.clone(),
            message,
        }
    }
}

fn test_backend_of(app: &App) -> Result<&crate::backends::TestBackend> {
    app.test_backend().ok_or_else(|| {
        Error::config(
            "producers.backend",
            format!(
                "sent messages are captured only by the `test` backend, this app uses `{:?}`: \
                 use `deimos::testing::unit_test()`",
                app.config().producers.backend
            ),
        )
    })
}

fn sent_by(app: &App) -> Result<Vec<SentMessage>> {
    Ok(test_backend_of(app)?
        .sent_messages()
        .into_iter()
        .map(SentMessage::of)
        .collect())
}

/// The messages the current app ([`global`](crate::global): this thread's [`TestScope`], else
/// the process-wide app) sent, in order (Deimos' `sent_messages`).
///
/// # Errors
/// [`Error::Config`] (key `producers.backend`) when that app does not use the `test` backend,
/// or as [`global`](crate::global).
pub fn sent_messages() -> Result<Vec<SentMessage>> {
    sent_by(&crate::runtime::global()?)
}

/// Forgets the current app's captured messages (Deimos' `clear_kafka_messages!`).
///
/// # Errors
/// As [`sent_messages`].
pub fn clear_sent_messages() -> Result<()> {
    let app = crate::runtime::global()?;
    test_backend_of(&app)?.clear();
    Ok(())
}

/// Whether `actual` contains `expected`: objects match when every field of `expected` matches
/// the same field of `actual` (extra fields in `actual` are ignored, at every depth, like
/// Deimos' `have_sent` with `hash_including`); anything else must be equal. Numbers compare
/// by value (`1` matches `1.0`).
pub fn json_includes(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (actual, expected) {
        (J::Object(actual), J::Object(expected)) => expected
            .iter()
            .all(|(k, v)| actual.get(k).is_some_and(|a| json_includes(a, v))),
        (J::Array(actual), J::Array(expected)) => {
            actual.len() == expected.len()
                && actual
                    .iter()
                    .zip(expected)
                    .all(|(a, e)| json_includes(a, e))
        }
        (J::Number(a), J::Number(e)) => a == e || a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// Whether `key` (a decoded key) matches `expected`: equal, or one of them is a one-field
/// record holding the other (`key_config(field = "id")` keys are the field's value, `7`, and
/// match `{"id": 7}` as well).
fn key_matches(key: Option<&serde_json::Value>, expected: &serde_json::Value) -> bool {
    fn single(v: &serde_json::Value) -> Option<&serde_json::Value> {
        match v {
            serde_json::Value::Object(fields) if fields.len() == 1 => fields.values().next(),
            _ => None,
        }
    }
    match key {
        None => expected.is_null(),
        Some(key) => {
            json_includes(key, expected)
                || single(key).is_some_and(|k| json_includes(k, expected))
                || single(expected).is_some_and(|e| json_includes(key, e))
        }
    }
}

/// What [`SentQuery`] asks of a message's payload.
#[derive(Debug, Clone, PartialEq)]
enum ExpectedPayload {
    /// Anything (no payload was given).
    Any,
    /// A tombstone (no payload).
    Tombstone,
    /// A payload including this JSON (see [`json_includes`]).
    Includes(serde_json::Value),
}

/// A description of sent messages to look for, Deimos' `have_sent(payload, topic, key,
/// partition_key, headers)` as a builder: the topic (with or without
/// `producers.topic_prefix`), and optionally a payload to include, a key, a partition key and
/// headers. [`assert_sent!`](crate::assert_sent) builds one from its arguments.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # fn demo() -> deimos::Result<()> {
/// use deimos::testing::SentQuery;
/// use serde_json::json;
///
/// let found = SentQuery::topic("widgets")
///     .payload(json!({ "name": "bolt" }))
///     .key(7)
///     .partition_key("store-3")
///     .header("trace-id", "abc")
///     .find()?;
/// assert_eq!(found.len(), 1);
/// SentQuery::topic("widgets").key(8).assert_not_sent();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a query does nothing until `find`, `assert_sent` or `assert_not_sent`"]
pub struct SentQuery {
    topic: String,
    payload: ExpectedPayload,
    key: Option<serde_json::Value>,
    partition_key: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    /// The first argument that did not serialize to JSON, reported by `find`.
    invalid: Option<String>,
}

impl SentQuery {
    /// Messages sent to `topic`, whatever their payload, key, partition key and headers.
    pub fn topic(topic: impl Into<String>) -> SentQuery {
        SentQuery {
            topic: topic.into(),
            payload: ExpectedPayload::Any,
            key: None,
            partition_key: None,
            headers: Vec::new(),
            invalid: None,
        }
    }

    fn json(&mut self, value: &dyn erased::Json, what: &str) -> Option<serde_json::Value> {
        match value.to_json() {
            Ok(json) => Some(json),
            Err(e) => {
                self.invalid.get_or_insert_with(|| {
                    format!("the expected {what} does not serialize to JSON: {e}")
                });
                None
            }
        }
    }

    /// Whose payload includes `payload` (see [`json_includes`]: fields not given are ignored,
    /// at any depth): any `Serialize` value, a `serde_json::json!` or the payload struct.
    /// A value that serializes to JSON `null` (`None::<()>`, `()`) asks for a tombstone.
    pub fn payload(self, payload: impl Serialize) -> SentQuery {
        self.payload_json(&payload)
    }

    fn payload_json(mut self, payload: &dyn erased::Json) -> SentQuery {
        self.payload = match self.json(payload, "payload") {
            Some(serde_json::Value::Null) => ExpectedPayload::Tombstone,
            Some(json) => ExpectedPayload::Includes(json),
            None => ExpectedPayload::Any,
        };
        self
    }

    /// Tombstones only (no payload).
    pub fn tombstone(mut self) -> SentQuery {
        self.payload = ExpectedPayload::Tombstone;
        self
    }

    /// Whose decoded key matches `key`: equal (objects by inclusion), or the one field of a
    /// field key (`key_config(field = "id")` keys are the field's value, `7`, and match
    /// `{"id": 7}` as well). A value that serializes to JSON `null` checks nothing (Deimos'
    /// `key = nil`).
    pub fn key(self, key: impl Serialize) -> SentQuery {
        self.key_json(&key)
    }

    fn key_json(mut self, key: &dyn erased::Json) -> SentQuery {
        self.key = self.json(key, "key").filter(|k| !k.is_null());
        self
    }

    /// Whose partition key (the producer's `partition_key`, not the message key) is
    /// `partition_key`.
    pub fn partition_key(mut self, partition_key: impl Into<String>) -> SentQuery {
        self.partition_key = Some(partition_key.into());
        self
    }

    /// That carries a header `name` with exactly this value (other headers are ignored, as
    /// with Deimos' `hash_including`). Repeat for several headers.
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> SentQuery {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    /// The current app's ([`global`](crate::global)) sent messages that match, in order.
    ///
    /// # Errors
    /// As [`sent_messages`]; [`Error::Runtime`] when an expected value did not serialize to
    /// JSON.
    pub fn find(&self) -> Result<Vec<SentMessage>> {
        if let Some(reason) = &self.invalid {
            return Err(Error::Runtime {
                reason: reason.clone(),
            });
        }
        let app = crate::runtime::global()?;
        let prefix = app
            .config()
            .producers
            .topic_prefix
            .clone()
            .unwrap_or_default();
        Ok(sent_by(&app)?
            .into_iter()
            .filter(|m| m.topic == self.topic || m.topic == format!("{prefix}{}", self.topic))
            .filter(|m| self.matches(m))
            .collect())
    }

    /// Whether `message` matches everything but the topic.
    fn matches(&self, message: &SentMessage) -> bool {
        let payload = match (&self.payload, &message.payload) {
            (ExpectedPayload::Any, _) | (ExpectedPayload::Tombstone, None) => true,
            (ExpectedPayload::Includes(expected), Some(actual)) => json_includes(actual, expected),
            _ => false,
        };
        payload
            && self
                .key
                .as_ref()
                .is_none_or(|k| key_matches(message.key.as_ref(), k))
            && self
                .partition_key
                .as_ref()
                .is_none_or(|pk| message.partition_key.as_ref() == Some(pk))
            && self
                .headers
                .iter()
                .all(|(name, value)| message.headers.iter().any(|(n, v)| n == name && v == value))
    }

    /// Panics unless a sent message matches, listing what was sent (Deimos'
    /// `expect(topic).to have_sent(..)`).
    ///
    /// # Panics
    /// When no message matches, or [`find`](Self::find) fails.
    #[track_caller]
    pub fn assert_sent(&self) {
        self.check(true);
    }

    /// Panics if a sent message matches (Deimos' `not_to have_sent`).
    ///
    /// # Panics
    /// When a message matches, or [`find`](Self::find) fails.
    #[track_caller]
    pub fn assert_not_sent(&self) {
        self.check(false);
    }

    #[track_caller]
    fn check(&self, expect: bool) {
        let found = match self.find() {
            Ok(found) => found,
            Err(e) => panic!("assert_sent!: {e}"),
        };
        if found.is_empty() != expect {
            return;
        }
        if expect {
            let sent: Vec<String> = sent_messages()
                .unwrap_or_default()
                .iter()
                .map(|m| format!("  {}", describe(m)))
                .collect();
            panic!(
                "no message matches {self}; sent:\n{}",
                if sent.is_empty() {
                    "  (nothing)".to_owned()
                } else {
                    sent.join("\n")
                }
            );
        } else {
            let matching: Vec<String> =
                found.iter().map(|m| format!("  {}", describe(m))).collect();
            panic!(
                "{} message(s) match {self}, expected none:\n{}",
                found.len(),
                matching.join("\n")
            );
        }
    }
}

impl std::fmt::Display for SentQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "topic `{}`", self.topic)?;
        match &self.payload {
            ExpectedPayload::Any => {}
            ExpectedPayload::Tombstone => write!(f, ", a tombstone")?,
            ExpectedPayload::Includes(p) => write!(f, ", payload including {p}")?,
        }
        if let Some(key) = &self.key {
            write!(f, ", key {key}")?;
        }
        if let Some(pk) = &self.partition_key {
            write!(f, ", partition key {pk:?}")?;
        }
        for (name, value) in &self.headers {
            write!(f, ", header {name}={:?}", String::from_utf8_lossy(value))?;
        }
        Ok(())
    }
}

fn describe(m: &SentMessage) -> String {
    let mut out = format!(
        "{} key={} payload={}",
        m.topic,
        m.key.as_ref().map_or("(none)".into(), |k| k.to_string()),
        m.payload
            .as_ref()
            .map_or("(tombstone)".into(), |p| p.to_string())
    );
    if let Some(pk) = &m.partition_key {
        out.push_str(&format!(" partition_key={pk:?}"));
    }
    for (name, value) in &m.headers {
        out.push_str(&format!(" {name}={:?}", String::from_utf8_lossy(value)));
    }
    out
}

/// What [`assert_sent!`](crate::assert_sent) takes: any `Serialize` value, as JSON.
#[doc(hidden)]
pub mod erased {
    /// A value that serializes to JSON (every `serde::Serialize` type).
    pub trait Json {
        /// The value as JSON.
        ///
        /// # Errors
        /// serde_json's error.
        fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    }

    impl<T: serde::Serialize + ?Sized> Json for T {
        fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
    }
}

/// The query [`assert_sent!`](crate::assert_sent) builds: JSON `null` for `key`,
/// `partition_key` or `headers` checks nothing; `headers` is an object of names to string
/// values.
#[doc(hidden)]
pub fn __sent_query(
    topic: &str,
    payload: &dyn erased::Json,
    key: Option<&dyn erased::Json>,
    partition_key: Option<&dyn erased::Json>,
    headers: Option<&dyn erased::Json>,
) -> SentQuery {
    let mut query = SentQuery::topic(topic).payload_json(payload);
    if let Some(key) = key {
        query = query.key_json(key);
    }
    if let Some(pk) = partition_key.and_then(|pk| query.json(pk, "partition key")) {
        match pk {
            serde_json::Value::Null => {}
            serde_json::Value::String(pk) => query = query.partition_key(pk),
            other => {
                query.invalid.get_or_insert_with(|| {
                    format!("the expected partition key is not a string: {other}")
                });
            }
        }
    }
    if let Some(headers) = headers.and_then(|h| query.json(h, "headers")) {
        match headers {
            serde_json::Value::Null => {}
            serde_json::Value::Object(fields) => {
                for (name, value) in fields {
                    match value {
                        serde_json::Value::String(value) => query = query.header(name, value),
                        other => {
                            query.invalid.get_or_insert_with(|| {
                                format!("the expected header `{name}` is not a string: {other}")
                            });
                        }
                    }
                }
            }
            other => {
                query.invalid.get_or_insert_with(|| {
                    format!("the expected headers are not an object of names to strings: {other}")
                });
            }
        }
    }
    query
}

/// Asserts that the current app (this thread's [`TestScope`]) sent a message to `topic` whose
/// payload includes `payload` (fields not given are ignored, at any depth) and, when given,
/// whose key matches `key`, whose partition key is `partition_key` and which carries
/// `headers` (Deimos' `expect(topic).to have_sent(payload, topic, key, partition_key,
/// headers)`). `payload` and `key` are any `Serialize` values, e.g. `serde_json::json!({..})`
/// or the payload struct itself; a `payload` of `None::<()>` asks for a tombstone, a `key` or
/// `partition_key` of `None::<()>` checks nothing; `headers` is an object of names to string
/// values (`json!({"trace-id": "abc"})`), the message may carry more. Panics listing what
/// was sent otherwise. [`SentQuery`] is the same as a builder.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # fn demo() {
/// use serde_json::json;
/// deimos::assert_sent!("widgets", json!({ "id": 7, "name": "bolt" }));
/// deimos::assert_sent!("widgets", json!({ "name": "bolt" }), 7);
/// deimos::assert_sent!("widgets", json!({ "name": "bolt" }), 7, "store-3");
/// deimos::assert_sent!("widgets", json!({}), None::<()>, None::<()>, json!({ "trace-id": "abc" }));
/// # }
/// ```
#[macro_export]
macro_rules! assert_sent {
    ($topic:expr, $payload:expr $(, $rest:expr)* $(,)?) => {
        $crate::__sent_query!($topic, $payload $(, $rest)*).assert_sent()
    };
}

/// The opposite of [`assert_sent!`]: no message to `topic` matches (Deimos'
/// `not_to have_sent`).
#[macro_export]
macro_rules! assert_not_sent {
    ($topic:expr, $payload:expr $(, $rest:expr)* $(,)?) => {
        $crate::__sent_query!($topic, $payload $(, $rest)*).assert_not_sent()
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sent_query {
    ($topic:expr, $payload:expr) => {
        $crate::testing::__sent_query(
            &$topic,
            &$payload,
            ::core::option::Option::None,
            ::core::option::Option::None,
            ::core::option::Option::None,
        )
    };
    ($topic:expr, $payload:expr, $key:expr) => {
        $crate::testing::__sent_query(
            &$topic,
            &$payload,
            ::core::option::Option::Some(&$key),
            ::core::option::Option::None,
            ::core::option::Option::None,
        )
    };
    ($topic:expr, $payload:expr, $key:expr, $partition_key:expr) => {
        $crate::testing::__sent_query(
            &$topic,
            &$payload,
            ::core::option::Option::Some(&$key),
            ::core::option::Option::Some(&$partition_key),
            ::core::option::Option::None,
        )
    };
    ($topic:expr, $payload:expr, $key:expr, $partition_key:expr, $headers:expr) => {
        $crate::testing::__sent_query(
            &$topic,
            &$payload,
            ::core::option::Option::Some(&$key),
            ::core::option::Option::Some(&$partition_key),
            ::core::option::Option::Some(&$headers),
        )
    };
}

/// Whether data written with `old` can be read with `new` (Confluent `BACKWARD`: consumers
/// upgraded first), as Deimos' test helper `schemas_compatible?` checks before a schema change.
/// Schemas come as JSON text, parsed schemas, or `.avsc` paths.
///
/// # Errors
/// The [`Incompatibility`] naming the field, for messages; [`schemas_compatible`] gives a
/// `bool`.
pub fn check_schemas_compatible<'o, 'n>(
    old: impl Into<SchemaSource<'o>>,
    new: impl Into<SchemaSource<'n>>,
) -> std::result::Result<(), Incompatibility> {
    compatible(old, new, Compatibility::Backward)
}

/// [`check_schemas_compatible`] as a `bool`.
pub fn schemas_compatible<'o, 'n>(
    old: impl Into<SchemaSource<'o>>,
    new: impl Into<SchemaSource<'n>>,
) -> bool {
    check_schemas_compatible(old, new).is_ok()
}
