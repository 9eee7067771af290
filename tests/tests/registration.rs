//! Registrations are collected at link time, and the public handles are `Send`/`Sync` where a
//! multi-threaded runtime needs them.

use deimos::consumer::{registered, registration};
use deimos::schema::{KeyConfig, SchemaRef};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // reason: fields are only deserialized
struct Widget {
    id: i64,
}

#[deimos::consumer(
    topic = "reg-a",
    schema = "com.example.Widget",
    group_id = "reg-a",
    key_config(field = "id")
)]
async fn handler_a(_w: Option<Widget>, _m: deimos::Metadata) -> Result<(), deimos::BoxError> {
    Ok(())
}

#[deimos::consumer(
    topic = "reg-b",
    schema = "Widget",
    namespace = "com.example",
    group_id = "reg-b",
    key_config(none)
)]
async fn handler_b(_w: Option<Widget>, _m: deimos::Metadata) -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn every_consumer_in_this_binary_is_registered_sorted_by_name() {
    let names: Vec<&str> = registered().iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        vec!["registration::handler_a", "registration::handler_b"]
    );

    let a = registration("handler_a").unwrap();
    assert_eq!((a.topic, a.group_id), ("reg-a", "reg-a"));
    assert_eq!(a.schema, SchemaRef::parse("com.example.Widget"));
    assert_eq!(a.key_config, KeyConfig::Field("id".into()));

    let b = registration("registration::handler_b").unwrap();
    assert_eq!(b.schema, SchemaRef::parse("com.example.Widget"));
    assert_eq!(b.key_config, KeyConfig::None);
    assert!(registration("nope").is_none());
}

#[test]
fn public_handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<deimos::App>();
    send_sync::<deimos::Error>();
    send_sync::<deimos::Config>();
    send_sync::<deimos::Metadata>();
    send_sync::<deimos::backends::TestBackend>();
    send_sync::<deimos::backends::KafkaBackend>();
    send_sync::<deimos::backends::KafkaAsyncBackend>();
    send_sync::<deimos::backends::DbBackend>();
    send_sync::<deimos::schema::Codec>();
    let app = deimos::App::from_config(deimos::Config::default()).unwrap();
    send(&deimos::run());
    send(&app.run_until(async {}));
    send(&deimos::shutdown_producers());
    send(&app.shutdown_producers());
}
