//! Typed configuration, after Deimos' configuration reference.
//!
//! Layers, later ones winning (Deimos' `configure` block becomes the last layer, code):
//!
//! 1. the defaults below (Deimos' defaults, unless noted),
//! 2. `deimos.toml` in the working directory, or the file named by `DEIMOS_CONFIG`
//!    (a missing default file is fine; a missing `DEIMOS_CONFIG` file is an error),
//! 3. `DEIMOS_*` environment variables: `DEIMOS_KAFKA_BROKERS=a:9092,b:9092`,
//!    `DEIMOS_CONSUMERS_RERAISE_ERRORS=true`, `DEIMOS_KAFKA_SSL_ENABLED=true`, … — the section
//!    path (`KAFKA`, `KAFKA_SSL`, `KAFKA_SASL`, `KAFKA_SASL_OAUTHBEARER`, `CONSUMERS`,
//!    `CONSUMERS_BACKOFF`, `PRODUCERS`, `SCHEMA`, `DB_PRODUCER`, `METRICS_PROMETHEUS`,
//!    `METRICS_DOGSTATSD`) then the key,
//! 4. code: mutate the loaded [`Config`] before [`configure`](crate::configure) or
//!    [`App::from_config`](crate::App::from_config).
//!
//! An unknown key or a bad value is an [`Error::Config`](crate::Error) naming the key; checks
//! that involve two keys name both. Durations are [`Duration`]s; in files and the environment
//! an integer means seconds (as in Deimos) and a string is a humantime duration (`"500ms"`,
//! `"1m"`). librdkafka takes them in milliseconds.
//!
//! ```toml
//! [kafka]
//! brokers = ["localhost:9092"]
//! client_id = "my-service"
//!
//! [consumers]
//! reraise_errors = true
//! backoff = { min = "1s", max = "60s" }
//!
//! [producers]
//! topic_prefix = "staging."
//!
//! [schema]
//! backend = "avro_local"
//! path = "schemas"
//! ```
//!
//! # Keys and the librdkafka properties they become
//!
//! Rendered by [`Config::kafka_client_config`], [`Config::producer_client_config`] and
//! [`Config::consumer_client_config`]. Where Deimos' name differs, it is given.
//!
//! | key | librdkafka property (unit) | default | Deimos |
//! |---|---|---|---|
//! | `kafka.brokers` | `bootstrap.servers` | `["localhost:9092"]` | `kafka.seed_brokers` |
//! | `kafka.client_id` | `client.id` | `phobos` | |
//! | `kafka.connect_timeout` | `socket.connection.setup.timeout.ms` (ms) | 15 s | |
//! | `kafka.socket_timeout` | `socket.timeout.ms` (ms) | 15 s | |
//! | `kafka.ssl.enabled`, `kafka.sasl.enabled` | `security.protocol` (`plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`) | false | |
//! | `kafka.ssl.ca_cert` / `ca_cert_file` | `ssl.ca.pem` (PEM text) / `ssl.ca.location` (path) | system CAs | same (PEM text) |
//! | `kafka.ssl.client_cert` / `client_cert_file` | `ssl.certificate.pem` / `ssl.certificate.location` | none | same (PEM text) |
//! | `kafka.ssl.client_cert_key` / `client_cert_key_file` | `ssl.key.pem` / `ssl.key.location` | none | same (PEM text) |
//! | `kafka.ssl.client_cert_key_password` | `ssl.key.password` | none | |
//! | `kafka.ssl.verify_hostname` | `ssl.endpoint.identification.algorithm` (`https` / `none`) | true | |
//! | `kafka.sasl.mechanism` | `sasl.mechanism` | `plain` | chosen by which keys are set |
//! | `kafka.sasl.username`, `password` | `sasl.username`, `sasl.password` | none | `sasl.plain_*`, `sasl.scram_*` |
//! | `kafka.sasl.oauthbearer.method` | `sasl.oauthbearer.method` (`oidc`; for `unsecured_jwt` unset, with `enable.sasl.oauthbearer.unsecure.jwt=true`) | `oidc` | |
//! | `kafka.sasl.oauthbearer.client_id`, `client_secret` | `sasl.oauthbearer.client.id`, `sasl.oauthbearer.client.secret` | none | |
//! | `kafka.sasl.oauthbearer.token_endpoint_url`, `scope` | `sasl.oauthbearer.token.endpoint.url`, `sasl.oauthbearer.scope` | none | |
//! | `kafka.sasl.oauthbearer.extensions` | `sasl.oauthbearer.extensions` (`k=v,k=v`) | none | |
//! | `kafka.sasl.oauthbearer.unsecured_jwt_config` | `sasl.oauthbearer.config` | none | |
//! | `consumers.session_timeout` | `session.timeout.ms` (ms) | 300 s | |
//! | `consumers.offset_commit_interval` | `auto.commit.interval.ms` (ms) | 10 s | |
//! | `consumers.heartbeat_interval` | `heartbeat.interval.ms` (ms) | 10 s | |
//! | `consumers.start_from_beginning` | `auto.offset.reset` (`earliest` / `latest`) | true | |
//! | `consumers.max_wait_time` | `fetch.wait.max.ms` (ms); also the longest wait to fill a batch | 1 s | |
//! | `consumers.min_bytes` | `fetch.min.bytes` (bytes) | 1 | |
//! | `consumers.max_bytes_per_partition` | `max.partition.fetch.bytes` (bytes) | 512 KiB | |
//! | `consumers.report_lag` | `statistics.interval.ms` = `heartbeat_interval` (for the `consumer_lag` gauge) | false | |
//! | `consumers.max_concurrency`, `max_batch_size`, `reraise_errors`, `backoff`, `dead_letter_max_retries` | none (deimos' own) | 1, 1000, false, 1 s–60 s, 3 | |
//! | `[consumer.<name>]` | any of the above for one consumer, plus `topic`, `group_id`, `delivery` (`message` / `batch`; the attribute's default otherwise), `disabled`, `dead_letter_topic` (see [`ConsumerOverride`]) | | Deimos' `consumer` blocks |
//! | `producers.required_acks` | `acks` (`0`, `1`, `all`) | 1; `all` with idempotence | |
//! | `producers.ack_timeout` | `request.timeout.ms` (ms) | 5 s | |
//! | `producers.max_retries` | `retries` (count) | 2 | |
//! | `producers.retry_backoff` | `retry.backoff.ms` and `retry.backoff.max.ms` (ms) | 1 s | |
//! | `producers.delivery_timeout` | `message.timeout.ms` (ms) | (ack_timeout + retry_backoff) × (max_retries + 1) | not in Deimos |
//! | `producers.max_buffer_size` | `queue.buffering.max.messages` (messages) | 10 000 | |
//! | `producers.max_queue_size` | `queue.buffering.max.messages` with `kafka_async`: the smaller of it and `max_buffer_size` (messages) | 10 000 | ruby-kafka's async queue |
//! | `producers.max_buffer_bytesize` | `queue.buffering.max.kbytes` (bytes, rounded up to KiB; 0 = no limit) | 10 000 000 | |
//! | `producers.delivery_threshold` | `batch.num.messages` (messages) | 10 000 | ruby-kafka `delivery_threshold` |
//! | `producers.delivery_interval` | `linger.ms` (ms, fractional) | 5 ms | ruby-kafka `delivery_interval` |
//! | `producers.compression_codec` | `compression.codec` (`none`, `gzip`, `snappy`, `lz4`, `zstd`) | `none` | |
//! | `producers.idempotence` | `enable.idempotence` | false | not in Deimos |
//! | `kafka.extra`, `consumers.extra`, `producers.extra` | any property, as given | none | |
//! | `metrics.prometheus.*` (`enabled`, `listen`, `path`, `prefix`, `tags`, `buckets`) | none: a `/metrics` endpoint (see [`PrometheusConfig`]) | off, `127.0.0.1:9394`, `/metrics` | a Prometheus provider |
//! | `metrics.dogstatsd.*` (`enabled`, `address`, `prefix`, `tags`, `flush_interval`, `distributions`) | none: DogStatsD datagrams (see [`DogStatsDConfig`]) | off, `127.0.0.1:8125`, no prefix | `Deimos::Metrics::Datadog` |
//!
//! `extra` precedence, later winning: typed `kafka.*` → `kafka.extra` → typed `consumers.*` /
//! `producers.*` → `consumers.extra` / `producers.extra` (see [`KafkaConfig::extra`]).
//!
//! # Secrets
//!
//! `Debug` of [`Config`] never prints `kafka.sasl.password`, `kafka.ssl.client_cert_key`,
//! `kafka.ssl.client_cert_key_password`, `kafka.sasl.oauthbearer.client_secret`,
//! `kafka.sasl.oauthbearer.unsecured_jwt_config`, `schema.password`, or an `extra` value whose
//! property name contains `password`, `secret`, `passphrase`, `.pem`, `sasl.jaas` or
//! `oauthbearer.config`: they print as `<redacted>` ([`Secret`]). The rendered rdkafka
//! `ClientConfig`s do carry them; deimos never logs one. Serializing a `Config` writes them
//! (so a config can be written back to a file).

mod consumer;
mod db_poller;
mod db_producer;
pub(crate) mod duration;
mod kafka;
mod metrics;
pub(crate) mod secret;
mod security;

pub use consumer::ConsumerOverride;
pub use db_poller::{DbPollerConfig, PollMode, StateValue};
pub use db_producer::{CompactTopics, DbProducerConfig};
pub use metrics::{DogStatsDConfig, MetricsConfig, PrometheusConfig};
pub use secret::Secret;
pub use security::{OAuthBearerConfig, OAuthBearerMethod, SaslConfig, SaslMechanism, SslConfig};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// A string map given as a table, or as `key=value,key=value` (the environment's form, and
/// librdkafka's for SASL extensions): `metrics.*.tags`, `kafka.sasl.oauthbearer.extensions`.
fn table_or_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TableOrString {
        Table(BTreeMap<String, String>),
        Text(String),
    }
    match TableOrString::deserialize(d)? {
        TableOrString::Table(t) => Ok(t),
        TableOrString::Text(s) => s
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
                None => Err(serde::de::Error::custom(format!(
                    "expected `key=value` pairs separated by `,`, found `{pair}`"
                ))),
            })
            .collect(),
    }
}

/// Environment variable naming the configuration file (default `deimos.toml`).
pub const CONFIG_FILE_ENV: &str = "DEIMOS_CONFIG";
/// Default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "deimos.toml";

/// The whole configuration. See the [module docs](self) for how it is loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Connection settings shared by every Kafka client (`kafka.*`).
    pub kafka: KafkaConfig,
    /// Defaults for every consumer (`consumers.*`).
    pub consumers: ConsumersConfig,
    /// Defaults for every producer (`producers.*`).
    pub producers: ProducersConfig,
    /// Where schemas come from (`schema.*`).
    pub schema: SchemaConfig,
    /// The outbox workers that send what the `db` backend stored (`db_producer.*`).
    pub db_producer: DbProducerConfig,
    /// The database pollers (`[[db_poller]]`, Deimos' `db_poller` blocks), started by
    /// [`run`](crate::run) and [`start_db_pollers`](crate::start_db_pollers). Files only: the
    /// environment cannot declare them.
    pub db_poller: Vec<DbPollerConfig>,
    /// Per-consumer settings by consumer name (`[consumer.<name>]`, Deimos' `consumer` blocks):
    /// the handler's function name (or its full `module::path::name`), overriding the
    /// `#[consumer]` attribute and `consumers.*`.
    pub consumer: BTreeMap<String, ConsumerOverride>,
    /// Exporters for Deimos' metrics (`metrics.prometheus.*`, `metrics.dogstatsd.*`),
    /// installed by [`App::from_config`](crate::App::from_config) when enabled (see
    /// [`deimos::metrics`](crate::metrics)).
    pub metrics: MetricsConfig,
}

/// `kafka.*`: connection settings shared by every client.
///
/// `Debug` hides secrets: the SASL password, the TLS key and its password, the OAuth client
/// secret, and `extra` values whose property name contains `password`, `secret`,
/// `passphrase`, `.pem`, `sasl.jaas` or `oauthbearer.config`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` (librdkafka `bootstrap.servers`). Default
    /// `["localhost:9092"]`. In the environment: a comma-separated list. Deimos: `kafka.seed_brokers`.
    #[serde(deserialize_with = "string_or_list")]
    pub brokers: Vec<String>,
    /// Client id sent to the brokers (`client.id`). Default `phobos`, as in Deimos.
    pub client_id: String,
    /// Time allowed to open a broker connection (`socket.connection.setup.timeout.ms`,
    /// milliseconds). Default 15 s.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Time allowed for a network request (`socket.timeout.ms`, milliseconds). Default 15 s.
    #[serde(with = "duration")]
    pub socket_timeout: Duration,
    /// TLS (`kafka.ssl.*`).
    pub ssl: SslConfig,
    /// SASL authentication (`kafka.sasl.*`).
    pub sasl: SaslConfig,
    /// Raw librdkafka properties for every client (escape hatch), e.g. `{ "debug" = "broker" }`.
    ///
    /// Precedence, later winning: the typed keys (`kafka.*`), then `kafka.extra`, then the
    /// typed `consumers.*` / `producers.*` keys, then `consumers.extra` / `producers.extra`. So
    /// `kafka.extra` overrides what the typed `kafka.*` keys render but not what the typed
    /// producer and consumer keys render (`acks`, `linger.ms`, `group.id`, …); set those in
    /// `producers.extra` / `consumers.extra`. A property deimos itself relies on
    /// (`enable.auto.offset.store=false`) is overridden at your own risk.
    pub extra: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field is a compile error here until it is printed.
        let KafkaConfig {
            brokers,
            client_id,
            connect_timeout,
            socket_timeout,
            ssl,
            sasl,
            extra,
        } = self;
        f.debug_struct("KafkaConfig")
            .field("brokers", brokers)
            .field("client_id", client_id)
            .field("connect_timeout", connect_timeout)
            .field("socket_timeout", socket_timeout)
            .field("ssl", ssl)
            .field("sasl", sasl)
            .field("extra", &secret::RedactedProperties(extra))
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: vec!["localhost:9092".to_owned()],
            client_id: "phobos".to_owned(),
            connect_timeout: Duration::from_secs(15),
            socket_timeout: Duration::from_secs(15),
            ssl: SslConfig::default(),
            sasl: SaslConfig::default(),
            extra: BTreeMap::new(),
        }
    }
}

/// `consumers.*`: defaults for every consumer. `Debug` hides sensitive `extra` values (as
/// [`KafkaConfig`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsumersConfig {
    /// Group session timeout (`session.timeout.ms`, milliseconds). Default 300 s, as in
    /// Deimos; the broker's `group.max.session.timeout.ms` caps it.
    #[serde(with = "duration")]
    pub session_timeout: Duration,
    /// How often handled offsets are committed (`auto.commit.interval.ms`, milliseconds).
    /// Default 10 s.
    #[serde(with = "duration")]
    pub offset_commit_interval: Duration,
    /// Commit after this many handled messages as well; 0 = only on the interval. Default 0.
    pub offset_commit_threshold: u64,
    /// Group heartbeat interval (`heartbeat.interval.ms`, milliseconds). Default 10 s.
    #[serde(with = "duration")]
    pub heartbeat_interval: Duration,
    /// Backoff between retries of a failing message when `reraise_errors` is true:
    /// exponential from `min` to `max`. Default 1 s to 60 s (Deimos' `1000..60000` ms).
    pub backoff: BackoffConfig,
    /// When true, a message whose handler fails is retried after a backoff until it succeeds
    /// (it is never skipped); when false (default), the error is logged and consumption moves
    /// on.
    pub reraise_errors: bool,
    /// Start a new group at the earliest offset (`auto.offset.reset=earliest`) rather than the
    /// latest. Default true (Phobos' `start_from_beginning`).
    pub start_from_beginning: bool,
    /// Independent consumers (librdkafka clients) per registration, all in its group, each
    /// taking a share of the partitions (Deimos' `max_concurrency`). Default 1.
    pub max_concurrency: u32,
    /// Most messages in one batch for `batch` and `inline_batch` delivery. Default 1000.
    pub max_batch_size: usize,
    /// For `batch` and `inline_batch` delivery, how long a batch waits to fill after its first
    /// message; also the broker's longest wait for `min_bytes` (`fetch.wait.max.ms`,
    /// milliseconds). Default 1 s.
    #[serde(with = "duration")]
    pub max_wait_time: Duration,
    /// Least data the broker gathers before answering a fetch (`fetch.min.bytes`, bytes).
    /// Default 1.
    pub min_bytes: u32,
    /// Most data fetched per partition per request (`max.partition.fetch.bytes`, bytes).
    /// Default 512 KiB (Phobos' default).
    pub max_bytes_per_partition: u32,
    /// Report a `consumer_lag` gauge per partition (Deimos' `report_lag`), every
    /// `heartbeat_interval`, from librdkafka's statistics. Default false.
    pub report_lag: bool,
    /// Retries of a failing message before it goes to the consumer's dead-letter topic (only
    /// for consumers with `dead_letter_topic`). Default 3.
    pub dead_letter_max_retries: u32,
    /// Phobos' `offset_retention_time`. Refused when set: librdkafka does not send the
    /// retention time in OffsetCommit (KIP-211 removed it from the protocol in Kafka 2.1);
    /// set the broker's `offsets.retention.minutes` instead.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub offset_retention_time: Option<Duration>,
    /// Raw librdkafka properties for every consumer, applied last: after `kafka.extra` and the
    /// typed consumer keys (see [`KafkaConfig::extra`] for the whole order).
    pub extra: BTreeMap<String, String>,
}

impl std::fmt::Debug for ConsumersConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field is a compile error here until it is printed.
        let ConsumersConfig {
            session_timeout,
            offset_commit_interval,
            offset_commit_threshold,
            heartbeat_interval,
            backoff,
            reraise_errors,
            start_from_beginning,
            max_concurrency,
            max_batch_size,
            max_wait_time,
            min_bytes,
            max_bytes_per_partition,
            report_lag,
            dead_letter_max_retries,
            offset_retention_time,
            extra,
        } = self;
        f.debug_struct("ConsumersConfig")
            .field("session_timeout", session_timeout)
            .field("offset_commit_interval", offset_commit_interval)
            .field("offset_commit_threshold", offset_commit_threshold)
            .field("heartbeat_interval", heartbeat_interval)
            .field("backoff", backoff)
            .field("reraise_errors", reraise_errors)
            .field("start_from_beginning", start_from_beginning)
            .field("max_concurrency", max_concurrency)
            .field("max_batch_size", max_batch_size)
            .field("max_wait_time", max_wait_time)
            .field("min_bytes", min_bytes)
            .field("max_bytes_per_partition", max_bytes_per_partition)
            .field("report_lag", report_lag)
            .field("dead_letter_max_retries", dead_letter_max_retries)
            .field("offset_retention_time", offset_retention_time)
            .field("extra", &secret::RedactedProperties(extra))
            .finish()
    }
}

impl Default for ConsumersConfig {
    fn default() -> Self {
        ConsumersConfig {
            session_timeout: Duration::from_secs(300),
            offset_commit_interval: Duration::from_secs(10),
            offset_commit_threshold: 0,
            heartbeat_interval: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            reraise_errors: false,
            start_from_beginning: true,
            max_concurrency: 1,
            max_batch_size: 1000,
            max_wait_time: Duration::from_secs(1),
            min_bytes: 1,
            max_bytes_per_partition: 512 * 1024,
            report_lag: false,
            dead_letter_max_retries: 3,
            offset_retention_time: None,
            extra: BTreeMap::new(),
        }
    }
}

/// `consumers.backoff`: exponential retry delays from `min` to `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// First delay. Default 1 s.
    #[serde(with = "duration")]
    pub min: Duration,
    /// Largest delay. Default 60 s.
    #[serde(with = "duration")]
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// Which producer backend `publish` uses (`producers.backend`), Deimos' backends under the
/// same names. See [`backends`](crate::backends) for what each one awaits.
///
/// Deimos' default is `kafka_async`; the default here is `kafka`, so that a successful
/// `publish(..).await` means the broker acknowledged the messages (per
/// `producers.required_acks`) and a failure is returned to the caller, not only reported
/// later. Choose `kafka_async` for throughput when losing the error at the call site is fine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProducerBackendKind {
    /// `kafka`: queue every message in librdkafka and await each delivery report; `publish`
    /// returns the first delivery failure ([`KafkaBackend`](crate::backends::KafkaBackend)).
    /// Default here.
    #[default]
    Kafka,
    /// `kafka_async`: queue every message in librdkafka and return at once; delivery failures
    /// are reported later through the `produce_error` event and the `publish_error` metric,
    /// and [`App::shutdown_producers`](crate::App::shutdown_producers) waits for the queue
    /// ([`KafkaAsyncBackend`](crate::backends::KafkaAsyncBackend)). Deimos' default.
    KafkaAsync,
    /// `db`: the transactional outbox ([`DbBackend`](crate::backends::DbBackend), feature
    /// `orm`): `publish` writes the encoded messages into the `kafka_messages` table, on the
    /// caller's connection or transaction, and outbox workers
    /// ([`start_db_backend`](crate::start_db_backend)) send them to Kafka. Deimos' `db`.
    Db,
    /// `test`: capture messages in memory for assertions
    /// ([`TestBackend`](crate::backends::TestBackend)).
    Test,
}

/// Acknowledgements a produce request waits for (`producers.required_acks`, librdkafka
/// `acks`).
///
/// In configuration: `0`, `1`, `"all"` (also `-1`, and the numbers as strings), as Deimos'
/// `required_acks` (`1`, `:all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequiredAcks {
    /// `acks=0`: none; the producer does not wait for the broker, so a failed write is lost
    /// unseen, and `ack_timeout` does not apply.
    None,
    /// `acks=1`: the partition leader has written the message. Deimos' default.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has it; with the topic's `min.insync.replicas`
    /// this is Kafka's durable write. Required by `producers.idempotence`.
    All,
}

impl RequiredAcks {
    /// The librdkafka `acks` value: `0`, `1` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequiredAcks::None => "0",
            RequiredAcks::Leader => "1",
            RequiredAcks::All => "all",
        }
    }
}

impl Serialize for RequiredAcks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RequiredAcks::None => s.serialize_i64(0),
            RequiredAcks::Leader => s.serialize_i64(1),
            RequiredAcks::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for RequiredAcks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Acks {
            Num(i64),
            Word(String),
        }
        let num = match Acks::deserialize(d)? {
            Acks::Num(n) => n,
            Acks::Word(w) if w.trim().eq_ignore_ascii_case("all") => -1,
            Acks::Word(w) => w.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!("expected 0, 1 or \"all\", found `{w}`"))
            })?,
        };
        match num {
            0 => Ok(RequiredAcks::None),
            1 => Ok(RequiredAcks::Leader),
            -1 => Ok(RequiredAcks::All),
            n => Err(serde::de::Error::custom(format!(
                "expected 0, 1 or \"all\" (-1), found {n}"
            ))),
        }
    }
}

/// Compression of produced batches (`producers.compression_codec`, librdkafka
/// `compression.codec`): `none`, `gzip`, `snappy`, `lz4`, `zstd`, as Deimos (ruby-kafka) names
/// them.
///
/// The producer compresses whole batches; consumers decompress whatever codec a batch carries,
/// so this needs no consumer setting. All five are built into deimos' librdkafka (gzip through
/// zlib, zstd through libzstd; snappy and lz4 are librdkafka's own). The broker keeps the
/// producer's codec unless the topic's `compression.type` says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CompressionCodec {
    /// No compression. Default, as in Deimos and librdkafka.
    #[default]
    None,
    /// gzip (zlib); small output, the most CPU.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard; needs brokers from Kafka 2.1 on.
    Zstd,
}

impl CompressionCodec {
    /// The librdkafka `compression.codec` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionCodec::None => "none",
            CompressionCodec::Gzip => "gzip",
            CompressionCodec::Snappy => "snappy",
            CompressionCodec::Lz4 => "lz4",
            CompressionCodec::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for CompressionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `producers.*`: defaults for every producer, rendered by
/// [`Config::producer_client_config`]. `Debug` hides sensitive `extra` values (as
/// [`KafkaConfig`]).
///
/// ```toml
/// [producers]
/// required_acks = "all"
/// idempotence = true
/// compression_codec = "zstd"
/// delivery_interval = "20ms"    # linger.ms
/// delivery_threshold = 1000     # batch.num.messages
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProducersConfig {
    /// Time the broker may take to acknowledge a produce request (`request.timeout.ms`,
    /// milliseconds, 1 ms to 900 s). Default 5 s, as in Deimos.
    #[serde(with = "duration")]
    pub ack_timeout: Duration,
    /// Acknowledgements required (`acks`): `0`, `1` or `"all"`. When not set: 1 (Deimos'
    /// default), or `all` with `idempotence` — librdkafka's own rule, which also refuses an
    /// explicit `acks` other than `all` with idempotence (here an [`Error::Config`] naming both
    /// keys). See [`ProducersConfig::effective_required_acks`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_acks: Option<RequiredAcks>,
    /// Retries of a failed produce request (`retries`, i.e. `message.send.max.retries`;
    /// at most 2 147 483 647). Default 2, as in Deimos. `delivery_timeout` bounds them too.
    pub max_retries: u32,
    /// Delay before each of those retries (`retry.backoff.ms` and `retry.backoff.max.ms`, both
    /// set to it, milliseconds, 1 ms to 300 s), so it is constant as in ruby-kafka rather than
    /// librdkafka's exponential backoff (set `retry.backoff.max.ms` in `extra` for that).
    /// Default 1 s, as in Deimos.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// How long one message may take from `publish` to its delivery report, retries included,
    /// before it fails (`message.timeout.ms`, milliseconds; 0 = no limit). Default:
    /// `(ack_timeout + retry_backoff) × (max_retries + 1)`, 18 s with the other defaults — the
    /// bound ruby-kafka's synchronous delivery gave Deimos (librdkafka's own default is 300 s).
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub delivery_timeout: Option<Duration>,
    /// Messages the local queue holds (`queue.buffering.max.messages`; 0 = no limit, at most
    /// 2 147 483 647). Default 10 000, as in Deimos. A full queue makes `publish` wait.
    pub max_buffer_size: u32,
    /// Messages the `kafka_async` backend may have queued (Deimos' `max_queue_size`, the queue
    /// of ruby-kafka's async producer; 0 = no limit, at most 2 147 483 647). Default 10 000, as
    /// in Deimos. librdkafka has one local queue where ruby-kafka had two (the async queue in
    /// front of the buffer), so with `kafka_async` that queue holds the smaller of this and
    /// `max_buffer_size` (see [`ProducersConfig::effective_max_messages`]); the other backends
    /// do not use it.
    pub max_queue_size: u32,
    /// Bytes the local queue holds (`queue.buffering.max.kbytes`: this many bytes rounded up
    /// to whole KiB; 0 = no limit, i.e. librdkafka's largest, 2 147 483 647 KiB). Default
    /// 10 000 000, as in Deimos (9 766 KiB).
    pub max_buffer_bytesize: u64,
    /// Most messages in one batch (`batch.num.messages`, 1 to 1 000 000). Default 10 000
    /// (librdkafka's). Deimos/ruby-kafka's `delivery_threshold` counted buffered messages before
    /// a delivery; librdkafka batches per partition instead.
    pub delivery_threshold: u32,
    /// How long librdkafka waits for more messages before sending a batch (`linger.ms`,
    /// milliseconds, fractions kept, at most 900 s; must be shorter than `delivery_timeout`).
    /// Default 5 ms (librdkafka's). Deimos/ruby-kafka's `delivery_interval`.
    #[serde(with = "duration")]
    pub delivery_interval: Duration,
    /// Batch compression (`compression.codec`): `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    /// Default `none`, as in Deimos. Any other value is an [`Error::Config`] naming
    /// `producers.compression_codec`.
    pub compression_codec: CompressionCodec,
    /// Idempotent producer (`enable.idempotence`): the broker drops duplicates of retried
    /// batches and keeps order per partition. librdkafka then needs `acks=all` (the default
    /// here when `required_acks` is not set; any other explicit value is an error naming both
    /// keys), `max_retries` ≥ 1 (0 is an error naming both keys), and caps
    /// `max.in.flight.requests.per.connection` at 5. Default false (Deimos has no such setting).
    pub idempotence: bool,
    /// Prefix added to every producer topic, e.g. `staging.`. Default none.
    pub topic_prefix: Option<String>,
    /// When true, `publish` does nothing (Deimos' `producers.disabled`). Default false.
    pub disabled: bool,
    /// Producer backend: `kafka` (default: await every delivery), `kafka_async` (queue and
    /// return; Deimos' default), `db` (transactional outbox, feature `orm`) or `test`
    /// (capture in memory). See [`ProducerBackendKind`].
    pub backend: ProducerBackendKind,
    /// Raw librdkafka properties for the producer, applied last: after `kafka.extra` and the
    /// typed producer keys (see [`KafkaConfig::extra`] for the whole order).
    pub extra: BTreeMap<String, String>,
}

impl std::fmt::Debug for ProducersConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field is a compile error here until it is printed.
        let ProducersConfig {
            ack_timeout,
            required_acks,
            max_retries,
            retry_backoff,
            delivery_timeout,
            max_buffer_size,
            max_queue_size,
            max_buffer_bytesize,
            delivery_threshold,
            delivery_interval,
            compression_codec,
            idempotence,
            topic_prefix,
            disabled,
            backend,
            extra,
        } = self;
        f.debug_struct("ProducersConfig")
            .field("ack_timeout", ack_timeout)
            .field("required_acks", required_acks)
            .field("max_retries", max_retries)
            .field("retry_backoff", retry_backoff)
            .field("delivery_timeout", delivery_timeout)
            .field("max_buffer_size", max_buffer_size)
            .field("max_queue_size", max_queue_size)
            .field("max_buffer_bytesize", max_buffer_bytesize)
            .field("delivery_threshold", delivery_threshold)
            .field("delivery_interval", delivery_interval)
            .field("compression_codec", compression_codec)
            .field("idempotence", idempotence)
            .field("topic_prefix", topic_prefix)
            .field("disabled", disabled)
            .field("backend", backend)
            .field("extra", &secret::RedactedProperties(extra))
            .finish()
    }
}

impl ProducersConfig {
    /// The most messages librdkafka's local queue holds (`queue.buffering.max.messages`; 0 =
    /// no limit): `max_buffer_size`, and with the `kafka_async` backend the smaller of it and
    /// `max_queue_size` (0 counting as no limit).
    pub fn effective_max_messages(&self) -> u32 {
        if self.backend != ProducerBackendKind::KafkaAsync {
            return self.max_buffer_size;
        }
        match (self.max_buffer_size, self.max_queue_size) {
            (0, queue) => queue,
            (buffer, 0) => buffer,
            (buffer, queue) => buffer.min(queue),
        }
    }

    /// `delivery_timeout`, or the default derived from the ack timeout and retries.
    pub fn effective_delivery_timeout(&self) -> Duration {
        self.delivery_timeout.unwrap_or_else(|| {
            (self.ack_timeout + self.retry_backoff)
                .saturating_mul(self.max_retries.saturating_add(1))
        })
    }

    /// `required_acks`, or when it is not set: [`RequiredAcks::All`] with `idempotence`
    /// (librdkafka's adjustment), [`RequiredAcks::Leader`] otherwise (Deimos' default).
    pub fn effective_required_acks(&self) -> RequiredAcks {
        self.required_acks.unwrap_or(if self.idempotence {
            RequiredAcks::All
        } else {
            RequiredAcks::Leader
        })
    }

    fn validate(&self) -> Result<()> {
        check_millis("producers.ack_timeout", self.ack_timeout, 1, 900_000)?;
        check_millis("producers.retry_backoff", self.retry_backoff, 1, 300_000)?;
        check_millis(
            "producers.delivery_timeout",
            self.effective_delivery_timeout(),
            0,
            i32::MAX as u64,
        )?;
        check_millis(
            "producers.delivery_interval",
            self.delivery_interval,
            0,
            900_000,
        )?;
        let timeout = self.effective_delivery_timeout();
        if !timeout.is_zero() && self.delivery_interval >= timeout {
            return Err(Error::config(
                "producers.delivery_interval",
                format!(
                    "must be shorter than `producers.delivery_timeout` ({timeout:?}), found {:?} \
                     (librdkafka: `message.timeout.ms` must be greater than `linger.ms`)",
                    self.delivery_interval
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.delivery_threshold) {
            return Err(Error::config(
                "producers.delivery_threshold",
                format!(
                    "must be 1 to 1000000 messages (`batch.num.messages`), found {}",
                    self.delivery_threshold
                ),
            ));
        }
        if self.max_retries > i32::MAX as u32 {
            return Err(Error::config(
                "producers.max_retries",
                format!("must be at most {}, found {}", i32::MAX, self.max_retries),
            ));
        }
        for (key, value) in [
            ("producers.max_buffer_size", self.max_buffer_size),
            ("producers.max_queue_size", self.max_queue_size),
        ] {
            if value > i32::MAX as u32 {
                return Err(Error::config(
                    key,
                    format!("must be at most {}, found {value}", i32::MAX),
                ));
            }
        }
        if self.max_buffer_bytesize.div_ceil(1024) > i32::MAX as u64 {
            return Err(Error::config(
                "producers.max_buffer_bytesize",
                format!(
                    "must be at most {} bytes, found {}",
                    i32::MAX as u64 * 1024,
                    self.max_buffer_bytesize
                ),
            ));
        }
        if self.idempotence {
            if let Some(acks) = self.required_acks.filter(|a| *a != RequiredAcks::All) {
                return Err(Error::config(
                    "producers.required_acks",
                    format!(
                        "`producers.idempotence = true` needs `producers.required_acks = \"all\"` \
                         (or leave it unset), found {} (librdkafka: `acks` must be `all` when \
                         `enable.idempotence` is true)",
                        acks.as_str()
                    ),
                ));
            }
            if self.max_retries == 0 {
                return Err(Error::config(
                    "producers.max_retries",
                    "`producers.idempotence = true` needs `producers.max_retries` of at least 1 \
                     (librdkafka: `retries` must be >= 1 when `enable.idempotence` is true)",
                ));
            }
        }
        Ok(())
    }
}

/// `key`'s duration is within `min_ms..=max_ms` milliseconds (a librdkafka range).
fn check_millis(key: &str, value: Duration, min_ms: u64, max_ms: u64) -> Result<()> {
    let (min, max) = (Duration::from_millis(min_ms), Duration::from_millis(max_ms));
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::config(
        key,
        format!("must be from {min:?} to {max:?}, found {value:?}"),
    ))
}

impl Default for ProducersConfig {
    fn default() -> Self {
        ProducersConfig {
            ack_timeout: Duration::from_secs(5),
            required_acks: None,
            max_retries: 2,
            retry_backoff: Duration::from_secs(1),
            delivery_timeout: None,
            max_buffer_size: 10_000,
            max_queue_size: 10_000,
            max_buffer_bytesize: 10_000_000,
            delivery_threshold: 10_000,
            delivery_interval: Duration::from_millis(5),
            compression_codec: CompressionCodec::None,
            idempotence: false,
            topic_prefix: None,
            disabled: false,
            backend: ProducerBackendKind::Kafka,
            extra: BTreeMap::new(),
        }
    }
}

/// Which schema backend encodes and decodes (`schema.backend`). Deimos' backends, same names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SchemaBackendKind {
    /// `.avsc` files under `schema.path`, bare Avro datums on the wire. Default here (Deimos'
    /// default is `mock`, which suits its Ruby tests better than a Rust service).
    #[default]
    AvroLocal,
    /// The Confluent Schema Registry at `schema.registry_url`: local `.avsc` files are the
    /// reader schemas and are registered as writer schemas; the wire format is Confluent's
    /// (magic byte 0, 4-byte big-endian schema id, Avro binary body).
    AvroSchemaRegistry,
    /// Validates values against the local schema, but leaves them readable: the wire bytes are
    /// Avro's JSON encoding (Avro spec, "JSON Encoding"). For tests and development.
    AvroValidation,
    /// No schema work at all: values pass through unchecked, as self-describing JSON.
    Mock,
}

/// How the registry backend names subjects (Confluent's `subject.name.strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubjectNameStrategy {
    /// `<topic>-value` / `<topic>-key` (Confluent's default, and Deimos').
    #[default]
    TopicName,
    /// The record's full name, e.g. `com.example.Widget`, whatever the topic.
    RecordName,
    /// `<topic>-<record full name>`.
    TopicRecordName,
}

/// `schema.*`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SchemaConfig {
    /// Schema backend. Default `avro_local`.
    pub backend: SchemaBackendKind,
    /// Root of the `.avsc` tree: `com.example.Widget` is `<path>/com/example/Widget.avsc`.
    /// Default `schemas` (relative to the working directory).
    pub path: PathBuf,
    /// Confluent Schema Registry base URL, read by `avro_schema_registry` (the other backends
    /// ignore it). Default `http://localhost:8081`.
    pub registry_url: String,
    /// Registry basic-auth user (sent with `password`).
    pub user: Option<String>,
    /// Registry basic-auth password: a [`Secret`], never printed by `Debug`.
    pub password: Option<Secret>,
    /// Timeout of one registry HTTP request, connect included. Default 10 s.
    #[serde(with = "duration")]
    pub registry_timeout: Duration,
    /// Subject naming for registration and lookup. Default `topic_name`.
    pub subject_name_strategy: SubjectNameStrategy,
    /// Register local schemas under their subject on first encode (Confluent's
    /// `auto.register.schemas`, Deimos' behaviour). When false, the schema must already be
    /// registered and is looked up instead. Default true.
    pub auto_register: bool,
}

impl std::fmt::Debug for SchemaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaConfig")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("registry_url", &self.registry_url)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("registry_timeout", &self.registry_timeout)
            .field("subject_name_strategy", &self.subject_name_strategy)
            .field("auto_register", &self.auto_register)
            .finish()
    }
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            backend: SchemaBackendKind::AvroLocal,
            path: PathBuf::from("schemas"),
            registry_url: "http://localhost:8081".to_owned(),
            user: None,
            password: None,
            registry_timeout: Duration::from_secs(10),
            subject_name_strategy: SubjectNameStrategy::TopicName,
            auto_register: true,
        }
    }
}

/// Sections known to the environment mapping, longest first: the variable's prefix (after
/// `DEIMOS_`, lowercased) and the section's dotted path.
const ENV_SECTIONS: &[(&str, &str)] = &[
    ("kafka_sasl_oauthbearer", "kafka.sasl.oauthbearer"),
    ("metrics_prometheus", "metrics.prometheus"),
    ("metrics_dogstatsd", "metrics.dogstatsd"),
    ("consumers_backoff", "consumers.backoff"),
    ("db_producer", "db_producer"),
    ("kafka_ssl", "kafka.ssl"),
    ("kafka_sasl", "kafka.sasl"),
    ("consumers", "consumers"),
    ("producers", "producers"),
    ("kafka", "kafka"),
    ("schema", "schema"),
    ("metrics", "metrics"),
];

impl Config {
    /// Loads defaults ← config file ← `DEIMOS_*` environment (see the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::Config`] naming the key with a bad value or the unknown key, or the file that
    /// could not be read.
    pub fn load() -> Result<Config> {
        Config::from_figment(&Config::figment()?)
    }

    /// The file and environment layers, without defaults. Use it to ask what was set
    /// explicitly (`figment.contains("kafka.brokers")`) or to add providers of your own before
    /// [`Config::from_figment`].
    ///
    /// # Errors
    /// [`Error::Config`] when `DEIMOS_CONFIG` names a file that does not exist.
    pub fn figment() -> Result<Figment> {
        let file = match std::env::var_os(CONFIG_FILE_ENV) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(Error::config(
                        CONFIG_FILE_ENV,
                        format!("config file `{}` does not exist", path.display()),
                    ));
                }
                path
            }
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        Ok(Config::figment_from(&file))
    }

    /// The layers for an explicit file (skipped when it does not exist) plus the environment.
    pub fn figment_from(file: &Path) -> Figment {
        let mut figment = Figment::new();
        if file.exists() {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(env_provider())
    }

    /// Extracts a config from `figment` over the defaults, then validates it.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key with a bad value, or the unknown key.
    pub fn from_figment(figment: &Figment) -> Result<Config> {
        let config: Config = figment.extract().map_err(|e| figment_error(&e))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document over the defaults (no file, no environment). Handy in tests.
    ///
    /// # Errors
    /// As [`Config::from_figment`].
    pub fn from_toml(toml: &str) -> Result<Config> {
        Config::from_figment(&Figment::new().merge(Toml::string(toml)))
    }

    /// Checks values that types alone do not.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        if self.kafka.brokers.is_empty() || self.kafka.brokers.iter().any(|b| b.trim().is_empty()) {
            return Err(Error::config(
                "kafka.brokers",
                "needs at least one `host:port`",
            ));
        }
        if let Some(bad) = self.kafka.brokers.iter().find(|b| !b.contains(':')) {
            return Err(Error::config(
                "kafka.brokers",
                format!("`{bad}` is not `host:port`"),
            ));
        }
        if self.consumers.backoff.min > self.consumers.backoff.max {
            return Err(Error::config(
                "consumers.backoff",
                format!(
                    "min ({:?}) is greater than max ({:?})",
                    self.consumers.backoff.min, self.consumers.backoff.max
                ),
            ));
        }
        self.kafka.ssl.validate()?;
        self.kafka.sasl.validate()?;
        self.producers.validate()?;
        self.db_producer.validate()?;
        db_poller::validate_all(&self.db_poller)?;
        self.metrics.validate()?;
        if self.consumers.heartbeat_interval >= self.consumers.session_timeout {
            return Err(Error::config(
                "consumers.heartbeat_interval",
                "must be shorter than consumers.session_timeout",
            ));
        }
        self.consumers.validate()
    }
}

impl ConsumersConfig {
    fn validate(&self) -> Result<()> {
        if self.max_concurrency == 0 {
            return Err(Error::config(
                "consumers.max_concurrency",
                "must be at least 1",
            ));
        }
        if self.max_batch_size == 0 {
            return Err(Error::config(
                "consumers.max_batch_size",
                "must be at least 1",
            ));
        }
        check_millis("consumers.max_wait_time", self.max_wait_time, 0, 300_000)?;
        if self.min_bytes == 0 {
            return Err(Error::config(
                "consumers.min_bytes",
                "must be at least 1 (`fetch.min.bytes`)",
            ));
        }
        if self.max_bytes_per_partition == 0 {
            return Err(Error::config(
                "consumers.max_bytes_per_partition",
                "must be at least 1 (`max.partition.fetch.bytes`)",
            ));
        }
        if self.offset_retention_time.is_some() {
            return Err(Error::config(
                "consumers.offset_retention_time",
                "is not supported: librdkafka does not send a retention time in OffsetCommit \
                 (KIP-211 removed it in Kafka 2.1); set the broker's `offsets.retention.minutes`",
            ));
        }
        Ok(())
    }
}

/// `DEIMOS_KAFKA_SSL_ENABLED` → `kafka.ssl.enabled`; `DEIMOS_CONFIG` itself is not a key.
fn env_provider() -> Env {
    Env::prefixed("DEIMOS_")
        .filter(|key| !key.as_str().eq_ignore_ascii_case("config"))
        .map(|key| {
            let lower = key.as_str().to_ascii_lowercase();
            for (prefix, path) in ENV_SECTIONS {
                if let Some(rest) = lower.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) {
                    return format!("{path}.{rest}").into();
                }
            }
            lower.into()
        })
        .lowercase(false)
        .split("__")
}

fn figment_error(err: &figment::Error) -> Error {
    // figment's path already ends with the unknown field's name.
    let key = if err.path.is_empty() {
        match &err.kind {
            figment::error::Kind::UnknownField(field, _) => field.clone(),
            _ => "<config>".to_owned(),
        }
    } else {
        err.path.join(".")
    };
    let what = match &err.kind {
        figment::error::Kind::UnknownField(_, expected) => format!(
            "unknown key; expected one of {}",
            expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    };
    let source = match &err.metadata {
        Some(md) if md.name.contains("environment") => format!(
            " (from environment variable `DEIMOS_{}`)",
            key.replace('.', "_").to_ascii_uppercase()
        ),
        Some(md) => match &md.source {
            Some(src) => format!(" (from {src})"),
            None => format!(" (from {})", md.name),
        },
        None => String::new(),
    };
    Error::config(key, format!("{what}{source}"))
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrList {
        One(String),
        Many(Vec<String>),
    }
    Ok(match StringOrList::deserialize(d)? {
        StringOrList::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        StringOrList::Many(v) => v,
    })
}

#[cfg(test)]
// reason: figment's `Jail::expect_with` fixes the closure's error type, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_follow_deimos() {
        let c = Config::default();
        assert_eq!(c.kafka.brokers, vec!["localhost:9092"]);
        assert_eq!(c.kafka.client_id, "phobos");
        assert_eq!(c.kafka.connect_timeout, Duration::from_secs(15));
        assert_eq!(c.consumers.session_timeout, Duration::from_secs(300));
        assert_eq!(c.consumers.offset_commit_interval, Duration::from_secs(10));
        assert_eq!(c.consumers.backoff.min, Duration::from_secs(1));
        assert_eq!(c.consumers.backoff.max, Duration::from_secs(60));
        assert!(!c.consumers.reraise_errors);
        assert_eq!(c.producers.required_acks, None);
        assert_eq!(c.producers.effective_required_acks(), RequiredAcks::Leader);
        assert_eq!(c.producers.max_retries, 2);
        assert_eq!(c.producers.ack_timeout, Duration::from_secs(5));
        assert_eq!(c.schema.registry_url, "http://localhost:8081");
        assert_eq!(Config::from_toml("").unwrap(), c);
    }

    #[test]
    fn file_then_env_then_code() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "deimos.toml",
                r#"
                [kafka]
                brokers = ["file:1"]
                client_id = "from-file"
                [consumers]
                session_timeout = "45s"
                backoff = { min = "250ms", max = 5 }
                "#,
            )?;
            jail.set_env("DEIMOS_KAFKA_BROKERS", "env:1, env:2");
            jail.set_env("DEIMOS_CONSUMERS_RERAISE_ERRORS", "true");
            jail.set_env("DEIMOS_CONSUMERS_BACKOFF_MAX", "7");
            jail.set_env("DEIMOS_KAFKA_SSL_VERIFY_HOSTNAME", "false");
            jail.set_env("DEIMOS_DB_PRODUCER_LOCK_TIMEOUT", "90s");
            jail.set_env("DEIMOS_DB_PRODUCER_COMPACT_TOPICS", "a,b");
            let mut c = Config::load().expect("loads");
            assert_eq!(c.db_producer.lock_timeout, Duration::from_secs(90));
            assert_eq!(
                c.db_producer.compact_topics,
                CompactTopics::Topics(vec!["a".into(), "b".into()])
            );
            assert_eq!(c.kafka.brokers, vec!["env:1", "env:2"]);
            assert_eq!(c.kafka.client_id, "from-file");
            assert_eq!(c.consumers.session_timeout, Duration::from_secs(45));
            assert_eq!(c.consumers.backoff.min, Duration::from_millis(250));
            assert_eq!(c.consumers.backoff.max, Duration::from_secs(7));
            assert!(c.consumers.reraise_errors);
            assert!(!c.kafka.ssl.verify_hostname);
            c.kafka.client_id = "from-code".into();
            assert_eq!(c.kafka.client_id, "from-code");
            assert!(Config::figment().unwrap().contains("kafka.brokers"));
            Ok(())
        });
    }

    #[test]
    fn db_pollers_are_tables_of_an_array_with_deimos_defaults() {
        let c = Config::from_toml(
            r#"
            [[db_poller]]
            producer = "WidgetProducer"
            run_every = "30s"

            [[db_poller]]
            producer = "app::OrderProducer"
            mode = "state_based"
            state_column = "publish_state"
            published_state = "published"
            failed_state = 3
            publish_timestamp_column = "published_at"
            "#,
        )
        .expect("parses");
        let [widgets, orders] = c.db_poller.as_slice() else {
            panic!("{:?}", c.db_poller)
        };
        assert_eq!(widgets.run_every, Duration::from_secs(30));
        assert_eq!(widgets.mode, PollMode::TimeBased);
        assert_eq!(widgets.timestamp_column, "updated_at");
        assert_eq!(widgets.delay_time, Duration::from_secs(2));
        assert_eq!(widgets.batch_size, 1000);
        assert!(widgets.start_from_beginning && !widgets.full_table);
        assert_eq!(widgets.poller_name(), "WidgetProducer");
        assert_eq!(orders.poller_name(), "OrderProducer");
        assert_eq!(orders.mode, PollMode::StateBased);
        assert_eq!(
            orders.published_state,
            Some(StateValue::Text("published".into()))
        );
        assert_eq!(orders.failed_state, Some(StateValue::Int(3)));

        let missing = Config::from_toml(
            "[[db_poller]]\nproducer = \"P\"\nmode = \"state_based\"\nstate_column = \"s\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(&missing, Error::Config { key, .. } if key == "db_poller[0].published_state"),
            "{missing}"
        );
        let twice = Config::from_toml(
            "[[db_poller]]\nproducer = \"a::P\"\n[[db_poller]]\nproducer = \"b::P\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(&twice, Error::Config { key, .. } if key == "db_poller[1].name"),
            "{twice}"
        );
        let no_producer = Config::from_toml("[[db_poller]]\nrun_every = \"1s\"\n").unwrap_err();
        assert!(
            matches!(&no_producer, Error::Config { key, .. } if key == "db_poller[0].producer"),
            "{no_producer}"
        );
    }

    #[test]
    fn config_env_names_another_file() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("other.toml", "[producers]\ntopic_prefix = \"stg.\"\n")?;
            jail.set_env(CONFIG_FILE_ENV, "other.toml");
            let c = Config::load().expect("loads");
            assert_eq!(c.producers.topic_prefix.as_deref(), Some("stg."));
            assert!(!Config::figment().unwrap().contains("kafka.brokers"));
            jail.set_env(CONFIG_FILE_ENV, "missing.toml");
            let err = Config::load().unwrap_err();
            assert!(
                matches!(&err, Error::Config { key, .. } if key == CONFIG_FILE_ENV),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[consumers]\nreraise_error = true\n").unwrap_err();
        match err {
            Error::Config { key, reason } => {
                assert_eq!(key, "consumers.reraise_error", "{reason}");
                assert!(reason.contains("reraise_errors"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("DEIMOS_KAFKA_BROKER", "x:1");
            let err = Config::load().unwrap_err();
            assert!(
                err.to_string()
                    .contains("environment variable `DEIMOS_KAFKA_BROKER`"),
                "{err}"
            );
            assert!(
                matches!(&err, Error::Config { key, .. } if key == "kafka.broker"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "[consumers]\nsession_timeout = \"soon\"\n",
                "consumers.session_timeout",
            ),
            (
                "[consumers]\nreraise_errors = \"maybe\"\n",
                "consumers.reraise_errors",
            ),
            (
                "[producers]\nrequired_acks = 2\n",
                "producers.required_acks",
            ),
            (
                "[producers]\nrequired_acks = \"some\"\n",
                "producers.required_acks",
            ),
            (
                "[producers]\nbackend = \"carrier_pigeon\"\n",
                "producers.backend",
            ),
            ("[kafka]\nbrokers = []\n", "kafka.brokers"),
            ("[kafka]\nbrokers = \"nohostport\"\n", "kafka.brokers"),
            (
                "[consumers]\nbackoff = { min = 10, max = 1 }\n",
                "consumers.backoff",
            ),
        ];
        for (toml, want) in cases {
            match Config::from_toml(toml) {
                Err(Error::Config { key, .. }) => assert_eq!(key, want, "for {toml:?}"),
                other => panic!("{toml:?}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn acks_all_and_durations() {
        let c =
            Config::from_toml("[producers]\nrequired_acks = \"all\"\nack_timeout = \"1500ms\"\n")
                .unwrap();
        assert_eq!(c.producers.required_acks, Some(RequiredAcks::All));
        assert_eq!(c.producers.ack_timeout, Duration::from_millis(1500));
    }

    /// The config error's key and its `Display` text, or a panic naming `what`.
    fn config_error(result: Result<Config>, what: &str) -> (String, String) {
        match result {
            Err(err @ Error::Config { .. }) => {
                let shown = err.to_string();
                let Error::Config { key, .. } = err else {
                    unreachable!()
                };
                (key, shown)
            }
            other => panic!("{what}: expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn producer_keys_from_toml_and_env() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "deimos.toml",
                r#"
                [producers]
                required_acks = 0
                compression_codec = "lz4"
                delivery_threshold = 500
                delivery_interval = "20ms"
                max_buffer_size = 77
                max_buffer_bytesize = 2048
                retry_backoff = "250ms"
                "#,
            )?;
            let c = Config::load().expect("loads");
            let p = &c.producers;
            assert_eq!(p.required_acks, Some(RequiredAcks::None));
            assert_eq!(p.compression_codec, CompressionCodec::Lz4);
            assert_eq!(p.delivery_threshold, 500);
            assert_eq!(p.delivery_interval, Duration::from_millis(20));
            assert_eq!(p.max_buffer_size, 77);
            assert_eq!(p.max_buffer_bytesize, 2048);
            assert_eq!(p.retry_backoff, Duration::from_millis(250));
            assert!(!p.idempotence);

            jail.set_env("DEIMOS_PRODUCERS_REQUIRED_ACKS", "all");
            jail.set_env("DEIMOS_PRODUCERS_COMPRESSION_CODEC", "zstd");
            jail.set_env("DEIMOS_PRODUCERS_IDEMPOTENCE", "true");
            jail.set_env("DEIMOS_PRODUCERS_DELIVERY_INTERVAL", "1");
            jail.set_env("DEIMOS_PRODUCERS_DELIVERY_THRESHOLD", "9");
            jail.set_env("DEIMOS_PRODUCERS_MAX_RETRIES", "5");
            let c = Config::load().expect("loads");
            let p = &c.producers;
            assert_eq!(p.required_acks, Some(RequiredAcks::All));
            assert_eq!(p.compression_codec, CompressionCodec::Zstd);
            assert!(p.idempotence);
            assert_eq!(
                p.delivery_interval,
                Duration::from_secs(1),
                "integer = seconds"
            );
            assert_eq!(p.delivery_threshold, 9);
            assert_eq!(p.max_retries, 5);

            jail.set_env("DEIMOS_PRODUCERS_COMPRESSION_CODEC", "brotli");
            let err = Config::load().unwrap_err();
            assert!(
                matches!(&err, Error::Config { key, .. } if key == "producers.compression_codec"),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains("DEIMOS_PRODUCERS_COMPRESSION_CODEC"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn required_acks_spellings() {
        for (value, want) in [
            ("0", RequiredAcks::None),
            ("1", RequiredAcks::Leader),
            ("-1", RequiredAcks::All),
            ("\"all\"", RequiredAcks::All),
            ("\"ALL\"", RequiredAcks::All),
            ("\"1\"", RequiredAcks::Leader),
            ("\"-1\"", RequiredAcks::All),
        ] {
            let c = Config::from_toml(&format!("[producers]\nrequired_acks = {value}\n"))
                .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(c.producers.required_acks, Some(want), "{value}");
        }
        // The unset default follows librdkafka's idempotence rule.
        let c = Config::from_toml("[producers]\nidempotence = true\n").unwrap();
        assert_eq!(c.producers.required_acks, None);
        assert_eq!(c.producers.effective_required_acks(), RequiredAcks::All);
    }

    #[test]
    fn compression_codecs_parse() {
        for (value, want) in [
            ("none", CompressionCodec::None),
            ("gzip", CompressionCodec::Gzip),
            ("snappy", CompressionCodec::Snappy),
            ("lz4", CompressionCodec::Lz4),
            ("zstd", CompressionCodec::Zstd),
        ] {
            let c = Config::from_toml(&format!("[producers]\ncompression_codec = \"{value}\"\n"))
                .unwrap();
            assert_eq!(c.producers.compression_codec, want);
            assert_eq!(want.as_str(), value);
        }
    }

    #[test]
    fn sasl_mechanism_spellings() {
        for (value, want) in [
            ("plain", SaslMechanism::Plain),
            ("PLAIN", SaslMechanism::Plain),
            ("scram_sha256", SaslMechanism::ScramSha256),
            ("SCRAM-SHA-256", SaslMechanism::ScramSha256),
            ("scram_sha512", SaslMechanism::ScramSha512),
            ("SCRAM-SHA-512", SaslMechanism::ScramSha512),
            ("oauthbearer", SaslMechanism::OAuthBearer),
            ("OAUTHBEARER", SaslMechanism::OAuthBearer),
        ] {
            // Not enabled, so no credentials are needed to parse it.
            let c = Config::from_toml(&format!("[kafka.sasl]\nmechanism = \"{value}\"\n"))
                .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(c.kafka.sasl.mechanism, want, "{value}");
        }
        let (key, shown) = config_error(
            Config::from_toml("[kafka.sasl]\nmechanism = \"GSSAPI\"\n"),
            "GSSAPI",
        );
        assert_eq!(key, "kafka.sasl.mechanism", "{shown}");
        assert!(
            shown.contains("SCRAM-SHA-512"),
            "lists the choices: {shown}"
        );
    }

    #[test]
    fn security_keys_from_toml_and_env() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "deimos.toml",
                r#"
                [kafka.ssl]
                enabled = true
                ca_cert = """
                -----BEGIN CERTIFICATE-----
                MIIB
                -----END CERTIFICATE-----
                """
                client_cert_file = "/etc/kafka/client.pem"
                client_cert_key_password = "from-file"

                [kafka.sasl]
                enabled = true
                mechanism = "oauthbearer"

                [kafka.sasl.oauthbearer]
                client_id = "svc"
                token_endpoint_url = "https://idp.example.com/token"
                scope = "kafka"
                extensions = { logicalCluster = "lkc-1" }
                "#,
            )?;
            jail.set_env("DEIMOS_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET", "s3cr3t");
            jail.set_env(
                "DEIMOS_KAFKA_SSL_CLIENT_CERT_KEY_FILE",
                "/etc/kafka/client.key",
            );
            let c = Config::load().expect("loads");
            let ssl = &c.kafka.ssl;
            assert!(ssl.enabled);
            assert!(ssl
                .ca_cert
                .as_deref()
                .unwrap()
                .contains("BEGIN CERTIFICATE"));
            assert_eq!(ssl.ca_cert_file, None);
            assert_eq!(
                ssl.client_cert_file.as_deref(),
                Some(Path::new("/etc/kafka/client.pem"))
            );
            assert_eq!(
                ssl.client_cert_key_file.as_deref(),
                Some(Path::new("/etc/kafka/client.key"))
            );
            assert_eq!(
                ssl.client_cert_key_password.as_ref().map(Secret::expose),
                Some("from-file")
            );
            let o = &c.kafka.sasl.oauthbearer;
            assert_eq!(c.kafka.sasl.mechanism, SaslMechanism::OAuthBearer);
            assert_eq!(o.method, OAuthBearerMethod::Oidc);
            assert_eq!(o.client_id.as_deref(), Some("svc"));
            assert_eq!(o.client_secret.as_ref().map(Secret::expose), Some("s3cr3t"));
            assert_eq!(o.extensions["logicalCluster"], "lkc-1");

            // The environment's form of the extensions, and env overriding the file.
            jail.set_env(
                "DEIMOS_KAFKA_SASL_OAUTHBEARER_EXTENSIONS",
                "logicalCluster=lkc-2,identityPoolId=pool-9",
            );
            jail.set_env("DEIMOS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256");
            jail.set_env("DEIMOS_KAFKA_SASL_USERNAME", "alice");
            jail.set_env("DEIMOS_KAFKA_SASL_PASSWORD", "pw-from-env");
            let c = Config::load().expect("loads");
            let o = &c.kafka.sasl.oauthbearer;
            assert_eq!(o.extensions["logicalCluster"], "lkc-2");
            assert_eq!(o.extensions["identityPoolId"], "pool-9");
            assert_eq!(c.kafka.sasl.mechanism, SaslMechanism::ScramSha256);
            assert_eq!(c.kafka.sasl.username.as_deref(), Some("alice"));
            assert_eq!(
                c.kafka.sasl.password.as_ref().map(Secret::expose),
                Some("pw-from-env")
            );

            // A number is not taken as a secret, and the error does not repeat it.
            jail.set_env("DEIMOS_KAFKA_SASL_PASSWORD", "9081726354");
            let err = Config::load().unwrap_err();
            assert!(
                matches!(&err, Error::Config { key, .. } if key == "kafka.sasl.password"),
                "{err}"
            );
            assert!(!err.to_string().contains("9081726354"), "{err}");
            // Quoted, it is a string.
            jail.set_env("DEIMOS_KAFKA_SASL_PASSWORD", "\"9081726354\"");
            let c = Config::load().expect("loads");
            assert_eq!(
                c.kafka.sasl.password.as_ref().map(Secret::expose),
                Some("9081726354")
            );
            Ok(())
        });
    }

    #[test]
    fn validation_errors_name_the_keys() {
        const PEM: &str = "\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\"";
        const KEY: &str = "\"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\"";
        const PLAIN: &str = "[kafka.sasl]\nenabled = true\nmechanism = \"PLAIN\"\n";
        const OIDC: &str = "[kafka.sasl]\nenabled = true\nmechanism = \"oauthbearer\"\n\
                            [kafka.sasl.oauthbearer]\n";
        const OIDC_OK: &str = "client_id = \"c\"\nclient_secret = \"s\"\n\
                               token_endpoint_url = \"https://idp/token\"\n";
        let cases: Vec<(String, &str, Vec<&str>)> =
            vec![
            // TLS: text or file, not both; text is PEM.
            (
                format!("[kafka.ssl]\nca_cert = {PEM}\nca_cert_file = \"/ca.pem\"\n"),
                "kafka.ssl.ca_cert",
                vec!["`kafka.ssl.ca_cert_file`", "not both"],
            ),
            (
                format!("[kafka.ssl]\nclient_cert = {PEM}\nclient_cert_file = \"/c.pem\"\n"),
                "kafka.ssl.client_cert",
                vec!["`kafka.ssl.client_cert_file`", "not both"],
            ),
            (
                format!("[kafka.ssl]\nclient_cert_key = {KEY}\nclient_cert_key_file = \"/k\"\n"),
                "kafka.ssl.client_cert_key",
                vec!["`kafka.ssl.client_cert_key_file`", "not both"],
            ),
            (
                "[kafka.ssl]\nca_cert = \"/etc/kafka/ca.pem\"\n".to_owned(),
                "kafka.ssl.ca_cert",
                vec!["PEM text", "`kafka.ssl.ca_cert_file`"],
            ),
            // SASL credentials.
            (
                format!("{PLAIN}password = \"p\"\n"),
                "kafka.sasl.username",
                vec!["PLAIN"],
            ),
            (
                format!("{PLAIN}username = \"u\"\n"),
                "kafka.sasl.password",
                vec!["PLAIN"],
            ),
            (
                "[kafka.sasl]\nenabled = true\nmechanism = \"scram_sha512\"\nusername = \"u\"\n"
                    .to_owned(),
                "kafka.sasl.password",
                vec!["SCRAM-SHA-512"],
            ),
            (
                format!("{OIDC}client_secret = \"s\"\ntoken_endpoint_url = \"https://idp/t\"\n"),
                "kafka.sasl.oauthbearer.client_id",
                vec!["oidc"],
            ),
            (
                format!("{OIDC}client_id = \"c\"\ntoken_endpoint_url = \"https://idp/t\"\n"),
                "kafka.sasl.oauthbearer.client_secret",
                vec!["oidc"],
            ),
            (
                format!("{OIDC}client_id = \"c\"\nclient_secret = \"s\"\n"),
                "kafka.sasl.oauthbearer.token_endpoint_url",
                vec!["oidc"],
            ),
            (
                format!(
                    "{OIDC}client_id = \"c\"\nclient_secret = \"s\"\n\
                     token_endpoint_url = \"idp/token\"\n"
                ),
                "kafka.sasl.oauthbearer.token_endpoint_url",
                vec!["https://"],
            ),
            (
                format!("{OIDC}{OIDC_OK}extensions = {{ \"bad-name\" = \"x\" }}\n"),
                "kafka.sasl.oauthbearer.extensions",
                vec!["bad-name"],
            ),
            (
                format!("{OIDC}{OIDC_OK}extensions = {{ auth = \"x\" }}\n"),
                "kafka.sasl.oauthbearer.extensions",
                vec!["reserved"],
            ),
            (
                format!("{OIDC}method = \"unsecured_jwt\"\n"),
                "kafka.sasl.oauthbearer.unsecured_jwt_config",
                vec!["principal="],
            ),
            (
                format!(
                    "{OIDC}method = \"unsecured_jwt\"\nunsecured_jwt_config = \"principal=a\"\n\
                     extensions = {{ a = \"b\" }}\n"
                ),
                "kafka.sasl.oauthbearer.extensions",
                vec!["extension_NAME"],
            ),
            // Producers.
            (
                "[producers]\ncompression_codec = \"brotli\"\n".to_owned(),
                "producers.compression_codec",
                vec!["zstd"],
            ),
            (
                "[producers]\nidempotence = true\nrequired_acks = 1\n".to_owned(),
                "producers.required_acks",
                vec!["`producers.idempotence = true`", "`producers.required_acks = \"all\"`"],
            ),
            (
                "[producers]\nidempotence = true\nmax_retries = 0\n".to_owned(),
                "producers.max_retries",
                vec!["`producers.idempotence = true`", "`producers.max_retries`"],
            ),
            (
                "[producers]\ndelivery_threshold = 0\n".to_owned(),
                "producers.delivery_threshold",
                vec!["batch.num.messages"],
            ),
            (
                "[producers]\ndelivery_interval = \"20s\"\n".to_owned(),
                "producers.delivery_interval",
                vec!["`producers.delivery_timeout`"],
            ),
            (
                "[producers]\nack_timeout = \"0s\"\n".to_owned(),
                "producers.ack_timeout",
                vec!["900s"],
            ),
            (
                "[producers]\nretry_backoff = \"301s\"\n".to_owned(),
                "producers.retry_backoff",
                vec!["300s"],
            ),
        ];
        for (toml, want_key, want_texts) in cases {
            let (key, shown) = config_error(Config::from_toml(&toml), &toml);
            assert_eq!(key, want_key, "for {toml:?}: {shown}");
            assert!(shown.contains(&format!("`{want_key}`")), "{shown}");
            for text in want_texts {
                assert!(shown.contains(text), "{text:?} missing from {shown:?}");
            }
        }
        // Every example above but one piece is valid: the complete versions load.
        Config::from_toml(&format!("{OIDC}{OIDC_OK}extensions = {{ a = \"b\" }}\n")).unwrap();
        Config::from_toml(&format!(
            "{OIDC}method = \"unsecured_jwt\"\nunsecured_jwt_config = \"principal=a\"\n"
        ))
        .unwrap();
        Config::from_toml(&format!("{PLAIN}username = \"u\"\npassword = \"p\"\n")).unwrap();
        Config::from_toml("[producers]\nidempotence = true\nrequired_acks = \"all\"\n").unwrap();
    }

    #[test]
    fn a_bad_key_is_not_repeated_in_the_error() {
        let (key, shown) = config_error(
            Config::from_toml("[kafka.ssl]\nclient_cert_key = \"KEYMARKER-not-pem\"\n"),
            "key",
        );
        assert_eq!(key, "kafka.ssl.client_cert_key");
        assert!(!shown.contains("KEYMARKER"), "{shown}");
    }

    /// The configuration examples in README.md and in these docs load (with the SASL password
    /// the README leaves to the environment).
    #[test]
    fn documented_examples_load() {
        let docs = [
            include_str!("../../../README.md"),
            include_str!("mod.rs"),
            include_str!("security.rs"),
            include_str!("metrics.rs"),
        ];
        let mut checked = 0;
        for doc in docs {
            let mut rest = doc;
            while let Some(start) = rest.find("```toml\n") {
                let block = &rest[start + 8..];
                let end = block.find("```").expect("closed block");
                rest = &block[end + 3..];
                // Doc comments: drop the `//! ` / `/// ` prefixes.
                let toml: String = block[..end]
                    .lines()
                    .map(|l| {
                        let t = l.trim_start();
                        t.strip_prefix("//!")
                            .or_else(|| t.strip_prefix("///"))
                            .map_or(l, |r| r.strip_prefix(' ').unwrap_or(r))
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                if toml.contains("Cargo.toml") || toml.lines().any(|l| l.trim() == "...") {
                    continue; // not a deimos config, or a PEM body left out
                }
                let mut figment = Figment::new()
                    .merge(Toml::string(&toml))
                    .merge(("kafka.sasl.password", "from-the-environment"));
                // An exporter's example loads without its feature too, disabled.
                if !cfg!(feature = "prometheus") {
                    figment = figment.merge(("metrics.prometheus.enabled", false));
                }
                if !cfg!(feature = "dogstatsd") {
                    figment = figment.merge(("metrics.dogstatsd.enabled", false));
                }
                Config::from_figment(&figment)
                    .unwrap_or_else(|e| panic!("documented example does not load: {e}\n{toml}"));
                checked += 1;
            }
        }
        assert!(checked >= 6, "found only {checked} examples");
    }

    /// Serialize writes what Deserialize reads back, secrets included (figment's `Serialized`
    /// provider, the documented way to layer a config from code).
    #[test]
    fn serialize_round_trips_through_figment() {
        let mut config = Config::from_toml(
            r#"
            [kafka.ssl]
            enabled = true
            client_cert_key = "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----"
            [kafka.sasl]
            enabled = true
            mechanism = "oauthbearer"
            [kafka.sasl.oauthbearer]
            client_id = "c"
            client_secret = "s"
            token_endpoint_url = "https://idp/token"
            extensions = { a = "b" }
            [producers]
            required_acks = 0
            compression_codec = "gzip"
            delivery_interval = "1500us"
            [consumer.handle_widget]
            max_wait_time = "250ms"
            dead_letter_topic = "widgets.dead"
            backoff = { min = "1s", max = "2s" }
            "#,
        )
        .unwrap();
        config
            .kafka
            .extra
            .insert("sasl.password".into(), "x".into());
        let back = Config::from_figment(&Figment::from(figment::providers::Serialized::defaults(
            &config,
        )))
        .unwrap();
        assert_eq!(back, config);
        config.producers.required_acks = Some(RequiredAcks::All);
        let back = Config::from_figment(&Figment::from(figment::providers::Serialized::defaults(
            &config,
        )))
        .unwrap();
        assert_eq!(back.producers.required_acks, Some(RequiredAcks::All));
    }
}
