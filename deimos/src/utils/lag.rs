//! The lag reporter (Deimos' `Utils::LagReporter`): committed offsets against high
//! watermarks, read with librdkafka, reported as the `consumer_lag` gauge.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::consumer::ResolvedConsumer;
use crate::error::{Error, Result};
use crate::runtime::App;

/// One partition's lag for a consumer group, in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionLag {
    /// Topic, as given to the reporter.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The group's committed offset: the next message the group will read. `None` when the
    /// group never committed on this partition (or its commit expired, per the broker's
    /// `offsets.retention.minutes`).
    pub committed: Option<i64>,
    /// The partition's first retained offset (its low watermark).
    pub low_watermark: i64,
    /// The offset the next produced message will get (the high watermark): one past the
    /// last message.
    pub high_watermark: i64,
    /// `high_watermark − committed` (at least 0): messages the group has yet to commit.
    /// `None` without a committed offset, as Kafka's `kafka-consumer-groups` shows `-`.
    pub lag: Option<i64>,
}

/// Reads a consumer group's lag on its topics and reports it as Deimos' `consumer_lag` gauge,
/// tagged `consumer_group`, `topic` and `partition` (Deimos' `Utils::LagReporter`), on demand
/// ([`report`](LagReporter::report)) or on an interval ([`spawn`](LagReporter::spawn)).
///
/// Consumers report the same gauge themselves with `consumers.report_lag` (from
/// librdkafka's statistics of the partitions each one fetches); this reporter is for
/// everything else: a group whose consumers run elsewhere or are stopped (their lag still
/// grows), a monitoring task, a health check.
///
/// **Source.** Lag is the partition's high watermark minus the group's *committed* offset,
/// both asked of the brokers (OffsetFetch from the group coordinator, ListOffsets from the
/// partition leader), so it counts messages handled but not committed yet (up to
/// `consumers.offset_commit_interval`). Deimos computed it from the heartbeat's high
/// watermark and the last offset processed in-process; as in Deimos, a partition without an
/// offset gets no gauge. The reporter's librdkafka client carries the group id but never
/// joins the group, so it does not disturb the group's members.
///
/// ```no_run
/// use std::time::Duration;
/// use deimos::utils::LagReporter;
///
/// # #[tokio::main]
/// # async fn main() -> deimos::Result<()> {
/// let config = deimos::Config::load()?;
/// let reporter = LagReporter::new(&config, "widget-service", ["widgets"])?;
/// for p in reporter.report().await? {
///     println!("{}/{}: {:?}", p.topic, p.partition, p.lag);
/// }
/// // Or every 30 seconds, until `task` is dropped or stopped:
/// let task = reporter.spawn(Duration::from_secs(30));
/// # task.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LagReporter {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    group: String,
    topics: Vec<String>,
    consumer: BaseConsumer,
}

impl std::fmt::Debug for LagReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagReporter")
            .field("group", &self.inner.group)
            .field("topics", &self.inner.topics)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LagReporter {
    /// A reporter for `group_id` on `topics` (names as the consumers subscribe to them),
    /// connecting with `config`'s `kafka.*` settings (brokers, TLS, SASL, `kafka.extra`).
    /// Each broker request may take `kafka.socket_timeout` (see
    /// [`with_timeout`](LagReporter::with_timeout)).
    ///
    /// # Errors
    /// [`Error::Config`] when `group_id` is empty (key `group_id`) or `topics` is empty
    /// (key `topics`); [`Error::Kafka`] when librdkafka refuses the client configuration.
    pub fn new<I>(config: &Config, group_id: &str, topics: I) -> Result<LagReporter>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        if group_id.trim().is_empty() {
            return Err(Error::config(
                "group_id",
                "the lag reporter needs a consumer group",
            ));
        }
        if topics.is_empty() || topics.iter().any(|t| t.trim().is_empty()) {
            return Err(Error::config(
                "topics",
                format!("the lag reporter of consumer group `{group_id}` needs topic names"),
            ));
        }
        let mut client = config.kafka_client_config();
        client
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: BaseConsumer = client.create().map_err(|e| {
            let e = crate::config::secret::redact_client_error(e, &client);
            Error::kafka(
                format!("creating the lag reporter of consumer group `{group_id}`"),
                e,
            )
        })?;
        Ok(LagReporter {
            inner: Arc::new(Inner {
                group: group_id.to_owned(),
                topics,
                consumer,
            }),
            timeout: config.kafka.socket_timeout,
        })
    }

    /// A reporter for the group and topic of the registered `#[consumer]` named `name` (its
    /// function name or full path), as `app` would run it (`[consumer.<name>]` overrides
    /// applied), with `app`'s `kafka.*` settings.
    ///
    /// # Errors
    /// [`Error::Config`] (key `consumer`) when no consumer has that name, or as
    /// [`ResolvedConsumer::resolve`] and [`LagReporter::new`].
    pub fn for_consumer(app: &App, name: &str) -> Result<LagReporter> {
        let reg = crate::consumer::registration(name).ok_or_else(|| {
            Error::config(
                "consumer",
                format!("no `#[consumer]` is registered as `{name}`"),
            )
        })?;
        let settings = ResolvedConsumer::resolve(app.config(), reg)?;
        LagReporter::new(app.config(), &settings.group_id, [settings.topic])
    }

    /// The same reporter with `timeout` for each broker request (metadata, committed
    /// offsets, each partition's watermarks) instead of `kafka.socket_timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> LagReporter {
        self.timeout = timeout;
        self
    }

    /// The consumer group.
    pub fn group_id(&self) -> &str {
        &self.inner.group
    }

    /// The topics.
    pub fn topics(&self) -> &[String] {
        &self.inner.topics
    }

    /// Reads every partition's lag of every topic, in topic order then partition order,
    /// without touching the gauge. The requests are blocking librdkafka calls, run on tokio's
    /// blocking pool.
    ///
    /// # Errors
    /// [`Error::Kafka`], its context naming the consumer group, the topic and, where one is
    /// at fault, the partition: a topic that does not exist (`UnknownTopicOrPartition`), no
    /// answer within the timeout (`OperationTimedOut`), the group coordinator refusing the
    /// offset fetch, a leader refusing the watermark request.
    ///
    /// # Cancel safety
    /// Dropping the future stops waiting; a request in flight finishes on the blocking pool
    /// and its answer is dropped. Nothing is reported.
    pub async fn lag(&self) -> Result<Vec<PartitionLag>> {
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        tokio::task::spawn_blocking(move || inner.read(timeout))
            .await
            .map_err(|e| Error::Runtime {
                reason: format!(
                    "the lag reporter of consumer group `{}` ended abnormally: {e}",
                    self.inner.group
                ),
            })?
    }

    /// Reads the lag as [`lag`](LagReporter::lag) does, then sets the `consumer_lag` gauge
    /// (messages) tagged `topic`, `partition` and `consumer_group` for each partition with a
    /// committed offset, and returns what it read.
    ///
    /// # Errors
    /// As [`lag`](LagReporter::lag); then nothing is reported.
    ///
    /// # Cancel safety
    /// As [`lag`](LagReporter::lag): the gauge is set only when the future completes.
    pub async fn report(&self) -> Result<Vec<PartitionLag>> {
        let lags = self.lag().await?;
        for p in &lags {
            if let Some(lag) = p.lag {
                metrics::gauge!("consumer_lag", "topic" => p.topic.clone(),
                    "partition" => p.partition.to_string(),
                    "consumer_group" => self.inner.group.clone())
                .set(lag as f64);
            }
        }
        Ok(lags)
    }

    /// Reports every `every` on the current tokio runtime (the first report at once), until
    /// the returned task is stopped or dropped. A failed report is logged (`tracing` warning
    /// naming the group and the error) and the next one is tried on time.
    ///
    /// # Panics
    /// Outside a tokio runtime, or when `every` is zero.
    pub fn spawn(&self, every: Duration) -> LagReporterTask {
        assert!(
            !every.is_zero(),
            "LagReporter::spawn needs a non-zero interval"
        );
        let reporter = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = reporter.report().await {
                    tracing::warn!(consumer_group = %reporter.inner.group,
                        error = %crate::consumer::error_chain(&e), "lag report failed");
                }
            }
        });
        LagReporterTask { task }
    }
}

impl Inner {
    fn read(&self, timeout: Duration) -> Result<Vec<PartitionLag>> {
        let mut lags = Vec::new();
        for topic in &self.topics {
            let partitions = self.partitions(topic, timeout)?;
            let mut tpl = TopicPartitionList::new();
            for &p in &partitions {
                tpl.add_partition(topic, p);
            }
            let committed = self.consumer.committed_offsets(tpl, timeout).map_err(|e| {
                Error::kafka(
                    format!(
                        "fetching the committed offsets of consumer group `{}` on topic \
                             `{topic}`",
                        self.group
                    ),
                    e,
                )
            })?;
            for &partition in &partitions {
                let offset = match committed.find_partition(topic, partition) {
                    Some(elem) => {
                        elem.error().map_err(|e| {
                            Error::kafka(
                                format!(
                                    "fetching the committed offset of consumer group `{}` on \
                                     `{topic}`/{partition}",
                                    self.group
                                ),
                                e,
                            )
                        })?;
                        match elem.offset() {
                            Offset::Offset(n) if n >= 0 => Some(n),
                            _ => None,
                        }
                    }
                    None => None,
                };
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .map_err(|e| {
                        Error::kafka(
                            format!(
                                "fetching the watermarks of `{topic}`/{partition} for consumer \
                                 group `{}`",
                                self.group
                            ),
                            e,
                        )
                    })?;
                lags.push(PartitionLag {
                    topic: topic.clone(),
                    partition,
                    committed: offset,
                    low_watermark: low,
                    high_watermark: high,
                    lag: offset.map(|c| (high - c).max(0)),
                });
            }
        }
        Ok(lags)
    }

    /// The topic's partitions, from the cluster's metadata, in order.
    fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>> {
        let context = || {
            format!(
                "looking up topic `{topic}` for the lag of consumer group `{}`",
                self.group
            )
        };
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| Error::kafka(context(), e))?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(Error::kafka(
                context(),
                KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ),
            ));
        };
        if let Some(code) = found.error() {
            return Err(Error::kafka(
                context(),
                KafkaError::MetadataFetch(code.into()),
            ));
        }
        let mut partitions: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
        if partitions.is_empty() {
            return Err(Error::kafka(
                context(),
                KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ),
            ));
        }
        partitions.sort_unstable();
        Ok(partitions)
    }
}

/// A [`LagReporter`] reporting on an interval ([`LagReporter::spawn`]); dropping it stops
/// the reports.
#[derive(Debug)]
#[must_use = "the reports stop when the task is dropped"]
pub struct LagReporterTask {
    task: tokio::task::JoinHandle<()>,
}

impl LagReporterTask {
    /// Stops reporting (a report in flight is abandoned; the gauges keep their last values).
    pub fn stop(self) {
        // Drop aborts.
    }
}

impl Drop for LagReporterTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}
