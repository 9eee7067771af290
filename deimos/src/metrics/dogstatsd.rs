//! `metrics.dogstatsd`: metrics-exporter-dogstatsd's recorder and forwarder thread.

use metrics::Label;
use metrics_exporter_dogstatsd::{DogStatsDBuilder, DogStatsDRecorder};

use crate::config::DogStatsDConfig;
use crate::error::{Error, Result};

/// Builds the recorder and starts its forwarder thread (it sends every `flush_interval`).
pub(super) fn build(config: &DogStatsDConfig) -> Result<DogStatsDRecorder> {
    let failed =
        |reason: String, e: metrics_exporter_dogstatsd::BuildError| Error::MetricsExporter {
            section: "metrics.dogstatsd",
            reason,
            source: Some(Box::new(e)),
        };
    let mut builder = DogStatsDBuilder::default()
        .with_remote_address(config.address.trim())
        .map_err(|e| {
            failed(
                format!(
                    "could not resolve `{}` (`metrics.dogstatsd.address`)",
                    config.address
                ),
                e,
            )
        })?
        .with_flush_interval(config.flush_interval)
        // Deimos sends its own metrics only, not the client's telemetry.
        .with_telemetry(false)
        .send_histograms_as_distributions(config.distributions)
        .with_global_labels(
            config
                .tags
                .iter()
                .map(|(k, v)| Label::new(k.clone(), v.clone()))
                .collect(),
        );
    if let Some(prefix) = &config.prefix {
        builder = builder.set_global_prefix(prefix.clone());
    }
    builder
        .build()
        .map_err(|e| failed("could not start the forwarder".to_owned(), e))
}
