use deimos::producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Gizmo", key_config(none))]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {}
