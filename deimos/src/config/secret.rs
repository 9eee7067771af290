//! [`Secret`], and the redaction of sensitive raw librdkafka properties in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// What `Debug` prints instead of a secret.
const REDACTED: &str = "<redacted>";

/// A configuration string that must not reach logs: a password, a private key, an OAuth client
/// secret.
///
/// - `Debug` prints `<redacted>`, so `format!("{config:?}")` and `tracing::debug!(?config)` are
///   safe. There is no `Display`.
/// - Serde is transparent: in TOML and the environment a secret is a plain string, and
///   serializing a [`Config`](super::Config) writes the real value (so a config can be written
///   back to a file, or layered with figment's `Serialized`). Do not log serialized configs.
/// - [`expose`](Secret::expose) is the one way to read the value; deimos calls it only where it
///   renders librdkafka properties (`config/kafka.rs`).
///
/// Not `secrecy::SecretString`: that type has no `PartialEq` and no `Serialize`, which
/// [`Config`](super::Config) derives. Nothing here zeroes memory on drop: librdkafka keeps its
/// own copy of every property anyway.
///
/// # Deserialization
/// Only a string is a secret. A number or a boolean is refused (with a message that does not
/// repeat it), because turning `00123` or `1e3` back into text could change it. In the
/// environment, where figment reads `DEIMOS_KAFKA_SASL_PASSWORD=123456` as a number, quote the
/// value: `DEIMOS_KAFKA_SASL_PASSWORD='"123456"'`.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        // `any`, not `string`: a format that knows the value is a number would report it
        // itself, repeating it (serde_json does), before the visitor could hide it.
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl SecretVisitor {
    fn not_a_string<E: de::Error>(what: &str) -> E {
        // The value itself is never repeated: it may be the secret.
        E::custom(format!(
            "expected a string, found a {what} (not shown: it may be a secret); quote it, e.g. \
             password = \"123456\" in TOML or DEIMOS_..._PASSWORD='\"123456\"' in the environment"
        ))
    }
}

impl Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(Self::not_a_string("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(Self::not_a_string("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(Self::not_a_string("number"))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Secret, E> {
        Err(Self::not_a_string("number"))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Secret, E> {
        Err(Self::not_a_string("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(Self::not_a_string("number"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(Self::not_a_string("byte string"))
    }
}

/// Substrings of a raw librdkafka property name (lowercased) whose value `Debug` hides in the
/// `extra` maps: `sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
/// `sasl.oauthbearer.client.secret`, `ssl.key.pem` (and the other `*.pem`),
/// `sasl.oauthbearer.assertion.private.key.passphrase`, `sasl.oauthbearer.config` (librdkafka
/// marks all of these sensitive), and the Java client's `sasl.jaas.config`, which carries
/// credentials when copied from a JVM setup.
const SENSITIVE_PROPERTY_PARTS: &[&str] = &[
    "password",
    "secret",
    "passphrase",
    ".pem",
    "sasl.jaas",
    "oauthbearer.config",
];

/// Whether `Debug` hides the value of the raw librdkafka property `key` (see
/// [`SENSITIVE_PROPERTY_PARTS`]).
pub(crate) fn is_sensitive_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_PROPERTY_PARTS
        .iter()
        .any(|part| key.contains(part))
}

/// `error`, from creating a librdkafka client with `config`, with every piece of a sensitive
/// property's value (see [`is_sensitive_property`]) replaced by `<redacted>`. librdkafka's
/// configuration and client-creation errors quote the values they reject, whole
/// (`KafkaError::ClientConfig`'s value) or in part ("Unrecognized sasl.oauthbearer.config
/// beginning at: ..."), so each whitespace-, `=`- or `,`-separated piece of four characters or
/// more of every secret value is replaced wherever it appears, as is a rejected sensitive
/// property's whole value.
pub(crate) fn redact_client_error(
    error: rdkafka::error::KafkaError,
    config: &rdkafka::ClientConfig,
) -> rdkafka::error::KafkaError {
    use rdkafka::error::KafkaError;
    let mut pieces: Vec<String> = config
        .config_map()
        .keys()
        .filter(|key| is_sensitive_property(key))
        // `config_map` sanitizes some values; `get` gives what librdkafka saw.
        .filter_map(|key| config.get(key))
        .flat_map(|value| {
            std::iter::once(value.trim().to_owned()).chain(
                value
                    .split(|c: char| c.is_whitespace() || c == '=' || c == ',')
                    .map(str::to_owned),
            )
        })
        .filter(|piece| piece.chars().count() >= 4)
        .collect();
    // Longest first, so that a piece inside a longer one does not split it.
    pieces.sort_by_key(|piece| std::cmp::Reverse(piece.len()));
    let scrub = |text: String| -> String {
        pieces
            .iter()
            .fold(text, |t, p| t.replace(p.as_str(), "<redacted>"))
    };
    match error {
        KafkaError::ClientConfig(result, description, key, value) => {
            let value = if is_sensitive_property(&key) {
                "<redacted>".to_owned()
            } else {
                scrub(value)
            };
            KafkaError::ClientConfig(result, scrub(description), key, value)
        }
        KafkaError::ClientCreation(text) => KafkaError::ClientCreation(scrub(text)),
        other => other,
    }
}

/// `Debug` for an `extra` map: every key, and every value except the sensitive ones.
pub(crate) struct RedactedProperties<'a>(pub(crate) &'a BTreeMap<String, String>);

impl fmt::Debug for RedactedProperties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| {
                let shown: &dyn fmt::Debug = if is_sensitive_property(key) {
                    &Redacted
                } else {
                    value
                };
                (key, shown)
            }))
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value_and_serde_is_transparent() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2\"");
        let back: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_number_is_refused_without_repeating_it() {
        let err = serde_json::from_str::<Secret>("9876543210").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("expected a string"), "{msg}");
        assert!(!msg.contains("9876543210"), "{msg}");
    }

    #[test]
    fn sensitive_extra_values_are_hidden() {
        let extra: BTreeMap<String, String> = [
            ("debug", "broker"),
            ("sasl.password", "p1"),
            ("SSL.KEY.PEM", "p2"),
            ("sasl.oauthbearer.client.secret", "p3"),
            ("sasl.oauthbearer.config", "p4"),
            ("sasl.jaas.config", "p5"),
            ("ssl.keystore.password", "p6"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let shown = format!("{:?}", RedactedProperties(&extra));
        assert!(shown.contains("\"debug\": \"broker\""), "{shown}");
        for marker in ["p1", "p2", "p3", "p4", "p5", "p6"] {
            assert!(!shown.contains(marker), "{marker} in {shown}");
        }
        assert!(shown.contains("\"sasl.password\": <redacted>"), "{shown}");
    }
}
