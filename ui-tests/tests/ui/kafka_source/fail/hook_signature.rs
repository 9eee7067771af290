mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(GizmoProducer))]
    impl ActiveModelBehavior for ActiveModel {
        async fn after_delete<C>(self, _db: &C, _extra: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            Ok(self)
        }
    }
}

fn main() {}
