//! Avro request and response bodies for axum: Deimos' `SchemaControllerMixin` for Rust (feature
//! `axum`).
//!
//! In Rails, a controller that includes `Deimos::Utils::SchemaControllerMixin` declares a
//! `request_namespace`, a `response_namespace` and which schemas each action uses
//! (`schemas :index, :show` or `schemas :create, request: 'CreateRequest', response:
//! 'CreateResponse'`); a before-action decodes `avro/binary` request bodies with the action's
//! request schema into `payload`, and `render_schema(payload)` encodes the response with the
//! action's response schema. Here:
//!
//! | Deimos | deimos-rs |
//! |---|---|
//! | `namespace 'com.example'` / `request_namespace` / `response_namespace` | [`SchemaController::namespace`] / [`request_namespace`](SchemaController::request_namespace) / [`response_namespace`](SchemaController::response_namespace) |
//! | `schemas :index` (schema `Index` both ways) | nothing to declare: action `index` uses `Index` in each namespace (the action name camelized: `show_all` → `ShowAll`) |
//! | `schemas index: 'Widget'` | [`SchemaController::schema`]`("index", "Widget")` |
//! | `schemas :index, request: 'IndexRequest', response: 'IndexResponse'` | [`SchemaController::schemas`]`("index", "IndexRequest", "IndexResponse")` |
//! | the Rails action a route maps to | `.layer(controller.action("index"))` on the route ([`SchemaController::action`]) |
//! | `payload` (decoded in a before-action) | the [`AvroBody<T>`] or [`AvroPayload`] extractor |
//! | `render_schema(payload)` | returning [`AvroBody<T>`] or [`AvroPayload`] |
//!
//! A schema name with a dot (`com.other.Widget`) is a full name and ignores the namespace, as
//! Deimos reads one when no namespace is set. Schemas are loaded on first use, from the
//! `.avsc` tree given to [`SchemaController::new`] (or `schema.path`, with
//! [`SchemaController::from_config`]), and cached.
//!
//! # Naming a route's action
//!
//! axum routes have paths, not action names, so each route says which action it is with the
//! layer [`SchemaController::action`] returns, on its method router (`post(create).layer(..)`)
//! or on a whole [`Router`](axum::Router) with `route_layer`. The layer resolves the action's
//! two schemas once, hands them to the extractors through the request's extensions, and
//! encodes the handler's [`AvroBody`] / [`AvroPayload`] response on the way out. Naming the
//! action, rather than deriving it from axum's `MatchedPath`, keeps schemas stable when paths
//! change (`/v2/widgets/{id}`) and lets several paths share one action.
//!
//! ```no_run
//! use axum::routing::post;
//! use deimos::http::{AvroBody, AvroPayload, SchemaController};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct CreateWidget { name: String, price: f64 }
//! #[derive(Serialize)]
//! struct WidgetCreated { id: i64, name: String }
//!
//! async fn create(AvroBody(req): AvroBody<CreateWidget>) -> AvroBody<WidgetCreated> {
//!     # let _ = req.price;
//!     AvroBody(WidgetCreated { id: 7, name: req.name })
//! }
//!
//! async fn index(AvroPayload(query): AvroPayload) -> AvroPayload {
//!     AvroPayload(deimos::payload! { "count" => 0, "query" => query })
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     // schemas/com/example/http/{CreateWidget,WidgetCreated,Index}.avsc
//!     let widgets = SchemaController::new("schemas")
//!         .namespace("com.example.http")
//!         .schemas("create", "CreateWidget", "WidgetCreated");
//!     let app = axum::Router::new()
//!         .route("/widgets", post(create).layer(widgets.action("create")))
//!         // action `index`: schema `com.example.http.Index` for the request and the response
//!         .route("/widgets/search", post(index).layer(widgets.action("index")));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await
//! }
//! ```
//!
//! # Wire formats
//!
//! | `Content-Type` | request body | response body |
//! |---|---|---|
//! | `avro/binary` (Deimos' `AvroBase.content_type`) | one bare Avro binary datum written with the request schema (Avro spec, "Binary Encoding"): no object container, no Confluent framing | one bare datum written with the response schema |
//! | `application/json`, `application/*+json` | a JSON object, fitted to the request schema by Deimos' coercion rules ([`schema::coerce`](crate::schema::coerce)): `"5"` fills an `int`, keys the schema lacks are dropped, missing fields take their defaults | the response value as a JSON object, as [`AvroPayload`] would hold it after an Avro round trip (schema field order, decimals as strings at their scale, enums as strings, unions unwrapped, timestamps as RFC 3339, `bytes` as arrays of byte values) |
//!
//! Avro bytes are untrusted: they are checked by deimos' guard
//! ([`schema::guard`](crate::schema::guard)) before anything is allocated, exactly as Kafka
//! messages are. The HTTP wire format is the bare datum whatever `schema.backend` says: an
//! HTTP client has no schema registry id to resolve, so there is no Confluent framing here
//! (Deimos would frame with the registry backend). Response values are encoded as
//! [`Codec::encode_payload`](crate::schema::Codec::encode_payload) encodes a message:
//! `message_id` and `timestamp` are filled when the response schema has them and the value
//! leaves them unset.
//!
//! # Content negotiation
//!
//! Responses are Avro by default. They are JSON when the request body was JSON, unless the
//! `Accept` header says otherwise: `Accept` is read for `avro/binary` and `application/json`
//! (with `q` values; wildcards and other types say nothing), and the preferred of the two
//! wins. So `Accept: application/json` gets JSON for an Avro request, and `Accept:
//! avro/binary` gets Avro for a JSON one. Nothing is ever refused with 406.
//!
//! # Errors and limits
//!
//! | status | when | [`HttpError`] |
//! |---|---|---|
//! | 415 | the request's `Content-Type` is missing or neither Avro nor JSON | [`UnsupportedContentType`](HttpError::UnsupportedContentType) |
//! | 413 | the body is longer than the limit: 1 MiB ([`DEFAULT_BODY_LIMIT`]) unless [`SchemaController::body_limit`] or [`ActionLayer::body_limit`] says otherwise; checked against `Content-Length` before reading, and counted while reading | [`BodyTooLarge`](HttpError::BodyTooLarge) |
//! | 400 | a malformed Avro datum or JSON document, or a value that does not fit the request schema or the handler's type; the body names the schema and, when known, the field path | [`InvalidBody`](HttpError::InvalidBody), [`BodyRead`](HttpError::BodyRead) |
//! | 500 | the server's own faults: a response that does not fit the response schema, a schema file that cannot be loaded, a route without an action layer | [`EncodeResponse`](HttpError::EncodeResponse), [`SchemaLoad`](HttpError::SchemaLoad), [`MissingAction`](HttpError::MissingAction) |
//!
//! Error bodies are RFC 9457 problem documents (`application/problem+json`); see
//! [`HttpError`]. Nothing a client sends can make the server panic. The limit is this
//! module's own: axum's `DefaultBodyLimit` (2 MB) applies to axum's extractors, not to these.

mod body;
mod error;
mod negotiate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

pub use body::{AvroBody, AvroPayload};
pub use error::{HttpError, PROBLEM_CONTENT_TYPE};
pub use negotiate::{BodyFormat, AVRO_CONTENT_TYPE, JSON_CONTENT_TYPE};

use crate::schema::{AvroLocal, AvroSchema, Codec, SchemaHandle, SchemaRef};

/// The default request body limit: 1 MiB (1 048 576 bytes).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

tokio::task_local! {
    /// Set while an action layer runs its route's handler, so a response body knows it will be
    /// encoded.
    static SCOPE: ();
}

/// Which schemas a group of routes reads and writes: Deimos' `SchemaControllerMixin` settings
/// for one controller (namespaces, action → schema mapping), plus the body size limit.
///
/// Build one per group of routes that share namespaces, then give each route its action with
/// [`SchemaController::action`]. Cheap to clone; clones share the schema cache. See the
/// [module docs](self) for the whole picture.
#[derive(Debug, Clone)]
pub struct SchemaController {
    codec: Codec,
    request_namespace: Option<String>,
    response_namespace: Option<String>,
    /// Action → (request, response) schema names, as given.
    mapping: HashMap<String, (String, String)>,
    body_limit: usize,
}

impl SchemaController {
    /// A controller reading `.avsc` files from the tree at `schema_path`
    /// (`com.example.http.Index` is `<schema_path>/com/example/http/Index.avsc`, as for the
    /// `avro_local` backend), with no namespace, no explicit mapping and a 1 MiB body limit.
    pub fn new(schema_path: impl Into<PathBuf>) -> Self {
        SchemaController {
            codec: Codec::new(Arc::new(AvroLocal::new(schema_path))),
            request_namespace: None,
            response_namespace: None,
            mapping: HashMap::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// [`SchemaController::new`] with the application's `schema.path`.
    pub fn from_config(config: &crate::Config) -> Self {
        Self::new(config.schema.path.clone())
    }

    /// Sets both namespaces (Deimos' `namespace`).
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.request_namespace(namespace.clone())
            .response_namespace(namespace)
    }

    /// Sets the namespace of request schemas (Deimos' `request_namespace`), e.g.
    /// `com.example.http.requests`. Without one, schema names are full names.
    pub fn request_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.request_namespace = Some(namespace.into());
        self
    }

    /// Sets the namespace of response schemas (Deimos' `response_namespace`).
    pub fn response_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.response_namespace = Some(namespace.into());
        self
    }

    /// Maps `action` to a request and a response schema (Deimos' `schemas :create, request:
    /// 'CreateRequest', response: 'CreateResponse'`). Names are simple names in the request
    /// and response namespaces, or full names when they contain a dot.
    pub fn schemas(
        mut self,
        action: impl Into<String>,
        request: impl Into<String>,
        response: impl Into<String>,
    ) -> Self {
        self.mapping
            .insert(action.into(), (request.into(), response.into()));
        self
    }

    /// Maps `action` to one schema name for both its request and its response (Deimos'
    /// `schemas create: 'Widget'`), each in its own namespace.
    pub fn schema(self, action: impl Into<String>, schema: impl Into<String>) -> Self {
        let schema = schema.into();
        self.schemas(action, schema.clone(), schema)
    }

    /// Sets the request body limit in bytes for every action made after this call (default
    /// [`DEFAULT_BODY_LIMIT`], 1 MiB). A longer body is refused with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The request schema of `action`: its mapped name, or by default the action name
    /// camelized (`index` → `Index`, `show_all` → `ShowAll`, as Deimos derives it), in the
    /// request namespace.
    pub fn request_schema(&self, action: &str) -> SchemaRef {
        let name = self.mapping.get(action).map(|(request, _)| request.clone());
        resolve(
            self.request_namespace.as_deref(),
            &name.unwrap_or_else(|| camelize(action)),
        )
    }

    /// The response schema of `action`, as [`SchemaController::request_schema`] in the
    /// response namespace.
    pub fn response_schema(&self, action: &str) -> SchemaRef {
        let name = self
            .mapping
            .get(action)
            .map(|(_, response)| response.clone());
        resolve(
            self.response_namespace.as_deref(),
            &name.unwrap_or_else(|| camelize(action)),
        )
    }

    /// The layer that makes a route the action `name`: its [`AvroBody`] / [`AvroPayload`]
    /// extractors read the action's request schema and its responses are encoded with the
    /// action's response schema. Put it on the route's method router
    /// (`post(handler).layer(controller.action("create"))`) or with `Router::route_layer`.
    ///
    /// Schemas are only named here; they are loaded on the first request that needs them, so
    /// a route that only responds needs no request schema file. A schema that cannot be loaded
    /// then answers 500 with [`HttpError::SchemaLoad`].
    pub fn action(&self, name: &str) -> ActionLayer {
        ActionLayer {
            action: Arc::new(Action {
                name: name.to_owned(),
                request: self.request_schema(name),
                response: self.response_schema(name),
                codec: self.codec.clone(),
                body_limit: self.body_limit,
            }),
        }
    }
}

/// `schema` in `namespace`, unless it is a full name already.
fn resolve(namespace: Option<&str>, schema: &str) -> SchemaRef {
    match namespace {
        Some(ns) if !ns.is_empty() && !schema.contains('.') => {
            SchemaRef::parse(&format!("{ns}.{schema}"))
        }
        _ => SchemaRef::parse(schema),
    }
}

/// `show_all` → `ShowAll`: each run of letters and digits with its first letter upcased
/// (ActiveSupport's `camelize`, which Deimos' default schema names follow).
fn camelize(action: &str) -> String {
    action
        .split(|c: char| !c.is_alphanumeric())
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars))
                .into_iter()
                .flatten()
        })
        .collect()
}

/// One route's action, resolved: what the extractors and the response encoding need.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    /// The action name; also the "topic" in decode errors and the codec's cache key.
    name: String,
    request: SchemaRef,
    response: SchemaRef,
    codec: Codec,
    body_limit: usize,
}

impl Action {
    fn handle(&self, schema: &SchemaRef) -> SchemaHandle {
        SchemaHandle::new(self.codec.clone(), &schema.full_name(), "")
    }

    async fn request_schema(&self) -> Result<Arc<AvroSchema>, HttpError> {
        self.codec
            .backend()
            .schema(&self.request)
            .await
            .map_err(|e| match e {
                crate::Error::SchemaLoad { schema, source } => {
                    HttpError::SchemaLoad { schema, source }
                }
                other => HttpError::SchemaLoad {
                    schema: self.request.full_name(),
                    source: other.into(),
                },
            })
    }
}

/// The [`tower_layer::Layer`] that makes a route one action of a [`SchemaController`]; from
/// [`SchemaController::action`].
#[derive(Debug, Clone)]
pub struct ActionLayer {
    action: Arc<Action>,
}

impl ActionLayer {
    /// The action's name.
    pub fn name(&self) -> &str {
        &self.action.name
    }

    /// The schema request bodies are read with.
    pub fn request_schema(&self) -> &SchemaRef {
        &self.action.request
    }

    /// The schema responses are written with.
    pub fn response_schema(&self) -> &SchemaRef {
        &self.action.response
    }

    /// Sets this action's request body limit in bytes (for an upload route that takes more, or
    /// a small one that takes less than the controller's).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.action).body_limit = bytes;
        self
    }
}

impl<S> tower_layer::Layer<S> for ActionLayer {
    type Service = ActionService<S>;

    fn layer(&self, inner: S) -> ActionService<S> {
        ActionService {
            inner,
            action: self.action.clone(),
        }
    }
}

/// The service an [`ActionLayer`] wraps a route in: it hands the action to the extractors and
/// encodes [`AvroBody`] / [`AvroPayload`] responses.
#[derive(Debug, Clone)]
pub struct ActionService<S> {
    inner: S,
    action: Arc<Action>,
}

impl<S> tower_service::Service<Request> for ActionService<S>
where
    S: tower_service::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let action = self.action.clone();
        let format = negotiate::response_format(req.headers());
        req.extensions_mut().insert(action.clone());
        // The clone that was made ready is the one to call (tower's `Service` contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = SCOPE.scope((), inner.call(req)).await?;
            let Some(render) = response
                .extensions_mut()
                .remove::<body::Pending>()
                .and_then(|pending| pending.take())
            else {
                return Ok(response);
            };
            match render.render(action, format).await {
                Ok(bytes) => {
                    body::set_body(&mut response, format, bytes);
                    Ok(response)
                }
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_camelized_actions() {
        assert_eq!(camelize("index"), "Index");
        assert_eq!(camelize("show_all"), "ShowAll");
        assert_eq!(camelize("bulk-create"), "BulkCreate");
        assert_eq!(camelize("createWidget"), "CreateWidget");
    }

    #[test]
    fn mapping_and_namespaces() {
        let c = SchemaController::new("schemas")
            .request_namespace("com.example.req")
            .response_namespace("com.example.res")
            .schemas("create", "CreateRequest", "com.other.Created")
            .schema("update", "Widget");
        assert_eq!(
            c.request_schema("index").full_name(),
            "com.example.req.Index"
        );
        assert_eq!(
            c.response_schema("show_all").full_name(),
            "com.example.res.ShowAll"
        );
        assert_eq!(
            c.request_schema("create").full_name(),
            "com.example.req.CreateRequest"
        );
        assert_eq!(c.response_schema("create").full_name(), "com.other.Created");
        assert_eq!(
            c.response_schema("update").full_name(),
            "com.example.res.Widget"
        );
        let none = SchemaController::new("schemas");
        assert_eq!(none.request_schema("index").full_name(), "Index");
        let layer = c.action("create").body_limit(10);
        assert_eq!(layer.action.body_limit, 10);
        assert_eq!(c.action("create").action.body_limit, DEFAULT_BODY_LIMIT);
    }
}
