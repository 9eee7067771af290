//! The application handle: producing, running consumers, graceful shutdown.
//!
//! [`App`] holds the configuration, the schema codec and the producer backend. Most services
//! use the global app: [`configure`] installs one (or the first use loads [`Config::load`]),
//! generated `publish` methods and [`run`] use it. Tests and multi-tenant programs can build
//! their own with [`App::from_config`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::backends::{
    DbBackend, KafkaAsyncBackend, KafkaBackend, ProducedMessage, ProducerBackend, TestBackend,
};
use crate::config::{Config, ProducerBackendKind};
use crate::consumer::{self, ConsumerRegistration};
use crate::error::{Error, Result};
use crate::producer::{Producer, PublishOptions};
use crate::schema::{Codec, EncodedPayload, SchemaBackend};

/// A configured deimos: schema codec, producer backend and consumer runner. Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) inner: Arc<AppInner>,
}

#[derive(Debug)]
pub(crate) struct AppInner {
    pub(crate) config: Config,
    pub(crate) codec: Codec,
    producer: Arc<dyn ProducerBackend>,
    /// The synchronous kafka backend: the configured one for `kafka`, else built on first
    /// use by [`App::kafka_backend`].
    kafka: Mutex<Option<Arc<KafkaBackend>>>,
    /// The database entity consumers write to (feature `orm`, [`App::set_database`]);
    /// shared with the `db` backend.
    #[cfg(feature = "orm")]
    database: Arc<RwLock<Option<sea_orm::DatabaseConnection>>>,
    /// The `db` backend, when it is the configured one (it writes on a caller's connection).
    #[cfg(feature = "orm")]
    outbox: Option<Arc<DbBackend>>,
    /// Pollers added in code ([`App::add_db_poller`]).
    #[cfg(feature = "orm")]
    pub(crate) pollers: Mutex<Vec<crate::poller::PollerSpec>>,
}

/// Where a publish call writes with the `db` backend.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    /// The app's database.
    Default,
    /// The caller's connection or transaction.
    #[cfg(feature = "orm")]
    Db(&'a dyn crate::outbox::OutboxConn),
    #[cfg(not(feature = "orm"))]
    #[allow(dead_code)]
    Never(std::marker::PhantomData<&'a ()>),
}

impl AppInner {
    /// See [`App::kafka_backend`].
    pub(crate) fn kafka_backend(&self) -> Result<Arc<KafkaBackend>> {
        let mut slot = self.kafka.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kafka) = slot.as_ref() {
            return Ok(kafka.clone());
        }
        let kafka = Arc::new(KafkaBackend::from_config(&self.config)?);
        *slot = Some(kafka.clone());
        Ok(kafka)
    }
}

static GLOBAL: RwLock<Option<App>> = RwLock::new(None);

#[cfg(feature = "testing")]
thread_local! {
    /// A test's app on this thread (`deimos::testing` presets): [`global`] returns it instead of
    /// the process-wide app, so tests in parallel threads never share settings or captures.
    static THREAD_APP: std::cell::RefCell<Option<App>> = const { std::cell::RefCell::new(None) };
}

/// Makes `app` this thread's app (see `THREAD_APP`); the one it replaces.
#[cfg(feature = "testing")]
pub(crate) fn set_thread_app(app: Option<App>) -> Option<App> {
    THREAD_APP.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), app))
}

/// Builds an [`App`] from `config` and installs it as the global app that generated `publish`
/// methods and [`run`] use. Calling it again replaces the global app.
///
/// # Errors
/// As [`App::from_config`].
pub fn configure(config: Config) -> Result<App> {
    let app = App::from_config(config)?;
    *GLOBAL.write().unwrap_or_else(|e| e.into_inner()) = Some(app.clone());
    Ok(app)
}

/// The global app: the one [`configure`] installed, or one built from [`Config::load`] on
/// first use. With feature `testing`, a test preset's app (`deimos::testing::unit_test` and
/// the others) on the calling thread comes first.
///
/// # Errors
/// [`Error::Config`] when no app was configured and loading the configuration fails.
pub fn global() -> Result<App> {
    #[cfg(feature = "testing")]
    if let Some(app) = THREAD_APP.with(|slot| slot.borrow().clone()) {
        return Ok(app);
    }
    if let Some(app) = GLOBAL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(app.clone());
    }
    let mut slot = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(app) = slot.as_ref() {
        return Ok(app.clone());
    }
    let app = App::from_config(Config::load()?)?;
    *slot = Some(app.clone());
    Ok(app)
}

tokio::task_local! {
    /// The app whose consumer task this is (set around each consumer task).
    static CURRENT: App;
}

/// The app running the current task: inside a consumer (its handler and what the handler
/// awaits), the [`App`] that runs that consumer; elsewhere the [`global`] app. A task the
/// handler spawns is elsewhere.
///
/// # Errors
/// As [`global`], outside a consumer task.
pub fn current() -> Result<App> {
    match CURRENT.try_with(App::clone) {
        Ok(app) => Ok(app),
        Err(_) => global(),
    }
}

/// Runs every registered `#[consumer]` on the global app until SIGINT, SIGTERM or
/// [`request_shutdown`] (see [`App::run`]).
///
/// # Errors
/// As [`App::run`].
pub async fn run() -> Result<()> {
    global()?.run().await
}

/// Starts `workers` outbox workers on the global app (see [`App::start_db_backend`]; Deimos'
/// `Deimos.start_db_backend!(thread_count:)`). [`run`] starts `db_producer.workers` of them
/// itself.
///
/// # Errors
/// As [`App::start_db_backend`].
#[cfg(feature = "orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
pub fn start_db_backend(workers: usize) -> Result<crate::outbox::DbProducerHandle> {
    global()?.start_db_backend(workers)
}

/// Starts every declared database poller on the global app (see [`App::start_db_pollers`];
/// Deimos' `rake deimos:db_poller`). [`run`] starts them itself when any is declared.
///
/// # Errors
/// As [`App::start_db_pollers`].
#[cfg(feature = "orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
pub fn start_db_pollers() -> Result<crate::poller::DbPollerHandle> {
    global()?.start_db_pollers()
}

/// Set once consumers started running in this process (see [`in_consumer_process`]).
static CONSUMER_PROCESS: AtomicBool = AtomicBool::new(false);

/// Environment variable that marks a process as the consumer process from its start (see
/// [`in_consumer_process`]); any non-empty value.
pub const DEIMOS_TASK_ENV: &str = "DEIMOS_TASK";

/// Whether this is the consumer process: true once [`run`] / [`App::run`] (or
/// [`App::run_consumers_until`]) started in this process, and from the start when the
/// environment variable `DEIMOS_TASK` is set to a non-empty value. Application code asks it
/// where Deimos apps check `ENV['DEIMOS_RAKE_TASK']`, which Deimos' `deimos:start` rake task
/// sets, e.g. to start process-wide work only where consumers run. Set `DEIMOS_TASK` in the
/// launcher (service unit, container command) when code must know before `run` is called:
/// deimos does not set environment variables itself (changing the environment of a running,
/// threaded process is unsound on most platforms).
pub fn in_consumer_process() -> bool {
    CONSUMER_PROCESS.load(Ordering::SeqCst)
        || std::env::var_os(DEIMOS_TASK_ENV).is_some_and(|v| !v.is_empty())
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static STOP: Notify = Notify::const_new();

/// Asks every running [`run`] / [`App::run`] to shut down gracefully, as SIGTERM would
/// (Karafka's `Karafka::App.stop`). A request made while nothing runs stops the next run as
/// soon as it starts.
pub fn request_shutdown() {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    STOP.notify_waiters();
}

async fn shutdown_requested() {
    loop {
        let notified = STOP.notified();
        if STOP_REQUESTED.swap(false, Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// One schema bound to the global app's schema backend: encode, decode, coerce, validate and
/// list fields outside producers and consumers (Deimos' `Deimos.schema_backend(schema:,
/// namespace:)`). `schema` is a simple name in `namespace`, or a full name with an empty
/// namespace.
///
/// # Errors
/// [`Error::Config`] when no app was configured and loading the configuration fails.
pub fn schema_backend(schema: &str, namespace: &str) -> Result<crate::schema::SchemaHandle> {
    Ok(global()?.schema_backend(schema, namespace))
}

/// Flushes the global app's producers (see [`App::shutdown_producers`]): for `kafka_async`,
/// waits until every queued message has its delivery report. Deimos' producer shutdown
/// (Phobos' `async_producer_shutdown`). Does nothing when no global app exists yet.
///
/// # Errors
/// As [`App::shutdown_producers`].
pub async fn shutdown_producers() -> Result<()> {
    let app = GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone();
    match app {
        Some(app) => app.shutdown_producers().await,
        None => Ok(()),
    }
}

/// Publishes a tombstone (null value) for `key` through the global app (see
/// [`App::tombstone`]).
///
/// # Errors
/// As [`App::tombstone`].
pub async fn tombstone<P: Producer, K: Serialize + ?Sized>(key: &K) -> Result<()> {
    global()?.tombstone::<P, K>(key).await
}

impl App {
    /// Builds the schema backend (`schema.*`) and producer backend (`producers.backend`).
    /// Nothing connects yet: librdkafka connects on first use. When `metrics.prometheus` or
    /// `metrics.dogstatsd` is enabled, installs those exporters first
    /// ([`metrics::install`](crate::metrics::install): once per process, shared by every app
    /// with the same `metrics` section).
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration does not validate; [`Error::Kafka`] when
    /// librdkafka rejects the producer configuration; [`Error::MetricsExporter`] as
    /// [`metrics::install`](crate::metrics::install).
    pub fn from_config(config: Config) -> Result<App> {
        config.validate()?;
        crate::metrics::install(&config.metrics)?;
        let backend: Arc<dyn SchemaBackend> = crate::schema::backend_from_config(&config.schema)?;
        let mut kafka = None;
        #[cfg(feature = "orm")]
        let database = Arc::new(RwLock::new(None));
        #[cfg(feature = "orm")]
        let mut outbox = None;
        let producer: Arc<dyn ProducerBackend> = match config.producers.backend {
            ProducerBackendKind::Kafka => {
                let sync = Arc::new(KafkaBackend::from_config(&config)?);
                kafka = Some(sync.clone());
                sync
            }
            ProducerBackendKind::KafkaAsync => Arc::new(KafkaAsyncBackend::from_config(&config)?),
            #[cfg(feature = "orm")]
            ProducerBackendKind::Db => {
                let db = Arc::new(DbBackend {
                    database: database.clone(),
                    config: config.db_producer.clone(),
                });
                outbox = Some(db.clone());
                db
            }
            #[cfg(not(feature = "orm"))]
            ProducerBackendKind::Db => Arc::new(DbBackend::new()),
            ProducerBackendKind::Test => Arc::new(TestBackend::new()),
        };
        Ok(App {
            inner: Arc::new(AppInner {
                config,
                codec: Codec::new(backend),
                producer,
                kafka: Mutex::new(kafka),
                #[cfg(feature = "orm")]
                database,
                #[cfg(feature = "orm")]
                outbox,
                #[cfg(feature = "orm")]
                pollers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configuration this app was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The schema codec.
    pub fn codec(&self) -> &Codec {
        &self.inner.codec
    }

    /// Sets the database that entity consumers of this app write to (feature `orm`; Deimos
    /// uses ActiveRecord's connection). A `sea_orm::DatabaseConnection` is a pool: clones
    /// share it. Replaces any database set before.
    #[cfg(feature = "orm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
    pub fn set_database(&self, database: sea_orm::DatabaseConnection) {
        *self
            .inner
            .database
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(database);
    }

    /// The database set with [`App::set_database`] (feature `orm`).
    ///
    /// # Errors
    /// [`Error::Config`] (key `database`) when none was set.
    #[cfg(feature = "orm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
    pub fn database(&self) -> Result<sea_orm::DatabaseConnection> {
        self.inner
            .database
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                Error::config(
                    "database",
                    "no database is set: entity consumers need `App::set_database(connection)` \
                     before consumers run",
                )
            })
    }

    /// Runs `future` with this app as the task's [`current`] app, as consumer tasks run
    /// their handlers: what it awaits (`#[kafka_source]` hooks, `Entity::import`, entity
    /// consumers' writes) publishes through this app instead of the [`global`] one. Tasks
    /// `future` spawns are outside the scope.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    /// One schema bound to this app's schema backend (see [`schema_backend`]).
    pub fn schema_backend(&self, schema: &str, namespace: &str) -> crate::schema::SchemaHandle {
        crate::schema::SchemaHandle::new(self.inner.codec.clone(), schema, namespace)
    }

    /// The producer backend.
    pub fn producer_backend(&self) -> &Arc<dyn ProducerBackend> {
        &self.inner.producer
    }

    /// A synchronous [`KafkaBackend`] (awaits every delivery report), whatever
    /// `producers.backend` is: the configured backend itself for `kafka`; for `kafka_async`,
    /// `db` and `test`, a second librdkafka producer with the same settings, created on the
    /// first call and kept. This is where Deimos' `force_send` goes (straight to Kafka,
    /// bypassing the `db` outbox). [`App::shutdown_producers`] flushes it too.
    ///
    /// # Errors
    /// [`Error::Kafka`] when librdkafka rejects the producer configuration.
    pub fn kafka_backend(&self) -> Result<Arc<KafkaBackend>> {
        self.inner.kafka_backend()
    }

    /// Flushes the producer backend, and the [`kafka_backend`](Self::kafka_backend) if one
    /// was created: for `kafka_async`, waits until every queued message has its delivery
    /// report, at most `producers.delivery_timeout + producers.ack_timeout + 1 s`; for
    /// `kafka`, waits for messages of cancelled publishes.
    /// Deimos' producer shutdown. [`App::run`] calls it when it ends.
    ///
    /// Publishing afterwards still works: the producers stay open and are not closed until
    /// the last clone of the app is dropped. Call this again before exiting to wait for what
    /// was published since.
    ///
    /// # Errors
    /// [`Error::Flush`] (`kafka_async`) counting the messages that failed delivery since the
    /// previous flush or were still queued at the bound; [`Error::Kafka`] when the `kafka`
    /// producer's flush timed out. Every producer is flushed even when one fails; the first
    /// error is returned.
    pub async fn shutdown_producers(&self) -> Result<()> {
        let extra_kafka = match self.inner.config.producers.backend {
            ProducerBackendKind::Kafka => None,
            _ => self
                .inner
                .kafka
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let mut result = self.inner.producer.flush().await;
        if let Some(kafka) = extra_kafka {
            result = result.and(kafka.flush().await);
        }
        result
    }

    /// The [`TestBackend`] when `producers.backend = "test"`.
    pub fn test_backend(&self) -> Option<&TestBackend> {
        self.inner.producer.as_test()
    }

    /// `topic` with `producers.topic_prefix` prepended.
    pub(crate) fn prefixed(&self, topic: &str) -> String {
        match &self.inner.config.producers.topic_prefix {
            Some(prefix) => format!("{prefix}{topic}"),
            None => topic.to_owned(),
        }
    }

    /// The final topic of a call: the override in `options`, else `topic`, prefixed.
    pub(crate) fn call_topic(&self, topic: &str, options: &PublishOptions) -> String {
        self.prefixed(options.topic.as_deref().unwrap_or(topic))
    }

    /// Whether publishing is off for `producers.disabled` or a disable scope covering `P`.
    fn disabled<P: Producer>(&self) -> bool {
        self.inner.config.producers.disabled || crate::producer::disable::disabled::<P>()
    }

    /// The message for `payload`, encoded as `encoded`, with the producer's headers and then
    /// the options' headers, and the options' partition key or else the producer's. For a
    /// long `publish_list` this runs on the thread that encoded the payload (see
    /// [`Codec::encode_payloads`]), so the producer's hooks may too.
    fn message<P: Producer>(
        topic: &Arc<str>,
        payload: &P::Payload,
        encoded: EncodedPayload,
        options: &PublishOptions,
    ) -> ProducedMessage {
        let (decoded_key, key) = encoded.key.unzip();
        let mut headers = P::headers(payload);
        headers.extend(options.headers.iter().cloned());
        ProducedMessage {
            topic: topic.clone(),
            key,
            payload: Some(encoded.payload),
            decoded_key,
            decoded_payload: encoded.value,
            headers,
            partition_key: options
                .partition_key
                .clone()
                .or_else(|| P::partition_key(payload)),
        }
    }

    /// Encodes `payload` with its schema and key configuration and sends it through the
    /// producer backend (for `kafka`: awaits the delivery report).
    ///
    /// Does nothing when `producers.disabled` is true or a
    /// [`disable_producers`](crate::producer::disable_producers) scope of this task covers `P`.
    ///
    /// # Errors
    /// [`Error::Encode`] when the payload or key does not fit its schema (naming the field),
    /// [`Error::SchemaLoad`], or the backend's error ([`Error::Produce`] for `kafka`).
    ///
    /// # Cancel safety
    /// Not cancel safe: a message already handed to librdkafka is still delivered when the
    /// future is dropped.
    pub async fn publish<P: Producer<Payload = P>>(&self, payload: &P) -> Result<()> {
        self.publish_list_with::<P, _>(std::iter::once(payload), &PublishOptions::default())
            .await
    }

    /// Encodes every payload first (so one bad payload sends nothing), then sends them in
    /// order. Deimos' `publish_list`.
    ///
    /// # Errors
    /// As [`App::publish`]; on a delivery failure the other messages are still attempted and
    /// the first failure is returned.
    pub async fn publish_list<'a, P, I>(&self, payloads: I) -> Result<()>
    where
        P: Producer<Payload = P> + 'a,
        I: IntoIterator<Item = &'a P>,
    {
        self.publish_list_with::<P, _>(payloads, &PublishOptions::default())
            .await
    }

    /// As [`App::publish_list`], with [`PublishOptions`] (topic override, `force_send`,
    /// partition key, headers), for either producer form: `P` is the producer, which may be
    /// the payload type itself (`app.publish_list_with::<Widget, _>(&widgets, &options)`) or a
    /// producer type (`app.publish_list_with::<WidgetProducer, _>(&widgets, &options)`).
    ///
    /// # Errors
    /// As [`App::publish_list`].
    pub async fn publish_list_with<'a, P, I>(
        &self,
        payloads: I,
        options: &PublishOptions,
    ) -> Result<()>
    where
        P: Producer,
        I: IntoIterator<Item = &'a P::Payload>,
    {
        self.publish_list_via::<P, I>(payloads, options, Via::Default)
            .await
    }

    /// As [`App::publish_list_with`], writing on `db` with the `db` (outbox) backend (feature
    /// `orm`): pass a transaction and the messages commit or roll back with it. The other
    /// backends ignore `db` and send as `publish_list_with` does; `force_send` bypasses the
    /// outbox. [`PublishOn`](crate::outbox::PublishOn) has the same for every producer type.
    ///
    /// # Errors
    /// As [`App::publish_list`]; with the `db` backend, [`Error::Database`] naming the topic
    /// when the insert fails (inside a transaction, the transaction is then unusable and must
    /// be rolled back).
    #[cfg(feature = "orm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
    pub async fn publish_list_on<'a, P, C, I>(
        &self,
        db: &C,
        payloads: I,
        options: &PublishOptions,
    ) -> Result<()>
    where
        P: Producer,
        C: sea_orm::ConnectionTrait,
        I: IntoIterator<Item = &'a P::Payload>,
    {
        self.publish_list_via::<P, I>(payloads, options, Via::Db(db))
            .await
    }

    async fn publish_list_via<'a, P, I>(
        &self,
        payloads: I,
        options: &PublishOptions,
        via: Via<'_>,
    ) -> Result<()>
    where
        P: Producer,
        I: IntoIterator<Item = &'a P::Payload>,
    {
        if self.disabled::<P>() {
            return Ok(());
        }
        let topic = self.call_topic(P::TOPIC, options);
        let payloads: Vec<&P::Payload> = payloads.into_iter().collect();
        if payloads.is_empty() {
            return Ok(());
        }
        let shared: Arc<str> = Arc::from(topic.as_str());
        let run = crate::schema::Run {
            topic: &topic,
            schema: &P::SCHEMA,
            key_config: &P::KEY_CONFIG,
            want_value: self.test_backend().is_some(),
        };
        let messages = self
            .inner
            .codec
            .encode_run(run, &payloads, P::plain_key, |payload, encoded| {
                Self::message::<P>(&shared, payload, encoded, options)
            })
            .await?;
        self.send_with(std::any::type_name::<P>(), &topic, messages, options, via)
            .await
    }

    /// Publishes a tombstone: a message with `key` and a null value, which log compaction
    /// uses to delete the key (Kafka). `key` is the key field's value for
    /// `key_config(field)`, a key-schema struct for `key_config(schema)`, a string for
    /// `key_config(plain)`.
    ///
    /// # Errors
    /// [`Error::Encode`] (`what = "key"`) when the key does not fit, or for
    /// `key_config(none)` producers (a tombstone needs a key); the backend's error otherwise.
    pub async fn tombstone<P: Producer, K: Serialize + ?Sized>(&self, key: &K) -> Result<()> {
        self.tombstone_with::<P, K>(key, &PublishOptions::default())
            .await
    }

    /// As [`App::tombstone`], with [`PublishOptions`]. A producer whose
    /// [`partition_key`](crate::producer::ProducerHooks::partition_key) hook moves messages
    /// away from their key's partition must pass the same partition key here, or compaction
    /// never meets the tombstone and the record it deletes.
    ///
    /// # Errors
    /// As [`App::tombstone`].
    pub async fn tombstone_with<P: Producer, K: Serialize + ?Sized>(
        &self,
        key: &K,
        options: &PublishOptions,
    ) -> Result<()> {
        self.tombstone_via::<P, K>(key, options, Via::Default).await
    }

    /// As [`App::tombstone_with`], writing on `db` with the `db` (outbox) backend (feature
    /// `orm`; see [`App::publish_list_on`]): the tombstone commits or rolls back with the
    /// caller's transaction.
    ///
    /// # Errors
    /// As [`App::tombstone`]; with the `db` backend, [`Error::Database`] when the insert fails.
    #[cfg(feature = "orm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "orm")))]
    pub async fn tombstone_on<P, K, C>(
        &self,
        db: &C,
        key: &K,
        options: &PublishOptions,
    ) -> Result<()>
    where
        P: Producer,
        K: Serialize + ?Sized,
        C: sea_orm::ConnectionTrait,
    {
        self.tombstone_via::<P, K>(key, options, Via::Db(db)).await
    }

    async fn tombstone_via<P: Producer, K: Serialize + ?Sized>(
        &self,
        key: &K,
        options: &PublishOptions,
        via: Via<'_>,
    ) -> Result<()> {
        if self.disabled::<P>() {
            return Ok(());
        }
        let topic = self.call_topic(P::TOPIC, options);
        let key_value = crate::schema::to_avro_value(key).map_err(|source| Error::Encode {
            topic: topic.clone(),
            schema: P::SCHEMA.full_name(),
            what: "key",
            source,
        })?;
        let (decoded_key, key) = self
            .inner
            .codec
            .encode_key(&topic, &P::SCHEMA, &P::KEY_CONFIG, key_value)
            .await?;
        let message = ProducedMessage {
            topic: Arc::from(topic.as_str()),
            key: Some(key.into()),
            payload: None,
            decoded_key: Some(decoded_key),
            decoded_payload: None,
            headers: options.headers.clone(),
            partition_key: options.partition_key.clone(),
        };
        self.send_with(
            std::any::type_name::<P>(),
            &topic,
            vec![message],
            options,
            via,
        )
        .await
    }

    /// Hands `messages` to the backend a call uses (Deimos' `determine_backend_class`): the
    /// synchronous [`kafka_backend`](Self::kafka_backend) for `force_send` with the `db` or
    /// `kafka_async` backend, and for `sync` with `kafka_async`; the configured backend
    /// otherwise.
    ///
    /// With the `db` backend and a caller's connection (`via`), the messages are written on
    /// that connection.
    async fn produce_via(
        &self,
        producer: &str,
        messages: &[ProducedMessage],
        options: &PublishOptions,
        via: Via<'_>,
    ) -> Result<()> {
        let bypass = match self.inner.config.producers.backend {
            ProducerBackendKind::Db => options.force_send,
            ProducerBackendKind::KafkaAsync => options.force_send || options.sync,
            _ => false,
        };
        if bypass {
            return self.kafka_backend()?.produce_from(producer, messages).await;
        }
        #[cfg(feature = "orm")]
        if let (Via::Db(db), Some(outbox)) = (via, &self.inner.outbox) {
            return outbox.insert(db, messages).await;
        }
        let _ = via;
        self.inner.producer.produce_from(producer, messages).await
    }

    /// Hands encoded messages to the producer backend, with Deimos' instrumentation around
    /// it: the `encode_messages` event before; after, the `produce` event and the `publish`
    /// counter (tagged `topic`, incremented by the message count), or the `produce_error`
    /// event and the `publish_error` counter (for [`Error::BufferOverflow`], the messages
    /// queued before the overflow count in `publish`, the rest in `publish_error`). For
    /// `kafka_async`, success means queued: a
    /// later delivery failure is reported by the backend itself (see
    /// [`KafkaAsyncBackend`]).
    pub(crate) async fn send_with(
        &self,
        producer: &str,
        topic: &str,
        messages: Vec<ProducedMessage>,
        options: &PublishOptions,
        via: Via<'_>,
    ) -> Result<()> {
        use crate::events::{emit, Event};
        emit(&Event::EncodeMessages {
            producer,
            topic,
            messages: &messages,
        });
        let count = messages.len() as u64;
        let outcome = self.produce_via(producer, &messages, options, via).await;
        match outcome {
            Ok(()) => {
                metrics::counter!("publish", "status" => "success", "topic" => topic.to_owned())
                    .increment(count);
                emit(&Event::Produce {
                    producer,
                    topic,
                    messages: &messages,
                });
                Ok(())
            }
            Err(error) => {
                // kafka_async: the messages queued before a full queue are still delivered.
                let queued = match &error {
                    Error::BufferOverflow { queued, .. } => *queued as u64,
                    _ => 0,
                };
                if queued > 0 {
                    metrics::counter!("publish", "status" => "success", "topic" => topic.to_owned()).increment(queued);
                }
                metrics::counter!("publish_error", "topic" => topic.to_owned())
                    .increment(count - queued);
                emit(&Event::ProduceError {
                    producer,
                    topic,
                    error: &error,
                    messages: &messages,
                });
                Err(error)
            }
        }
    }

    /// Runs every registered `#[consumer]` (and, feature `orm`, `db_producer.workers` outbox
    /// workers and the declared [database pollers](crate::poller)) until SIGINT, SIGTERM or [`request_shutdown`], then shuts down gracefully:
    /// each consumer finishes the message in flight, commits what was handled and leaves its
    /// group; the outbox workers finish their batch; then the producer is flushed.
    ///
    /// # Errors
    /// The first consumer that could not start or failed fatally (the others are stopped
    /// first); with `db_producer.workers`, as [`App::start_db_backend`].
    pub async fn run(&self) -> Result<()> {
        self.run_until(async {
            tokio::select! {
                () = shutdown_signal() => {},
                () = shutdown_requested() => tracing::info!("shutdown requested"),
            }
        })
        .await
    }

    /// As [`App::run`], but stops when `shutdown` completes (or on a failing consumer).
    ///
    /// # Errors
    /// As [`App::run`].
    pub async fn run_until<F: Future<Output = ()>>(&self, shutdown: F) -> Result<()> {
        self.run_consumers_until(consumer::registered(), shutdown)
            .await
    }

    /// Runs the given registrations (see [`consumer::registered`] and
    /// [`consumer::registration`]) until `shutdown` completes.
    ///
    /// # Errors
    /// As [`App::run`].
    pub async fn run_consumers_until<F: Future<Output = ()>>(
        &self,
        registrations: impl IntoIterator<Item = &'static ConsumerRegistration>,
        shutdown: F,
    ) -> Result<()> {
        CONSUMER_PROCESS.store(true, Ordering::SeqCst);
        consumer::check_override_names(&self.inner.config, &consumer::registered())?;
        // Resolve every consumer's settings first: a bad one starts nothing.
        let mut resolved = Vec::new();
        for reg in registrations {
            let settings = consumer::ResolvedConsumer::resolve(&self.inner.config, reg)?;
            if settings.disabled {
                tracing::info!(consumer = reg.name, "consumer disabled; not started");
                continue;
            }
            resolved.push((reg, Arc::new(settings)));
        }
        // Outbox workers (`db_producer.workers`), stopped after the consumers.
        #[cfg(feature = "orm")]
        let outbox_workers = match self.inner.config.db_producer.workers {
            0 => None,
            n => Some(self.start_db_backend(n)?),
        };
        // Database pollers (`[[db_poller]]`, `add_db_poller`), stopped after the consumers and
        // before the outbox workers they may write for.
        #[cfg(feature = "orm")]
        let pollers = if self.has_db_pollers() {
            match self.start_db_pollers() {
                Ok(pollers) => Some(pollers),
                Err(e) => {
                    if let Some(workers) = outbox_workers {
                        workers.shutdown().await;
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for (reg, settings) in resolved {
            for instance in 0..settings.max_concurrency {
                let inner = self.inner.clone();
                let rx = stop_rx.clone();
                let settings = settings.clone();
                let app = App {
                    inner: inner.clone(),
                };
                tasks.spawn(CURRENT.scope(app, async move {
                    consumer::run_consumer(&inner, reg, &settings, instance, rx).await
                }));
            }
        }
        tokio::pin!(shutdown);
        let mut result = Ok(());
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                joined = tasks.join_next() => match joined {
                    None => {
                        // No consumers (or all finished): wait for shutdown only.
                        (&mut shutdown).await;
                        break;
                    }
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { result = Err(e); break; }
                    Some(Err(join)) => {
                        result = Err(Error::Runtime { reason: format!("a consumer task ended abnormally: {join}") });
                        break;
                    }
                },
            }
        }
        tracing::info!("shutting down consumers");
        let _ = stop_tx.send(true);
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                result = result.and(Err(e));
            }
        }
        #[cfg(feature = "orm")]
        if let Some(pollers) = pollers {
            tracing::info!("shutting down database pollers");
            pollers.shutdown().await;
        }
        #[cfg(feature = "orm")]
        if let Some(workers) = outbox_workers {
            tracing::info!("shutting down outbox workers");
            workers.shutdown().await;
        }
        if let Err(e) = self.shutdown_producers().await {
            result = result.and(Err(e));
        }
        result
    }

    /// Creates topics that do not exist yet (`name`, partition count), replication factor 1
    /// for a single-broker development cluster or the cluster default otherwise. Existing
    /// topics are left as they are. Deimos leaves topic creation to operators; this is for
    /// development clusters and brokers without auto-creation (tansu).
    ///
    /// # Errors
    /// [`Error::Kafka`] when the admin request fails for another reason than "already exists".
    pub async fn create_topics(&self, topics: &[(&str, i32)]) -> Result<()> {
        let client = self.inner.config.kafka_client_config();
        let admin: AdminClient<DefaultClientContext> = client.create().map_err(|e| {
            let e = crate::config::secret::redact_client_error(e, &client);
            Error::kafka("creating the admin client", e)
        })?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(-1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&new, &opts)
            .await
            .map_err(|e| Error::kafka("creating topics", e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(Error::kafka(
                        format!("creating topic `{topic}`"),
                        rdkafka::error::KafkaError::AdminOp(code),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
