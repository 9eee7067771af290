//! The extractors and responses: [`AvroBody`] (typed) and [`AvroPayload`] (dynamic).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use futures::StreamExt as _;

use super::negotiate::{content_type, format_of};
use super::{Action, BodyFormat, HttpError, SCOPE};
use crate::error::{BoxError, Error};
use crate::payload::Payload;
use crate::schema::coerce::{coerce_payload, to_payload_with_schema};
use crate::schema::{from_avro_value, Incoming, KeyConfig, Value};

/// A request or response body encoded with the route's schema, as a typed value `T`.
///
/// **As an extractor** (`T: DeserializeOwned`), it reads the body with the route's request
/// schema ([`SchemaController::action`](super::SchemaController::action) names the route;
/// Deimos' `decode_schema` before-action):
///
/// - `Content-Type: avro/binary`: one bare Avro binary datum written with the request schema
///   (Avro spec, "Binary Encoding"; no container, no Confluent framing), checked by deimos'
///   guard ([`schema::guard`](crate::schema::guard)) before anything is allocated, then
///   deserialized into `T` as a `#[consumer]` handler's payload is.
/// - `Content-Type: application/json` (or `application/*+json`): a JSON object, fitted to the
///   request schema by Deimos' coercion rules ([`schema::coerce`](crate::schema::coerce): `"5"`
///   fills an `int`, keys the schema lacks are dropped, missing fields take their defaults,
///   a missing field without a default is an error), then deserialized into `T`.
///
/// The body is read up to the route's limit (1 MiB unless
/// [`SchemaController::body_limit`](super::SchemaController::body_limit) says otherwise).
/// Rejections are [`HttpError`]s: 415 for another content type, 413 for a body over the limit,
/// 400 for a body that is not a value of the schema (naming the schema and, when known, the
/// field), 500 when the route has no action layer or its schema cannot be loaded.
///
/// **As a response** (`T: Serialize + Send + Sync + 'static`), it is encoded with the route's response
/// schema (Deimos' `render_schema`) by the action layer, after the handler returns: an Avro
/// datum with `Content-Type: avro/binary`, or the same value as a JSON object when the client
/// asked for JSON (see [the module docs](super#content-negotiation)). A status or headers set
/// next to it (`(StatusCode::CREATED, AvroBody(v))`) are kept. A value that does not fit the
/// schema is a 500 [`HttpError::EncodeResponse`]. Outside a route with an action layer the
/// response is a 500 [`HttpError::MissingAction`].
///
/// # Examples
/// ```
/// use deimos::http::AvroBody;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct CreateWidget { name: String, price: f64 }
/// #[derive(Serialize)]
/// struct WidgetCreated { id: i64, name: String }
///
/// async fn create(AvroBody(req): AvroBody<CreateWidget>) -> AvroBody<WidgetCreated> {
///     # let _ = req.price;
///     AvroBody(WidgetCreated { id: 1, name: req.name })
/// }
///
/// let widgets = deimos::http::SchemaController::new("schemas").namespace("com.example.http");
/// let app: axum::Router = axum::Router::new()
///     .route("/widgets", axum::routing::post(create).layer(widgets.action("create")));
/// # drop(app);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AvroBody<T>(pub T);

/// A request or response body encoded with the route's schema, as a dynamic [`Payload`]
/// (Deimos' hash `payload`): what [`AvroBody`] does, for code without a struct per schema.
///
/// As an extractor the payload is in its canonical form for the schema
/// ([`SchemaHandle::decode`](crate::schema::SchemaHandle::decode) for Avro, [`SchemaHandle::coerce`](crate::schema::SchemaHandle::coerce) for JSON): every schema field
/// present, in schema order, decimals as strings at their scale, enums as strings, unions
/// unwrapped. As a response it is coerced to the response schema by Deimos' rules
/// ([`SchemaHandle::encode`](crate::schema::SchemaHandle::encode)). Errors as for [`AvroBody`].
///
/// # Examples
/// ```
/// use deimos::http::AvroPayload;
///
/// async fn echo(AvroPayload(mut payload): AvroPayload) -> AvroPayload {
///     payload.insert("seen", true);
///     AvroPayload(payload)
/// }
///
/// let controller = deimos::http::SchemaController::new("schemas").namespace("com.example.http");
/// // Action `echo`: schema `com.example.http.Echo` both ways.
/// let app: axum::Router = axum::Router::new()
///     .route("/echo", axum::routing::post(echo).layer(controller.action("echo")));
/// # drop(app);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AvroPayload(pub Payload);

impl<T, S> FromRequest<S> for AvroBody<T>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, HttpError> {
        let (action, format, bytes) = read(req).await?;
        let schema = action.request.full_name();
        let invalid = |source: BoxError| HttpError::invalid(format, schema.clone(), source);
        let value = match format {
            BodyFormat::Avro => {
                let incoming = action
                    .codec
                    .decode_incoming(&action.request, Some(&bytes), (&action.name, -1, -1))
                    .await
                    .map_err(|e| decode_error(format, &schema, e))?;
                match incoming {
                    Incoming::Datum(datum) => match datum.deserialize_fast::<T>() {
                        Ok(value) => return Ok(AvroBody(value)),
                        // serde_avro_fast reads some serde shapes differently from apache-avro
                        // (as for consumers): the general path decides, and explains.
                        Err(_) => datum.to_value().map_err(&invalid)?,
                    },
                    Incoming::Value(value) => value.unwrap_or(Value::Null),
                }
            }
            BodyFormat::Json => coerce_json(&action, &bytes).await?,
        };
        from_avro_value::<T>(&value).map(AvroBody).map_err(invalid)
    }
}

impl<S> FromRequest<S> for AvroPayload
where
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, HttpError> {
        let (action, format, bytes) = read(req).await?;
        let schema = action.request.full_name();
        match format {
            BodyFormat::Avro => action
                .handle(&action.request)
                .decode(&action.name, &bytes)
                .await
                .map(AvroPayload)
                .map_err(|e| decode_error(format, &schema, e)),
            BodyFormat::Json => {
                let value = coerce_json(&action, &bytes).await?;
                let avro = action.request_schema().await?;
                match to_payload_with_schema(&value, &avro) {
                    Ok(crate::PayloadValue::Map(payload)) => Ok(AvroPayload(payload)),
                    Ok(other) => Err(HttpError::invalid(
                        format,
                        schema,
                        format!("expected a record, found {}", other.kind()).into(),
                    )),
                    Err(e) => Err(HttpError::invalid(format, schema, e.into())),
                }
            }
        }
    }
}

/// The route's action, the body's format and its bytes, read up to the route's limit.
async fn read(req: Request) -> Result<(Arc<Action>, BodyFormat, Bytes), HttpError> {
    let action = req
        .extensions()
        .get::<Arc<Action>>()
        .cloned()
        .ok_or(HttpError::MissingAction)?;
    let found = content_type(req.headers());
    let format = found
        .as_deref()
        .and_then(format_of)
        .ok_or(HttpError::UnsupportedContentType { found })?;
    let limit = action.body_limit;
    let too_large = HttpError::BodyTooLarge { limit };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large);
    }
    let mut stream = req.into_body().into_data_stream();
    // Reserve what the client declared, up to 64 KiB: a Content-Length alone (with a large
    // limit) must not make the server reserve memory for bytes that may never come.
    const RESERVE_AT_MOST: u64 = 64 * 1024;
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n.min(RESERVE_AT_MOST) as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HttpError::BodyRead { source: e.into() })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((action, format, Bytes::from(body)))
}

/// A JSON body as a value of the request schema, by Deimos' coercion rules.
async fn coerce_json(action: &Action, bytes: &[u8]) -> Result<Value, HttpError> {
    let schema = action.request.full_name();
    let invalid = |source: BoxError| HttpError::invalid(BodyFormat::Json, schema.clone(), source);
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("malformed JSON: {e}").into()))?;
    let payload = Payload::try_from(json).map_err(|e| invalid(e.into()))?;
    let avro = action.request_schema().await?;
    coerce_payload(&payload, &avro).map_err(|e| invalid(e.into()))
}

/// A decode failure: the schema's own load failure is the server's (500), anything else
/// the body's (400, with the decoder's reason rather than deimos' Kafka-shaped wrapper).
fn decode_error(format: BodyFormat, schema: &str, error: Error) -> HttpError {
    match error {
        Error::SchemaLoad { schema, source } => HttpError::SchemaLoad { schema, source },
        Error::Decode { source, .. } => HttpError::invalid(format, schema.to_owned(), source),
        other => HttpError::invalid(format, schema.to_owned(), other.into()),
    }
}

/// A response body waiting for the action layer to encode it (see [`Render`]).
#[derive(Clone)]
pub(crate) struct Pending(Arc<Mutex<Option<Box<dyn Render>>>>);

impl Pending {
    pub(crate) fn take(&self) -> Option<Box<dyn Render>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Encodes a response body with the route's response schema in the negotiated format.
pub(crate) trait Render: Send {
    fn render(
        self: Box<Self>,
        action: Arc<Action>,
        format: BodyFormat,
    ) -> BoxFuture<'static, Result<Vec<u8>, HttpError>>;
}

/// The response of a route with an action layer: an empty 200 carrying `render`, which the
/// layer turns into the body; elsewhere a 500 [`HttpError::MissingAction`].
fn pending(render: Box<dyn Render>) -> Response {
    if SCOPE.try_with(|_| ()).is_err() {
        return HttpError::MissingAction.into_response();
    }
    let mut response = Response::new(axum::body::Body::empty());
    response
        .extensions_mut()
        .insert(Pending(Arc::new(Mutex::new(Some(render)))));
    response
}

impl<T: serde::Serialize + Send + Sync + 'static> IntoResponse for AvroBody<T> {
    fn into_response(self) -> Response {
        pending(Box::new(self))
    }
}

impl IntoResponse for AvroPayload {
    fn into_response(self) -> Response {
        pending(Box::new(self))
    }
}

impl<T: serde::Serialize + Send + Sync + 'static> Render for AvroBody<T> {
    fn render(
        self: Box<Self>,
        action: Arc<Action>,
        format: BodyFormat,
    ) -> BoxFuture<'static, Result<Vec<u8>, HttpError>> {
        Box::pin(async move {
            let encoded = action
                .codec
                .encode_payload(
                    &action.response.full_name(),
                    &action.response,
                    &KeyConfig::None,
                    &self.0,
                    None,
                    false,
                )
                .await
                .map_err(|e| encode_error(&action, e))?;
            finish(&action, format, encoded.payload.to_vec()).await
        })
    }
}

impl Render for AvroPayload {
    fn render(
        self: Box<Self>,
        action: Arc<Action>,
        format: BodyFormat,
    ) -> BoxFuture<'static, Result<Vec<u8>, HttpError>> {
        Box::pin(async move {
            let bytes = action
                .handle(&action.response)
                .encode(&action.response.full_name(), &self.0)
                .await
                .map_err(|e| encode_error(&action, e))?;
            finish(&action, format, bytes).await
        })
    }
}

/// The encoded datum as the response body: as it is for Avro; for JSON, read back into its
/// canonical payload (so both formats carry the same data) and written as a JSON object.
async fn finish(action: &Action, format: BodyFormat, datum: Vec<u8>) -> Result<Vec<u8>, HttpError> {
    match format {
        BodyFormat::Avro => Ok(datum),
        BodyFormat::Json => {
            let payload = action
                .handle(&action.response)
                .decode(&action.name, &datum)
                .await
                .map_err(|e| encode_error(action, e))?;
            serde_json::to_vec(&payload).map_err(|e| {
                encode_error(
                    action,
                    Error::Encode {
                        topic: action.name.clone(),
                        schema: action.response.full_name(),
                        what: "payload",
                        source: e.into(),
                    },
                )
            })
        }
    }
}

fn encode_error(action: &Action, error: Error) -> HttpError {
    match error {
        Error::SchemaLoad { schema, source } => HttpError::SchemaLoad { schema, source },
        other => HttpError::EncodeResponse {
            schema: action.response.full_name(),
            source: other.into(),
        },
    }
}

/// Sets the body and `Content-Type` of the layer's response.
pub(crate) fn set_body(response: &mut Response, format: BodyFormat, body: Vec<u8>) {
    *response.body_mut() = axum::body::Body::from(body);
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
}
