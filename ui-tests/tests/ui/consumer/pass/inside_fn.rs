//! A handler declared inside a function body.

use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {
    id: i64,
}

fn main() {
    #[consumer(
        topic = "widgets",
        schema = "com.example.Widget",
        group_id = "local",
        key_config(field = "id")
    )]
    async fn handle(payload: Option<Widget>, _metadata: Metadata) -> Result<(), deimos::BoxError> {
        let _ = payload.map(|w| w.id);
        Ok(())
    }

    assert_eq!(deimos::consumer::registered().len(), 1);
}
