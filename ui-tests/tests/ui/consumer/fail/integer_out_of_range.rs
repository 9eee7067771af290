use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none),
    min_bytes = 5000000000,
)]
async fn handle(payload: Option<Widget>, metadata: Metadata) -> Result<(), deimos::BoxError> {
    let _ = (payload, metadata);
    Ok(())
}

fn main() {}
