#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity, compacted = false)]
struct WidgetRows;

fn main() {}
