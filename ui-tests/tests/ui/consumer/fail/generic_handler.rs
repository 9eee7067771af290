use deimos::{consumer, Metadata};

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none)
)]
async fn handle<T>(payload: Option<T>, metadata: Metadata) -> Result<(), deimos::BoxError> {
    let _ = (payload, metadata);
    Ok(())
}

fn main() {}
