//! `metrics.prometheus`: the recorder (metrics-exporter-prometheus, without its HTTP
//! listener) behind a naming layer, and the scrape endpoint deimos serves itself (axum on a
//! thread of its own).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::config::PrometheusConfig;
use crate::error::{Error, Result};

/// Deimos' histograms that share their name with a counter of Deimos: in Prometheus they get
/// `_seconds` (their unit), since a name has one type there.
const TIMED: &[&str] = &["handler"];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// The text format's content type (Prometheus exposition format 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The running Prometheus endpoint (`metrics.prometheus`, feature `prometheus`): where it
/// listens and what a scrape returns. Get it from
/// [`Exporters::prometheus`](super::Exporters::prometheus).
pub struct PrometheusExporter {
    addr: SocketAddr,
    path: String,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("addr", &self.addr)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PrometheusExporter {
    /// The address the endpoint is bound to: `metrics.prometheus.listen` with the port the
    /// system chose when it was 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint's path (`metrics.prometheus.path`, default `/metrics`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `http://<local_addr><path>`; an unspecified listen address (`0.0.0.0`, `::`) is
    /// given as loopback, where this process can reach it.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}{}", self.path)
    }

    /// What a scrape returns now: every series in Prometheus' text format (0.0.4), one
    /// `# TYPE` line per name.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// A bound listener and a recorder, not yet serving (the recorder may still fail to install;
/// dropping this frees the port).
pub(super) struct Pending {
    listener: TcpListener,
    exporter: PrometheusExporter,
}

/// Binds `config.listen` and builds the recorder.
pub(super) fn build(config: &PrometheusConfig) -> Result<(Names, Pending)> {
    let listener = TcpListener::bind(config.listen).map_err(|e| Error::MetricsExporter {
        section: "metrics.prometheus",
        reason: format!(
            "could not listen on `{}` (`metrics.prometheus.listen`)",
            config.listen
        ),
        source: Some(Box::new(e)),
    })?;
    let addr = listener.local_addr().map_err(|e| Error::MetricsExporter {
        section: "metrics.prometheus",
        reason: "could not read the bound address".to_owned(),
        source: Some(Box::new(e)),
    })?;
    let names = Names {
        inner: recorder(config)?,
        prefix: config.prefix.clone(),
    };
    names.describe_deimos();
    let exporter = PrometheusExporter {
        addr,
        path: config.path.clone(),
        handle: names.inner.handle(),
    };
    Ok((names, Pending { listener, exporter }))
}

/// The exporter's recorder: global labels, and buckets for Deimos' timings.
fn recorder(config: &PrometheusConfig) -> Result<PrometheusRecorder> {
    let mut builder = PrometheusBuilder::new();
    for (name, value) in &config.tags {
        builder = builder.add_global_label(name, value);
    }
    for name in TIMED {
        let full = Names::full_name(config.prefix.as_deref(), &format!("{name}_seconds"));
        builder = builder
            .set_buckets_for_metric(Matcher::Full(full), &config.buckets)
            .map_err(|e| Error::config("metrics.prometheus.buckets", e.to_string()))?;
    }
    Ok(builder.build_recorder())
}

impl Pending {
    /// Serves the endpoint on a thread of its own until the process exits.
    pub(super) fn serve(self) -> Result<PrometheusExporter> {
        let failed = |reason: &str, e: std::io::Error| Error::MetricsExporter {
            section: "metrics.prometheus",
            reason: reason.to_owned(),
            source: Some(Box::new(e)),
        };
        let Pending { listener, exporter } = self;
        listener
            .set_nonblocking(true)
            .map_err(|e| failed("could not set up the listener", e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed("could not start the endpoint's runtime", e))?;
        let handle = exporter.handle.clone();
        let path = exporter.path.clone();
        let addr = exporter.addr;
        std::thread::Builder::new()
            .name("deimos-prometheus".to_owned())
            .spawn(move || runtime.block_on(serve(listener, path, handle, addr)))
            .map_err(|e| failed("could not start the endpoint's thread", e))?;
        Ok(exporter)
    }
}

async fn serve(listener: TcpListener, path: String, handle: PrometheusHandle, addr: SocketAddr) {
    use axum::http::header;
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(%addr, error = %e, "prometheus endpoint could not start");
            return;
        }
    };
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP).await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route(
        &path,
        axum::routing::get(move || {
            let text = handle.render();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], text) }
        }),
    );
    tracing::info!(%addr, %path, "serving prometheus metrics");
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(%addr, error = %e, "prometheus endpoint stopped");
    }
}

/// Prometheus names for Deimos' metrics: the prefix, and `_seconds` on the timings that
/// share a counter's name. Everything else is the exporter's (`.` → `_`).
pub(super) struct Names {
    inner: PrometheusRecorder,
    prefix: Option<String>,
}

impl Names {
    fn full_name(prefix: Option<&str>, name: &str) -> String {
        match prefix {
            Some(prefix) => format!("{prefix}_{name}"),
            None => name.to_owned(),
        }
    }

    fn name(&self, name: &str, histogram: bool) -> String {
        if histogram && TIMED.contains(&name) {
            Names::full_name(self.prefix.as_deref(), &format!("{name}_seconds"))
        } else {
            Names::full_name(self.prefix.as_deref(), name)
        }
    }

    fn key(&self, key: &Key, histogram: bool) -> Key {
        Key::from_parts(self.name(key.name(), histogram), key.labels())
    }

    /// `# HELP` lines for Deimos' own metrics.
    fn describe_deimos(&self) {
        const COUNTERS: &[(&str, &str)] = &[
            (
                "publish",
                "Messages published (kafka_async: queued), by status (success) and topic.",
            ),
            (
                "publish_error",
                "Messages whose publish or delivery failed, by topic.",
            ),
            (
                "handler",
                "Consumed messages and batches by topic and status (received, success, error, \
                 batch_received, batch_success, batch_error).",
            ),
            ("dead_letter", "Messages sent to a dead-letter topic."),
            ("db_producer.insert", "Outbox rows written, by topic."),
            (
                "db_producer.process",
                "Outbox rows sent to Kafka, by topic.",
            ),
            (
                "db_poller.publish",
                "Rows a database poller published, by poller.",
            ),
        ];
        const GAUGES: &[(&str, &str)] = &[
            (
                "consumer_lag",
                "Messages between a consumer group's committed offset and the high watermark.",
            ),
            (
                "pending_db_messages_count",
                "Outbox rows waiting to be sent, by topic.",
            ),
            (
                "pending_db_messages_max_wait",
                "Seconds the oldest waiting outbox row has waited, by topic.",
            ),
        ];
        for (name, help) in COUNTERS {
            self.describe_counter(
                KeyName::from_const_str(name),
                None,
                SharedString::const_str(help),
            );
        }
        for (name, help) in GAUGES {
            self.describe_gauge(
                KeyName::from_const_str(name),
                None,
                SharedString::const_str(help),
            );
        }
        self.describe_histogram(
            KeyName::from_const_str("handler"),
            None,
            SharedString::const_str(
                "Seconds by topic and time: consume (a message's handler), consume_batch (a \
                 batch's), time_delayed (from the payload's timestamp to its consumption).",
            ),
        );
    }
}

impl Recorder for Names {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let name = self.name(key.as_str(), false);
        self.inner.describe_counter(name.into(), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let name = self.name(key.as_str(), false);
        self.inner.describe_gauge(name.into(), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let name = self.name(key.as_str(), true);
        self.inner
            .describe_histogram(name.into(), unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(&self.key(key, false), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(&self.key(key, false), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner
            .register_histogram(&self.key(key, true), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders what `record` counts through the Prometheus recorder `config` builds (a local
    /// recorder: nothing is installed).
    fn rendered(config: &PrometheusConfig, record: impl FnOnce()) -> String {
        let names = Names {
            inner: recorder(config).unwrap(),
            prefix: config.prefix.clone(),
        };
        names.describe_deimos();
        let handle = names.inner.handle();
        metrics::with_local_recorder(&names, record);
        handle.render()
    }

    fn deimos_metrics() {
        metrics::counter!("handler", "topic" => "w", "status" => "success").increment(2);
        metrics::histogram!("handler", "topic" => "w", "time" => "consume").record(0.02);
        metrics::counter!("db_producer.insert", "topic" => "w").increment(1);
    }

    #[test]
    fn handler_timings_are_a_histogram_of_their_own_name() {
        let text = rendered(&PrometheusConfig::default(), deimos_metrics);
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["db_producer_insert", "handler", "handler_seconds"],
            "one type per name: {text}"
        );
        assert!(text.contains("# TYPE handler counter"), "{text}");
        assert!(text.contains("# TYPE handler_seconds histogram"), "{text}");
        assert!(
            text.contains("handler_seconds_bucket{topic=\"w\",time=\"consume\",le=\"0.025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("handler_seconds_bucket{topic=\"w\",time=\"consume\",le=\"0.01\"} 0"),
            "{text}"
        );
        assert!(text.contains("# HELP handler_seconds Seconds"), "{text}");
        assert!(text.contains("# HELP handler Consumed"), "{text}");
    }

    #[test]
    fn prefix_tags_and_buckets_apply() {
        let config = PrometheusConfig {
            prefix: Some("deimos".into()),
            tags: [("service".to_owned(), "widgets".to_owned())].into(),
            buckets: vec![0.5, 1.0],
            ..PrometheusConfig::default()
        };
        let text = rendered(&config, deimos_metrics);
        assert!(
            text.contains("deimos_handler{service=\"widgets\",topic=\"w\",status=\"success\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "deimos_handler_seconds_bucket{service=\"widgets\",topic=\"w\",time=\"consume\",le=\"0.5\"} 1"
            ),
            "{text}"
        );
        assert!(
            !text.contains("le=\"0.025\""),
            "only the configured buckets: {text}"
        );
        assert!(text.contains("deimos_db_producer_insert{"), "{text}");
    }
}
