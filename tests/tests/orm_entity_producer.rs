//! Entity producers (`#[producer(.., entity = ..)]`, Deimos' `ActiveRecordProducer`) on
//! SQLite, PostgreSQL and MariaDB: rows read back from each database become messages by
//! column name with Deimos' coercion (decimals, datetimes, JSON columns for records and
//! arrays), `generate_payload`, `watched_attributes`, refetch by key and by partial model, and
//! errors that name the table, key or field path.

use apache_avro::types::Value;
use chrono::{NaiveDate, TimeZone, Utc};
use deimos::config::ProducerBackendKind;
use deimos::orm::{send_events_with, send_records, EntityProducer, EntityProducerHooks, Record};
use deimos::producer::PublishOptions;
use deimos::schema::coerce::to_payload_with_schema;
use deimos::schema::SchemaRef;
use deimos::{payload, App, Config, Error, Payload, PayloadValue};
use deimos_tests::avro_gen::chain;
use deimos_tests::db::{Db, TestDb};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use deimos_tests::product;

/// Refetches by default (Deimos' `refetch: true`).
#[deimos::producer(
    topic = "products",
    schema = "com.example.Product",
    key_config(field = "id"),
    entity = product::Entity
)]
#[derive(Debug)]
pub struct ProductProducer;

/// No refetch, and hooks: the name gets a suffix, and only `price` is watched.
#[deimos::producer(
    topic = "products-raw",
    schema = "com.example.Product",
    key_config(field = "id"),
    entity = product::Entity,
    refetch = false,
    hooks
)]
#[derive(Debug)]
pub struct ProductAsGiven;

impl EntityProducerHooks for ProductAsGiven {
    fn generate_payload(mut attributes: Payload, model: Option<&product::Model>) -> Payload {
        let name = match model {
            Some(m) => format!("{} (row)", m.name),
            None => format!(
                "{} (partial)",
                attributes
                    .get("name")
                    .and_then(PayloadValue::as_str)
                    .unwrap_or("?")
            ),
        };
        attributes.insert("name", name);
        attributes
    }

    fn watched_attributes(_model: &product::Model) -> Vec<String> {
        vec!["price".into()]
    }
}

fn app() -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    App::from_config(config).unwrap()
}

const UUID: &str = "7f1d3c2a-4b5e-4f60-8a71-92b3c4d5e6f7";

fn updated_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 42).unwrap()
}

fn full_row() -> product::ActiveModel {
    product::ActiveModel {
        id: Set(7),
        sku: Set("GEAR-7".into()),
        name: Set("gear".into()),
        price: Set("12.34".parse().unwrap()),
        weight: Set(Some(0.25)),
        released_on: Set(NaiveDate::from_ymd_opt(2024, 2, 29)),
        updated_at: Set(updated_at()),
        dimensions: Set(Some(serde_json::json!({"width": 3, "height": 4}))),
        tags: Set(serde_json::json!(["metal", "small"])),
        active: Set(true),
        external_id: Set(Some(UUID.parse().unwrap())),
        internal_note: Set("do not publish".into()),
    }
}

fn sparse_row() -> product::ActiveModel {
    product::ActiveModel {
        id: Set(8),
        sku: Set("BARE-8".into()),
        name: Set("bare".into()),
        price: Set("-0.05".parse().unwrap()),
        weight: Set(None),
        released_on: Set(None),
        updated_at: Set(updated_at()),
        dimensions: Set(None),
        tags: Set(serde_json::json!([])),
        active: Set(false),
        external_id: Set(None),
        internal_note: Set(String::new()),
    }
}

/// What the full row's message holds, field by field (decimals as their text at scale 2).
fn full_payload() -> Payload {
    payload! {
        "id" => 7,
        "sku" => "GEAR-7",
        "name" => "gear",
        "price" => "12.34",
        "weight" => 0.25,
        "released_on" => NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        "updated_at" => updated_at(),
        "dimensions" => payload! { "width" => 3, "height" => 4 },
        "tags" => vec!["metal", "small"],
        "active" => true,
        "external_id" => uuid::Uuid::parse_str(UUID).unwrap(),
        "source" => "catalog",
    }
}

fn sparse_payload() -> Payload {
    payload! {
        "id" => 8,
        "sku" => "BARE-8",
        "name" => "bare",
        "price" => "-0.05",
        "weight" => PayloadValue::Null,
        "released_on" => PayloadValue::Null,
        "updated_at" => updated_at(),
        "dimensions" => PayloadValue::Null,
        "tags" => Vec::<String>::new(),
        "active" => false,
        "external_id" => PayloadValue::Null,
        "source" => "catalog",
    }
}

/// The test backend's messages since the last call: (topic, key, value as a payload).
async fn take_sent(app: &App) -> Vec<(String, Option<Value>, Payload)> {
    let schema = app
        .codec()
        .backend()
        .schema(&SchemaRef::parse("com.example.Product"))
        .await
        .unwrap();
    let backend = app.test_backend().unwrap();
    let sent = backend.sent_messages();
    backend.clear();
    sent.into_iter()
        .map(|m| {
            let value = m.decoded_payload.expect("a value");
            let payload = match to_payload_with_schema(&value, &schema).unwrap() {
                PayloadValue::Map(p) => p,
                other => panic!("not a record: {other:?}"),
            };
            (m.topic.to_string(), m.decoded_key, payload)
        })
        .collect()
}

async fn with_products(db: Db) -> (TestDb, product::Model, product::Model) {
    let test_db = TestDb::create(db).await;
    test_db.create_table(product::Entity).await;
    full_row().insert(&test_db.conn).await.unwrap();
    sparse_row().insert(&test_db.conn).await.unwrap();
    // What the database gives back, as an application would read it.
    let full = product::Entity::find_by_id(7)
        .one(&test_db.conn)
        .await
        .unwrap()
        .unwrap();
    let sparse = product::Entity::find_by_id(8)
        .one(&test_db.conn)
        .await
        .unwrap()
        .unwrap();
    (test_db, full, sparse)
}

#[tokio::test]
async fn rows_become_messages_by_column_name_on_every_database() {
    for db in Db::ALL {
        let (test_db, full, sparse) = with_products(db).await;
        let app = app();
        send_events_with::<ProductProducer>(&app, [&full, &sparse], &PublishOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e:?}"));
        let sent = take_sent(&app).await;
        assert_eq!(sent.len(), 2, "{db:?}");
        assert_eq!(sent[0].0, "products");
        assert_eq!(sent[0].1, Some(Value::Long(7)), "{db:?}: key from `id`");
        assert_eq!(sent[0].2, full_payload(), "{db:?}");
        assert_eq!(sent[1].1, Some(Value::Long(8)));
        assert_eq!(sent[1].2, sparse_payload(), "{db:?}");
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn refetch_reads_rows_by_key_and_by_partial_model() {
    for db in Db::ALL {
        let (test_db, _, _) = with_products(db).await;
        let app = app();
        let partial = product::ActiveModel {
            id: Set(8),
            name: Set("stale name, not published".into()),
            ..Default::default()
        };
        send_records::<ProductProducer, _>(
            &app,
            &test_db.conn,
            [Record::Key(7), Record::Partial(partial)],
            &PublishOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{db:?}: {e:?}"));
        let sent = take_sent(&app).await;
        let payloads: Vec<Payload> = sent.into_iter().map(|(_, _, p)| p).collect();
        assert_eq!(payloads, [full_payload(), sparse_payload()], "{db:?}");

        // A key with no row: an error naming the table and the key, and nothing is sent.
        let error = send_records::<ProductProducer, _>(
            &app,
            &test_db.conn,
            [Record::Key(7), Record::Key(404)],
            &PublishOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, Error::Database { context, .. }
                if context.contains("`products`") && context.contains("int 404")),
            "{db:?}: {error:?}"
        );
        assert!(take_sent(&app).await.is_empty(), "{db:?}");

        // A partial model without its primary key cannot be read again.
        let keyless = product::ActiveModel {
            name: Set("x".into()),
            ..Default::default()
        };
        let error = send_records::<ProductProducer, _>(
            &app,
            &test_db.conn,
            [Record::Partial(keyless)],
            &PublishOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            chain(&error).contains("primary key column `id`"),
            "{db:?}: {error:?}"
        );
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn without_refetch_what_was_given_is_published_through_the_hook_on_every_database() {
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(product::Entity).await;
        let app = app();
        // A partial model: its set columns, the hook's name, schema defaults for the rest.
        let partial = product::ActiveModel {
            id: Set(9),
            sku: Set("P-9".into()),
            name: Set("partial".into()),
            price: Set("1.50".parse().unwrap()),
            updated_at: Set(updated_at()),
            active: Set(true),
            ..Default::default()
        };
        send_records::<ProductAsGiven, _>(
            &app,
            &test_db.conn,
            [Record::Partial(partial)],
            &PublishOptions::default(),
        )
        .await
        .unwrap();
        let sent = take_sent(&app).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "products-raw");
        assert_eq!(
            sent[0].2,
            payload! {
                "id" => 9, "sku" => "P-9", "name" => "partial (partial)", "price" => "1.50",
                "weight" => PayloadValue::Null, "released_on" => PayloadValue::Null,
                "updated_at" => updated_at(), "dimensions" => PayloadValue::Null,
                "tags" => Vec::<String>::new(), "active" => true,
                "external_id" => PayloadValue::Null, "source" => "catalog",
            }
        );
        // A full model goes through the hook with the row.
        let mut row = full_payload();
        let model = full_row().insert(&test_db.conn).await.unwrap();
        send_events_with::<ProductAsGiven>(&app, [&model], &PublishOptions::default())
            .await
            .unwrap();
        row.insert("name", "gear (row)");
        assert_eq!(take_sent(&app).await[0].2, row);
        // A key alone carries nothing to publish without refetch.
        let error = send_records::<ProductAsGiven, _>(
            &app,
            &test_db.conn,
            [Record::Key(7)],
            &PublishOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(chain(&error).contains("refetch = false"), "{error:?}");
        const { assert!(!ProductAsGiven::REFETCH && ProductProducer::REFETCH) };
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn watched_attributes_default_to_the_schema_fields() {
    let model = product::Model {
        id: 1,
        sku: String::new(),
        name: String::new(),
        price: Default::default(),
        weight: None,
        released_on: None,
        updated_at: updated_at(),
        dimensions: None,
        tags: serde_json::json!([]),
        active: false,
        external_id: None,
        internal_note: String::new(),
    };
    assert_eq!(
        <ProductProducer as EntityProducer>::watched_attributes(&model),
        [
            "id",
            "sku",
            "name",
            "price",
            "weight",
            "released_on",
            "updated_at",
            "dimensions",
            "tags",
            "active",
            "external_id",
            "source"
        ]
    );
    assert_eq!(
        <ProductAsGiven as EntityProducer>::watched_attributes(&model),
        ["price"]
    );
}

#[tokio::test]
async fn a_column_that_does_not_fit_names_the_field_path_and_sends_nothing() {
    for db in Db::ALL {
        let (test_db, full, _) = with_products(db).await;
        let app = app();
        let mut bad = full.clone();
        bad.id = 70;
        bad.dimensions = Some(serde_json::json!({"width": "wide", "height": 4}));
        let error =
            send_events_with::<ProductProducer>(&app, [&full, &bad], &PublishOptions::default())
                .await
                .unwrap_err();
        let text = chain(&error);
        assert!(
            text.contains("products") && text.contains("dimensions.width: expected int"),
            "{db:?}: {text}"
        );
        assert!(
            take_sent(&app).await.is_empty(),
            "{db:?}: one bad row sends nothing"
        );
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn generated_methods_publish_through_the_global_app_on_every_database() {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    config.producers.topic_prefix = Some("global.".into());
    deimos::configure(config).unwrap();
    let app = deimos::global().unwrap();
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(product::Entity).await;
        let model = full_row().insert(&test_db.conn).await.unwrap();
        ProductProducer::send_event(&model).await.unwrap();
        ProductProducer::send_events([&model, &model])
            .await
            .unwrap();
        ProductProducer::send_records(&test_db.conn, [Record::Key(7)])
            .await
            .unwrap();
        let sent = take_sent(&app).await;
        assert_eq!(sent.len(), 4);
        assert!(sent
            .iter()
            .all(|(topic, _, p)| topic == "global.products" && *p == full_payload()));
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn import_writes_rows_in_bulk_then_publishes_each_on_every_database() {
    use deimos::orm::{import, ImportMode};
    for db in Db::ALL {
        let test_db = TestDb::create(db).await;
        test_db.create_table(product::Entity).await;
        let app = app();
        let first: Vec<product::Model> = [full_row(), sparse_row()]
            .into_iter()
            .map(|row| sea_orm::TryIntoModel::try_into_model(row).unwrap())
            .collect();
        import::<ProductProducer, _>(&app, &test_db.conn, &first, ImportMode::Insert)
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e:?}"));
        let sent = take_sent(&app).await;
        assert_eq!(
            sent.into_iter().map(|(_, _, p)| p).collect::<Vec<_>>(),
            [full_payload(), sparse_payload()],
            "{db:?}"
        );
        let stored = product::Entity::find()
            .all(&test_db.conn)
            .await
            .unwrap()
            .len();
        assert_eq!(stored, 2, "{db:?}");

        // Inserting an existing key fails, and nothing is published.
        let error =
            import::<ProductProducer, _>(&app, &test_db.conn, &first[..1], ImportMode::Insert)
                .await
                .unwrap_err();
        assert!(
            matches!(&error, Error::Database { context, .. } if context.contains("`products`")),
            "{db:?}: {error:?}"
        );
        assert!(take_sent(&app).await.is_empty(), "{db:?}");

        // Upsert: the existing row takes the new values, a new row is added.
        let mut changed = first[0].clone();
        changed.name = "renamed".into();
        let mut added = first[1].clone();
        added.id = 9;
        import::<ProductProducer, _>(&app, &test_db.conn, &[changed, added], ImportMode::Upsert)
            .await
            .unwrap_or_else(|e| panic!("{db:?}: {e:?}"));
        assert_eq!(take_sent(&app).await.len(), 2, "{db:?}");
        let renamed = product::Entity::find_by_id(7)
            .one(&test_db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renamed.name, "renamed", "{db:?}");
        let count = product::Entity::find()
            .all(&test_db.conn)
            .await
            .unwrap()
            .len();
        assert_eq!(count, 3, "{db:?}");
        test_db.drop_database().await;
    }
}
