//! The database pollers' table, `poll_info`, for PostgreSQL, MySQL / MariaDB and SQLite
//! (Deimos' `rails g deimos:db_poller` migration). This file is both deimos' own migration
//! (`deimos::poller::migrations()`) and what `deimos generate migration poller` writes into a
//! migration crate; it needs only sea-orm-migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `poll_info` (if it does not exist), one row per poller:
///
/// | column | type | |
/// |---|---|---|
/// | `poller` | varchar(255), primary key | the poller's name |
/// | `last_sent` | timestamp (UTC), nullable | time-based: the timestamp of the last row sent |
/// | `last_sent_id` | varchar(255), nullable | time-based: that row's primary key, as text |
/// | `last_polled_at` | timestamp (UTC), nullable | when the last run started |
/// | `locked_by` | varchar(255), nullable | the process running the poller now |
/// | `locked_at` | timestamp (UTC), nullable | its last heartbeat |
///
/// The cursor (`last_sent`, `last_sent_id`) moves only when rows were sent; `last_polled_at`
/// moves on every run, so an empty run never moves the cursor past rows it did not see.
/// Timestamps are `timestamp` on PostgreSQL, `datetime(6)` on MySQL / MariaDB, text on
/// SQLite. Deimos' `deimos_poll_info` has `producer`, `last_sent` and `last_sent_id` only.
/// `down` drops the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_deimos_poll_info"
    }
}

/// `poll_info` and its columns.
#[derive(DeriveIden)]
pub enum PollInfo {
    /// The table.
    Table,
    /// Column `poller`.
    Poller,
    /// Column `last_sent`.
    LastSent,
    /// Column `last_sent_id`.
    LastSentId,
    /// Column `last_polled_at`.
    LastPolledAt,
    /// Column `locked_by`.
    LockedBy,
    /// Column `locked_at`.
    LockedAt,
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
                    .table(PollInfo::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PollInfo::Poller)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(timestamp(&mut ColumnDef::new(PollInfo::LastSent), backend).null())
                    .col(ColumnDef::new(PollInfo::LastSentId).string_len(255).null())
                    .col(timestamp(&mut ColumnDef::new(PollInfo::LastPolledAt), backend).null())
                    .col(ColumnDef::new(PollInfo::LockedBy).string_len(255).null())
                    .col(timestamp(&mut ColumnDef::new(PollInfo::LockedAt), backend).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PollInfo::Table).if_exists().to_owned())
            .await
    }
}
