//! Typed configuration, after Deimos' configuration reference.
//!
//! Layers, later ones winning (Deimos' `configure` block becomes the last layer, code):
//!
//! 1. the defaults below (Deimos' defaults, unless noted),
//! 2. `deimos.toml` in the working directory, or the file named by `DEIMOS_CONFIG`
//!    (a missing default file is fine; a missing `DEIMOS_CONFIG` file is an error),
//! 3. `DEIMOS_*` environment variables: `DEIMOS_KAFKA_BROKERS=a:9092,b:9092`,
//!    `DEIMOS_CONSUMERS_RERAISE_ERRORS=true`, `DEIMOS_KAFKA_SSL_ENABLED=true`, … — the section
//!    path (`KAFKA`, `KAFKA_SSL`, `KAFKA_SASL`, `CONSUMERS`, `CONSUMERS_BACKOFF`, `PRODUCERS`,
//!    `SCHEMA`) then the key,
//! 4. code: mutate the loaded [`Config`] before [`configure`](crate::configure) or
//!    [`App::from_config`](crate::App::from_config).
//!
//! An unknown key or a bad value is an [`Error::Config`](crate::Error) naming the key.
//! Durations are [`Duration`]s; in files and the environment an integer means seconds (as in
//! Deimos) and a string is a humantime duration (`"500ms"`, `"1m"`).
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

pub(crate) mod duration;
mod kafka;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

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
}

/// `kafka.*`: connection settings shared by every client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` (librdkafka `bootstrap.servers`). Default
    /// `["localhost:9092"]`. In the environment: a comma-separated list.
    #[serde(deserialize_with = "string_or_list")]
    pub brokers: Vec<String>,
    /// Client id sent to the brokers (`client.id`). Default `phobos`, as in Deimos.
    pub client_id: String,
    /// Time allowed to open a broker connection (`socket.connection.setup.timeout.ms`).
    /// Default 15 s.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Time allowed for a network request (`socket.timeout.ms`). Default 15 s.
    #[serde(with = "duration")]
    pub socket_timeout: Duration,
    /// TLS (`kafka.ssl.*`).
    pub ssl: SslConfig,
    /// SASL authentication (`kafka.sasl.*`).
    pub sasl: SaslConfig,
    /// Raw librdkafka properties applied to every client last (escape hatch), e.g.
    /// `{ "debug" = "broker" }`.
    pub extra: BTreeMap<String, String>,
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

/// `kafka.ssl.*`. Paths to PEM files (librdkafka `ssl.*.location`).
///
/// TLS needs the `ssl` feature (librdkafka built with OpenSSL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SslConfig {
    /// Use TLS (`security.protocol=ssl`, or `sasl_ssl` with SASL). Default false.
    pub enabled: bool,
    /// CA certificate file (`ssl.ca.location`).
    pub ca_cert: Option<PathBuf>,
    /// Client certificate file (`ssl.certificate.location`).
    pub client_cert: Option<PathBuf>,
    /// Client private key file (`ssl.key.location`).
    pub client_cert_key: Option<PathBuf>,
    /// Verify the broker's host name (`ssl.endpoint.identification.algorithm=https`).
    /// Default true.
    pub verify_hostname: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            enabled: false,
            ca_cert: None,
            client_cert: None,
            client_cert_key: None,
            verify_hostname: true,
        }
    }
}

/// `kafka.sasl.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SaslConfig {
    /// Use SASL. Default false.
    pub enabled: bool,
    /// `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, … Default `PLAIN`.
    pub mechanism: Option<String>,
    /// `sasl.username`.
    pub username: Option<String>,
    /// `sasl.password`.
    pub password: Option<String>,
}

/// `consumers.*`: defaults for every consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsumersConfig {
    /// Group session timeout (`session.timeout.ms`). Default 300 s, as in Deimos; the broker's
    /// `group.max.session.timeout.ms` caps it.
    #[serde(with = "duration")]
    pub session_timeout: Duration,
    /// How often handled offsets are committed (`auto.commit.interval.ms`). Default 10 s.
    #[serde(with = "duration")]
    pub offset_commit_interval: Duration,
    /// Commit after this many handled messages as well; 0 = only on the interval. Default 0.
    pub offset_commit_threshold: u64,
    /// Group heartbeat interval (`heartbeat.interval.ms`). Default 10 s.
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
    /// Raw librdkafka properties for every consumer, applied after `kafka.extra`.
    pub extra: BTreeMap<String, String>,
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
    /// `db`: the transactional outbox ([`DbBackend`](crate::backends::DbBackend)). Not
    /// available yet: `publish` returns
    /// [`Error::BackendUnavailable`].
    Db,
    /// `test`: capture messages in memory for assertions
    /// ([`TestBackend`](crate::backends::TestBackend)).
    Test,
}

/// `producers.*`: defaults for every producer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProducersConfig {
    /// Time the broker may take to acknowledge (`request.timeout.ms`). Default 5 s.
    #[serde(with = "duration")]
    pub ack_timeout: Duration,
    /// Acknowledgements required (`acks`): `-1` (all), `0` or `1`; the string `"all"` is
    /// accepted. Default 1.
    #[serde(deserialize_with = "acks")]
    pub required_acks: i32,
    /// Retries of a failed produce request (`retries`). Default 2.
    pub max_retries: u32,
    /// Delay between those retries (`retry.backoff.ms`). Default 1 s.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// How long one message may take from `publish` to its delivery report, retries included,
    /// before it fails (`message.timeout.ms`). Default: `(ack_timeout + retry_backoff) ×
    /// (max_retries + 1)`, 18 s with the other defaults — the bound ruby-kafka's synchronous
    /// delivery gave Deimos (librdkafka's own default is 300 s).
    #[serde(with = "duration::option")]
    pub delivery_timeout: Option<Duration>,
    /// Messages the local queue holds (`queue.buffering.max.messages`). Default 10 000.
    pub max_buffer_size: u32,
    /// Bytes the local queue holds (`queue.buffering.max.kbytes`, rounded up to KiB). Default
    /// 10 000 000.
    pub max_buffer_bytesize: u64,
    /// `compression.codec`: `none`, `gzip`, `snappy`, `lz4`, `zstd`. Default none.
    pub compression_codec: Option<String>,
    /// Prefix added to every producer topic, e.g. `staging.`. Default none.
    pub topic_prefix: Option<String>,
    /// When true, `publish` does nothing (Deimos' `producers.disabled`). Default false.
    pub disabled: bool,
    /// Producer backend: `kafka` (default: await every delivery), `kafka_async` (queue and
    /// return; Deimos' default), `db` (transactional outbox, not available yet) or `test`
    /// (capture in memory). See [`ProducerBackendKind`].
    pub backend: ProducerBackendKind,
    /// Raw librdkafka properties for the producer, applied after `kafka.extra`.
    pub extra: BTreeMap<String, String>,
}

impl ProducersConfig {
    /// `delivery_timeout`, or the default derived from the ack timeout and retries.
    pub fn effective_delivery_timeout(&self) -> Duration {
        self.delivery_timeout.unwrap_or_else(|| {
            (self.ack_timeout + self.retry_backoff)
                .saturating_mul(self.max_retries.saturating_add(1))
        })
    }
}

impl Default for ProducersConfig {
    fn default() -> Self {
        ProducersConfig {
            ack_timeout: Duration::from_secs(5),
            required_acks: 1,
            max_retries: 2,
            retry_backoff: Duration::from_secs(1),
            delivery_timeout: None,
            max_buffer_size: 10_000,
            max_buffer_bytesize: 10_000_000,
            compression_codec: None,
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
    /// Registry basic-auth password. Never printed by `Debug`.
    pub password: Option<String>,
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
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
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

/// Section paths known to the environment mapping, longest first.
const ENV_SECTIONS: &[&str] = &[
    "consumers_backoff",
    "kafka_ssl",
    "kafka_sasl",
    "consumers",
    "producers",
    "kafka",
    "schema",
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
        if !matches!(self.producers.required_acks, -1..=1) {
            return Err(Error::config(
                "producers.required_acks",
                format!(
                    "must be -1 (all), 0 or 1, found {}",
                    self.producers.required_acks
                ),
            ));
        }
        if self.consumers.heartbeat_interval >= self.consumers.session_timeout {
            return Err(Error::config(
                "consumers.heartbeat_interval",
                "must be shorter than consumers.session_timeout",
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
            for section in ENV_SECTIONS {
                if let Some(rest) = lower
                    .strip_prefix(section)
                    .and_then(|r| r.strip_prefix('_'))
                {
                    return format!("{}.{rest}", section.replace('_', ".")).into();
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

fn acks<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Acks {
        Num(i32),
        Word(String),
    }
    match Acks::deserialize(d)? {
        Acks::Num(n) => Ok(n),
        Acks::Word(w) if w.eq_ignore_ascii_case("all") => Ok(-1),
        Acks::Word(w) => w.parse().map_err(|_| {
            serde::de::Error::custom(format!("expected -1, 0, 1 or \"all\", found `{w}`"))
        }),
    }
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
        assert_eq!(c.producers.required_acks, 1);
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
            let mut c = Config::load().expect("loads");
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
        assert_eq!(c.producers.required_acks, -1);
        assert_eq!(c.producers.ack_timeout, Duration::from_millis(1500));
    }
}
