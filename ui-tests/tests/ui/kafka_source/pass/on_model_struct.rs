mod gizmo {
    use sea_orm::entity::prelude::*;

    #[deimos::kafka_source(producers(super::GizmoProducer), delete, deletion_payload = super::gone)]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "gizmos")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[deimos::producer(topic = "gizmos", schema = "com.example.Widget", key_config(field = "id"),
                   entity = gizmo::Entity)]
pub struct GizmoProducer;

pub fn gone(_: &gizmo::ActiveModel) -> deimos::Payload {
    deimos::Payload::new()
}

fn main() {}
