use deimos::producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Serialize)]
struct Widget<T> {
    id: i64,
    name: T,
    price: f64,
    updated_at: i64,
}

fn main() {}
