mod gizmo {
    deimos_ui_tests::gizmo_entity!();

    #[deimos::kafka_source(create)]
    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}
