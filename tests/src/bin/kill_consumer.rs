//! A consumer process for the crash and group tests (`tests/tests/consumer_kill.rs`,
//! `consumer_crash.rs`, `consumer_group_split.rs`): consumes `widgets` through
//! `deimos::run()` and appends each handled message to the file named by `KILL_TEST_OUT`, one
//! line `<id> <partition> <offset>` each, written before the handler returns (read back with
//! [`deimos_tests::child::read_handled`]). Another topic or group comes from the deimos
//! configuration: `DEIMOS_CONSUMER__ON_KILL_WIDGET__TOPIC`, `…__GROUP_ID`.
//!
//! With `KILL_TEST_STALL_AFTER=N`, the handler of message N+1 never returns (and records
//! nothing), so a SIGKILL always lands while a message is in flight: had its offset been
//! committed before the handler finished, that message would be lost.
//!
//! With `KILL_TEST_DELAY_US=N`, each handler first sleeps N microseconds, so a test can
//! kill the process while it consumes, between offset commits.
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
    metadata: deimos::Metadata,
) -> Result<(), deimos::BoxError> {
    let w = widget.ok_or("unexpected tombstone")?;
    if let Ok(stall_after) = std::env::var("KILL_TEST_STALL_AFTER") {
        if STARTED.fetch_add(1, Ordering::SeqCst) >= stall_after.parse::<u64>()? {
            std::future::pending::<()>().await;
        }
    }
    if let Ok(micros) = std::env::var("KILL_TEST_DELAY_US") {
        // Blocking on purpose: a precise, short pause (tokio's timer has millisecond
        // granularity); this process runs nothing else that could starve.
        std::thread::sleep(std::time::Duration::from_micros(micros.parse()?));
    }
    let path = std::env::var("KILL_TEST_OUT")?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write(2) per line: a SIGKILL cannot leave half a line for the next process to
    // append to. Once write(2) returns the line is in the page cache, which outlives a killed
    // process, so no fsync is needed (the tests kill processes, not the machine).
    let line = format!("{} {} {}\n", w.id, metadata.partition, metadata.offset);
    f.write_all(line.as_bytes())?;
    Ok(())
}

#[tokio::main]
async fn main() -> deimos::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    deimos::run().await
}
