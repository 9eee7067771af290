#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity, payload = deimos_ui_tests::widget::Model)]
struct WidgetProducer;

fn main() {}
