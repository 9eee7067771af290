use deimos::producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(plain))]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {}
