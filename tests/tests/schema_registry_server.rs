//! The in-process schema registry (`deimos::testing::SchemaRegistryServer`) over real HTTP:
//! the Confluent REST semantics clients rely on.

use deimos::testing::SchemaRegistryServer;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};

const CT: &str = "application/vnd.schemaregistry.v1+json";

const V1: &str = r#"{"type":"record","name":"Widget","namespace":"com.example",
    "fields":[{"name":"id","type":"long"}]}"#;
/// V1 plus a field with a default: backward and forward compatible.
const V2: &str = r#"{"type":"record","name":"Widget","namespace":"com.example",
    "fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":""}]}"#;
/// V1 plus a field without a default: not backward compatible.
const V3_NO_DEFAULT: &str = r#"{"type":"record","name":"Widget","namespace":"com.example",
    "fields":[{"name":"id","type":"long"},{"name":"price","type":"double"}]}"#;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(server: &SchemaRegistryServer) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.url(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> (StatusCode, Json) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", CT).body(body.to_string());
        }
        let response = request.send().await.expect("request reaches the registry");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert_eq!(content_type, CT, "{path}: content type");
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer is not JSON ({e}): {text}"));
        (status, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Json) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Json) -> (StatusCode, Json) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Json) -> (StatusCode, Json) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn register(&self, subject: &str, schema: &str) -> (StatusCode, Json) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }
}

fn assert_error(what: &str, got: (StatusCode, Json), status: StatusCode, code: u64) {
    let (got_status, body) = got;
    assert_eq!(got_status, status, "{what}: status ({body})");
    assert_eq!(
        body["error_code"],
        json!(code),
        "{what}: error_code ({body})"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: message ({body})"
    );
}

#[tokio::test]
async fn register_lookup_and_read_back() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let c = Client::new(&server);

    assert_eq!(c.get("/subjects").await, (StatusCode::OK, json!([])));

    let (status, first) = c.register("widgets-value", V1).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let id = first["id"].as_u64().expect("id");

    // Same schema again, and in another subject (also with application/json): same global id.
    assert_eq!(
        c.register("widgets-value", V1).await,
        (StatusCode::OK, json!({ "id": id }))
    );
    let other = c
        .http
        .post(format!("{}/subjects/other-value/versions", c.base))
        .header("content-type", "application/json")
        .body(json!({ "schema": V1, "schemaType": "AVRO" }).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(other.status(), StatusCode::OK);
    let other: Json = other.json().await.expect("json");
    assert_eq!(other, json!({ "id": id }));

    // A new version gets a new id and version 2.
    let (status, second) = c.register("widgets-value", V2).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let id2 = second["id"].as_u64().expect("id");
    assert_ne!(id2, id);

    assert_eq!(
        c.get("/subjects").await,
        (StatusCode::OK, json!(["other-value", "widgets-value"]))
    );
    assert_eq!(
        c.get("/subjects/widgets-value/versions").await,
        (StatusCode::OK, json!([1, 2]))
    );

    let (status, latest) = c.get("/subjects/widgets-value/versions/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["subject"], "widgets-value");
    assert_eq!(latest["id"], json!(id2));
    assert_eq!(latest["version"], json!(2));
    let latest_schema: Json =
        serde_json::from_str(latest["schema"].as_str().expect("schema string")).expect("json");
    assert_eq!(latest_schema["fields"][1]["name"], "name");

    let (status, v1) = c.get("/subjects/widgets-value/versions/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v1["id"].clone(), v1["version"].clone()),
        (json!(id), json!(1))
    );
    let (status, raw) = c.get("/subjects/widgets-value/versions/1/schema").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(raw["name"], "Widget");
    assert_eq!(raw["fields"].as_array().map(Vec::len), Some(1));

    let (status, by_id) = c.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["schema"], v1["schema"]);
    assert_eq!(
        c.get(&format!("/schemas/ids/{id}/versions")).await,
        (
            StatusCode::OK,
            json!([{"subject": "other-value", "version": 1}, {"subject": "widgets-value", "version": 1}])
        )
    );

    // Lookup by schema (whitespace differs: compared in canonical form).
    let (status, found) = c
        .post(
            "/subjects/widgets-value",
            json!({ "schema": V2.replace('\n', " ") }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], json!(id2));
    assert_eq!(found["version"], json!(2));
    assert_eq!(found["subject"], "widgets-value");
    assert_error(
        "lookup of an unregistered schema",
        c.post("/subjects/other-value", json!({ "schema": V2 }))
            .await,
        StatusCode::NOT_FOUND,
        40403,
    );
    assert_error(
        "lookup in an unknown subject",
        c.post("/subjects/nope", json!({ "schema": V2 })).await,
        StatusCode::NOT_FOUND,
        40401,
    );

    // Delete a subject: its versions go, the ids stay readable.
    assert_eq!(
        c.call(reqwest::Method::DELETE, "/subjects/other-value", None)
            .await,
        (StatusCode::OK, json!([1]))
    );
    assert_eq!(
        c.get("/subjects").await,
        (StatusCode::OK, json!(["widgets-value"]))
    );
    assert_eq!(c.get(&format!("/schemas/ids/{id}")).await.0, StatusCode::OK);
    assert_eq!(server.subjects(), vec!["widgets-value".to_owned()]);
}

#[tokio::test]
async fn errors_have_confluent_codes() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let c = Client::new(&server);
    c.register("s", V1).await;

    assert_error(
        "unknown id",
        c.get("/schemas/ids/999").await,
        StatusCode::NOT_FOUND,
        40403,
    );
    assert_error(
        "non-numeric id",
        c.get("/schemas/ids/x").await,
        StatusCode::NOT_FOUND,
        40403,
    );
    assert_error(
        "unknown subject",
        c.get("/subjects/nope/versions").await,
        StatusCode::NOT_FOUND,
        40401,
    );
    assert_error(
        "unknown subject, version",
        c.get("/subjects/nope/versions/1").await,
        StatusCode::NOT_FOUND,
        40401,
    );
    assert_error(
        "unknown version",
        c.get("/subjects/s/versions/7").await,
        StatusCode::NOT_FOUND,
        40402,
    );
    assert_error(
        "invalid version",
        c.get("/subjects/s/versions/zero").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42202,
    );
    assert_error(
        "delete unknown subject",
        c.call(reqwest::Method::DELETE, "/subjects/nope", None)
            .await,
        StatusCode::NOT_FOUND,
        40401,
    );
    assert_error(
        "invalid schema",
        c.register("s", r#"{"type":"record","name":"X"}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
    );
    assert_error(
        "not JSON at all",
        c.register("s", "not json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
    );
    assert_error(
        "hyphenated namespace (not a valid Avro name)",
        c.register(
            "s",
            r#"{"type":"record","name":"W","namespace":"com.my-namespace","fields":[]}"#,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
    );
    assert_error(
        "protobuf",
        c.post(
            "/subjects/s/versions",
            json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
    );
    assert_error(
        "body without schema",
        c.post("/subjects/s/versions", json!({"schemaa": V1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42201,
    );
    assert_error(
        "invalid level",
        c.put("/config", json!({"compatibility": "SIDEWAYS"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42203,
    );
    assert_error(
        "unknown path",
        c.get("/nothing/here").await,
        StatusCode::NOT_FOUND,
        404,
    );
    // Nothing above changed the subject.
    assert_eq!(
        c.get("/subjects/s/versions").await,
        (StatusCode::OK, json!([1]))
    );
    // A subject with only a config and no version is not a subject yet.
    c.put("/config/only-config", json!({"compatibility": "NONE"}))
        .await;
    assert_eq!(c.get("/subjects").await, (StatusCode::OK, json!(["s"])));
    assert_error(
        "config-only subject",
        c.get("/subjects/only-config/versions").await,
        StatusCode::NOT_FOUND,
        40401,
    );
}

#[tokio::test]
async fn compatibility_levels_are_configured_and_enforced() {
    let server = SchemaRegistryServer::start().await.expect("server");
    let c = Client::new(&server);

    assert_eq!(
        c.get("/config").await,
        (StatusCode::OK, json!({"compatibilityLevel": "BACKWARD"}))
    );
    c.register("w", V1).await;

    // BACKWARD (default): a new field without a default is refused, with 409.
    let refused = c.register("w", V3_NO_DEFAULT).await;
    assert_error(
        "incompatible registration",
        refused.clone(),
        StatusCode::CONFLICT,
        409,
    );
    let message = refused.1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("price") && message.contains("BACKWARD"),
        "{message}"
    );
    assert_eq!(
        c.get("/subjects/w/versions").await,
        (StatusCode::OK, json!([1]))
    );

    // The check endpoint agrees, against latest and against a numbered version.
    assert_eq!(
        c.post(
            "/compatibility/subjects/w/versions/latest",
            json!({"schema": V3_NO_DEFAULT})
        )
        .await,
        (StatusCode::OK, json!({"is_compatible": false}))
    );
    let (status, verbose) = c
        .post(
            "/compatibility/subjects/w/versions/1?verbose=true",
            json!({"schema": V3_NO_DEFAULT}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verbose["is_compatible"], json!(false));
    assert!(
        verbose["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("price")),
        "{verbose}"
    );
    assert_eq!(
        c.post(
            "/compatibility/subjects/w/versions/1",
            json!({"schema": V2})
        )
        .await,
        (StatusCode::OK, json!({"is_compatible": true}))
    );
    assert_error(
        "check against an unknown subject",
        c.post(
            "/compatibility/subjects/nope/versions/latest",
            json!({"schema": V2}),
        )
        .await,
        StatusCode::NOT_FOUND,
        40401,
    );

    // Subject-level config wins over the global one.
    assert_error(
        "no subject-level config yet",
        c.get("/config/w").await,
        StatusCode::NOT_FOUND,
        40408,
    );
    assert_eq!(
        c.get("/config/w?defaultToGlobal=true").await,
        (StatusCode::OK, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        c.put("/config/w", json!({"compatibility": "NONE"})).await,
        (StatusCode::OK, json!({"compatibility": "NONE"}))
    );
    assert_eq!(
        c.get("/config/w").await,
        (StatusCode::OK, json!({"compatibilityLevel": "NONE"}))
    );
    let (status, accepted) = c.register("w", V3_NO_DEFAULT).await;
    assert_eq!(status, StatusCode::OK, "NONE accepts anything: {accepted}");
    assert_eq!(
        c.get("/subjects/w/versions").await,
        (StatusCode::OK, json!([1, 2]))
    );

    // Global FORWARD: deleting a field without a default is refused for new subjects.
    assert_eq!(
        c.put("/config", json!({"compatibility": "FORWARD"})).await,
        (StatusCode::OK, json!({"compatibility": "FORWARD"}))
    );
    assert_eq!(
        c.get("/config").await,
        (StatusCode::OK, json!({"compatibilityLevel": "FORWARD"}))
    );
    c.register("f", V3_NO_DEFAULT).await;
    assert_error(
        "forward: price deleted without a default",
        c.register("f", V1).await,
        StatusCode::CONFLICT,
        409,
    );

    // BACKWARD_TRANSITIVE checks every version, BACKWARD only the latest: t3 reads t2's data
    // (`a` takes its default) but not t1's (`a` was an int, now a string).
    let t1 = r#"{"type":"record","name":"T","fields":[{"name":"a","type":"int"}]}"#;
    let t2 = r#"{"type":"record","name":"T","fields":[]}"#;
    let t3 = r#"{"type":"record","name":"T","fields":[{"name":"a","type":"string","default":""}]}"#;
    for (subject, level) in [("t", "BACKWARD_TRANSITIVE"), ("nt", "BACKWARD")] {
        c.put(
            &format!("/config/{subject}"),
            json!({ "compatibility": level }),
        )
        .await;
        assert_eq!(
            c.register(subject, t1).await.0,
            StatusCode::OK,
            "{level} t1"
        );
        assert_eq!(
            c.register(subject, t2).await.0,
            StatusCode::OK,
            "{level} t2"
        );
    }
    assert_error(
        "backward transitive",
        c.register("t", t3).await,
        StatusCode::CONFLICT,
        409,
    );
    assert_eq!(
        c.register("nt", t3).await.0,
        StatusCode::OK,
        "backward accepts t3"
    );
}

#[tokio::test]
async fn stop_restart_fail_and_count() {
    let mut server = SchemaRegistryServer::start().await.expect("server");
    let c = Client::new(&server);
    let (_, first) = c.register("s", V1).await;
    let before = server.request_count();
    assert!(before >= 1);

    server.stop().await;
    assert!(!server.is_running());
    let refused = c.http.get(format!("{}/subjects", c.base)).send().await;
    assert!(
        refused.is_err(),
        "stopped server still answers: {refused:?}"
    );

    server.restart().await.expect("restart on the same port");
    assert!(server.is_running());
    assert_eq!(server.url(), c.base);
    // Schemas and ids survive a restart.
    assert_eq!(c.register("s", V1).await, (StatusCode::OK, first));

    server.set_failing(true);
    assert_error(
        "failing",
        c.get("/subjects").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        50001,
    );
    server.set_failing(false);
    assert_eq!(c.get("/subjects").await, (StatusCode::OK, json!(["s"])));

    // register + get(failing) + get; the refused request never reached the server.
    assert_eq!(server.request_count(), before + 3);
}
