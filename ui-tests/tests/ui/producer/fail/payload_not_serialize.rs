use deimos::producer;

struct Widget {
    id: i64,
}

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none), payload = Widget)]
struct WidgetProducer;

fn main() {}
