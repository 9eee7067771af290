//! Content types: which format a request body is in, and which one the response gets.

use axum::http::{header, HeaderMap};

/// The media type of Avro bodies: Deimos' `AvroBase.content_type`.
pub const AVRO_CONTENT_TYPE: &str = "avro/binary";

/// The media type of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The two body formats `deimos::http` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFormat {
    /// `avro/binary`: one bare Avro binary datum (Avro spec, "Binary Encoding"): no object
    /// container, no Confluent framing.
    Avro,
    /// `application/json`: a JSON object, checked and coerced against the schema.
    Json,
}

impl BodyFormat {
    /// The `Content-Type` a response in this format carries.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Avro => AVRO_CONTENT_TYPE,
            BodyFormat::Json => JSON_CONTENT_TYPE,
        }
    }
}

impl std::fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyFormat::Avro => "Avro",
            BodyFormat::Json => "JSON",
        })
    }
}

/// The media type of `Content-Type` without parameters, lowercased; `None` when absent or
/// not text.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(media_type(value))
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The format of a body whose media type is `media`: `avro/binary`, or `application/json`
/// and any `application/*+json`.
pub(crate) fn format_of(media: &str) -> Option<BodyFormat> {
    if media == AVRO_CONTENT_TYPE {
        Some(BodyFormat::Avro)
    } else if media == JSON_CONTENT_TYPE
        || (media.starts_with("application/") && media.ends_with("+json"))
    {
        Some(BodyFormat::Json)
    } else {
        None
    }
}

/// The response format for a request with these headers: what `Accept` prefers of
/// `avro/binary` and `application/json` (by `q`; wildcards say nothing), else JSON when the
/// request body is JSON, else Avro.
pub(crate) fn response_format(headers: &HeaderMap) -> BodyFormat {
    let default = match content_type(headers).as_deref().and_then(format_of) {
        Some(BodyFormat::Json) => BodyFormat::Json,
        _ => BodyFormat::Avro,
    };
    let mut avro: Option<f32> = None;
    let mut json: Option<f32> = None;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = media_type(parts.next().unwrap_or_default());
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match format_of(&media) {
                Some(BodyFormat::Avro) => &mut avro,
                Some(BodyFormat::Json) => &mut json,
                None => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    match (avro, json) {
        (Some(a), Some(j)) if a > j => BodyFormat::Avro,
        (Some(a), Some(j)) if j > a => BodyFormat::Json,
        (Some(a), None) if a > 0.0 => BodyFormat::Avro,
        (None, Some(j)) if j > 0.0 => BodyFormat::Json,
        // Only refused: the other one.
        (Some(_), None) => BodyFormat::Json,
        (None, Some(_)) => BodyFormat::Avro,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn request_formats() {
        assert_eq!(format_of("avro/binary"), Some(BodyFormat::Avro));
        assert_eq!(format_of("application/json"), Some(BodyFormat::Json));
        assert_eq!(
            format_of("application/problem+json"),
            Some(BodyFormat::Json)
        );
        assert_eq!(format_of("text/plain"), None);
        let h = headers(&[(header::CONTENT_TYPE, "Application/JSON; charset=utf-8")]);
        assert_eq!(content_type(&h).as_deref(), Some("application/json"));
    }

    #[test]
    fn response_follows_accept_then_request() {
        use header::{ACCEPT, CONTENT_TYPE};
        let cases: &[(&[(header::HeaderName, &'static str)], BodyFormat)] = &[
            (&[], BodyFormat::Avro),
            (&[(CONTENT_TYPE, "avro/binary")], BodyFormat::Avro),
            (&[(CONTENT_TYPE, "application/json")], BodyFormat::Json),
            (
                &[(CONTENT_TYPE, "avro/binary"), (ACCEPT, "application/json")],
                BodyFormat::Json,
            ),
            (
                &[(CONTENT_TYPE, "application/json"), (ACCEPT, "avro/binary")],
                BodyFormat::Avro,
            ),
            (
                &[(CONTENT_TYPE, "application/json"), (ACCEPT, "*/*")],
                BodyFormat::Json,
            ),
            (
                &[(ACCEPT, "application/json;q=0.5, avro/binary;q=0.9")],
                BodyFormat::Avro,
            ),
            (
                &[(ACCEPT, "application/json;q=0.9, avro/binary;q=0.5")],
                BodyFormat::Json,
            ),
            (&[(ACCEPT, "avro/binary;q=0")], BodyFormat::Json),
            (
                &[(ACCEPT, "text/html"), (ACCEPT, "application/json")],
                BodyFormat::Json,
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(response_format(&headers(pairs)), *want, "{pairs:?}");
        }
    }
}
