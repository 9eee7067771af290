//! The `db` backend (Deimos' transactional outbox): `publish` writes encoded messages into
//! the `kafka_messages` table; the outbox workers ([`crate::outbox`]) send them.

use super::{ProducedMessage, ProducerBackend};
use crate::error::{Error, Result};

/// Deimos' `db` backend (feature `orm`): `publish` inserts the encoded messages (value, key,
/// partition key, headers) into the `kafka_messages` table, and the outbox workers
/// ([`start_db_backend`](crate::start_db_backend)) send them to Kafka later, in insertion
/// order per topic.
///
/// Which connection the rows are written on:
///
/// - the one the caller passes: [`App::publish_list_on`](crate::App::publish_list_on),
///   [`App::publish_payloads_on`](crate::App::publish_payloads_on),
///   [`PublishOn`](crate::outbox::PublishOn), entity producers'
///   [`send_records`](crate::orm::send_records), and the `#[kafka_source]` hooks, which pass
///   the connection or transaction the row was written on. In a transaction the messages
///   commit or roll back with it;
/// - otherwise (plain `publish`) the app's database ([`App::set_database`](crate::App::set_database)),
///   in a statement of its own.
///
/// Publishing with `force_send` bypasses the outbox and sends straight to Kafka through
/// [`App::kafka_backend`](crate::App::kafka_backend), as in Deimos. Each write counts the
/// `db_producer.insert` metric (tagged `topic`) by the number of rows.
///
/// Without the `orm` feature every `produce` returns [`Error::BackendUnavailable`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DbBackend {
    #[cfg(feature = "orm")]
    pub(crate) database: std::sync::Arc<std::sync::RwLock<Option<sea_orm::DatabaseConnection>>>,
    #[cfg(feature = "orm")]
    pub(crate) config: crate::config::DbProducerConfig,
}

impl DbBackend {
    /// An outbox backend with no database yet (see
    /// [`App::set_database`](crate::App::set_database)) and the default `db_producer`
    /// settings.
    pub fn new() -> Self {
        DbBackend::default()
    }
}

#[cfg(feature = "orm")]
impl DbBackend {
    /// Writes `messages` into `kafka_messages` on `db`, in order, and counts
    /// `db_producer.insert`.
    ///
    /// # Errors
    /// [`Error::Database`] naming the topic and table when the insert fails.
    pub(crate) async fn insert(
        &self,
        db: &dyn crate::outbox::OutboxConn,
        messages: &[ProducedMessage],
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = messages
            .iter()
            .map(|m| crate::outbox::new_row(&self.config, m))
            .collect();
        crate::outbox::store::insert(db, &rows).await?;
        // Calls are per topic, but a topic override could mix: count per topic.
        let mut counts: Vec<(&str, u64)> = Vec::new();
        for m in messages {
            match counts.iter_mut().find(|(t, _)| *t == &*m.topic) {
                Some((_, n)) => *n += 1,
                None => counts.push((&m.topic, 1)),
            }
        }
        for (topic, n) in counts {
            metrics::counter!("db_producer.insert", "topic" => topic.to_owned()).increment(n);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ProducerBackend for DbBackend {
    /// Writes `messages` into the outbox on the app's database (see [`DbBackend`]).
    ///
    /// # Errors
    /// [`Error::Config`] (key `database`) when no database was set; [`Error::Database`] when
    /// the insert fails. Without the `orm` feature, [`Error::BackendUnavailable`].
    async fn produce(&self, messages: &[ProducedMessage]) -> Result<()> {
        #[cfg(feature = "orm")]
        {
            let db = self
                .database
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .ok_or_else(|| {
                    Error::config(
                        "database",
                        "the `db` producer backend writes into `kafka_messages` on the app's \
                         database, and none is set: call `App::set_database(connection)`, or \
                         publish on a connection with `publish_list_on`",
                    )
                })?;
            self.insert(&db, messages).await
        }
        #[cfg(not(feature = "orm"))]
        {
            Err(Error::BackendUnavailable {
                backend: "db",
                topic: messages
                    .first()
                    .map(|m| m.topic.to_string())
                    .unwrap_or_default(),
                reason: "the transactional outbox needs deimos' `orm` feature (SeaORM); \
                         publish with `force_send` to send straight to Kafka, or set \
                         `producers.backend` to `kafka` or `kafka_async`"
                    .to_owned(),
            })
        }
    }
}
