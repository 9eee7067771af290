mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    impl ActiveModelBehavior for ActiveModel {}

    #[deimos::kafka_source(producers(GizmoProducer))]
    impl ActiveModel {
        pub fn touch(&self) {}
    }
}

fn main() {}
