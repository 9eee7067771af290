//! Renders [`Config`] into librdkafka properties: the one place that names them.
//!
//! Secrets leave their [`Secret`](super::Secret) wrapper only here. The returned
//! `ClientConfig`s carry them in clear text, and rdkafka's `Debug` for `ClientConfig` hides only
//! five of them (`sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
//! `ssl.truststore.password`, `sasl.oauthbearer.client.secret`): it prints `ssl.key.pem`,
//! `sasl.oauthbearer.config` and any secret passed through `extra`. deimos never logs or
//! formats a `ClientConfig`, and neither should callers of these functions. (librdkafka's own
//! `debug=conf` dump redacts every property it marks sensitive.)

use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::{Config, OAuthBearerMethod, SaslMechanism};

/// Whole milliseconds, for librdkafka's integer `*.ms` properties.
fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Milliseconds with the fraction kept (`linger.ms` is a floating-point property).
fn ms_fraction(d: Duration) -> String {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
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
                            // `sasl.oauthbearer.method` stays unset (`default`): librdkafka
                            // built without libcurl refuses the property altogether.
                            c.set("enable.sasl.oauthbearer.unsecure.jwt", "true");
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

    /// Consumer properties for `group_id` with the `consumers.*` settings alone: what
    /// [`ResolvedConsumer::client_config`](crate::consumer::ResolvedConsumer::client_config)
    /// renders for a consumer without attribute settings or `[consumer.<name>]` —
    /// [`kafka_client_config`](Config::kafka_client_config), then `group.id`, offsets stored by
    /// deimos only after a handler returned (`enable.auto.offset.store=false`) and committed
    /// every `consumers.offset_commit_interval` (`enable.auto.commit=true`,
    /// `auto.commit.interval.ms`), `session.timeout.ms`, `heartbeat.interval.ms`,
    /// `auto.offset.reset`, the fetch sizes, `enable.partition.eof=false`, then
    /// `consumers.extra`.
    ///
    /// The result carries secrets in clear text: do not log it or print it with `{:?}`.
    pub fn consumer_client_config(&self, group_id: &str) -> ClientConfig {
        crate::consumer::ResolvedConsumer::defaults(self, group_id).client_config(self)
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
                p.effective_max_messages().to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                match p.max_buffer_bytesize {
                    // librdkafka has no "no limit" value: its largest.
                    0 => i32::MAX as u64,
                    bytes => bytes.div_ceil(1024),
                }
                .to_string(),
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

    #[test]
    fn renders_every_producer_key() {
        let config = Config::from_toml(
            r#"
            [producers]
            required_acks = 0
            ack_timeout = "2500ms"
            max_retries = 7
            retry_backoff = "250ms"
            delivery_timeout = "40s"
            max_buffer_size = 1234
            max_buffer_bytesize = 1025
            delivery_threshold = 99
            delivery_interval = "1500us"
            compression_codec = "snappy"
            "#,
        )
        .unwrap();
        let p = config.producer_client_config();
        for (property, want) in [
            ("acks", "0"),
            ("request.timeout.ms", "2500"),
            ("retries", "7"),
            ("retry.backoff.ms", "250"),
            ("retry.backoff.max.ms", "250"),
            ("message.timeout.ms", "40000"),
            ("queue.buffering.max.messages", "1234"),
            ("queue.buffering.max.kbytes", "2"),
            ("batch.num.messages", "99"),
            ("linger.ms", "1.5"),
            ("compression.codec", "snappy"),
        ] {
            assert_eq!(p.get(property), Some(want), "{property}");
        }
        assert_eq!(p.get("enable.idempotence"), None, "only rendered when true");

        let defaults = Config::default().producer_client_config();
        for (property, want) in [
            ("acks", "1"),
            ("batch.num.messages", "10000"),
            ("linger.ms", "5"),
            ("compression.codec", "none"),
        ] {
            assert_eq!(defaults.get(property), Some(want), "{property}");
        }

        // `max_queue_size` bounds the one librdkafka queue with `kafka_async` only, with
        // `max_buffer_size` (0 = no limit for either); `max_buffer_bytesize = 0` is no limit.
        for (backend, buffer, queue, want) in [
            ("kafka_async", 100, 40, "40"),
            ("kafka_async", 30, 40, "30"),
            ("kafka_async", 0, 40, "40"),
            ("kafka_async", 100, 0, "100"),
            ("kafka", 100, 40, "100"),
        ] {
            let toml = format!(
                "[producers]\nbackend = \"{backend}\"\nmax_buffer_size = {buffer}\n\
                 max_queue_size = {queue}\nmax_buffer_bytesize = 0\n"
            );
            let p = Config::from_toml(&toml).unwrap().producer_client_config();
            assert_eq!(
                p.get("queue.buffering.max.messages"),
                Some(want),
                "{backend}, {buffer}, {queue}"
            );
            assert_eq!(p.get("queue.buffering.max.kbytes"), Some("2147483647"));
        }

        let idempotent = Config::from_toml("[producers]\nidempotence = true\n").unwrap();
        let p = idempotent.producer_client_config();
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(
            p.get("acks"),
            Some("all"),
            "librdkafka's adjustment, made visible"
        );
    }

    #[test]
    fn renders_tls_text_or_files() {
        let text = Config::from_toml(
            r#"
            [kafka.ssl]
            enabled = true
            ca_cert = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----"
            client_cert = "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----"
            client_cert_key = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----"
            client_cert_key_password = "kp"
            verify_hostname = false
            "#,
        )
        .unwrap()
        .kafka_client_config();
        assert_eq!(text.get("security.protocol"), Some("ssl"));
        assert!(text.get("ssl.ca.pem").unwrap().contains("\nCA\n"));
        assert!(text
            .get("ssl.certificate.pem")
            .unwrap()
            .contains("\nCERT\n"));
        assert!(text.get("ssl.key.pem").unwrap().contains("\nKEY\n"));
        assert_eq!(text.get("ssl.key.password"), Some("kp"));
        assert_eq!(
            text.get("ssl.endpoint.identification.algorithm"),
            Some("none")
        );
        for absent in [
            "ssl.ca.location",
            "ssl.certificate.location",
            "ssl.key.location",
        ] {
            assert_eq!(text.get(absent), None, "{absent}");
        }

        let files = Config::from_toml(
            r#"
            [kafka.ssl]
            enabled = true
            ca_cert_file = "/tls/ca.pem"
            client_cert_file = "/tls/client.pem"
            client_cert_key_file = "/tls/client.key"
            "#,
        )
        .unwrap()
        .kafka_client_config();
        assert_eq!(files.get("ssl.ca.location"), Some("/tls/ca.pem"));
        assert_eq!(
            files.get("ssl.certificate.location"),
            Some("/tls/client.pem")
        );
        assert_eq!(files.get("ssl.key.location"), Some("/tls/client.key"));
        assert_eq!(
            files.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        for absent in [
            "ssl.ca.pem",
            "ssl.certificate.pem",
            "ssl.key.pem",
            "ssl.key.password",
        ] {
            assert_eq!(files.get(absent), None, "{absent}");
        }

        // Disabled TLS renders nothing of it.
        let mut off = Config::from_toml("[kafka.ssl]\nca_cert_file = \"/tls/ca.pem\"\n").unwrap();
        assert_eq!(off.kafka_client_config().get("ssl.ca.location"), None);
        off.kafka.ssl.enabled = true;
        assert_eq!(
            off.kafka_client_config().get("ssl.ca.location"),
            Some("/tls/ca.pem")
        );
    }

    #[test]
    fn renders_sasl_mechanisms() {
        let scram = Config::from_toml(
            r#"
            [kafka.sasl]
            enabled = true
            mechanism = "scram_sha256"
            username = "alice"
            password = "pw"
            "#,
        )
        .unwrap()
        .kafka_client_config();
        assert_eq!(scram.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(scram.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(scram.get("sasl.username"), Some("alice"));
        assert_eq!(scram.get("sasl.password"), Some("pw"));

        let oidc = Config::from_toml(
            r#"
            [kafka.ssl]
            enabled = true
            [kafka.sasl]
            enabled = true
            mechanism = "OAUTHBEARER"
            [kafka.sasl.oauthbearer]
            client_id = "svc"
            client_secret = "cs"
            token_endpoint_url = "https://idp.example.com/token"
            scope = "kafka:write"
            extensions = { logicalCluster = "lkc-1", identityPoolId = "pool-2" }
            "#,
        )
        .unwrap()
        .kafka_client_config();
        for (property, want) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.client.id", "svc"),
            ("sasl.oauthbearer.client.secret", "cs"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://idp.example.com/token",
            ),
            ("sasl.oauthbearer.scope", "kafka:write"),
            (
                "sasl.oauthbearer.extensions",
                "identityPoolId=pool-2,logicalCluster=lkc-1",
            ),
        ] {
            assert_eq!(oidc.get(property), Some(want), "{property}");
        }
        assert_eq!(oidc.get("sasl.username"), None);

        let jwt = Config::from_toml(
            r#"
            [kafka.sasl]
            enabled = true
            mechanism = "oauthbearer"
            [kafka.sasl.oauthbearer]
            method = "unsecured_jwt"
            unsecured_jwt_config = "principal=admin lifeSeconds=60"
            "#,
        )
        .unwrap()
        .kafka_client_config();
        assert_eq!(
            jwt.get("sasl.oauthbearer.method"),
            None,
            "librdkafka's default"
        );
        assert_eq!(
            jwt.get("enable.sasl.oauthbearer.unsecure.jwt"),
            Some("true")
        );
        assert_eq!(
            jwt.get("sasl.oauthbearer.config"),
            Some("principal=admin lifeSeconds=60")
        );
        assert_eq!(jwt.get("sasl.oauthbearer.client.id"), None);
    }

    #[test]
    fn extra_precedence() {
        let config = Config::from_toml(
            r#"
            [kafka]
            client_id = "typed"
            extra = { "client.id" = "kafka-extra", "acks" = "0", "linger.ms" = "1", "debug" = "all" }
            [consumers]
            extra = { "session.timeout.ms" = "7000" }
            [producers]
            extra = { "linger.ms" = "42" }
            "#,
        )
        .unwrap();
        let p = config.producer_client_config();
        assert_eq!(
            p.get("client.id"),
            Some("kafka-extra"),
            "kafka.extra beats typed kafka.*"
        );
        assert_eq!(
            p.get("acks"),
            Some("1"),
            "typed producers.* beats kafka.extra"
        );
        assert_eq!(
            p.get("linger.ms"),
            Some("42"),
            "producers.extra beats everything"
        );
        assert_eq!(p.get("debug"), Some("all"));
        assert_eq!(
            p.get("session.timeout.ms"),
            None,
            "consumers.extra is consumer-only"
        );
        let c = config.consumer_client_config("g");
        assert_eq!(c.get("session.timeout.ms"), Some("7000"));
        assert_eq!(
            c.get("linger.ms"),
            Some("1"),
            "producers.extra is producer-only"
        );
    }

    /// librdkafka's errors quote the values it rejects; creating a client with a bad secret
    /// value gives an error that names the property but shows none of the value. Built
    /// without the `ssl` feature only: without OpenSSL librdkafka refuses these properties
    /// when the client is created (quoting them); with it, it reads them only later.
    #[cfg(not(feature = "ssl"))]
    #[test]
    fn client_errors_do_not_quote_secrets() {
        let cases = [
            // OAUTHBEARER's unsecured JWT config.
            r#"
            [kafka.sasl]
            enabled = true
            mechanism = "oauthbearer"
            [kafka.sasl.oauthbearer]
            method = "unsecured_jwt"
            unsecured_jwt_config = "principal=alice MARKERJWT-SECRET-1 scope=MARKERJWT-2"
            "#,
            r#"
            [kafka.ssl]
            enabled = true
            client_cert = "-----BEGIN CERTIFICATE-----\nMARKERCERT\n-----END CERTIFICATE-----"
            client_cert_key = "-----BEGIN PRIVATE KEY-----\nMARKERKEY-PEM-LINE\n-----END PRIVATE KEY-----"
            "#,
        ];
        // librdkafka reports the first property it refuses, and properties reach it in a
        // `HashMap`'s order, new for each client: 20 clients see each property refused.
        for toml in cases.iter().flat_map(|case| std::iter::repeat_n(case, 20)) {
            let config = Config::from_toml(toml).unwrap();
            let err = crate::backends::KafkaBackend::from_config(&config)
                .expect_err("librdkafka refuses this configuration");
            let mut shown = format!("{err} | {err:?}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                shown.push_str(&format!(" | {s} | {s:?}"));
                source = s.source();
            }
            assert!(!shown.contains("MARKER"), "{shown}");
        }
    }

    /// Every secret set to its own marker: none shows in `Debug`, all reach librdkafka.
    #[test]
    fn secrets_are_used_but_never_printed() {
        let mut config = Config::from_toml(
            r#"
            [kafka.ssl]
            enabled = true
            client_cert_key = "-----BEGIN PRIVATE KEY-----\nMARKER-SSL-KEY-PEM\n-----END PRIVATE KEY-----"
            client_cert_key_password = "MARKER-SSL-KEY-PASSWORD"
            [kafka.sasl]
            enabled = true
            mechanism = "plain"
            username = "alice"
            password = "MARKER-SASL-PASSWORD"
            [kafka.sasl.oauthbearer]
            client_secret = "MARKER-OAUTH-CLIENT-SECRET"
            unsecured_jwt_config = "principal=MARKER-OAUTH-CONFIG"
            [schema]
            user = "registry-user"
            password = "MARKER-SCHEMA-PASSWORD"
            "#,
        )
        .unwrap();
        let extras = [
            ("sasl.jaas.config", "MARKER-EXTRA-JAAS"),
            ("ssl.keystore.password", "MARKER-EXTRA-KEYSTORE-PASSWORD"),
            // In `consumers.extra` (i % 3 == 2), so that it does not replace the typed one in
            // the kafka and producer configs.
            ("sasl.oauthbearer.config", "MARKER-EXTRA-OAUTH-CONFIG"),
            ("ssl.ca.pem", "MARKER-EXTRA-CA-PEM"),
            (
                "sasl.oauthbearer.assertion.private.key.passphrase",
                "MARKER-EXTRA-PASSPHRASE",
            ),
        ];
        for (i, (key, value)) in extras.iter().enumerate() {
            let map = match i % 3 {
                0 => &mut config.kafka.extra,
                1 => &mut config.producers.extra,
                _ => &mut config.consumers.extra,
            };
            map.insert((*key).to_owned(), (*value).to_owned());
        }
        config
            .producers
            .extra
            .insert("debug".into(), "VISIBLE-EXTRA".into());
        let debug = format!("{config:?}");
        let pretty = format!("{config:#?}");
        for shown in [&debug, &pretty] {
            // The fields are there, their values are not.
            assert!(shown.contains("sasl.jaas.config") && shown.contains("client_secret"));
            assert!(shown.contains("<redacted>"));
            assert!(!shown.contains("MARKER-"), "a secret is printed: {shown}");
            assert!(shown.contains("VISIBLE-EXTRA"), "other extras are printed");
            assert!(shown.contains("alice") && shown.contains("registry-user"));
        }
        let mut rendered = vec![
            config.producer_client_config(),
            config.consumer_client_config("g"),
        ];
        // The OAuth markers are only rendered with that mechanism.
        config.kafka.sasl.mechanism = SaslMechanism::OAuthBearer;
        rendered.push(config.kafka_client_config());
        config.kafka.sasl.oauthbearer.method = OAuthBearerMethod::UnsecuredJwt;
        rendered.push(config.kafka_client_config());
        let values: Vec<String> = rendered
            .iter()
            // `config_map` sanitizes some values; `get` does not.
            .flat_map(|c| {
                c.config_map()
                    .keys()
                    .filter_map(|k| c.get(k).map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect();
        for marker in [
            "MARKER-SSL-KEY-PEM",
            "MARKER-SSL-KEY-PASSWORD",
            "MARKER-SASL-PASSWORD",
            "MARKER-OAUTH-CLIENT-SECRET",
            "MARKER-OAUTH-CONFIG",
        ]
        .into_iter()
        .chain(extras.iter().map(|(_, v)| *v))
        {
            assert!(
                values.iter().any(|v| v.contains(marker)),
                "{marker} never reaches librdkafka"
            );
        }
    }
}

/// librdkafka itself accepts (or, for a wrong key password, refuses) the rendered TLS and
/// SASL properties: creating a client parses the PEM files and text, decrypts the key, and
/// checks that it matches the certificate. No broker is contacted.
#[cfg(all(test, feature = "ssl"))]
mod librdkafka_accepts {
    use std::path::PathBuf;

    use rdkafka::producer::BaseProducer;

    use super::super::{Config, Secret};

    fn testdata(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/config/testdata")
            .join(name)
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(testdata(name)).expect("fixture")
    }

    fn create(config: &Config) -> Result<BaseProducer, String> {
        config.validate().map_err(|e| e.to_string())?;
        // Not `{:?}` of the ClientConfig: it would print the secrets.
        config
            .producer_client_config()
            .create::<BaseProducer>()
            .map_err(|e| e.to_string())
    }

    fn tls_text_scram() -> Config {
        let mut config = Config::from_toml(
            r#"
            [kafka]
            brokers = ["127.0.0.1:1"]
            [kafka.sasl]
            enabled = true
            mechanism = "SCRAM-SHA-512"
            username = "alice"
            password = "pw"
            [producers]
            idempotence = true
            compression_codec = "zstd"
            "#,
        )
        .unwrap();
        let ssl = &mut config.kafka.ssl;
        ssl.enabled = true;
        ssl.ca_cert = Some(read("ca.pem"));
        ssl.client_cert = Some(read("client.pem"));
        ssl.client_cert_key = Some(Secret::new(read("client.key")));
        ssl.client_cert_key_password = Some(Secret::new("fixture-key-password"));
        config
    }

    #[test]
    fn tls_pem_text_with_scram() {
        create(&tls_text_scram()).expect("librdkafka accepts TLS from PEM text with SCRAM");
    }

    #[test]
    fn tls_files_with_plain() {
        let mut config = Config::from_toml(
            "[kafka]\nbrokers = [\"127.0.0.1:1\"]\n\
             [kafka.sasl]\nenabled = true\nusername = \"u\"\npassword = \"p\"\n",
        )
        .unwrap();
        let ssl = &mut config.kafka.ssl;
        ssl.enabled = true;
        ssl.ca_cert_file = Some(testdata("ca.pem"));
        ssl.client_cert_file = Some(testdata("client.pem"));
        ssl.client_cert_key_file = Some(testdata("client.key"));
        ssl.client_cert_key_password = Some(Secret::new("fixture-key-password"));
        create(&config).expect("librdkafka accepts TLS from files with PLAIN");
    }

    #[test]
    fn oauthbearer_unsecured_jwt() {
        let config = Config::from_toml(
            r#"
            [kafka]
            brokers = ["127.0.0.1:1"]
            [kafka.ssl]
            enabled = true
            [kafka.sasl]
            enabled = true
            mechanism = "oauthbearer"
            [kafka.sasl.oauthbearer]
            method = "unsecured_jwt"
            unsecured_jwt_config = "principal=admin scope=kafka lifeSeconds=3600"
            "#,
        )
        .unwrap();
        create(&config).expect("librdkafka accepts the unsecured JWT mode");
    }

    /// The check above can fail: librdkafka really decrypts the key.
    #[test]
    fn a_wrong_key_password_is_refused() {
        let mut config = tls_text_scram();
        config.kafka.ssl.client_cert_key_password = Some(Secret::new("not-the-password"));
        let Err(err) = create(&config) else {
            panic!("librdkafka accepted a wrong key password");
        };
        assert!(err.contains("ssl.key"), "{err}");
        assert!(!err.contains("not-the-password"), "{err}");
    }

    #[cfg(feature = "oidc")]
    #[test]
    fn oauthbearer_oidc() {
        let config = Config::from_toml(
            r#"
            [kafka]
            brokers = ["127.0.0.1:1"]
            [kafka.ssl]
            enabled = true
            [kafka.sasl]
            enabled = true
            mechanism = "oauthbearer"
            [kafka.sasl.oauthbearer]
            client_id = "svc"
            client_secret = "cs"
            token_endpoint_url = "https://127.0.0.1:1/token"
            scope = "kafka"
            extensions = { logicalCluster = "lkc-1" }
            "#,
        )
        .unwrap();
        create(&config).expect("librdkafka built with libcurl accepts OIDC");
    }
}
