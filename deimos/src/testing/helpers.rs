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

/// The messages sent to `topic` (with or without `producers.topic_prefix`) whose payload
/// includes `payload` (see [`json_includes`]; `None`: a tombstone) and, when given, whose key
/// matches `key` (equal, or the one field of a field key). Deimos' `have_sent(payload, topic,
/// key)`.
///
/// # Errors
/// As [`sent_messages`]; [`Error::Runtime`] when `payload` or `key` does not serialize to JSON.
pub fn find_sent(
    topic: &str,
    payload: Option<&dyn erased::Json>,
    key: Option<&dyn erased::Json>,
) -> Result<Vec<SentMessage>> {
    let app = crate::runtime::global()?;
    let prefix = app
        .config()
        .producers
        .topic_prefix
        .clone()
        .unwrap_or_default();
    let to_json = |value: &dyn erased::Json, what: &str| {
        value.to_json().map_err(|e| Error::Runtime {
            reason: format!("the expected {what} does not serialize to JSON: {e}"),
        })
    };
    let payload = payload.map(|p| to_json(p, "payload")).transpose()?;
    let key = key.map(|k| to_json(k, "key")).transpose()?;
    Ok(sent_by(&app)?
        .into_iter()
        .filter(|m| m.topic == topic || m.topic == format!("{prefix}{topic}"))
        .filter(|m| match (&payload, &m.payload) {
            (None, None) => true,
            (Some(expected), Some(actual)) => json_includes(actual, expected),
            _ => false,
        })
        .filter(|m| key.as_ref().is_none_or(|k| key_matches(m.key.as_ref(), k)))
        .collect())
}

/// What [`find_sent`] takes: any `Serialize` value, as JSON.
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

#[doc(hidden)]
#[track_caller]
pub fn __assert_sent(
    topic: &str,
    payload: Option<&dyn erased::Json>,
    key: Option<&dyn erased::Json>,
    expect: bool,
) {
    let found = match find_sent(topic, payload, key) {
        Ok(found) => found,
        Err(e) => panic!("assert_sent!: {e}"),
    };
    if found.is_empty() != expect {
        return;
    }
    let show = |v: Option<&dyn erased::Json>| {
        v.map_or("(none)".to_owned(), |v| {
            v.to_json()
                .map_or_else(|e| e.to_string(), |j| j.to_string())
        })
    };
    let sent: Vec<String> = sent_messages()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "  {} key={} payload={}",
                m.topic,
                m.key.map_or("(none)".into(), |k| k.to_string()),
                m.payload.map_or("(tombstone)".into(), |p| p.to_string())
            )
        })
        .collect();
    if expect {
        panic!(
            "no message to `{topic}` matches payload {} key {}; sent:\n{}",
            show(payload),
            show(key),
            if sent.is_empty() {
                "  (nothing)".to_owned()
            } else {
                sent.join("\n")
            }
        );
    } else {
        panic!(
            "{} message(s) to `{topic}` match payload {} key {}, expected none",
            found.len(),
            show(payload),
            show(key)
        );
    }
}

/// Asserts that the current app (this thread's [`TestScope`]) sent a message to `topic` whose
/// payload includes `payload` (fields not given are ignored, at any depth) and, when given,
/// whose key matches `key` (Deimos' `expect(topic).to have_sent(payload, topic, key)`).
/// `payload` and `key` are any `Serialize` values, e.g. `serde_json::json!({..})` or the
/// payload struct itself; `None::<()>` asks for a tombstone. Panics listing what was sent
/// otherwise.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # fn demo() {
/// deimos::assert_sent!("widgets", serde_json::json!({ "id": 7, "name": "bolt" }));
/// deimos::assert_sent!("widgets", serde_json::json!({ "name": "bolt" }), 7);
/// # }
/// ```
#[macro_export]
macro_rules! assert_sent {
    ($topic:expr, $payload:expr $(,)?) => {
        $crate::testing::__assert_sent(
            &$topic,
            $crate::testing::__payload(&$payload),
            ::core::option::Option::None,
            true,
        )
    };
    ($topic:expr, $payload:expr, $key:expr $(,)?) => {
        $crate::testing::__assert_sent(
            &$topic,
            $crate::testing::__payload(&$payload),
            ::core::option::Option::Some(&$key),
            true,
        )
    };
}

/// The opposite of [`assert_sent!`]: no message to `topic` matches (Deimos'
/// `not_to have_sent`).
#[macro_export]
macro_rules! assert_not_sent {
    ($topic:expr, $payload:expr $(,)?) => {
        $crate::testing::__assert_sent(
            &$topic,
            $crate::testing::__payload(&$payload),
            ::core::option::Option::None,
            false,
        )
    };
    ($topic:expr, $payload:expr, $key:expr $(,)?) => {
        $crate::testing::__assert_sent(
            &$topic,
            $crate::testing::__payload(&$payload),
            ::core::option::Option::Some(&$key),
            false,
        )
    };
}

/// `None` for a `None::<T>` payload (a tombstone is expected), else the value.
#[doc(hidden)]
pub fn __payload<T: Serialize>(payload: &T) -> Option<&dyn erased::Json> {
    match serde_json::to_value(payload) {
        Ok(serde_json::Value::Null) => None,
        _ => Some(payload),
    }
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
