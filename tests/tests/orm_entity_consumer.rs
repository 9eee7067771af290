//! Entity consumers (`#[consumer(.., entity = ..)]`, Deimos' `ActiveRecordConsumer`) on
//! SQLite, PostgreSQL and MariaDB: the key finds the row, matching payload fields are written
//! (created or updated), a tombstone deletes, and the hooks (`process_message`,
//! `fetch_record`, `assign_key`, `destroy_record`, `record_attributes`) change each step. One
//! test runs the consumers through the embedded broker end to end.

use std::collections::BTreeMap;
use std::time::Duration;

use apache_avro::types::Value;
use chrono::{NaiveDate, TimeZone, Utc};
use deimos::orm::{consume, EntityConsumerHooks, EntityProducer as _};
use deimos::producer::PublishOptions;
use deimos::{payload, App, BoxError, Metadata, Payload, PayloadValue};
use deimos_tests::db::{Db, TestDb};
use deimos_tests::product;
use deimos_tests::{Broker, Running};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

/// Plain entity consumer: every default.
#[deimos::consumer(
    topic = "products-in",
    schema = "com.example.Product",
    group_id = "products-db",
    key_config(field = "id"),
    entity = product::Entity
)]
#[derive(Debug)]
pub struct ProductRows;

/// Hooks: inactive products are skipped; names are stored upper-cased with the key noted;
/// rows are found by `sku` (not by key); new rows get key + 1000; a tombstone only marks the
/// row inactive.
#[deimos::consumer(
    topic = "products-hooked",
    schema = "com.example.Product",
    group_id = "products-hooked",
    key_config(field = "id"),
    entity = product::Entity,
    hooks
)]
#[derive(Debug)]
pub struct HookedRows;

impl EntityConsumerHooks for HookedRows {
    fn process_message(payload: Option<&Payload>, _metadata: &Metadata) -> bool {
        payload.is_none_or(|p| p.get("active") != Some(&PayloadValue::Bool(false)))
    }

    async fn fetch_record<C: ConnectionTrait>(
        db: &C,
        payload: Option<&Payload>,
        key: Option<&PayloadValue>,
    ) -> Result<Option<product::Model>, BoxError> {
        use sea_orm::{ColumnTrait, QueryFilter};
        match payload
            .and_then(|p| p.get("sku"))
            .and_then(PayloadValue::as_str)
        {
            Some(sku) => Ok(product::Entity::find()
                .filter(product::Column::Sku.eq(sku))
                .one(db)
                .await?),
            // A tombstone has no sku: fall back to the key (offset by 1000, see assign_key).
            None => {
                let key = key.and_then(PayloadValue::as_i64).ok_or("no key")?;
                Ok(product::Entity::find_by_id(key + 1000).one(db).await?)
            }
        }
    }

    fn assign_key(
        record: &mut product::ActiveModel,
        _payload: &Payload,
        key: Option<&PayloadValue>,
    ) -> Result<(), BoxError> {
        record.id = Set(key.and_then(PayloadValue::as_i64).ok_or("no key")? + 1000);
        Ok(())
    }

    async fn destroy_record<C: ConnectionTrait>(
        db: &C,
        record: Option<product::Model>,
    ) -> Result<(), BoxError> {
        if let Some(record) = record {
            let mut active: product::ActiveModel = record.into();
            active.active = Set(false);
            active.update(db).await?;
        }
        Ok(())
    }

    fn record_attributes(mut payload: Payload, key: Option<&PayloadValue>) -> Payload {
        let name = payload
            .get("name")
            .and_then(PayloadValue::as_str)
            .unwrap_or("")
            .to_uppercase();
        payload.insert("name", name);
        payload.insert(
            "internal_note",
            format!("key {}", key.map_or("-".into(), ToString::to_string)),
        );
        // The payload's id would overwrite the key assign_key chose.
        payload.remove("id");
        payload
    }
}

fn updated_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 42).unwrap()
}

/// A payload as the consumer reads it from a message (decimals as text, timestamps as UTC).
fn product_payload(id: i64, name: &str, price: &str) -> Payload {
    payload! {
        "id" => id,
        "sku" => format!("SKU-{id}"),
        "name" => name,
        "price" => price,
        "weight" => 1.5,
        "released_on" => NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
        "updated_at" => updated_at(),
        "dimensions" => payload! { "width" => 3, "height" => 4 },
        "tags" => vec!["a", "b"],
        "active" => true,
        "external_id" => PayloadValue::Null,
        "source" => "catalog",
    }
}

fn metadata(key: i64) -> Metadata {
    Metadata::new("products-in", 0, 0, Some(Value::Long(key)))
}

async fn rows(db: &TestDb) -> Vec<product::Model> {
    product::Entity::find()
        .order_by_asc(product::Column::Id)
        .all(&db.conn)
        .await
        .unwrap()
}

fn expected_row(id: i64, name: &str, price: &str, note: &str) -> product::Model {
    product::Model {
        id,
        sku: format!("SKU-{id}"),
        name: name.into(),
        price: price.parse().unwrap(),
        weight: Some(1.5),
        released_on: NaiveDate::from_ymd_opt(2025, 1, 2),
        updated_at: updated_at(),
        dimensions: Some(serde_json::json!({"width": 3, "height": 4})),
        tags: serde_json::json!(["a", "b"]),
        active: true,
        external_id: None,
        internal_note: note.into(),
    }
}

async fn products_table(db: Db) -> TestDb {
    let test_db = TestDb::create(db).await;
    test_db.create_table(product::Entity).await;
    test_db
}

#[tokio::test]
async fn messages_create_update_and_delete_rows_on_every_database() {
    for db in Db::ALL {
        let test_db = products_table(db).await;
        let conn = &test_db.conn;
        // Create: the key finds nothing, the row is inserted from the matching fields.
        consume::<ProductRows, _>(conn, Some(product_payload(1, "gear", "9.99")), &metadata(1))
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        consume::<ProductRows, _>(conn, Some(product_payload(2, "cog", "0.50")), &metadata(2))
            .await
            .unwrap();
        // A column the schema lacks keeps what the application wrote.
        product::ActiveModel {
            id: Set(2),
            internal_note: Set("kept".into()),
            ..Default::default()
        }
        .update(conn)
        .await
        .unwrap();
        // Update: the key finds the row; fields overwrite its columns.
        consume::<ProductRows, _>(
            conn,
            Some(product_payload(2, "big cog", "12.00")),
            &metadata(2),
        )
        .await
        .unwrap();
        assert_eq!(
            rows(&test_db).await,
            [
                expected_row(1, "gear", "9.99", ""),
                expected_row(2, "big cog", "12.00", "kept")
            ],
            "{db:?}"
        );
        // Tombstone: the row is deleted; a tombstone for a missing row is nothing to do.
        consume::<ProductRows, _>(conn, None, &metadata(1))
            .await
            .unwrap();
        consume::<ProductRows, _>(conn, None, &metadata(404))
            .await
            .unwrap();
        assert_eq!(
            rows(&test_db)
                .await
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            [2],
            "{db:?}"
        );
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn values_a_column_does_not_take_name_the_column() {
    for db in Db::ALL {
        let test_db = products_table(db).await;
        let mut bad = product_payload(3, "x", "1.00");
        bad.insert("sku", PayloadValue::Null);
        let error = consume::<ProductRows, _>(&test_db.conn, Some(bad), &metadata(3))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("column `sku`") && error.contains("not nullable"),
            "{db:?}: {error}"
        );
        let mut bad = product_payload(3, "x", "1.00");
        bad.insert("price", "a lot");
        let error = consume::<ProductRows, _>(&test_db.conn, Some(bad), &metadata(3))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("column `price`"), "{db:?}: {error}");
        assert!(rows(&test_db).await.is_empty(), "{db:?}: nothing written");
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn hooks_change_each_step_on_every_database() {
    for db in Db::ALL {
        let test_db = products_table(db).await;
        let conn = &test_db.conn;
        // New row: assign_key gives key + 1000; record_attributes upper-cases and notes the key.
        consume::<HookedRows, _>(conn, Some(product_payload(5, "gear", "1.00")), &metadata(5))
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        // fetch_record finds the row by sku, whatever the key.
        consume::<HookedRows, _>(
            conn,
            Some(product_payload(5, "gear two", "2.00")),
            &metadata(77),
        )
        .await
        .unwrap();
        // process_message skips inactive products.
        let mut inactive = product_payload(6, "skipped", "1.00");
        inactive.insert("active", false);
        consume::<HookedRows, _>(conn, Some(inactive), &metadata(6))
            .await
            .unwrap();
        let mut row = expected_row(5, "GEAR TWO", "2.00", "key int 77");
        row.id = 1005;
        assert_eq!(rows(&test_db).await, [row.clone()], "{db:?}");
        // destroy_record marks the row inactive instead of deleting it.
        consume::<HookedRows, _>(conn, None, &metadata(5))
            .await
            .unwrap();
        row.active = false;
        assert_eq!(rows(&test_db).await, [row], "{db:?}");
        test_db.drop_database().await;
    }
}

/// The payload type of [`ProductTombstones`], which only sends tombstones.
#[derive(Debug, serde::Serialize)]
pub struct NoPayload;

/// A typed producer for tombstones on `products-in` (only its key configuration is used).

#[deimos::producer(
    topic = "products-in",
    schema = "com.example.Product",
    key_config(field = "id"),
    payload = NoPayload
)]
#[derive(Debug)]
pub struct ProductTombstones;

#[deimos::producer(
    topic = "products-in",
    schema = "com.example.Product",
    key_config(field = "id"),
    entity = product::Entity
)]
#[derive(Debug)]
/// Publishes rows of the source database to `products-in`.
pub struct ProductsOut;

#[tokio::test(flavor = "multi_thread")]
async fn an_entity_consumer_writes_what_an_entity_producer_sent_through_kafka() {
    let broker = Broker::embedded();
    broker.create_topics(&["products-in"], 3).await;
    for db in Db::ALL {
        let source = products_table(Db::Sqlite).await;
        let target = products_table(db).await;
        // 30 rows in the source database, published by the entity producer.
        for id in 1..=30 {
            let mut row: product::ActiveModel =
                expected_row(id, &format!("p{id}"), "3.25", "").into();
            row.external_id = Set((id % 2 == 0).then(uuid::Uuid::new_v4));
            row.insert(&source.conn).await.unwrap();
        }
        let sent = rows(&source).await;
        let mut config = deimos_tests::test_config(&broker);
        config.consumers.offset_commit_interval = Duration::from_millis(100);
        let app = App::from_config(config).unwrap();
        app.set_database(target.conn.clone());
        deimos::orm::send_events_with::<ProductsOut>(&app, &sent, &PublishOptions::default())
            .await
            .unwrap();
        for id in [4, 9] {
            app.tombstone::<ProductTombstones, i64>(&id).await.unwrap();
        }
        let running = Running::start(&app, &["ProductRows"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let expected: BTreeMap<i64, product::Model> = sent
            .into_iter()
            .filter(|r| r.id != 4 && r.id != 9)
            .map(|r| (r.id, r))
            .collect();
        loop {
            let now: BTreeMap<i64, product::Model> =
                rows(&target).await.into_iter().map(|r| (r.id, r)).collect();
            if now == expected {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{db:?}: the table never matched: {} rows of {}",
                now.len(),
                expected.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        running.stop().await;
        assert_eq!(ProductsOut::TOPIC, "products-in");
        source.drop_database().await;
        target.drop_database().await;
    }
}

/// One message at a time on a compound primary key: the key record fills `warehouse` and `sku`.
#[deimos::consumer(
    topic = "stock-single",
    schema = "com.example.Stock",
    group_id = "stock-single",
    key_config(schema = "Stock_key"),
    entity = deimos_tests::product::stock::Entity
)]
#[derive(Debug)]
pub struct StockRows;

#[tokio::test]
async fn a_key_record_fills_a_compound_primary_key_on_every_database() {
    use deimos_tests::product::stock;
    let key = |w: &str, s: &str| {
        Some(Value::Record(vec![
            ("warehouse".into(), Value::String(w.into())),
            ("sku".into(), Value::String(s.into())),
        ]))
    };
    let value = |w: &str, s: &str, q: i64| {
        payload! { "warehouse" => w, "sku" => s, "quantity" => q, "price" => 1.5,
        "updated_at" => updated_at() }
    };
    let meta = |k| Metadata::new("stock-single", 0, 0, k);
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(stock::Entity).await;
        let conn = &test_db.conn;
        for (w, s, q) in [
            ("w1", "a", 1),
            ("w1", "b", 2),
            ("w2", "a", 3),
            ("w1", "a", 4),
        ] {
            consume::<StockRows, _>(conn, Some(value(w, s, q)), &meta(key(w, s)))
                .await
                .unwrap_or_else(|e| panic!("{db:?}: {e}"));
        }
        consume::<StockRows, _>(conn, None, &meta(key("w1", "b")))
            .await
            .unwrap();
        let rows: Vec<(String, String, i32)> = stock::Entity::find()
            .order_by_asc(stock::Column::Warehouse)
            .order_by_asc(stock::Column::Sku)
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.warehouse, r.sku, r.quantity))
            .collect();
        assert_eq!(
            rows,
            [("w1".into(), "a".into(), 4), ("w2".into(), "a".into(), 3)],
            "{db:?}"
        );
        // A scalar key cannot fill two key columns.
        let error =
            consume::<StockRows, _>(conn, Some(value("w9", "z", 1)), &meta(Some(Value::Long(9))))
                .await
                .unwrap_err()
                .to_string();
        assert!(error.contains("compound primary key"), "{db:?}: {error}");
        test_db.drop_database().await;
    }
}
