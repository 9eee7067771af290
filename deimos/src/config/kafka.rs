//! Renders [`Config`] into librdkafka properties: the one place that names them.

use rdkafka::config::ClientConfig;

use super::Config;

fn ms(d: std::time::Duration) -> String {
    d.as_millis().to_string()
}

impl Config {
    /// Properties shared by every client: `bootstrap.servers`, `client.id`, timeouts, TLS, SASL,
    /// then `kafka.extra`.
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
            if let Some(p) = &k.ssl.ca_cert {
                c.set("ssl.ca.location", p.display().to_string());
            }
            if let Some(p) = &k.ssl.client_cert {
                c.set("ssl.certificate.location", p.display().to_string());
            }
            if let Some(p) = &k.ssl.client_cert_key {
                c.set("ssl.key.location", p.display().to_string());
            }
            c.set(
                "ssl.endpoint.identification.algorithm",
                if k.ssl.verify_hostname {
                    "https"
                } else {
                    "none"
                },
            );
        }
        if k.sasl.enabled {
            c.set(
                "sasl.mechanism",
                k.sasl.mechanism.as_deref().unwrap_or("PLAIN"),
            );
            if let Some(u) = &k.sasl.username {
                c.set("sasl.username", u);
            }
            if let Some(p) = &k.sasl.password {
                c.set("sasl.password", p);
            }
        }
        for (key, value) in &k.extra {
            c.set(key, value);
        }
        c
    }

    /// Consumer properties for `group_id`: offsets are stored by deimos only after a handler
    /// returned (`enable.auto.offset.store=false`) and committed every
    /// `consumers.offset_commit_interval` (`enable.auto.commit=true`,
    /// `auto.commit.interval.ms`), then `consumers.extra`.
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

    /// Producer properties: `acks`, `request.timeout.ms`, `retries`, `retry.backoff.ms`,
    /// `message.timeout.ms`, queue
    /// limits, `compression.codec`, then `producers.extra`.
    pub fn producer_client_config(&self) -> ClientConfig {
        let p = &self.producers;
        let mut c = self.kafka_client_config();
        c.set("acks", p.required_acks.to_string())
            .set("request.timeout.ms", ms(p.ack_timeout))
            .set("retries", p.max_retries.to_string())
            .set("retry.backoff.ms", ms(p.retry_backoff))
            .set("message.timeout.ms", ms(p.effective_delivery_timeout()))
            .set(
                "queue.buffering.max.messages",
                p.max_buffer_size.to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                p.max_buffer_bytesize.div_ceil(1024).max(1).to_string(),
            );
        if let Some(codec) = &p.compression_codec {
            c.set("compression.codec", codec);
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
        assert_eq!(p.get("acks"), Some("-1"));
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
