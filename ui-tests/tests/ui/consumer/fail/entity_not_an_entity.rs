#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = String)]
struct WidgetRows;

fn main() {}
