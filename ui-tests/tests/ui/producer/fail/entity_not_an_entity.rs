#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = String)]
struct WidgetProducer;

fn main() {}
