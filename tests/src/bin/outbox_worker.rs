//! An outbox worker process for the multi-process and crash tests
//! (`tests/tests/outbox_processes.rs`): runs `OUTBOX_TEST_WORKERS` (default 2) outbox workers
//! on the database at `OUTBOX_TEST_DB_URL` until SIGTERM or SIGINT (then stops them after
//! their batch), or until killed. Configured otherwise by `DEIMOS_*` environment variables
//! like any deimos service (brokers, `db_producer.*`). Prints `started <worker ids>` once the
//! workers run, and `sent <n>` once they stopped: the messages its workers delivered (the
//! `db_producer.produce` events without an error).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("OUTBOX_TEST_DB_URL")?;
    let workers: usize = std::env::var("OUTBOX_TEST_WORKERS")
        .unwrap_or_else(|_| "2".into())
        .parse()?;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let _subscription = deimos::events::subscribe(move |event| {
        if let deimos::events::Event::DbProducerProduce {
            messages,
            error: None,
            ..
        } = event
        {
            counter.fetch_add(messages.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    let app = deimos::configure(deimos::Config::load()?)?;
    app.set_database(sea_orm::Database::connect(&url).await?);
    let handle = app.start_db_backend(workers)?;
    println!("started {}", handle.worker_ids().join(" "));
    deimos::runtime::shutdown_signal().await;
    handle.shutdown().await;
    println!("sent {}", sent.load(std::sync::atomic::Ordering::Relaxed));
    Ok(())
}
