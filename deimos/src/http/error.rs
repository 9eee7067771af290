//! `HttpError`: why a request body was refused or a response could not be made.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::BodyFormat;
use crate::error::BoxError;
use crate::schema::coerce::CoercionError;
use crate::schema::guard::DatumError;

/// The media type of error bodies (RFC 9457, "Problem Details for HTTP APIs").
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Why [`AvroBody`](super::AvroBody) / [`AvroPayload`](super::AvroPayload) refused a request,
/// or why a response could not be encoded.
///
/// As a response ([`IntoResponse`]) it is an RFC 9457 problem document
/// (`Content-Type: application/problem+json`), the shape Spring's `ProblemDetail` writes:
///
/// ```json
/// {"type": "about:blank", "title": "Bad Request", "status": 400,
///  "detail": "request body is not a valid Avro `com.example.http.CreateWidget`: invalid Avro datum at byte 2 (`$.name`): string length 40 exceeds the 3 bytes that remain",
///  "schema": "com.example.http.CreateWidget", "field": "name"}
/// ```
///
/// `schema` and `field` are present when known. For 4xx errors `detail` is the error and its
/// whole [`source`](std::error::Error::source) chain, joined with `: `, so the client learns
/// what to fix; for 5xx errors it is only this error's own message (the chain can describe
/// the server's files and types), and the whole chain is logged with `tracing` at `error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// 415 Unsupported Media Type: the request's `Content-Type` is neither `avro/binary` nor
    /// JSON (`application/json`, `application/*+json`), or is missing.
    #[error(
        "unsupported content type {}; expected `avro/binary` or `application/json`",
        found.as_deref().map_or_else(|| "(none)".to_owned(), |f| format!("`{f}`"))
    )]
    UnsupportedContentType {
        /// The media type sent (lowercased, parameters dropped); `None` when there was none.
        found: Option<String>,
    },
    /// 413 Content Too Large: the body (by `Content-Length`, or counted while reading) is
    /// longer than the route's limit ([`SchemaController::body_limit`](super::SchemaController::body_limit)).
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 400 Bad Request: the body could not be read (the connection failed mid-body).
    #[error("request body could not be read")]
    BodyRead {
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// 400 Bad Request: the body is not a value of the route's request schema: a malformed
    /// Avro datum (the guard's [`DatumError`], trailing bytes), malformed JSON, a JSON value
    /// that is not an object, a field that does not coerce ([`CoercionError`]), or a value
    /// the handler's type cannot hold.
    #[error("request body is not a valid {format} `{schema}`")]
    InvalidBody {
        /// The format the body was read as.
        format: BodyFormat,
        /// The request schema's full name.
        schema: String,
        /// Where in the value, when known: record fields joined by `.`, array indexes as
        /// `[i]`, map keys as `["k"]` (e.g. `items[1].qty`).
        field: Option<String>,
        /// What was wrong.
        #[source]
        source: BoxError,
    },
    /// 500 Internal Server Error: the route has no action layer
    /// ([`SchemaController::action`](super::SchemaController::action)), so there is no schema to
    /// read or write with.
    #[error(
        "this route has no `deimos::http` action: add `.layer(controller.action(\"<name>\"))` to it"
    )]
    MissingAction,
    /// 500 Internal Server Error: the route's schema could not be loaded (missing or invalid
    /// `.avsc`).
    #[error("schema `{schema}` could not be loaded")]
    SchemaLoad {
        /// The schema's full name.
        schema: String,
        /// The [`Error::SchemaLoad`](crate::Error::SchemaLoad) from the backend.
        #[source]
        source: BoxError,
    },
    /// 500 Internal Server Error: the handler's response does not fit the route's response
    /// schema (the server's own bug, never the client's).
    #[error("failed to encode the response with schema `{schema}`")]
    EncodeResponse {
        /// The response schema's full name.
        schema: String,
        /// The [`Error::Encode`](crate::Error::Encode), naming the field where it can.
        #[source]
        source: BoxError,
    },
}

impl HttpError {
    /// The HTTP status this error answers with: 415, 413, 400 or 500 (see the variants).
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::UnsupportedContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::BodyRead { .. } | HttpError::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            HttpError::MissingAction
            | HttpError::SchemaLoad { .. }
            | HttpError::EncodeResponse { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The schema involved, when there is one.
    pub fn schema(&self) -> Option<&str> {
        match self {
            HttpError::InvalidBody { schema, .. }
            | HttpError::SchemaLoad { schema, .. }
            | HttpError::EncodeResponse { schema, .. } => Some(schema),
            _ => None,
        }
    }

    /// A 400 for a body that is not a value of `schema`, with the field path found in
    /// `source`'s chain (the guard's or coercion's), if any.
    pub(crate) fn invalid(format: BodyFormat, schema: String, source: BoxError) -> Self {
        let field = field_path(source.as_ref());
        HttpError::InvalidBody {
            format,
            schema,
            field,
            source,
        }
    }

    /// The text of this error and its sources, joined with `: `.
    fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            text.push_str(": ");
            text.push_str(&e.to_string());
            next = e.source();
        }
        text
    }
}

/// The field path a guard or coercion error in `error`'s chain names, normalised to the
/// coercion form (`items[1].qty`); `None` for the root or when no such error is there.
fn field_path(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(datum) = e.downcast_ref::<DatumError>() {
            let path = datum.path();
            let path = path.strip_prefix("$.").unwrap_or(path);
            return (path != "$" && !path.is_empty()).then(|| path.to_owned());
        }
        if let Some(coercion) = e.downcast_ref::<CoercionError>() {
            let path = coercion.path();
            return (!path.is_empty()).then(|| path.to_owned());
        }
        next = e.source();
    }
    None
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = if status.is_server_error() {
            tracing::error!(error = %self.chain(), "deimos::http: {self}");
            self.to_string()
        } else {
            self.chain()
        };
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(schema) = self.schema() {
            body["schema"] = schema.into();
        }
        if let HttpError::InvalidBody {
            field: Some(field), ..
        } = &self
        {
            body["field"] = field.as_str().into();
        }
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        response
    }
}
