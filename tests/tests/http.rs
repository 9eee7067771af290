//! `deimos::http` (Deimos' SchemaControllerMixin for axum) on a real server on a loopback port,
//! driven by reqwest: Avro and JSON bodies, content negotiation, and the 4xx/5xx answers for
//! malformed, oversized and mistyped bodies. Responses are decoded with apache-avro against the
//! response schema's `.avsc`, independently of deimos' own decoder.

use std::net::SocketAddr;
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::Schema;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use axum::Router;
use deimos::http::{AvroBody, AvroPayload, SchemaController};
use deimos_tests::schema_dir;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AVRO: &str = "avro/binary";
const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)] // the Avro enum's symbols, as written in the schema
enum Color {
    RED,
    GREEN,
    BLUE,
}

/// `com.example.http.CreateWidget`.
#[derive(Debug, Deserialize)]
struct CreateWidget {
    name: String,
    price: f64,
    qty: i32,
    tags: Vec<String>,
    color: Color,
    note: Option<String>,
}

/// `com.example.http.WidgetCreated`.
#[derive(Debug, Serialize)]
struct WidgetCreated {
    id: i64,
    name: String,
    total: f64,
    tags: Vec<String>,
    color: Color,
    note: Option<String>,
}

/// Does not fit `WidgetCreated`: the server's own encode failure.
#[derive(Debug, Serialize)]
struct NotAWidget {
    id: String,
}

async fn create(AvroBody(req): AvroBody<CreateWidget>) -> (AxumStatus, AvroBody<WidgetCreated>) {
    let created = WidgetCreated {
        id: 42,
        total: req.price * f64::from(req.qty),
        name: req.name,
        tags: req.tags,
        color: req.color,
        note: req.note,
    };
    (AxumStatus::CREATED, AvroBody(created))
}

async fn broken(AvroBody(_): AvroBody<CreateWidget>) -> AvroBody<NotAWidget> {
    AvroBody(NotAWidget { id: "x".into() })
}

async fn echo(AvroPayload(mut payload): AvroPayload) -> AvroPayload {
    let label = payload
        .get("label")
        .and_then(|l| l.as_str())
        .unwrap_or_default()
        .to_owned();
    payload.insert("label", format!("echo:{label}"));
    AvroPayload(payload)
}

/// The routes under test: `create` mapped explicitly, `echo` by its default name (`Echo`),
/// `missing` to a schema that does not exist, one route without an action.
fn app() -> Router {
    let widgets = SchemaController::new(schema_dir())
        .namespace("com.example.http")
        .schemas("create", "CreateWidget", "WidgetCreated");
    Router::new()
        .route("/widgets", post(create).layer(widgets.action("create")))
        .route(
            "/small",
            post(create).layer(widgets.action("create").body_limit(64)),
        )
        .route(
            "/unlimited",
            post(create).layer(widgets.action("create").body_limit(usize::MAX)),
        )
        .route("/broken", post(broken).layer(widgets.action("create")))
        .route("/echo", post(echo).layer(widgets.action("echo")))
        .route("/missing", post(echo).layer(widgets.action("missing")))
        .route("/no-action", post(echo))
        .route(
            "/no-action-response",
            post(|| async { AvroPayload::default() }),
        )
}

async fn serve() -> (String, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    (format!("http://{addr}"), addr)
}

fn schema(name: &str) -> Schema {
    let path = schema_dir().join(format!("com/example/http/{name}.avsc"));
    Schema::parse_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn encode(name: &str, value: Value) -> Vec<u8> {
    apache_avro::to_avro_datum(&schema(name), value).unwrap()
}

fn decode(name: &str, bytes: &[u8]) -> Value {
    let mut read = bytes;
    let value = apache_avro::from_avro_datum(&schema(name), &mut read, None).unwrap();
    assert!(read.is_empty(), "{} trailing bytes", read.len());
    value
}

fn create_request(name: &str) -> Value {
    Value::Record(vec![
        ("name".into(), Value::String(name.into())),
        ("price".into(), Value::Double(2.5)),
        ("qty".into(), Value::Int(4)),
        ("tags".into(), Value::Array(vec![Value::String("a".into())])),
        ("color".into(), Value::Enum(2, "BLUE".into())),
        (
            "note".into(),
            Value::Union(1, Box::new(Value::String("hi".into()))),
        ),
    ])
}

fn widget_created(name: &str) -> Value {
    Value::Record(vec![
        ("id".into(), Value::Long(42)),
        ("name".into(), Value::String(name.into())),
        ("total".into(), Value::Double(10.0)),
        ("tags".into(), Value::Array(vec![Value::String("a".into())])),
        ("color".into(), Value::Enum(2, "BLUE".into())),
        (
            "note".into(),
            Value::Union(1, Box::new(Value::String("hi".into()))),
        ),
    ])
}

async fn post_body(
    url: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A problem document: its status, content type and JSON body.
async fn problem(response: reqwest::Response, status: StatusCode) -> Json {
    let got = response.status();
    let ct = content_type(&response);
    let body: Json = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

#[tokio::test]
async fn avro_request_gets_an_avro_response_with_the_response_schema() {
    let (base, _) = serve().await;
    let body = encode("CreateWidget", create_request("gear"));
    let response = post_body(&format!("{base}/widgets"), Some(AVRO), None, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(content_type(&response), AVRO);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(decode("WidgetCreated", &bytes), widget_created("gear"));
}

#[tokio::test]
async fn json_request_is_coerced_to_the_request_schema_and_gets_json_back() {
    let (base, _) = serve().await;
    // "2.5" fills a double and "4" an int (Deimos' coercion); `extra` is not in the schema and
    // is dropped; `tags` and `note` take their defaults.
    let body = json!({"name": "gear", "price": "2.5", "qty": "4", "color": "GREEN", "extra": 1});
    let response = post_body(
        &format!("{base}/widgets"),
        Some(JSON),
        None,
        body.to_string(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(content_type(&response), JSON);
    let got: Json = response.json().await.unwrap();
    assert_eq!(
        got,
        json!({"id": 42, "name": "gear", "total": 10.0, "tags": [], "color": "GREEN", "note": null})
    );
}

#[tokio::test]
async fn accept_header_chooses_the_response_format() {
    let (base, _) = serve().await;
    let url = format!("{base}/widgets");

    let avro_in = encode("CreateWidget", create_request("gear"));
    let response = post_body(&url, Some(AVRO), Some(JSON), avro_in).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(content_type(&response), JSON);
    let got: Json = response.json().await.unwrap();
    assert_eq!(got["color"], "BLUE");
    assert_eq!(got["note"], "hi");

    let json_in = json!({"name": "gear", "price": 2.5, "qty": 4, "tags": ["a"], "color": "BLUE",
                         "note": "hi"});
    let response = post_body(&url, Some(JSON), Some(AVRO), json_in.to_string()).await;
    assert_eq!(content_type(&response), AVRO);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(decode("WidgetCreated", &bytes), widget_created("gear"));

    // q values decide between the two.
    let json_in = json!({"name": "gear", "price": 1});
    let accept = "application/json;q=0.2, avro/binary;q=0.8";
    let response = post_body(&url, Some(JSON), Some(accept), json_in.to_string()).await;
    assert_eq!(content_type(&response), AVRO);
}

#[tokio::test]
async fn dynamic_payloads_use_the_default_schema_name_both_ways() {
    let (base, _) = serve().await;
    let url = format!("{base}/echo");
    let item = |sku: &str, qty: i32| {
        Value::Record(vec![
            ("sku".into(), Value::String(sku.into())),
            ("qty".into(), Value::Int(qty)),
        ])
    };
    let echo = |label: &str| {
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("label".into(), Value::String(label.into())),
            (
                "items".into(),
                Value::Array(vec![item("a-1", 2), item("b-2", 3)]),
            ),
            (
                "price".into(),
                Value::Decimal(apache_avro::Decimal::from(1234u32.to_be_bytes().to_vec())),
            ),
        ])
    };
    let response = post_body(&url, Some(AVRO), None, encode("Echo", echo("x"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), AVRO);
    let bytes = response.bytes().await.unwrap();
    let Value::Record(fields) = decode("Echo", &bytes) else {
        panic!("not a record")
    };
    let Value::Record(want) = echo("echo:x") else {
        unreachable!()
    };
    // Decimals compare by their unscaled integer, whatever the byte width.
    assert_eq!(fields[..3], want[..3]);
    let Value::Decimal(price) = &fields[3].1 else {
        panic!("{:?}", fields[3])
    };
    let unscaled = Vec::<u8>::try_from(price)
        .unwrap()
        .iter()
        .fold(0i64, |n, b| (n << 8) | i64::from(*b));
    assert_eq!(unscaled, 1234);

    // JSON: the decimal as a string at the schema's scale; missing fields take their defaults.
    let body = json!({"id": "7", "items": [{"sku": "a-1", "qty": 2}], "price": 12.34});
    let response = post_body(&url, Some(JSON), None, body.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let got: Json = response.json().await.unwrap();
    assert_eq!(
        got,
        json!({"id": 7, "label": "echo:", "items": [{"sku": "a-1", "qty": 2}], "price": "12.34"})
    );
}

#[tokio::test]
async fn malformed_avro_is_a_400_naming_the_schema_and_field() {
    let (base, _) = serve().await;
    let url = format!("{base}/widgets");
    let good = encode("CreateWidget", create_request("gear"));

    // `name` declares 40 bytes (zigzag varint 0x50) but only 3 follow.
    let response = post_body(&url, Some(AVRO), None, b"\x50abc".to_vec()).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["schema"], "com.example.http.CreateWidget");
    assert_eq!(body["field"], "name", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("not a valid Avro `com.example.http.CreateWidget`"),
        "{detail}"
    );

    // Cut inside `price` (after the 5 bytes of `name`).
    let response = post_body(&url, Some(AVRO), None, good[..7].to_vec()).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["field"], "price", "{body}");

    // An enum index out of range.
    let mut bad_enum = encode(
        "CreateWidget",
        Value::Record(vec![
            ("name".into(), Value::String("g".into())),
            ("price".into(), Value::Double(1.0)),
            ("qty".into(), Value::Int(1)),
            ("tags".into(), Value::Array(vec![])),
            ("color".into(), Value::Enum(0, "RED".into())),
            ("note".into(), Value::Union(0, Box::new(Value::Null))),
        ]),
    );
    let at = bad_enum.len() - 2; // color's index, before the union's
    bad_enum[at] = 0x0e; // 7
    let response = post_body(&url, Some(AVRO), None, bad_enum).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["field"], "color", "{body}");

    // A whole datum and then some.
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"zz");
    let response = post_body(&url, Some(AVRO), None, trailing).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("2 trailing bytes"),
        "{body}"
    );

    // The same malformed bytes to a dynamic payload route.
    let response = post_body(&format!("{base}/echo"), Some(AVRO), None, b"\x0e".to_vec()).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["schema"], "com.example.http.Echo");
}

#[tokio::test]
async fn malformed_or_mistyped_json_is_a_400_naming_the_field() {
    let (base, _) = serve().await;
    let url = format!("{base}/widgets");
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("{\"name\": \"gear\", ", None, "malformed JSON"),
        ("[1, 2]", None, "found array"),
        (
            r#"{"name": "gear", "price": "abc"}"#,
            Some("price"),
            "expected double",
        ),
        (r#"{"price": 1}"#, Some("name"), "missing field"),
        (
            r#"{"name": "gear", "price": 1, "color": "PINK"}"#,
            Some("color"),
            "RED, GREEN, BLUE",
        ),
    ];
    for (text, field, says) in cases {
        let response = post_body(&url, Some(JSON), None, text.to_string()).await;
        let body = problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["schema"], "com.example.http.CreateWidget", "{text}");
        assert_eq!(body["field"].as_str(), *field, "{text}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{text}: {detail}");
        assert!(detail.contains("not a valid JSON"), "{text}: {detail}");
    }

    // A nested path, on the dynamic route.
    let body = json!({"id": 1, "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "x"}]});
    let response = post_body(&format!("{base}/echo"), Some(JSON), None, body.to_string()).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["field"], "items[1].qty", "{body}");
}

#[tokio::test]
async fn oversized_bodies_are_a_413() {
    let (base, addr) = serve().await;

    // The default limit, 1 MiB, by Content-Length.
    let big = vec![b'x'; (1 << 20) + 1];
    let response = post_body(&format!("{base}/widgets"), Some(AVRO), None, big).await;
    let body = problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("1048576 bytes"),
        "{body}"
    );
    // Exactly at the limit is read (and then refused as JSON, not for its size).
    let mut at_limit = vec![b' '; 1 << 20];
    at_limit[0] = b'[';
    at_limit[(1 << 20) - 1] = b']';
    let response = post_body(&format!("{base}/widgets"), Some(JSON), None, at_limit).await;
    problem(response, StatusCode::BAD_REQUEST).await;

    // A route's own limit (64 bytes), by Content-Length.
    let json_100 = format!(r#"{{"name": "{}", "price": 1}}"#, "n".repeat(76));
    assert_eq!(json_100.len(), 100);
    let response = post_body(&format!("{base}/small"), Some(JSON), None, json_100.clone()).await;
    let body = problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("64 bytes"),
        "{body}"
    );
    // Under it, the same route answers.
    let small = json!({"name": "n", "price": 1}).to_string();
    let response = post_body(&format!("{base}/small"), Some(JSON), None, small).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Chunked, with no Content-Length: counted while reading.
    let (status, text) = raw_chunked(addr, "/small", &json_100).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}\n{text}");
    assert!(text.contains("64 bytes"), "{text}");

    // A declared length over the limit is refused before any of the body arrives (the client
    // here never sends it: a server that waited for it would not answer).
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /widgets HTTP/1.1\r\nHost: {addr}\r\nContent-Type: avro/binary\r\n\
         Content-Length: 10000000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("no answer before the body was sent")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// Without a practical limit, a huge declared Content-Length reserves no memory up front: the
/// few bytes that do come are read, the cut-off body is a 4xx, and the server goes on.
#[tokio::test]
async fn a_huge_declared_length_reserves_nothing_up_front() {
    let (base, addr) = serve().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /unlimited HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{{\"name\": \"n\"",
        1u64 << 62
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer once the body was cut off")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    // The server is still up.
    let small = json!({"name": "n", "price": 1}).to_string();
    let response = post_body(&format!("{base}/unlimited"), Some(JSON), None, small).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Sends `body` in 10-byte chunks (`Transfer-Encoding: chunked`) and returns the status line
/// and the whole answer.
async fn raw_chunked(addr: SocketAddr, path: &str, body: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(10) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, answer)
}

#[tokio::test]
async fn other_content_types_are_a_415() {
    let (base, _) = serve().await;
    let url = format!("{base}/widgets");
    let response = post_body(&url, Some("text/plain"), None, "name=gear").await;
    let body = problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("`text/plain`"),
        "{body}"
    );
    let response = post_body(&url, None, None, "{}").await;
    let body = problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("(none)"),
        "{body}"
    );
    // Parameters and case do not matter; `+json` types are JSON.
    let json = json!({"name": "gear", "price": 1}).to_string();
    for ct in [
        "Application/JSON; charset=utf-8",
        "application/vnd.widget+json",
    ] {
        let response = post_body(&url, Some(ct), None, json.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{ct}");
    }
}

#[tokio::test]
async fn the_servers_own_faults_are_a_500() {
    let (base, _) = serve().await;
    let avro = encode("CreateWidget", create_request("gear"));

    // The handler's response does not fit the response schema.
    let response = post_body(&format!("{base}/broken"), Some(AVRO), None, avro).await;
    let body = problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(body["schema"], "com.example.http.WidgetCreated", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("failed to encode the response"),
        "{body}"
    );

    // The action's schema file does not exist.
    let response = post_body(&format!("{base}/missing"), Some(JSON), None, "{}").await;
    let body = problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(body["schema"], "com.example.http.Missing", "{body}");

    // Routes without an action layer, extracting or responding.
    for path in ["/no-action", "/no-action-response"] {
        let response = post_body(&format!("{base}{path}"), Some(JSON), None, "{}").await;
        let body = problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("no `deimos::http` action"),
            "{path}: {body}"
        );
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SchemaController>();
    send_sync::<deimos::http::ActionLayer>();
    send_sync::<deimos::http::ActionService<axum::routing::Route>>();
    send_sync::<deimos::http::HttpError>();
    send_sync::<AvroBody<String>>();
    send_sync::<AvroPayload>();
}
