//! A consumer process for the SIGKILL test (`tests/tests/consumer_kill.rs`): consumes
//! `widgets` through `deimos::run()` and appends each handled id to the file named by
//! `KILL_TEST_OUT`, one per line, synced before the handler returns.
//!
//! Configured by `DEIMOS_*` environment variables like any deimos service.

use std::io::Write as _;

use deimos_tests::Widget;

#[deimos::consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "kill-test",
    key_config(field = "id")
)]
async fn on_kill_widget(
    widget: Option<Widget>,
    _metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    let path = std::env::var("KILL_TEST_OUT")?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", w.id)?;
    f.sync_data()?;
    // Slow enough that the test can kill us mid-stream.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> deimos::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    deimos::run().await
}
