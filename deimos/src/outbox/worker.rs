//! The outbox workers (Deimos' `Deimos::Utils::DbProducer`).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::store::{self, Row};
use crate::backends::outbox_sender::{is_too_large, OutboxSender, Outcome};
use crate::backends::ProducedMessage;
use crate::config::{Config, DbProducerConfig};
use crate::error::{Error, Result};
use crate::events::{emit, Event};

/// How often a worker refreshes the `pending_db_messages_*` gauges, at most.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// What the workers of one [`start`](super::start) share.
pub(super) struct Shared {
    pub(super) db: DatabaseConnection,
    pub(super) config: Config,
    /// The producer; replaced when librdkafka reports a fatal error.
    pub(super) sender: RwLock<Arc<OutboxSender>>,
    pub(super) stop: watch::Receiver<bool>,
}

impl Shared {
    fn db_config(&self) -> &DbProducerConfig {
        &self.config.db_producer
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn sender(&self) -> Arc<OutboxSender> {
        self.sender
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes a new producer when the current one hit a fatal error.
    fn renew_sender_if_fatal(&self, used: &Arc<OutboxSender>) {
        let Some(fatal) = used.fatal_error() else {
            return;
        };
        let mut slot = self.sender.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&slot, used) {
            return; // another worker renewed it already
        }
        match OutboxSender::from_config(&self.config) {
            Ok(fresh) => {
                tracing::warn!(error = %fatal, "outbox producer hit a fatal error; replaced it");
                *slot = Arc::new(fresh);
            }
            Err(e) => tracing::error!(error = %e, fatal = %fatal,
                "outbox producer hit a fatal error and a new one could not be made"),
        }
    }
}

/// Why a topic's pass ended early.
enum TopicError {
    /// Another worker holds the lock now (ours expired): stop, without touching it.
    LockLost,
    /// Sending or the database failed: mark the topic errored.
    Failed(Error),
}

impl From<Error> for TopicError {
    fn from(e: Error) -> Self {
        TopicError::Failed(e)
    }
}

/// One worker: a lock id, and the `(topic, shard)` rows it knows exist.
pub(super) struct Worker {
    pub(super) id: String,
    pub(super) index: usize,
    pub(super) shared: Arc<Shared>,
    known: HashSet<(String, i32)>,
    metrics_at: Option<Instant>,
}

impl Worker {
    pub(super) fn new(id: String, index: usize, shared: Arc<Shared>) -> Self {
        Worker {
            id,
            index,
            shared,
            known: HashSet::new(),
            metrics_at: None,
        }
    }

    /// Passes over every waiting topic until stopped, sleeping `poll_interval` after a pass
    /// that sent nothing (Deimos' `process_next_messages` loop).
    pub(super) async fn run(mut self) {
        tracing::info!(worker = %self.id, "outbox worker started");
        let mut stop = self.shared.stop.clone();
        while !self.shared.stopped() {
            let sent = match self.pass().await {
                Ok(sent) => sent,
                Err(e) => {
                    tracing::error!(worker = %self.id, error = %crate::consumer::error_chain(&e),
                        "outbox worker pass failed; trying again");
                    0
                }
            };
            if sent == 0 {
                let wait = self.shared.db_config().poll_interval;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    /// One pass over the waiting `(topic, shard)` pairs, starting at a different one per
    /// worker. The number of rows handled.
    async fn pass(&mut self) -> Result<usize> {
        self.send_pending_metrics().await;
        let db = &self.shared.db;
        let mut topics = store::pending_topics(db).await?;
        if !topics.is_empty() {
            let start = self.index % topics.len();
            topics.rotate_left(start);
        }
        let config = self.shared.db_config().clone();
        let mut total = 0;
        for (topic, shard) in topics {
            if self.shared.stopped() {
                break;
            }
            let known = self.known.contains(&(topic.clone(), shard));
            let locked = store::lock(
                db,
                &topic,
                shard,
                &self.id,
                config.lock_timeout,
                config.error_backoff,
                known,
            )
            .await?;
            self.known.insert((topic.clone(), shard));
            if !locked {
                continue;
            }
            match self.process_topic(&topic, shard).await {
                Ok(n) => {
                    total += n;
                    store::unlock(db, &topic, shard, &self.id).await?;
                }
                Err(TopicError::LockLost) => {
                    tracing::warn!(worker = %self.id, topic, shard,
                        "outbox lock expired and was taken by another worker; leaving the topic");
                }
                Err(TopicError::Failed(e)) => {
                    tracing::error!(worker = %self.id, topic, shard,
                        error = %crate::consumer::error_chain(&e),
                        retry_after = ?config.error_backoff,
                        "outbox topic failed; marked errored");
                    if let Err(mark) = store::register_error(db, &topic, shard, &self.id).await {
                        tracing::error!(worker = %self.id, topic, error = %mark,
                            "could not mark the outbox topic errored; its lock expires instead");
                    }
                }
            }
        }
        Ok(total)
    }

    /// Sends `topic`'s `shard` batch after batch while batches are full, renewing the lock
    /// after each (Deimos' `process_topic`).
    async fn process_topic(
        &self,
        topic: &str,
        shard: i32,
    ) -> std::result::Result<usize, TopicError> {
        let db = &self.shared.db;
        let batch_size = self.shared.db_config().batch_size;
        let mut total = 0;
        loop {
            let rows = store::batch(db, topic, shard, batch_size).await?;
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            self.send_batch(topic, rows).await?;
            total += n;
            metrics::counter!("db_producer.process", "topic" => topic.to_owned())
                .increment(n as u64);
            if n < batch_size || self.shared.stopped() {
                break;
            }
            if !store::heartbeat(db, topic, shard, &self.id).await? {
                return Err(TopicError::LockLost);
            }
        }
        Ok(total)
    }

    /// Sends one batch (compacted if configured) and deletes the rows it settled: every row
    /// before the first message that failed (delivered, compacted away, or removed as too
    /// large). On a failure the rest stay for the next attempt.
    ///
    /// A message is removed as too large only when it alone is refused: librdkafka would not
    /// queue it (the producer's `message.max.bytes`), or the broker refused it with
    /// `MESSAGE_TOO_LARGE` / `RECORD_LIST_TOO_LARGE` when it was sent on its own. A broker's
    /// too-large error for a record batch is reported for each message of the batch, so
    /// those messages are sent again one by one before any is removed.
    async fn send_batch(&self, topic: &str, rows: Vec<Row>) -> std::result::Result<(), TopicError> {
        let shared_topic: Arc<str> = Arc::from(topic);
        let kept = if self.shared.db_config().compact_topics.contains(topic) {
            compacted(&rows)
        } else {
            (0..rows.len()).collect()
        };
        // Rows whose headers cannot be read are reported and removed as undeliverable.
        let mut messages = Vec::with_capacity(kept.len());
        let mut sent_rows = Vec::with_capacity(kept.len());
        // With the row index: reported only once that row is settled (deleted).
        let mut removed: Vec<(usize, ProducedMessage, Error)> = Vec::new();
        let mut rows = rows;
        for &i in &kept {
            match to_message(&shared_topic, &mut rows[i]) {
                (m, None) => {
                    messages.push(m);
                    sent_rows.push(i);
                }
                (m, Some(e)) => removed.push((i, m, e)),
            }
        }
        let sender = self.shared.sender();
        let outcome = sender.send(&messages).await;
        let mut delivered = Vec::with_capacity(messages.len());
        let mut failure: Option<(usize, Error)> = None;
        for ((message, row), result) in messages.into_iter().zip(&sent_rows).zip(outcome) {
            let result = match result {
                // The broker refused a record batch (or request) as too large, and every
                // message in it carries that error: send this one alone to learn whether it
                // is the cause (Deimos shrinks the batch down to one message likewise).
                Outcome::Failed(e) if is_too_large(&e) => sender
                    .send(std::slice::from_ref(&message))
                    .await
                    .pop()
                    .unwrap_or(Outcome::Failed(e)),
                other => other,
            };
            match result {
                Outcome::Delivered => delivered.push(message),
                // Refused before queueing, or refused by the broker when sent alone: it can
                // never be sent.
                Outcome::Refused(e) | Outcome::Failed(e) if is_too_large(&e) => {
                    removed.push((*row, message, e));
                }
                Outcome::Refused(e) | Outcome::Failed(e) => {
                    failure = Some((*row, e));
                    break;
                }
            }
        }
        // Settled: every row before the first failure.
        let settled_until = failure.as_ref().map_or(rows.len(), |(row, _)| *row);
        let ids: Vec<i64> = rows[..settled_until].iter().map(|r| r.id).collect();
        store::delete(&self.shared.db, topic, &ids).await?;
        if !delivered.is_empty() {
            metrics::counter!("publish", "status" => "success", "topic" => topic.to_owned())
                .increment(delivered.len() as u64);
            emit(&Event::DbProducerProduce {
                topic,
                messages: &delivered,
                error: None,
            });
        }
        // A row after the first failure stays for the next attempt: not removed yet.
        for (_, message, error) in removed.iter().filter(|(row, ..)| *row < settled_until) {
            tracing::error!(worker = %self.id, topic, error = %crate::consumer::error_chain(error),
                "outbox message cannot be sent; removed from the outbox");
            metrics::counter!("publish_error", "topic" => topic.to_owned()).increment(1);
            emit(&Event::DbProducerProduce {
                topic,
                messages: std::slice::from_ref(message),
                error: Some(error),
            });
        }
        match failure {
            None => Ok(()),
            Some((_, e)) => {
                self.shared.renew_sender_if_fatal(&sender);
                Err(TopicError::Failed(e))
            }
        }
    }

    /// Sets `pending_db_messages_max_wait` (seconds) and `pending_db_messages_count` per
    /// topic, at most every 5 s (Deimos' `send_pending_metrics`). Failures are logged.
    async fn send_pending_metrics(&mut self) {
        if self
            .metrics_at
            .is_some_and(|at| at.elapsed() < METRICS_EVERY)
        {
            return;
        }
        self.metrics_at = Some(Instant::now());
        let pending = match store::pending(&self.shared.db).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "outbox metrics not updated");
                return;
            }
        };
        let now = store::now();
        for (topic, p) in pending {
            let wait = match p.oldest {
                // The oldest message, or the last pass, whichever is later (Deimos).
                Some(oldest) => {
                    let since = p.last_processed_at.map_or(oldest, |l| l.max(oldest));
                    (now - since).to_std().unwrap_or_default().as_secs_f64()
                }
                None => 0.0,
            };
            metrics::gauge!("pending_db_messages_max_wait", "topic" => topic.clone()).set(wait);
            metrics::gauge!("pending_db_messages_count", "topic" => topic).set(p.count as f64);
        }
    }
}

/// The indexes of the rows compaction keeps: the last row of each key, in order; rows
/// without a key are all kept (Deimos' `compact_messages`).
fn compacted(rows: &[Row]) -> Vec<usize> {
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut kept: Vec<usize> = rows
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, r)| match &r.key {
            Some(key) => seen.insert(key.as_slice()),
            None => true,
        })
        .map(|(i, _)| i)
        .collect();
    kept.reverse();
    kept
}

/// The message a row holds (its bytes moved out of the row; the id stays), and the error when
/// its headers do not decode (the message then has none).
fn to_message(topic: &Arc<str>, row: &mut Row) -> (ProducedMessage, Option<Error>) {
    let mut message = ProducedMessage {
        topic: topic.clone(),
        key: row.key.take().map(Into::into),
        payload: row.message.take().map(Into::into),
        decoded_key: None,
        decoded_payload: None,
        headers: Vec::new(),
        partition_key: row.partition_key.take(),
    };
    let error = match row.headers.take().as_deref().map(super::decode_headers) {
        None => None,
        Some(Ok(headers)) => {
            message.headers = headers;
            None
        }
        Some(Err(e)) => Some(Error::Database {
            context: format!(
                "reading the headers of outbox row {} (topic `{topic}`)",
                row.id
            ),
            source: e.into(),
        }),
    };
    (message, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, key: Option<&str>) -> Row {
        Row {
            id,
            message: Some(vec![1]),
            key: key.map(|k| k.as_bytes().to_vec()),
            partition_key: None,
            headers: None,
        }
    }

    #[test]
    fn compaction_keeps_the_last_of_each_key_in_order() {
        let rows = [
            row(1, Some("a")),
            row(2, Some("b")),
            row(3, None),
            row(4, Some("a")),
            row(5, None),
            row(6, Some("c")),
            row(7, Some("b")),
        ];
        assert_eq!(compacted(&rows), vec![2, 3, 4, 5, 6]);
    }
}
