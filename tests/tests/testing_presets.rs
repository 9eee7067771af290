//! The presets' `Config::load` forms — `unit_test()`, `kafka_test()`,
//! `full_integration_test()` — read the configuration file named by `DEIMOS_CONFIG` and then
//! set their backends: captured JSON, Avro to the embedded broker, and Confluent-framed Avro
//! with the schemas registered in a (loopback) schema registry.
//!
//! One test in its own binary: it sets `DEIMOS_CONFIG` for the whole process.

use deimos::assert_sent;
use deimos::config::{ProducerBackendKind, SchemaBackendKind};
use deimos::testing::{self, SchemaRegistryServer};
use deimos_tests::{read_topic, schema_dir, Broker, Widget};
use serde_json::json;

fn current() -> deimos::Config {
    deimos::global().expect("the preset's app").config().clone()
}

#[tokio::test]
async fn presets_load_the_config_file_then_set_their_backends() {
    let broker = Broker::embedded();
    broker
        .create_topics(&["preset-kafka", "preset-registry"], 1)
        .await;
    let registry = SchemaRegistryServer::start().await.expect("registry");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deimos.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbrokers = [{brokers:?}]\nclient_id = \"from-the-file\"\n\n\
             [schema]\npath = {path:?}\nregistry_url = {url:?}\n",
            brokers = broker.bootstrap(),
            path = schema_dir().display().to_string(),
            url = registry.url(),
        ),
    )
    .unwrap();
    std::env::set_var("DEIMOS_CONFIG", &file);

    {
        let scope = testing::unit_test().expect("unit_test()");
        let config = current();
        assert_eq!(config.kafka.client_id, "from-the-file");
        assert_eq!(config.producers.backend, ProducerBackendKind::Test);
        assert_eq!(config.schema.backend, SchemaBackendKind::AvroValidation);
        assert!(config.consumers.reraise_errors);
        Widget::new(1, "unit").publish().await.expect("publish");
        assert_sent!("widgets", json!({ "name": "unit" }), 1);
        // avro_validation writes readable JSON.
        let sent = scope.sent_messages().unwrap();
        let bytes = sent[0].message.payload.as_deref().expect("a payload");
        let json: serde_json::Value = serde_json::from_slice(bytes).expect("JSON bytes");
        assert_eq!(json["name"], "unit");
    }

    {
        let _scope = testing::kafka_test().expect("kafka_test()");
        let config = current();
        assert_eq!(config.kafka.client_id, "from-the-file");
        assert_eq!(config.producers.backend, ProducerBackendKind::Kafka);
        assert_eq!(config.schema.backend, SchemaBackendKind::AvroLocal);
        Widget::new(2, "kafka")
            .publish_with(&deimos::producer::PublishOptions::new().topic("preset-kafka"))
            .await
            .expect("publish to the embedded broker");
        let records = read_topic(&broker, "preset-kafka").await;
        assert_eq!(records.len(), 1, "{records:?}");
        let bytes = records[0].payload.as_deref().expect("a payload");
        assert_ne!(bytes[0], 0, "plain Avro, no Confluent framing");
        assert!(serde_json::from_slice::<serde_json::Value>(bytes).is_err());
        let decoded = deimos::schema_backend("Widget", "com.example")
            .unwrap()
            .decode("preset-kafka", bytes)
            .await
            .expect("Avro binary of com.example.Widget");
        assert_eq!(decoded.get("name"), Some(&"kafka".into()));
    }

    {
        let _scope = testing::full_integration_test().expect("full_integration_test()");
        let config = current();
        assert_eq!(config.kafka.client_id, "from-the-file");
        assert_eq!(config.producers.backend, ProducerBackendKind::Kafka);
        assert_eq!(config.schema.backend, SchemaBackendKind::AvroSchemaRegistry);
        assert_eq!(config.schema.registry_url, registry.url());
        Widget::new(3, "registry")
            .publish_with(&deimos::producer::PublishOptions::new().topic("preset-registry"))
            .await
            .expect("publish through the registry");
        let records = read_topic(&broker, "preset-registry").await;
        assert_eq!(records.len(), 1, "{records:?}");
        let bytes = records[0].payload.as_deref().expect("a payload");
        assert_eq!(bytes[0], 0, "Confluent magic byte");
        assert!(
            registry
                .subjects()
                .contains(&"preset-registry-value".to_owned()),
            "{:?}",
            registry.subjects()
        );
        let decoded = deimos::schema_backend("Widget", "com.example")
            .unwrap()
            .decode("preset-registry", bytes)
            .await
            .expect("framed Avro of com.example.Widget");
        assert_eq!(decoded.get("name"), Some(&"registry".into()));
    }
    std::env::remove_var("DEIMOS_CONFIG");
}
