#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = deimos_ui_tests::widget::Entity)]
async fn on_widget(_w: Option<deimos::Payload>, _m: deimos::Metadata) -> Result<(), deimos::BoxError> {
    Ok(())
}

fn main() {}
