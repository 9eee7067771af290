//! Producers: payload types that publish to a topic with a schema.
//!
//! `#[producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"))]` on a
//! `serde::Serialize` struct implements [`Producer`] for it and adds two inherent methods:
//!
//! - `async fn publish(&self) -> deimos::Result<()>`
//! - `async fn publish_list<'a>(payloads: impl IntoIterator<Item = &'a Self>) -> deimos::Result<()>`
//!
//! Both go through the global [`App`](crate::App) (see [`configure`](crate::configure)); the
//! same calls on an explicit app are [`App::publish`](crate::App::publish) and
//! [`App::publish_list`](crate::App::publish_list).
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

pub use disable::{disable_producers, disable_producers_sync, ProducerSet};
pub use dynamic::{DynamicProducer, PAYLOAD_KEY};

use crate::schema::{KeyConfig, SchemaRef};

/// A payload type bound to a topic, a schema and a key configuration.
///
/// Implemented by `#[producer(...)]`; there is no need to implement it by hand.
pub trait Producer: serde::Serialize + Send + Sync + 'static {
    /// Topic name, before `producers.topic_prefix` is applied.
    const TOPIC: &'static str;
    /// The value schema.
    const SCHEMA: SchemaRef;
    /// How the Kafka key is made.
    const KEY_CONFIG: KeyConfig;

    /// The plain key, for `key_config(plain)`; `None` for every other key configuration.
    fn plain_key(&self) -> Option<String> {
        None
    }
}

/// Supplies the key of a `key_config(plain)` producer (Deimos' `payload_key`).
#[diagnostic::on_unimplemented(
    message = "`key_config(plain)` needs `impl deimos::producer::PayloadKey for {Self}`",
    note = "return the plain string key of each message from `payload_key`"
)]
pub trait PayloadKey {
    /// The plain (unencoded) key of this message.
    fn payload_key(&self) -> String;
}
