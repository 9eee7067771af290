//! `com.example.AllTypes`: one field of every Avro type the typed path supports. Field names
//! mirror `schemas/com/example/AllTypes.avsc`, whose `doc`s describe them.
#![allow(missing_docs)]

use std::collections::HashMap;

use deimos::schema::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimensions {
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Color {
    #[serde(rename = "RED")]
    Red,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "BLUE")]
    Blue,
}

#[deimos::producer(
    topic = "all-types",
    schema = "com.example.AllTypes",
    key_config(field = "id")
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllTypes {
    pub id: String,
    pub flag: bool,
    pub small: i32,
    pub big: i64,
    pub ratio: f32,
    pub amount: f64,
    #[serde(with = "serde_bytes")]
    pub blob: Vec<u8>,
    pub nested: Dimensions,
    pub history: Vec<Dimensions>,
    pub labels: HashMap<String, i64>,
    pub color: Color,
    pub maybe: Option<String>,
    #[serde(with = "serde_bytes")]
    pub hash: Vec<u8>,
    pub day: i32,
    pub time_ms: i32,
    pub time_us: i64,
    pub ts_ms: i64,
    pub ts_us: i64,
    /// Big-endian two's complement, sign-extended to the 5 bytes precision 10 needs.
    pub price: Decimal,
    pub uid: uuid::Uuid,
    pub comment: String,
}

impl AllTypes {
    /// Every field set to a non-trivial value.
    pub fn sample() -> AllTypes {
        AllTypes {
            id: "a-1".into(),
            flag: true,
            small: -42,
            big: i64::MAX - 1,
            ratio: 0.25,
            amount: -1234.5678,
            blob: vec![0, 1, 2, 255],
            nested: Dimensions {
                width: 3,
                height: 4,
            },
            history: vec![
                Dimensions {
                    width: 1,
                    height: 1,
                },
                Dimensions {
                    width: 2,
                    height: 5,
                },
            ],
            labels: HashMap::from([("a".to_owned(), 1), ("b".to_owned(), -2)]),
            color: Color::Green,
            maybe: Some("here".into()),
            hash: (0u8..16).collect(),
            day: 19_700,
            time_ms: 45_296_789,
            time_us: 45_296_789_123,
            ts_ms: 1_732_000_000_123,
            ts_us: 1_732_000_000_123_456,
            price: Decimal::from(vec![0, 0, 0, 0x30, 0x39]), // 12345 unscaled = 123.45 at scale 2
            uid: uuid::Uuid::parse_str("6f1c2f0e-9b1e-4c57-9d7b-1f0f6b2a8c3d").unwrap(),
            comment: "hello".into(),
        }
    }
}
