use deimos::producer;
use serde::Serialize;

#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none), payload = Widget, refetch = false)]
struct WidgetProducer;

fn main() {}
