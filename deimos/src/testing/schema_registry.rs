//! An in-process schema registry that speaks the Confluent Schema Registry REST API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use apache_avro::Schema;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value as Json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::schema::{compatible, names, Compatibility};

/// The content type of every answer (Confluent: `application/vnd.schemaregistry.v1+json`).
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A Confluent-compatible schema registry inside this process, for tests and local development
/// (the role Confluent's `MockSchemaRegistry` plays for the JVM clients).
///
/// It serves the Confluent Schema Registry REST API (Confluent docs, "Schema Registry API
/// Reference") over real HTTP/1.1 on a random loopback port, so any client (deimos'
/// `avro_schema_registry` backend, Python's `confluent-kafka`, `curl`) can use it. Answers have
/// the content type `application/vnd.schemaregistry.v1+json`; request bodies are read as JSON
/// whatever their content type (`application/vnd.schemaregistry.v1+json`, `application/json`).
///
/// | method and path | answer |
/// |---|---|
/// | `GET /subjects` | `["subject", …]` |
/// | `GET /subjects/{subject}/versions` | `[1, 2, …]` |
/// | `GET /subjects/{subject}/versions/{version\|latest\|-1}` | `{subject, id, version, schema}` |
/// | `GET /subjects/{subject}/versions/{version}/schema` | the schema JSON itself |
/// | `POST /subjects/{subject}/versions` `{schema, schemaType?}` | `{id}`; the same schema (compared in its canonical JSON form) gets the same global id in every subject, and registering it again under a subject returns the existing id |
/// | `POST /subjects/{subject}` `{schema}` | `{subject, id, version, schema}` (lookup) |
/// | `DELETE /subjects/{subject}` | `[versions deleted]` (a hard delete; ids stay readable) |
/// | `GET /schemas/ids/{id}` | `{schema}` |
/// | `GET /schemas/ids/{id}/versions` | `[{subject, version}, …]` |
/// | `GET`/`PUT /config` | `{compatibilityLevel}` / `{compatibility}` |
/// | `GET`/`PUT /config/{subject}` | as `/config`, for one subject; `GET` of a subject without its own level is 404 `40408` unless `?defaultToGlobal=true` |
/// | `POST /compatibility/subjects/{subject}/versions/{version\|latest}` `{schema}` | `{is_compatible}` (`messages` too with `?verbose=true`) |
///
/// Registration checks the new schema against the subject's compatibility level (its own, else
/// the global one; default `BACKWARD`) with [`compatible`]: against the latest version for
/// `BACKWARD`, `FORWARD` and `FULL`, against every version for the `_TRANSITIVE` levels, not at
/// all for `NONE`. Only Avro schemas are accepted, and only with names the Avro specification
/// allows (hyphenated namespaces are refused, as the Confluent registry refuses them).
///
/// Errors are `{"error_code": …, "message": "…"}` with Confluent's codes: 404 with `40401`
/// (subject not found), `40402` (version not found), `40403` (schema not found), `40408`
/// (no subject-level compatibility); 409 with `409` (incompatible schema); 422 with `42201`
/// (invalid schema), `42202` (invalid version), `42203` (invalid compatibility level); 400 with
/// `400` (body is not the expected JSON); 500 with `50001` while [failing](Self::set_failing).
///
/// State lives in memory and survives [`stop`](Self::stop) / [`restart`](Self::restart), like a
/// real registry backed by its `_schemas` topic; it is lost when the value is dropped.
///
/// # Examples
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> deimos::Result<()> {
/// let mut registry = deimos::testing::SchemaRegistryServer::start().await?;
/// let mut config = deimos::Config::default();
/// config.schema.backend = deimos::config::SchemaBackendKind::AvroSchemaRegistry;
/// config.schema.registry_url = registry.url();
/// let app = deimos::App::from_config(config)?;
/// // ... publish: the schemas are registered on first use ...
/// registry.stop().await; // an outage; known ids keep working
/// registry.restart().await?; // same port, same schemas
/// # drop(app);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SchemaRegistryServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<RegistryState>,
    failing: AtomicBool,
    requests: AtomicU64,
    /// The `Authorization` header of the latest request that had one.
    authorization: Mutex<Option<String>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct RegistryState {
    /// Registered schemas by id (ids start at 1): canonical JSON text and the parsed schema.
    schemas: BTreeMap<u32, Registered>,
    subjects: BTreeMap<String, Subject>,
    /// The global compatibility level; `None` means the default, `BACKWARD`.
    global: Option<Level>,
}

#[derive(Debug)]
struct Registered {
    canonical: String,
    parsed: Arc<Schema>,
}

#[derive(Debug, Default)]
struct Subject {
    /// `(version, id)`, versions ascending from 1.
    versions: Vec<(u32, u32)>,
    level: Option<Level>,
}

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "NONE" => Level::None,
            "BACKWARD" => Level::Backward,
            "BACKWARD_TRANSITIVE" => Level::BackwardTransitive,
            "FORWARD" => Level::Forward,
            "FORWARD_TRANSITIVE" => Level::ForwardTransitive,
            "FULL" => Level::Full,
            "FULL_TRANSITIVE" => Level::FullTransitive,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// The pairwise check, or `None` for `NONE`.
    fn mode(self) -> Option<Compatibility> {
        match self {
            Level::None => None,
            Level::Backward | Level::BackwardTransitive => Some(Compatibility::Backward),
            Level::Forward | Level::ForwardTransitive => Some(Compatibility::Forward),
            Level::Full | Level::FullTransitive => Some(Compatibility::Full),
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }
}

impl RegistryState {
    /// A subject with at least one version (one that only has a config is not listed, as in
    /// Confluent's registry).
    fn subject(&self, name: &str) -> std::result::Result<&Subject, ApiError> {
        self.subjects
            .get(name)
            .filter(|s| !s.versions.is_empty())
            .ok_or_else(|| ApiError::subject_not_found(name))
    }

    fn subject_names(&self) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, s)| !s.versions.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn level_of(&self, subject: &str) -> Level {
        self.subjects
            .get(subject)
            .and_then(|s| s.level)
            .or(self.global)
            .unwrap_or(Level::Backward)
    }

    fn id_of_canonical(&self, canonical: &str) -> Option<u32> {
        self.schemas
            .iter()
            .find(|(_, r)| r.canonical == canonical)
            .map(|(id, _)| *id)
    }

    /// Checks `new` against `against` (old versions, oldest first) at `level`; the reasons when
    /// incompatible.
    fn check(&self, level: Level, against: &[(u32, u32)], new: &Schema) -> Vec<String> {
        let Some(mode) = level.mode() else {
            return Vec::new();
        };
        let olds: &[(u32, u32)] = if level.transitive() {
            against
        } else {
            against.last().map(std::slice::from_ref).unwrap_or(&[])
        };
        olds.iter()
            .filter_map(|(version, id)| {
                let old = &self.schemas.get(id)?.parsed;
                compatible(old.as_ref(), new, mode)
                    .err()
                    .map(|e| format!("version {version}: {e}"))
            })
            .collect()
    }
}

/// A registry error answer.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn subject_not_found(subject: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        )
    }

    fn version_not_found(version: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found."),
        )
    }

    fn schema_not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            40403,
            format!("Schema {what} not found."),
        )
    }

    fn invalid_schema(reason: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!("Invalid schema: {reason}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        reply(
            self.status,
            &json!({"error_code": self.code, "message": self.message}),
        )
    }
}

fn reply(status: StatusCode, body: &Json) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn ok(body: &Json) -> Response {
    reply(StatusCode::OK, body)
}

type ApiResult = std::result::Result<Response, ApiError>;
type AppState = State<Arc<Shared>>;

/// Reads a JSON object body, whatever its content type.
fn body_json(body: &[u8]) -> std::result::Result<serde_json::Map<String, Json>, ApiError> {
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            400,
            "request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            400,
            format!("request body is not JSON: {e}"),
        )),
    }
}

/// The `{schema, schemaType?}` of a request, parsed and in canonical JSON form.
fn schema_of(body: &[u8]) -> std::result::Result<(String, Arc<Schema>), ApiError> {
    let map = body_json(body)?;
    match map.get("schemaType") {
        None | Some(Json::Null) => {}
        Some(Json::String(t)) if t == "AVRO" => {}
        Some(other) => {
            return Err(ApiError::invalid_schema(format!(
                "unsupported schemaType {other}; this registry holds AVRO schemas only"
            )))
        }
    }
    if map
        .get("references")
        .and_then(Json::as_array)
        .is_some_and(|r| !r.is_empty())
    {
        return Err(ApiError::invalid_schema(
            "schema references are not supported by this registry",
        ));
    }
    let Some(Json::String(text)) = map.get("schema") else {
        return Err(ApiError::invalid_schema(
            "the request has no `schema` string",
        ));
    };
    let parsed = names::parse_schema(text).map_err(ApiError::invalid_schema)?;
    if let Some(bad) = names::strict_name_violation(&parsed) {
        return Err(ApiError::invalid_schema(format!(
            "name `{bad}` is not a valid Avro full name ([A-Za-z_][A-Za-z0-9_]* segments)"
        )));
    }
    let canonical = serde_json::to_string(&parsed).map_err(ApiError::invalid_schema)?;
    Ok((canonical, Arc::new(parsed)))
}

/// `latest`, `-1` or a positive version number, looked up in `subject`.
fn find_version(subject: &Subject, version: &str) -> std::result::Result<(u32, u32), ApiError> {
    if version == "latest" || version == "-1" {
        return subject
            .versions
            .last()
            .copied()
            .ok_or_else(|| ApiError::version_not_found(version));
    }
    let n: u32 = version.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values \
                 are between [1, 2^31-1] and the string \"latest\""
            ),
        )
    })?;
    subject
        .versions
        .iter()
        .find(|(v, _)| *v == n)
        .copied()
        .ok_or_else(|| ApiError::version_not_found(version))
}

fn query_flag(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == name || kv.eq_ignore_ascii_case(&format!("{name}=true")))
    })
}

async fn list_subjects(State(shared): AppState) -> Response {
    ok(&json!(shared.state().subject_names()))
}

async fn list_versions(State(shared): AppState, Path(subject): Path<String>) -> ApiResult {
    let state = shared.state();
    let s = state.subject(&subject)?;
    let versions: Vec<u32> = s.versions.iter().map(|(v, _)| *v).collect();
    Ok(ok(&json!(versions)))
}

async fn get_version(
    State(shared): AppState,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult {
    let state = shared.state();
    let s = state.subject(&subject)?;
    let (version, id) = find_version(s, &version)?;
    let schema = &state
        .schemas
        .get(&id)
        .ok_or_else(|| ApiError::schema_not_found(id))?
        .canonical;
    Ok(ok(
        &json!({"subject": subject, "id": id, "version": version, "schema": schema}),
    ))
}

async fn get_version_schema(
    State(shared): AppState,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult {
    let state = shared.state();
    let s = state.subject(&subject)?;
    let (_, id) = find_version(s, &version)?;
    let registered = state
        .schemas
        .get(&id)
        .ok_or_else(|| ApiError::schema_not_found(id))?;
    let mut response = (StatusCode::OK, registered.canonical.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

async fn register(State(shared): AppState, Path(subject): Path<String>, body: Bytes) -> ApiResult {
    let (canonical, parsed) = schema_of(&body)?;
    let mut state = shared.state();
    let existing = state.id_of_canonical(&canonical);
    if let (Some(id), Some(s)) = (existing, state.subjects.get(&subject)) {
        if s.versions.iter().any(|(_, i)| *i == id) {
            return Ok(ok(&json!({ "id": id })));
        }
    }
    let level = state.level_of(&subject);
    let versions = state
        .subjects
        .get(&subject)
        .map(|s| s.versions.clone())
        .unwrap_or_default();
    let reasons = state.check(level, &versions, &parsed);
    if !reasons.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \
                 \"{subject}\" ({} compatibility), details: [{}]",
                level.name(),
                reasons.join("; ")
            ),
        ));
    }
    let id = match existing {
        Some(id) => id,
        None => {
            let id = state.schemas.keys().next_back().map_or(1, |last| last + 1);
            state.schemas.insert(id, Registered { canonical, parsed });
            id
        }
    };
    let s = state.subjects.entry(subject).or_default();
    let version = s.versions.last().map_or(1, |(v, _)| v + 1);
    s.versions.push((version, id));
    Ok(ok(&json!({ "id": id })))
}

async fn lookup(State(shared): AppState, Path(subject): Path<String>, body: Bytes) -> ApiResult {
    let (canonical, _) = schema_of(&body)?;
    let state = shared.state();
    let s = state.subject(&subject)?;
    let found = s.versions.iter().find(|(_, id)| {
        state
            .schemas
            .get(id)
            .is_some_and(|r| r.canonical == canonical)
    });
    let (version, id) = found
        .copied()
        .ok_or_else(|| ApiError::schema_not_found(format!("for subject '{subject}'")))?;
    Ok(ok(
        &json!({"subject": subject, "id": id, "version": version, "schema": canonical}),
    ))
}

async fn delete_subject(State(shared): AppState, Path(subject): Path<String>) -> ApiResult {
    let mut state = shared.state();
    state.subject(&subject)?;
    let removed = state
        .subjects
        .remove(&subject)
        .ok_or_else(|| ApiError::subject_not_found(&subject))?;
    let versions: Vec<u32> = removed.versions.iter().map(|(v, _)| *v).collect();
    Ok(ok(&json!(versions)))
}

fn parse_id(id: &str) -> std::result::Result<u32, ApiError> {
    id.parse()
        .map_err(|_| ApiError::schema_not_found(format!("id {id}")))
}

async fn schema_by_id(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = shared.state();
    let registered = state
        .schemas
        .get(&id)
        .ok_or_else(|| ApiError::schema_not_found(format!("id {id}")))?;
    Ok(ok(&json!({ "schema": registered.canonical })))
}

async fn id_versions(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = shared.state();
    if !state.schemas.contains_key(&id) {
        return Err(ApiError::schema_not_found(format!("id {id}")));
    }
    let uses: Vec<Json> = state
        .subjects
        .iter()
        .flat_map(|(name, s)| {
            s.versions
                .iter()
                .filter(|(_, i)| *i == id)
                .map(move |(v, _)| json!({"subject": name, "version": v}))
        })
        .collect();
    Ok(ok(&Json::Array(uses)))
}

async fn get_global_config(State(shared): AppState) -> Response {
    let level = shared.state().global.unwrap_or(Level::Backward);
    ok(&json!({"compatibilityLevel": level.name()}))
}

/// The level in a `PUT /config` body: `{"compatibility": "FULL"}`.
fn level_of_body(body: &[u8]) -> std::result::Result<Level, ApiError> {
    let map = body_json(body)?;
    let name = map
        .get("compatibility")
        .or_else(|| map.get("compatibilityLevel"))
        .and_then(Json::as_str)
        .unwrap_or("");
    Level::parse(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level '{name}'. Valid values are NONE, BACKWARD, \
                 BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
            ),
        )
    })
}

async fn put_global_config(State(shared): AppState, body: Bytes) -> ApiResult {
    let level = level_of_body(&body)?;
    shared.state().global = Some(level);
    Ok(ok(&json!({"compatibility": level.name()})))
}

async fn get_subject_config(
    State(shared): AppState,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let state = shared.state();
    match state.subjects.get(&subject).and_then(|s| s.level) {
        Some(level) => Ok(ok(&json!({"compatibilityLevel": level.name()}))),
        None if query_flag(query.as_deref(), "defaultToGlobal") => {
            let level = state.global.unwrap_or(Level::Backward);
            Ok(ok(&json!({"compatibilityLevel": level.name()})))
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    }
}

async fn put_subject_config(
    State(shared): AppState,
    Path(subject): Path<String>,
    body: Bytes,
) -> ApiResult {
    let level = level_of_body(&body)?;
    shared.state().subjects.entry(subject).or_default().level = Some(level);
    Ok(ok(&json!({"compatibility": level.name()})))
}

async fn check_compatibility(
    State(shared): AppState,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let (_, parsed) = schema_of(&body)?;
    let state = shared.state();
    let s = state.subject(&subject)?;
    let found = find_version(s, &version)?;
    let level = state.level_of(&subject);
    // One version named: the level's pairwise check against it (transitivity needs them all).
    let reasons = state.check(level, &[found], &parsed);
    let mut answer = json!({"is_compatible": reasons.is_empty()});
    if query_flag(query.as_deref(), "verbose") {
        answer["messages"] = json!(reasons);
    }
    Ok(ok(&answer))
}

/// Counts every request, and answers 500 for all of them while failing.
async fn count_and_fail(State(shared): AppState, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(value) = request.headers().get(axum::http::header::AUTHORIZATION) {
        *shared
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    if shared.failing.load(Ordering::SeqCst) {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            50001,
            "Error in the backend data store (failure switched on by the test)",
        )
        .into_response();
    }
    next.run(request).await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/config", get(get_global_config).put(put_global_config))
        .route(
            "/config/{subject}",
            get(get_subject_config).put(put_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_compatibility),
        )
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found").into_response()
        })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            count_and_fail,
        ))
        .with_state(shared)
}

impl SchemaRegistryServer {
    /// Starts a registry on a random port of `127.0.0.1`.
    ///
    /// # Errors
    /// [`Error::RegistryServer`] when no loopback port can be bound.
    pub async fn start() -> Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a registry on `addr` (port 0: a random free port).
    ///
    /// # Errors
    /// [`Error::RegistryServer`] when `addr` cannot be bound (in use, not a local address).
    pub async fn start_on(addr: SocketAddr) -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let (addr, running) = serve(shared.clone(), addr).await?;
        tracing::info!(url = %format!("http://{addr}"), "schema registry test server started");
        Ok(SchemaRegistryServer {
            shared,
            addr,
            running: Some(running),
        })
    }

    /// The base URL for `schema.registry_url`, e.g. `http://127.0.0.1:40123` (no trailing
    /// slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on (and listens on again after [`restart`](Self::restart)).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is accepting connections (not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops listening and closes every connection (a registry outage: clients now get
    /// "connection refused"). Registered schemas are kept for [`restart`](Self::restart).
    /// Requests in flight are answered first; a no-op when already stopped.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            match running.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "schema registry test server failed"),
                Err(e) => tracing::warn!(error = %e, "schema registry test server task failed"),
            }
        }
    }

    /// Listens again on the same address after [`stop`](Self::stop), with the same schemas,
    /// ids and configuration; a no-op when running.
    ///
    /// # Errors
    /// [`Error::RegistryServer`] when the port was taken by someone else meanwhile.
    pub async fn restart(&mut self) -> Result<()> {
        if self.running.is_none() {
            let (_, running) = serve(self.shared.clone(), self.addr).await?;
            self.running = Some(running);
        }
        Ok(())
    }

    /// While `true`, every request is answered `500 Internal Server Error` with
    /// `{"error_code": 50001, …}` (Confluent's "error in the backend data store"), as a registry
    /// that lost its Kafka store does. Requests are still counted.
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// How many HTTP requests the server has received since it was created (all endpoints,
    /// failed ones included, across restarts). Tests use it to prove that clients cache.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of the latest request that sent one (e.g. `Basic <base64 of
    /// user:password>` for `schema.user` / `schema.password`); `None` if none did. The server
    /// does not check it.
    pub fn last_authorization(&self) -> Option<String> {
        self.shared
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The registered subjects, sorted (what `GET /subjects` answers), read without a request.
    pub fn subjects(&self) -> Vec<String> {
        self.shared.state().subject_names()
    }
}

impl Drop for SchemaRegistryServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
        }
    }
}

async fn serve(shared: Arc<Shared>, addr: SocketAddr) -> Result<(SocketAddr, Running)> {
    let listen_err = |source| Error::RegistryServer {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_err)?;
    let addr = listener.local_addr().map_err(listen_err)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router(shared))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok((addr, Running { stop, task }))
}
