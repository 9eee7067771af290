//! Logical types without a mapping of their own use their underlying type; a named `fixed` is
//! resolved when referenced by name; other unions are checked at runtime.

use deimos::producer;
use serde::Serialize;

#[producer(
    topic = "readings",
    schema = "com.example.ui.Reading",
    key_config(none)
)]
#[derive(Serialize)]
struct Reading {
    sensor: uuid::Uuid,
    local_ms: i64,
    local_us: i64,
    ts_ns: i64,
    custom: String,
    checksum: Vec<u8>,
    previous: Option<Vec<u8>>,
    value: f64,
}

fn main() {}
