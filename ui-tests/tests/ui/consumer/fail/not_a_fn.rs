use deimos::consumer;

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-consumer",
    key_config(none)
)]
struct Widget {
    id: i64,
}

fn main() {}
