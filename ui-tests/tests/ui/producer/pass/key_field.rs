use deimos::schema::KeyConfig;
use deimos::{producer, Producer};
use serde::{Deserialize, Serialize};

/// Every schema field, including those with defaults.
#[producer(
    topic = "widgets",
    schema = "com.example.Widget",
    key_config(field = "id")
)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Widget {
    pub id: i64,
    pub name: String,
    pub price: f64,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub updated_at: i64,
}

fn main() {
    assert_eq!(Widget::KEY_CONFIG, KeyConfig::Field("id".into()));
    assert_eq!(Widget::TOPIC, "widgets");
    // `publish` and `publish_list` exist and are `Send` futures.
    fn assert_send<T: Send>(_: T) {}
    let widget = Widget {
        id: 1,
        name: "bolt".into(),
        price: 0.5,
        tags: vec![],
        description: None,
        updated_at: 0,
    };
    assert_send(widget.publish());
    assert_send(Widget::publish_list(&[widget.clone()]));
    assert_send(Widget::publish_list(vec![&widget]));
}
