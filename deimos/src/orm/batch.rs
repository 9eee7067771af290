//! Batch entity consumers: Deimos' `ActiveRecordConsumer` in batch mode (`delivery =
//! "inline_batch"`): compaction or slices of independent keys, one bulk upsert and one delete
//! per slice, all in one transaction, deadlock retries, and a message-by-message retry of a
//! batch that fails.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use sea_orm::sea_query::{Condition, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic as _,
    PrimaryKeyToColumn as _, QueryFilter as _, TransactionSession as _, TransactionTrait,
};

use super::assign::{assign_attributes, column_value_of};
use super::consumer::{consume_with_key, EntityConsumerHooks};
use crate::consumer::{BatchMetadata, Metadata};
use crate::error::BoxError;
use crate::payload::{Payload, PayloadValue};
use crate::schema::coerce::to_payload;
use crate::schema::Incoming;

/// Attempts of a batch transaction that fails on a deadlock or a serialization failure
/// (Deimos' `DeadlockRetry` makes 2 retries; so does this: 3 attempts in all).
pub const DEADLOCK_ATTEMPTS: usize = 3;

/// Bind parameters per statement, below every backend's limit (PostgreSQL and MySQL take
/// 65,535; SQLite 32,766 since 3.32).
const MAX_PARAMS: usize = 30_000;

/// One message of a batch, read.
#[derive(Debug, Clone)]
pub struct BatchMessage {
    /// The message key as a payload value (see [`EntityConsumerHooks`]), or what
    /// [`record_key`](EntityConsumerHooks::record_key) made of the payload.
    pub key: PayloadValue,
    /// The payload; `None` for a tombstone.
    pub payload: Option<Payload>,
    /// Its offset.
    pub offset: i64,
}

/// Keeps the last message of each key, in the order of those last messages (Deimos'
/// compaction of a batch).
pub fn compact(messages: Vec<BatchMessage>) -> Vec<BatchMessage> {
    let keep = compacted_indexes(&messages);
    let mut keep = keep.into_iter().peekable();
    messages
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.next_if_eq(i).is_some())
        .map(|(_, m)| m)
        .collect()
}

/// Cuts the batch into consecutive slices in which no key repeats, keeping the order: slices
/// run one after another, the messages of one slice all at once (Deimos' uncompacted batch
/// mode).
pub fn slices(messages: Vec<BatchMessage>) -> Vec<Vec<BatchMessage>> {
    let bounds = slice_bounds(&messages);
    let mut messages = messages.into_iter();
    bounds
        .into_iter()
        .map(|len| messages.by_ref().take(len).collect())
        .collect()
}

/// The indexes [`compact`] keeps, ascending.
fn compacted_indexes(messages: &[BatchMessage]) -> Vec<usize> {
    let ids: Vec<String> = messages.iter().map(|m| key_id(&m.key)).collect();
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        last.insert(id, i);
    }
    let mut keep: Vec<usize> = last.into_values().collect();
    keep.sort_unstable();
    keep
}

/// The lengths of [`slices`], in order.
fn slice_bounds(messages: &[BatchMessage]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut len = 0;
    for m in messages {
        let id = key_id(&m.key);
        if seen.contains(&id) {
            out.push(len);
            seen.clear();
            len = 0;
        }
        seen.insert(id);
        len += 1;
    }
    if len > 0 {
        out.push(len);
    }
    out
}

/// A key's identity (payload values are not `Hash`: floats): a compact, unambiguous text
/// form.
fn key_id(key: &PayloadValue) -> String {
    fn write(out: &mut String, v: &PayloadValue) {
        use std::fmt::Write as _;
        match v {
            PayloadValue::Int(i) => {
                let _ = write!(out, "i{i};");
            }
            PayloadValue::String(s) => {
                let _ = write!(out, "s{}:{s};", s.len());
            }
            PayloadValue::Map(map) => {
                out.push('{');
                for (k, v) in map.iter() {
                    let _ = write!(out, "{}:{k}=", k.len());
                    write(out, v);
                }
                out.push('}');
            }
            other => {
                let _ = write!(out, "{other:?};");
            }
        }
    }
    let mut out = String::new();
    write(&mut out, key);
    out
}

/// Whether `error`, or an error in its source chain, is a database error (a
/// `sea_orm::DbErr`) for a deadlock or serialization failure worth retrying: PostgreSQL's
/// "deadlock detected" (SQLSTATE 40P01) and "could not serialize access" (40001), MySQL /
/// MariaDB 1213 (deadlock, `(40001)`) and 1205 (lock wait timeout), SQLite `SQLITE_BUSY`
/// ("database is locked"). Only the database's own errors are read, so a message, value or
/// offset in other errors (a payload field holding "deadlock", offset 40001) never looks like
/// a lock conflict.
pub fn is_retryable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(db) = e.downcast_ref::<sea_orm::DbErr>() {
            let text = db.to_string().to_ascii_lowercase();
            if [
                "deadlock",
                "could not serialize access",
                "serialization failure",
                "(40001)",
                "40p01",
                "lock wait timeout",
                "database is locked",
                "database table is locked",
            ]
            .iter()
            .any(|needle| text.contains(needle))
            {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// Writes a batch into `P`'s entity on `db` (Deimos' batch `ActiveRecordConsumer`):
///
/// 1. messages [`process_message`](EntityConsumerHooks::process_message) refuses are dropped;
/// 2. with `compacted` (the default), only the last message of each key is kept
///    ([`compact`]); otherwise the batch is cut into [`slices`] of independent keys;
/// 3. per slice, the rows of the payloads are upserted with one `INSERT … ON CONFLICT (primary
///    key) DO UPDATE` (MySQL: `ON DUPLICATE KEY UPDATE`) per 30,000 bind parameters, and the
///    tombstones' rows go to [`remove_records`](EntityConsumerHooks::remove_records) at once;
/// 4. all of it in one transaction, tried again up to [`DEADLOCK_ATTEMPTS`] times in all on
///    a deadlock or serialization failure ([`is_retryable`]).
///
/// Bulk statements do not run SeaORM's `ActiveModelBehavior` hooks (as Rails' `upsert_all`
/// does not run callbacks).
///
/// # Errors
/// A value a column does not take (naming the column and offset), a hook's error, or the
/// database error after the retries.
pub async fn consume_batch<P, C>(
    db: &C,
    messages: &[BatchMessage],
    compacted: bool,
) -> Result<(), BoxError>
where
    P: EntityConsumerHooks,
    C: ConnectionTrait + TransactionTrait,
{
    let slices: Vec<Vec<&BatchMessage>> = if compacted {
        vec![compacted_indexes(messages)
            .into_iter()
            .map(|i| &messages[i])
            .collect()]
    } else {
        let mut rest = messages;
        slice_bounds(messages)
            .into_iter()
            .map(|len| {
                let (slice, tail) = rest.split_at(len);
                rest = tail;
                slice.iter().collect()
            })
            .collect()
    };
    // The rows are made once; a retried transaction writes them again.
    let mut prepared = Vec::with_capacity(slices.len());
    for slice in &slices {
        prepared.push(prepare_slice::<P>(slice)?);
    }
    retry_lock_conflicts(
        "batch transaction",
        |e: &BoxError| is_retryable(&**e),
        || write_slices::<P, C>(db, &prepared),
    )
    .await
}

/// Runs `op`, and again after an error `retryable` says is a deadlock or serialization
/// failure, up to [`DEADLOCK_ATTEMPTS`] times in all, backing off 20–500 ms with jitter
/// (backon); `what` names the operation in the warning logged before each retry.
pub(crate) async fn retry_lock_conflicts<T, E, F, Fut>(
    what: &str,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(500))
        .with_jitter()
        .with_max_times(DEADLOCK_ATTEMPTS - 1)
        .build();
    loop {
        match op().await {
            Err(e) if retryable(&e) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(what, error = %e, retry_in = ?delay,
                                   "failed on a lock conflict; retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// A slice's rows to upsert and its tombstones' keys.
type Prepared<P> = (
    Vec<<P as super::consumer::EntityConsumer>::ActiveModel>,
    Vec<PayloadValue>,
);

/// The rows of a slice's payloads (key assigned, attributes written) and its tombstones' keys.
fn prepare_slice<P: EntityConsumerHooks>(slice: &[&BatchMessage]) -> Result<Prepared<P>, BoxError> {
    let mut rows = Vec::with_capacity(slice.len());
    let mut gone = Vec::new();
    for m in slice {
        match &m.payload {
            None => gone.push(m.key.clone()),
            Some(payload) => {
                let at = |e: BoxError| -> BoxError { format!("offset {}: {e}", m.offset).into() };
                let mut row = <P::ActiveModel as ActiveModelTrait>::default();
                P::assign_key(&mut row, payload, Some(&m.key)).map_err(at)?;
                let attributes = P::record_attributes(payload.clone(), Some(&m.key));
                assign_attributes(&mut row, &attributes).map_err(at)?;
                rows.push(row);
            }
        }
    }
    Ok((rows, gone))
}

async fn write_slices<P, C>(db: &C, slices: &[Prepared<P>]) -> Result<(), BoxError>
where
    P: EntityConsumerHooks,
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    for (rows, gone) in slices {
        // Upserts, then deletes: the keys of a slice are distinct, so the order between the
        // two does not matter.
        if !rows.is_empty() {
            upsert::<P, _>(&txn, rows.clone()).await?;
        }
        if !gone.is_empty() {
            P::remove_records(&txn, gone.clone()).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

type ColumnOf<P> = <<P as super::consumer::EntityConsumer>::Entity as EntityTrait>::Column;

/// `INSERT … ON CONFLICT (primary key) DO UPDATE SET <every other column written>`, in chunks
/// under the bind-parameter limit.
async fn upsert<P, C>(db: &C, rows: Vec<P::ActiveModel>) -> Result<(), BoxError>
where
    P: EntityConsumerHooks,
    C: ConnectionTrait,
{
    let primary: Vec<ColumnOf<P>> =
        <<P::Entity as EntityTrait>::PrimaryKey as sea_orm::Iterable>::iter()
            .map(|pk| pk.into_column())
            .collect();
    let written: Vec<ColumnOf<P>> = <ColumnOf<P> as sea_orm::Iterable>::iter()
        .filter(|c| rows.iter().any(|r| !r.is_not_set(*c)))
        .collect();
    let updated: Vec<ColumnOf<P>> = written
        .iter()
        .copied()
        .filter(|c| !primary.iter().any(|p| p.as_str() == c.as_str()))
        .collect();
    let per_statement = (MAX_PARAMS / written.len().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<P::ActiveModel> = rows.by_ref().take(per_statement).collect();
        let mut on_conflict = OnConflict::columns(primary.iter().copied());
        if updated.is_empty() {
            // Only key columns: an existing row has nothing to change.
            on_conflict.do_nothing();
        } else {
            on_conflict.update_columns(updated.iter().copied());
        }
        let insert = P::Entity::insert_many(chunk).on_conflict(on_conflict);
        match insert.exec_without_returning(db).await {
            Ok(_) => {}
            // `DO NOTHING` on conflict inserts no row, which SeaORM reports as an error.
            Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Deimos' default `remove_records`: one `DELETE … WHERE <primary key> IN (…)` for the rows of
/// `keys` (for a compound key, an `OR` of the key's column equalities), per 30,000 bind
/// parameters.
///
/// # Errors
/// A key that does not fill the primary key, or the database error.
pub async fn delete_by_keys<P, C>(db: &C, keys: Vec<PayloadValue>) -> Result<(), BoxError>
where
    P: super::consumer::EntityConsumer + ?Sized,
    C: ConnectionTrait,
{
    let primary: Vec<ColumnOf<P>> =
        <<P::Entity as EntityTrait>::PrimaryKey as sea_orm::Iterable>::iter()
            .map(|pk| pk.into_column())
            .collect();
    let per_statement = (MAX_PARAMS / primary.len().max(1)).max(1);
    for chunk in keys.chunks(per_statement) {
        let mut any = Condition::any();
        for key in chunk {
            let mut all = Condition::all();
            for (column, value) in key_values(&primary, key)? {
                let value = column_value_of::<P::ActiveModel>(column, &value)?;
                all = all.add(ColumnTrait::eq(&column, value));
            }
            any = any.add(all);
        }
        P::Entity::delete_many().filter(any).exec(db).await?;
    }
    Ok(())
}

/// The primary key columns' values in `key`: the key itself for one column, the fields of a
/// key record by column name for a compound key.
fn key_values<Col: sea_orm::ColumnTrait>(
    primary: &[Col],
    key: &PayloadValue,
) -> Result<Vec<(Col, PayloadValue)>, BoxError> {
    match (primary, key) {
        (_, PayloadValue::Map(map)) => primary
            .iter()
            .map(|c| {
                map.get(c.as_str())
                    .map(|v| (*c, v.clone()))
                    .ok_or_else(|| format!("the key has no field `{}`", c.as_str()).into())
            })
            .collect(),
        ([column], scalar) => Ok(vec![(*column, scalar.clone())]),
        _ => Err(format!(
            "a compound primary key ({} columns) needs a key record, found {key}",
            primary.len()
        )
        .into()),
    }
}

/// The handler `#[consumer(.., entity = .., delivery = "inline_batch")]` registers: reads the
/// batch, then [`consume_batch`]es it on the database of the app running the consumer. A
/// message that cannot be written at all (a payload that does not read, a tombstone without a
/// key, a `record_key` error) is left out and the others are written. When the batch write
/// fails for another reason than a lock conflict, its messages are written again one by one
/// ([`consume`](super::consume), each on its own), so one bad record neither blocks the others
/// nor hides behind them. The error then names each message that failed (topic partition
/// offsets), and goes through the consumer's error policy.
///
/// # Errors
/// No database set on the app; payloads that do not read; the messages that failed one by one.
pub async fn handle_batch<P: EntityConsumerHooks>(
    incoming: Vec<Incoming>,
    metadata: BatchMetadata,
    compacted: bool,
) -> Result<(), BoxError> {
    let app = crate::runtime::current()?;
    let db = app.database()?;
    let payloads = incoming_payloads(&app, &P::SCHEMA, incoming).await?;
    let mut messages = Vec::with_capacity(payloads.len());
    // Messages that cannot be written at all (a payload that does not read, a tombstone without
    // a key, a key the hook cannot make): left out, so the others are still written, and
    // reported in the batch's error.
    let mut failures = Vec::new();
    for (i, payload) in payloads.into_iter().enumerate() {
        let offset = metadata
            .offsets
            .get(i)
            .copied()
            .unwrap_or(metadata.first_offset);
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                failures.push(format!("offset {offset}: {e}"));
                continue;
            }
        };
        let single = metadata.message(i).unwrap_or_else(|| {
            Metadata::new(metadata.topic.clone(), metadata.partition, offset, None)
        });
        if !P::process_message(payload.as_ref(), &single) {
            continue;
        }
        let key = match metadata.keys.get(i).cloned().flatten() {
            Some(key) => to_payload(&key),
            None => match &payload {
                Some(p) => match P::record_key(p) {
                    Ok(key) => key,
                    Err(e) => {
                        failures.push(format!("offset {offset}: {e}"));
                        continue;
                    }
                },
                None => {
                    failures.push(format!("offset {offset}: a tombstone without a key"));
                    continue;
                }
            },
        };
        messages.push(BatchMessage {
            key,
            payload,
            offset,
        });
    }
    let result = write_batch::<P>(&db, &metadata, messages, compacted).await;
    if let Err(e) = &result {
        if is_retryable(&**e) {
            return result;
        }
    }
    if let Err(e) = result {
        failures.push(crate::consumer::error_chain(&*e));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of the batch's messages could not be written (the others were): {}",
            failures.len(),
            failures.join("; ")
        )
        .into())
    }
}

/// Writes `messages` as one batch; when that fails for another reason than a lock conflict,
/// one by one. The error names each message that failed.
async fn write_batch<P: EntityConsumerHooks>(
    db: &sea_orm::DatabaseConnection,
    metadata: &BatchMetadata,
    messages: Vec<BatchMessage>,
    compacted: bool,
) -> Result<(), BoxError> {
    let Err(batch_error) = consume_batch::<P, _>(db, &messages, compacted).await else {
        return Ok(());
    };
    if is_retryable(&*batch_error) {
        return Err(batch_error);
    }
    tracing::warn!(topic = metadata.topic, partition = metadata.partition,
                   first_offset = metadata.first_offset, last_offset = metadata.last_offset,
                   error = %crate::consumer::error_chain(&*batch_error),
                   "batch write failed; writing its messages one by one");
    let messages = if compacted {
        compact(messages)
    } else {
        messages
    };
    let mut failures = Vec::new();
    for m in messages {
        let outcome = consume_with_key::<P, _>(db, m.payload, Some(&m.key)).await;
        if let Err(e) = outcome {
            failures.push(format!(
                "offset {}: {}",
                m.offset,
                crate::consumer::error_chain(&*e)
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}

/// The payloads of a batch's decoded values (`None` for tombstones), each `Err` with the reason
/// when it does not read; the schema looked up and its names resolved once.
///
/// # Errors
/// Only when the schema cannot be loaded (every message then fails alike).
async fn incoming_payloads(
    app: &crate::App,
    schema: &crate::schema::SchemaRef,
    incoming: Vec<Incoming>,
) -> Result<Vec<Result<Option<Payload>, String>>, BoxError> {
    let avro = app.codec().backend().schema(schema).await?;
    let values: Vec<Result<Option<apache_avro::types::Value>, String>> = incoming
        .into_iter()
        .map(|value| match value {
            Incoming::Value(v) => Ok(v),
            Incoming::Datum(datum) => datum.to_value().map(Some).map_err(|e| e.to_string()),
        })
        .collect();
    let record = |converted: PayloadValue| match converted {
        PayloadValue::Map(p) => Ok(Some(p)),
        other => Err(format!("the payload is {other}, not a record")),
    };
    // All at once (the names resolved once); when one does not convert, each on its own to
    // tell which.
    let present: Vec<&apache_avro::types::Value> = values
        .iter()
        .filter_map(|v| v.as_ref().ok().and_then(Option::as_ref))
        .collect();
    if let Ok(converted) = crate::schema::coerce::to_payloads_with_schema(present, &avro) {
        let mut converted = converted.into_iter();
        return Ok(values
            .into_iter()
            .map(|v| match v {
                Err(e) => Err(e),
                Ok(None) => Ok(None),
                Ok(Some(_)) => converted
                    .next()
                    .map_or_else(|| Err("no payload".to_owned()), record),
            })
            .collect());
    }
    Ok(values
        .into_iter()
        .map(|v| match v {
            Err(e) => Err(e),
            Ok(None) => Ok(None),
            Ok(Some(value)) => {
                match crate::schema::coerce::to_payloads_with_schema([&value], &avro) {
                    Ok(mut one) => one
                        .pop()
                        .map_or_else(|| Err("no payload".to_owned()), record),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .collect())
}

/// [`handle_batch`] boxed as a registered handler's future (what `#[consumer(.., entity = ..,
/// delivery = "inline_batch")]` registers; not API).
#[doc(hidden)]
pub fn batch_handler_future<P: EntityConsumerHooks>(
    incoming: Vec<Incoming>,
    metadata: BatchMetadata,
    compacted: bool,
) -> crate::consumer::HandlerFuture {
    Box::pin(handle_batch::<P>(incoming, metadata, compacted))
}
