//! A database poller process for the multi-process poller test (`tests/tests/poller.rs`):
//! runs `PollItemProducer`'s poller (every 50 ms, batches of 25, `delay_time` 200 ms) on the
//! database at `POLLER_TEST_DB_URL` until SIGTERM or SIGINT, then stops it after its batch.
//! Configured otherwise by `DEIMOS_*` environment variables like any deimos service (brokers,
//! schema path). Prints `started <lock id>` once the poller runs, and `published <n>` once it
//! stopped: the messages this process produced (the `produce` events).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deimos_tests::poll::{fast_poller, PollItemProducer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("POLLER_TEST_DB_URL")?;
    let published = Arc::new(AtomicUsize::new(0));
    let counter = published.clone();
    let _subscription = deimos::events::subscribe(move |event| {
        if let deimos::events::Event::Produce { messages, .. } = event {
            counter.fetch_add(messages.len(), Ordering::Relaxed);
        }
    });
    let app = deimos::configure(deimos::Config::load()?)?;
    app.set_database(sea_orm::Database::connect(&url).await?);
    let mut poller = fast_poller();
    poller.run_every = Duration::from_millis(50);
    poller.batch_size = 25;
    poller.delay_time = Duration::from_millis(200);
    app.add_db_poller::<PollItemProducer>(poller)?;
    let handle = app.start_db_pollers()?;
    println!("started {}", handle.owner());
    deimos::runtime::shutdown_signal().await;
    handle.shutdown().await;
    println!("published {}", published.load(Ordering::Relaxed));
    Ok(())
}
