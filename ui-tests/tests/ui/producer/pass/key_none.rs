use deimos::producer;
use deimos::schema::KeyConfig;
use deimos::Producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {
    assert_eq!(Widget::TOPIC, "widgets");
    assert_eq!(Widget::SCHEMA.full_name(), "com.example.Widget");
    assert_eq!(Widget::KEY_CONFIG, KeyConfig::None);
}
