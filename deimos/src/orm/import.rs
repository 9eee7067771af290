//! Bulk imports that publish (Deimos' `import` of a `KafkaSource` model, with
//! activerecord-import).

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, EntityTrait, IdenStatic as _, IntoActiveModel, PrimaryKeyToColumn as _,
};

use super::producer::{send_events_on, ActiveModelOf, EntityProducer, ModelOf};
use crate::error::{Error, Result};
use crate::producer::PublishOptions;
use crate::runtime::App;

/// How [`import`] writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// `INSERT` only: a row whose primary key exists fails the import (nothing is published).
    Insert,
    /// `INSERT … ON CONFLICT (primary key) DO UPDATE` every other column (MySQL: `ON DUPLICATE
    /// KEY UPDATE`): existing rows take the given values.
    Upsert,
}

/// Bind parameters per statement, below every backend's limit.
const MAX_PARAMS: usize = 30_000;

/// Bulk-writes `models` on `db` (in statements of up to 30,000 bind parameters), then publishes
/// one message per row through `P`, as given, as one `publish_list` (Deimos' `import` on a
/// `KafkaSource` model: activerecord-import, then `send_events`).
///
/// The rows are written before anything is published: pass a transaction as `db` to make a
/// failed publish undo them (with the `kafka` backends the messages are out before the
/// transaction commits, as in Deimos; with the `db` outbox backend they are part of it). The rows
/// must carry their primary keys: bulk inserts do not read back generated ids. Bulk statements
/// skip SeaORM's `ActiveModelBehavior` hooks, as activerecord-import skips callbacks.
///
/// `#[kafka_source(.., import)]` adds `Entity::import(db, models, mode)`, which writes once and
/// publishes through each of its producers.
///
/// # Errors
/// [`Error::Database`] naming the table when a statement fails (an existing key with
/// [`ImportMode::Insert`]: nothing is published); then as [`send_events_on`](super::send_events_on).
pub async fn import<P, C>(app: &App, db: &C, models: &[ModelOf<P>], mode: ImportMode) -> Result<()>
where
    P: EntityProducer,
    C: ConnectionTrait,
    ModelOf<P>: IntoActiveModel<ActiveModelOf<P>>,
{
    import_rows::<P::Entity, C>(db, models, mode).await?;
    send_events_on::<P, C>(app, db, models, &PublishOptions::default()).await
}

/// The writing half of [`import`]: bulk-writes `models` on `db` per `mode`, in statements of up
/// to 30,000 bind parameters, and publishes nothing.
///
/// # Errors
/// [`Error::Database`] naming the table and mode when a statement fails.
pub async fn import_rows<E, C>(db: &C, models: &[E::Model], mode: ImportMode) -> Result<()>
where
    E: EntityTrait,
    C: ConnectionTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    if models.is_empty() {
        return Ok(());
    }
    let table = sea_orm::EntityName::table_name(&E::default()).to_owned();
    let columns: Vec<_> = <E::Column as sea_orm::Iterable>::iter().collect();
    let primary: Vec<_> = <E::PrimaryKey as sea_orm::Iterable>::iter()
        .map(|pk| pk.into_column())
        .collect();
    let others: Vec<_> = columns
        .iter()
        .copied()
        .filter(|c| !primary.iter().any(|p| p.as_str() == c.as_str()))
        .collect();
    let per_statement = (MAX_PARAMS / columns.len().max(1)).max(1);
    for chunk in models.chunks(per_statement) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        let insert = E::insert_many(rows);
        let insert = match mode {
            ImportMode::Insert => insert,
            ImportMode::Upsert if others.is_empty() => insert.on_conflict(
                OnConflict::columns(primary.iter().copied())
                    .do_nothing()
                    .to_owned(),
            ),
            ImportMode::Upsert => insert.on_conflict(
                OnConflict::columns(primary.iter().copied())
                    .update_columns(others.iter().copied())
                    .to_owned(),
            ),
        };
        match insert.exec_without_returning(db).await {
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(e) => {
                return Err(Error::Database {
                    context: format!("importing {} rows into `{table}` ({mode:?})", models.len()),
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}
