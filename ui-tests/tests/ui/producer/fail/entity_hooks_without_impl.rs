#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity, hooks)]
struct WidgetProducer;

fn main() {}
