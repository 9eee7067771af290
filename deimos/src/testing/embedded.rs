//! An embedded Kafka broker over librdkafka's mock cluster.

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaErrorCode, RDKafkaRespErr};

use crate::error::{Error, Result};

/// A Kafka cluster inside this process: librdkafka's mock cluster (`rd_kafka_mock_cluster_new`),
/// listening on real loopback sockets, with topics, partitions, consumer groups and offset
/// commits. Any Kafka client, in this process or another, can connect to
/// [`bootstrap_servers`](Self::bootstrap_servers).
///
/// For development and tests only: it keeps everything in memory and stops when dropped.
/// Unlike a default Apache Kafka broker it creates unknown topics on first use (with
/// librdkafka's default of 4 partitions); [`create_topic`](Self::create_topic) chooses the
/// partition count. Brokers have ids 1 to the broker count;
/// [`broker_down`](Self::broker_down) / [`broker_up`](Self::broker_up) simulate an outage,
/// and [`push_request_errors`](Self::push_request_errors) makes the next requests of one kind
/// fail with chosen errors.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl std::fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl EmbeddedKafka {
    /// Starts a one-broker cluster.
    ///
    /// # Errors
    /// [`Error::Embedded`] when librdkafka cannot create the mock cluster.
    pub fn start() -> Result<Self> {
        Self::with_brokers(1)
    }

    /// Starts a cluster of `brokers` brokers.
    ///
    /// # Errors
    /// [`Error::Embedded`] when librdkafka cannot create the mock cluster.
    pub fn with_brokers(brokers: i32) -> Result<Self> {
        let cluster = MockCluster::new(brokers).map_err(|source| Error::Embedded { source })?;
        let bootstrap = cluster.bootstrap_servers();
        tracing::info!(bootstrap = %bootstrap, "embedded kafka (librdkafka mock cluster) started");
        Ok(EmbeddedKafka { cluster, bootstrap })
    }

    /// `host:port,...` to put in `kafka.brokers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The brokers as a list, for [`KafkaConfig::brokers`](crate::config::KafkaConfig::brokers).
    pub fn brokers(&self) -> Vec<String> {
        self.bootstrap.split(',').map(str::to_owned).collect()
    }

    /// Stops broker `id` (1 to the broker count; -1 for all) as if it went down: librdkafka's
    /// `rd_kafka_mock_broker_set_down` closes its client connections and refuses new ones, and
    /// no other broker takes over its partitions (no leader change). Clients see the broker
    /// as unreachable: producers keep messages queued until `message.timeout.ms`
    /// (`producers.delivery_timeout`) and keep reconnecting. Topics and messages are kept.
    ///
    /// # Errors
    /// [`Error::Embedded`] when the mock cluster refuses (no broker `id`).
    pub fn broker_down(&self, id: i32) -> Result<()> {
        self.cluster
            .broker_down(id)
            .map_err(|source| Error::Embedded { source })
    }

    /// Lets broker `id` (or -1 for all) accept connections again after
    /// [`broker_down`](Self::broker_down) (`rd_kafka_mock_broker_set_up`). Clients reconnect on
    /// their next attempt (librdkafka backs off up to `reconnect.backoff.max.ms`: 1 s in
    /// deimos' producers, 10 s by librdkafka's default in other clients).
    ///
    /// # Errors
    /// [`Error::Embedded`] when the mock cluster refuses (no broker `id`).
    pub fn broker_up(&self, id: i32) -> Result<()> {
        self.cluster
            .broker_up(id)
            .map_err(|source| Error::Embedded { source })
    }

    /// Makes the next `errors.len()` requests of kind `api_key` fail, one error each, in order
    /// (librdkafka's `rd_kafka_mock_push_request_errors_array`). The errors go onto one stack
    /// per request kind shared by every broker of the cluster and every client connected to
    /// it: each request of that kind, from whichever client, takes the next error, until the
    /// stack is empty. A second call appends to the stack.
    ///
    /// A failed request is answered with the error instead of being served: a `Produce`
    /// request writes nothing and every partition in it gets the error. Clients react as to a
    /// real broker's error code. librdkafka's producer retries a produce request refused with
    /// a retriable error (e.g. [`RDKafkaErrorCode::NotEnoughReplicas`],
    /// [`RDKafkaErrorCode::RequestTimedOut`]) up to `retries` times (`producers.max_retries`,
    /// counted per message), waiting `retry.backoff.ms` (`producers.retry_backoff`) before
    /// each retry, and reports the error for the message once they are used up; it fails a
    /// non-retriable one (e.g. [`RDKafkaErrorCode::TopicAuthorizationFailed`]) at once.
    /// [`RDKafkaErrorCode::BrokerTransportFailure`] makes the broker close the connection
    /// instead of answering. Errors left on the stack are dropped with the cluster.
    ///
    /// # Errors
    /// [`Error::Embedded`] with [`RDKafkaErrorCode::InvalidArgument`] when a code has no
    /// librdkafka error number (none of the public codes lacks one).
    pub fn push_request_errors(
        &self,
        api_key: RDKafkaApiKey,
        errors: &[RDKafkaErrorCode],
    ) -> Result<()> {
        let errors = errors
            .iter()
            .map(|&code| {
                RDKafkaRespErr::try_from(code as i32).map_err(|_| Error::Embedded {
                    source: KafkaError::MockCluster(RDKafkaErrorCode::InvalidArgument),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.cluster.request_errors(api_key, &errors);
        Ok(())
    }

    /// Makes broker `id` (1 to the broker count; -1 for all) answer every request `delay` late
    /// (`rd_kafka_mock_broker_set_rtt`): a slow network or a loaded broker. A produce request
    /// is written at once and acknowledged `delay` later, so a test can act between the two.
    /// `Duration::ZERO` restores immediate answers.
    ///
    /// # Errors
    /// [`Error::Embedded`] when the mock cluster refuses (no broker `id`).
    pub fn broker_round_trip_time(&self, id: i32, delay: std::time::Duration) -> Result<()> {
        self.cluster
            .broker_round_trip_time(id, delay)
            .map_err(|source| Error::Embedded { source })
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1).
    ///
    /// # Errors
    /// [`Error::Embedded`] when the mock cluster refuses (e.g. the topic exists).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .map_err(|source| Error::Embedded { source })
    }
}
