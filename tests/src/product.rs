//! The `products` SeaORM entity of the ORM tests (schema `com.example.Product`): a decimal, a
//! date, a UTC timestamp, JSON columns for a record and an array, a UUID, and a column the
//! schema lacks.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub sku: String,
    pub name: String,
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub price: Decimal,
    pub weight: Option<f64>,
    pub released_on: Option<Date>,
    pub updated_at: DateTimeUtc,
    pub dimensions: Option<Json>,
    pub tags: Json,
    pub active: bool,
    pub external_id: Option<Uuid>,
    /// Not in the schema: never published, never written by a consumer (new rows take the
    /// column default).
    #[sea_orm(default_value = "")]
    pub internal_note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `stock` entity (schema `com.example.Stock`): a compound primary key.
pub mod stock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub warehouse: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        pub quantity: i32,
        pub price: f64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
