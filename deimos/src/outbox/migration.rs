//! The outbox tables' migration (sea-orm-migration), for PostgreSQL, MySQL / MariaDB and
//! SQLite: Deimos' `rails g deimos:db_backend` migration. Its source, `tables.rs`, is also
//! what `deimos generate migration outbox` writes.

use sea_orm_migration::MigrationTrait;

pub use super::tables::Migration as CreateOutboxTables;

/// The outbox migration ([`CreateOutboxTables`], named
/// `m20261201_000001_deimos_outbox_tables`), for a `Migrator`'s `migrations()`:
///
/// ```no_run
/// # #![allow(dead_code)]
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
/// `deimos generate migration outbox` writes the same migration, under the same name, as a
/// file of your own migration crate instead (so it needs no deimos dependency); a database
/// migrated with one counts as migrated with the other.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateOutboxTables)]
}
