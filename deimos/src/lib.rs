//! deimos-rs: Kafka, Avro schemas and a relational database in one framework, after the Ruby
//! gem [Deimos](https://github.com/flipp-oss/deimos).
//!
//! Annotate a payload struct with `#[producer]` and an async handler with `#[consumer]`; the
//! macros check the struct against its `.avsc` at compile time, generate the encoding and key
//! handling, and register the handler. [`run()`] starts every registered consumer.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//!
//! #[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"))]
//! #[derive(Debug, Serialize, Deserialize)]
//! pub struct Widget {
//!     pub id: i64,
//!     pub name: String,
//!     pub price: f64,
//!     pub tags: Vec<String>,
//!     pub description: Option<String>,
//!     pub updated_at: i64,
//! }
//!
//! #[deimos::consumer(topic = "widgets", schema = "com.example.Widget",
//!                    group_id = "widget-service", key_config(field = "id"))]
//! async fn on_widget(widget: Option<Widget>, metadata: deimos::Metadata) -> Result<(), deimos::BoxError> {
//!     println!("{:?} (key {:?})", widget, metadata.key);
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> deimos::Result<()> {
//!     deimos::configure(deimos::Config::load()?)?;
//!     Widget { id: 1, name: "gear".into(), price: 9.5, tags: vec![], description: None, updated_at: 0 }
//!         .publish()
//!         .await?;
//!     deimos::run().await // until SIGINT / SIGTERM
//! }
//! ```
//!
//! # Feature flags
//!
//! | feature | enables | default |
//! |---|---|---|
//! | `macros` | `#[producer]`, `#[consumer]` | yes |
//! | `testing` | `deimos::testing`: the embedded broker and the in-process Confluent-compatible schema registry (axum) | no |
//! | `axum` | `deimos::http`: Deimos' `SchemaControllerMixin` for axum (Avro request extractors and responses with per-route schemas, a JSON fallback, a body size limit) | no |
//! | `registry-tls` | `https://` schema registry URLs (rustls, no OpenSSL) for `avro_schema_registry` | no |
//! | `ssl` | TLS in librdkafka (OpenSSL), for `kafka.ssl.*`; also SASL `SCRAM-*` and `OAUTHBEARER` | no |
//! | `orm` | `deimos::orm`: SeaORM entity producers (`#[producer(.., entity = ..)]`); bring your own sea-orm driver feature | no |
//! | `cli` | the `deimos` command-line tool (`deimos generate entity`) and `deimos::generate`, the generators behind it (SeaORM entities and sea-orm-migration files from schemas); implies `orm` | no |
//! | `oidc` | `OAUTHBEARER` with OIDC client credentials (`kafka.sasl.oauthbearer`): librdkafka with libcurl; implies `ssl` | no |
//! | `prometheus` | `metrics.prometheus`: Deimos' metrics on a Prometheus scrape endpoint ([`metrics`](mod@metrics)) | no |
//! | `dogstatsd` | `metrics.dogstatsd`: Deimos' metrics as DogStatsD datagrams to a Datadog agent (Deimos' default provider) | no |
//!
//! # Modules
//! [`config`] (typed configuration), [`schema`] (schema backends, key configuration,
//! Deimos' coercion rules in [`schema::coerce`]), [`payload`](mod@payload) (dynamic [`Payload`]s),
//! [`producer`](mod@producer), [`backends`] (producer backends),
//! [`consumer`](mod@consumer), [`runtime`] (the [`App`],
//! graceful shutdown), [`metrics`](mod@metrics) (the Prometheus and DogStatsD exporters),
//! [`utils`] (the [`InlineConsumer`](utils::InlineConsumer) and the
//! [`LagReporter`](utils::LagReporter)); with feature `cli`, `generate` (the generators of the
//! `deimos` command-line tool); with feature `axum`, `http` (Avro bodies for axum routes).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod backends;
pub mod config;
pub mod consumer;
mod error;
pub mod events;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod generate;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
pub mod metrics;
#[cfg(feature = "orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
pub mod orm;
#[cfg(feature = "orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
pub mod outbox;
pub mod payload;
#[cfg(feature = "orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
pub mod poller;
pub mod producer;
pub mod runtime;
pub mod schema;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod utils;

#[doc(hidden)]
pub mod __private;

#[doc(inline)]
pub use config::Config;
#[doc(inline)]
pub use consumer::{BatchMetadata, Metadata};
pub use error::{BoxError, Error, Result};
#[doc(inline)]
pub use payload::{Payload, PayloadValue};
#[doc(inline)]
pub use producer::{disable_producers, PayloadKey, Producer};
#[doc(inline)]
pub use runtime::{
    configure, global, in_consumer_process, request_shutdown, run, schema_backend,
    shutdown_producers, tombstone, App,
};
#[cfg(feature = "orm")]
#[doc(inline)]
pub use runtime::{start_db_backend, start_db_pollers};

#[cfg(all(feature = "macros", feature = "orm"))]
pub use deimos_macros::kafka_source;
#[cfg(feature = "macros")]
pub use deimos_macros::{consumer, producer};
