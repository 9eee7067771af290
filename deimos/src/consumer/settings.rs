//! A consumer's effective settings: `consumers.*`, then the attribute, then
//! `[consumer.<name>]`.

use std::time::Duration;

use rdkafka::ClientConfig;

use super::{ConsumerRegistration, Delivery};
use crate::config::{BackoffConfig, Config, ConsumerOverride};
use crate::error::{Error, Result};

/// The settings a consumer runs with: each is `[consumer.<name>]`'s value if set, else the
/// `#[consumer]` attribute's, else `consumers.*` (or the registration's own, for topic, group
/// and delivery). See [`ResolvedConsumer::resolve`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ResolvedConsumer {
    /// The registration's full name (`module::path::fn_name`).
    pub name: &'static str,
    /// Topic subscribed to.
    pub topic: String,
    /// Consumer group.
    pub group_id: String,
    /// Delivery mode.
    pub delivery: Delivery,
    /// Independent consumers (librdkafka clients) in the group, at least 1.
    pub max_concurrency: u32,
    /// `auto.offset.reset=earliest` when true.
    pub start_from_beginning: bool,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `auto.commit.interval.ms`.
    pub offset_commit_interval: Duration,
    /// Commit after this many handled messages too (0 = interval only).
    pub offset_commit_threshold: u64,
    /// Retry delays, exponential from `min` to `max`.
    pub backoff: BackoffConfig,
    /// Retry failing messages (pausing their partition) instead of skipping them.
    pub reraise_errors: bool,
    /// Not started.
    pub disabled: bool,
    /// Most messages per batch (at least 1).
    pub max_batch_size: usize,
    /// Longest wait to fill a batch; also `fetch.wait.max.ms`.
    pub max_wait_time: Duration,
    /// `fetch.min.bytes`.
    pub min_bytes: u32,
    /// `max.partition.fetch.bytes`.
    pub max_bytes_per_partition: u32,
    /// Report `consumer_lag` per partition.
    pub report_lag: bool,
    /// Dead-letter topic, if any.
    pub dead_letter_topic: Option<String>,
    /// Retries before a message goes to the dead-letter topic.
    pub dead_letter_max_retries: u32,
}

impl ResolvedConsumer {
    /// The settings of a consumer in `group_id` with nothing but `consumers.*` (no
    /// attribute, no `[consumer.<name>]`): what [`Config::consumer_client_config`] renders.
    pub(crate) fn defaults(config: &Config, group_id: &str) -> ResolvedConsumer {
        let d = &config.consumers;
        ResolvedConsumer {
            name: "",
            topic: String::new(),
            group_id: group_id.to_owned(),
            delivery: Delivery::Message,
            max_concurrency: d.max_concurrency,
            start_from_beginning: d.start_from_beginning,
            session_timeout: d.session_timeout,
            heartbeat_interval: d.heartbeat_interval,
            offset_commit_interval: d.offset_commit_interval,
            offset_commit_threshold: d.offset_commit_threshold,
            backoff: d.backoff.clone(),
            reraise_errors: d.reraise_errors,
            disabled: false,
            max_batch_size: d.max_batch_size,
            max_wait_time: d.max_wait_time,
            min_bytes: d.min_bytes,
            max_bytes_per_partition: d.max_bytes_per_partition,
            report_lag: d.report_lag,
            dead_letter_topic: None,
            dead_letter_max_retries: d.dead_letter_max_retries,
        }
    }

    /// Resolves `reg`'s settings against `config`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key (`consumer.<name>.<key>`, or `consumers.<key>` for a
    /// default) when a value is out of range, `offset_retention_time` is set (librdkafka
    /// cannot send it; KIP-211 removed it from OffsetCommit), or `delivery` would change an
    /// `inline_batch` handler to a per-message mode or the reverse.
    pub fn resolve(config: &Config, reg: &ConsumerRegistration) -> Result<ResolvedConsumer> {
        let (key, empty) = (override_key(config, reg.name), ConsumerOverride::default());
        let o = key
            .as_deref()
            .and_then(|k| config.consumer.get(k))
            .unwrap_or(&empty);
        let at = |field: &str| match &key {
            Some(k) => format!("consumer.{k}.{field}"),
            None => format!("consumer.{}.{field}", short_name(reg.name)),
        };
        let d = Self::defaults(config, reg.group_id);
        let a = &reg.settings;
        let delivery = o.delivery.unwrap_or(reg.delivery);
        if (delivery == Delivery::InlineBatch) != (reg.delivery == Delivery::InlineBatch) {
            return Err(Error::config(
                at("delivery"),
                format!(
                    "`{}` cannot be delivered as `{}`: `inline_batch` needs a handler that takes \
                     a `Vec` of payloads, and such a handler takes nothing else (`{}` declares \
                     `{}`)",
                    reg.name,
                    delivery.as_str(),
                    reg.name,
                    reg.delivery.as_str()
                ),
            ));
        }
        let backoff = match &o.backoff {
            Some(b) => b.clone(),
            None => BackoffConfig {
                min: a.backoff_min.unwrap_or(d.backoff.min),
                max: a.backoff_max.unwrap_or(d.backoff.max),
            },
        };
        let resolved = ResolvedConsumer {
            name: reg.name,
            topic: o.topic.clone().unwrap_or_else(|| reg.topic.to_owned()),
            group_id: o
                .group_id
                .clone()
                .unwrap_or_else(|| reg.group_id.to_owned()),
            delivery,
            max_concurrency: o
                .max_concurrency
                .or(a.max_concurrency)
                .unwrap_or(d.max_concurrency),
            start_from_beginning: o
                .start_from_beginning
                .or(a.start_from_beginning)
                .unwrap_or(d.start_from_beginning),
            session_timeout: o
                .session_timeout
                .or(a.session_timeout)
                .unwrap_or(d.session_timeout),
            heartbeat_interval: o
                .heartbeat_interval
                .or(a.heartbeat_interval)
                .unwrap_or(d.heartbeat_interval),
            offset_commit_interval: o
                .offset_commit_interval
                .or(a.offset_commit_interval)
                .unwrap_or(d.offset_commit_interval),
            offset_commit_threshold: o
                .offset_commit_threshold
                .or(a.offset_commit_threshold)
                .unwrap_or(d.offset_commit_threshold),
            backoff,
            reraise_errors: o
                .reraise_errors
                .or(a.reraise_errors)
                .unwrap_or(d.reraise_errors),
            disabled: o.disabled.or(a.disabled).unwrap_or(false),
            max_batch_size: o
                .max_batch_size
                .or(a.max_batch_size)
                .unwrap_or(d.max_batch_size),
            max_wait_time: o
                .max_wait_time
                .or(a.max_wait_time)
                .unwrap_or(d.max_wait_time),
            min_bytes: o.min_bytes.or(a.min_bytes).unwrap_or(d.min_bytes),
            max_bytes_per_partition: o
                .max_bytes_per_partition
                .or(a.max_bytes_per_partition)
                .unwrap_or(d.max_bytes_per_partition),
            report_lag: o.report_lag.or(a.report_lag).unwrap_or(d.report_lag),
            dead_letter_topic: o
                .dead_letter_topic
                .clone()
                .or_else(|| a.dead_letter_topic.map(str::to_owned)),
            dead_letter_max_retries: o
                .dead_letter_max_retries
                .or(a.dead_letter_max_retries)
                .unwrap_or(d.dead_letter_max_retries),
        };
        if o.offset_retention_time.is_some() || a.offset_retention_time.is_some() {
            return Err(Error::config(
                at("offset_retention_time"),
                "is not supported: librdkafka does not send a retention time in OffsetCommit \
                 (KIP-211 removed it in Kafka 2.1); set the broker's `offsets.retention.minutes`",
            ));
        }
        resolved.validate(&at)?;
        Ok(resolved)
    }

    fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        let fail = |field: &str, reason: String| Err(Error::config(at(field), reason));
        if self.topic.trim().is_empty() {
            return fail("topic", "must not be empty".into());
        }
        if self.group_id.trim().is_empty() {
            return fail("group_id", "must not be empty".into());
        }
        if self.max_concurrency == 0 {
            return fail("max_concurrency", "must be at least 1".into());
        }
        if self.max_batch_size == 0 {
            return fail("max_batch_size", "must be at least 1".into());
        }
        if self.max_wait_time > Duration::from_secs(300) {
            return fail(
                "max_wait_time",
                format!(
                    "must be at most 300 s (librdkafka's `fetch.wait.max.ms`), found {:?}",
                    self.max_wait_time
                ),
            );
        }
        if self.backoff.min > self.backoff.max {
            return fail(
                "backoff",
                format!(
                    "min ({:?}) is greater than max ({:?})",
                    self.backoff.min, self.backoff.max
                ),
            );
        }
        if self.heartbeat_interval >= self.session_timeout {
            return fail(
                "heartbeat_interval",
                format!(
                    "must be shorter than session_timeout ({:?}), found {:?}",
                    self.session_timeout, self.heartbeat_interval
                ),
            );
        }
        if self.min_bytes == 0 {
            return fail("min_bytes", "must be at least 1 (`fetch.min.bytes`)".into());
        }
        if self.max_bytes_per_partition == 0 {
            return fail(
                "max_bytes_per_partition",
                "must be at least 1 (`max.partition.fetch.bytes`)".into(),
            );
        }
        if let Some(dlq) = &self.dead_letter_topic {
            if dlq.trim().is_empty() {
                return fail("dead_letter_topic", "must not be empty".into());
            }
            if *dlq == self.topic {
                return fail(
                    "dead_letter_topic",
                    format!("must differ from the consumed topic `{dlq}`"),
                );
            }
        }
        Ok(())
    }

    /// The librdkafka properties of this consumer's clients:
    /// [`Config::kafka_client_config`], then `group.id`, `enable.auto.commit=true`,
    /// `enable.auto.offset.store=false` (deimos stores each offset once it is handled),
    /// `auto.commit.interval.ms`, `session.timeout.ms`, `heartbeat.interval.ms`,
    /// `auto.offset.reset`, `fetch.wait.max.ms`, `fetch.min.bytes`,
    /// `max.partition.fetch.bytes`, `statistics.interval.ms` (the heartbeat interval, with
    /// `report_lag`), `enable.partition.eof=false`, then `consumers.extra`.
    ///
    /// The result carries secrets in clear text: do not log it.
    pub fn client_config(&self, config: &Config) -> ClientConfig {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut c = config.kafka_client_config();
        c.set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", ms(self.offset_commit_interval))
            .set("session.timeout.ms", ms(self.session_timeout))
            .set("heartbeat.interval.ms", ms(self.heartbeat_interval))
            .set(
                "auto.offset.reset",
                if self.start_from_beginning {
                    "earliest"
                } else {
                    "latest"
                },
            )
            .set("fetch.wait.max.ms", ms(self.max_wait_time))
            .set("fetch.min.bytes", self.min_bytes.to_string())
            .set(
                "max.partition.fetch.bytes",
                self.max_bytes_per_partition.to_string(),
            )
            .set("enable.partition.eof", "false");
        if self.report_lag {
            c.set(
                "statistics.interval.ms",
                ms(self.heartbeat_interval.max(Duration::from_millis(100))),
            );
        }
        for (key, value) in &config.consumers.extra {
            c.set(key, value);
        }
        c
    }
}

/// The `[consumer.<key>]` entry for `name`: the full name, or its last `::` segment.
fn override_key(config: &Config, name: &str) -> Option<String> {
    if config.consumer.contains_key(name) {
        return Some(name.to_owned());
    }
    let short = short_name(name);
    config
        .consumer
        .contains_key(short)
        .then(|| short.to_owned())
}

fn short_name(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// Checks that every `[consumer.<name>]` names a registered consumer (a typo would otherwise
/// be ignored silently).
///
/// # Errors
/// [`Error::Config`] naming `consumer.<name>` and the registered names.
pub(crate) fn check_override_names(
    config: &Config,
    registered: &[&'static ConsumerRegistration],
) -> Result<()> {
    for key in config.consumer.keys() {
        let known = registered
            .iter()
            .any(|r| r.name == key || short_name(r.name) == key);
        if !known {
            let names: Vec<&str> = registered.iter().map(|r| short_name(r.name)).collect();
            return Err(Error::config(
                format!("consumer.{key}"),
                format!(
                    "no `#[consumer]` named `{key}` in this program; registered: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::{ConsumerSettings, Handler, HandlerFuture, Metadata, PayloadError};
    use crate::schema::{Incoming, KeyConfig, SchemaRef};

    fn noop(_: Incoming, _: Metadata) -> Result<HandlerFuture, PayloadError> {
        Ok(Box::pin(async { Ok(()) }))
    }

    fn batch_noop(
        _: Vec<Incoming>,
        _: crate::consumer::BatchMetadata,
    ) -> Result<HandlerFuture, PayloadError> {
        Ok(Box::pin(async { Ok(()) }))
    }

    fn registration(settings: ConsumerSettings, delivery: Delivery) -> ConsumerRegistration {
        ConsumerRegistration {
            name: "app::consumers::handle_widget",
            topic: "widgets",
            schema: SchemaRef::parse("com.example.Widget"),
            group_id: "widget-group",
            key_config: KeyConfig::None,
            delivery,
            settings,
            fatal_error: None,
            handler: match delivery {
                Delivery::InlineBatch => Handler::Batch(batch_noop),
                _ => Handler::Message(noop),
            },
        }
    }

    #[test]
    fn config_overrides_the_attribute_which_overrides_the_defaults() {
        let config = Config::from_toml(
            r#"
            [consumers]
            max_concurrency = 2
            session_timeout = 60
            max_batch_size = 50
            [consumer.handle_widget]
            group_id = "from-config"
            max_wait_time = "250ms"
            backoff = { min = "10ms", max = "20ms" }
            "#,
        )
        .unwrap();
        let attribute = ConsumerSettings {
            max_concurrency: Some(3),
            max_wait_time: Some(Duration::from_secs(2)),
            backoff_min: Some(Duration::from_secs(5)),
            dead_letter_topic: Some("widgets.dead"),
            ..ConsumerSettings::NONE
        };
        let r =
            ResolvedConsumer::resolve(&config, &registration(attribute, Delivery::Batch)).unwrap();
        assert_eq!(r.group_id, "from-config", "config over the attribute");
        assert_eq!(r.topic, "widgets", "the registration's own");
        assert_eq!(r.max_concurrency, 3, "attribute over consumers.*");
        assert_eq!(r.session_timeout, Duration::from_secs(60), "consumers.*");
        assert_eq!(r.max_batch_size, 50);
        assert_eq!(r.max_wait_time, Duration::from_millis(250));
        assert_eq!(
            r.backoff.min,
            Duration::from_millis(10),
            "the whole backoff"
        );
        assert_eq!(r.dead_letter_topic.as_deref(), Some("widgets.dead"));
        assert_eq!(r.dead_letter_max_retries, 3);
        assert_eq!(r.delivery, Delivery::Batch);
        let c = r.client_config(&config);
        assert_eq!(c.get("group.id"), Some("from-config"));
        assert_eq!(c.get("fetch.wait.max.ms"), Some("250"));
        assert_eq!(c.get("session.timeout.ms"), Some("60000"));
        assert_eq!(c.get("max.partition.fetch.bytes"), Some("524288"));
        assert_eq!(c.get("statistics.interval.ms"), None, "report_lag is off");
    }

    #[test]
    fn the_full_name_selects_too_and_unknown_names_are_refused() {
        let config =
            Config::from_toml("[consumer.\"app::consumers::handle_widget\"]\nreport_lag = true\n")
                .unwrap();
        let reg = registration(ConsumerSettings::NONE, Delivery::Message);
        let r = ResolvedConsumer::resolve(&config, &reg).unwrap();
        assert!(r.report_lag);
        assert_eq!(
            r.client_config(&config).get("statistics.interval.ms"),
            Some("10000")
        );
        let typo = Config::from_toml("[consumer.handle_widgets]\ndisabled = true\n").unwrap();
        let reg: &'static ConsumerRegistration = Box::leak(Box::new(reg));
        let err = check_override_names(&typo, &[reg]).unwrap_err().to_string();
        assert!(
            err.contains("consumer.handle_widgets") && err.contains("registered: handle_widget"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, Delivery, &str)] = &[
            (
                "max_concurrency = 0",
                Delivery::Message,
                "consumer.handle_widget.max_concurrency",
            ),
            (
                "max_batch_size = 0",
                Delivery::Message,
                "consumer.handle_widget.max_batch_size",
            ),
            (
                "offset_retention_time = 60",
                Delivery::Message,
                "consumer.handle_widget.offset_retention_time",
            ),
            (
                "delivery = \"inline_batch\"",
                Delivery::Message,
                "consumer.handle_widget.delivery",
            ),
            (
                "delivery = \"message\"",
                Delivery::InlineBatch,
                "consumer.handle_widget.delivery",
            ),
            (
                "dead_letter_topic = \"widgets\"",
                Delivery::Message,
                "consumer.handle_widget.dead_letter_topic",
            ),
            (
                "backoff = { min = 5, max = 1 }",
                Delivery::Message,
                "consumer.handle_widget.backoff",
            ),
            (
                "heartbeat_interval = 400",
                Delivery::Message,
                "consumer.handle_widget.heartbeat_interval",
            ),
        ];
        for (line, delivery, key) in cases {
            let config = Config::from_toml(&format!("[consumer.handle_widget]\n{line}\n")).unwrap();
            let err = ResolvedConsumer::resolve(
                &config,
                &registration(ConsumerSettings::NONE, *delivery),
            )
            .unwrap_err();
            match err {
                Error::Config { key: k, .. } => assert_eq!(k, *key, "{line}"),
                other => panic!("{line}: {other}"),
            }
        }
        let err = Config::from_toml("[consumers]\noffset_retention_time = 60\n").unwrap_err();
        assert!(
            err.to_string().contains("consumers.offset_retention_time"),
            "{err}"
        );
        assert!(err.to_string().contains("KIP-211"), "{err}");
    }
}
