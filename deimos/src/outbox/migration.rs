//! The outbox tables' migrations (sea-orm-migration), for PostgreSQL, MySQL / MariaDB and
//! SQLite: Deimos' `rails g deimos:db_backend` migration.

use sea_orm::sea_query::{ColumnDef, Expr, Index, Table};
use sea_orm::{DbBackend, DeriveIden};
use sea_orm_migration::{async_trait, DbErr, MigrationName, MigrationTrait, SchemaManager};

/// The `kafka_messages` table: one row per message waiting to be sent.
#[derive(DeriveIden)]
pub(crate) enum KafkaMessages {
    Table,
    Id,
    Topic,
    Shard,
    Message,
    Key,
    PartitionKey,
    Headers,
    CreatedAt,
}

/// The `kafka_topic_info` table: one row per topic (and shard), holding its lock and error
/// state.
#[derive(DeriveIden)]
pub(crate) enum KafkaTopicInfo {
    Table,
    Id,
    Topic,
    Shard,
    LockedBy,
    LockedAt,
    Error,
    Retries,
    LastProcessedAt,
}

/// Creates `kafka_messages` and its `(topic, shard, id)` index:
///
/// | column | type | |
/// |---|---|---|
/// | `id` | bigint, auto-increment, primary key | insertion order |
/// | `topic` | varchar(255) | with `producers.topic_prefix` |
/// | `shard` | integer, default 0 | see [`DbProducerConfig::shards`](crate::config::DbProducerConfig::shards) |
/// | `message` | bytes, nullable (null: a tombstone) | the encoded value |
/// | `key` | bytes, nullable | the encoded key |
/// | `partition_key` | varchar(255), nullable | chooses the partition instead of the key |
/// | `headers` | bytes, nullable | the record headers (see [`encode_headers`](super::encode_headers)) |
/// | `created_at` | timestamp (UTC) | when the row was written |
///
/// Bytes are `bytea` on PostgreSQL, `longblob` on MySQL / MariaDB (a `blob` holds only
/// 64 KiB), `blob` on SQLite. Deimos' table has no `shard` and `headers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateKafkaMessages;

/// Creates `kafka_topic_info` with a unique `(topic, shard)` index:
///
/// | column | type | |
/// |---|---|---|
/// | `id` | bigint, auto-increment, primary key | |
/// | `topic` | varchar(255) | |
/// | `shard` | integer, default 0 | beyond Deimos: one lock per shard |
/// | `locked_by` | varchar(255), nullable | the worker holding the lock |
/// | `locked_at` | timestamp, nullable | its last heartbeat; after an error, when it failed |
/// | `error` | boolean, default false | the last send failed |
/// | `retries` | integer, default 0 | failures in a row |
/// | `last_processed_at` | timestamp, nullable | when a worker last finished the topic |
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateKafkaTopicInfo;

impl MigrationName for CreateKafkaMessages {
    fn name(&self) -> &str {
        "m20261201_000001_deimos_create_kafka_messages"
    }
}

impl MigrationName for CreateKafkaTopicInfo {
    fn name(&self) -> &str {
        "m20261201_000002_deimos_create_kafka_topic_info"
    }
}

/// A bytes column: `longblob` on MySQL / MariaDB, where `blob` stops at 64 KiB.
fn bytes(def: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        DbBackend::MySql => def.custom(sea_orm::sea_query::Alias::new("longblob")),
        _ => def.blob(),
    }
}

/// A timestamp column: `timestamp` on PostgreSQL, `datetime(6)` on MySQL / MariaDB (whose
/// `datetime` drops fractions of a second), text on SQLite.
fn timestamp(def: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        DbBackend::MySql => def.custom(sea_orm::sea_query::Alias::new("datetime(6)")),
        _ => def.date_time(),
    }
}

#[async_trait::async_trait]
#[allow(elided_lifetimes_in_paths)] // as sea-orm-migration declares it
impl MigrationTrait for CreateKafkaMessages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(KafkaMessages::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(KafkaMessages::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KafkaMessages::Topic)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KafkaMessages::Shard)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(bytes(&mut ColumnDef::new(KafkaMessages::Message), backend).null())
                    .col(bytes(&mut ColumnDef::new(KafkaMessages::Key), backend).null())
                    .col(
                        ColumnDef::new(KafkaMessages::PartitionKey)
                            .string_len(255)
                            .null(),
                    )
                    .col(bytes(&mut ColumnDef::new(KafkaMessages::Headers), backend).null())
                    .col(
                        timestamp(&mut ColumnDef::new(KafkaMessages::CreatedAt), backend)
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_kafka_messages_topic_shard_id")
                    .table(KafkaMessages::Table)
                    .col(KafkaMessages::Topic)
                    .col(KafkaMessages::Shard)
                    .col(KafkaMessages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(KafkaMessages::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[async_trait::async_trait]
#[allow(elided_lifetimes_in_paths)] // as sea-orm-migration declares it
impl MigrationTrait for CreateKafkaTopicInfo {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(KafkaTopicInfo::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(KafkaTopicInfo::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KafkaTopicInfo::Topic)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KafkaTopicInfo::Shard)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(KafkaTopicInfo::LockedBy)
                            .string_len(255)
                            .null(),
                    )
                    .col(timestamp(&mut ColumnDef::new(KafkaTopicInfo::LockedAt), backend).null())
                    .col(
                        ColumnDef::new(KafkaTopicInfo::Error)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(KafkaTopicInfo::Retries)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        timestamp(
                            &mut ColumnDef::new(KafkaTopicInfo::LastProcessedAt),
                            backend,
                        )
                        .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_kafka_topic_info_topic_shard")
                    .table(KafkaTopicInfo::Table)
                    .col(KafkaTopicInfo::Topic)
                    .col(KafkaTopicInfo::Shard)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(KafkaTopicInfo::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// Both outbox migrations, for a `Migrator`'s `migrations()`:
///
/// ```no_run
/// use deimos::orm::sea_orm_migration::{MigrationTrait, MigratorTrait};
///
/// pub struct Migrator;
///
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         let mut all = deimos::outbox::migrations();
///         all.extend(my_migrations()); // e.g. Box::new(m20260101_create_widgets::Migration)
///         all
///     }
/// }
/// # fn my_migrations() -> Vec<Box<dyn MigrationTrait>> { Vec::new() }
/// ```
///
/// `deimos generate migration outbox` writes the same migration as a file of your own
/// migration crate instead.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateKafkaMessages),
        Box::new(CreateKafkaTopicInfo),
    ]
}
