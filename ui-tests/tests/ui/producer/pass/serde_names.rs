//! Field names as serde writes them: `rename`, raw identifiers, skipped fields.

use deimos::producer;
use serde::Serialize;

#[producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Serialize)]
struct Widget {
    #[serde(rename = "id")]
    widget_id: i64,
    r#name: String,
    price: f64,
    updated_at: i64,
    #[serde(skip)]
    cached: Option<u64>,
}

fn main() {
    let _ = Widget {
        widget_id: 1,
        name: String::new(),
        price: 0.0,
        updated_at: 0,
        cached: None,
    }
    .cached;
}
