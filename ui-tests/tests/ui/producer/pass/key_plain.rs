use deimos::producer::PayloadKey;
use deimos::schema::KeyConfig;
use deimos::{producer, Producer};
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(plain))]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

impl PayloadKey for Widget {
    fn payload_key(&self) -> String {
        format!("widget-{}", self.id)
    }
}

fn main() {
    let widget = Widget {
        id: 7,
        name: "bolt".into(),
        price: 0.5,
        updated_at: 0,
    };
    assert_eq!(Widget::KEY_CONFIG, KeyConfig::Plain);
    assert_eq!(Widget::plain_key(&widget).as_deref(), Some("widget-7"));
}
