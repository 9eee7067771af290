//! `#[kafka_source]` (Deimos' `KafkaSource`) on SQLite, PostgreSQL and MariaDB: inserts,
//! updates of watched attributes and deletes publish through every entity producer of the
//! entity, the entity's own SeaORM hooks still run, `deletion_payload` overrides the tombstone,
//! `Entity::import` publishes one message per row and producer, a failed publish fails the save,
//! and with the `kafka` backend messages reach the broker while the transaction is still open.

use std::sync::atomic::Ordering;

use apache_avro::types::Value;
use deimos::config::ProducerBackendKind;
use deimos::orm::{EntityProducer, ImportMode};
use deimos::{App, Config, Error};
use deimos_tests::db::{Db, TestDb};
use deimos_tests::read::read_topic;
use deimos_tests::source::{
    gadget, new_gadget, shelf, GadgetPriceProducer, GadgetProducer, ShelfProducer, GADGET_DELETES,
    SHELF_DELETES,
};
use deimos_tests::{test_config, Broker};
use sea_orm::{
    ActiveModelTrait, EntityTrait, IntoActiveModel, PaginatorTrait, Set, TransactionTrait,
};

fn app() -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    App::from_config(config).unwrap()
}

/// `(topic, decoded key, decoded value)` of each message the test backend captured.
fn sent(app: &App) -> Vec<(String, Option<Value>, Option<Value>)> {
    app.test_backend()
        .unwrap()
        .sent_messages()
        .into_iter()
        .map(|m| (m.topic.to_string(), m.decoded_key, m.decoded_payload))
        .collect()
}

/// A field of a decoded record value.
fn field<'a>(value: &'a Option<Value>, name: &str) -> &'a Value {
    let Some(Value::Record(fields)) = value else {
        panic!("not a record: {value:?}")
    };
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

#[tokio::test]
async fn inserts_watched_updates_and_deletes_publish_through_each_producer() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(gadget::Entity).await;
        let app = app();
        let conn = &t.conn;
        app.scope(async {
            // Insert: both producers, with the id the database generated and the
            // `updated_at` the entity's own `before_save` stamped.
            let lamp = new_gadget("lamp", 10.0).insert(conn).await.unwrap();
            let messages = sent(&app);
            assert_eq!(messages.len(), 2, "{db:?}: {messages:?}");
            assert_eq!(messages[0].0, "gadgets");
            assert_eq!(messages[1].0, "gadget-prices");
            for (_, key, value) in &messages {
                assert_eq!(key, &Some(Value::Long(lamp.id)), "{db:?}");
                assert_eq!(field(value, "id"), &Value::Long(lamp.id));
                assert_eq!(field(value, "name"), &Value::String("lamp".into()));
                assert_eq!(
                    field(value, "updated_at"),
                    &Value::TimestampMillis(lamp.updated_at.timestamp_millis())
                );
            }

            // The price is watched by both.
            let mut edit = lamp.clone().into_active_model();
            edit.price = Set(12.5);
            let lamp = edit.update(conn).await.unwrap();
            let messages = sent(&app);
            assert_eq!(messages.len(), 4, "{db:?}: {messages:?}");
            assert_eq!(messages[2].0, "gadgets");
            assert_eq!(messages[3].0, "gadget-prices");
            assert_eq!(field(&messages[3].2, "price"), &Value::Double(12.5));

            // The name is watched by `gadgets` only.
            let mut edit = lamp.clone().into_active_model();
            edit.name = Set("desk lamp".into());
            let lamp = edit.update(conn).await.unwrap();
            let messages = sent(&app);
            assert_eq!(messages.len(), 5, "{db:?}: {messages:?}");
            assert_eq!(messages[4].0, "gadgets");
            assert_eq!(
                field(&messages[4].2, "name"),
                &Value::String("desk lamp".into())
            );

            // A column the schema lacks, and `updated_at` alone (the entity's hook sets it on
            // every save): nothing.
            let mut edit = lamp.clone().into_active_model();
            edit.notes = Set("shelf 3".into());
            let lamp = edit.update(conn).await.unwrap();
            let mut edit = lamp.clone().into_active_model();
            edit.updated_at = Set(chrono::Utc::now());
            let lamp = edit.update(conn).await.unwrap();
            assert_eq!(lamp.notes, "shelf 3");
            assert_eq!(sent(&app).len(), 5, "{db:?}: {:?}", sent(&app));

            // `save` of a changed model is an update.
            let mut edit = lamp.clone().into_active_model();
            edit.price = Set(14.0);
            edit.save(conn).await.unwrap();
            assert_eq!(sent(&app).len(), 7, "{db:?}");

            // The entity's own hook refuses an empty name: nothing is written or sent.
            let mut edit = lamp.clone().into_active_model();
            edit.name = Set(String::new());
            let err = edit.update(conn).await.unwrap_err();
            assert!(err.to_string().contains("a gadget needs a name"), "{err}");
            assert_eq!(sent(&app).len(), 7, "{db:?}");
            let row = gadget::Entity::find_by_id(lamp.id).one(conn).await.unwrap();
            assert_eq!(row.unwrap().name, "desk lamp");

            // Delete: a tombstone keyed by the primary key on each topic, after the entity's
            // own `after_delete`.
            let deletes = GADGET_DELETES.load(Ordering::SeqCst);
            let lamp = gadget::Entity::find_by_id(lamp.id)
                .one(conn)
                .await
                .unwrap()
                .unwrap();
            lamp.clone().into_active_model().delete(conn).await.unwrap();
            assert_eq!(GADGET_DELETES.load(Ordering::SeqCst), deletes + 1);
            let messages = sent(&app);
            assert_eq!(messages.len(), 9, "{db:?}: {messages:?}");
            for (i, topic) in [(7, "gadgets"), (8, "gadget-prices")] {
                assert_eq!(messages[i].0, topic);
                assert_eq!(messages[i].1, Some(Value::Long(lamp.id)));
                assert_eq!(messages[i].2, None, "a tombstone");
            }
            // A partial model with only its key deletes the same way.
            let spare = new_gadget("spare", 1.0).insert(conn).await.unwrap();
            let partial = gadget::ActiveModel {
                id: Set(spare.id),
                ..Default::default()
            };
            partial.delete(conn).await.unwrap();
            let messages = sent(&app);
            assert_eq!(messages.len(), 13, "{db:?}");
            assert_eq!(messages[11].1, Some(Value::Long(spare.id)));
            assert_eq!(messages[11].2, None);

            // Bulk statements run no SeaORM hooks (as Rails' `delete` runs no callbacks).
            let other = new_gadget("other", 2.0).insert(conn).await.unwrap();
            gadget::Entity::delete_by_id(other.id)
                .exec(conn)
                .await
                .unwrap();
            assert_eq!(sent(&app).len(), 15, "{db:?}: only the insert's two");
        })
        .await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn deletion_payload_replaces_the_tombstone_and_update_is_off() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(shelf::Entity).await;
        let app = app();
        let conn = &t.conn;
        app.scope(async {
            let row = shelf::ActiveModel {
                warehouse: Set("north".into()),
                sku: Set("BOLT-1".into()),
                quantity: Set(40),
                price: Set(0.25),
                updated_at: Set(chrono::Utc::now()),
            }
            .insert(conn)
            .await
            .unwrap();
            let key = Some(Value::Record(vec![
                ("warehouse".into(), Value::String("north".into())),
                ("sku".into(), Value::String("BOLT-1".into())),
            ]));
            let messages = sent(&app);
            assert_eq!(messages.len(), 1, "{db:?}");
            assert_eq!(messages[0].1, key);
            assert_eq!(field(&messages[0].2, "quantity"), &Value::Int(40));

            // `update` is not among the events: nothing.
            let mut edit = row.clone().into_active_model();
            edit.quantity = Set(39);
            let row = edit.update(conn).await.unwrap();
            assert_eq!(sent(&app).len(), 1, "{db:?}");

            // Delete: the entity's deletion payload, a message with quantity 0.
            let made = SHELF_DELETES.load(Ordering::SeqCst);
            row.into_active_model().delete(conn).await.unwrap();
            assert_eq!(SHELF_DELETES.load(Ordering::SeqCst), made + 1);
            let messages = sent(&app);
            assert_eq!(messages.len(), 2, "{db:?}");
            assert_eq!(messages[1].1, key);
            assert_eq!(field(&messages[1].2, "quantity"), &Value::Int(0));
            assert_eq!(shelf::Entity::find().count(conn).await.unwrap(), 0);
        })
        .await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn the_default_deletion_payload_of_a_compound_key_is_a_tombstone_of_the_key_record() {
    let app = app();
    let active = shelf::ActiveModel {
        warehouse: Set("south".into()),
        sku: Set("NUT-2".into()),
        ..Default::default()
    };
    let payload = deimos::orm::source::deletion_payload(&active).unwrap();
    app.publish_payloads(&ShelfProducer::dynamic(), [payload])
        .await
        .unwrap();
    let messages = sent(&app);
    assert_eq!(
        messages[0].1,
        Some(Value::Record(vec![
            ("warehouse".into(), Value::String("south".into())),
            ("sku".into(), Value::String("NUT-2".into())),
        ]))
    );
    assert_eq!(messages[0].2, None);
    // Without its key, a model has no deletion payload.
    let keyless = shelf::ActiveModel {
        warehouse: Set("south".into()),
        ..Default::default()
    };
    let err = deimos::orm::source::deletion_payload(&keyless).unwrap_err();
    assert!(err.to_string().contains("shelves.sku"), "{err}");
}

#[tokio::test]
async fn import_writes_once_and_publishes_each_row_through_each_producer() {
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(gadget::Entity).await;
        let app = app();
        let conn = &t.conn;
        app.scope(async {
            let at = chrono::DateTime::from_timestamp_millis(1_796_029_200_000).unwrap();
            let models: Vec<gadget::Model> = (101..=103)
                .map(|id| gadget::Model {
                    id,
                    name: format!("g{id}"),
                    price: id as f64,
                    notes: String::new(),
                    updated_at: at,
                })
                .collect();
            gadget::Entity::import(conn, &models, ImportMode::Insert)
                .await
                .unwrap();
            let messages = sent(&app);
            assert_eq!(messages.len(), 6, "{db:?}");
            let topics: Vec<&str> = messages.iter().map(|m| m.0.as_str()).collect();
            assert_eq!(
                topics,
                [
                    "gadgets",
                    "gadgets",
                    "gadgets",
                    "gadget-prices",
                    "gadget-prices",
                    "gadget-prices"
                ]
            );
            assert_eq!(messages[4].1, Some(Value::Long(102)));

            // Upsert: existing rows take the new values, and are published again.
            let repriced: Vec<gadget::Model> = models
                .iter()
                .map(|m| gadget::Model {
                    price: m.price * 2.0,
                    ..m.clone()
                })
                .collect();
            gadget::Entity::import(conn, &repriced, ImportMode::Upsert)
                .await
                .unwrap();
            assert_eq!(sent(&app).len(), 12, "{db:?}");
            let row = gadget::Entity::find_by_id(103).one(conn).await.unwrap();
            assert_eq!(row.unwrap().price, 206.0);

            // Insert of an existing key: an error naming the table, and nothing published.
            let err = gadget::Entity::import(conn, &models[..1], ImportMode::Insert)
                .await
                .unwrap_err();
            assert!(matches!(&err, Error::Database { .. }), "{err:?}");
            assert!(err.to_string().contains("gadgets"), "{err}");
            assert_eq!(sent(&app).len(), 12, "{db:?}");
        })
        .await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_failed_publish_fails_the_save_so_a_transaction_rolls_back() {
    let empty = tempfile::tempdir().unwrap();
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(gadget::Entity).await;
        // No schemas: every publish fails to load `com.example.Gadget`.
        let mut config = Config::default();
        config.schema.path = empty.path().to_owned();
        config.producers.backend = ProducerBackendKind::Test;
        let app = App::from_config(config).unwrap();
        let conn = &t.conn;
        app.scope(async {
            let txn = conn.begin().await.unwrap();
            let err = new_gadget("lamp", 1.0).insert(&txn).await.unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("kafka_source")
                    && text.contains("`gadgets`")
                    && text.contains("com.example.Gadget"),
                "{db:?}: {text}"
            );
            txn.rollback().await.unwrap();
            assert_eq!(gadget::Entity::find().count(conn).await.unwrap(), 0);
            assert!(sent(&app).is_empty());
        })
        .await;
        t.drop_database().await;
    }
}

/// Acceptance: with the `kafka` backend, as in Deimos, a hook's message is delivered while the
/// transaction is still open, and a rollback does not call it back (the outbox backend will
/// make messages part of the transaction).
#[tokio::test(flavor = "multi_thread")]
async fn kafka_backend_delivers_during_the_transaction_and_rollback_keeps_the_message() {
    let broker = Broker::embedded();
    let mut config = test_config(&broker);
    config.producers.backend = ProducerBackendKind::Kafka;
    let app = App::from_config(config).unwrap();
    let mut seen = 0;
    for db in Db::ALL {
        let t = TestDb::create(db).await;
        t.create_table(gadget::Entity).await;
        let conn = &t.conn;
        app.scope(async {
            // Rolled back: the row is gone, its message is not.
            let txn = conn.begin().await.unwrap();
            let lamp = new_gadget("lamp", 1.0).insert(&txn).await.unwrap();
            let records = read_topic(&broker, GadgetProducer::TOPIC).await;
            assert_eq!(
                records.len(),
                seen + 1,
                "{db:?}: delivered before the commit"
            );
            let key = app
                .codec()
                .decode_key(
                    &GadgetProducer::SCHEMA,
                    &GadgetProducer::KEY_CONFIG,
                    records[seen].key.as_deref(),
                    (
                        GadgetProducer::TOPIC,
                        records[seen].partition,
                        records[seen].offset,
                    ),
                )
                .await
                .unwrap();
            assert_eq!(key, Some(Value::Long(lamp.id)), "{db:?}");
            txn.rollback().await.unwrap();
            assert_eq!(gadget::Entity::find().count(conn).await.unwrap(), 0);
            let records = read_topic(&broker, GadgetProducer::TOPIC).await;
            assert_eq!(
                records.len(),
                seen + 1,
                "{db:?}: the rollback recalls nothing"
            );
            assert_eq!(
                read_topic(&broker, GadgetPriceProducer::TOPIC).await.len(),
                seen + 1
            );

            // Committed: the row and its message.
            let txn = conn.begin().await.unwrap();
            new_gadget("desk", 2.0).insert(&txn).await.unwrap();
            txn.commit().await.unwrap();
            assert_eq!(gadget::Entity::find().count(conn).await.unwrap(), 1);
            let records = read_topic(&broker, GadgetProducer::TOPIC).await;
            assert_eq!(records.len(), seen + 2, "{db:?}");
        })
        .await;
        seen += 2;
        t.drop_database().await;
    }
}
