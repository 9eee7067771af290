mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[async_trait::async_trait]
    #[deimos::kafka_source(producers(GizmoProducer))]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(self, _db: &C, _insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            Ok(self)
        }
    }
}

fn main() {}
