//! The tables of deimos' transactional outbox (`producers.backend = "db"`): `kafka_messages`
//! and `kafka_topic_info`, for PostgreSQL, MySQL / MariaDB and SQLite (Deimos' `rails g
//! deimos:db_backend` migration). This file is both deimos' own migration
//! (`deimos::outbox::migrations()`) and what `deimos generate migration outbox` writes into a
//! migration crate; it needs only sea-orm-migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates the outbox tables (if they do not exist):
///
/// `kafka_messages`, one row per message waiting to be sent, with an index on
/// `(topic, shard, id)`:
///
/// | column | type | |
/// |---|---|---|
/// | `id` | bigint, auto-increment, primary key | insertion order |
/// | `topic` | varchar(255) | with `producers.topic_prefix` |
/// | `shard` | integer, default 0 | see `db_producer.shards` |
/// | `message` | bytes, nullable (null: a tombstone) | the encoded value |
/// | `key` | bytes, nullable | the encoded key |
/// | `partition_key` | varchar(255), nullable | chooses the partition instead of the key |
/// | `headers` | bytes, nullable | the record headers, as JSON `[[name, [byte, …]], …]` |
/// | `created_at` | timestamp (UTC) | when the row was written |
///
/// `kafka_topic_info`, one row per topic (and shard) holding its lock, unique on
/// `(topic, shard)`:
///
/// | column | type | |
/// |---|---|---|
/// | `id` | bigint, auto-increment, primary key | |
/// | `topic` | varchar(255) | |
/// | `shard` | integer, default 0 | one lock per shard |
/// | `locked_by` | varchar(255), nullable | the worker holding the lock |
/// | `locked_at` | timestamp, nullable | its last heartbeat; after an error, when it failed |
/// | `error` | boolean, default false | the last send failed |
/// | `retries` | integer, default 0 | failures in a row |
/// | `last_processed_at` | timestamp, nullable | when a worker last finished the topic |
///
/// Bytes are `bytea` on PostgreSQL, `longblob` on MySQL / MariaDB (a `blob` holds only
/// 64 KiB), `blob` on SQLite; timestamps `timestamp` on PostgreSQL, `datetime(6)` on MySQL /
/// MariaDB. Deimos' tables have no `shard` and `headers`. `down` drops both tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_deimos_outbox_tables"
    }
}

/// `kafka_messages` and its columns.
#[derive(DeriveIden)]
pub enum KafkaMessages {
    /// The table.
    Table,
    /// Column `id`.
    Id,
    /// Column `topic`.
    Topic,
    /// Column `shard`.
    Shard,
    /// Column `message`.
    Message,
    /// Column `key`.
    Key,
    /// Column `partition_key`.
    PartitionKey,
    /// Column `headers`.
    Headers,
    /// Column `created_at`.
    CreatedAt,
}

/// `kafka_topic_info` and its columns.
#[derive(DeriveIden)]
pub enum KafkaTopicInfo {
    /// The table.
    Table,
    /// Column `id`.
    Id,
    /// Column `topic`.
    Topic,
    /// Column `shard`.
    Shard,
    /// Column `locked_by`.
    LockedBy,
    /// Column `locked_at`.
    LockedAt,
    /// Column `error`.
    Error,
    /// Column `retries`.
    Retries,
    /// Column `last_processed_at`.
    LastProcessedAt,
}

/// A bytes column: `longblob` on MySQL / MariaDB, where `blob` stops at 64 KiB.
fn bytes(def: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        DbBackend::MySql => def.custom(Alias::new("longblob")),
        _ => def.blob(),
    }
}

/// A timestamp column: `timestamp` on PostgreSQL, `datetime(6)` on MySQL / MariaDB (whose
/// `datetime` drops fractions of a second), text on SQLite.
fn timestamp(def: &mut ColumnDef, backend: DbBackend) -> &mut ColumnDef {
    match backend {
        DbBackend::MySql => def.custom(Alias::new("datetime(6)")),
        _ => def.date_time(),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
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
            .await?;
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
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            KafkaMessages::Table.into_iden(),
            KafkaTopicInfo::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
