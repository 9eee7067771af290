mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(GizmoProducer), destroy)]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}
