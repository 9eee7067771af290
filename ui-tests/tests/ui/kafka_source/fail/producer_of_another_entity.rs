mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(super::WidgetProducer))]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}

#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity)]
pub struct WidgetProducer;
