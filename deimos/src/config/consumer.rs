//! `[consumer.<name>]`: per-consumer settings from configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, BackoffConfig};
use crate::consumer::Delivery;

/// `[consumer.<name>]`: settings for one consumer, by the name of its handler function (or its
/// full `module::path::name`). Each key that is set overrides the `#[consumer]` attribute's
/// argument of the same name, which overrides `consumers.*` (Deimos' per-consumer
/// `consumer do … end` block over its `consumers` defaults). Unset keys change nothing.
///
/// ```toml
/// [consumer.handle_widget]
/// group_id = "widgets-staging"
/// max_concurrency = 3
/// backoff = { min = "100ms", max = "5s" }
/// dead_letter_topic = "widgets.dlq"
/// ```
///
/// In the environment: `DEIMOS_CONSUMER__HANDLE_WIDGET__MAX_CONCURRENCY=3` (names are
/// lower-cased).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsumerOverride {
    /// Topic to subscribe to.
    pub topic: Option<String>,
    /// Kafka consumer group (`group.id`).
    pub group_id: Option<String>,
    /// `message` or `batch`; `inline_batch` only for handlers written for it (a `Vec` of
    /// payloads), which cannot change to another mode.
    pub delivery: Option<Delivery>,
    /// Independent consumers in the group (see [`super::ConsumersConfig::max_concurrency`]).
    pub max_concurrency: Option<u32>,
    /// `auto.offset.reset`: `earliest` when true, `latest` when false.
    pub start_from_beginning: Option<bool>,
    /// `session.timeout.ms`.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Duration>,
    /// `heartbeat.interval.ms`.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<Duration>,
    /// `auto.commit.interval.ms`.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub offset_commit_interval: Option<Duration>,
    /// Commit after this many handled messages as well (0 = interval only).
    pub offset_commit_threshold: Option<u64>,
    /// Refused when set (see [`super::ConsumersConfig::offset_retention_time`]).
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub offset_retention_time: Option<Duration>,
    /// Retry delays for `reraise_errors` and before a dead-letter topic.
    pub backoff: Option<BackoffConfig>,
    /// Retry failing messages instead of skipping them.
    pub reraise_errors: Option<bool>,
    /// Do not start this consumer.
    pub disabled: Option<bool>,
    /// Most messages per batch.
    pub max_batch_size: Option<usize>,
    /// Longest wait to fill a batch (and `fetch.wait.max.ms`).
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub max_wait_time: Option<Duration>,
    /// `fetch.min.bytes`.
    pub min_bytes: Option<u32>,
    /// `max.partition.fetch.bytes`.
    pub max_bytes_per_partition: Option<u32>,
    /// Report the `consumer_lag` gauge.
    pub report_lag: Option<bool>,
    /// Dead-letter topic for messages that still fail after `dead_letter_max_retries`.
    pub dead_letter_topic: Option<String>,
    /// Retries before the dead-letter topic.
    pub dead_letter_max_retries: Option<u32>,
}
