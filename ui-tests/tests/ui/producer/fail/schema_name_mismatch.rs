use deimos::producer;
use serde::Serialize;

#[producer(
    topic = "widgets",
    schema = "com.example.ui.Misnamed",
    key_config(none)
)]
#[derive(Serialize)]
struct Widget {
    id: i64,
}

fn main() {}
