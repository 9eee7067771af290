//! Exporters for Deimos' metrics: a Prometheus scrape endpoint and DogStatsD (Deimos' default
//! provider, Datadog), configured under `metrics.*` ([`MetricsConfig`]).
//!
//! deimos counts through the [`metrics`](https://docs.rs/metrics) facade under Deimos' names
//! and tags, whoever records them:
//!
//! | name | kind | tags | what |
//! |---|---|---|---|
//! | `publish` | counter | `status` (`success`), `topic` | messages published (for `kafka_async`: queued) |
//! | `publish_error` | counter | `topic` | messages whose publish or delivery failed |
//! | `handler` | counter | `topic`, `status` (`received`, `success`, `error`, `batch_received`, `batch_success`, `batch_error`) | consumed messages and batches |
//! | `handler` | histogram (seconds) | `topic`, `time` (`consume`, `consume_batch`, `time_delayed`) | handler time; delay from the payload's `timestamp` |
//! | `consumer_lag` | gauge (messages) | `consumer_group`, `topic`, `partition` | `consumers.report_lag`, or a [`LagReporter`](crate::utils::LagReporter) |
//! | `dead_letter` | counter | `topic`, `dead_letter_topic` | messages sent to a dead-letter topic |
//! | `db_producer.insert`, `db_producer.process` | counter | `topic` | outbox rows written, rows sent |
//! | `pending_db_messages_count`, `pending_db_messages_max_wait` | gauge (messages, seconds) | `topic` | the outbox backlog |
//! | `db_poller.publish` | counter | `poller` | rows a database poller published |
//!
//! The `metrics` facade takes one recorder per process. [`install`] builds the enabled
//! exporters (both at once when both are enabled) and installs them as that recorder;
//! [`App::from_config`](crate::App::from_config) (and so [`configure`](crate::configure) and
//! the global app) calls it when `metrics.prometheus.enabled` or `metrics.dogstatsd.enabled`
//! is set, so metrics counted from the first `publish` on are exported. Call [`install`]
//! yourself to export before building an app (your own metrics at startup, say). Installing
//! again with the same `metrics` section returns the same [`Exporters`]; with a different one,
//! or when another recorder (yours, a test's) is installed, it is an
//! [`Error::MetricsExporter`]. With no exporter enabled deimos installs nothing, and any
//! recorder of your own receives Deimos' metrics.
//!
//! - **Prometheus** (feature `prometheus`): `GET <metrics.prometheus.listen><path>` answers
//!   Prometheus' text format, served by a thread of deimos' own (its own single-threaded
//!   tokio runtime, so it keeps serving whatever runtime the application uses). Names have
//!   `.` as `_`; Deimos' `handler` timings are the histogram `handler_seconds` (Prometheus
//!   allows one type per name) with [`PrometheusConfig::buckets`]; other histograms are
//!   summaries. See [`PrometheusConfig`].
//! - **DogStatsD** (feature `dogstatsd`): datagrams to `metrics.dogstatsd.address` (UDP
//!   `127.0.0.1:8125` by default) from a background thread every `flush_interval`, with
//!   Deimos' names, the optional prefix (`deimos.` for Deimos' Datadog users) and tags. See
//!   [`DogStatsDConfig`].
//!
//! ```no_run
//! # fn main() -> deimos::Result<()> {
//! let mut config = deimos::Config::load()?;
//! config.metrics.prometheus.enabled = true;
//! config.metrics.prometheus.listen = "0.0.0.0:9394".parse().unwrap();
//! let app = deimos::configure(config)?; // installs the exporter
//! # #[cfg(feature = "prometheus")]
//! let endpoint = deimos::metrics::installed().and_then(|e| e.prometheus());
//! # #[cfg(feature = "prometheus")]
//! println!("scrape {}", endpoint.unwrap().url());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "dogstatsd")]
mod dogstatsd;
#[cfg(feature = "prometheus")]
mod prometheus;

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use prometheus::PrometheusExporter;

use std::sync::{Mutex, OnceLock};

use crate::config::MetricsConfig;
#[cfg(doc)]
use crate::config::{DogStatsDConfig, PrometheusConfig};
use crate::error::{Error, Result};

/// The exporters [`install`] started; they run until the process exits.
#[derive(Debug)]
pub struct Exporters {
    config: MetricsConfig,
    #[cfg(feature = "prometheus")]
    prometheus: Option<PrometheusExporter>,
}

impl Exporters {
    /// The `metrics` section they were installed with.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The Prometheus endpoint, when `metrics.prometheus.enabled`: its bound address (the
    /// port chosen when `listen` had port 0) and the text a scrape returns.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus(&self) -> Option<&PrometheusExporter> {
        self.prometheus.as_ref()
    }

    /// Whether DogStatsD datagrams are being sent (`metrics.dogstatsd.enabled`).
    pub fn dogstatsd(&self) -> bool {
        self.config.dogstatsd.enabled
    }
}

static INSTALLED: OnceLock<Exporters> = OnceLock::new();
static INSTALLING: Mutex<()> = Mutex::new(());

/// The exporters installed in this process, if [`install`] installed any.
pub fn installed() -> Option<&'static Exporters> {
    INSTALLED.get()
}

/// Starts the exporters `config` enables and installs them as the process' `metrics`
/// recorder. Idempotent for one configuration: a second call with an equal `config` returns
/// the exporters of the first (nothing is bound or sent twice). With no exporter enabled it
/// does nothing and returns `Ok(None)`.
///
/// The Prometheus listener is bound before this returns (port 0 takes a free port; see
/// `PrometheusExporter::local_addr`), and a DogStatsD host name is resolved here.
///
/// # Errors
/// - [`Error::Config`] naming the key, when `config` does not validate (also when an enabled
///   exporter's feature is off).
/// - [`Error::MetricsExporter`] when the Prometheus address cannot be bound (`source`: the
///   I/O error) or the DogStatsD address not resolved, when exporters were already installed
///   with a different `metrics` section, or when another `metrics` recorder is installed
///   (the facade takes one per process).
pub fn install(config: &MetricsConfig) -> Result<Option<&'static Exporters>> {
    config.validate()?;
    if !config.any_enabled() {
        return Ok(None);
    }
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = INSTALLED.get() {
        if done.config == *config {
            return Ok(Some(done));
        }
        return Err(Error::MetricsExporter {
            section: "metrics",
            reason: format!(
                "exporters are already installed in this process with another `metrics` \
                 section ({:?}); the `metrics` facade takes one recorder per process, so \
                 every app must use the same `metrics` section",
                done.config
            ),
            source: None,
        });
    }
    start(config).map(Some)
}

#[cfg(any(feature = "prometheus", feature = "dogstatsd"))]
fn start(config: &MetricsConfig) -> Result<&'static Exporters> {
    let mut fanout = metrics_util::layers::FanoutBuilder::default();
    #[cfg(feature = "prometheus")]
    let prometheus = if config.prometheus.enabled {
        let (recorder, pending) = prometheus::build(&config.prometheus)?;
        fanout = fanout.add_recorder(recorder);
        Some(pending)
    } else {
        None
    };
    #[cfg(feature = "dogstatsd")]
    if config.dogstatsd.enabled {
        fanout = fanout.add_recorder(dogstatsd::build(&config.dogstatsd)?);
    }
    if ::metrics::set_global_recorder(fanout.build()).is_err() {
        // The Prometheus listener is dropped (its port freed) with `prometheus`.
        return Err(Error::MetricsExporter {
            section: "metrics",
            reason: "another `metrics` recorder is already installed in this process (the \
                     facade takes one); leave `metrics.prometheus` and `metrics.dogstatsd` \
                     disabled to keep it"
                .to_owned(),
            source: None,
        });
    }
    let exporters = Exporters {
        config: config.clone(),
        #[cfg(feature = "prometheus")]
        prometheus: match prometheus {
            Some(pending) => Some(pending.serve()?),
            None => None,
        },
    };
    let _ = INSTALLED.set(exporters);
    Ok(INSTALLED.get().expect("set under the lock"))
}

#[cfg(not(any(feature = "prometheus", feature = "dogstatsd")))]
fn start(_config: &MetricsConfig) -> Result<&'static Exporters> {
    // `MetricsConfig::validate` refuses an enabled exporter without its feature already.
    Err(Error::config(
        "metrics",
        "an exporter is enabled, but deimos was built without `prometheus` and `dogstatsd`",
    ))
}
