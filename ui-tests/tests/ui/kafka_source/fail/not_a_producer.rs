mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(GizmoProducer, String))]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}
