use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {
    id: i64,
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Gizmo",
    group_id = "widget-consumer",
    key_config(none)
)]
async fn handle(payload: Option<Widget>, metadata: Metadata) -> Result<(), deimos::BoxError> {
    let _ = (payload, metadata);
    Ok(())
}

fn main() {}
