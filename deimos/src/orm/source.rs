//! `#[kafka_source]`: SeaORM's `ActiveModelBehavior` hooks that publish a row's changes
//! (Deimos' `KafkaSource`).
//!
//! The attribute (see its documentation in `deimos::kafka_source`) writes the hooks; they call
//! the functions here:
//!
//! | SeaORM hook | with | calls |
//! |---|---|---|
//! | `before_save` (update) | `update` | [`remember_changes`]: the columns the active model sets |
//! | `after_save` (insert) | `create` | [`publish_event`] of [`SourceEvent::Created`] for each producer |
//! | `after_save` (update) | `update` | [`take_changes`], then [`SourceEvent::Updated`] for each producer |
//! | `after_delete` | `delete` | [`deletion_payload`] (or yours), then [`SourceEvent::Deleted`] for each producer |
//!
//! `Entity::import` (with `import`) publishes [`SourceEvent::Imported`]. The generated code
//! calls [`publish_event`] once per producer in one hidden function of the entity's active
//! model, so a producer that does not fit is reported once, on its path in the attribute.
//!
//! Hooks run on the caller's connection, after the statement and before a surrounding
//! transaction commits (SeaORM runs `after_save` right after the `INSERT`/`UPDATE`). With the
//! `kafka` and `kafka_async` backends a message is therefore handed to Kafka while the
//! transaction is still open, as with Deimos' `after_create`/`after_update` callbacks: a
//! rollback afterwards does not call it back. A publish that fails makes the SeaORM call
//! (`insert`, `update`, `save`, `delete`) return the error, so a caller in a transaction rolls
//! the row back too.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbErr, EntityName as _, EntityTrait,
    IdenStatic as _, Iterable as _, ModelTrait, PrimaryKeyToColumn as _,
};

use super::producer::{send_events_on, EntityProducer, ModelOf};
use super::value::column_value;
use crate::error::Error;
use crate::payload::{Payload, PayloadValue};
use crate::producer::dynamic::PAYLOAD_KEY;
use crate::producer::PublishOptions;

/// Deimos leaves `updated_at` out of the watched attributes (`fields -= ['updated_at']` in
/// `KafkaSource#send_kafka_event_on_update`): a save that only touches it sends nothing.
pub const IGNORED_ON_UPDATE: &str = "updated_at";

/// The columns an update's `before_save` saw set, until its `after_save` takes them: keyed by
/// the tokio task, the entity and the primary key, so concurrent updates in other tasks do not
/// mix. An update whose statement fails leaves its entry; entries older than [`STALE_AFTER`]
/// are swept when the map grows past [`SWEEP_ABOVE`].
type Changes = HashMap<(Option<tokio::task::Id>, TypeId, String), (Instant, Vec<String>)>;

static CHANGES: LazyLock<Mutex<Changes>> = LazyLock::new(Mutex::default);

const SWEEP_ABOVE: usize = 1024;
const STALE_AFTER: Duration = Duration::from_secs(600);

/// `before_save` of an update: remembers which columns `active` sets (SeaORM's change tracking:
/// a column is changed when it is `ActiveValue::Set`, also to its old value; use
/// `ActiveValue::set_if_not_equals` to leave equal values unchanged), for [`take_changes`] in
/// the `after_save` of the same update.
pub fn remember_changes<A: ActiveModelTrait>(active: &A)
where
    A::Entity: 'static,
{
    let Some(key) = key_of_active(active) else {
        return;
    };
    let changed: Vec<String> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|column| active.get(*column).is_set())
        .map(|column| column.as_str().to_owned())
        .collect();
    let mut changes = CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if changes.len() > SWEEP_ABOVE {
        let now = Instant::now();
        changes.retain(|_, (at, _)| now.duration_since(*at) < STALE_AFTER);
    }
    changes.insert(
        (tokio::task::try_id(), TypeId::of::<A::Entity>(), key),
        (Instant::now(), changed),
    );
}

/// `after_save` of an update: the columns [`remember_changes`] saw set for this row, or `None`
/// when it saw nothing for it (then every watched attribute counts as changed, so nothing is
/// lost).
pub fn take_changes<E: EntityTrait + 'static>(model: &E::Model) -> Option<Vec<String>> {
    let key = E::PrimaryKey::iter()
        .map(|pk| format!("{:?}", model.get(pk.into_column())))
        .collect::<Vec<_>>()
        .join("\u{1f}");
    CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&(tokio::task::try_id(), TypeId::of::<E>(), key))
        .map(|(_, changed)| changed)
}

/// The primary key of an active model as [`take_changes`] spells it for the model, or `None`
/// when a primary key column is not set.
fn key_of_active<A: ActiveModelTrait>(active: &A) -> Option<String> {
    let parts = <A::Entity as EntityTrait>::PrimaryKey::iter()
        .map(|pk| match active.get(pk.into_column()) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(format!("{v:?}")),
            ActiveValue::NotSet => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(parts.join("\u{1f}"))
}

/// Whether an update of `model` that changed `changes` is worth a message from `P` (Deimos'
/// `send_kafka_event_on_update`): one of `P`'s
/// [`watched_attributes`](super::EntityProducerHooks::watched_attributes), other than
/// `updated_at`, changed. `None` (changes unknown) counts as a change.
pub fn watched_changed<P: EntityProducer>(model: &ModelOf<P>, changes: Option<&[String]>) -> bool {
    let Some(changes) = changes else {
        return true;
    };
    P::watched_attributes(model)
        .iter()
        .filter(|field| field.as_str() != IGNORED_ON_UPDATE)
        .any(|field| changes.iter().any(|changed| changed == field))
}

/// What a `#[kafka_source]` hook publishes: one event of entity `E`.
#[derive(Debug)]
pub enum SourceEvent<'a, E: EntityTrait> {
    /// `after_save` of an insert (Deimos' `send_kafka_event_on_create`): the row as the
    /// database returned it.
    Created(&'a E::Model),
    /// `after_save` of an update (Deimos' `send_kafka_event_on_update`): the row, and the
    /// columns the update set ([`take_changes`]; `None`: unknown).
    Updated(&'a E::Model, Option<&'a [String]>),
    /// `after_delete` (Deimos' `send_kafka_event_on_destroy`): the deletion payload.
    Deleted(&'a Payload),
    /// `Entity::import`: the rows written in bulk (Deimos' `import`).
    Imported(&'a [E::Model]),
}

/// Publishes `event` through entity producer `P` with the app of this task
/// ([`crate::runtime::current`]): a created, updated or imported row as its payload
/// ([`send_events_on`]; an update only when [`watched_changed`] says so), a deletion payload
/// through `P`'s dynamic producer (a payload of only a `payload_key` is a tombstone).
///
/// `db` is the connection the row was written on: the `db` (outbox) backend writes the
/// messages there, in the caller's transaction (the kafka backends do not use it).
///
/// # Errors
/// No app is configured ([`crate::runtime::global`]), or as [`send_events_on`] and
/// [`App::publish_payloads_on`](crate::App::publish_payloads_on).
pub async fn publish_event<E, P, C>(db: &C, event: &SourceEvent<'_, E>) -> crate::Result<()>
where
    E: EntityTrait,
    P: EntityProducer<Entity = E>,
    C: ConnectionTrait,
{
    let options = PublishOptions::default();
    match event {
        SourceEvent::Updated(model, changes) if !watched_changed::<P>(model, *changes) => Ok(()),
        SourceEvent::Created(model) | SourceEvent::Updated(model, _) => {
            let app = crate::runtime::current()?;
            send_events_on::<P, C>(&app, db, std::slice::from_ref(*model), &options).await
        }
        SourceEvent::Imported(models) => {
            let app = crate::runtime::current()?;
            send_events_on::<P, C>(&app, db, models.iter(), &options).await
        }
        SourceEvent::Deleted(payload) => {
            let app = crate::runtime::current()?;
            app.publish_payloads_on(db, &P::dynamic(), [(*payload).clone()], &options)
                .await
        }
    }
}

/// A publish failure as the `DbErr` a SeaORM hook returns: `DbErr::Custom` naming the hook
/// (`after insert`, `after update`, `after delete`), the table, and the error with its causes
/// (which name the topic, schema or field).
pub fn hook_error<E: EntityTrait>(hook: &str, error: &Error) -> DbErr {
    DbErr::Custom(format!(
        "deimos kafka_source hook ({hook} on `{}`) could not publish: {}",
        E::default().table_name(),
        crate::consumer::error_chain(error)
    ))
}

/// Deimos' default `deletion_payload`: `{ "payload_key": <primary key> }`, which the producer
/// sends as a tombstone keyed by the primary key. For a compound primary key the key is a map
/// of column name to value, which fills a `key_config(schema = ..)` key record by field name.
///
/// # Errors
/// `DbErr::AttrNotSet` naming the column when `active` lacks a primary key value (SeaORM's
/// `delete` needs one, so a deleted row always has it).
pub fn deletion_payload<A: ActiveModelTrait>(active: &A) -> Result<Payload, DbErr> {
    let mut key = Payload::new();
    for pk in <A::Entity as EntityTrait>::PrimaryKey::iter() {
        let column = pk.into_column();
        match active.get(column) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => {
                key.insert(column.as_str(), column_value(&v));
            }
            ActiveValue::NotSet => {
                return Err(DbErr::AttrNotSet(format!(
                    "{}.{} (the primary key of a deletion payload)",
                    A::Entity::default().table_name(),
                    column.as_str()
                )))
            }
        }
    }
    let value = if key.len() == 1 {
        key.into_iter()
            .next()
            .map_or(PayloadValue::Null, |(_, value)| value)
    } else {
        PayloadValue::Map(key)
    };
    let mut payload = Payload::new();
    payload.insert(PAYLOAD_KEY, value);
    Ok(payload)
}
