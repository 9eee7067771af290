//! The per-registration consume loop.

use backon::BackoffBuilder;
use futures::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::watch;
use tracing::{debug, error, info, warn, Instrument as _};

use super::{ConsumerRegistration, Metadata, ResolvedConsumer};
use crate::error::{Error, Result};
use crate::runtime::AppInner;

/// Runs one registration until `shutdown` turns true; then finishes the message in flight,
/// commits what was handled and closes the consumer (leaving the group).
pub(crate) async fn run_consumer(
    app: &AppInner,
    reg: &'static ConsumerRegistration,
    settings: &ResolvedConsumer,
    instance: u32,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let _ = instance;
    let client = settings.client_config(&app.config);
    let consumer: StreamConsumer = client.create().map_err(|e| {
        let e = crate::config::secret::redact_client_error(e, &client);
        Error::kafka(format!("creating consumer `{}`", reg.name), e)
    })?;
    consumer
        .subscribe(&[settings.topic.as_str()])
        .map_err(|e| {
            Error::kafka(
                format!("subscribing `{}` to topic `{}`", reg.name, reg.topic),
                e,
            )
        })?;
    info!(
        consumer = reg.name,
        topic = reg.topic,
        group_id = reg.group_id,
        "consumer started"
    );

    let threshold = app.config.consumers.offset_commit_threshold;
    let mut since_commit = 0u64;
    let mut fatal = None;
    loop {
        let message = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            received = consumer.recv() => received,
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                // librdkafka reports transient broker errors here and keeps retrying itself.
                warn!(consumer = reg.name, error = %e, "consumer error");
                if let Some(code) = e.rdkafka_error_code() {
                    if code == RDKafkaErrorCode::Fatal {
                        return Err(Error::kafka(format!("consuming `{}`", reg.topic), e));
                    }
                }
                continue;
            }
        };
        match handle_with_policy(app, reg, &message, &mut shutdown).await {
            Handled::Done => {}
            // Shut down while retrying: the message stays uncommitted and is redelivered.
            Handled::Interrupted => break,
            Handled::Fatal(error) => {
                // Not stored: the fatal message is delivered again after a restart. What was
                // handled before it is committed below, after the loop: closing the consumer
                // while this iteration's message is still alive blocks librdkafka's close.
                error!(consumer = reg.name, error = %error_chain(&error),
                       "fatal error; stopping the consumer");
                fatal = Some(error);
                break;
            }
        }
        if let Err(e) = consumer.store_offset_from_message(&message) {
            // The partition was revoked meanwhile; its new owner will see the message again.
            warn!(consumer = reg.name, topic = message.topic(), partition = message.partition(),
                  offset = message.offset(), error = %e, "could not store offset");
        }
        since_commit += 1;
        if threshold > 0 && since_commit >= threshold {
            since_commit = 0;
            commit(&consumer, reg, CommitMode::Async);
        }
    }
    commit(&consumer, reg, CommitMode::Sync);
    consumer.unsubscribe();
    drop(consumer); // rd_kafka_consumer_close: leaves the group
    info!(consumer = reg.name, "consumer stopped");
    fatal.map_or(Ok(()), Err)
}

fn commit(consumer: &StreamConsumer, reg: &ConsumerRegistration, mode: CommitMode) {
    match consumer.commit_consumer_state(mode) {
        Ok(()) => {}
        Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => {}
        Err(e) => warn!(consumer = reg.name, error = %e, "offset commit failed"),
    }
}

/// How [`handle_with_policy`] left a message.
enum Handled {
    /// Handled, or its error skipped: store its offset.
    Done,
    /// Shutdown interrupted a retry: the message was not handled and must not be committed.
    Interrupted,
    /// A fatal error ([`super::set_fatal_error`]): stop, without committing the message.
    Fatal(Error),
}

/// Handles one message under the error policy.
async fn handle_with_policy(
    app: &AppInner,
    reg: &'static ConsumerRegistration,
    message: &BorrowedMessage<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> Handled {
    let reraise = app.config.consumers.reraise_errors;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(app.config.consumers.backoff.min)
        .with_max_delay(app.config.consumers.backoff.max)
        .without_max_times()
        .build();
    let mut attempt = 1u32;
    loop {
        let err = match consume_instrumented(app, reg, message, attempt).await {
            Ok(()) => return Handled::Done,
            Err(e) => e,
        };
        if super::is_fatal(&err) {
            return Handled::Fatal(err);
        }
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        if !reraise {
            error!(consumer = reg.name, topic, partition, offset, error = %error_chain(&err),
                   "handler failed; skipping message (consumers.reraise_errors = false)");
            return Handled::Done;
        }
        let delay = delays.next().unwrap_or(app.config.consumers.backoff.max);
        warn!(consumer = reg.name, topic, partition, offset, attempt, retry_in = ?delay,
              error = %error_chain(&err), "handler failed; retrying the same message");
        attempt += 1;
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return Handled::Interrupted,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One delivery attempt of `message` (the `attempt`th), with Deimos' consumer metrics and a
/// `deimos.consume` span around it:
///
/// - the counter `handler` tagged `topic` and `status:received` once the message is decoded,
///   then `status:success` or `status:error` (a decode failure counts as an error without
///   `received`, as in Deimos, where decoding happens inside `around_consume`);
/// - on success, the histogram `handler` tagged `topic` and `time:consume`: the seconds from
///   the start of decoding to the handler's return.
///
/// The span (`tracing`, info level) carries OpenTelemetry's messaging attributes:
/// `messaging.system = "kafka"`, `messaging.destination.name` (topic),
/// `messaging.kafka.destination.partition`, `messaging.kafka.message.offset`,
/// `messaging.kafka.consumer.group`, plus `deimos.consumer` (the handler) and
/// `deimos.attempt`; a failure is recorded on it as `error` (the error chain) and
/// `otel.status_code = "ERROR"`. Decoding runs in a child span `deimos.decode` with the same
/// attributes, which records a decode failure the same way.
async fn consume_instrumented(
    app: &AppInner,
    reg: &'static ConsumerRegistration,
    message: &BorrowedMessage<'_>,
    attempt: u32,
) -> Result<()> {
    let topic = message.topic();
    let span = message_span("deimos.consume", reg, message);
    span.record("deimos.attempt", attempt);
    let started = std::time::Instant::now();
    let outcome = handle_once(app, reg, message)
        .instrument(span.clone())
        .await;
    match &outcome {
        Ok(()) => {
            metrics::histogram!("handler", "topic" => topic.to_owned(), "time" => "consume")
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("handler", "topic" => topic.to_owned(), "status" => "success")
                .increment(1);
        }
        Err(e) => {
            metrics::counter!("handler", "topic" => topic.to_owned(), "status" => "error")
                .increment(1);
            record_error(&span, e);
        }
    }
    outcome
}

/// A span named `name` for `message` consumed by `reg`, with the messaging attributes of
/// [`consume_instrumented`] (and `error`, `otel.status_code`, `deimos.attempt` to be filled).
fn message_span(
    name: &'static str,
    reg: &'static ConsumerRegistration,
    message: &BorrowedMessage<'_>,
) -> tracing::Span {
    macro_rules! span_named {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                "messaging.system" = "kafka",
                "messaging.destination.name" = message.topic(),
                "messaging.kafka.destination.partition" = message.partition(),
                "messaging.kafka.message.offset" = message.offset(),
                "messaging.kafka.consumer.group" = reg.group_id,
                "deimos.consumer" = reg.name,
                "deimos.attempt" = tracing::field::Empty,
                "error" = tracing::field::Empty,
                "otel.status_code" = tracing::field::Empty,
            )
        };
    }
    // `tracing` needs span names as literals.
    match name {
        "deimos.decode" => span_named!("deimos.decode"),
        _ => span_named!("deimos.consume"),
    }
}

/// Records `error` (its chain) on `span`, with OpenTelemetry's `otel.status_code = "ERROR"`.
fn record_error(span: &tracing::Span, error: &(dyn std::error::Error + 'static)) {
    span.record("error", error_chain(error).as_str());
    span.record("otel.status_code", "ERROR");
}

async fn handle_once(
    app: &AppInner,
    reg: &'static ConsumerRegistration,
    message: &BorrowedMessage<'_>,
) -> Result<()> {
    let at = (message.topic(), message.partition(), message.offset());
    let decode_span = message_span("deimos.decode", reg, message);
    let decoded = async {
        let key = app
            .codec
            .decode_key(&reg.schema, &reg.key_config, message.key(), at)
            .await?;
        let value = app
            .codec
            .decode_incoming(&reg.schema, message.payload(), at)
            .await?;
        Ok::<_, Error>((key, value))
    }
    .instrument(decode_span.clone())
    .await;
    let (key, value) = match decoded {
        Ok(decoded) => decoded,
        Err(e) => {
            record_error(&decode_span, &e);
            return Err(e);
        }
    };
    drop(decode_span);
    metrics::counter!("handler", "topic" => at.0.to_owned(), "status" => "received").increment(1);
    let metadata = Metadata {
        key,
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        timestamp: message.timestamp().to_millis(),
        headers: message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
    };
    debug!(
        consumer = reg.name,
        topic = at.0,
        partition = at.1,
        offset = at.2,
        "handling message"
    );
    // A panicking handler is an error like any other (retried or skipped per policy); it does
    // not take the consumer down.
    let super::Handler::Message(handler) = reg.handler else {
        return Err(Error::Runtime {
            reason: format!(
                "`{}`: inline_batch delivery is not implemented yet",
                reg.name
            ),
        });
    };
    let outcome = std::panic::AssertUnwindSafe(handler(value, metadata))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(format!("handler panicked: {what}").into())
        });
    outcome.map_err(|source| Error::Handler {
        handler: reg.name.to_owned(),
        topic: at.0.to_owned(),
        partition: at.1,
        offset: at.2,
        source,
    })
}

/// `error: cause: cause` on one line, for logs.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
