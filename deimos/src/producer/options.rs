//! Per-call publish options (Deimos' `publish_list(payloads, force_send:, topic:, headers:)`
//! keyword arguments, plus a partition key).

/// Options for one `publish` / `publish_list` call. Build with the methods:
///
/// ```
/// use deimos::producer::PublishOptions;
///
/// let options = PublishOptions::new()
///     .topic("widgets-replay")
///     .partition_key("shop-7")
///     .header("source", "backfill");
/// assert_eq!(options.topic.as_deref(), Some("widgets-replay"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishOptions {
    /// Publish to this topic instead of the producer's (Deimos' `topic:`).
    /// `producers.topic_prefix` is still prepended.
    pub topic: Option<String>,
    /// Bypass the `db` (outbox) or `kafka_async` backend and send straight to Kafka, awaiting
    /// delivery, through [`App::kafka_backend`](crate::App::kafka_backend) (Deimos'
    /// `force_send: true`). No effect with `kafka` (already that) and `test` (tests capture
    /// everything).
    pub force_send: bool,
    /// With the `kafka_async` backend, await delivery of this call's messages (Deimos'
    /// `sync: true`): they go through the synchronous
    /// [`App::kafka_backend`](crate::App::kafka_backend), a second librdkafka producer, so
    /// they are not ordered with messages still queued by `kafka_async`. No effect with the
    /// other backends.
    pub sync: bool,
    /// Partition key for every message of the call, instead of the producer's
    /// [`partition_key`](crate::producer::ProducerHooks::partition_key) hook. See that hook for
    /// how the partition is chosen.
    pub partition_key: Option<String>,
    /// Headers added to every message of the call, after the producer's
    /// [`headers`](crate::producer::ProducerHooks::headers) hook's (Deimos' `headers:`).
    /// Header names may repeat (Kafka headers are a list).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl PublishOptions {
    /// No options: the producer's topic, the configured backend, no partition key or headers.
    pub fn new() -> Self {
        PublishOptions::default()
    }

    /// Sets [`topic`](Self::topic).
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets [`force_send`](Self::force_send).
    #[must_use]
    pub fn force_send(mut self, force_send: bool) -> Self {
        self.force_send = force_send;
        self
    }

    /// Sets [`sync`](Self::sync).
    #[must_use]
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// Sets [`partition_key`](Self::partition_key).
    #[must_use]
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Appends one header to [`headers`](Self::headers).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}
