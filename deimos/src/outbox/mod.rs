//! The transactional outbox (feature `orm`): Deimos' database backend and its `DbProducer`.
//!
//! With `producers.backend = "db"`, `publish` encodes messages as usual and writes them into
//! the `kafka_messages` table instead of sending them, on the connection or transaction the
//! caller passes ([`PublishOn`], [`App::publish_list_on`], the `#[kafka_source]` hooks) or on
//! the app's database. A message written in a transaction exists only if the transaction
//! commits: the database change and its message go together or not at all.
//!
//! Outbox workers ([`start_db_backend`](crate::start_db_backend), or `db_producer.workers`
//! with [`run`](crate::run)) send the table to Kafka (DESIGN.md §3, Deimos' database backend
//! design):
//!
//! 1. list the topics with rows waiting; for each, take its lock in `kafka_topic_info` with
//!    the worker's id (a lock whose holder has not renewed it for `db_producer.lock_timeout`,
//!    1 min, is taken over);
//! 2. read up to `db_producer.batch_size` (1000) rows in id order, compact them if the topic
//!    is in `db_producer.compact_topics` (the last message per key), send them with
//!    `acks=all` through an idempotent producer and wait for every delivery report, then
//!    delete the rows that were settled; renew the lock (heartbeat) and go on while batches
//!    are full;
//! 3. unlock (`last_processed_at` = now), or on a failure mark the topic errored
//!    (`retries` + 1) and leave it for `db_producer.error_backoff` (1 min).
//!
//! Guarantees: a message is deleted only after Kafka acknowledged it, so nothing is lost, and
//! per topic (per shard, see below) messages go out in id order, one worker at a time. A
//! message goes out twice only when a send's result was not recorded: the worker died between
//! the send and the delete (its batch is sent again once its lock expires), the delete failed,
//! or the message followed a failed one in its batch (the rows from the failed one on stay and
//! are sent again, in order).
//!
//! A message larger than the broker accepts can never be sent: it is removed and reported
//! through the [`Event::DbProducerProduce`](crate::events::Event::DbProducerProduce) event
//! with the error, a `tracing` error and the `publish_error` counter, rather than blocking its
//! topic. That is a message librdkafka refuses to queue (above the producer's
//! `message.max.bytes`), or one the broker refuses with Kafka's `MESSAGE_TOO_LARGE` or
//! `RECORD_LIST_TOO_LARGE` when sent on its own. The broker refuses whole record batches, so
//! after such an error the batch's messages are sent again one at a time and only the one
//! refused alone is removed (Deimos shrinks its batch down to one message likewise).
//!
//! Metrics (Deimos' names): `db_producer.insert` (rows written, tag `topic`),
//! `db_producer.process` (rows handled by workers, tag `topic`), `publish` /
//! `publish_error` as workers send, and the gauges `pending_db_messages_max_wait` (seconds
//! since the oldest waiting message, or since the topic's last pass if later; 0 when nothing
//! waits) and `pending_db_messages_count`, per topic, refreshed by each worker at most every
//! 5 s.
//!
//! Beyond Deimos ("threads scale the number of topics but not a single large topic",
//! Deimos issue 23): `db_producer.shards` spreads one topic over several locks by a hash of
//! the partition key or key, so several workers send it at once while each key keeps its
//! order.
//!
//! # Ids and concurrent writers
//!
//! Ids come from the table's auto-increment, so they follow insert order, not commit order:
//! a worker can see id 12 committed while id 11's transaction is still open, send 12 and
//! later 11. Two messages for the same row are ordered when the row's own lock orders their
//! transactions (updates of one row, as `#[kafka_source]` makes them); unrelated writers
//! racing on one key are not.
//!
//! # Tables
//!
//! [`migrations`] (sea-orm-migration, for a `Migrator`) or `deimos generate migration
//! outbox` (a file for your migration crate) create `kafka_messages` and `kafka_topic_info`
//! ([`CreateOutboxTables`]).

mod migration;
pub(crate) mod store;
// Compiled here and written verbatim by `deimos generate migration outbox`, so it is written as
// a user's migration file (`pub` items, sea-orm-migration's elided `SchemaManager` lifetime).
#[allow(unreachable_pub, elided_lifetimes_in_paths)]
pub(crate) mod tables;
mod worker;

use std::sync::{Arc, RwLock};

pub use migration::{migrations, CreateOutboxTables};
pub(crate) use store::OutboxConn;

use sea_orm::ConnectionTrait;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backends::outbox_sender::OutboxSender;
use crate::backends::ProducedMessage;
use crate::config::DbProducerConfig;
use crate::error::Result;
use crate::producer::{Producer, PublishOptions};
use crate::runtime::App;

/// Publishing on a database connection or transaction, for every producer (`use
/// deimos::outbox::PublishOn;`): with the `db` backend the messages are written into the
/// outbox on `db`, so they commit or roll back with the caller's transaction. The other
/// backends ignore `db` and send as `publish` does.
///
/// ```no_run
/// # #![allow(dead_code)]
/// use deimos::outbox::PublishOn as _;
/// use deimos::orm::sea_orm::TransactionTrait as _;
/// # #[derive(serde::Serialize)] pub struct Widget { pub id: i64, pub name: String, pub price: f64, pub tags: Vec<String>, pub description: Option<String>, pub updated_at: i64 }
/// # #[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"), payload = Widget)]
/// # pub struct WidgetProducer;
///
/// # async fn demo(db: deimos::orm::sea_orm::DatabaseConnection, widget: Widget) -> Result<(), Box<dyn std::error::Error>> {
/// let txn = db.begin().await?;
/// // ... write rows on `txn` ...
/// WidgetProducer::publish_on(&txn, &widget).await?;
/// txn.commit().await?; // the message exists from here on
/// # Ok(()) }
/// ```
pub trait PublishOn: Producer + Sized {
    /// Publishes one payload through the task's app ([`current`](crate::runtime::current)),
    /// writing it on `db` with the `db` backend.
    ///
    /// # Errors
    /// As [`App::publish_list_on`].
    fn publish_on<C: ConnectionTrait>(
        db: &C,
        payload: &Self::Payload,
    ) -> impl std::future::Future<Output = Result<()>> + Send {
        async move {
            crate::runtime::current()?
                .publish_list_on::<Self, C, _>(db, std::iter::once(payload), &PublishOptions::new())
                .await
        }
    }

    /// Publishes payloads in order (Deimos' `publish_list`) through the task's app, writing
    /// them on `db` with the `db` backend.
    ///
    /// # Errors
    /// As [`App::publish_list_on`].
    fn publish_list_on<'a, C, I>(
        db: &C,
        payloads: I,
        options: &PublishOptions,
    ) -> impl std::future::Future<Output = Result<()>> + Send
    where
        C: ConnectionTrait,
        I: IntoIterator<Item = &'a Self::Payload> + Send,
        I::IntoIter: Send,
    {
        async move {
            crate::runtime::current()?
                .publish_list_on::<Self, C, _>(db, payloads, options)
                .await
        }
    }
}

impl<P: Producer> PublishOn for P {}

/// The `kafka_messages` row of `message` (its shard per `db_producer.shards`).
pub(crate) fn new_row<'a>(
    config: &DbProducerConfig,
    message: &'a ProducedMessage,
) -> store::NewRow<'a> {
    let shards = config.shards_of(&message.topic);
    let shard = if shards <= 1 {
        0
    } else {
        let by = message
            .partition_key
            .as_deref()
            .map(str::as_bytes)
            .or(message.key.as_deref());
        by.map_or(0, |bytes| {
            (crc32fast::hash(bytes) % u32::from(shards)) as i32
        })
    };
    store::NewRow {
        topic: &message.topic,
        shard,
        message: message.payload.as_deref(),
        key: message.key.as_deref(),
        partition_key: message.partition_key.as_deref(),
        headers: (!message.headers.is_empty()).then(|| encode_headers(&message.headers)),
    }
}

/// The `headers` column's format: the headers as a JSON array of `[name, [byte, …]]` pairs,
/// in order (names may repeat).
pub fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    serde_json::to_vec(headers).unwrap_or_default()
}

/// Reads the `headers` column (see [`encode_headers`]).
///
/// # Errors
/// The JSON error when the bytes are not in that format.
pub fn decode_headers(
    bytes: &[u8],
) -> std::result::Result<Vec<(String, Vec<u8>)>, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Running outbox workers (from [`start_db_backend`](crate::start_db_backend) or
/// [`App::start_db_backend`]). [`shutdown`](Self::shutdown) stops them after their current
/// batch. Dropping the handle aborts them at once, as a crash would: nothing is lost, the
/// batch in flight may be sent again once its lock expires.
#[derive(Debug)]
pub struct DbProducerHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    ids: Vec<String>,
}

impl DbProducerHandle {
    /// The workers' lock ids (`locked_by` in `kafka_topic_info`): `<host>-<pid>-<random>-<n>`.
    pub fn worker_ids(&self) -> &[String] {
        &self.ids
    }

    /// Stops the workers: each finishes the batch it is sending (deleting what was
    /// delivered), releases its lock and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl App {
    /// Starts `workers` outbox workers on this app's database
    /// ([`set_database`](App::set_database)), as tasks of the current tokio runtime (Deimos'
    /// `Deimos.start_db_backend!(thread_count:)`). They share one librdkafka producer.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) (key `database`) when no database was set, or
    /// `db_producer.workers` when `workers` is 0; [`Error::Kafka`](crate::Error::Kafka) when
    /// librdkafka rejects the producer configuration.
    pub fn start_db_backend(&self, workers: usize) -> Result<DbProducerHandle> {
        if workers == 0 {
            return Err(crate::Error::config(
                "db_producer.workers",
                "start_db_backend needs at least one worker",
            ));
        }
        let db = self.database()?;
        let sender = OutboxSender::from_config(self.config())?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(worker::Shared {
            db,
            config: self.config().clone(),
            sender: RwLock::new(Arc::new(sender)),
            stop: stop_rx,
        });
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut tasks = JoinSet::new();
        let mut ids = Vec::with_capacity(workers);
        for index in 0..workers {
            let id = format!("{host}-{}-{}-{index}", std::process::id(), &run_id[..8]);
            ids.push(id.clone());
            let worker = worker::Worker::new(id, index, shared.clone());
            let app = self.clone();
            tasks.spawn(async move { app.scope(worker.run()).await });
        }
        Ok(DbProducerHandle { stop, tasks, ids })
    }
}
