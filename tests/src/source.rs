//! Entities of the `#[kafka_source]` tests: `gadget` (an auto-increment key, the attribute on
//! its `impl ActiveModelBehavior` with hooks of its own) and `shelf` (a compound key, the
//! attribute on its `Model` struct, `create` and `delete` only, a deletion payload of its own),
//! with their entity producers.

use std::sync::atomic::{AtomicUsize, Ordering};

use deimos::orm::EntityProducerHooks;
use deimos::{payload, Payload};

/// `gadgets` rows on topic `gadgets`, keyed by `id`.
#[deimos::producer(
    topic = "gadgets",
    schema = "com.example.Gadget",
    key_config(field = "id"),
    entity = gadget::Entity
)]
#[derive(Debug)]
pub struct GadgetProducer;

/// `gadgets` rows on topic `gadget-prices`, only when the price changes.
#[deimos::producer(
    topic = "gadget-prices",
    schema = "com.example.Gadget",
    key_config(field = "id"),
    entity = gadget::Entity,
    hooks
)]
#[derive(Debug)]
pub struct GadgetPriceProducer;

impl EntityProducerHooks for GadgetPriceProducer {
    fn watched_attributes(_model: &gadget::Model) -> Vec<String> {
        vec!["price".into()]
    }
}

/// A new gadget (no id: the database assigns it) with this name and price and empty notes.
pub fn new_gadget(name: &str, price: f64) -> gadget::ActiveModel {
    gadget::ActiveModel {
        name: sea_orm::Set(name.into()),
        price: sea_orm::Set(price),
        notes: sea_orm::Set(String::new()),
        ..Default::default()
    }
}

/// How many times the gadget's own `after_delete` ran.
pub static GADGET_DELETES: AtomicUsize = AtomicUsize::new(0);

/// The `gadgets` entity.
#[allow(missing_docs)]
pub mod gadget {
    use sea_orm::entity::prelude::*;
    use sea_orm::{ActiveValue, Set};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "gadgets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub price: f64,
        /// Not in the schema: changing only this sends nothing.
        pub notes: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[deimos::kafka_source(producers(super::GadgetProducer, super::GadgetPriceProducer))]
    #[async_trait::async_trait]
    impl ActiveModelBehavior for ActiveModel {
        /// Stamps `updated_at` on every save, and refuses an empty name on update (with an
        /// early `return` and an error of its own).
        async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            self.updated_at = Set(chrono::Utc::now());
            if insert {
                return Ok(self);
            }
            if let ActiveValue::Set(name) = &self.name {
                if name.is_empty() {
                    return Err(DbErr::Custom("a gadget needs a name".into()));
                }
            }
            Ok(self)
        }

        async fn after_delete<C>(self, _db: &C) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            super::GADGET_DELETES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self)
        }
    }
}

/// `shelves` rows on topic `shelves` (schema `com.example.Stock`), keyed by `Stock_key`.
#[deimos::producer(
    topic = "shelves",
    schema = "com.example.Stock",
    key_config(schema = "Stock_key"),
    entity = shelf::Entity
)]
#[derive(Debug)]
pub struct ShelfProducer;

/// The shelf's deletion payload: a last message with quantity 0 instead of a tombstone.
pub fn emptied_shelf(shelf: &shelf::ActiveModel) -> Payload {
    let text = |v: &sea_orm::ActiveValue<String>| v.clone().take().unwrap_or_default();
    payload! {
        "warehouse" => text(&shelf.warehouse),
        "sku" => text(&shelf.sku),
        "quantity" => 0,
        "price" => 0.0,
        "updated_at" => chrono::Utc::now(),
    }
}

/// How many deletion payloads [`emptied_shelf`] made.
pub static SHELF_DELETES: AtomicUsize = AtomicUsize::new(0);

/// Counts, then [`emptied_shelf`].
pub fn counted_emptied_shelf(shelf: &shelf::ActiveModel) -> Payload {
    SHELF_DELETES.fetch_add(1, Ordering::SeqCst);
    emptied_shelf(shelf)
}

/// The `shelves` entity (compound key).
#[allow(missing_docs)]
pub mod shelf {
    use sea_orm::entity::prelude::*;

    #[deimos::kafka_source(
        producers(super::ShelfProducer),
        create,
        delete,
        deletion_payload = super::counted_emptied_shelf
    )]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "shelves")]
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
}
