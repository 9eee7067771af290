use deimos::producer;
use serde::Serialize;

#[producer(topic = "my widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {}
