use deimos::schema::KeyConfig;
use deimos::{producer, Producer};
use serde::Serialize;

#[producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(schema = "Widget_key")
)]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {
    assert_eq!(Widget::KEY_CONFIG, KeyConfig::Schema("Widget_key".into()));
}
