#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity, refetch = "no")]
struct WidgetProducer;

fn main() {}
