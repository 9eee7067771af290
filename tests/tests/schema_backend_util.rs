//! `deimos::schema_backend(schema, namespace)`: encode, decode, coerce, validate and
//! schema_fields outside producers and consumers, on each local backend.

use deimos::config::SchemaBackendKind;
use deimos::{payload, App, Config, Error, Payload, PayloadValue};

fn app(backend: SchemaBackendKind) -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.schema.backend = backend;
    App::from_config(config).unwrap()
}

fn loose() -> Payload {
    payload! { "id" => "7", "name" => 5, "price" => 2, "updated_at" => 1_000, "extra" => true }
}

#[tokio::test]
async fn schema_fields_lists_name_type_default_and_doc() {
    let handle = app(SchemaBackendKind::AvroLocal).schema_backend("Widget", "com.example");
    let fields = handle.schema_fields().await.unwrap();
    let summary: Vec<(String, String, Option<String>, Option<String>)> = fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.type_json.to_string(),
                f.default.as_ref().map(ToString::to_string),
                f.doc.clone(),
            )
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        summary,
        vec![
            (
                s("id"),
                s(r#""long""#),
                None,
                Some(s("Widget id; the Kafka key in the quickstart"))
            ),
            (s("name"), s(r#""string""#), None, None),
            (s("price"), s(r#""double""#), None, None),
            (
                s("tags"),
                s(r#"{"items":"string","type":"array"}"#),
                Some(s("[]")),
                None
            ),
            (
                s("description"),
                s(r#"["null","string"]"#),
                Some(s("null")),
                None
            ),
            (
                s("updated_at"),
                s(r#"{"logicalType":"timestamp-millis","type":"long"}"#),
                None,
                None
            ),
        ]
    );
    let kinds = app(SchemaBackendKind::AvroLocal).schema_backend("com.example.AllTypes", "");
    let color = kinds
        .schema_fields()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "color")
        .unwrap();
    assert_eq!(color.enum_values, ["RED", "GREEN", "BLUE"]);
}

#[tokio::test]
async fn encode_decode_and_coerce_on_every_local_backend() {
    for backend in [
        SchemaBackendKind::AvroLocal,
        SchemaBackendKind::AvroValidation,
        SchemaBackendKind::Mock,
    ] {
        let handle = app(backend).schema_backend("Widget", "com.example");
        let canonical = payload! {
            "id" => 7,
            "name" => "5",
            "price" => 2.0,
            "tags" => Vec::<String>::new(),
            "description" => PayloadValue::Null,
            "updated_at" => 1_000,
        };
        let coerced = handle.coerce(&loose()).await.unwrap();
        assert_eq!(
            coerced.get("id"),
            Some(&PayloadValue::Int(7)),
            "{backend:?}"
        );
        assert_eq!(coerced.get("name"), Some(&PayloadValue::String("5".into())));
        assert!(
            coerced.get("extra").is_none(),
            "fields the schema lacks are dropped"
        );
        let bytes = handle.encode("widgets", &loose()).await.unwrap();
        let decoded = handle.decode("widgets", &bytes).await.unwrap();
        assert_eq!(decoded.get("id"), canonical.get("id"), "{backend:?}");
        assert_eq!(decoded.get("name"), canonical.get("name"));
        assert_eq!(decoded.get("price"), canonical.get("price"));
        assert_eq!(decoded.get("tags"), Some(&PayloadValue::Array(vec![])));
        assert_eq!(decoded.get("description"), Some(&PayloadValue::Null));
    }
}

#[tokio::test]
async fn validate_is_strict_about_extra_fields_and_types() {
    let handle = app(SchemaBackendKind::AvroLocal).schema_backend("Widget", "com.example");
    let err = handle.validate(&loose()).await.unwrap_err();
    assert!(err.to_string().contains("com.example.Widget"), "{err}");
    let Error::Encode { source, .. } = &err else {
        panic!("{err}")
    };
    let text = source.to_string();
    assert!(
        text.starts_with("extra: expected no such field")
            && text.ends_with("(not a field of record com.example.Widget)"),
        "{text}"
    );

    let mut bad = loose();
    bad.remove("extra");
    bad.insert("price", "cheap");
    let Error::Encode { source, .. } = handle.validate(&bad).await.unwrap_err() else {
        panic!()
    };
    assert!(
        source.to_string().starts_with("price: expected double"),
        "{source}"
    );

    bad.insert("price", 3);
    handle.validate(&bad).await.unwrap();

    // Recursive (Avro's SchemaValidator with `recursive: true`): an extra key in a nested
    // record is named by its path, where coercion drops it.
    let orders = app(SchemaBackendKind::AvroLocal).schema_backend("Order", "com.example");
    let item = |extra: bool| {
        let mut item = payload! { "sku" => "A-1", "qty" => 2, "price" => "9.99" };
        if extra {
            item.insert("colour", "red");
        }
        PayloadValue::Map(item)
    };
    let order = |extra: bool| {
        payload! {
            "id" => 1, "customer" => "c", "status" => "NEW",
            "items" => vec![item(false), item(extra)],
            "placed_on" => "2026-12-01", "placed_at" => 0,
            "ref" => "4f7c2a3e-5b8d-4e6f-9a1b-2c3d4e5f6a7b",
        }
    };
    orders.validate(&order(false)).await.unwrap();
    orders
        .coerce(&order(true))
        .await
        .expect("coercion drops it");
    let Error::Encode { source, .. } = orders.validate(&order(true)).await.unwrap_err() else {
        panic!()
    };
    let text = source.to_string();
    assert!(
        text.starts_with("items[1].colour: expected no such field")
            && text.ends_with("(not a field of record com.example.LineItem)"),
        "{text}"
    );
}

#[tokio::test]
async fn the_global_helper_uses_the_configured_app() {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.schema.backend = SchemaBackendKind::AvroValidation;
    deimos::configure(config).unwrap();
    let handle = deimos::schema_backend("Widget", "com.example").unwrap();
    assert_eq!(handle.backend().kind(), SchemaBackendKind::AvroValidation);
    let bytes = handle.encode("widgets", &loose()).await.unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).expect("avro_validation writes JSON");
    assert_eq!(json["id"], 7);
    assert_eq!(
        handle.backend().test_substitute(),
        SchemaBackendKind::AvroValidation
    );
}

/// Deimos' `mock_backend`: the backend the test helpers put in each one's place.
#[test]
fn each_backend_names_its_test_substitute() {
    use SchemaBackendKind::*;
    for (kind, substitute) in [
        (AvroLocal, AvroValidation),
        (AvroSchemaRegistry, AvroValidation),
        (AvroValidation, AvroValidation),
        (Mock, Mock),
    ] {
        let mut config = deimos::config::SchemaConfig::default();
        config.backend = kind;
        config.path = deimos_tests::schema_dir();
        let backend = deimos::schema::backend_from_config(&config).unwrap();
        assert_eq!(
            (backend.kind(), backend.test_substitute()),
            (kind, substitute)
        );
    }
}
