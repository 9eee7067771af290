//! The `poll_info` migration (sea-orm-migration), for PostgreSQL, MySQL / MariaDB and SQLite:
//! Deimos' `rails g deimos:db_poller` migration. Its source, `tables.rs`, is also what
//! `deimos generate migration poller` writes.

use sea_orm_migration::MigrationTrait;

pub use super::tables::Migration as CreatePollInfo;

/// The poller migration ([`CreatePollInfo`], named `m20261201_000002_deimos_poll_info`), for
/// a `Migrator`'s `migrations()`:
///
/// ```no_run
/// # #![allow(dead_code)]
/// use deimos::orm::sea_orm_migration::{MigrationTrait, MigratorTrait};
///
/// pub struct Migrator;
///
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         let mut all = deimos::poller::migrations();
///         all.extend(deimos::outbox::migrations()); // with the outbox backend
///         all
///     }
/// }
/// ```
///
/// `deimos generate migration poller` writes the same migration, under the same name, as a
/// file of your own migration crate instead; a database migrated with one counts as migrated
/// with the other.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreatePollInfo)]
}
