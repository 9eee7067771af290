//! Entity producers: Deimos' `ActiveRecordProducer` over SeaORM entities.

use sea_orm::sea_query::{Condition, IntoValueTuple as _};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityName as _, EntityTrait,
    IdenStatic as _, PrimaryKeyToColumn as _, PrimaryKeyTrait, QueryFilter as _, Select,
};

use super::value::{column_value, model_attributes};
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::poller::PollWindow;
use crate::producer::{DynamicProducer, PublishOptions};
use crate::runtime::{App, Via};
use crate::schema::{KeyConfig, SchemaRef};

/// The model type of an entity producer's entity.
pub type ModelOf<P> = <<P as EntityProducer>::Entity as EntityTrait>::Model;

/// The active model type of an entity producer's entity.
pub type ActiveModelOf<P> = <<P as EntityProducer>::Entity as EntityTrait>::ActiveModel;

/// A producer whose messages are rows of a SeaORM entity (Deimos' `ActiveRecordProducer`).
///
/// Implemented by `#[producer(..., entity = path::to::Entity)]` on a unit struct, which also
/// adds `send_event`, `send_events`, `send_events_with` and `send_records` (see
/// [`send_events_with`] and [`send_records`]). A row becomes a message so:
///
/// 1. every column, by its name in the database, becomes a field of a [`Payload`]
///    ([`column_value`] converts the values);
/// 2. [`EntityProducerHooks::generate_payload`] may change that payload (add computed fields,
///    rename, drop); by default it is left as is;
/// 3. the payload goes through the dynamic producer path ([`App::publish_payloads_with`]):
///    Deimos' coercion fits each schema field from the field of the same name (datetimes to
///    `timestamp-*`, decimal columns to `decimal`, JSON columns to records, arrays and maps),
///    drops the fields the schema lacks, fills the missing ones from their defaults, and makes
///    the key per `key_config`.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # mod widget {
/// #     use deimos::orm::sea_orm;
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "widgets")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: i64,
/// #         pub name: String,
/// #         pub price: f64,
/// #         pub updated_at: DateTimeUtc,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// #[deimos::producer(topic = "widgets", schema = "com.example.Widget",
///                    key_config(field = "id"), entity = widget::Entity)]
/// pub struct WidgetProducer;
///
/// # async fn demo(model: widget::Model) -> deimos::Result<()> {
/// WidgetProducer::send_event(&model).await?;
/// # Ok(()) }
/// ```
pub trait EntityProducer: Send + Sync + 'static {
    /// The SeaORM entity whose rows this producer publishes.
    type Entity: EntityTrait;
    /// Topic name, before `producers.topic_prefix` is applied.
    const TOPIC: &'static str;
    /// The value schema.
    const SCHEMA: SchemaRef;
    /// How the Kafka key is made.
    const KEY_CONFIG: KeyConfig;
    /// The value schema's top-level field names, read from the `.avsc` at compile time: the
    /// default [`watched_attributes`](EntityProducerHooks::watched_attributes).
    const SCHEMA_FIELDS: &'static [&'static str];
    /// Deimos' `refetch` (attribute `refetch = true|false`, default `true`): whether
    /// [`send_records`] re-reads rows given by primary key or as partial active models before
    /// producing them. Full models are produced as given either way.
    const REFETCH: bool;

    /// [`EntityProducerHooks::generate_payload`], or the default when the attribute has no
    /// `hooks`.
    fn generate_payload(attributes: Payload, _model: Option<&ModelOf<Self>>) -> Payload {
        attributes
    }

    /// [`EntityProducerHooks::watched_attributes`], or the default when the attribute has no
    /// `hooks`.
    fn watched_attributes(_model: &ModelOf<Self>) -> Vec<String> {
        Self::SCHEMA_FIELDS.iter().map(|&f| f.to_owned()).collect()
    }

    /// [`EntityProducerHooks::poll_query`], or the default when the attribute has no
    /// `hooks`.
    fn poll_query(window: &PollWindow<Self::Entity>) -> Select<Self::Entity> {
        window.default_query()
    }

    /// The [`DynamicProducer`] this producer publishes through.
    fn dynamic() -> DynamicProducer {
        DynamicProducer::new(Self::TOPIC, &Self::SCHEMA.full_name(), Self::KEY_CONFIG)
    }
}

/// Overridable entity producer hooks (Deimos' `generate_payload`, `watched_attributes` and
/// `poll_query`).
/// Write `hooks` in the attribute and implement this trait; every method has a default.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # mod widget {
/// #     use deimos::orm::sea_orm;
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "widgets")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: i64,
/// #         pub name: String,
/// #         pub price: f64,
/// #         pub updated_at: DateTimeUtc,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use deimos::Payload;
///
/// #[deimos::producer(topic = "widgets", schema = "com.example.Widget",
///                    key_config(field = "id"), entity = widget::Entity, hooks)]
/// pub struct WidgetProducer;
///
/// impl deimos::orm::EntityProducerHooks for WidgetProducer {
///     fn generate_payload(mut attributes: Payload, _model: Option<&widget::Model>) -> Payload {
///         attributes.insert("description", "from the catalog");
///         attributes
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`#[producer(.., entity = .., hooks)]` needs `impl deimos::orm::EntityProducerHooks for {Self}`",
    note = "implement the hooks you need (`generate_payload`, `watched_attributes`, `poll_query`); the others keep their defaults, or remove `hooks`"
)]
pub trait EntityProducerHooks: EntityProducer {
    /// The payload of one row (Deimos' `generate_payload(attributes, record)`): `attributes`
    /// holds every column by name ([`model_attributes`]); `model` is the row, or `None` when a
    /// partial active model was sent without refetching ([`Record::Partial`] with
    /// `refetch = false`: then `attributes` holds only its set columns). Fields the schema
    /// lacks are dropped later, so there is no need to remove them. The default returns
    /// `attributes` unchanged.
    fn generate_payload(attributes: Payload, _model: Option<&ModelOf<Self>>) -> Payload {
        attributes
    }

    /// The columns whose change is worth a message (Deimos' `watched_attributes`): an update
    /// that changes none of them sends nothing (`#[kafka_source]`). The default is the value
    /// schema's field names ([`EntityProducer::SCHEMA_FIELDS`]), as in Deimos.
    fn watched_attributes(_model: &ModelOf<Self>) -> Vec<String> {
        Self::SCHEMA_FIELDS.iter().map(|&f| f.to_owned()).collect()
    }

    /// The query a [database poller](crate::poller) of this producer runs for each batch
    /// (Deimos' `poll_query`): `window` holds the bounds (the cursor, now − `delay_time`, or
    /// the pending state) and the default filter. Return a query that keeps
    /// [`window.condition()`](PollWindow::condition), for example
    /// `window.default_query().filter(widget::Column::Active.eq(true))`: the poller adds the
    /// ordering and the batch limit. The default is [`PollWindow::default_query`].
    fn poll_query(window: &PollWindow<Self::Entity>) -> Select<Self::Entity> {
        window.default_query()
    }
}

/// What [`send_records`] can be given for one message (Deimos' `send_events` takes records or
/// attribute hashes).
#[derive(Debug)]
pub enum Record<E: EntityTrait> {
    /// A full row: produced as given.
    Model(E::Model),
    /// A partial row with at least its primary key set: with `refetch`, the row is read again
    /// by that key; without, its set columns are the attributes.
    Partial(E::ActiveModel),
    /// A primary key (for a compound key, the tuple): the row is read by it. Needs `refetch`.
    Key(<E::PrimaryKey as PrimaryKeyTrait>::ValueType),
}

/// The payload `P` makes of `model`: its [`model_attributes`] through
/// [`EntityProducer::generate_payload`].
pub fn payload_of<P: EntityProducer>(model: &ModelOf<P>) -> Payload {
    P::generate_payload(model_attributes(model), Some(model))
}

/// Publishes one message per model through `app`, in order, as one `publish_list`: every
/// payload is encoded before any is sent, so one that does not fit the schema sends nothing.
///
/// Does nothing when producers are disabled (`producers.disabled`, or a
/// [`disable_producers`](crate::producer::disable_producers) scope covering `P`'s
/// [`DynamicProducer`]).
///
/// # Errors
/// As [`App::publish_payloads_with`]: [`Error::Encode`] naming the topic, schema and field
/// path that does not coerce (e.g. a text column in an `int` field), [`Error::SchemaLoad`], or
/// the producer backend's error.
pub async fn send_events_with<'m, P: EntityProducer>(
    app: &App,
    models: impl IntoIterator<Item = &'m ModelOf<P>>,
    options: &PublishOptions,
) -> Result<()>
where
    ModelOf<P>: 'm,
{
    send_events_with_via::<P>(app, models, options, Via::Default).await
}

/// As [`send_events_with`], writing on `db` with the `db` (outbox) backend, so that the
/// messages commit or roll back with the caller's transaction (see
/// [`App::publish_payloads_on`]); the other backends ignore `db`.
///
/// # Errors
/// As [`send_events_with`].
pub async fn send_events_on<'m, P: EntityProducer, C: ConnectionTrait>(
    app: &App,
    db: &C,
    models: impl IntoIterator<Item = &'m ModelOf<P>>,
    options: &PublishOptions,
) -> Result<()>
where
    ModelOf<P>: 'm,
{
    send_events_with_via::<P>(app, models, options, Via::Db(db)).await
}

async fn send_events_with_via<'m, P: EntityProducer>(
    app: &App,
    models: impl IntoIterator<Item = &'m ModelOf<P>>,
    options: &PublishOptions,
    via: Via<'_>,
) -> Result<()>
where
    ModelOf<P>: 'm,
{
    let payloads: Vec<Payload> = models.into_iter().map(payload_of::<P>).collect();
    app.publish_payloads_via(&P::dynamic(), payloads, options, via)
        .await
}

/// Publishes one message per record (see [`Record`]), reading rows on `db` where
/// [`EntityProducer::REFETCH`] asks for it, as one `publish_list`.
///
/// # Errors
/// [`Error::Database`] when a row cannot be read, or is not there (naming the table and key);
/// [`Error::Encode`] for [`Record::Key`] without `refetch`, or a partial model without its
/// primary key; otherwise as [`send_events_with`].
pub async fn send_records<P, C>(
    app: &App,
    db: &C,
    records: impl IntoIterator<Item = Record<P::Entity>>,
    options: &PublishOptions,
) -> Result<()>
where
    P: EntityProducer,
    C: ConnectionTrait,
{
    let mut payloads = Vec::new();
    for record in records {
        let payload = match record {
            Record::Model(model) => payload_of::<P>(&model),
            Record::Partial(active) if P::REFETCH => {
                let key = partial_key::<P>(&active)?;
                payload_of::<P>(&refetch::<P, C>(db, key).await?)
            }
            Record::Partial(active) => P::generate_payload(set_attributes::<P>(&active), None),
            Record::Key(key) if P::REFETCH => {
                let values = key.into_value_tuple().into_iter().collect();
                payload_of::<P>(&refetch::<P, C>(db, values).await?)
            }
            Record::Key(_) => {
                return Err(not_sendable::<P>(
                    "a primary key alone carries no payload when `refetch = false`: send the \
                     model, or turn refetch on",
                ))
            }
        };
        payloads.push(payload);
    }
    app.publish_payloads_on(db, &P::dynamic(), payloads, options)
        .await
}

fn not_sendable<P: EntityProducer>(reason: &str) -> Error {
    Error::Encode {
        topic: P::TOPIC.to_owned(),
        schema: P::SCHEMA.full_name(),
        what: "payload",
        source: reason.into(),
    }
}

/// The primary key values of a partial model, in primary key order.
fn partial_key<P: EntityProducer>(active: &ActiveModelOf<P>) -> Result<Vec<sea_orm::Value>> {
    <<P::Entity as EntityTrait>::PrimaryKey as sea_orm::Iterable>::iter()
        .map(|pk| {
            let column = pk.into_column();
            match active.get(column) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Ok(v),
                ActiveValue::NotSet => Err(not_sendable::<P>(&format!(
                    "the partial model has no value for primary key column `{}`, so its row \
                     cannot be read again",
                    column.as_str()
                ))),
            }
        })
        .collect()
}

/// The set (or unchanged) columns of a partial model by name.
fn set_attributes<P: EntityProducer>(active: &ActiveModelOf<P>) -> Payload {
    <<P::Entity as EntityTrait>::Column as sea_orm::Iterable>::iter()
        .filter_map(|column| match active.get(column) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => {
                Some((column.as_str().to_owned(), column_value(&v)))
            }
            ActiveValue::NotSet => None,
        })
        .collect()
}

/// Reads the row whose primary key columns equal `key` (in primary key order).
async fn refetch<P, C>(db: &C, key: Vec<sea_orm::Value>) -> Result<ModelOf<P>>
where
    P: EntityProducer,
    C: ConnectionTrait,
{
    let table = P::Entity::default().table_name().to_owned();
    let columns: Vec<_> =
        <<P::Entity as EntityTrait>::PrimaryKey as sea_orm::Iterable>::iter().collect();
    let described = || {
        key.iter()
            .map(|v| column_value(v).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if columns.len() != key.len() {
        return Err(Error::Database {
            context: format!(
                "reading `{table}` by primary key ({}): the key has {} values, the table {} \
                 primary key columns",
                described(),
                key.len(),
                columns.len()
            ),
            source: "primary key arity mismatch".into(),
        });
    }
    let condition = columns
        .iter()
        .zip(key.iter().cloned())
        .fold(Condition::all(), |all, (pk, value)| {
            all.add(ColumnTrait::eq(&pk.into_column(), value))
        });
    let row = P::Entity::find()
        .filter(condition)
        .one(db)
        .await
        .map_err(|e| Error::Database {
            context: format!("reading `{table}` by primary key ({})", described()),
            source: e.into(),
        })?;
    row.ok_or_else(|| Error::Database {
        context: format!("reading `{table}` by primary key ({})", described()),
        source: "no such row (refetch found nothing to publish)".into(),
    })
}
