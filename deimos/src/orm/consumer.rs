//! Entity consumers: Deimos' `ActiveRecordConsumer` over SeaORM entities.

use std::future::Future;

use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityName as _, EntityTrait, IdenStatic as _,
    IntoActiveModel as _, ModelTrait as _, PrimaryKeyToColumn as _, QueryFilter as _,
};

use super::assign::{assign_attributes, column_value_of, set_column};
use crate::consumer::Metadata;
use crate::error::{BoxError, Result};
use crate::payload::{Payload, PayloadValue};
use crate::schema::coerce::{to_payload, to_payload_with_schema};
use crate::schema::{Incoming, SchemaRef};

/// The model type of an entity consumer's entity.
pub type ConsumedModelOf<P> = <P as EntityConsumer>::Model;

/// The active model type of an entity consumer's entity.
pub type ConsumedActiveModelOf<P> = <P as EntityConsumer>::ActiveModel;

/// A consumer that writes messages into the rows of a SeaORM entity (Deimos'
/// `ActiveRecordConsumer`).
///
/// Implemented by `#[consumer(..., entity = path::to::Entity)]` on a unit struct, which also
/// registers it like any `#[consumer]`. Per message ([`consume`]):
///
/// 1. [`process_message`](EntityConsumerHooks::process_message) may skip it;
/// 2. [`fetch_record`](EntityConsumerHooks::fetch_record) finds the row (by default: the
///    primary key equals the message key; a key record fills a compound key by field name);
/// 3. a tombstone (null payload) goes to
///    [`destroy_record`](EntityConsumerHooks::destroy_record), which deletes the row;
/// 4. otherwise a missing row is created (its key from
///    [`assign_key`](EntityConsumerHooks::assign_key)), and each column with a field of the same
///    name in [`record_attributes`](EntityConsumerHooks::record_attributes) is written, then
///    the row is inserted or updated (SeaORM's `ActiveModelBehavior` hooks run).
///
/// The rows go to the database set with [`App::set_database`](crate::App::set_database) on
/// the app that runs the consumer.
pub trait EntityConsumer: Send + Sync + 'static {
    /// The SeaORM entity whose rows this consumer writes.
    type Entity: EntityTrait<Model = Self::Model, ActiveModel = Self::ActiveModel>;
    /// The entity's model (`Entity::Model`; the macro sets it).
    type Model: sea_orm::ModelTrait<Entity = Self::Entity>
        + sea_orm::IntoActiveModel<Self::ActiveModel>
        + sea_orm::FromQueryResult
        + Send
        + Sync;
    /// The entity's active model (`Entity::ActiveModel`; the macro sets it).
    type ActiveModel: ActiveModelTrait<Entity = Self::Entity>
        + sea_orm::ActiveModelBehavior
        + Send
        + Sync;
    /// The value schema (for decimals' scale when payloads are read).
    const SCHEMA: SchemaRef;
}

/// Overridable entity consumer hooks (Deimos' `ActiveRecordConsumer` methods). Write `hooks` in
/// the attribute and implement this trait; every method has a default, and the defaults are
/// public functions of [`deimos::orm`](crate::orm) for overrides that add to them.
///
/// `key` is the decoded message key as a payload value: the key field's value for
/// `key_config(field)`, a `Map` for `key_config(schema)`, a `String` for `key_config(plain)`.
#[diagnostic::on_unimplemented(
    message = "`#[consumer(.., entity = .., hooks)]` needs `impl deimos::orm::EntityConsumerHooks for {Self}`",
    note = "implement the hooks you need (`process_message`, `fetch_record`, `assign_key`, `destroy_record`, `record_attributes`); the others keep their defaults, or remove `hooks`"
)]
pub trait EntityConsumerHooks: EntityConsumer {
    /// Whether to handle this message at all (Deimos' `process_message?(payload)`); `payload`
    /// is `None` for a tombstone. Default: `true`.
    fn process_message(_payload: Option<&Payload>, _metadata: &Metadata) -> bool {
        true
    }

    /// The row this message is about, if it exists (Deimos' `fetch_record(klass, payload,
    /// key)`). Default: [`fetch_by_key`].
    fn fetch_record<C: ConnectionTrait>(
        db: &C,
        payload: Option<&Payload>,
        key: Option<&PayloadValue>,
    ) -> impl Future<Output = Result<Option<ConsumedModelOf<Self>>, BoxError>> + Send {
        fetch_by_key::<Self, C>(db, payload, key)
    }

    /// Gives a new row its primary key (Deimos' `assign_key(record, payload, key)`). Default:
    /// [`assign_key_from`].
    fn assign_key(
        record: &mut ConsumedActiveModelOf<Self>,
        payload: &Payload,
        key: Option<&PayloadValue>,
    ) -> Result<(), BoxError> {
        assign_key_from::<Self>(record, payload, key)
    }

    /// Handles a tombstone (Deimos' `destroy_record(record)`): `record` is what
    /// [`fetch_record`](Self::fetch_record) found. Default: delete it when there is one.
    fn destroy_record<C: ConnectionTrait>(
        db: &C,
        record: Option<ConsumedModelOf<Self>>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async move {
            if let Some(record) = record {
                record.delete(db).await?;
            }
            Ok(())
        }
    }

    /// The attributes to write (Deimos' `record_attributes(payload, key)`): columns take the
    /// fields of the same name; fields without a column are ignored. Default: the payload.
    fn record_attributes(payload: Payload, _key: Option<&PayloadValue>) -> Payload {
        payload
    }

    /// The key of a message that has none (batch mode; Deimos' `record_key(payload)`): by
    /// default the payload's primary key fields, the value itself for a one-column key, a
    /// `Map` for a compound one.
    ///
    /// # Errors
    /// When the payload lacks a primary key field.
    fn record_key(payload: &Payload) -> Result<PayloadValue, BoxError> {
        key_from_payload::<Self>(payload)
    }

    /// Deletes the rows of a batch's tombstones, all at once (batch mode; Deimos'
    /// `remove_records`). Default: [`delete_by_keys`](super::delete_by_keys).
    fn remove_records<C: ConnectionTrait>(
        db: &C,
        keys: Vec<PayloadValue>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        super::batch::delete_by_keys::<Self, C>(db, keys)
    }
}

/// Deimos' default `record_key`: the payload's primary key fields (see
/// [`EntityConsumerHooks::record_key`]).
///
/// # Errors
/// When the payload lacks a primary key field, naming it.
pub fn key_from_payload<P: EntityConsumer + ?Sized>(
    payload: &Payload,
) -> Result<PayloadValue, BoxError> {
    let Some(columns) = key_columns::<P>(Some(payload), None)? else {
        return Err("the payload has no primary key fields".into());
    };
    Ok(match columns.as_slice() {
        [(_, value)] => value.clone(),
        _ => PayloadValue::Map(
            columns
                .into_iter()
                .map(|(c, v)| (c.as_str().to_owned(), v))
                .collect(),
        ),
    })
}

/// Deimos' default `fetch_record`: the row whose primary key is `key` — a scalar key for a
/// one-column primary key, a key record (`Map`) for a compound one, each column from the
/// field of its name. Without a key, the primary key columns are read from the payload's
/// fields of their names (a message without a key).
///
/// # Errors
/// A key that does not fill the primary key (naming the column), or the database error.
pub async fn fetch_by_key<P, C>(
    db: &C,
    payload: Option<&Payload>,
    key: Option<&PayloadValue>,
) -> Result<Option<ConsumedModelOf<P>>, BoxError>
where
    P: EntityConsumer + ?Sized,
    C: ConnectionTrait,
{
    let Some(values) = key_columns::<P>(payload, key)? else {
        return Ok(None);
    };
    let mut condition = Condition::all();
    for (column, value) in values {
        let value = column_value_of::<ConsumedActiveModelOf<P>>(column, &value)?;
        condition = condition.add(ColumnTrait::eq(&column, value));
    }
    Ok(P::Entity::find().filter(condition).one(db).await?)
}

/// Deimos' default `assign_key`: the primary key columns of a new row from the key (as in
/// [`fetch_by_key`]).
///
/// # Errors
/// A key that does not fill the primary key, naming the column.
pub fn assign_key_from<P: EntityConsumer + ?Sized>(
    record: &mut ConsumedActiveModelOf<P>,
    payload: &Payload,
    key: Option<&PayloadValue>,
) -> Result<(), BoxError> {
    if let Some(values) = key_columns::<P>(Some(payload), key)? {
        for (column, value) in values {
            set_column(record, column, &value)?;
        }
    }
    Ok(())
}

type ColumnOf<P> = <<P as EntityConsumer>::Entity as EntityTrait>::Column;

/// Each primary key column with its value from `key`, or from the payload without a key;
/// `None` when neither gives one.
#[allow(clippy::type_complexity)]
fn key_columns<P: EntityConsumer + ?Sized>(
    payload: Option<&Payload>,
    key: Option<&PayloadValue>,
) -> Result<Option<Vec<(ColumnOf<P>, PayloadValue)>>, BoxError> {
    let columns: Vec<ColumnOf<P>> =
        <<P::Entity as EntityTrait>::PrimaryKey as sea_orm::Iterable>::iter()
            .map(|pk| pk.into_column())
            .collect();
    let from_map = |map: &Payload, what: &str| {
        columns
            .iter()
            .map(|column| match map.get(column.as_str()) {
                Some(v) => Ok((*column, v.clone())),
                None => Err(BoxError::from(format!(
                    "the {what} has no field `{}` for primary key column `{}` of `{}`",
                    column.as_str(),
                    column.as_str(),
                    P::Entity::default().table_name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
    };
    match key {
        Some(PayloadValue::Null) | None => match payload {
            Some(payload) => from_map(payload, "payload (the message has no key)").map(Some),
            None => Ok(None),
        },
        Some(PayloadValue::Map(map)) => from_map(map, "key").map(Some),
        Some(scalar) => match columns.as_slice() {
            [column] => Ok(Some(vec![(*column, scalar.clone())])),
            _ => Err(format!(
                "`{}` has a compound primary key ({} columns) but the key is {scalar}: use \
                 `key_config(schema = ..)` with a field per column",
                P::Entity::default().table_name(),
                columns.len()
            )
            .into()),
        },
    }
}

/// Writes one message into `P`'s entity on `db` (see [`EntityConsumer`] for the steps).
///
/// # Errors
/// A value a column does not take (naming the column), a key that does not fill the primary
/// key, a hook's error, or the database error.
pub async fn consume<P, C>(
    db: &C,
    payload: Option<Payload>,
    metadata: &Metadata,
) -> Result<(), BoxError>
where
    P: EntityConsumerHooks,
    C: ConnectionTrait,
{
    if !P::process_message(payload.as_ref(), metadata) {
        tracing::debug!(
            topic = metadata.topic,
            partition = metadata.partition,
            offset = metadata.offset,
            "process_message said no; skipped"
        );
        return Ok(());
    }
    let key = metadata.key.as_ref().map(to_payload);
    consume_with_key::<P, C>(db, payload, key.as_ref()).await
}

/// [`consume`] after `process_message`, with the key already read as a payload value.
pub(crate) async fn consume_with_key<P, C>(
    db: &C,
    payload: Option<Payload>,
    key: Option<&PayloadValue>,
) -> Result<(), BoxError>
where
    P: EntityConsumerHooks,
    C: ConnectionTrait,
{
    let key = key.cloned();
    let record = P::fetch_record(db, payload.as_ref(), key.as_ref()).await?;
    let Some(payload) = payload else {
        return P::destroy_record(db, record).await;
    };
    let (mut active, exists) = match record {
        Some(model) => (model.into_active_model(), true),
        None => {
            let mut active = <ConsumedActiveModelOf<P> as ActiveModelTrait>::default();
            P::assign_key(&mut active, &payload, key.as_ref())?;
            (active, false)
        }
    };
    let attributes = P::record_attributes(payload, key.as_ref());
    assign_attributes(&mut active, &attributes)?;
    if exists {
        if active.is_changed() {
            active.update(db).await?;
        }
    } else {
        active.insert(db).await?;
    }
    Ok(())
}

/// A decoded message value as a [`Payload`] of `schema` (decimals as text at their scale,
/// timestamps as UTC datetimes; see [`to_payload_with_schema`]); `None` for a tombstone.
///
/// # Errors
/// A datum that does not decode, or a value that is not a record.
pub async fn incoming_payload(
    app: &crate::App,
    schema: &SchemaRef,
    incoming: Incoming,
) -> Result<Option<Payload>, BoxError> {
    let value = match incoming {
        Incoming::Value(None) => return Ok(None),
        Incoming::Value(Some(value)) => value,
        Incoming::Datum(datum) => datum.to_value()?,
    };
    let avro = app.codec().backend().schema(schema).await?;
    match to_payload_with_schema(&value, &avro)? {
        PayloadValue::Map(payload) => Ok(Some(payload)),
        other => Err(format!("the payload is {other}, not a record").into()),
    }
}

/// The handler `#[consumer(.., entity = ..)]` registers: reads the payload, then [`consume`]s
/// it on the database of the app running the consumer ([`current`](crate::runtime::current)).
///
/// # Errors
/// No database set on the app, or as [`incoming_payload`] and [`consume`].
pub async fn handle<P: EntityConsumerHooks>(
    incoming: Incoming,
    metadata: Metadata,
) -> Result<(), BoxError> {
    let app = crate::runtime::current()?;
    let db = app.database()?;
    let payload = incoming_payload(&app, &P::SCHEMA, incoming).await?;
    consume::<P, _>(&db, payload, &metadata).await
}

/// [`handle`] boxed as a registered handler's future (what `#[consumer(.., entity = ..)]`
/// registers; not API).
#[doc(hidden)]
pub fn handler_future<P: EntityConsumerHooks>(
    incoming: Incoming,
    metadata: Metadata,
) -> crate::consumer::HandlerFuture {
    Box::pin(handle::<P>(incoming, metadata))
}
