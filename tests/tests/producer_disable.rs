//! `producers.disabled` and `deimos::disable_producers` scopes: all producers or a list,
//! nested, restored after errors and panics, and confined to the task that opened them.

use std::sync::Arc;

use deimos::config::ProducerBackendKind;
use deimos::producer::{disable_producers, disable_producers_sync, DynamicProducer, ProducerSet};
use deimos::schema::KeyConfig;
use deimos::{payload, App, Config};
use deimos_tests::Widget;
use futures::FutureExt;
use serde::{Deserialize, Serialize};

#[deimos::producer(
    topic = "events",
    schema = "com.example.Event",
    key_config(field = "id")
)]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    id: i64,
    kind: String,
}

fn app(disabled: bool) -> App {
    let mut config = Config::default();
    config.schema.path = deimos_tests::schema_dir();
    config.producers.backend = ProducerBackendKind::Test;
    config.producers.disabled = disabled;
    App::from_config(config).unwrap()
}

/// Publishes one widget, one event and one dynamic widget; returns the topics that got a
/// message, in order, and clears the capture.
async fn publish_all(app: &App) -> Vec<String> {
    app.publish(&Widget::new(1, "w")).await.unwrap();
    app.publish(&Event {
        id: 2,
        kind: "e".into(),
    })
    .await
    .unwrap();
    app.publish_payloads(
        &dynamic(),
        [payload! {"id" => 3, "name" => "d", "price" => 1.0, "updated_at" => 0}],
    )
    .await
    .unwrap();
    sent(app)
}

fn sent(app: &App) -> Vec<String> {
    let backend = app.test_backend().unwrap();
    let topics = backend
        .sent_messages()
        .into_iter()
        .map(|m| m.topic)
        .collect();
    backend.clear();
    topics
}

fn dynamic() -> DynamicProducer {
    DynamicProducer::new(
        "dynamic-widgets",
        "com.example.Widget",
        KeyConfig::Field("id".into()),
    )
}

const ALL: [&str; 3] = ["widgets", "events", "dynamic-widgets"];

#[tokio::test]
async fn the_config_switch_disables_everything() {
    let app = app(true);
    assert!(publish_all(&app).await.is_empty());
    app.tombstone::<Widget, _>(&1i64).await.unwrap();
    assert!(sent(&app).is_empty());
}

#[tokio::test]
async fn a_scope_disables_all_or_only_the_listed_producers() {
    let app = app(false);
    assert_eq!(publish_all(&app).await, ALL);
    let inside = disable_producers(ProducerSet::all(), publish_all(&app)).await;
    assert!(inside.is_empty());
    let inside = disable_producers(ProducerSet::none().with::<Widget>(), publish_all(&app)).await;
    assert_eq!(inside, ["events", "dynamic-widgets"]);
    let inside = disable_producers(
        ProducerSet::none().with_dynamic(&dynamic()),
        publish_all(&app),
    )
    .await;
    assert_eq!(inside, ["widgets", "events"]);
    // Tombstones too.
    disable_producers(ProducerSet::none().with::<Widget>(), async {
        app.tombstone::<Widget, _>(&1i64).await.unwrap();
    })
    .await;
    assert!(sent(&app).is_empty());
    assert_eq!(
        publish_all(&app).await,
        ALL,
        "enabled again after the scope"
    );
}

#[tokio::test]
async fn scopes_nest_and_unwind_one_level_at_a_time() {
    let app = app(false);
    let (outer_before, inner, outer_after) =
        disable_producers(ProducerSet::none().with::<Widget>(), async {
            let before = publish_all(&app).await;
            let inner =
                disable_producers(ProducerSet::none().with::<Event>(), publish_all(&app)).await;
            (before, inner, publish_all(&app).await)
        })
        .await;
    assert_eq!(outer_before, ["events", "dynamic-widgets"]);
    assert_eq!(
        inner,
        ["dynamic-widgets"],
        "the outer scope still holds inside the inner one"
    );
    assert_eq!(outer_after, ["events", "dynamic-widgets"]);
    assert_eq!(publish_all(&app).await, ALL);
}

#[tokio::test]
async fn a_scope_ends_on_error_and_on_panic() {
    let app = app(false);
    let failed: Result<(), &str> =
        disable_producers(ProducerSet::all(), async { Err("handler failed") }).await;
    assert!(failed.is_err());
    assert_eq!(publish_all(&app).await, ALL);

    let panicked = std::panic::AssertUnwindSafe(disable_producers(ProducerSet::all(), async {
        panic!("boom");
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    assert_eq!(
        publish_all(&app).await,
        ALL,
        "enabled again after the panic"
    );

    let panicked = std::panic::catch_unwind(|| {
        disable_producers_sync(ProducerSet::all(), || panic!("sync boom"))
    });
    assert!(panicked.is_err());
    assert_eq!(publish_all(&app).await, ALL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_never_disables_another_task() {
    let app = app(false);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let other_app = app.clone();
    // Another task publishes while this task sits inside an all-producers scope.
    let other = tokio::spawn(async move {
        go_rx.await.unwrap();
        other_app
            .publish(&Widget::new(7, "other task"))
            .await
            .unwrap();
        done_tx.send(()).unwrap();
    });
    let spawned_inside = Arc::new(tokio::sync::Mutex::new(None));
    let slot = spawned_inside.clone();
    let scoped_app = app.clone();
    disable_producers(ProducerSet::all(), async move {
        scoped_app.publish(&Widget::new(8, "scoped")).await.unwrap();
        go_tx.send(()).unwrap();
        done_rx.await.unwrap();
        // A task spawned inside the scope is a task of its own: not disabled either.
        let inner_app = scoped_app.clone();
        let handle =
            tokio::spawn(async move { inner_app.publish(&Widget::new(9, "spawned inside")).await });
        *slot.lock().await = Some(handle.await.unwrap());
    })
    .await;
    other.await.unwrap();
    spawned_inside.lock().await.take().unwrap().unwrap();
    let names: Vec<_> = app
        .test_backend()
        .unwrap()
        .sent_messages()
        .into_iter()
        .map(|m| m.decoded_key)
        .collect();
    assert_eq!(
        names,
        [
            Some(apache_avro::types::Value::Long(7)),
            Some(apache_avro::types::Value::Long(9))
        ],
        "only the scoped task's own publish was dropped"
    );
}
