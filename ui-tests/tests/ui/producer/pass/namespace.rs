use deimos::{producer, Producer};
use serde::Serialize;

#[producer(
    topic = "widgets",
    schema = "Widget",
    namespace = "com.example",
    key_config(field = "id")
)]
#[derive(Serialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {
    assert_eq!(Widget::SCHEMA.name, "Widget");
    assert_eq!(Widget::SCHEMA.namespace.as_deref(), Some("com.example"));
}
