use deimos_ui_tests::widget;

/// Refetches (the default), no hooks.
#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = widget::Entity)]
#[derive(Debug)]
pub struct WidgetProducer;

/// No refetch, with hooks.
#[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"),
                   entity = widget::Entity, refetch = false, hooks)]
#[derive(Debug)]
pub struct WidgetNames;

impl deimos::orm::EntityProducerHooks for WidgetNames {
    fn watched_attributes(_model: &widget::Model) -> Vec<String> {
        vec!["name".into()]
    }
}

#[allow(dead_code)]
async fn publish(db: &sea_orm::DatabaseConnection, model: &widget::Model) -> deimos::Result<()> {
    use deimos::orm::{EntityProducer, Record};
    WidgetProducer::send_event(model).await?;
    WidgetProducer::send_events([model, model]).await?;
    WidgetNames::send_events_with([model], &deimos::producer::PublishOptions::new()).await?;
    WidgetProducer::send_records(db, [Record::Key(1), Record::Model(model.clone())]).await?;
    assert!(WidgetProducer::REFETCH && !WidgetNames::REFETCH);
    Ok(())
}

fn main() {}
