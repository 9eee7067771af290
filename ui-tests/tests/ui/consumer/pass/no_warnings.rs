//! The generated code adds no warnings.
#![deny(warnings)]

use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {
    id: i64,
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(field = "id")
)]
async fn handle(payload: Option<Widget>, _metadata: Metadata) -> Result<(), deimos::BoxError> {
    let _ = payload.map(|widget| widget.id);
    Ok(())
}

fn main() {}
