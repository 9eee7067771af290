//! The producer-type form: two producers share one payload type; one has hooks and a plain
//! key from the payload's `PayloadKey`.
use deimos::producer::{PayloadKey, ProducerHooks, PublishOptions};
use deimos::{producer, Producer};
use serde::Serialize;

#[derive(Serialize)]
pub struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

impl PayloadKey for Widget {
    fn payload_key(&self) -> String {
        self.name.clone()
    }
}

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"), payload = Widget)]
pub struct Widgets;

#[producer(topic = "widgets-by-name", schema = "com.example.Widget", key_config(plain), payload = Widget, hooks)]
pub struct WidgetsByName;

impl ProducerHooks for WidgetsByName {
    fn partition_key(widget: &Widget) -> Option<String> {
        Some(widget.name.clone())
    }
}

fn is_producer<P: Producer<Payload = Widget>>() {}

#[allow(dead_code)]
async fn publish(widget: &Widget) -> deimos::Result<()> {
    Widgets::publish(widget).await?;
    WidgetsByName::publish_with(widget, &PublishOptions::new().header("h", "v")).await?;
    Widgets::publish_list([widget]).await?;
    WidgetsByName::publish_list_with(std::iter::once(widget), &PublishOptions::new()).await
}

fn main() {
    is_producer::<Widgets>();
    is_producer::<WidgetsByName>();
    let w = Widget { id: 1, name: "n".into(), price: 1.0, updated_at: 0 };
    assert_eq!(<WidgetsByName as Producer>::partition_key(&w).as_deref(), Some("n"));
    assert_eq!(<WidgetsByName as Producer>::plain_key(&w).as_deref(), Some("n"));
    assert_eq!(<Widgets as Producer>::partition_key(&w), None);
    assert_eq!(Widgets::TOPIC, "widgets");
}
