//! trybuild cases for deimos-macros live in tests/ui; this library holds what several cases
//! share.

/// A SeaORM entity matching `com.example.Widget` (`id`, `name`, `price`, `updated_at`), for
/// the entity producer and consumer cases.
pub mod widget {
    #![allow(missing_docs)]
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "widgets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
        pub price: f64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The body of a `gizmo` entity module for the `#[kafka_source]` cases: a SeaORM entity
/// (`Model { id, name }`, `Relation`) and its entity producer `GizmoProducer` (topic `gizmos`,
/// schema `com.example.Widget`), without the `impl ActiveModelBehavior` each case writes.
#[macro_export]
// rustfmt is not idempotent on the attribute's continuation line inside `macro_rules!`.
#[rustfmt::skip]
macro_rules! gizmo_entity {
    () => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "gizmos")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        #[::deimos::producer(topic = "gizmos", schema = "com.example.Widget",
                             key_config(field = "id"), entity = Entity)]
        pub struct GizmoProducer;
    };
}
