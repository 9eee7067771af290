use deimos::schema::KeyConfig;
use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {
    id: i64,
    name: String,
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none)
)]
async fn handle(payload: Option<Widget>, metadata: Metadata) -> Result<(), deimos::BoxError> {
    if let Some(widget) = payload {
        println!("{} {} at {}", widget.id, widget.name, metadata.offset);
    }
    Ok(())
}

fn main() {
    let registered = deimos::consumer::registered();
    let handler = registered
        .iter()
        .find(|r| r.name.ends_with("::handle"))
        .expect("handle is registered");
    assert_eq!(handler.topic, "widgets");
    assert_eq!(handler.group_id, "widget-consumer");
    assert_eq!(handler.schema.full_name(), "com.example.Widget");
    assert_eq!(handler.key_config, KeyConfig::None);
}
