//! Every Avro type of `AllTypes.avsc` with its usual Rust type.

use std::collections::HashMap;

use deimos::producer;
use serde::{Deserialize, Serialize};

#[producer(
    topic = "all-types",
    schema = "com.example.AllTypes",
    key_config(field = "id")
)]
#[derive(Serialize, Deserialize)]
struct AllTypes {
    id: String,
    flag: bool,
    small: i32,
    big: i64,
    ratio: f32,
    amount: f64,
    blob: Vec<u8>,
    nested: Dimensions,
    history: Vec<Dimensions>,
    labels: HashMap<String, i64>,
    color: Color,
    maybe: Option<String>,
    hash: Vec<u8>,
    day: i32,
    time_ms: i32,
    time_us: i64,
    ts_ms: i64,
    ts_us: i64,
    price: deimos::schema::Decimal,
    uid: uuid::Uuid,
    comment: String,
}

#[derive(Serialize, Deserialize)]
struct Dimensions {
    width: i32,
    height: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Color {
    Red,
    Green,
    Blue,
}

fn main() {}
