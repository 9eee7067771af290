mod gizmo {
    deimos_ui_tests::gizmo_entity!();
    use sea_orm::Set;

    // Without `#[async_trait]`: the attribute adds it. The entity's own hooks keep their
    // early returns and `?`, and may name `Self::Entity` in their signatures.
    #[deimos::kafka_source(producers(GizmoProducer), create, update, delete, import)]
    impl ActiveModelBehavior for ActiveModel {
        fn new() -> Self {
            Self {
                name: Set("unnamed".to_owned()),
                ..ActiveModelTrait::default()
            }
        }

        async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            if insert {
                return Ok(self);
            }
            let _ = db.get_database_backend();
            self.name = Set("renamed".to_owned());
            Ok(self)
        }

        async fn after_save<C>(
            model: <Self::Entity as EntityTrait>::Model,
            _db: &C,
            _insert: bool,
        ) -> Result<<Self::Entity as EntityTrait>::Model, DbErr>
        where
            C: ConnectionTrait,
        {
            if model.name.is_empty() {
                Err(DbErr::Custom("no name".to_owned()))?;
            }
            Ok(model)
        }

        async fn after_delete<C>(self, _: &C) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            Ok(self)
        }
    }
}

fn main() {}

#[allow(dead_code)]
async fn uses_import(db: &sea_orm::DatabaseConnection, models: &[gizmo::Model]) -> deimos::Result<()> {
    gizmo::Entity::import(db, models, deimos::orm::ImportMode::Upsert).await
}
