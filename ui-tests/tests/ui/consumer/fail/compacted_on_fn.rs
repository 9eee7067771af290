#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   delivery = "inline_batch", compacted = true)]
async fn on_widgets(_w: Vec<Option<deimos::Payload>>, _m: deimos::BatchMetadata) -> Result<(), deimos::BoxError> {
    Ok(())
}

fn main() {}
