//! Narrower integers, `BTreeMap`, `Box<str>`, `String` for a uuid, omitted defaults.

use std::collections::BTreeMap;

use deimos::producer;
use serde::{Deserialize, Serialize};

#[producer(topic = "all-types", schema = "com.example.AllTypes", key_config(none))]
#[derive(Serialize, Deserialize)]
struct AllTypes {
    id: Box<str>,
    flag: bool,
    small: u16,
    big: u32,
    ratio: f32,
    amount: f32,
    blob: Vec<u8>,
    nested: serde_json_like::Dimensions,
    history: Vec<serde_json_like::Dimensions>,
    labels: BTreeMap<String, i8>,
    color: String,
    hash: Vec<u8>,
    day: i32,
    time_ms: i32,
    time_us: i64,
    ts_ms: i64,
    ts_us: i64,
    price: deimos::schema::Decimal,
    uid: String,
}

mod serde_json_like {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Dimensions {
        pub width: i32,
        pub height: i32,
    }
}

fn main() {}
