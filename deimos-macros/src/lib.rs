//! Attribute macros for [deimos](https://docs.rs/deimos), a Kafka + Avro application framework
//! after the Ruby gem Deimos: `#[producer]` and `#[consumer]`.
//!
//! Use them through `deimos` (`deimos::producer`, `deimos::consumer`, behind its default
//! `macros` feature): the generated code names `::deimos::__private`, so a crate that depends
//! only on `deimos-macros` cannot use them. The two crates are released together.
//!
//! # Schema files
//!
//! Both macros read the value schema (and the key schema, for `key_config(schema = "...")`) at
//! compile time. `schema = "com.example.Widget"` is the file `com/example/Widget.avsc` in the
//! first `schemas` directory that has it, searched in `$CARGO_MANIFEST_DIR/schemas`, then
//! `schemas` in each parent directory up to the workspace root, so every crate of a workspace
//! finds the workspace's `schemas/`. When the file that uses the attribute lies outside
//! `$CARGO_MANIFEST_DIR` (trybuild compiles test cases in a copy of the crate under `target/`),
//! the same walk from that file's directory follows. The file's `name` and `namespace` must
//! match the requested name. Editing a
//! schema file rebuilds the crates that use it. There is no network access at compile time:
//! schema registry checks happen at runtime.

mod common;
mod consumer;
mod kafka_source;
mod producer;

use proc_macro::TokenStream;

/// Makes a struct a Kafka payload, or a producer type for a payload: implements
/// `deimos::producer::Producer` for it and adds `publish`, `publish_with`, `publish_list` and
/// `publish_list_with`.
///
/// ```ignore
/// use deimos::producer;
/// use serde::{Deserialize, Serialize};
///
/// #[producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"))]
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Widget {
///     id: i64,
///     name: String,
///     price: f64,
///     tags: Vec<String>,
///     description: Option<String>,
///     updated_at: i64,
/// }
///
/// # async fn run(widget: Widget) -> deimos::Result<()> {
/// widget.publish().await?;
/// Widget::publish_list(&[widget]).await?;
/// # Ok(())
/// # }
/// ```
///
/// The struct is kept as written. The macro adds:
///
/// - `impl deimos::producer::Producer for Widget` (topic, schema and key configuration);
/// - `pub async fn publish(&self) -> deimos::Result<()>`;
/// - `pub async fn publish_with(&self, options: &deimos::producer::PublishOptions) -> deimos::Result<()>`;
/// - `pub async fn publish_list<'a>(payloads: impl IntoIterator<Item = &'a Self>) -> deimos::Result<()>`;
/// - `pub async fn publish_list_with<'a>(payloads: impl IntoIterator<Item = &'a Self>, options: &deimos::producer::PublishOptions) -> deimos::Result<()>`.
///
/// # The producer-type form
///
/// ```ignore
/// #[producer(topic = "widgets-by-name", schema = "com.example.Widget",
///            key_config(field = "id"), payload = Widget, hooks)]
/// pub struct WidgetsByName;
///
/// impl deimos::producer::ProducerHooks for WidgetsByName {
///     fn partition_key(widget: &Widget) -> Option<String> {
///         Some(widget.name.clone())
///     }
/// }
///
/// # async fn run(widget: Widget) -> deimos::Result<()> {
/// WidgetsByName::publish(&widget).await?;
/// # Ok(())
/// # }
/// ```
///
/// On a unit struct, `payload = Widget` names the payload type, so several producers can share
/// one (Deimos' producer classes). The same four methods take the payload:
/// `WidgetsByName::publish(&widget)`, `WidgetsByName::publish_list(&widgets)`, ….
/// The payload type is checked against the schema when it is encoded (the macro cannot see its
/// fields); annotate it with `#[producer]` too to get the compile-time checks.
///
/// # Arguments
///
/// - `topic = "widgets"` (required): the Kafka topic, before `producers.topic_prefix`.
/// - `schema = "com.example.Widget"` (required): the value schema's full name; or its simple
///   name with `namespace`.
/// - `namespace = "com.example"`: the namespace of a simple `schema` name
///   (`schema = "Widget", namespace = "com.example"`).
/// - `key_config(...)` (required), how the Kafka key is made, exactly one of:
///   - `key_config(none)`: no key;
///   - `key_config(plain)`: a plain string from `impl deimos::producer::PayloadKey for Widget`;
///   - `key_config(field = "id")`: the payload's `id` field, encoded with a generated key schema;
///   - `key_config(schema = "Widget_key")`: a record encoded with `Widget_key.avsc` (same
///     namespace as the value schema), filled from the payload's fields of the same names.
/// - `payload = Widget`: the producer-type form (above).
/// - `hooks`: the producer's hooks (partition key, headers) come from your
///   `impl deimos::producer::ProducerHooks for ...`; without it they are the defaults (no
///   partition key, no headers), and implementing `ProducerHooks` is a conflicting-impl error.
///
/// # Compile-time checks
///
/// - every schema field without a default has a struct field, and every struct field is in the
///   schema (names as serde writes them, so `#[serde(rename = "...")]` counts);
/// - each field's Rust type can hold the schema field's Avro type (`i64` for `long`,
///   `Option<T>` for `["null", T]`, see the table in `deimos::producer`), reported on the
///   field's type;
/// - the struct implements `serde::Serialize`;
/// - the key field exists in the schema and the struct; the key schema exists and each of its
///   fields is a struct field.
///
/// # Limitations
///
/// - Structs with named fields (or unit structs with `payload = ..`), without generic
///   parameters.
/// - `#[serde(flatten)]` fields and struct-level `#[serde(rename_all)]` are rejected: rename
///   fields one by one instead.
/// - Named records and enums inside the schema, and unions other than `["null", T]`, are
///   checked at runtime (through serde), not at compile time.
#[proc_macro_attribute]
pub fn producer(args: TokenStream, item: TokenStream) -> TokenStream {
    producer::expand(args.into(), item.into()).into()
}

/// Registers an `async fn` as the handler of a Kafka topic.
///
/// ```ignore
/// use deimos::{consumer, Metadata};
///
/// #[consumer(
///     topic = "widgets",
///     schema = "com.example.Widget",
///     group_id = "widget-consumer",
///     key_config(field = "id"),
/// )]
/// async fn handle(payload: Option<Widget>, metadata: Metadata) -> Result<(), deimos::BoxError> {
///     match payload {
///         Some(widget) => println!("{} at offset {}", widget.name, metadata.offset),
///         None => println!("tombstone"),
///     }
///     Ok(())
/// }
/// ```
///
/// The function is kept as written, and registered (through `inventory`) so the deimos runtime
/// finds it: there is no list of consumers to maintain.
///
/// The handler takes the decoded payload as `Option<T>` (`None` for a tombstone, `T:
/// serde::Deserialize`) and the message's `deimos::Metadata`, and returns `Result<(), E>` where
/// `E` converts into `Box<dyn std::error::Error + Send + Sync>`. Its future must be `Send`.
///
/// # Arguments
///
/// - `topic = "widgets"` (required): the Kafka topic.
/// - `schema = "com.example.Widget"` (required): the value schema's full name; or its simple
///   name with `namespace`.
/// - `namespace = "com.example"`: the namespace of a simple `schema` name.
/// - `group_id = "widget-consumer"` (required): the Kafka consumer group (`group.id`).
/// - `key_config(...)` (required), how the key is decoded, exactly one of `key_config(none)`,
///   `key_config(plain)`, `key_config(field = "id")` or `key_config(schema = "Widget_key")`,
///   as for `#[producer]`.
/// - `delivery = "inline_batch"` (or `"message"`, the default, or `"batch"`): with
///   `inline_batch` the handler takes one partition's batch,
///   `async fn(payloads: Vec<Option<T>>, metadata: deimos::BatchMetadata) -> Result<(), E>`.
///
/// Optional settings, each the consumer's default for the configuration key of the same name
/// (`[consumer.<name>]` overrides it; see the `deimos::consumer` docs):
///
/// - integers: `max_concurrency = 4`, `offset_commit_threshold = 1000`,
///   `max_batch_size = 500`, `min_bytes = 1`, `max_bytes_per_partition = 1048576`,
///   `dead_letter_max_retries = 3` (`max_concurrency`, `max_batch_size`, `min_bytes` and
///   `max_bytes_per_partition` must be at least 1);
/// - bools: `start_from_beginning = false`, `reraise_errors = true`, `disabled = true`,
///   `report_lag = true`;
/// - durations, whole seconds or a `humantime` string: `session_timeout = 30`,
///   `heartbeat_interval = "500ms"`, `offset_commit_interval = "10s"`,
///   `max_wait_time = "250ms"`, and `backoff(min = "100ms", max = "1m")` (either or both;
///   `min` ≤ `max`);
/// - `dead_letter_topic = "widgets.dlq"`: a valid topic name other than `topic`;
/// - `fatal_error = errors::is_fatal`: a `fn(&deimos::Error) -> bool` consulted for this
///   consumer's errors.
///
/// `offset_retention_time` is an error: librdkafka cannot send it (KIP-211).
///
/// # Compile-time checks
///
/// The schema and key schema files exist and parse; the key field is a field of the schema; the
/// handler is a non-generic `async fn` with two parameters and no `self`; rustc checks the
/// parameter and return types, on the parameter's type and on the return type, and the
/// `fatal_error` function's signature, on its path. Durations and integers are parsed, and the
/// settings checked (limits at least 1, `backoff` min ≤ max, `dead_letter_topic`), at compile
/// time; settings that depend on the configuration (such as `heartbeat_interval` below
/// `session_timeout`) are checked when the consumer starts.
///
/// # Limitations
///
/// - Free functions only (module level or inside a function body), not methods or associated
///   functions in an `impl` block.
#[proc_macro_attribute]
pub fn consumer(args: TokenStream, item: TokenStream) -> TokenStream {
    consumer::expand(args.into(), item.into()).into()
}

/// Publishes a SeaORM entity's inserts, updates and deletes through its entity producers
/// (Deimos' `KafkaSource`), by writing its `ActiveModelBehavior` hooks.
///
/// ```ignore
/// // In the entity's module, next to `Model` (DeriveEntityModel):
/// #[deimos::kafka_source(producers(crate::WidgetProducer, crate::WidgetPriceProducer))]
/// impl ActiveModelBehavior for ActiveModel {
///     // Your own hooks stay; they run first.
///     async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
///     where
///         C: ConnectionTrait,
///     {
///         self.updated_at = Set(chrono::Utc::now());
///         Ok(self)
///     }
/// }
/// ```
///
/// See `deimos::orm::source` for what each hook does; in short:
///
/// - `create`: `after_save` of an insert publishes the row (as the database returned it, with
///   generated ids) through every producer;
/// - `update`: `after_save` of an update publishes the row through each producer one of whose
///   `watched_attributes` (other than `updated_at`) the update set;
/// - `delete`: `after_delete` publishes the deletion payload (by default a tombstone keyed by
///   the primary key; `deletion_payload = path::to_fn`, a `fn(&ActiveModel) -> deimos::Payload`,
///   replaces it) through every producer;
/// - `import`: adds `Entity::import(db, &models, mode)`, a bulk write that publishes one
///   message per row through every producer.
///
/// Naming none of `create`, `update`, `delete`, `import` turns all four on (Deimos'
/// `kafka_config` default); naming some turns on only those.
///
/// # Arguments
///
/// - `producers(A, B, ..)` (required): entity producers (`#[producer(.., entity = Entity)]`) of
///   this entity, in publishing order.
/// - `create`, `update`, `delete`, `import`: the events to publish (above).
/// - `deletion_payload = path`: the deletion payload function (needs `delete`).
///
/// # Placement
///
/// On `impl ActiveModelBehavior for ActiveModel { .. }`, put it above `#[async_trait]` (or leave
/// `#[async_trait]` out: the macro adds it). Your `before_save`, `after_save` and
/// `after_delete` run before the generated publishing, with their own `return`s and `?`s. On
/// the `Model` struct instead, it also writes the `impl ActiveModelBehavior for ActiveModel`
/// (then write no other).
#[proc_macro_attribute]
pub fn kafka_source(args: TokenStream, item: TokenStream) -> TokenStream {
    kafka_source::expand(args.into(), item.into()).into()
}
