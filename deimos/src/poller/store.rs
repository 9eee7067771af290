//! `poll_info`, read and written with sea-query statements that work on PostgreSQL, MySQL /
//! MariaDB and SQLite, on any connection or transaction.

use std::time::Duration;

use chrono::NaiveDateTime;
use sea_orm::sea_query::{Cond, Expr, ExprTrait as _, OnConflict, Query};

use super::tables::PollInfo as P;
use crate::error::Result;
use crate::outbox::store::{ago, db_error, exec, now, query};
use crate::outbox::OutboxConn;

/// A poller's `poll_info` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Info {
    /// Time-based cursor: the last row sent, `(timestamp, primary key as text)`; `None`
    /// before the first row (from the beginning) or with only a time (from that time on).
    pub(crate) last_sent: Option<NaiveDateTime>,
    pub(crate) last_sent_id: Option<String>,
    /// When the last run started.
    pub(crate) last_polled_at: Option<NaiveDateTime>,
    pub(crate) locked_by: Option<String>,
}

/// Creates `poller`'s row if it has none: its cursor at `start` (`None`: from the beginning).
pub(crate) async fn ensure(
    db: &dyn OutboxConn,
    poller: &str,
    start: Option<NaiveDateTime>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table(P::Table)
        .columns([P::Poller, P::LastSent])
        .values_panic([poller.into(), start.into()])
        .on_conflict(
            OnConflict::column(P::Poller)
                .do_nothing_on([P::Poller])
                .to_owned(),
        )
        .to_owned();
    exec(db, &insert).await.map_err(|e| {
        db_error(
            format!("creating the `poll_info` row of poller `{poller}`"),
            e,
        )
    })?;
    Ok(())
}

/// `poller`'s row.
pub(crate) async fn read(db: &dyn OutboxConn, poller: &str) -> Result<Info> {
    let context = || format!("reading the `poll_info` row of poller `{poller}`");
    let select = Query::select()
        .columns([P::LastSent, P::LastSentId, P::LastPolledAt, P::LockedBy])
        .from(P::Table)
        .and_where(Expr::col(P::Poller).eq(poller))
        .to_owned();
    let rows = query(db, &select)
        .await
        .map_err(|e| db_error(context(), e))?;
    let row = rows.first().ok_or_else(|| {
        db_error(
            context(),
            sea_orm::DbErr::RecordNotFound(format!("poll_info row `{poller}`")),
        )
    })?;
    let get = |i: usize| -> Result<Option<NaiveDateTime>> {
        row.try_get_by_index(i).map_err(|e| db_error(context(), e))
    };
    Ok(Info {
        last_sent: get(0)?,
        last_sent_id: row
            .try_get_by_index(1)
            .map_err(|e| db_error(context(), e))?,
        last_polled_at: get(2)?,
        locked_by: row
            .try_get_by_index(3)
            .map_err(|e| db_error(context(), e))?,
    })
}

/// Takes `poller`'s lock for `owner` when it is free, expired (not renewed for
/// `lock_timeout`) or already `owner`'s. Whether `owner` holds it now.
pub(crate) async fn lock(
    db: &dyn OutboxConn,
    poller: &str,
    owner: &str,
    lock_timeout: Duration,
) -> Result<bool> {
    let update = Query::update()
        .table(P::Table)
        .values([(P::LockedBy, owner.into()), (P::LockedAt, now().into())])
        .and_where(Expr::col(P::Poller).eq(poller))
        .cond_where(
            Cond::any()
                .add(Expr::col(P::LockedBy).is_null())
                .add(Expr::col(P::LockedAt).lt(ago(lock_timeout)))
                .add(Expr::col(P::LockedBy).eq(owner)),
        )
        .to_owned();
    let changed = exec(db, &update)
        .await
        .map_err(|e| db_error(format!("locking poller `{poller}` in `poll_info`"), e))?;
    Ok(changed == 1)
}

/// Records that a run of `poller` started now (`last_polled_at`), renewing `owner`'s lock.
/// Whether `owner` still holds it.
pub(crate) async fn polled(db: &dyn OutboxConn, poller: &str, owner: &str) -> Result<bool> {
    let at = now();
    let update = Query::update()
        .table(P::Table)
        .values([(P::LastPolledAt, at.into()), (P::LockedAt, at.into())])
        .and_where(Expr::col(P::Poller).eq(poller))
        .and_where(Expr::col(P::LockedBy).eq(owner))
        .to_owned();
    let changed = exec(db, &update)
        .await
        .map_err(|e| db_error(format!("recording a run of poller `{poller}`"), e))?;
    Ok(changed == 1)
}

/// Moves `poller`'s cursor to `cursor` (time-based; `None` leaves it) and renews `owner`'s
/// lock, on `db` (the batch's transaction). Whether `owner` still held the lock: when not,
/// nothing changed and the caller must roll back.
pub(crate) async fn advance(
    db: &dyn OutboxConn,
    poller: &str,
    owner: &str,
    cursor: Option<(NaiveDateTime, String)>,
) -> Result<bool> {
    let mut update = Query::update();
    update
        .table(P::Table)
        .value(P::LockedAt, now())
        .and_where(Expr::col(P::Poller).eq(poller))
        .and_where(Expr::col(P::LockedBy).eq(owner));
    if let Some((at, id)) = cursor {
        update.values([(P::LastSent, at.into()), (P::LastSentId, id.into())]);
    }
    let changed = exec(db, &update).await.map_err(|e| {
        db_error(
            format!("moving the `poll_info` cursor of poller `{poller}`"),
            e,
        )
    })?;
    Ok(changed == 1)
}

/// Releases `owner`'s lock of `poller` (if it still holds it).
pub(crate) async fn unlock(db: &dyn OutboxConn, poller: &str, owner: &str) -> Result<()> {
    let update = Query::update()
        .table(P::Table)
        .values([
            (P::LockedBy, Option::<String>::None.into()),
            (P::LockedAt, Option::<NaiveDateTime>::None.into()),
        ])
        .and_where(Expr::col(P::Poller).eq(poller))
        .and_where(Expr::col(P::LockedBy).eq(owner))
        .to_owned();
    exec(db, &update)
        .await
        .map_err(|e| db_error(format!("unlocking poller `{poller}` in `poll_info`"), e))?;
    Ok(())
}
