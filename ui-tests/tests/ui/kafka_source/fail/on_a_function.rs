#[deimos::kafka_source(producers(GizmoProducer))]
fn gizmo() {}

pub struct GizmoProducer;

fn main() {}
