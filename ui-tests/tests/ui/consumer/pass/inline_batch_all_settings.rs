//! `delivery = "inline_batch"` with every setting, durations in both forms; the registration
//! carries them.

use std::time::Duration;

use deimos::consumer::{ConsumerSettings, Delivery, Handler};
use deimos::{consumer, BatchMetadata};

#[derive(serde::Deserialize)]
struct Widget {
    id: i64,
}

mod hooks {
    pub(crate) fn is_fatal(error: &deimos::Error) -> bool {
        error.to_string().contains("fatal")
    }
}

#[consumer(
    topic = "widgets",
    schema = "com.example.Widget",
    group_id = "widget-batches",
    key_config(field = "id"),
    delivery = "inline_batch",
    max_concurrency = 4,
    start_from_beginning = false,
    session_timeout = 30,
    heartbeat_interval = "500ms",
    offset_commit_interval = "2m",
    offset_commit_threshold = 1000,
    backoff(min = "100ms", max = 60),
    reraise_errors = true,
    disabled = false,
    max_batch_size = 500,
    max_wait_time = "1s 500ms",
    min_bytes = 1,
    max_bytes_per_partition = 1048576,
    report_lag = true,
    dead_letter_topic = "widgets.dlq",
    dead_letter_max_retries = 3,
    fatal_error = hooks::is_fatal,
)]
async fn handle(payloads: Vec<Option<Widget>>, metadata: BatchMetadata) -> Result<(), String> {
    for (widget, offset) in payloads.iter().zip(&metadata.offsets) {
        println!("{:?} at {offset}", widget.as_ref().map(|w| w.id));
    }
    Ok(())
}

fn main() {
    let registration = deimos::consumer::registration("handle").expect("registered");
    assert_eq!(registration.delivery, Delivery::InlineBatch);
    assert!(matches!(registration.handler, Handler::Batch(_)));
    assert!(registration.fatal_error.is_some());
    assert_eq!(
        registration.settings,
        ConsumerSettings {
            max_concurrency: Some(4),
            start_from_beginning: Some(false),
            session_timeout: Some(Duration::from_secs(30)),
            heartbeat_interval: Some(Duration::from_millis(500)),
            offset_commit_interval: Some(Duration::from_secs(120)),
            offset_commit_threshold: Some(1000),
            offset_retention_time: None,
            backoff_min: Some(Duration::from_millis(100)),
            backoff_max: Some(Duration::from_secs(60)),
            reraise_errors: Some(true),
            disabled: Some(false),
            max_batch_size: Some(500),
            max_wait_time: Some(Duration::from_millis(1500)),
            min_bytes: Some(1),
            max_bytes_per_partition: Some(1048576),
            report_lag: Some(true),
            dead_letter_topic: Some("widgets.dlq"),
            dead_letter_max_retries: Some(3),
        }
    );
}
