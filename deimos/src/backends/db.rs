//! The `db` backend (Deimos' transactional outbox): accepted in the configuration, not
//! implemented yet.

use super::{ProducedMessage, ProducerBackend};
use crate::error::{Error, Result};

/// Deimos' `db` backend: `publish` would insert the encoded messages into the `kafka_messages`
/// table in the caller's database transaction, and outbox workers would send them to Kafka.
///
/// Not available yet: `producers.backend = "db"` is accepted, but every `produce` returns
/// [`Error::BackendUnavailable`]. Publishing with `force_send` bypasses the backend and sends
/// straight to Kafka through [`App::kafka_backend`](crate::App::kafka_backend), as in Deimos.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DbBackend;

impl DbBackend {
    /// The outbox backend.
    pub fn new() -> Self {
        DbBackend
    }
}

/// Why the `db` backend refuses (the `reason` of its [`Error::BackendUnavailable`]).
const UNAVAILABLE: &str = "the transactional outbox (the `kafka_messages` table \
    and its sender) is not available yet; publish with `force_send` to send straight to Kafka, \
    or set `producers.backend` to `kafka` or `kafka_async`";

#[async_trait::async_trait]
impl ProducerBackend for DbBackend {
    /// # Errors
    /// Always [`Error::BackendUnavailable`] (`backend = "db"`), naming the topic of the first
    /// message; nothing is stored or sent.
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        Err(Error::BackendUnavailable {
            backend: "db",
            topic: messages
                .first()
                .map(|m| m.topic.to_string())
                .unwrap_or_default(),
            reason: UNAVAILABLE.to_owned(),
        })
    }
}
