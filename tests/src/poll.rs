//! The database poller as tests see it: the `poll_items` entity and its entity producer
//! (`PollItemProducer`, topic `poll-items`, schema `com.example.Gadget`), an app on a test
//! database with `poll_info` and `poll_items` created, and readers of what was published.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deimos::orm::EntityProducerHooks;
use deimos::poller::{DbPollerConfig, PollWindow};
use deimos::{App, Config, Payload, PayloadValue};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, Select, Statement};
use sea_orm_migration::SchemaManager;

use crate::db::TestDb;
use crate::{read_topic, test_config, Broker};

/// The topic `PollItemProducer` publishes to.
pub const TOPIC: &str = "poll-items";

/// `poll_items` rows on topic `poll-items`, keyed by `id`. Hooks: a row named `poison` gets a
/// price that does not fit the schema (its encoding fails); rows named `hidden` are left out of
/// every poll (a `poll_query` hook).
#[deimos::producer(
    topic = "poll-items",
    schema = "com.example.Gadget",
    key_config(field = "id"),
    entity = poll_item::Entity,
    hooks
)]
#[derive(Debug)]
pub struct PollItemProducer;

impl EntityProducerHooks for PollItemProducer {
    fn generate_payload(mut attributes: Payload, model: Option<&poll_item::Model>) -> Payload {
        if model.is_some_and(|m| m.name == "poison") {
            attributes.insert("price", PayloadValue::String("not a number".into()));
        }
        attributes
    }

    fn poll_query(window: &PollWindow<poll_item::Entity>) -> Select<poll_item::Entity> {
        use sea_orm::ColumnTrait as _;
        window
            .default_query()
            .filter(poll_item::Column::Name.ne("hidden"))
    }
}

/// The `poll_items` entity: an explicit `i64` key, `updated_at` with a zone, and a publishing
/// state for state-based polling.
#[allow(missing_docs)]
pub mod poll_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "poll_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
        pub price: f64,
        pub updated_at: DateTimeUtc,
        pub state: Option<String>,
        pub published_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `poll_naive_items` rows (a timestamp column without a zone, as Rails makes `updated_at`) on
/// topic `poll-naive-items`, keyed by `id`.
#[deimos::producer(
    topic = "poll-naive-items",
    schema = "com.example.Gadget",
    key_config(field = "id"),
    entity = poll_naive_item::Entity
)]
#[derive(Debug)]
pub struct PollNaiveItemProducer;

/// The `poll_naive_items` entity: `updated_at` is a `DateTime` without a zone, read as UTC.
#[allow(missing_docs)]
pub mod poll_naive_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "poll_naive_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
        pub price: f64,
        pub updated_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A `poll_items` row.
pub fn item(id: i64, name: &str, updated_at: DateTime<Utc>) -> poll_item::ActiveModel {
    use sea_orm::Set;
    poll_item::ActiveModel {
        id: Set(id),
        name: Set(name.to_owned()),
        price: Set(id as f64),
        updated_at: Set(updated_at),
        state: Set(None),
        published_at: Set(None),
    }
}

/// Inserts `rows` on `db`.
///
/// # Panics
/// When the insert fails.
pub async fn insert(db: &impl ConnectionTrait, rows: Vec<poll_item::ActiveModel>) {
    poll_item::Entity::insert_many(rows)
        .exec(db)
        .await
        .expect("insert poll_items");
}

/// Creates `poll_info` (the crate's migration) and `poll_items` on `t`.
///
/// # Panics
/// When a statement fails.
pub async fn prepare(t: &TestDb) {
    let manager = SchemaManager::new(&t.conn);
    for migration in deimos::poller::migrations() {
        migration
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("poller migration {}: {e}", migration.name()));
    }
    t.create_table(poll_item::Entity).await;
}

/// An app on `t`'s database (kafka backend, the embedded or real `broker`), changed by
/// `tune`.
///
/// # Panics
/// When the configuration is refused.
pub fn poller_app(broker: &Broker, t: &TestDb, tune: impl FnOnce(&mut Config)) -> App {
    let mut config = test_config(broker);
    tune(&mut config);
    let app = App::from_config(config).unwrap();
    app.set_database(t.conn.clone());
    app
}

/// A poller of `PollItemProducer` polling every 100 ms, with `delay_time` 0 unless changed.
pub fn fast_poller() -> DbPollerConfig {
    let mut config = DbPollerConfig::new("PollItemProducer");
    config.run_every = Duration::from_millis(100);
    config.delay_time = Duration::ZERO;
    config
}

/// The ids of the items on `topic`, in offset order (a duplicate shows twice).
///
/// # Panics
/// When a value is not a `com.example.Gadget`.
pub async fn published_ids(broker: &Broker) -> Vec<i64> {
    published_ids_on(broker, TOPIC).await
}

/// The ids of the items on `topic`, in offset order.
///
/// # Panics
/// When a value is not a `com.example.Gadget`.
pub async fn published_ids_on(broker: &Broker, topic: &str) -> Vec<i64> {
    let schema = apache_avro::Schema::parse_str(
        &std::fs::read_to_string(crate::schema_dir().join("com/example/Gadget.avsc")).unwrap(),
    )
    .unwrap();
    read_topic(broker, topic)
        .await
        .into_iter()
        .map(|r| {
            let value = apache_avro::from_avro_datum(
                &schema,
                &mut r.payload.expect("a value").as_slice(),
                None,
            )
            .unwrap();
            match value {
                apache_avro::types::Value::Record(fields) => fields
                    .into_iter()
                    .find_map(|(name, v)| match (name.as_str(), v) {
                        ("id", apache_avro::types::Value::Long(id)) => Some(id),
                        _ => None,
                    })
                    .expect("an id"),
                other => panic!("not a record: {other:?}"),
            }
        })
        .collect()
}

/// Waits until at least `n` items are on the topic; their ids.
///
/// # Panics
/// When fewer arrived within `within`.
pub async fn wait_for(broker: &Broker, n: usize, within: Duration) -> Vec<i64> {
    let start = Instant::now();
    loop {
        let ids = published_ids(broker).await;
        if ids.len() >= n {
            return ids;
        }
        assert!(
            start.elapsed() < within,
            "{} of {n} items published after {within:?}: {ids:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `poll_info` row of `poller`: `(last_sent_id, last_polled_at is set, locked_by)`.
///
/// # Panics
/// When there is no such row.
pub async fn poll_info(t: &TestDb, poller: &str) -> (Option<String>, bool, Option<String>) {
    let sql = format!(
        "SELECT last_sent_id, last_polled_at IS NOT NULL AS polled, locked_by FROM poll_info \
         WHERE poller = '{poller}'"
    );
    let row = t
        .conn
        .query_one_raw(Statement::from_string(t.backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no poll_info row `{poller}`"));
    let polled: bool = row
        .try_get_by_index::<bool>(1)
        .or_else(|_| row.try_get_by_index::<i64>(1).map(|v| v != 0))
        .or_else(|_| row.try_get_by_index::<i32>(1).map(|v| v != 0))
        .unwrap();
    (
        row.try_get_by_index(0).unwrap(),
        polled,
        row.try_get_by_index(2).unwrap(),
    )
}
