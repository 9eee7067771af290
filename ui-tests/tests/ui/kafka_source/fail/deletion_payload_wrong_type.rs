mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(GizmoProducer), delete, deletion_payload = super::gone)]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}

pub fn gone(_: &gizmo::ActiveModel) -> String {
    String::new()
}
