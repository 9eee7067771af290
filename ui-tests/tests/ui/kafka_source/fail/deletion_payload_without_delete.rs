mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers(GizmoProducer), create, deletion_payload = super::gone)]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}

pub fn gone(_: &gizmo::ActiveModel) -> deimos::Payload {
    deimos::Payload::new()
}
