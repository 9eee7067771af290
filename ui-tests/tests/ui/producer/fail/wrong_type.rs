use deimos::producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Serialize)]
struct Widget {
    id: String,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {}
