use deimos::consumer;

#[derive(serde::Deserialize)]
struct Widget {}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none),
    delivery = "inline_batch",
)]
async fn handle(payloads: Vec<Option<Widget>>) -> Result<(), deimos::BoxError> {
    let _ = payloads;
    Ok(())
}

fn main() {}
