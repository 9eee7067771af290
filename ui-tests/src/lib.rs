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
