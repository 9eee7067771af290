//! The per-consumer loop: receive, gather batches, handle under the error policy, store
//! offsets, retry failing work by pausing only its partition, dead-letter, and let go of
//! revoked partitions.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use backon::BackoffBuilder;
use bytes::Bytes;
use futures::FutureExt as _;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers as _, Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn, Instrument as _};

use super::{BatchMetadata, ConsumerRegistration, Delivery, Handler, Metadata, ResolvedConsumer};
use crate::backends::{ProducedMessage, ProducerBackend as _};
use crate::error::{Error, Result};
use crate::runtime::AppInner;
use crate::schema::Incoming;

/// Header names on a dead-letter message (values are UTF-8 text; numbers in decimal).
pub mod dead_letter_headers {
    /// The error chain of the last failure.
    pub const ERROR: &str = "deimos.error";
    /// Topic the message was consumed from.
    pub const ORIGINAL_TOPIC: &str = "deimos.original_topic";
    /// Partition it was consumed from.
    pub const ORIGINAL_PARTITION: &str = "deimos.original_partition";
    /// Its offset there.
    pub const ORIGINAL_OFFSET: &str = "deimos.original_offset";
    /// Its timestamp there (milliseconds since the Unix epoch), when it had one.
    pub const ORIGINAL_TIMESTAMP: &str = "deimos.original_timestamp";
    /// The consumer (handler name, `module::path::fn_name`).
    pub const CONSUMER: &str = "deimos.consumer";
    /// The consumer group.
    pub const CONSUMER_GROUP: &str = "deimos.consumer_group";
    /// Delivery attempts made before giving up.
    pub const ATTEMPTS: &str = "deimos.attempts";
}

/// The consumer's librdkafka context: remembers which partitions were
/// revoked (so the loop drops work it holds for them), reports lag from statistics. A
/// consumer subscribes to one topic, so partitions are keyed by number.
struct Ctx {
    name: &'static str,
    group: String,
    report_lag: bool,
    /// Incremented on every revocation.
    generation: AtomicU64,
    /// Partition → generation of its latest revocation.
    revoked: Mutex<HashMap<i32, u64>>,
    /// Wakes the loop after a revocation, so work it holds for a revoked (paused) partition
    /// is dropped and the partition resumed at once rather than when its retry is due.
    revoked_signal: tokio::sync::Notify,
}

impl Ctx {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether work on `partition` received at `generation` may still be handled: the
    /// partition was not revoked since.
    fn still_ours(&self, partition: i32, generation: u64) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        revoked.get(&partition).is_none_or(|&g| g <= generation)
    }
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        if !self.report_lag {
            return;
        }
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.fetch_state != "active" {
                    continue; // the internal UA partition, or not fetched here
                }
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if lag < 0 {
                    continue; // nothing known yet
                }
                metrics::gauge!("consumer_lag", "topic" => topic.clone(),
                    "partition" => partition.to_string(), "consumer_group" => self.group.clone())
                .set(lag as f64);
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                // Nothing is in flight here: librdkafka calls this from inside `recv`, between
                // messages. It commits the stored offsets of the revoked partitions itself
                // (with `enable.auto.commit`, when it serves the removal, before the
                // unassignment completes): no commit from here. A synchronous commit here
                // would block a tokio worker thread inside the callback until the group
                // coordinator answers, and with as many consumers as worker threads the
                // rebalance then waits for members that cannot poll (seen: three instances
                // on two workers stalled a group for good).
                let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
                for e in tpl.elements() {
                    revoked.insert(e.partition(), generation);
                }
                drop(revoked);
                self.revoked_signal.notify_one();
                info!(consumer = self.name, partitions = %partition_list(tpl), "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                info!(consumer = self.name, partitions = %partition_list(tpl), "partitions assigned");
            }
            Rebalance::Error(e) => warn!(consumer = self.name, error = %e, "rebalance error"),
        }
    }
}

fn partition_list(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Work held for a paused partition: the failing message (or inline batch) and what followed.
struct Pending {
    messages: VecDeque<OwnedMessage>,
    /// Generation (see [`Ctx`]) when the work was received.
    generation: u64,
    /// Failed attempts of the first message (or the batch) so far.
    attempt: u32,
    delays: backon::ExponentialBackoff,
    next_at: Instant,
    /// The handler gave up and the dead-letter send failed: only that send is retried, with
    /// this error text.
    dead_letter_error: Option<String>,
}

/// A message whose offset can be stored: a received one through its own topic handle
/// (`rd_kafka_offset_store` on the message's topic, no lookup), a held copy by topic name.
trait Stored: Message {
    fn store_in(&self, consumer: &StreamConsumer<Ctx>) -> rdkafka::error::KafkaResult<()>;
}

impl Stored for BorrowedMessage<'_> {
    fn store_in(&self, consumer: &StreamConsumer<Ctx>) -> rdkafka::error::KafkaResult<()> {
        consumer.store_offset_from_message(self)
    }
}

impl Stored for OwnedMessage {
    fn store_in(&self, consumer: &StreamConsumer<Ctx>) -> rdkafka::error::KafkaResult<()> {
        consumer.store_offset(self.topic(), self.partition(), self.offset())
    }
}

/// What the policy makes of a failed attempt.
enum Decision {
    /// Log, count, store the offset, move on (`reraise_errors = false`).
    Skip,
    /// Retry after a backoff, pausing the partition.
    Retry,
    /// Give up and send the message(s) to the dead-letter topic.
    DeadLetter,
    /// Stop the consumer and return the error from `run`.
    Fatal,
}

/// How a unit of work ended when it did not end well.
enum Failure {
    /// Fatal: stop.
    Fatal(Error),
    /// Message `index` (0 for an inline batch) needs another try after `attempt` failures;
    /// with `dead_letter_error`, only its dead-letter send.
    Retry {
        index: usize,
        attempt: u32,
        error: String,
        dead_letter_error: Option<String>,
    },
    /// Shutdown came between messages: the rest is neither handled nor committed.
    Interrupted,
}

/// Deimos' consumer metrics for one topic, registered once (building a metric key per message
/// costs allocations).
struct Meters {
    received: metrics::Counter,
    success: metrics::Counter,
    error: metrics::Counter,
    batch_received: metrics::Counter,
    batch_success: metrics::Counter,
    batch_error: metrics::Counter,
    consume: metrics::Histogram,
    consume_batch: metrics::Histogram,
    time_delayed: metrics::Histogram,
}

impl Meters {
    fn new(topic: &str) -> Meters {
        let status = |s: &'static str| metrics::counter!("handler", "topic" => topic.to_owned(), "status" => s);
        let time = |t: &'static str| metrics::histogram!("handler", "topic" => topic.to_owned(), "time" => t);
        Meters {
            received: status("received"),
            success: status("success"),
            error: status("error"),
            batch_received: status("batch_received"),
            batch_success: status("batch_success"),
            batch_error: status("batch_error"),
            consume: time("consume"),
            consume_batch: time("consume_batch"),
            time_delayed: time("time_delayed"),
        }
    }
}

/// What one consumer needs to decode and handle: registration, settings, metrics, and the
/// decoder once the schemas are loaded.
struct Work<'a> {
    app: &'a AppInner,
    reg: &'static ConsumerRegistration,
    settings: &'a ResolvedConsumer,
    meters: Meters,
    decoder: Option<crate::schema::Decoder>,
}

impl Work<'_> {
    /// The decoder, prepared on first use (a schema that cannot be loaded fails the message
    /// at hand, under the error policy, and is tried again for the next).
    async fn decoder(&mut self) -> Result<&crate::schema::Decoder> {
        if self.decoder.is_none() {
            let decoder = self
                .app
                .codec
                .decoder(&self.reg.schema, &self.reg.key_config)
                .await?;
            self.decoder = Some(decoder);
        }
        Ok(self.decoder.as_ref().expect("just prepared"))
    }
}

/// Runs one consumer instance of `reg` until `shutdown` turns true; then finishes the
/// message in flight, commits what was handled and closes the consumer (leaving the group).
pub(crate) async fn run_consumer(
    app: &AppInner,
    reg: &'static ConsumerRegistration,
    settings: &ResolvedConsumer,
    instance: u32,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let client = settings.client_config(&app.config);
    let ctx = Ctx {
        name: reg.name,
        group: settings.group_id.clone(),
        report_lag: settings.report_lag,
        generation: AtomicU64::new(0),
        revoked: Mutex::new(HashMap::new()),
        revoked_signal: tokio::sync::Notify::new(),
    };
    let consumer: StreamConsumer<Ctx> = client.create_with_context(ctx).map_err(|e| {
        let e = crate::config::secret::redact_client_error(e, &client);
        Error::kafka(format!("creating consumer `{}`", reg.name), e)
    })?;
    consumer
        .subscribe(&[settings.topic.as_str()])
        .map_err(|e| {
            Error::kafka(
                format!("subscribing `{}` to topic `{}`", reg.name, settings.topic),
                e,
            )
        })?;
    info!(
        consumer = reg.name,
        instance,
        topic = settings.topic,
        group_id = settings.group_id,
        delivery = settings.delivery.as_str(),
        "consumer started"
    );
    let mut runner = Runner {
        app,
        reg,
        settings,
        work: Work {
            app,
            reg,
            settings,
            meters: Meters::new(&settings.topic),
            decoder: None,
        },
        consumer: &consumer,
        since_commit: 0,
        shutdown,
        pending: HashMap::new(),
    };
    let outcome = runner.run().await;
    if let Err(e) = &outcome {
        error!(consumer = reg.name, error = %error_chain(e), "fatal error; stopping the consumer");
    }
    // Held work is dropped unstored: it is delivered again after a restart.
    drop(runner);
    commit(&consumer, reg, CommitMode::Sync);
    consumer.unsubscribe();
    drop(consumer); // rd_kafka_consumer_close: leaves the group
    info!(consumer = reg.name, instance, "consumer stopped");
    outcome
}

fn commit(consumer: &StreamConsumer<Ctx>, reg: &ConsumerRegistration, mode: CommitMode) {
    match consumer.commit_consumer_state(mode) {
        Ok(()) => {}
        Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => {}
        Err(e) => warn!(consumer = reg.name, error = %e, "offset commit failed"),
    }
}

struct Runner<'a> {
    app: &'a AppInner,
    reg: &'static ConsumerRegistration,
    settings: &'a ResolvedConsumer,
    work: Work<'a>,
    consumer: &'a StreamConsumer<Ctx>,
    since_commit: u64,
    shutdown: watch::Receiver<bool>,
    /// Held work per paused partition.
    pending: HashMap<i32, Pending>,
}

impl<'a> Runner<'a> {
    fn ctx(&self) -> &'a Ctx {
        self.consumer.context()
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The loop: returns `Ok` on shutdown, the error on a fatal one.
    async fn run(&mut self) -> Result<()> {
        let consumer = self.consumer;
        // One shutdown future for the whole loop (not one per message).
        let mut stop = self.shutdown.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stopped);
        loop {
            // While messages are waiting, `recv` is ready every time and this loop would never
            // hand its worker thread back to tokio: the runtime's other tasks (more consumer
            // instances, whose librdkafka events are only served when they poll, the
            // application's own tasks) would starve. Tokio's cooperative budget yields once
            // in a while (every 128 units, tokio's default).
            tokio::task::consume_budget().await;
            if self.stopping() {
                return Ok(());
            }
            if self.pending.is_empty() {
                // Nothing held: only the next message or shutdown (checked above while
                // messages flow, awaited while none do).
                let received = tokio::select! {
                    biased;
                    received = consumer.recv() => received,
                    () = &mut stopped => return Ok(()),
                };
                self.received(received).await?;
                continue;
            }
            self.drop_revoked();
            let next_retry = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.next_at)
                .map(|(partition, p)| (*partition, p.next_at));
            let due = async {
                match next_retry {
                    Some((_, at)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let revoked = async {
                if self.pending.is_empty() {
                    std::future::pending::<()>().await;
                }
                consumer.context().revoked_signal.notified().await;
            };
            let received = tokio::select! {
                biased;
                () = &mut stopped => return Ok(()),
                () = revoked => continue, // drop_revoked at the top of the loop
                () = due => None,
                received = consumer.recv() => Some(received),
            };
            match received {
                Some(received) => self.received(received).await?,
                None => {
                    if let Some((partition, _)) = next_retry {
                        self.retry(partition).await?;
                    }
                }
            }
        }
    }

    /// Handles what `recv` returned: a message (with the batch gathered after it, for the
    /// batch modes), or an error (fatal ones end the loop).
    async fn received(
        &mut self,
        received: rdkafka::error::KafkaResult<BorrowedMessage<'a>>,
    ) -> Result<()> {
        let first = match received {
            Ok(m) => m,
            Err(e) => {
                // librdkafka reports transient broker errors here and keeps retrying.
                warn!(consumer = self.reg.name, error = %e, "consumer error");
                if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
                    return Err(Error::kafka(
                        format!("consuming `{}`", self.settings.topic),
                        e,
                    ));
                }
                return Ok(());
            }
        };
        if self.settings.delivery == Delivery::Message {
            return self
                .run_fresh(std::slice::from_ref(&first), self.ctx().generation())
                .await;
        }
        let batch = self.gather(first).await;
        // Partitions revoked while the batch was gathered belong to someone else now.
        let mut groups: Vec<(i32, Vec<BorrowedMessage<'a>>)> = Vec::new();
        for (m, generation) in batch {
            if !self.ctx().still_ours(m.partition(), generation) {
                continue;
            }
            match groups.iter_mut().find(|(p, _)| *p == m.partition()) {
                Some((_, group)) => group.push(m),
                None => groups.push((m.partition(), vec![m])),
            }
        }
        let generation = self.ctx().generation();
        for (_, group) in groups {
            if self.stopping() {
                break; // not handled, not stored: delivered again
            }
            self.run_fresh(&group, generation).await?;
        }
        Ok(())
    }

    /// More messages after `first`, up to `max_batch_size`, waiting at most `max_wait_time`
    /// after the first; each with the generation it was received in.
    async fn gather(&mut self, first: BorrowedMessage<'a>) -> Vec<(BorrowedMessage<'a>, u64)> {
        let consumer = self.consumer;
        let mut batch = vec![(first, self.ctx().generation())];
        let deadline = Instant::now() + self.settings.max_wait_time;
        while batch.len() < self.settings.max_batch_size {
            let next = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep_until(deadline) => break,
                next = consumer.recv() => next,
            };
            match next {
                Ok(m) => batch.push((m, self.ctx().generation())),
                Err(e) => {
                    warn!(consumer = self.reg.name, error = %e, "consumer error");
                    break;
                }
            }
        }
        batch
    }

    /// Handles freshly received messages of one partition; when they need a retry, pauses the
    /// partition and holds the rest as [`Pending`].
    async fn run_fresh(&mut self, messages: &[BorrowedMessage<'a>], generation: u64) -> Result<()> {
        let Some(head) = messages.first() else {
            return Ok(());
        };
        let partition = head.partition();
        if let Some(p) = self.pending.get_mut(&partition) {
            // The partition is paused, so librdkafka should not return its messages; one that
            // slips through queues behind the held work rather than being skipped.
            p.messages
                .extend(messages.iter().map(BorrowedMessage::detach));
            return Ok(());
        }
        match self.run_unit(messages, 1).await {
            Ok(()) | Err(Failure::Interrupted) => Ok(()),
            Err(Failure::Fatal(e)) => Err(e),
            Err(Failure::Retry {
                index,
                attempt,
                error,
                dead_letter_error,
            }) => {
                self.pause(partition);
                let mut delays = self.delays();
                let delay = delays.next().unwrap_or(self.settings.backoff.max);
                warn!(consumer = self.reg.name, topic = self.settings.topic, partition,
                      offset = messages[index].offset(), attempt, retry_in = ?delay, error,
                      "handling failed; pausing the partition to retry");
                self.pending.insert(
                    partition,
                    Pending {
                        messages: messages[index..]
                            .iter()
                            .map(BorrowedMessage::detach)
                            .collect(),
                        generation,
                        attempt,
                        delays,
                        next_at: Instant::now() + delay,
                        dead_letter_error,
                    },
                );
                Ok(())
            }
        }
    }

    /// Retries the held work of `partition`; resumes the partition once all of it is done.
    async fn retry(&mut self, partition: i32) -> Result<()> {
        // A revocation may have come while `recv` was polled alongside the timer.
        self.drop_revoked();
        let Some(mut p) = self.pending.remove(&partition) else {
            return Ok(());
        };
        if let Some(error) = p.dead_letter_error.take() {
            let count = match self.settings.delivery {
                Delivery::InlineBatch => p.messages.len(),
                _ => 1,
            };
            let unit: Vec<OwnedMessage> = p.messages.drain(..count).collect();
            if let Err(e) = self.dead_letter(&unit, &error, p.attempt).await {
                let delay = p.delays.next().unwrap_or(self.settings.backoff.max);
                warn!(consumer = self.reg.name, error = %error_chain(&e), retry_in = ?delay,
                      "dead-letter send failed again; retrying it");
                for m in unit.into_iter().rev() {
                    p.messages.push_front(m);
                }
                p.dead_letter_error = Some(error);
                p.next_at = Instant::now() + delay;
                self.pending.insert(partition, p);
                return Ok(());
            }
            for m in &unit {
                self.store(m);
            }
            p.attempt = 0;
        }
        let messages: Vec<OwnedMessage> = p.messages.drain(..).collect();
        if messages.is_empty() {
            self.resume(partition);
            return Ok(());
        }
        match self.run_unit(&messages, p.attempt + 1).await {
            Ok(()) => {
                debug!(
                    consumer = self.reg.name,
                    partition, "held messages handled; resuming the partition"
                );
                self.resume(partition);
                Ok(())
            }
            Err(Failure::Fatal(e)) => Err(e),
            Err(Failure::Interrupted) => Ok(()),
            Err(Failure::Retry {
                index,
                attempt,
                error,
                dead_letter_error,
            }) => {
                if index > 0 {
                    p.delays = self.delays();
                }
                let delay = p.delays.next().unwrap_or(self.settings.backoff.max);
                warn!(consumer = self.reg.name, topic = self.settings.topic, partition,
                      offset = messages[index].offset(), attempt, retry_in = ?delay, error,
                      "handling failed again; retrying");
                p.messages = messages.into_iter().skip(index).collect();
                p.attempt = attempt;
                p.dead_letter_error = dead_letter_error;
                p.next_at = Instant::now() + delay;
                self.pending.insert(partition, p);
                Ok(())
            }
        }
    }

    fn delays(&self) -> backon::ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff.min)
            .with_max_delay(self.settings.backoff.max)
            .without_max_times()
            .build()
    }

    /// Drops held work of partitions revoked since it was received (its offsets were not
    /// stored, so the partition's new owner gets it), and un-pauses them.
    fn drop_revoked(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ctx = self.ctx();
        let gone: Vec<i32> = self
            .pending
            .iter()
            .filter(|(partition, p)| !ctx.still_ours(**partition, p.generation))
            .map(|(partition, _)| *partition)
            .collect();
        for partition in gone {
            if let Some(p) = self.pending.remove(&partition) {
                info!(
                    consumer = self.reg.name,
                    partition,
                    held = p.messages.len(),
                    "partition revoked while retrying; its new owner gets the held messages"
                );
            }
            self.resume(partition);
        }
    }

    fn one_partition(&self, partition: i32) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.settings.topic, partition);
        tpl
    }

    fn pause(&self, partition: i32) {
        if let Err(e) = self.consumer.pause(&self.one_partition(partition)) {
            warn!(consumer = self.reg.name, partition, error = %e, "could not pause the partition");
        }
    }

    fn resume(&self, partition: i32) {
        if let Err(e) = self.consumer.resume(&self.one_partition(partition)) {
            debug!(consumer = self.reg.name, partition, error = %e, "could not resume the partition");
        }
    }

    /// Stores `message`'s offset (librdkafka commits `offset + 1`, the next to consume),
    /// committing early at `offset_commit_threshold`.
    fn store<M: Stored>(&mut self, message: &M) {
        if let Err(e) = message.store_in(self.consumer) {
            // The partition was revoked meanwhile; its new owner will see the message again.
            warn!(consumer = self.reg.name, topic = message.topic(), partition = message.partition(),
                  offset = message.offset(), error = %e, "could not store offset");
            return;
        }
        self.since_commit += 1;
        let threshold = self.settings.offset_commit_threshold;
        if threshold > 0 && self.since_commit >= threshold {
            self.since_commit = 0;
            commit(self.consumer, self.reg, CommitMode::Async);
        }
    }

    /// What the policy makes of `error` after `attempt` failed attempts.
    fn decide(&self, error: &Error, attempt: u32) -> Decision {
        if super::is_fatal(error) || self.hook_says_fatal(error) {
            return Decision::Fatal;
        }
        if self.settings.dead_letter_topic.is_some() {
            if attempt > self.settings.dead_letter_max_retries {
                Decision::DeadLetter
            } else {
                Decision::Retry
            }
        } else if self.settings.reraise_errors {
            Decision::Retry
        } else {
            Decision::Skip
        }
    }

    fn hook_says_fatal(&self, error: &Error) -> bool {
        let Some(hook) = self.reg.fatal_error else {
            return false;
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(error))).unwrap_or_else(
            |_| {
                error!(consumer = self.reg.name, error = %error,
                   "the consumer's fatal_error hook panicked; not fatal");
                false
            },
        )
    }

    /// Handles `messages` (one partition, in order) from the first, which failed
    /// `first_attempt - 1` times before; stores each offset once its message is done.
    async fn run_unit<M: Stored>(
        &mut self,
        messages: &[M],
        first_attempt: u32,
    ) -> std::result::Result<(), Failure> {
        if self.settings.delivery == Delivery::InlineBatch {
            return match consume_batch_instrumented(&mut self.work, messages, first_attempt).await {
                Ok(()) => {
                    for m in messages {
                        self.store(m);
                    }
                    Ok(())
                }
                Err(error) => self.settle(messages, 0, error, first_attempt).await,
            };
        }
        for (index, message) in messages.iter().enumerate() {
            if index > 0 && self.stopping() {
                return Err(Failure::Interrupted);
            }
            let attempt = if index == 0 { first_attempt } else { 1 };
            match consume_instrumented(&mut self.work, message, attempt).await {
                Ok(()) => self.store(message),
                Err(error) => {
                    self.settle(std::slice::from_ref(message), index, error, attempt)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Applies the error policy to a failed unit: the failing message, or a whole inline
    /// batch; `index` is where it starts in the run being handled.
    async fn settle<M: Stored>(
        &mut self,
        unit: &[M],
        index: usize,
        error: Error,
        attempt: u32,
    ) -> std::result::Result<(), Failure> {
        let head = &unit[0];
        let (topic, partition, offset) = (head.topic(), head.partition(), head.offset());
        match self.decide(&error, attempt) {
            Decision::Fatal => Err(Failure::Fatal(error)),
            Decision::Retry => Err(Failure::Retry {
                index,
                attempt,
                error: error_chain(&error),
                dead_letter_error: None,
            }),
            Decision::Skip => {
                error!(consumer = self.reg.name, topic, partition, offset,
                       last_offset = unit[unit.len() - 1].offset(), messages = unit.len(),
                       error = %error_chain(&error),
                       "handling failed; skipping (reraise_errors = false)");
                for m in unit {
                    self.store(m);
                }
                Ok(())
            }
            Decision::DeadLetter => {
                let text = error_chain(&error);
                match self.dead_letter(unit, &text, attempt).await {
                    Ok(()) => {
                        for m in unit {
                            self.store(m);
                        }
                        Ok(())
                    }
                    Err(e) => {
                        warn!(consumer = self.reg.name, topic, partition, offset,
                              error = %error_chain(&e), "dead-letter send failed; will retry it");
                        Err(Failure::Retry {
                            index,
                            attempt,
                            error: text.clone(),
                            dead_letter_error: Some(text),
                        })
                    }
                }
            }
        }
    }

    /// Sends `unit` to the dead-letter topic with its original key, value and headers plus
    /// the failure in [`dead_letter_headers`], awaiting delivery (the synchronous `kafka`
    /// producer, whatever `producers.backend` is).
    async fn dead_letter<M: Message>(&self, unit: &[M], error: &str, attempts: u32) -> Result<()> {
        use dead_letter_headers as h;
        let Some(dlq) = &self.settings.dead_letter_topic else {
            return Ok(());
        };
        let topic: Arc<str> = Arc::from(dlq.as_str());
        let messages: Vec<ProducedMessage> = unit
            .iter()
            .map(|m| {
                let mut headers: Vec<(String, Vec<u8>)> = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut add =
                    |name: &str, value: String| headers.push((name.to_owned(), value.into_bytes()));
                add(h::ERROR, error.to_owned());
                add(h::ORIGINAL_TOPIC, m.topic().to_owned());
                add(h::ORIGINAL_PARTITION, m.partition().to_string());
                add(h::ORIGINAL_OFFSET, m.offset().to_string());
                if let Some(ts) = m.timestamp().to_millis() {
                    add(h::ORIGINAL_TIMESTAMP, ts.to_string());
                }
                add(h::CONSUMER, self.reg.name.to_owned());
                add(h::CONSUMER_GROUP, self.settings.group_id.clone());
                add(h::ATTEMPTS, attempts.to_string());
                ProducedMessage {
                    topic: topic.clone(),
                    key: m.key().map(Bytes::copy_from_slice),
                    payload: m.payload().map(Bytes::copy_from_slice),
                    decoded_key: None,
                    decoded_payload: None,
                    headers,
                    partition_key: None,
                }
            })
            .collect();
        self.app
            .kafka_backend()?
            .produce_from(self.reg.name, &messages)
            .await?;
        metrics::counter!("dead_letter", "topic" => self.settings.topic.clone(),
                          "dead_letter_topic" => dlq.clone())
        .increment(messages.len() as u64);
        let head = &unit[0];
        warn!(
            consumer = self.reg.name,
            topic = head.topic(),
            partition = head.partition(),
            offset = head.offset(),
            messages = unit.len(),
            dead_letter_topic = dlq.as_str(),
            attempts,
            error,
            "sent to the dead-letter topic"
        );
        Ok(())
    }
}

/// One delivery attempt of `message` (the `attempt`th), with Deimos' consumer metrics and a
/// `deimos.consume` span around it:
///
/// - the counter `handler` tagged `topic` and `status:received` once the message is decoded,
///   then `status:success` or `status:error` (a decode failure counts as an error without
///   `received`, as in Deimos, where decoding happens inside `around_consume`);
/// - on success, the histogram `handler` tagged `topic` and `time:consume`: the seconds from
///   the start of decoding to the handler's return; and, when the payload has a `timestamp`
///   field, the histogram `handler` tagged `topic` and `time:time_delayed`: the seconds from
///   that timestamp to the handler's return (Deimos' `_report_time_delayed`).
///
/// The span (`tracing`, info level) carries OpenTelemetry's messaging attributes:
/// `messaging.system = "kafka"`, `messaging.destination.name` (topic),
/// `messaging.kafka.destination.partition`, `messaging.kafka.message.offset`,
/// `messaging.kafka.consumer.group`, plus `deimos.consumer` (the handler) and
/// `deimos.attempt`; a failure is recorded on it as `error` (the error chain) and
/// `otel.status_code = "ERROR"`. Decoding runs in a child span `deimos.decode` with the same
/// attributes, which records a decode failure the same way.
async fn consume_instrumented<M: Message>(
    work: &mut Work<'_>,
    message: &M,
    attempt: u32,
) -> Result<()> {
    let span = message_span("deimos.consume", work.reg, work.settings, message, 1);
    if !span.is_disabled() {
        span.record("deimos.attempt", attempt);
    }
    let started = std::time::Instant::now();
    let outcome = handle_once(work, message).instrument(span.clone()).await;
    match &outcome {
        Ok(sent_at) => {
            work.meters.consume.record(started.elapsed().as_secs_f64());
            report_time_delayed(&work.meters, *sent_at);
            work.meters.success.increment(1);
        }
        Err(e) => {
            work.meters.error.increment(1);
            record_error(&span, e);
        }
    }
    outcome.map(|_| ())
}

/// Deimos' `time:time_delayed`: seconds from the payload's `timestamp` to now.
fn report_time_delayed(meters: &Meters, sent_at_ms: Option<i64>) {
    let Some(sent_at_ms) = sent_at_ms else {
        return;
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let delayed = (now_ms - sent_at_ms).max(0) as f64 / 1000.0;
    meters.time_delayed.record(delayed);
}

/// One attempt of an `inline_batch` handler on `messages` (one partition, in order), with
/// Deimos' batch metrics: the counter `handler` tagged `topic` and `status:batch_received`
/// (+1) and `status:received` (+ batch size) once the batch is decoded; then
/// `status:batch_success` (+1) and `status:success` (+ batch size) with the histogram
/// `handler` tagged `time:consume_batch` (seconds), and `time:time_delayed` per payload with
/// a `timestamp`; or `status:batch_error` (+1). The `deimos.consume` span has the first
/// offset and `messaging.batch.message_count`.
async fn consume_batch_instrumented<M: Message>(
    work: &mut Work<'_>,
    messages: &[M],
    attempt: u32,
) -> Result<()> {
    let span = message_span(
        "deimos.consume",
        work.reg,
        work.settings,
        &messages[0],
        messages.len(),
    );
    span.record("deimos.attempt", attempt);
    let started = std::time::Instant::now();
    let outcome = handle_batch_once(work, messages)
        .instrument(span.clone())
        .await;
    let count = messages.len() as u64;
    match &outcome {
        Ok(sent_at) => {
            work.meters
                .consume_batch
                .record(started.elapsed().as_secs_f64());
            for at in sent_at {
                report_time_delayed(&work.meters, *at);
            }
            work.meters.batch_success.increment(1);
            work.meters.success.increment(count);
        }
        Err(e) => {
            work.meters.batch_error.increment(1);
            record_error(&span, e);
        }
    }
    outcome.map(|_| ())
}

/// A span named `name` for `message` consumed by `reg`, with the messaging attributes of
/// [`consume_instrumented`] (and `error`, `otel.status_code`, `deimos.attempt` to be filled);
/// `count` > 1 adds `messaging.batch.message_count`.
fn message_span<M: Message>(
    name: &'static str,
    reg: &'static ConsumerRegistration,
    settings: &ResolvedConsumer,
    message: &M,
    count: usize,
) -> tracing::Span {
    macro_rules! span_named {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                "messaging.system" = "kafka",
                "messaging.destination.name" = message.topic(),
                "messaging.kafka.destination.partition" = message.partition(),
                "messaging.kafka.message.offset" = message.offset(),
                "messaging.kafka.consumer.group" = settings.group_id.as_str(),
                "messaging.batch.message_count" = tracing::field::Empty,
                "deimos.consumer" = reg.name,
                "deimos.attempt" = tracing::field::Empty,
                "error" = tracing::field::Empty,
                "otel.status_code" = tracing::field::Empty,
            )
        };
    }
    // `tracing` needs span names as literals.
    let span = match name {
        "deimos.decode" => span_named!("deimos.decode"),
        _ => span_named!("deimos.consume"),
    };
    if count > 1 {
        span.record("messaging.batch.message_count", count);
    }
    span
}

/// Records `error` (its chain) on `span`, with OpenTelemetry's `otel.status_code = "ERROR"`.
fn record_error(span: &tracing::Span, error: &(dyn std::error::Error + 'static)) {
    span.record("error", error_chain(error).as_str());
    span.record("otel.status_code", "ERROR");
}

/// Decodes `message`'s key and value (in a `deimos.decode` span).
///
/// Returns the span as well: the payload is read into the handler's type after this (in the
/// registered handler function), and a failure there is recorded on the same span.
async fn decode<M: Message>(
    work: &mut Work<'_>,
    message: &M,
    at: (&str, i32, i64),
) -> Result<(Option<apache_avro::types::Value>, Incoming, tracing::Span)> {
    let decode_span = message_span("deimos.decode", work.reg, work.settings, message, 1);
    let app = work.app;
    // Without waiting when the schemas are at hand (the usual case after the first message).
    if let Some(decoder) = &work.decoder {
        let now = decode_span.in_scope(|| {
            app.codec
                .decode_message_now(decoder, message.key(), message.payload(), at)
        });
        if let Some(decoded) = now {
            if let Err(e) = &decoded {
                record_error(&decode_span, e);
            }
            return decoded.map(|(key, value)| (key, value, decode_span));
        }
    }
    let decoded = async {
        let decoder = work.decoder().await?;
        app.codec
            .decode_message(decoder, message.key(), message.payload(), at)
            .await
    }
    .instrument(decode_span.clone())
    .await;
    if let Err(e) = &decoded {
        record_error(&decode_span, e);
    }
    decoded.map(|(key, value)| (key, value, decode_span))
}

fn headers_of<M: Message>(message: &M) -> Vec<(String, Option<Vec<u8>>)> {
    message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a handler future, turning a panic into an error (retried or skipped per policy; it
/// does not take the consumer down).
async fn guarded(future: super::HandlerFuture) -> std::result::Result<(), crate::error::BoxError> {
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(format!("handler panicked: {}", panic_text(&*panic)).into()))
}

/// Decodes and handles one message; on success returns its payload `timestamp` (for
/// `time:time_delayed`).
async fn handle_once<M: Message>(work: &mut Work<'_>, message: &M) -> Result<Option<i64>> {
    let at = (
        subscribed_topic(work.settings, message),
        message.partition(),
        message.offset(),
    );
    let (key, value, decode_span) = decode(work, message, at).await?;
    let reg = work.reg;
    let sent_at = value.payload_timestamp_ms();
    let metadata = Metadata {
        key,
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        timestamp: message.timestamp().to_millis(),
        headers: headers_of(message),
    };
    debug!(
        consumer = reg.name,
        topic = at.0,
        partition = at.1,
        offset = at.2,
        "handling message"
    );
    let Handler::Message(handler) = reg.handler else {
        return Err(Error::Runtime {
            reason: format!("`{}` takes batches but is delivered per message", reg.name),
        });
    };
    let handler_error = |source| Error::Handler {
        handler: reg.name.to_owned(),
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        source,
    };
    let future = match decode_span.in_scope(|| converted(|| handler(value, metadata))) {
        Ok(Ok(future)) => future,
        Ok(Err(e)) => {
            let error = payload_error(reg, at.0, at.1, e);
            record_error(&decode_span, &error);
            return Err(error);
        }
        Err(panicked) => return Err(handler_error(panicked)),
    };
    drop(decode_span);
    // Received once decoded into the handler's type, as Deimos counts it.
    work.meters.received.increment(1);
    guarded(future)
        .await
        .map(|()| sent_at)
        .map_err(handler_error)
}

/// `message`'s topic: the one the consumer subscribed to (read without librdkafka's topic
/// handle and UTF-8 check), unless it subscribed to a pattern (`^…`, librdkafka's regex
/// subscription).
fn subscribed_topic<'m, M: Message>(settings: &'m ResolvedConsumer, message: &'m M) -> &'m str {
    if settings.topic.starts_with('^') {
        message.topic()
    } else {
        settings.topic.as_str()
    }
}

/// Calls a registered handler function (which converts the payload, then returns the
/// handler's future), turning a panic (from a payload type's `Deserialize`) into an error.
fn converted<R>(call: impl FnOnce() -> R) -> std::result::Result<R, crate::error::BoxError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
        .map_err(|panic| format!("handler panicked: {}", panic_text(&*panic)).into())
}

/// A panic payload's message.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// A payload that does not convert to the handler's type: a decode error of the message.
fn payload_error(
    reg: &ConsumerRegistration,
    topic: &str,
    partition: i32,
    e: super::PayloadError,
) -> Error {
    Error::Decode {
        topic: topic.to_owned(),
        partition,
        offset: e.offset,
        schema: reg.schema.full_name(),
        what: "payload",
        source: e.source,
    }
}

/// Decodes and handles an inline batch; on success returns each payload's `timestamp`.
async fn handle_batch_once<M: Message>(
    work: &mut Work<'_>,
    messages: &[M],
) -> Result<Vec<Option<i64>>> {
    let reg = work.reg;
    let first = &messages[0];
    let (topic, partition) = (subscribed_topic(work.settings, first), first.partition());
    let mut values = Vec::with_capacity(messages.len());
    let mut metadata = BatchMetadata {
        topic: topic.to_owned(),
        partition,
        first_offset: first.offset(),
        last_offset: messages[messages.len() - 1].offset(),
        keys: Vec::with_capacity(messages.len()),
        offsets: Vec::with_capacity(messages.len()),
        timestamps: Vec::with_capacity(messages.len()),
        headers: Vec::with_capacity(messages.len()),
    };
    let mut sent_at = Vec::with_capacity(messages.len());
    // Each message's decode span, to record a payload that does not convert (when tracing).
    let mut decode_spans = Vec::new();
    for m in messages {
        let (key, value, decode_span) = decode(work, m, (topic, m.partition(), m.offset())).await?;
        if !decode_span.is_disabled() {
            decode_spans.push((m.offset(), decode_span));
        }
        sent_at.push(value.payload_timestamp_ms());
        values.push(value);
        metadata.keys.push(key);
        metadata.offsets.push(m.offset());
        metadata.timestamps.push(m.timestamp().to_millis());
        metadata.headers.push(headers_of(m));
    }
    debug!(
        consumer = reg.name,
        topic,
        partition,
        first_offset = metadata.first_offset,
        last_offset = metadata.last_offset,
        "handling batch"
    );
    let (first_offset, last_offset) = (metadata.first_offset, metadata.last_offset);
    let Handler::Batch(handler) = reg.handler else {
        return Err(Error::Runtime {
            reason: format!(
                "`{}` takes single messages but is delivered as inline_batch",
                reg.name
            ),
        });
    };
    let handler_error = |source| Error::Handler {
        handler: reg.name.to_owned(),
        topic: topic.to_owned(),
        partition,
        offset: first_offset,
        source: format!("batch of offsets {first_offset}..={last_offset}: {source}").into(),
    };
    let future = match converted(|| handler(values, metadata)) {
        Ok(Ok(future)) => future,
        Ok(Err(e)) => {
            let e_offset = e.offset;
            let error = payload_error(reg, topic, partition, e);
            let span = decode_spans.iter().find(|(o, _)| *o == e_offset);
            if let Some((_, span)) = span {
                record_error(span, &error);
            }
            return Err(error);
        }
        Err(panicked) => return Err(handler_error(panicked)),
    };
    drop(decode_spans);
    work.meters.batch_received.increment(1);
    work.meters.received.increment(messages.len() as u64);
    guarded(future)
        .await
        .map(|()| sent_at)
        .map_err(handler_error)
}

/// `error: cause: cause` on one line, for logs.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
