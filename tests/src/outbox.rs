//! The outbox tables as tests see them: migrating them with the crate's own migrations, and
//! reading `kafka_messages` and `kafka_topic_info` back with plain SQL.

use std::time::Duration;

use deimos::config::ProducerBackendKind;
use deimos::{App, Config};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::SchemaManager;

use crate::db::TestDb;
use crate::{test_config, Broker};

/// An app with the `db` backend on `t`'s database, polling every 50 ms, changed by `tune`.
///
/// # Panics
/// When the configuration is refused.
pub fn outbox_app(broker: &Broker, t: &TestDb, tune: impl FnOnce(&mut Config)) -> App {
    let mut config = test_config(broker);
    config.producers.backend = ProducerBackendKind::Db;
    config.db_producer.poll_interval = Duration::from_millis(50);
    tune(&mut config);
    let app = App::from_config(config).unwrap();
    app.set_database(t.conn.clone());
    app
}

/// Runs `deimos::outbox::migrations()` (their `up`) on `conn`, as a user's `Migrator` would.
///
/// # Panics
/// When a migration fails.
pub async fn migrate(conn: &DatabaseConnection) {
    let manager = SchemaManager::new(conn);
    for migration in deimos::outbox::migrations() {
        migration
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("outbox migration {}: {e}", migration.name()));
    }
}

/// One `kafka_messages` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Its id.
    pub id: i64,
    /// Its topic.
    pub topic: String,
    /// Its shard.
    pub shard: i32,
    /// The encoded key.
    pub key: Option<Vec<u8>>,
    /// The encoded value (`None`: a tombstone).
    pub message: Option<Vec<u8>>,
    /// The partition key.
    pub partition_key: Option<String>,
    /// The encoded headers.
    pub headers: Option<Vec<u8>>,
}

/// Every `kafka_messages` row, by id.
///
/// # Panics
/// When the query fails.
pub async fn rows(conn: &impl ConnectionTrait) -> Vec<OutboxRow> {
    let sql = "SELECT id, topic, shard, \"key\", message, partition_key, headers \
               FROM kafka_messages ORDER BY id";
    let backend = conn.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::MySql {
        sql.replace('"', "`")
    } else {
        sql.to_owned()
    };
    conn.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("reading kafka_messages")
        .iter()
        .map(|r| OutboxRow {
            id: r.try_get_by_index(0).unwrap(),
            topic: r.try_get_by_index(1).unwrap(),
            shard: r.try_get_by_index(2).unwrap(),
            key: r.try_get_by_index(3).unwrap(),
            message: r.try_get_by_index(4).unwrap(),
            partition_key: r.try_get_by_index(5).unwrap(),
            headers: r.try_get_by_index(6).unwrap(),
        })
        .collect()
}

/// One `kafka_topic_info` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic.
    pub topic: String,
    /// The shard.
    pub shard: i32,
    /// The lock holder.
    pub locked_by: Option<String>,
    /// Whether the last send failed.
    pub error: bool,
    /// Failures in a row.
    pub retries: i32,
    /// Whether `last_processed_at` is set.
    pub processed: bool,
}

/// Every `kafka_topic_info` row, by topic and shard.
///
/// # Panics
/// When the query fails.
pub async fn topic_info(conn: &impl ConnectionTrait) -> Vec<TopicInfo> {
    let sql = "SELECT topic, shard, locked_by, error, retries, last_processed_at IS NOT NULL \
               FROM kafka_topic_info ORDER BY topic, shard";
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("reading kafka_topic_info")
        .iter()
        .map(|r| TopicInfo {
            topic: r.try_get_by_index(0).unwrap(),
            shard: r.try_get_by_index(1).unwrap(),
            locked_by: r.try_get_by_index(2).unwrap(),
            error: r.try_get_by_index(3).unwrap(),
            retries: r.try_get_by_index(4).unwrap(),
            processed: r
                .try_get_by_index::<bool>(5)
                .or_else(|_| r.try_get_by_index::<i64>(5).map(|n| n != 0))
                .or_else(|_| r.try_get_by_index::<i32>(5).map(|n| n != 0))
                .unwrap(),
        })
        .collect()
}
