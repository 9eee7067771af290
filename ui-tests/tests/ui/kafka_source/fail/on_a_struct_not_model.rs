#[deimos::kafka_source(producers(GizmoProducer))]
pub struct Gizmo {
    pub id: i64,
}

pub struct GizmoProducer;

fn main() {}
