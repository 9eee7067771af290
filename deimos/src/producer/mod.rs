//! Producers: payload types that publish to a topic with a schema.
//!
//! `#[producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"))]` on a
//! `serde::Serialize` struct implements [`Producer`] for it and adds inherent methods:
//!
//! - `async fn publish(&self) -> deimos::Result<()>`
//! - `async fn publish_with(&self, options: &PublishOptions) -> deimos::Result<()>`
//! - `async fn publish_list<'a>(payloads: impl IntoIterator<Item = &'a Self>) -> deimos::Result<()>`
//! - `async fn publish_list_with<'a>(payloads: impl IntoIterator<Item = &'a Self>, options: &PublishOptions) -> deimos::Result<()>`
//!
//! On a unit struct with `payload = Widget` (the producer-type form, see [`Producer`]) the
//! same methods take the payload: `WidgetProducer::publish(&widget)`,
//! `WidgetProducer::publish_with(&widget, &options)`, and so on.
//!
//! They go through the global [`App`](crate::App) (see [`configure`](crate::configure)); the
//! same calls on an explicit app are [`App::publish`](crate::App::publish),
//! [`App::publish_list`](crate::App::publish_list) and
//! [`App::publish_list_with`](crate::App::publish_list_with).
//! [`PublishOptions`] carry Deimos' `publish_list` options: topic override, `force_send`,
//! partition key and headers.
//!
//! # What a publish does
//! payload → Avro value (serde) → resolved against the schema (Avro spec "Schema Resolution":
//! ints promote to longs, missing fields with defaults are filled) → key made per `key_config` →
//! value and key encoded by the schema backend → `producers.topic_prefix` prepended to the topic
//! → handed to the producer backend (`producers.backend`).
//!
//! # Avro ↔ Rust types
//! The macro checks each struct field against the schema at compile time:
//!
//! | Avro | Rust |
//! |---|---|
//! | `boolean` | `bool` |
//! | `int` | `i32` (or `i16`, `i8`, `u16`, `u8`) |
//! | `long` | `i64` (or any narrower integer) |
//! | `float` / `double` | `f32` / `f64` |
//! | `string` | `String` |
//! | `bytes`, `fixed` | `Vec<u8>` with `#[serde(with = "serde_bytes")]` |
//! | `decimal` | [`schema::Decimal`](crate::schema::Decimal): the big-endian two's-complement unscaled value, at least as many bytes as its precision needs (e.g. 5 for precision 10) |
//! | `uuid` | `uuid::Uuid` (top-level fields) or `String` |
//! | `date`, `time-millis` | `i32` (days since epoch, ms after midnight) |
//! | `time-micros`, `timestamp-millis`, `timestamp-micros` | `i64` |
//! | `["null", T]` | `Option<T>` |
//! | `array` / `map` | `Vec<T>` / `HashMap<String, T>` or `BTreeMap<String, T>` |
//! | named `record` / `enum`, other unions | a serde type (checked at runtime) |

pub(crate) mod disable;
pub(crate) mod dynamic;
mod options;

pub use disable::{disable_producers, disable_producers_sync, ProducerSet};
pub use dynamic::{DynamicProducer, PAYLOAD_KEY};
pub use options::PublishOptions;

use crate::schema::{KeyConfig, SchemaRef};

/// A producer: a topic, a schema and a key configuration for one payload type.
///
/// Implemented by `#[producer(...)]`; there is no need to implement it by hand. Two forms:
///
/// - on the payload struct itself (`Payload = Self`): `widget.publish().await`;
/// - on a unit struct naming the payload type, `#[producer(..., payload = Widget)] struct
///   WidgetProducer;` (`Payload = Widget`): `WidgetProducer::publish(&widget).await`. Several
///   producers can share one payload type, e.g. to publish it to two topics or with different
///   hooks (Deimos' producer classes).
///
/// The hooks ([`partition_key`](Producer::partition_key), [`headers`](Producer::headers)) come
/// from [`ProducerHooks`] when the attribute says `hooks`; otherwise they are the defaults.
pub trait Producer: Send + Sync + 'static {
    /// What this producer publishes: a `serde::Serialize` struct matching [`Self::SCHEMA`].
    type Payload: serde::Serialize + Send + Sync + 'static;
    /// Topic name, before `producers.topic_prefix` is applied.
    const TOPIC: &'static str;
    /// The value schema.
    const SCHEMA: SchemaRef;
    /// How the Kafka key is made.
    const KEY_CONFIG: KeyConfig;

    /// The plain key, for `key_config(plain)` (from the payload's [`PayloadKey`]); `None` for
    /// every other key configuration.
    fn plain_key(_payload: &Self::Payload) -> Option<String> {
        None
    }

    /// The partition key of a message (Deimos' `partition_key(payload)`). `None` (the
    /// default) lets librdkafka's partitioner hash the encoded message key. See
    /// [`ProducerHooks::partition_key`].
    fn partition_key(_payload: &Self::Payload) -> Option<String> {
        None
    }

    /// Headers added to a message (before those of
    /// [`PublishOptions::header`](crate::producer::PublishOptions::header)). Empty by default.
    fn headers(_payload: &Self::Payload) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
}

/// Overridable producer hooks. Write `hooks` in the attribute
/// (`#[producer(topic = .., schema = .., key_config(..), hooks)]`) and implement this trait for
/// the producer type; every method has a default.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # use serde::Serialize;
/// # #[derive(Serialize)] pub struct Widget { pub id: i64, pub name: String, pub price: f64, pub tags: Vec<String>, pub description: Option<String>, pub updated_at: i64 }
/// #[deimos::producer(topic = "widgets", schema = "com.example.Widget",
///                    key_config(field = "id"), payload = Widget, hooks)]
/// pub struct WidgetsByName;
///
/// impl deimos::producer::ProducerHooks for WidgetsByName {
///     // Every widget of a name goes to the same partition, whatever its id (the key).
///     fn partition_key(widget: &Widget) -> Option<String> {
///         Some(widget.name.clone())
///     }
///     fn headers(_widget: &Widget) -> Vec<(String, Vec<u8>)> {
///         vec![("source".into(), b"catalog".to_vec())]
///     }
/// }
///
/// # async fn demo(widget: Widget) -> deimos::Result<()> {
/// WidgetsByName::publish(&widget).await?;
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`#[producer(.., hooks)]` needs `impl deimos::producer::ProducerHooks for {Self}`",
    note = "implement the hooks you need (`partition_key`, `headers`); the others keep their defaults, or remove `hooks`"
)]
pub trait ProducerHooks: Producer {
    /// The partition key of a message (Deimos' `partition_key(payload)`): messages with equal
    /// partition keys go to the same partition. `None` (the default) lets librdkafka's
    /// partitioner hash the encoded message key, as without the hook.
    ///
    /// The partition is chosen with the hash librdkafka's configured `partitioner` uses for
    /// keys (CRC32 for the default `consistent_random`, as ruby-kafka did for Deimos; Java's
    /// murmur2 for `murmur2` / `murmur2_random`), modulo the topic's partition count, so a
    /// partition key equal to a message key lands where that keyed message would.
    fn partition_key(_payload: &Self::Payload) -> Option<String> {
        None
    }

    /// Headers added to every message of this producer, before those of
    /// [`PublishOptions`]. Empty by default.
    fn headers(_payload: &Self::Payload) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
}

/// Supplies the key of a `key_config(plain)` producer (Deimos' `payload_key`), implemented on
/// the payload type.
#[diagnostic::on_unimplemented(
    message = "`key_config(plain)` needs `impl deimos::producer::PayloadKey for {Self}`",
    note = "return the plain string key of each message from `payload_key`"
)]
pub trait PayloadKey {
    /// The plain (unencoded) key of this message.
    fn payload_key(&self) -> String;
}
