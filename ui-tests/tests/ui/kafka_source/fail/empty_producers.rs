mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(producers())]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}
