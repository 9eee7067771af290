//! The database poller (Deimos' `DbPoller`, the pattern of Kafka Connect's JDBC source): a task
//! per poller reads the rows of an entity producer's table that changed and publishes them
//! through that producer.
//!
//! Declare pollers in the configuration (`[[db_poller]]`, see [`DbPollerConfig`]) or in code
//! ([`App::add_db_poller`]), and start them with [`start_db_pollers`](crate::start_db_pollers)
//! or [`App::start_db_pollers`]; [`run`](crate::run) starts them too when there are any. They
//! need the app's database ([`App::set_database`]) and the `poll_info` table
//! ([`migrations`], or `deimos generate migration poller`).
//!
//! ```toml
//! [[db_poller]]
//! producer = "WidgetProducer"   # #[producer(.., entity = widget::Entity)]
//! run_every = "30s"
//! ```
//!
//! # Time-based mode (the default)
//!
//! Each run (every `run_every`, from one run's start to the next; a run that overran is
//! followed at once by the next) reads, in batches of `batch_size` ordered by
//! `(timestamp_column, primary key)`, the rows with
//! `timestamp > last_sent OR (timestamp = last_sent AND id > last_sent_id)` and
//! `timestamp <= now - delay_time`, and publishes each batch with the producer's
//! [`send_events`](crate::orm::send_events_on). After every batch the cursor
//! (`last_sent`, `last_sent_id`: the batch's last row) moves in `poll_info`, in the same
//! database transaction as the batch's messages when the producer backend is the outbox
//! (`db`): then every row is published exactly once. With the Kafka backends the messages
//! are sent before the cursor commits, so a crash between the two sends one batch again, never
//! loses one. Rows with equal timestamps that straddle a batch boundary are told apart by
//! their primary key (Deimos' `last_sent_id`), so each is published once.
//!
//! `delay_time` (2 s) holds back the newest rows: a transaction that stamped its rows at time
//! `t` but commits later is still seen as long as it commits before `t + delay_time` (counted
//! from the start of `t`'s second). Keep it
//! above your longest writing transaction. `last_polled_at` records when a run started and is
//! kept apart from the cursor, so a run that finds nothing never moves the cursor past rows it
//! did not see. `full_table` sends every row on every run, in primary key order.
//! `start_from_beginning = false` starts a new poller's cursor at the start of the second of
//! its first run.
//!
//! Deleted rows are not seen by polling. Publish deletions from a
//! [`#[kafka_source]`](crate::kafka_source) `delete` hook (Deimos' advice), or mark rows
//! deleted (a soft delete updates the timestamp) and send that.
//!
//! # State-based mode (Deimos 2.x)
//!
//! With `mode = "state_based"`, each run reads batches of the rows whose `state_column` is
//! NULL (or `pending_state`), in primary key order, publishes them, and sets their
//! `state_column` to `published_state` (and `publish_timestamp_column` to now), in the
//! batch's transaction. A batch that still fails after `retries` is retried row by row; a row
//! that fails alone gets `failed_state` (with the time) and is logged with its error, so
//! no failure goes unseen (see "Several processes" for a failure after the send).
//!
//! # Hooks
//!
//! [`EntityProducerHooks::poll_query`](crate::orm::EntityProducerHooks::poll_query) replaces
//! the query (Deimos' `poll_query`): it gets the [`PollWindow`] and returns a SeaORM `Select`
//! to which the poller adds the ordering and the batch limit.
//!
//! # Several processes
//!
//! Beyond Deimos, which assumes one poller process: each poller holds a lock in `poll_info`
//! while it runs (`locked_by`, renewed after every batch, taken over when not renewed for
//! `lock_timeout`), and the cursor moves only under that lock. Several processes may run the
//! same pollers; one of them polls a given poller at a time, and each row is published once as
//! long as a batch takes less than `lock_timeout` (a batch that outlasts its lock may be sent
//! again by the process that took the lock over).
//!
//! With a Kafka backend a batch is sent before its rows are marked or the cursor moves: when
//! that recording fails, it is tried again without sending again, and if it still fails the
//! batch goes out again at the next run (at-least-once). With the outbox backend the messages,
//! the marks and the cursor commit together.
//!
//! Timestamps: `delay_time` is counted from the start of the second a row was stamped in (a
//! second's rows go out once `delay_time` has passed for the whole second), since MariaDB's
//! and MySQL's `timestamp` columns keep no fraction. On SQLite timestamps are text: the
//! column must hold what SeaORM writes for its type (`DEFAULT CURRENT_TIMESTAMP` writes another
//! format, which does not compare with it).
//!
//! # Metrics and tracing
//!
//! Each run is a `deimos.db_poller` span (field `poller`). The counter `db_poller.publish`
//! (tag `poller`; deimos-rs' own name) counts the rows each run published; the producer's
//! `publish` / `publish_error` metrics count the messages as for any publish.
//!
//! # Errors
//!
//! A failing run is logged (`tracing` error naming the poller and the cause) and the poller
//! goes on at its next run from where its cursor stands: no row is skipped.

mod migration;
mod store;
// Compiled here and written verbatim by `deimos generate migration poller`, so it is written
// as a user's migration file (`pub` items, sea-orm-migration's elided `SchemaManager` lifetime).
#[allow(unreachable_pub, elided_lifetimes_in_paths)]
pub(crate) mod tables;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use chrono::{NaiveDateTime, TimeZone as _, Utc};
use sea_orm::sea_query::{ColumnType, Condition, Expr};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait, IdenStatic as _, Iterable as _,
    ModelTrait as _, PrimaryKeyToColumn as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    Select, TransactionTrait as _, Value,
};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument as _;

pub use crate::config::{DbPollerConfig, PollMode, StateValue};
pub use migration::{migrations, CreatePollInfo};

use crate::error::{Error, Result};
use crate::orm::{EntityProducer, ModelOf};
use crate::outbox::store::{ago, now};
use crate::producer::PublishOptions;
use crate::runtime::App;

/// What one poll query may return (given to
/// [`EntityProducerHooks::poll_query`](crate::orm::EntityProducerHooks::poll_query), Deimos'
/// `poll_query(time_from:, time_to:, column_name:, min_id:)`): the columns and bounds of the
/// current batch. [`condition`](Self::condition) is the default filter; a hook adds its own
/// filters to [`default_query`](Self::default_query). Dropping the window's condition would
/// publish the same rows again and again.
#[derive(Debug, Clone)]
pub struct PollWindow<E: EntityTrait> {
    poller: String,
    mode: PollMode,
    primary_key: E::Column,
    timestamp_column: Option<E::Column>,
    time_from: Option<Value>,
    min_id: Option<Value>,
    time_to: Option<Value>,
    state_column: Option<E::Column>,
    pending_state: Option<Value>,
}

impl<E: EntityTrait> PollWindow<E> {
    /// The poller's name (its `poll_info` key).
    pub fn poller(&self) -> &str {
        &self.poller
    }

    /// The poller's mode.
    pub fn mode(&self) -> PollMode {
        self.mode
    }

    /// The entity's primary key column (the tie-break, and the order of `full_table` and
    /// state-based runs).
    pub fn primary_key(&self) -> E::Column {
        self.primary_key
    }

    /// Time-based (not `full_table`): the timestamp column.
    pub fn timestamp_column(&self) -> Option<E::Column> {
        self.timestamp_column
    }

    /// Time-based: the timestamp of the last row sent (`None`: from the beginning).
    pub fn time_from(&self) -> Option<&Value> {
        self.time_from.as_ref()
    }

    /// Time-based: the primary key of the last row sent, or for `full_table` the last row of
    /// this run (`None`: none yet).
    pub fn min_id(&self) -> Option<&Value> {
        self.min_id.as_ref()
    }

    /// Time-based: now minus `delay_time`, down to the whole second: this run reads rows
    /// stamped before it.
    pub fn time_to(&self) -> Option<&Value> {
        self.time_to.as_ref()
    }

    /// The default filter. Time-based: `ts > time_from OR (ts = time_from AND pk > min_id)`
    /// (`ts >= time_from` without a `min_id`), and `ts < time_to`; `full_table`:
    /// `pk > min_id`; state-based: `state IS NULL` or `state = pending_state`.
    pub fn condition(&self) -> Condition {
        match self.mode {
            PollMode::StateBased => {
                let Some(state) = self.state_column else {
                    return Condition::all();
                };
                match &self.pending_state {
                    None => Condition::all().add(state.is_null()),
                    Some(pending) => Condition::all().add(state.eq(pending.clone())),
                }
            }
            PollMode::TimeBased => {
                let pk = self.primary_key;
                let Some(ts) = self.timestamp_column else {
                    // full_table
                    return match &self.min_id {
                        None => Condition::all(),
                        Some(id) => Condition::all().add(pk.gt(id.clone())),
                    };
                };
                let mut all = Condition::all();
                if let Some(to) = &self.time_to {
                    all = all.add(ts.lt(to.clone()));
                }
                match (&self.time_from, &self.min_id) {
                    (None, _) => all.add(ts.is_not_null()),
                    (Some(from), None) => all.add(ts.gte(from.clone())),
                    (Some(from), Some(id)) => all.add(
                        Condition::any().add(ts.gt(from.clone())).add(
                            Condition::all()
                                .add(ts.eq(from.clone()))
                                .add(pk.gt(id.clone())),
                        ),
                    ),
                }
            }
        }
    }

    /// `E::find()` filtered by [`condition`](Self::condition): what the poller runs when the
    /// producer has no `poll_query` hook.
    pub fn default_query(&self) -> Select<E> {
        E::find().filter(self.condition())
    }
}

/// An entity producer a `[[db_poller]]` can name, registered by
/// `#[producer(.., entity = ..)]` (collected at link time with `inventory`).
#[derive(Debug)]
pub struct PollerTarget {
    name: &'static str,
    path: &'static str,
    check: fn(&DbPollerConfig, &str) -> Result<()>,
    runner: Runner,
}

type Runner = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

impl PollerTarget {
    /// The registration of `P`, named `name` (its type name) at `path` (its full path).
    pub const fn of<P: EntityProducer>(name: &'static str, path: &'static str) -> Self
    where
        ModelOf<P>: Sync,
    {
        PollerTarget {
            name,
            path,
            check: check::<P>,
            runner: runner::<P>,
        }
    }

    /// The producer's type name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The producer's full path (`crate::module::Type`).
    pub fn path(&self) -> &'static str {
        self.path
    }
}

inventory::collect!(PollerTarget);

/// A poller to start: its settings and its producer's functions.
#[derive(Debug, Clone)]
pub(crate) struct PollerSpec {
    config: DbPollerConfig,
    check: fn(&DbPollerConfig, &str) -> Result<()>,
    runner: Runner,
}

/// The registered target `producer` names (a type name or full path).
fn find_target(producer: &str, at: &str) -> Result<&'static PollerTarget> {
    let all: Vec<&'static PollerTarget> = inventory::iter::<PollerTarget>.into_iter().collect();
    let by_path: Vec<_> = all.iter().filter(|t| t.path == producer).collect();
    if let [one] = by_path.as_slice() {
        return Ok(one);
    }
    let by_name: Vec<_> = all.iter().filter(|t| t.name == producer).collect();
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => {
            let mut known: Vec<&str> = all.iter().map(|t| t.path).collect();
            known.sort_unstable();
            Err(Error::config(
                format!("{at}.producer"),
                format!(
                    "no entity producer `{producer}` (`#[producer(.., entity = ..)]`) is \
                     linked into this program; known: [{}]",
                    known.join(", ")
                ),
            ))
        }
        many => Err(Error::config(
            format!("{at}.producer"),
            format!(
                "`{producer}` names several entity producers ({}): write the full path",
                many.iter().map(|t| t.path).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// What a poller task needs.
#[derive(Debug)]
struct Ctx {
    app: App,
    db: DatabaseConnection,
    config: DbPollerConfig,
    name: String,
    owner: String,
    stop: watch::Receiver<bool>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// How a primary key is written as `poll_info.last_sent_id` text and read back.
#[derive(Debug, Clone, Copy)]
enum IdKind {
    Int,
    Text,
    Uuid,
}

/// How the timestamp columns are bound: without a zone (read as UTC) or with one.
#[derive(Debug, Clone, Copy)]
enum TsKind {
    Naive,
    Utc,
}

/// A poller's columns, resolved against the entity.
#[derive(Debug)]
struct Plan<E: EntityTrait> {
    pk: E::Column,
    pk_kind: IdKind,
    /// Time-based, not `full_table`.
    ts: Option<(E::Column, TsKind)>,
    state: Option<StatePlan<E>>,
}

#[derive(Debug)]
struct StatePlan<E: EntityTrait> {
    column: E::Column,
    pending: Option<Value>,
    published: Value,
    failed: Value,
    at: Option<(E::Column, TsKind)>,
}

fn table_of<E: EntityTrait>() -> String {
    E::default().table_name().to_owned()
}

fn column_of<E: EntityTrait>(name: &str, key: &str) -> Result<E::Column> {
    E::Column::iter()
        .find(|c| c.as_str() == name)
        .ok_or_else(|| {
            Error::config(
                key,
                format!(
                    "table `{}` has no column `{name}` (its columns: {})",
                    table_of::<E>(),
                    E::Column::iter()
                        .map(|c| c.as_str().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

fn ts_kind<E: EntityTrait>(column: E::Column, key: &str) -> Result<TsKind> {
    match column.def().get_column_type() {
        ColumnType::DateTime | ColumnType::Timestamp => Ok(TsKind::Naive),
        ColumnType::TimestampWithTimeZone => Ok(TsKind::Utc),
        other => Err(Error::config(
            key,
            format!(
                "column `{}` of table `{}` is {other:?}, not a datetime or timestamp",
                column.as_str(),
                table_of::<E>()
            ),
        )),
    }
}

fn state_value<E: EntityTrait>(column: E::Column, value: &StateValue, key: &str) -> Result<Value> {
    let bad = || {
        Error::config(
            key,
            format!(
                "{value} does not fit column `{}` of table `{}` ({:?})",
                column.as_str(),
                table_of::<E>(),
                column.def().get_column_type()
            ),
        )
    };
    Ok(match (column.def().get_column_type(), value) {
        (ColumnType::Boolean, StateValue::Bool(b)) => Value::Bool(Some(*b)),
        (
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned
            | ColumnType::Unsigned
            | ColumnType::BigUnsigned,
            StateValue::Int(i),
        ) => Value::BigInt(Some(*i)),
        (
            ColumnType::String(_)
            | ColumnType::Text
            | ColumnType::Char(_)
            | ColumnType::Enum { .. },
            StateValue::Text(s),
        ) => Value::String(Some(s.clone())),
        _ => return Err(bad()),
    })
}

impl<E: EntityTrait> Plan<E> {
    fn new(config: &DbPollerConfig, at: &str) -> Result<Self> {
        let key = |k: &str| format!("{at}.{k}");
        let pks: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
        let [pk] = pks.as_slice() else {
            return Err(Error::config(
                key("producer"),
                format!(
                    "table `{}` has a compound primary key ({}); the poller orders and resumes \
                     by a single primary key column",
                    table_of::<E>(),
                    pks.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let pk = *pk;
        let pk_kind = match pk.def().get_column_type() {
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned
            | ColumnType::Unsigned
            | ColumnType::BigUnsigned => IdKind::Int,
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => IdKind::Text,
            ColumnType::Uuid => IdKind::Uuid,
            other => {
                return Err(Error::config(
                    key("producer"),
                    format!(
                        "the primary key `{}` of table `{}` is {other:?}; the poller resumes by \
                         an integer, text or UUID primary key",
                        pk.as_str(),
                        table_of::<E>()
                    ),
                ))
            }
        };
        let mut plan = Plan {
            pk,
            pk_kind,
            ts: None,
            state: None,
        };
        match config.mode {
            PollMode::StateBased => {
                let column_key = key("state_column");
                let name = config.state_column.as_deref().unwrap_or_default();
                let column = column_of::<E>(name, &column_key)?;
                let value = |v: &Option<StateValue>, k: &str| -> Result<Option<Value>> {
                    v.as_ref()
                        .map(|v| state_value::<E>(column, v, &key(k)))
                        .transpose()
                };
                let at = match &config.publish_timestamp_column {
                    None => None,
                    Some(name) => {
                        let k = key("publish_timestamp_column");
                        let column = column_of::<E>(name, &k)?;
                        Some((column, ts_kind::<E>(column, &k)?))
                    }
                };
                plan.state = Some(StatePlan {
                    column,
                    pending: value(&config.pending_state, "pending_state")?,
                    published: value(&config.published_state, "published_state")?
                        .ok_or_else(|| Error::config(key("published_state"), "is required"))?,
                    failed: value(&config.failed_state, "failed_state")?
                        .ok_or_else(|| Error::config(key("failed_state"), "is required"))?,
                    at,
                });
            }
            PollMode::TimeBased => {
                if !config.full_table {
                    let k = key("timestamp_column");
                    let column = column_of::<E>(&config.timestamp_column, &k)?;
                    plan.ts = Some((column, ts_kind::<E>(column, &k)?));
                }
            }
        }
        Ok(plan)
    }

    fn id_text(&self, model: &E::Model) -> Option<String> {
        match model.get(self.pk) {
            Value::TinyInt(Some(i)) => Some(i.to_string()),
            Value::SmallInt(Some(i)) => Some(i.to_string()),
            Value::Int(Some(i)) => Some(i.to_string()),
            Value::BigInt(Some(i)) => Some(i.to_string()),
            Value::TinyUnsigned(Some(i)) => Some(i.to_string()),
            Value::SmallUnsigned(Some(i)) => Some(i.to_string()),
            Value::Unsigned(Some(i)) => Some(i.to_string()),
            Value::BigUnsigned(Some(i)) => Some(i.to_string()),
            Value::String(Some(s)) => Some(s),
            Value::Char(Some(c)) => Some(c.to_string()),
            Value::Uuid(Some(u)) => Some(u.to_string()),
            _ => None,
        }
    }

    fn id_value(&self, text: &str) -> Option<Value> {
        match self.pk_kind {
            IdKind::Int => text.parse::<i64>().ok().map(|i| Value::BigInt(Some(i))),
            IdKind::Text => Some(Value::String(Some(text.to_owned()))),
            IdKind::Uuid => uuid::Uuid::parse_str(text)
                .ok()
                .map(|u| Value::Uuid(Some(u))),
        }
    }
}

fn ts_value(kind: TsKind, at: NaiveDateTime) -> Value {
    match kind {
        TsKind::Naive => Value::ChronoDateTime(Some(at)),
        TsKind::Utc => Value::ChronoDateTimeUtc(Some(Utc.from_utc_datetime(&at))),
    }
}

/// A datetime column's value as UTC without a zone.
fn naive_utc(value: &Value) -> Option<NaiveDateTime> {
    match value {
        Value::ChronoDateTime(Some(t)) => Some(*t),
        Value::ChronoDateTimeUtc(Some(t)) => Some(t.naive_utc()),
        Value::ChronoDateTimeLocal(Some(t)) => Some(t.naive_utc()),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => Some(t.naive_utc()),
        Value::TimeDateTime(Some(t)) => {
            let t = t.assume_utc();
            chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
                .map(|d| d.naive_utc())
        }
        Value::TimeDateTimeWithTimeZone(Some(t)) => {
            chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
                .map(|d| d.naive_utc())
        }
        _ => None,
    }
}

fn check<P: EntityProducer>(config: &DbPollerConfig, at: &str) -> Result<()> {
    config.validate(at)?;
    Plan::<P::Entity>::new(config, at).map(|_| ())
}

fn runner<P: EntityProducer>(ctx: Arc<Ctx>) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    ModelOf<P>: Sync,
{
    Box::pin(run_poller::<P>(ctx))
}

/// Why a batch ended early.
enum BatchError {
    /// Another process holds the poller's lock now (ours expired).
    LockLost,
    /// Nothing of the batch took effect (not sent, or sent into the outbox in the rolled-back
    /// transaction): it can be tried again.
    Failed(Error),
    /// The messages went out (a Kafka backend), but marking the rows or moving the cursor
    /// failed: sending again would publish them twice.
    Unrecorded(Error),
}

impl From<Error> for BatchError {
    fn from(e: Error) -> Self {
        BatchError::Failed(e)
    }
}

fn db_error(context: String, e: sea_orm::DbErr) -> Error {
    crate::outbox::store::db_error(context, e)
}

/// The poller task: runs when due, until stopped.
async fn run_poller<P: EntityProducer>(ctx: Arc<Ctx>) {
    let plan = match Plan::<P::Entity>::new(&ctx.config, &format!("poller `{}`", ctx.name)) {
        Ok(plan) => plan,
        Err(e) => {
            // Checked before the task started; kept for safety.
            tracing::error!(poller = %ctx.name, error = %e, "poller cannot run");
            return;
        }
    };
    tracing::info!(poller = %ctx.name, owner = %ctx.owner, "database poller started");
    let mut stop = ctx.stop.clone();
    while !ctx.stopped() {
        let wait = match tick::<P>(&ctx, &plan).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(poller = %ctx.name, table = %table_of::<P::Entity>(),
                    error = %crate::consumer::error_chain(&e),
                    "poller run failed; it goes on from its cursor at the next run");
                ctx.config.run_every.min(Duration::from_secs(5))
            }
        };
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }
    tracing::info!(poller = %ctx.name, "database poller stopped");
}

/// Runs the poller if it is due and this process gets its lock. How long to wait before
/// looking again.
async fn tick<P: EntityProducer>(ctx: &Ctx, plan: &Plan<P::Entity>) -> Result<Duration> {
    let db = &ctx.db;
    // The start of the current second: a column that keeps whole seconds (MariaDB's
    // `timestamp`) stores a row written later in this same second as that second, which
    // a cursor with the fraction would pass over for good.
    let start =
        (!ctx.config.start_from_beginning).then(|| chrono::SubsecRound::trunc_subsecs(now(), 0));
    store::ensure(db, &ctx.name, start).await?;
    let info = store::read(db, &ctx.name).await?;
    if let Some(wait) = not_due(&ctx.config, &info) {
        return Ok(wait);
    }
    if !store::lock(db, &ctx.name, &ctx.owner, ctx.config.lock_timeout).await? {
        // Another process runs it now: look again soon.
        return Ok(ctx.config.run_every.min(Duration::from_secs(1)));
    }
    // Another process may have finished a run between the read and the lock.
    let info = store::read(db, &ctx.name).await?;
    if let Some(wait) = not_due(&ctx.config, &info) {
        store::unlock(db, &ctx.name, &ctx.owner).await?;
        return Ok(wait);
    }
    if !store::polled(db, &ctx.name, &ctx.owner).await? {
        return Ok(Duration::ZERO);
    }
    let span = tracing::info_span!("deimos.db_poller", poller = %ctx.name);
    let result = match ctx.config.mode {
        PollMode::StateBased => run_state_based::<P>(ctx, plan).instrument(span).await,
        PollMode::TimeBased => run_time_based::<P>(ctx, plan, &info).instrument(span).await,
    };
    let unlocked = store::unlock(db, &ctx.name, &ctx.owner).await;
    match result {
        Ok(sent) => {
            tracing::debug!(poller = %ctx.name, sent, "poller run finished");
            metrics::counter!("db_poller.publish", "poller" => ctx.name.clone())
                .increment(sent as u64);
        }
        Err(BatchError::LockLost) => {
            tracing::warn!(poller = %ctx.name,
                "poller lock expired and was taken by another process; run stopped");
        }
        Err(BatchError::Failed(e) | BatchError::Unrecorded(e)) => return Err(e),
    }
    unlocked?;
    Ok(Duration::ZERO)
}

/// How long until `info`'s poller is due, or `None` when it is.
fn not_due(config: &DbPollerConfig, info: &store::Info) -> Option<Duration> {
    let last = info.last_polled_at?;
    let due = last.checked_add_signed(chrono::Duration::from_std(config.run_every).ok()?)?;
    let now = now();
    (now < due).then(|| (due - now).to_std().unwrap_or_default())
}

/// Time-based run: batches past the cursor up to now − `delay_time`. Rows published.
async fn run_time_based<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    info: &store::Info,
) -> std::result::Result<usize, BatchError> {
    // Whole seconds, exclusive: a row stamped within second S waits until now − delay_time
    // has passed S + 1, so every row of that second (a MariaDB `timestamp` keeps no fraction,
    // and ties are ordered by id, not by stamp) has had its full delay to commit.
    let time_to = chrono::SubsecRound::trunc_subsecs(ago(ctx.config.delay_time), 0);
    // (timestamp, id) of the last row sent; for full_table the id of this run's last row.
    let (mut time_from, mut min_id) = match plan.ts {
        Some(_) => (info.last_sent, info.last_sent_id.clone()),
        None => (None, None),
    };
    let mut sent = 0;
    loop {
        let window = PollWindow {
            poller: ctx.name.clone(),
            mode: PollMode::TimeBased,
            primary_key: plan.pk,
            timestamp_column: plan.ts.map(|(c, _)| c),
            time_from: plan
                .ts
                .and_then(|(_, kind)| time_from.map(|t| ts_value(kind, t))),
            min_id: min_id.as_deref().and_then(|id| plan.id_value(id)),
            time_to: plan.ts.map(|(_, kind)| ts_value(kind, time_to)),
            state_column: None,
            pending_state: None,
        };
        let mut select = P::poll_query(&window);
        if let Some((ts, _)) = plan.ts {
            select = select.order_by_asc(ts);
        }
        let rows = select
            .order_by_asc(plan.pk)
            .limit(ctx.config.batch_size as u64)
            .all(&ctx.db)
            .await
            .map_err(|e| db_error(format!("poller `{}`: reading a batch", ctx.name), e))?;
        let Some(last) = rows.last() else { break };
        let id = plan.id_text(last).ok_or_else(|| {
            Error::config(
                format!("poller `{}`", ctx.name),
                format!(
                    "a row of `{}` has no primary key value",
                    table_of::<P::Entity>()
                ),
            )
        })?;
        let cursor = match plan.ts {
            None => None,
            Some((ts, _)) => {
                let at = naive_utc(&last.get(ts)).ok_or_else(|| {
                    Error::config(
                        format!("poller `{}`", ctx.name),
                        format!(
                            "row {id} of `{}` has no `{}` value (a poll_query hook must keep \
                             rows without a timestamp out)",
                            table_of::<P::Entity>(),
                            ts.as_str()
                        ),
                    )
                })?;
                Some((at, id.clone()))
            }
        };
        if let Err(e) = publish::<P>(ctx, plan, &rows, cursor.clone()).await {
            if let BatchError::Failed(error) | BatchError::Unrecorded(error) = &e {
                tracing::error!(poller = %ctx.name, table = %table_of::<P::Entity>(),
                    first_row = rows.first().and_then(|r| plan.id_text(r)).unwrap_or_default(),
                    last_row = %id, error = %crate::consumer::error_chain(error),
                    "poller batch not published; the cursor stays before it");
            }
            return Err(e);
        }
        sent += rows.len();
        match cursor {
            Some((at, id)) => {
                time_from = Some(at);
                min_id = Some(id);
            }
            None => min_id = Some(id),
        }
        if rows.len() < ctx.config.batch_size || ctx.stopped() {
            break;
        }
    }
    Ok(sent)
}

/// State-based run: batches of pending rows, marked published (or failed). Rows published.
async fn run_state_based<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
) -> std::result::Result<usize, BatchError> {
    let Some(state) = &plan.state else {
        return Ok(0);
    };
    let mut sent = 0;
    loop {
        let window = PollWindow {
            poller: ctx.name.clone(),
            mode: PollMode::StateBased,
            primary_key: plan.pk,
            timestamp_column: None,
            time_from: None,
            min_id: None,
            time_to: None,
            state_column: Some(state.column),
            pending_state: state.pending.clone(),
        };
        let rows = P::poll_query(&window)
            .order_by_asc(plan.pk)
            .limit(ctx.config.batch_size as u64)
            .all(&ctx.db)
            .await
            .map_err(|e| db_error(format!("poller `{}`: reading a batch", ctx.name), e))?;
        if rows.is_empty() {
            break;
        }
        match publish::<P>(ctx, plan, &rows, None).await {
            Ok(()) => sent += rows.len(),
            Err(BatchError::LockLost) => return Err(BatchError::LockLost),
            // Sent but not marked: the rows stay pending and the next run sends them again
            // (at-least-once); trying them one by one now would send them twice at once.
            Err(e @ BatchError::Unrecorded(_)) => return Err(e),
            Err(BatchError::Failed(e)) => {
                tracing::warn!(poller = %ctx.name, rows = rows.len(),
                    error = %crate::consumer::error_chain(&e),
                    "poller batch failed; trying its rows one by one");
                for row in &rows {
                    match publish_once::<P>(ctx, plan, std::slice::from_ref(row), None).await {
                        Ok(()) => sent += 1,
                        Err(BatchError::LockLost) => return Err(BatchError::LockLost),
                        Err(e @ BatchError::Unrecorded(_)) => return Err(e),
                        Err(BatchError::Failed(e)) => {
                            tracing::error!(poller = %ctx.name,
                                row = plan.id_text(row).unwrap_or_default(),
                                error = %crate::consumer::error_chain(&e),
                                "row could not be published; marked failed");
                            let txn = ctx.db.begin().await.map_err(|e| {
                                db_error(format!("poller `{}`: marking a row", ctx.name), e)
                            })?;
                            mark::<P>(ctx, plan, &txn, std::slice::from_ref(row), state, false)
                                .await?;
                            if !store::advance(&txn, &ctx.name, &ctx.owner, None).await? {
                                return Err(BatchError::LockLost);
                            }
                            txn.commit().await.map_err(|e| {
                                db_error(format!("poller `{}`: marking a row", ctx.name), e)
                            })?;
                        }
                    }
                }
            }
        }
        if rows.len() < ctx.config.batch_size || ctx.stopped() {
            break;
        }
    }
    Ok(sent)
}

/// Sets `rows`' state to published (`ok`) or failed, and the publish timestamp, on `txn`.
async fn mark<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    txn: &impl sea_orm::ConnectionTrait,
    rows: &[ModelOf<P>],
    state: &StatePlan<P::Entity>,
    ok: bool,
) -> Result<()> {
    let value = if ok { &state.published } else { &state.failed };
    let mut update = P::Entity::update_many().col_expr(state.column, Expr::val(value.clone()));
    if let Some((column, kind)) = state.at {
        update = update.col_expr(column, Expr::val(ts_value(kind, now())));
    }
    let keys: Vec<Value> = rows.iter().map(|r| r.get(plan.pk)).collect();
    update
        .filter(plan.pk.is_in(keys))
        .exec(txn)
        .await
        .map_err(|e| {
            db_error(
                format!(
                    "poller `{}`: marking {} row(s) of `{}` {}",
                    ctx.name,
                    rows.len(),
                    table_of::<P::Entity>(),
                    if ok { "published" } else { "failed" }
                ),
                e,
            )
        })?;
    Ok(())
}

/// Publishes `rows` and moves the cursor (state-based: marks them published) in one
/// transaction, trying again `retries` times with backoff.
async fn publish<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    rows: &[ModelOf<P>],
    cursor: Option<(NaiveDateTime, String)>,
) -> std::result::Result<(), BatchError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(ctx.config.retries as usize)
        .build();
    loop {
        match publish_once::<P>(ctx, plan, rows, cursor.clone()).await {
            Err(BatchError::Failed(e)) => match delays.next() {
                Some(delay) if !ctx.stopped() => {
                    tracing::warn!(poller = %ctx.name, error = %crate::consumer::error_chain(&e),
                        retry_in = ?delay, "poller batch failed; trying again");
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(BatchError::Failed(e)),
            },
            // Sent: only the recording is tried again, never the send.
            Err(BatchError::Unrecorded(mut e)) => loop {
                match delays.next() {
                    Some(delay) if !ctx.stopped() => {
                        tracing::warn!(poller = %ctx.name,
                            error = %crate::consumer::error_chain(&e), retry_in = ?delay,
                            "poller batch sent, but not recorded; recording it again");
                        tokio::time::sleep(delay).await;
                        match record::<P>(ctx, plan, rows, cursor.clone()).await {
                            Err(BatchError::Failed(again) | BatchError::Unrecorded(again)) => {
                                e = again;
                            }
                            other => return other,
                        }
                    }
                    _ => return Err(BatchError::Unrecorded(e)),
                }
            },
            other => return other,
        }
    }
}

/// Marks the rows published (state-based) and moves the cursor, renewing the lock, in a
/// transaction of its own: the recording of a batch already sent.
async fn record<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    rows: &[ModelOf<P>],
    cursor: Option<(NaiveDateTime, String)>,
) -> std::result::Result<(), BatchError> {
    let context = || format!("poller `{}`: recording a sent batch", ctx.name);
    let txn = ctx.db.begin().await.map_err(|e| db_error(context(), e))?;
    record_on::<P>(ctx, plan, txn, rows, cursor).await
}

/// On `txn`: marks the rows published (state-based), moves the cursor and renews the lock,
/// then commits.
async fn record_on<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    txn: sea_orm::DatabaseTransaction,
    rows: &[ModelOf<P>],
    cursor: Option<(NaiveDateTime, String)>,
) -> std::result::Result<(), BatchError> {
    if let Some(state) = &plan.state {
        mark::<P>(ctx, plan, &txn, rows, state, true).await?;
    }
    if !store::advance(&txn, &ctx.name, &ctx.owner, cursor).await? {
        return Err(BatchError::LockLost);
    }
    txn.commit()
        .await
        .map_err(|e| db_error(format!("poller `{}`: committing a batch", ctx.name), e))?;
    Ok(())
}

async fn publish_once<P: EntityProducer>(
    ctx: &Ctx,
    plan: &Plan<P::Entity>,
    rows: &[ModelOf<P>],
    cursor: Option<(NaiveDateTime, String)>,
) -> std::result::Result<(), BatchError> {
    let context = || format!("poller `{}`: the batch's transaction", ctx.name);
    let txn = ctx.db.begin().await.map_err(|e| db_error(context(), e))?;
    crate::orm::send_events_on::<P, _>(&ctx.app, &txn, rows, &PublishOptions::default()).await?;
    // With the outbox the messages are in `txn` and share its fate; with a Kafka backend they
    // are out, whatever happens to `txn` now.
    let sent_already = ctx.app.config().producers.backend != crate::config::ProducerBackendKind::Db;
    match record_on::<P>(ctx, plan, txn, rows, cursor).await {
        Err(BatchError::Failed(e)) if sent_already => Err(BatchError::Unrecorded(e)),
        other => other,
    }
}

/// Running pollers (from [`start_db_pollers`](crate::start_db_pollers) or
/// [`App::start_db_pollers`]). [`shutdown`](Self::shutdown) stops them after their current
/// batch. Dropping the handle aborts them at once, as a crash would: at most the batch in
/// flight is published again by the next run.
#[derive(Debug)]
pub struct DbPollerHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    owner: String,
    names: Vec<String>,
}

impl DbPollerHandle {
    /// This process's lock id (`locked_by` in `poll_info`): `<host>-<pid>-<random>`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The pollers running, by name.
    pub fn pollers(&self) -> &[String] {
        &self.names
    }

    /// Stops the pollers: each finishes the batch it is publishing, releases its lock and
    /// returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl App {
    /// Adds a poller of entity producer `P` to those [`start_db_pollers`](Self::start_db_pollers)
    /// starts, besides the configuration's `[[db_poller]]`s. `config.producer` is set to `P`'s
    /// type name when empty (it names the poller unless `config.name` does).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting when `config` is invalid or does not fit `P`'s
    /// entity (no such column, a timestamp column that is not a datetime, a compound primary
    /// key, a state that does not fit its column).
    pub fn add_db_poller<P: EntityProducer>(&self, mut config: DbPollerConfig) -> Result<()>
    where
        ModelOf<P>: Sync,
    {
        if config.producer.is_empty() {
            let path = std::any::type_name::<P>();
            config.producer = path.rsplit("::").next().unwrap_or(path).to_owned();
        }
        let at = format!("poller `{}`", config.poller_name());
        check::<P>(&config, &at)?;
        self.inner
            .pollers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PollerSpec {
                config,
                check: check::<P>,
                runner: runner::<P>,
            });
        Ok(())
    }

    /// Whether any poller is declared (`[[db_poller]]` or [`add_db_poller`](Self::add_db_poller)).
    pub fn has_db_pollers(&self) -> bool {
        !self.config().db_poller.is_empty()
            || !self
                .inner
                .pollers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Starts every declared poller (the configuration's `[[db_poller]]`s, then those added
    /// with [`add_db_poller`](Self::add_db_poller)) as tasks of the current tokio runtime, on
    /// this app's database (Deimos' `rake deimos:db_poller`). Every poller is checked before
    /// any starts.
    ///
    /// # Errors
    /// [`Error::Config`] when no database is set (key `database`), when a `[[db_poller]]`
    /// names no linked entity producer or several, when a setting does not fit the entity
    /// (key `db_poller[i].<setting>`), or when two pollers share a name.
    pub fn start_db_pollers(&self) -> Result<DbPollerHandle> {
        let mut specs = Vec::new();
        for (i, config) in self.config().db_poller.iter().enumerate() {
            let at = format!("db_poller[{i}]");
            config.validate(&at)?;
            let target = find_target(&config.producer, &at)?;
            (target.check)(config, &at)?;
            specs.push((
                at,
                PollerSpec {
                    config: config.clone(),
                    check: target.check,
                    runner: target.runner,
                },
            ));
        }
        for spec in self
            .inner
            .pollers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let at = format!("poller `{}`", spec.config.poller_name());
            (spec.check)(&spec.config, &at)?;
            specs.push((at, spec.clone()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (at, spec) in &specs {
            if !names.insert(spec.config.poller_name().to_owned()) {
                return Err(Error::config(
                    format!("{at}.name"),
                    format!(
                        "poller `{}` is declared twice; give one a distinct `name` (it keys its \
                         cursor in `poll_info`)",
                        spec.config.poller_name()
                    ),
                ));
            }
        }
        let db = self.database()?;
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let owner = format!(
            "{host}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut running = Vec::new();
        for (_, spec) in specs {
            let name = spec.config.poller_name().to_owned();
            running.push(name.clone());
            let ctx = Arc::new(Ctx {
                app: self.clone(),
                db: db.clone(),
                config: spec.config,
                name,
                owner: owner.clone(),
                stop: stop_rx.clone(),
            });
            tasks.spawn((spec.runner)(ctx));
        }
        Ok(DbPollerHandle {
            stop,
            tasks,
            owner,
            names: running,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(last_polled_at: Option<NaiveDateTime>) -> store::Info {
        store::Info {
            last_sent: None,
            last_sent_id: None,
            last_polled_at,
            locked_by: None,
        }
    }

    #[test]
    fn a_poller_is_due_run_every_after_its_last_run_started() {
        let mut config = DbPollerConfig::new("P");
        config.run_every = Duration::from_secs(60);
        // Never ran: due.
        assert_eq!(not_due(&config, &info(None)), None);
        // Started 20 s ago: due in about 40 s.
        let wait = not_due(&config, &info(Some(now() - chrono::Duration::seconds(20)))).unwrap();
        assert!(
            wait > Duration::from_secs(39) && wait <= Duration::from_secs(40),
            "{wait:?}"
        );
        // A run that started 90 s ago and overran: the next is due at once.
        assert_eq!(
            not_due(&config, &info(Some(now() - chrono::Duration::seconds(90)))),
            None
        );
    }
}
