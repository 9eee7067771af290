//! `namespace` with a simple schema name; any error type that converts into `BoxError`; a
//! handler with no payload use; two handlers in one module.

use deimos::{consumer, Metadata};

#[derive(serde::Deserialize)]
struct Widget {}

#[consumer(
    topic = "widgets",
    schema = "Widget",
    namespace = "com.example",
    group_id = "io-errors",
    key_config(none)
)]
async fn with_io_error(
    _payload: Option<Widget>,
    _metadata: Metadata,
) -> Result<(), std::io::Error> {
    Ok(())
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "string-errors",
    key_config(none)
)]
pub(crate) async fn with_string_error(payload: Option<Widget>, _: Metadata) -> Result<(), String> {
    payload.map(|_| ()).ok_or_else(|| "tombstone".to_owned())
}

fn main() {
    let names: Vec<&str> = deimos::consumer::registered()
        .iter()
        .map(|r| r.name.rsplit("::").next().unwrap())
        .collect();
    assert_eq!(names, ["with_io_error", "with_string_error"]);
}
