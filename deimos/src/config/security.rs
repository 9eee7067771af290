//! `kafka.ssl.*` and `kafka.sasl.*`: TLS and SASL for every Kafka client.
//!
//! The librdkafka properties are rendered in `config/kafka.rs`; this file holds the types and
//! the checks that name the keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use crate::error::{Error, Result};

/// `kafka.ssl.*`: TLS (librdkafka `ssl.*`).
///
/// Each of the CA certificate, the client certificate and the client key is given either as
/// PEM text (the un-suffixed key, as Deimos' `ssl_ca_cert`, `ssl_client_cert` and
/// `ssl_client_cert_key` take PEM text) or as a path to a PEM file (the `_file` key). Setting
/// both for the same item is an [`Error::Config`] naming both keys. PEM text must contain a
/// `-----BEGIN` line; a path given where PEM text is expected is an error that points to the
/// `_file` key.
///
/// Everything here is used only when `enabled` is true. TLS needs the `ssl` feature (librdkafka
/// built with OpenSSL); without it librdkafka refuses `security.protocol=ssl` when the client
/// is created.
///
/// ```toml
/// [kafka.ssl]
/// enabled = true
/// ca_cert_file = "/etc/kafka/ca.pem"
/// client_cert = """
/// -----BEGIN CERTIFICATE-----
/// ...
/// -----END CERTIFICATE-----
/// """
/// client_cert_key_file = "/etc/kafka/client.key"
/// client_cert_key_password = "…"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SslConfig {
    /// Use TLS: `security.protocol=ssl`, or `sasl_ssl` with SASL. Default false. Deimos:
    /// `kafka.ssl.enabled`.
    pub enabled: bool,
    /// CA certificate(s), PEM text (`ssl.ca.pem`). Deimos: `kafka.ssl.ca_cert`. When neither
    /// this nor `ca_cert_file` is set, librdkafka uses the system's CA store.
    pub ca_cert: Option<String>,
    /// CA certificate file or directory, a path (`ssl.ca.location`).
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate, PEM text (`ssl.certificate.pem`). Deimos: `kafka.ssl.client_cert`.
    pub client_cert: Option<String>,
    /// Client certificate file, a path (`ssl.certificate.location`).
    pub client_cert_file: Option<PathBuf>,
    /// Client private key, PEM text (`ssl.key.pem`). Never printed by `Debug`. Deimos:
    /// `kafka.ssl.client_cert_key`.
    pub client_cert_key: Option<Secret>,
    /// Client private key file, a path (`ssl.key.location`).
    pub client_cert_key_file: Option<PathBuf>,
    /// Password of an encrypted client key, either form (`ssl.key.password`). Never printed
    /// by `Debug`.
    pub client_cert_key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to
    /// (`ssl.endpoint.identification.algorithm`: `https` when true, `none` when false).
    /// Default true. Deimos: `kafka.ssl.verify_hostname`.
    pub verify_hostname: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            enabled: false,
            ca_cert: None,
            ca_cert_file: None,
            client_cert: None,
            client_cert_file: None,
            client_cert_key: None,
            client_cert_key_file: None,
            client_cert_key_password: None,
            verify_hostname: true,
        }
    }
}

impl SslConfig {
    /// Text-or-file exclusivity and the PEM shape of text values.
    pub(super) fn validate(&self) -> Result<()> {
        let pairs: [(&str, Option<&str>, bool); 3] = [
            (
                "ca_cert",
                self.ca_cert.as_deref(),
                self.ca_cert_file.is_some(),
            ),
            (
                "client_cert",
                self.client_cert.as_deref(),
                self.client_cert_file.is_some(),
            ),
            (
                "client_cert_key",
                self.client_cert_key.as_ref().map(Secret::expose),
                self.client_cert_key_file.is_some(),
            ),
        ];
        for (name, text, file) in pairs {
            let key = format!("kafka.ssl.{name}");
            if text.is_some() && file {
                return Err(Error::config(
                    &key,
                    format!(
                        "set either `{key}` (PEM text) or `{key}_file` (a path to a PEM file), \
                         not both"
                    ),
                ));
            }
            // The value is never repeated: it may be a private key.
            if text.is_some_and(|t| !t.contains("-----BEGIN ")) {
                return Err(Error::config(
                    &key,
                    format!(
                        "expected PEM text (a `-----BEGIN ...-----` block); for a path to a PEM \
                         file use `{key}_file`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `kafka.sasl.mechanism` (librdkafka `sasl.mechanism`). In configuration: `plain`,
/// `scram_sha256`, `scram_sha512`, `oauthbearer`, or librdkafka's spellings `PLAIN`,
/// `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`.
///
/// Deimos (ruby-kafka) chose the mechanism by which keys were set (`sasl_plain_username`,
/// `sasl_scram_mechanism: 'sha256'`, `sasl_oauth_token_provider`); here it is named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN`: `username` and `password` sent as they are, so use it with TLS. Default.
    #[default]
    #[serde(rename = "plain", alias = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256` with `username` and `password` (librdkafka needs OpenSSL: the `ssl`
    /// feature).
    #[serde(rename = "scram_sha256", alias = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512` with `username` and `password` (the `ssl` feature).
    #[serde(rename = "scram_sha512", alias = "SCRAM-SHA-512")]
    ScramSha512,
    /// `OAUTHBEARER`, configured by `kafka.sasl.oauthbearer` (the `ssl` feature; OIDC also
    /// the `oidc` feature).
    #[serde(rename = "oauthbearer", alias = "OAUTHBEARER")]
    OAuthBearer,
}

impl SaslMechanism {
    /// The librdkafka `sasl.mechanism` value: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or
    /// `OAUTHBEARER`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kafka.sasl.*`: SASL authentication (librdkafka `sasl.*`).
///
/// `PLAIN` and `SCRAM` need `username` and `password`; `OAUTHBEARER` reads
/// `kafka.sasl.oauthbearer`. A missing one is an [`Error::Config`] naming the key. With
/// `kafka.ssl.enabled` the protocol is `sasl_ssl`, otherwise `sasl_plaintext` (a `PLAIN`
/// password then crosses the network in clear text).
///
/// ```toml
/// [kafka.sasl]
/// enabled = true
/// mechanism = "scram_sha512"   # or "SCRAM-SHA-512"
/// username = "svc-widgets"
/// password = "…"               # better: DEIMOS_KAFKA_SASL_PASSWORD
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SaslConfig {
    /// Use SASL: `security.protocol=sasl_plaintext`, or `sasl_ssl` with TLS. Default false.
    pub enabled: bool,
    /// `sasl.mechanism`. Default `plain`.
    pub mechanism: SaslMechanism,
    /// `sasl.username`, for `PLAIN` and `SCRAM`. Deimos: `sasl.plain_username` /
    /// `sasl.scram_username`.
    pub username: Option<String>,
    /// `sasl.password`, for `PLAIN` and `SCRAM`. Never printed by `Debug`. Deimos:
    /// `sasl.plain_password` / `sasl.scram_password`.
    pub password: Option<Secret>,
    /// `OAUTHBEARER` settings (`kafka.sasl.oauthbearer.*`).
    pub oauthbearer: OAuthBearerConfig,
}

impl SaslConfig {
    /// The credentials the mechanism needs.
    pub(super) fn validate(&self) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        match self.mechanism {
            SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let missing = |key: &str| {
                    Error::config(
                        key,
                        format!(
                            "required by `kafka.sasl.mechanism = \"{}\"`",
                            self.mechanism.as_str()
                        ),
                    )
                };
                if self.username.as_deref().is_none_or(str::is_empty) {
                    return Err(missing("kafka.sasl.username"));
                }
                if self.password.as_ref().is_none_or(|p| p.expose().is_empty()) {
                    return Err(missing("kafka.sasl.password"));
                }
                Ok(())
            }
            SaslMechanism::OAuthBearer => self.oauthbearer.validate(),
        }
    }
}

/// How `OAUTHBEARER` gets its tokens (`kafka.sasl.oauthbearer.method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuthBearerMethod {
    /// OIDC client credentials: librdkafka fetches and refreshes tokens from
    /// `token_endpoint_url` with `client_id` and `client_secret`
    /// (`sasl.oauthbearer.method=oidc`). Needs librdkafka with libcurl: the `oidc` feature,
    /// built where libcurl's development files are installed (Debian: `libcurl4-openssl-dev`).
    /// Without them librdkafka is built without OIDC, and creating a client fails with its
    /// "not supported in this build" error. Default.
    #[default]
    Oidc,
    /// Development only: librdkafka's built-in unsecured JWT (`sasl.oauthbearer.method` left at
    /// `default`, `enable.sasl.oauthbearer.unsecure.jwt=true`, the token described by
    /// `sasl.oauthbearer.config`; the `ssl` feature suffices). The broker must accept unsigned tokens, as Kafka's
    /// `OAuthBearerUnsecuredValidatorCallbackHandler` does. Never for production.
    UnsecuredJwt,
}

/// `kafka.sasl.oauthbearer.*`: `OAUTHBEARER` tokens (librdkafka `sasl.oauthbearer.*`).
///
/// Deimos (ruby-kafka) took a token provider object (`sasl_oauth_token_provider`); librdkafka
/// fetches OIDC tokens itself, so here the client credentials are configuration.
///
/// ```toml
/// [kafka.sasl]
/// enabled = true
/// mechanism = "oauthbearer"
/// [kafka.sasl.oauthbearer]
/// client_id = "svc-widgets"
/// client_secret = "…"          # better: DEIMOS_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET
/// token_endpoint_url = "https://idp.example.com/oauth2/token"
/// scope = "kafka"
/// extensions = { logicalCluster = "lkc-123", identityPoolId = "pool-1" }
/// ```
///
/// Development brokers that accept unsigned tokens:
///
/// ```toml
/// [kafka.sasl.oauthbearer]
/// method = "unsecured_jwt"
/// unsecured_jwt_config = "principal=admin scope=kafka lifeSeconds=3600"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuthBearerConfig {
    /// Where tokens come from (`sasl.oauthbearer.method`). Default `oidc`.
    pub method: OAuthBearerMethod,
    /// OIDC client id (`sasl.oauthbearer.client.id`). Required for `oidc`.
    pub client_id: Option<String>,
    /// OIDC client secret (`sasl.oauthbearer.client.secret`). Required for `oidc`. Never
    /// printed by `Debug`.
    pub client_secret: Option<Secret>,
    /// OIDC token endpoint, an `http(s)://` URL (`sasl.oauthbearer.token.endpoint.url`).
    /// Required for `oidc`.
    pub token_endpoint_url: Option<String>,
    /// Scope requested with the token (`sasl.oauthbearer.scope`). Optional.
    pub scope: Option<String>,
    /// SASL extensions sent to the broker with the token (`sasl.oauthbearer.extensions`,
    /// rendered `key=value,key=value`), e.g. Confluent Cloud's `logicalCluster`. Keys are ASCII
    /// letters (not `auth`); values may not contain `,`. In the environment: `"k=v,k2=v2"`.
    /// `oidc` only.
    #[serde(deserialize_with = "super::table_or_pairs")]
    pub extensions: BTreeMap<String, String>,
    /// The unsecured token, as librdkafka's `sasl.oauthbearer.config`: space-separated
    /// `name=value` pairs, `principal=` required (also `scope=`, `lifeSeconds=`,
    /// `principalClaimName=`, `scopeClaimName=`, `extension_NAME=`). Required for
    /// `unsecured_jwt`. Never printed by `Debug`.
    pub unsecured_jwt_config: Option<Secret>,
}

impl OAuthBearerConfig {
    fn validate(&self) -> Result<()> {
        match self.method {
            OAuthBearerMethod::Oidc => {
                let missing = |name: &str| {
                    Error::config(
                        format!("kafka.sasl.oauthbearer.{name}"),
                        "required by `kafka.sasl.mechanism = \"oauthbearer\"` with \
                         `kafka.sasl.oauthbearer.method = \"oidc\"`",
                    )
                };
                if self.client_id.as_deref().is_none_or(str::is_empty) {
                    return Err(missing("client_id"));
                }
                if self
                    .client_secret
                    .as_ref()
                    .is_none_or(|s| s.expose().is_empty())
                {
                    return Err(missing("client_secret"));
                }
                match self.token_endpoint_url.as_deref() {
                    None | Some("") => return Err(missing("token_endpoint_url")),
                    Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                        return Err(Error::config(
                            "kafka.sasl.oauthbearer.token_endpoint_url",
                            format!("expected an `https://` (or `http://`) URL, found `{url}`"),
                        ))
                    }
                    Some(_) => {}
                }
                for (key, value) in &self.extensions {
                    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic()) {
                        return Err(Error::config(
                            "kafka.sasl.oauthbearer.extensions",
                            format!("extension name `{key}` must be ASCII letters only"),
                        ));
                    }
                    if key == "auth" {
                        return Err(Error::config(
                            "kafka.sasl.oauthbearer.extensions",
                            "`auth` is reserved by SASL/OAUTHBEARER (RFC 7628)",
                        ));
                    }
                    if value.contains(',') {
                        return Err(Error::config(
                            "kafka.sasl.oauthbearer.extensions",
                            format!("the value of extension `{key}` may not contain `,`"),
                        ));
                    }
                }
                Ok(())
            }
            OAuthBearerMethod::UnsecuredJwt => {
                if !self.extensions.is_empty() {
                    return Err(Error::config(
                        "kafka.sasl.oauthbearer.extensions",
                        "only used with `method = \"oidc\"`; for an unsecured JWT write \
                         `extension_NAME=value` into `kafka.sasl.oauthbearer.unsecured_jwt_config`",
                    ));
                }
                let config = self
                    .unsecured_jwt_config
                    .as_ref()
                    .map(Secret::expose)
                    .unwrap_or_default();
                if !config
                    .split_whitespace()
                    .any(|p| p.starts_with("principal="))
                {
                    return Err(Error::config(
                        "kafka.sasl.oauthbearer.unsecured_jwt_config",
                        "required by `kafka.sasl.oauthbearer.method = \"unsecured_jwt\"`, with \
                         at least `principal=NAME` (e.g. \"principal=admin lifeSeconds=3600\")",
                    ));
                }
                Ok(())
            }
        }
    }

    /// `sasl.oauthbearer.extensions`: `key=value` pairs joined by `,`.
    pub(super) fn extensions_property(&self) -> String {
        self.extensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}
