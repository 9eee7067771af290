//! Renders [`Config`] into librdkafka properties: the one place that names them.
//!
//! Secrets leave their [`Secret`](super::Secret) wrapper only here. rdkafka's `ClientConfig`
//! prints every property, passwords included, in its `Debug` output: deimos never logs or
//! formats one, and neither should callers of these functions. (librdkafka's own
//! `debug=conf` dump redacts the properties it marks sensitive.)

use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::{Config, OAuthBearerMethod, SaslMechanism};

/// Whole milliseconds, for librdkafka's integer `*.ms` properties.
fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Milliseconds with the fraction kept (`linger.ms` is a floating-point property).
fn ms_fraction(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        ms(d)
    } else {
        format!("{}", d.as_secs_f64() * 1000.0)
    }
}

impl Config {
    /// Properties shared by every client: `bootstrap.servers`, `client.id`,
    /// `socket.connection.setup.timeout.ms`, `socket.timeout.ms`, `security.protocol`, TLS
    /// (`ssl.*`), SASL (`sasl.*`), then `kafka.extra`.
    ///
    /// The result carries secrets in clear text: do not log it or print it with `{:?}`.
    pub fn kafka_client_config(&self) -> ClientConfig {
        let k = &self.kafka;
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", k.brokers.join(","))
            .set("client.id", &k.client_id)
            .set("socket.connection.setup.timeout.ms", ms(k.connect_timeout))
            .set("socket.timeout.ms", ms(k.socket_timeout));
        let protocol = match (k.ssl.enabled, k.sasl.enabled) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        c.set("security.protocol", protocol);
        if k.ssl.enabled {
            let ssl = &k.ssl;
            if let Some(pem) = &ssl.ca_cert {
                c.set("ssl.ca.pem", pem);
            }
            if let Some(path) = &ssl.ca_cert_file {
                c.set("ssl.ca.location", path.display().to_string());
            }
            if let Some(pem) = &ssl.client_cert {
                c.set("ssl.certificate.pem", pem);
            }
            if let Some(path) = &ssl.client_cert_file {
                c.set("ssl.certificate.location", path.display().to_string());
            }
            if let Some(pem) = &ssl.client_cert_key {
                c.set("ssl.key.pem", pem.expose());
            }
            if let Some(path) = &ssl.client_cert_key_file {
                c.set("ssl.key.location", path.display().to_string());
            }
            if let Some(password) = &ssl.client_cert_key_password {
                c.set("ssl.key.password", password.expose());
            }
            c.set(
                "ssl.endpoint.identification.algorithm",
                if ssl.verify_hostname { "https" } else { "none" },
            );
        }
        if k.sasl.enabled {
            let sasl = &k.sasl;
            c.set("sasl.mechanism", sasl.mechanism.as_str());
            match sasl.mechanism {
                SaslMechanism::OAuthBearer => {
                    let o = &sasl.oauthbearer;
                    match o.method {
                        OAuthBearerMethod::Oidc => {
                            c.set("sasl.oauthbearer.method", "oidc");
                            if let Some(id) = &o.client_id {
                                c.set("sasl.oauthbearer.client.id", id);
                            }
                            if let Some(secret) = &o.client_secret {
                                c.set("sasl.oauthbearer.client.secret", secret.expose());
                            }
                            if let Some(url) = &o.token_endpoint_url {
                                c.set("sasl.oauthbearer.token.endpoint.url", url);
                            }
                            if let Some(scope) = &o.scope {
                                c.set("sasl.oauthbearer.scope", scope);
                            }
                            if !o.extensions.is_empty() {
                                c.set("sasl.oauthbearer.extensions", o.extensions_property());
                            }
                        }
                        OAuthBearerMethod::UnsecuredJwt => {
                            c.set("sasl.oauthbearer.method", "default")
                                .set("enable.sasl.oauthbearer.unsecure.jwt", "true");
                            if let Some(config) = &o.unsecured_jwt_config {
                                c.set("sasl.oauthbearer.config", config.expose());
                            }
                        }
                    }
                }
                // PLAIN and SCRAM; a future mechanism gets its own arm above.
                _ => {
                    if let Some(user) = &sasl.username {
                        c.set("sasl.username", user);
                    }
                    if let Some(password) = &sasl.password {
                        c.set("sasl.password", password.expose());
                    }
                }
            }
        }
        for (key, value) in &k.extra {
            c.set(key, value);
        }
        c
    }

    /// Consumer properties for `group_id`: [`kafka_client_config`](Config::kafka_client_config),
    /// then `group.id`, offsets stored by deimos only after a handler returned
    /// (`enable.auto.offset.store=false`) and committed every
    /// `consumers.offset_commit_interval` (`enable.auto.commit=true`,
    /// `auto.commit.interval.ms`), `session.timeout.ms`, `heartbeat.interval.ms`,
    /// `auto.offset.reset`, `enable.partition.eof=false`, then `consumers.extra`.
    ///
    /// The result carries secrets in clear text: do not log it or print it with `{:?}`.
    pub fn consumer_client_config(&self, group_id: &str) -> ClientConfig {
        let cc = &self.consumers;
        let mut c = self.kafka_client_config();
        c.set("group.id", group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", ms(cc.offset_commit_interval))
            .set("session.timeout.ms", ms(cc.session_timeout))
            .set("heartbeat.interval.ms", ms(cc.heartbeat_interval))
            .set(
                "auto.offset.reset",
                if cc.start_from_beginning {
                    "earliest"
                } else {
                    "latest"
                },
            )
            .set("enable.partition.eof", "false");
        for (key, value) in &cc.extra {
            c.set(key, value);
        }
        c
    }

    /// Producer properties: [`kafka_client_config`](Config::kafka_client_config), then `acks`,
    /// `request.timeout.ms`, `retries`, `retry.backoff.ms`, `retry.backoff.max.ms`,
    /// `message.timeout.ms`, `queue.buffering.max.messages`, `queue.buffering.max.kbytes`,
    /// `batch.num.messages`, `linger.ms`, `compression.codec`, `enable.idempotence` (only when
    /// true, so that librdkafka still adjusts for a `transactional.id` in `extra`), then
    /// `producers.extra`.
    ///
    /// The result carries secrets in clear text: do not log it or print it with `{:?}`.
    pub fn producer_client_config(&self) -> ClientConfig {
        let p = &self.producers;
        let mut c = self.kafka_client_config();
        c.set("acks", p.effective_required_acks().as_str())
            .set("request.timeout.ms", ms(p.ack_timeout))
            .set("retries", p.max_retries.to_string())
            .set("retry.backoff.ms", ms(p.retry_backoff))
            .set("retry.backoff.max.ms", ms(p.retry_backoff))
            .set("message.timeout.ms", ms(p.effective_delivery_timeout()))
            .set(
                "queue.buffering.max.messages",
                p.max_buffer_size.to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                p.max_buffer_bytesize.div_ceil(1024).max(1).to_string(),
            )
            .set("batch.num.messages", p.delivery_threshold.to_string())
            .set("linger.ms", ms_fraction(p.delivery_interval))
            .set("compression.codec", p.compression_codec.as_str());
        if p.idempotence {
            c.set("enable.idempotence", "true");
        }
        for (key, value) in &p.extra {
            c.set(key, value);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_librdkafka_properties() {
        let mut config = Config::from_toml(
            r#"
            [kafka]
            brokers = ["a:1", "b:2"]
            client_id = "svc"
            extra = { "debug" = "broker" }
            [consumers]
            offset_commit_interval = "250ms"
            [producers]
            required_acks = "all"
            "#,
        )
        .unwrap();
        config.kafka.ssl.enabled = true;
        let c = config.consumer_client_config("g1");
        assert_eq!(c.get("bootstrap.servers"), Some("a:1,b:2"));
        assert_eq!(c.get("client.id"), Some("svc"));
        assert_eq!(c.get("group.id"), Some("g1"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("auto.commit.interval.ms"), Some("250"));
        assert_eq!(c.get("session.timeout.ms"), Some("300000"));
        assert_eq!(c.get("security.protocol"), Some("ssl"));
        assert_eq!(c.get("debug"), Some("broker"));
        let p = config.producer_client_config();
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("request.timeout.ms"), Some("5000"));
        assert_eq!(
            p.get("message.timeout.ms"),
            Some("18000"),
            "(5 s + 1 s) x 3"
        );
        assert_eq!(p.get("queue.buffering.max.kbytes"), Some("9766"));
    }

    #[test]
    fn delivery_timeout_is_derived_or_set() {
        let derived = Config::from_toml("[producers]\nack_timeout = 2\nmax_retries = 0").unwrap();
        assert_eq!(
            derived.producer_client_config().get("message.timeout.ms"),
            Some("3000"),
            "(2 s + 1 s) x 1"
        );
        let set = Config::from_toml("[producers]\ndelivery_timeout = \"7s\"").unwrap();
        assert_eq!(
            set.producers.delivery_timeout,
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(
            set.producer_client_config().get("message.timeout.ms"),
            Some("7000")
        );
    }
}
