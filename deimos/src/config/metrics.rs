//! `metrics.*`: where Deimos' metrics go (Deimos' `metrics` provider setting).
//!
//! deimos counts through the [`metrics`](https://docs.rs/metrics) facade; these sections
//! start the exporters that [`deimos::metrics::install`](crate::metrics::install) installs
//! behind it. With neither enabled (the default), deimos installs nothing and the
//! application may install any `metrics` recorder of its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::error::{Error, Result};

/// `metrics.*`: the exporters for Deimos' metrics. Both may be enabled at once.
///
/// ```toml
/// [metrics.prometheus]            # needs the `prometheus` feature
/// enabled = true
/// listen = "0.0.0.0:9394"         # GET /metrics
/// tags = { service = "widgets" }
///
/// [metrics.dogstatsd]             # needs the `dogstatsd` feature
/// enabled = true
/// address = "127.0.0.1:8125"      # the Datadog agent, UDP
/// prefix = "deimos"               # deimos.publish, deimos.handler, ...
/// tags = { env = "production" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// A Prometheus scrape endpoint (`metrics.prometheus.*`, feature `prometheus`).
    pub prometheus: PrometheusConfig,
    /// DogStatsD datagrams to a Datadog agent (`metrics.dogstatsd.*`, feature `dogstatsd`),
    /// what Deimos' default provider, `Deimos::Metrics::Datadog`, sends.
    pub dogstatsd: DogStatsDConfig,
}

impl MetricsConfig {
    /// Whether any exporter is enabled (then [`App::from_config`](crate::App::from_config)
    /// installs them).
    pub fn any_enabled(&self) -> bool {
        self.prometheus.enabled || self.dogstatsd.enabled
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.prometheus.validate()?;
        self.dogstatsd.validate()
    }
}

/// `metrics.prometheus.*`: an HTTP endpoint in Prometheus' text format (version 0.0.4),
/// served on a thread of its own by [`deimos::metrics`](crate::metrics) (feature
/// `prometheus`, over `metrics-exporter-prometheus`).
///
/// Names are Deimos' with `.` turned into `_` (`db_producer.insert` is
/// `db_producer_insert`), counters without a `_total` suffix, tags as labels. One exception:
/// Prometheus allows one type per name and Deimos' `handler` is both a counter
/// (`status:…`) and a histogram (`time:…`), so the timings are `handler_seconds`, a
/// histogram with [`buckets`](PrometheusConfig::buckets). Other histograms (none of Deimos',
/// your own) are summaries (quantiles 0, 0.5, 0.9, 0.95, 0.99, 0.999, 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PrometheusConfig {
    /// Serve the endpoint. Default false.
    pub enabled: bool,
    /// Address to listen on, `ip:port`. Default `127.0.0.1:9394` (the port of Ruby's
    /// `prometheus_exporter`); `0.0.0.0:9394` to be scraped from elsewhere; port 0 takes a
    /// free port (`deimos::metrics::installed()` tells which: `PrometheusExporter::local_addr`).
    pub listen: SocketAddr,
    /// Path of the endpoint; other paths answer 404. Default `/metrics`.
    pub path: String,
    /// Prepended to every name with `_`: `prefix = "deimos"` gives `deimos_publish`. Letters,
    /// digits and `_`, not starting with a digit. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Labels on every series, e.g. `{ service = "widgets" }`; a metric's own tag of the same
    /// name wins. In the environment: `service=widgets,team=core`. Default none.
    #[serde(deserialize_with = "super::table_or_pairs")]
    pub tags: BTreeMap<String, String>,
    /// Upper bounds, in seconds, of the `handler_seconds` histogram's buckets (Deimos'
    /// `handler` timings: `time:consume`, `consume_batch`, `time_delayed`), increasing;
    /// `+Inf` is added. Default 5 ms to 5 min: `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    /// 2.5, 5, 10, 30, 60, 300]`.
    pub buckets: Vec<f64>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9394)),
            path: "/metrics".to_owned(),
            prefix: None,
            tags: BTreeMap::new(),
            buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ],
        }
    }
}

impl PrometheusConfig {
    fn validate(&self) -> Result<()> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.');
        if !self.path.starts_with('/') || !self.path.chars().all(plain) {
            return Err(Error::config(
                "metrics.prometheus.path",
                format!(
                    "must start with `/` and hold only letters, digits, `/`, `_`, `-` and `.`, \
                     found `{}`",
                    self.path
                ),
            ));
        }
        if let Some(prefix) = &self.prefix {
            if !is_prometheus_name(prefix) {
                return Err(Error::config(
                    "metrics.prometheus.prefix",
                    format!(
                        "must be letters, digits and `_`, not starting with a digit, found \
                         `{prefix}`"
                    ),
                ));
            }
        }
        if let Some(bad) = self.tags.keys().find(|k| !is_prometheus_name(k)) {
            return Err(Error::config(
                "metrics.prometheus.tags",
                format!(
                    "label `{bad}`: must be letters, digits and `_`, not starting with a digit"
                ),
            ));
        }
        if let Some(bad) = self.tags.keys().find(|k| k.starts_with("__")) {
            return Err(Error::config(
                "metrics.prometheus.tags",
                format!("label `{bad}`: names starting with `__` are reserved by Prometheus"),
            ));
        }
        if self.buckets.is_empty() {
            return Err(Error::config(
                "metrics.prometheus.buckets",
                "needs at least one bound (seconds)",
            ));
        }
        if self.buckets.iter().any(|b| !b.is_finite())
            || self.buckets.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(Error::config(
                "metrics.prometheus.buckets",
                format!(
                    "must be finite and strictly increasing, found {:?}",
                    self.buckets
                ),
            ));
        }
        if self.enabled && !cfg!(feature = "prometheus") {
            return Err(Error::config(
                "metrics.prometheus.enabled",
                "needs deimos' `prometheus` feature (`features = [\"prometheus\"]` in \
                 Cargo.toml)",
            ));
        }
        Ok(())
    }
}

/// `metrics.dogstatsd.*`: DogStatsD datagrams to a Datadog agent, as Deimos' default
/// provider (`Deimos::Metrics::Datadog`, over `dogstatsd-ruby`) sends them (feature
/// `dogstatsd`, over `metrics-exporter-dogstatsd`).
///
/// Names and tags are Deimos' own (`deimos.handler:1|c|#topic:widgets,status:success` with
/// `prefix = "deimos"`). Counters and gauges are aggregated over `flush_interval` and sent
/// once per interval; histograms send every value (`|h`, as `dogstatsd-ruby`'s
/// `histogram`), or Datadog distributions (`|d`) with `distributions = true`. A lost
/// datagram is lost (UDP), as with Deimos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DogStatsDConfig {
    /// Send to the agent. Default false.
    pub enabled: bool,
    /// The agent: `host:port` over UDP (default `127.0.0.1:8125`, the agent's and
    /// `dogstatsd-ruby`'s default), `udp://host:port`, or a Unix socket,
    /// `unixgram:///var/run/datadog/dsd.socket` (datagrams) or `unix://…` (stream). Host
    /// names are resolved once, when the exporter starts.
    pub address: String,
    /// Prepended to every name with `.`: Datadog users of Deimos set `deimos` (their
    /// `Deimos::Metrics::Datadog.new(namespace: 'deimos')`). Default none, as in Deimos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Tags on every metric, e.g. `{ env = "production" }` (sent as `env:production`). In
    /// the environment: `env=production,team=core`. Default none.
    #[serde(deserialize_with = "super::table_or_pairs")]
    pub tags: BTreeMap<String, String>,
    /// How often aggregated counters and gauges and buffered histogram values are sent.
    /// Default 3 s (`metrics-exporter-dogstatsd`'s). Must be above zero.
    #[serde(with = "duration")]
    pub flush_interval: Duration,
    /// Send histograms as Datadog distributions (`|d`: percentiles aggregated by Datadog
    /// across hosts) instead of histograms (`|h`: aggregated by the agent, what Deimos'
    /// `histogram` sends). Default false.
    pub distributions: bool,
}

impl Default for DogStatsDConfig {
    fn default() -> Self {
        DogStatsDConfig {
            enabled: false,
            address: "127.0.0.1:8125".to_owned(),
            prefix: None,
            tags: BTreeMap::new(),
            flush_interval: Duration::from_secs(3),
            distributions: false,
        }
    }
}

impl DogStatsDConfig {
    fn validate(&self) -> Result<()> {
        let address = self.address.trim();
        let valid = match address.split_once("://") {
            Some(("unix" | "unixgram", path)) => !path.is_empty(),
            Some(("udp", host_port)) => is_host_port(host_port),
            Some(_) => false,
            None => is_host_port(address),
        };
        if !valid {
            return Err(Error::config(
                "metrics.dogstatsd.address",
                format!(
                    "expected `host:port` (UDP), `udp://host:port`, `unixgram:///path` or \
                     `unix:///path`, found `{}`",
                    self.address
                ),
            ));
        }
        if let Some(prefix) = &self.prefix {
            if prefix.is_empty() || prefix.contains([':', '|', '@', '#', ' ', '\n']) {
                return Err(Error::config(
                    "metrics.dogstatsd.prefix",
                    format!(
                        "must be non-empty without `:`, `|`, `@`, `#` or spaces, found `{prefix}`"
                    ),
                ));
            }
        }
        if let Some((k, v)) = self.tags.iter().find(|(k, v)| {
            k.is_empty() || k.contains([':', ',', '|', '#']) || v.contains([',', '|', '#'])
        }) {
            return Err(Error::config(
                "metrics.dogstatsd.tags",
                format!(
                    "tag `{k}` = `{v}`: names must be non-empty without `:`, `,`, `|` or `#`, \
                     values without `,`, `|` or `#`"
                ),
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(Error::config(
                "metrics.dogstatsd.flush_interval",
                "must be above zero",
            ));
        }
        if self.enabled && !cfg!(feature = "dogstatsd") {
            return Err(Error::config(
                "metrics.dogstatsd.enabled",
                "needs deimos' `dogstatsd` feature (`features = [\"dogstatsd\"]` in Cargo.toml)",
            ));
        }
        Ok(())
    }
}

/// Prometheus' metric and label name rule without `:` (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn is_prometheus_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `host:port` with a numeric port and a non-empty host (`[::1]:8125` included).
fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
// reason: figment's `Jail::expect_with` fixes the closure's error type, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_export_nothing() {
        let c = Config::default();
        assert!(!c.metrics.any_enabled());
        assert_eq!(c.metrics.prometheus.listen.to_string(), "127.0.0.1:9394");
        assert_eq!(c.metrics.prometheus.path, "/metrics");
        assert_eq!(c.metrics.dogstatsd.address, "127.0.0.1:8125");
        assert_eq!(
            c.metrics.dogstatsd.prefix, None,
            "Deimos' default namespace is none"
        );
        assert!(!c.metrics.dogstatsd.distributions);
    }

    #[test]
    fn from_toml_and_env() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "deimos.toml",
                r#"
                [metrics.prometheus]
                listen = "0.0.0.0:9100"
                tags = { service = "widgets" }
                buckets = [0.1, 1, 10]

                [metrics.dogstatsd]
                prefix = "deimos"
                flush_interval = "500ms"
                "#,
            )?;
            jail.set_env("DEIMOS_METRICS_PROMETHEUS_PATH", "/prom");
            jail.set_env("DEIMOS_METRICS_PROMETHEUS_PREFIX", "svc");
            jail.set_env(
                "DEIMOS_METRICS_DOGSTATSD_ADDRESS",
                "unixgram:///run/dsd.sock",
            );
            jail.set_env("DEIMOS_METRICS_DOGSTATSD_TAGS", "env=prod, team=core");
            jail.set_env("DEIMOS_METRICS_DOGSTATSD_DISTRIBUTIONS", "true");
            let c = Config::load().expect("loads");
            let p = &c.metrics.prometheus;
            assert_eq!(p.listen.to_string(), "0.0.0.0:9100");
            assert_eq!(p.path, "/prom");
            assert_eq!(p.prefix.as_deref(), Some("svc"));
            assert_eq!(p.tags["service"], "widgets");
            assert_eq!(p.buckets, vec![0.1, 1.0, 10.0]);
            let d = &c.metrics.dogstatsd;
            assert_eq!(d.address, "unixgram:///run/dsd.sock");
            assert_eq!(d.prefix.as_deref(), Some("deimos"));
            assert_eq!(d.flush_interval, Duration::from_millis(500));
            assert_eq!(d.tags["env"], "prod");
            assert_eq!(d.tags["team"], "core");
            assert!(d.distributions);

            jail.set_env("DEIMOS_METRICS_PROMETHEUS_LISTEN", "nowhere");
            let err = Config::load().unwrap_err();
            assert!(
                matches!(&err, Error::Config { key, reason } if key == "metrics.prometheus.listen"
                    && reason.contains("DEIMOS_METRICS_PROMETHEUS_LISTEN")),
                "{err}"
            );
            jail.set_env("DEIMOS_METRICS_PROMETHEUS_LISTEN", "127.0.0.1:0");
            jail.set_env("DEIMOS_METRICS_STATSD", "x");
            let err = Config::load().unwrap_err();
            assert!(
                matches!(&err, Error::Config { key, reason } if key == "metrics.statsd"
                    && reason.contains("`prometheus`") && reason.contains("`dogstatsd`")),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn validation_errors_name_the_keys() {
        let cases = [
            (
                "[metrics.prometheus]\npath = \"/{x}\"\n",
                "metrics.prometheus.path",
                "/{x}",
            ),
            (
                "[metrics.prometheus]\npath = \"metrics\"\n",
                "metrics.prometheus.path",
                "`/`",
            ),
            (
                "[metrics.prometheus]\nprefix = \"my-app\"\n",
                "metrics.prometheus.prefix",
                "my-app",
            ),
            (
                "[metrics.prometheus]\ntags = { \"a.b\" = \"x\" }\n",
                "metrics.prometheus.tags",
                "a.b",
            ),
            (
                "[metrics.prometheus]\ntags = { __name__ = \"x\" }\n",
                "metrics.prometheus.tags",
                "reserved",
            ),
            (
                "[metrics.prometheus]\nbuckets = []\n",
                "metrics.prometheus.buckets",
                "at least one",
            ),
            (
                "[metrics.prometheus]\nbuckets = [1, 0.5]\n",
                "metrics.prometheus.buckets",
                "increasing",
            ),
            (
                "[metrics.dogstatsd]\naddress = \"agent\"\n",
                "metrics.dogstatsd.address",
                "host:port",
            ),
            (
                "[metrics.dogstatsd]\naddress = \"tcp://agent:8125\"\n",
                "metrics.dogstatsd.address",
                "unixgram",
            ),
            (
                "[metrics.dogstatsd]\nprefix = \"a:b\"\n",
                "metrics.dogstatsd.prefix",
                "a:b",
            ),
            (
                "[metrics.dogstatsd]\ntags = { env = \"a,b\" }\n",
                "metrics.dogstatsd.tags",
                "env",
            ),
            (
                "[metrics.dogstatsd]\nflush_interval = 0\n",
                "metrics.dogstatsd.flush_interval",
                "above zero",
            ),
        ];
        for (toml, want_key, want_text) in cases {
            match Config::from_toml(toml) {
                Err(Error::Config { key, reason }) => {
                    assert_eq!(key, want_key, "{toml}: {reason}");
                    assert!(reason.contains(want_text), "{toml}: {reason}");
                }
                other => panic!("{toml}: expected a config error, got {other:?}"),
            }
        }
        for ok in [
            "[metrics.dogstatsd]\naddress = \"datadog-agent:8125\"\n",
            "[metrics.dogstatsd]\naddress = \"udp://[::1]:8125\"\n",
            "[metrics.dogstatsd]\naddress = \"unix:///var/run/datadog/dsd.socket\"\n",
            "[metrics.prometheus]\nprefix = \"deimos\"\ntags = { service = \"w\" }\n",
        ] {
            Config::from_toml(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn an_exporter_needs_its_feature() {
        for (section, feature, on) in [
            ("prometheus", "prometheus", cfg!(feature = "prometheus")),
            ("dogstatsd", "dogstatsd", cfg!(feature = "dogstatsd")),
        ] {
            let result = Config::from_toml(&format!("[metrics.{section}]\nenabled = true\n"));
            match result {
                Ok(_) => assert!(on, "{section} enabled without the feature"),
                Err(Error::Config { key, reason }) => {
                    assert!(!on, "{key}: {reason}");
                    assert_eq!(key, format!("metrics.{section}.enabled"));
                    assert!(reason.contains(&format!("`{feature}` feature")), "{reason}");
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
