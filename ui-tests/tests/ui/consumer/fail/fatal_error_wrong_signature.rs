use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {}

fn is_fatal(_error: &deimos::Error) -> Result<bool, ()> {
    Ok(true)
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none),
    fatal_error = is_fatal,
)]
async fn handle(payload: Option<Widget>, metadata: Metadata) -> Result<(), deimos::BoxError> {
    let _ = (payload, metadata);
    Ok(())
}

fn main() {}
