//! SeaORM integration (feature `orm`): entity producers, after Deimos' `ActiveRecordProducer`.
//!
//! `#[producer(topic = .., schema = .., key_config(..), entity = path::to::Entity)]` on a unit
//! struct makes it an [`EntityProducer`]: rows of the entity become messages, column by column
//! ([`column_value`] says how each SeaORM value is read) through Deimos' coercion rules. The
//! generated methods are:
//!
//! - `async fn send_event(model: &Model) -> deimos::Result<()>`
//! - `async fn send_events<'a>(models: impl IntoIterator<Item = &'a Model>) -> deimos::Result<()>`
//! - `async fn send_events_with<'a>(models: .., options: &PublishOptions) -> deimos::Result<()>`
//! - `async fn send_records<C: ConnectionTrait>(db: &C, records: impl IntoIterator<Item = Record<Entity>>) -> deimos::Result<()>`
//!   (Deimos' `refetch`: rows given by key or as partial active models are read again first)
//!
//! They publish through the global [`App`](crate::App); [`send_events_with`] and
//! [`send_records`] take an explicit one.
//!
//! `#[kafka_source(producers(..))]` on the entity's `impl ActiveModelBehavior for ActiveModel`
//! (or its `Model` struct) publishes the entity's inserts, updates of watched attributes and
//! deletes from SeaORM's hooks, and adds `Entity::import` (Deimos' `KafkaSource`; see
//! [`source`]). Entity consumers (`#[consumer(.., entity = ..)]`) write messages into rows,
//! one by one or in batches.
//!
//! deimos names no database driver: enable sea-orm's `sqlx-postgres`, `sqlx-mysql` or
//! `sqlx-sqlite` and a `runtime-*` feature in your own `Cargo.toml` (sea-orm 2).

mod assign;
mod batch;
mod consumer;
mod import;
mod producer;
pub mod source;
mod value;

pub use assign::{assign_attributes, column_value_of, set_column};
pub(crate) use batch::retry_lock_conflicts;
pub use batch::{
    batch_handler_future, compact, consume_batch, delete_by_keys, handle_batch, is_retryable,
    slices, BatchMessage, DEADLOCK_ATTEMPTS,
};
pub use consumer::{
    assign_key_from, consume, fetch_by_key, handle, handler_future, incoming_payload,
    key_from_payload, ConsumedActiveModelOf, ConsumedModelOf, EntityConsumer, EntityConsumerHooks,
};
pub use import::{import, import_rows, ImportMode};
pub use producer::{
    payload_of, send_events_on, send_events_with, send_records, ActiveModelOf, EntityProducer,
    EntityProducerHooks, ModelOf, Record,
};
pub use value::{column_value, model_attributes};

/// The sea-orm crate deimos is built with (sea-orm 2), for generated code and for applications
/// that want to name the same version.
#[doc(no_inline)]
pub use sea_orm;
/// The sea-orm-migration crate deimos is built with, whose `MigrationTrait` the outbox
/// migrations ([`crate::outbox::migrations`]) implement.
#[doc(no_inline)]
pub use sea_orm_migration;
