//! The outbox tables, read and written with sea-query statements that work on PostgreSQL,
//! MySQL / MariaDB and SQLite.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait as _, Func, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};

use super::tables::{KafkaMessages as M, KafkaTopicInfo as T};
use crate::error::{BoxError, Error, Result};

/// The SeaORM connection methods the outbox uses, in a form that can be a trait object
/// (SeaORM's `ConnectionTrait` has generic methods): any connection or transaction.
#[async_trait::async_trait]
pub(crate) trait OutboxConn: Sync {
    /// The database kind, for building statements.
    fn backend(&self) -> DbBackend;
    /// Runs a statement that returns no rows.
    async fn exec(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr>;
    /// Runs a query.
    async fn query(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr>;
}

#[async_trait::async_trait]
impl<C: ConnectionTrait> OutboxConn for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }
    async fn exec(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr> {
        self.execute_raw(stmt).await
    }
    async fn query(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr> {
        self.query_all_raw(stmt).await
    }
}

/// One row to write into `kafka_messages`.
#[derive(Debug)]
pub(crate) struct NewRow<'a> {
    pub(crate) topic: &'a str,
    pub(crate) shard: i32,
    pub(crate) message: Option<&'a [u8]>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) partition_key: Option<&'a str>,
    pub(crate) headers: Option<Vec<u8>>,
}

/// One row read from `kafka_messages`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) message: Option<Vec<u8>>,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) partition_key: Option<String>,
    pub(crate) headers: Option<Vec<u8>>,
}

/// Rows per `INSERT`: 7 bind parameters each, below every backend's limit.
const INSERT_ROWS: usize = 4000;
/// Ids per `DELETE … WHERE id IN (…)`.
const DELETE_IDS: usize = 10_000;

/// The current time as the outbox stores it: UTC, without a zone.
pub(crate) fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

pub(crate) fn ago(d: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now().checked_sub_signed(d))
        .unwrap_or(NaiveDateTime::MIN)
}

pub(crate) fn db_error(context: impl Into<String>, e: DbErr) -> Error {
    Error::Database {
        context: context.into(),
        source: Box::new(e) as BoxError,
    }
}

/// Runs `op` (one statement), again after a deadlock or serialization failure, up to
/// [`DEADLOCK_ATTEMPTS`](crate::orm::DEADLOCK_ATTEMPTS) (3) times in all (see
/// [`crate::orm::retry_lock_conflicts`]).
async fn retrying<T, F, Fut>(op: F) -> std::result::Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, DbErr>>,
{
    crate::orm::retry_lock_conflicts(
        "outbox statement",
        |e: &DbErr| crate::orm::is_retryable(e),
        op,
    )
    .await
}

pub(crate) async fn exec(
    db: &dyn OutboxConn,
    stmt: &impl sea_orm::StatementBuilder,
) -> std::result::Result<u64, DbErr> {
    let stmt = db.backend().build(stmt);
    retrying(|| db.exec(stmt.clone()))
        .await
        .map(|r| r.rows_affected())
}

pub(crate) async fn query(
    db: &dyn OutboxConn,
    stmt: &impl sea_orm::StatementBuilder,
) -> std::result::Result<Vec<QueryResult>, DbErr> {
    let stmt = db.backend().build(stmt);
    retrying(|| db.query(stmt.clone())).await
}

/// Writes `rows` into `kafka_messages` on `db`, in order (ids grow with the order), in
/// statements of up to 4000 rows.
pub(crate) async fn insert(db: &dyn OutboxConn, rows: &[NewRow<'_>]) -> Result<()> {
    let created_at = now();
    for chunk in rows.chunks(INSERT_ROWS) {
        let mut insert = Query::insert();
        insert.into_table(M::Table).columns([
            M::Topic,
            M::Shard,
            M::Message,
            M::Key,
            M::PartitionKey,
            M::Headers,
            M::CreatedAt,
        ]);
        for row in chunk {
            insert.values_panic([
                row.topic.into(),
                row.shard.into(),
                row.message.map(<[u8]>::to_vec).into(),
                row.key.map(<[u8]>::to_vec).into(),
                row.partition_key.map(str::to_owned).into(),
                row.headers.clone().into(),
                created_at.into(),
            ]);
        }
        // One statement: not retried on its own, since inside the caller's transaction a
        // deadlock has already rolled the transaction back.
        let stmt = db.backend().build(&insert);
        db.exec(stmt).await.map_err(|e| {
            db_error(
                format!(
                    "writing {} message(s) for topic `{}` into the outbox table `kafka_messages`",
                    chunk.len(),
                    chunk[0].topic
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// The `(topic, shard)` pairs with rows waiting (Deimos' `select('distinct topic')`).
pub(crate) async fn pending_topics(db: &dyn OutboxConn) -> Result<Vec<(String, i32)>> {
    let select = Query::select()
        .distinct()
        .columns([M::Topic, M::Shard])
        .from(M::Table)
        .to_owned();
    let rows = query(db, &select)
        .await
        .map_err(|e| db_error("listing the topics waiting in `kafka_messages`", e))?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<String>(0)?,
                r.try_get_by_index::<i32>(1)?,
            ))
        })
        .collect::<std::result::Result<_, DbErr>>()
        .map_err(|e| db_error("reading the topics waiting in `kafka_messages`", e))
}

/// Up to `limit` rows of `topic`'s `shard`, in id (insertion) order.
pub(crate) async fn batch(
    db: &dyn OutboxConn,
    topic: &str,
    shard: i32,
    limit: usize,
) -> Result<Vec<Row>> {
    let select = Query::select()
        .columns([M::Id, M::Message, M::Key, M::PartitionKey, M::Headers])
        .from(M::Table)
        .and_where(Expr::col(M::Topic).eq(topic))
        .and_where(Expr::col(M::Shard).eq(shard))
        .order_by(M::Id, Order::Asc)
        .limit(limit as u64)
        .to_owned();
    let context =
        || format!("reading a batch of topic `{topic}` (shard {shard}) from `kafka_messages`");
    let rows = query(db, &select)
        .await
        .map_err(|e| db_error(context(), e))?;
    rows.iter()
        .map(|r| {
            Ok(Row {
                id: r.try_get_by_index(0)?,
                message: r.try_get_by_index(1)?,
                key: r.try_get_by_index(2)?,
                partition_key: r.try_get_by_index(3)?,
                headers: r.try_get_by_index(4)?,
            })
        })
        .collect::<std::result::Result<_, DbErr>>()
        .map_err(|e| db_error(context(), e))
}

/// Deletes the rows with these ids.
pub(crate) async fn delete(db: &dyn OutboxConn, topic: &str, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(DELETE_IDS) {
        let delete = Query::delete()
            .from_table(M::Table)
            .and_where(Expr::col(M::Id).is_in(chunk.iter().copied()))
            .to_owned();
        exec(db, &delete).await.map_err(|e| {
            db_error(
                format!(
                    "deleting {} sent message(s) of topic `{topic}` from `kafka_messages`",
                    chunk.len()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// Takes the lock of `topic`'s `shard` for `worker` (Deimos' `KafkaTopicInfo.lock`): creates
/// its `kafka_topic_info` row if missing, then takes it when it is unlocked and not errored,
/// when its holder's last heartbeat is older than `lock_timeout`, when it errored more than
/// `error_backoff` ago, or when `worker` holds it already (an unlock that failed). Whether the
/// lock is now `worker`'s.
pub(crate) async fn lock(
    db: &dyn OutboxConn,
    topic: &str,
    shard: i32,
    worker: &str,
    lock_timeout: Duration,
    error_backoff: Duration,
    known: bool,
) -> Result<bool> {
    let context = || format!("locking topic `{topic}` (shard {shard}) in `kafka_topic_info`");
    if !known {
        let insert = Query::insert()
            .into_table(T::Table)
            .columns([T::Topic, T::Shard, T::Error, T::Retries])
            .values_panic([topic.into(), shard.into(), false.into(), 0.into()])
            .on_conflict(
                OnConflict::columns([T::Topic, T::Shard])
                    .do_nothing_on([T::Topic])
                    .to_owned(),
            )
            .to_owned();
        exec(db, &insert)
            .await
            .map_err(|e| db_error(context(), e))?;
    }
    let free = Cond::all()
        .add(Expr::col(T::LockedBy).is_null())
        .add(Expr::col(T::Error).eq(false));
    let expired = Cond::all()
        .add(Expr::col(T::LockedBy).is_not_null())
        .add(Expr::col(T::LockedAt).lt(ago(lock_timeout)));
    let retry = Cond::all()
        .add(Expr::col(T::LockedBy).is_null())
        .add(Expr::col(T::Error).eq(true))
        .add(Expr::col(T::LockedAt).lt(ago(error_backoff)));
    let own = Cond::all().add(Expr::col(T::LockedBy).eq(worker));
    let update = Query::update()
        .table(T::Table)
        .values([
            (T::LockedBy, worker.into()),
            (T::LockedAt, now().into()),
            (T::Error, false.into()),
        ])
        .and_where(Expr::col(T::Topic).eq(topic))
        .and_where(Expr::col(T::Shard).eq(shard))
        .cond_where(Cond::any().add(free).add(expired).add(retry).add(own))
        .to_owned();
    let changed = exec(db, &update)
        .await
        .map_err(|e| db_error(context(), e))?;
    Ok(changed == 1)
}

/// Renews `worker`'s lock of `topic`'s `shard`. Whether it still holds it (false: it expired
/// and another worker took it).
pub(crate) async fn heartbeat(
    db: &dyn OutboxConn,
    topic: &str,
    shard: i32,
    worker: &str,
) -> Result<bool> {
    let update = Query::update()
        .table(T::Table)
        .value(T::LockedAt, now())
        .and_where(Expr::col(T::Topic).eq(topic))
        .and_where(Expr::col(T::Shard).eq(shard))
        .and_where(Expr::col(T::LockedBy).eq(worker))
        .to_owned();
    let changed = exec(db, &update).await.map_err(|e| {
        db_error(
            format!("renewing the lock of topic `{topic}` (shard {shard})"),
            e,
        )
    })?;
    Ok(changed == 1)
}

/// Releases `worker`'s lock after a successful pass (Deimos' `clear_lock`): no error, no
/// retries, `last_processed_at` now.
pub(crate) async fn unlock(
    db: &dyn OutboxConn,
    topic: &str,
    shard: i32,
    worker: &str,
) -> Result<()> {
    let update = Query::update()
        .table(T::Table)
        .values([
            (T::LockedBy, Option::<String>::None.into()),
            (T::LockedAt, Option::<NaiveDateTime>::None.into()),
            (T::Error, false.into()),
            (T::Retries, 0.into()),
            (T::LastProcessedAt, now().into()),
        ])
        .and_where(Expr::col(T::Topic).eq(topic))
        .and_where(Expr::col(T::Shard).eq(shard))
        .and_where(Expr::col(T::LockedBy).eq(worker))
        .to_owned();
    exec(db, &update)
        .await
        .map(|_| ())
        .map_err(|e| db_error(format!("unlocking topic `{topic}` (shard {shard})"), e))
}

/// Marks `topic`'s `shard` errored and releases `worker`'s lock (Deimos' `register_error`):
/// `error` true, `retries` + 1, `locked_at` now, so that no worker takes it for
/// `error_backoff`.
pub(crate) async fn register_error(
    db: &dyn OutboxConn,
    topic: &str,
    shard: i32,
    worker: &str,
) -> Result<()> {
    let update = Query::update()
        .table(T::Table)
        .values([
            (T::LockedBy, Option::<String>::None.into()),
            (T::LockedAt, now().into()),
            (T::Error, true.into()),
            (T::Retries, Expr::col(T::Retries).add(1)),
        ])
        .and_where(Expr::col(T::Topic).eq(topic))
        .and_where(Expr::col(T::Shard).eq(shard))
        .and_where(Expr::col(T::LockedBy).eq(worker))
        .to_owned();
    exec(db, &update).await.map(|_| ()).map_err(|e| {
        db_error(
            format!("marking topic `{topic}` (shard {shard}) errored"),
            e,
        )
    })
}

/// What waits per topic: the number of rows and the oldest `created_at`; with
/// `last_processed_at` of the topic's `kafka_topic_info` rows (their latest over shards),
/// for Deimos' `pending_db_messages_max_wait`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Pending {
    pub(crate) count: i64,
    pub(crate) oldest: Option<NaiveDateTime>,
    pub(crate) last_processed_at: Option<NaiveDateTime>,
}

/// [`Pending`] for every topic in either table.
pub(crate) async fn pending(db: &dyn OutboxConn) -> Result<BTreeMap<String, Pending>> {
    let mut out: BTreeMap<String, Pending> = BTreeMap::new();
    let messages = Query::select()
        .column(M::Topic)
        .expr_as(Func::count(Expr::col(M::Id)), Alias::new("n"))
        .expr_as(Func::min(Expr::col(M::CreatedAt)), Alias::new("oldest"))
        .from(M::Table)
        .group_by_col(M::Topic)
        .to_owned();
    let topics = Query::select()
        .column(T::Topic)
        .expr_as(Func::max(Expr::col(T::LastProcessedAt)), Alias::new("last"))
        .from(T::Table)
        .group_by_col(T::Topic)
        .to_owned();
    let context = "reading what waits in `kafka_messages` (pending_db_messages_max_wait)";
    for row in query(db, &messages)
        .await
        .map_err(|e| db_error(context, e))?
    {
        let topic: String = row.try_get_by_index(0).map_err(|e| db_error(context, e))?;
        let entry = out.entry(topic).or_default();
        entry.count = row.try_get_by_index(1).map_err(|e| db_error(context, e))?;
        entry.oldest = row.try_get_by_index(2).map_err(|e| db_error(context, e))?;
    }
    for row in query(db, &topics).await.map_err(|e| db_error(context, e))? {
        let topic: String = row.try_get_by_index(0).map_err(|e| db_error(context, e))?;
        out.entry(topic).or_default().last_processed_at =
            row.try_get_by_index(1).map_err(|e| db_error(context, e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn deadlock() -> DbErr {
        DbErr::Custom("error returned from database: deadlock detected (SQLSTATE 40P01)".into())
    }

    #[tokio::test]
    async fn lock_conflicts_are_retried_three_attempts_in_all() {
        let calls = AtomicUsize::new(0);
        let ok = retrying(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(deadlock()),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!((ok.unwrap(), calls.load(Ordering::SeqCst)), (7, 3));

        let calls = AtomicUsize::new(0);
        let err = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(deadlock())
        })
        .await;
        assert!(err.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), crate::orm::DEADLOCK_ATTEMPTS);

        // Anything else fails at once.
        let calls = AtomicUsize::new(0);
        let err = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(DbErr::Custom("syntax error".into()))
        })
        .await;
        assert!(err.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
