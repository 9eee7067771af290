//! `delivery = "batch"` keeps the per-message handler; a `backoff` with only `max`.

use deimos::consumer::{ConsumerSettings, Delivery, Handler};
use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none),
    delivery = "batch",
    backoff(max = "5s"),
)]
async fn handle(_payload: Option<Widget>, _metadata: Metadata) -> Result<(), deimos::BoxError> {
    Ok(())
}

fn main() {
    let registration = deimos::consumer::registration("handle").expect("registered");
    assert_eq!(registration.delivery, Delivery::Batch);
    assert!(matches!(registration.handler, Handler::Message(_)));
    assert!(registration.fatal_error.is_none());
    assert_eq!(
        registration.settings,
        ConsumerSettings {
            backoff_max: Some(std::time::Duration::from_secs(5)),
            ..ConsumerSettings::NONE
        }
    );
}
