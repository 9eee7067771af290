use deimos_ui_tests::widget;

/// Every default.
#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = widget::Entity)]
#[derive(Debug)]
pub struct WidgetRows;

/// Every hook.
#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = widget::Entity, hooks, delivery = "batch")]
#[derive(Debug)]
pub struct WidgetNames;

impl deimos::orm::EntityConsumerHooks for WidgetNames {
    fn process_message(payload: Option<&deimos::Payload>, _metadata: &deimos::Metadata) -> bool {
        payload.is_some()
    }

    async fn fetch_record<C: sea_orm::ConnectionTrait>(
        db: &C,
        payload: Option<&deimos::Payload>,
        key: Option<&deimos::PayloadValue>,
    ) -> Result<Option<widget::Model>, deimos::BoxError> {
        deimos::orm::fetch_by_key::<Self, C>(db, payload, key).await
    }

    fn record_attributes(mut payload: deimos::Payload, _key: Option<&deimos::PayloadValue>) -> deimos::Payload {
        payload.remove("price");
        payload
    }
}

/// A batch entity consumer, uncompacted.
#[deimos::consumer(topic = "widgets", schema = "com.example.Widget", group_id = "g", key_config(field = "id"),
                   entity = widget::Entity, delivery = "inline_batch", compacted = false)]
#[derive(Debug)]
pub struct WidgetSlices;

fn main() {
    let _ = deimos::consumer::registration("WidgetSlices").expect("registered");
    let _ = deimos::consumer::registration("WidgetRows").expect("registered");
    let _ = deimos::consumer::registration("WidgetNames").expect("registered");
}
