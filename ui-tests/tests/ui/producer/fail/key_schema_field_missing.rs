use deimos::producer;
use serde::Serialize;

#[producer(
    topic = "readings",
    schema = "com.example.ui.Reading",
    key_config(schema = "Reading_key")
)]
#[derive(Serialize)]
struct Reading {
    sensor: uuid::Uuid,
    local_ms: i64,
    local_us: i64,
    ts_ns: i64,
    custom: String,
    checksum: Vec<u8>,
    value: f64,
}

fn main() {}
