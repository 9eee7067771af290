//! A consumer process for the SIGKILL test (`tests/tests/consumer_kill.rs`): consumes
//! `widgets` through `deimos::run()` and appends each handled id to the file named by
//! `KILL_TEST_OUT`, one per line, synced before the handler returns.
//!
//! With `KILL_TEST_STALL_AFTER=N`, the handler of message N+1 never returns (and records
//! nothing), so a SIGKILL always lands while a message is in flight: had its offset been
//! committed before the handler finished, that message would be lost.
//!
//! Configured by `DEIMOS_*` environment variables like any deimos service.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use deimos_tests::Widget;

static STARTED: AtomicU64 = AtomicU64::new(0);

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
    if let Ok(stall_after) = std::env::var("KILL_TEST_STALL_AFTER") {
        if STARTED.fetch_add(1, Ordering::SeqCst) >= stall_after.parse::<u64>()? {
            std::future::pending::<()>().await;
        }
    }
    let path = std::env::var("KILL_TEST_OUT")?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", w.id)?;
    f.sync_data()?;
    Ok(())
}

#[tokio::main]
async fn main() -> deimos::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    deimos::run().await
}
