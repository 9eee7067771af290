use deimos::producer;
use serde::Serialize;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Serialize)]
struct Widget(i64, String, f64, i64);

fn main() {}
