//! The generated code adds no warnings (unused `publish_list`, missing docs, …).
#![deny(warnings)]

use deimos::producer;
use serde::Serialize;

#[producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {
    let widget = Widget {
        id: 1,
        name: String::new(),
        price: 0.0,
        updated_at: 0,
    };
    drop(widget.publish());
}
