use deimos::{consumer, BatchMetadata};

#[derive(serde::Deserialize)]
struct Widget {}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none),
    delivery = "inline_batch",
)]
async fn handle(payload: Option<Widget>, metadata: BatchMetadata) -> Result<(), deimos::BoxError> {
    let _ = (payload, metadata);
    Ok(())
}

fn main() {}
