//! `producers.disabled` and `deimos::disable_producers` scopes: all producers or a list,
//! nested, restored after errors and panics, and confined to the task that opened them —
//! on the test backend, and through the kafka backend on the embedded broker and on tansu
//! (what arrived is read back from the topics).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deimos::config::ProducerBackendKind;
use deimos::producer::{disable_producers, disable_producers_sync, DynamicProducer, ProducerSet};
use deimos::schema::KeyConfig;
use deimos::{payload, App, Config, PayloadValue};
use deimos_tests::{read_topic, Broker, Widget};
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

/// An app and where to look for what it sent: the test backend's capture, or a broker's
/// topics (kafka backend, per-run topic prefix, one partition per topic).
struct Harness {
    app: App,
    broker: Option<(Broker, String)>,
    /// Messages already seen per topic (broker only).
    seen: Mutex<HashMap<String, usize>>,
}

#[derive(Clone, Copy)]
enum Target {
    Test,
    Embedded,
    Tansu,
}

impl Harness {
    async fn new(target: Target, disabled: bool) -> Harness {
        let broker = match target {
            Target::Test => None,
            Target::Embedded => Some(Broker::embedded()),
            Target::Tansu => Some(Broker::real()),
        };
        let mut config = match &broker {
            Some(b) => deimos_tests::test_config(b),
            None => {
                let mut c = Config::default();
                c.schema.path = deimos_tests::schema_dir();
                c.producers.backend = ProducerBackendKind::Test;
                c
            }
        };
        config.producers.disabled = disabled;
        let broker = match broker {
            Some(b) => {
                let prefix = format!("dis{}.", deimos_tests::run_id());
                config.producers.topic_prefix = Some(prefix.clone());
                let topics: Vec<String> = ALL.iter().map(|t| format!("{prefix}{t}")).collect();
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                b.create_topics(&names, 1).await;
                Some((b, prefix))
            }
            None => None,
        };
        Harness {
            app: App::from_config(config).unwrap(),
            broker,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The topics (unprefixed) that got messages since the last call, one entry per message,
    /// in publish order (test backend) or in `ALL` order (brokers; `publish_all` publishes in
    /// that order).
    async fn sent(&self) -> Vec<String> {
        let Some((broker, prefix)) = &self.broker else {
            let backend = self.app.test_backend().unwrap();
            let topics = backend
                .sent_messages()
                .into_iter()
                .map(|m| m.topic.to_string())
                .collect();
            backend.clear();
            return topics;
        };
        let mut out = Vec::new();
        for topic in ALL {
            let records = read_topic(broker, &format!("{prefix}{topic}")).await;
            let mut seen = self.seen.lock().unwrap();
            let before = seen.insert(topic.to_owned(), records.len()).unwrap_or(0);
            out.extend(std::iter::repeat_n(
                topic.to_owned(),
                records.len() - before,
            ));
        }
        out
    }

    /// The `id`s of the widgets sent since the start, in order.
    async fn widget_ids(&self) -> Vec<i64> {
        self.ids("widgets", "com.example.Widget").await
    }

    /// The `id`s of the `schema` payloads sent to `topic` since the start, in order.
    async fn ids(&self, topic: &str, schema: &str) -> Vec<i64> {
        let handle = self.app.schema_backend(schema, "");
        let payloads: Vec<(String, Vec<u8>)> = match &self.broker {
            None => self
                .app
                .test_backend()
                .unwrap()
                .sent_messages()
                .into_iter()
                .filter(|m| &*m.topic == topic)
                .map(|m| (m.topic.to_string(), m.payload.unwrap().to_vec()))
                .collect(),
            Some((broker, prefix)) => {
                let topic = format!("{prefix}{topic}");
                read_topic(broker, &topic)
                    .await
                    .into_iter()
                    .map(|r| (topic.clone(), r.payload.unwrap()))
                    .collect()
            }
        };
        let mut ids = Vec::new();
        for (topic, bytes) in payloads {
            match handle.decode(&topic, &bytes).await.unwrap().get("id") {
                Some(PayloadValue::Int(id)) => ids.push(*id),
                other => panic!("id {other:?}"),
            }
        }
        ids
    }
}

/// Publishes one widget, one event and one dynamic widget; returns the topics that got a
/// message (see [`Harness::sent`]).
async fn publish_all(h: &Harness) -> Vec<String> {
    let app = &h.app;
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
    h.sent().await
}

fn dynamic() -> DynamicProducer {
    DynamicProducer::new(
        "dynamic-widgets",
        "com.example.Widget",
        KeyConfig::Field("id".into()),
    )
}

const ALL: [&str; 3] = ["widgets", "events", "dynamic-widgets"];

async fn config_switch(target: Target) {
    let h = Harness::new(target, true).await;
    assert!(publish_all(&h).await.is_empty());
    h.app.tombstone::<Widget, _>(&1i64).await.unwrap();
    assert!(h.sent().await.is_empty());
    // The control: the same publishes with the switch off arrive.
    let on = Harness::new(target, false).await;
    assert_eq!(publish_all(&on).await, ALL);
}

async fn scope_all_or_listed(target: Target) {
    let h = Harness::new(target, false).await;
    let app = &h.app;
    assert_eq!(publish_all(&h).await, ALL);
    let inside = disable_producers(ProducerSet::all(), publish_all(&h)).await;
    assert!(inside.is_empty());
    let inside = disable_producers(ProducerSet::none().with::<Widget>(), publish_all(&h)).await;
    assert_eq!(inside, ["events", "dynamic-widgets"]);
    let inside = disable_producers(
        ProducerSet::none().with_dynamic(&dynamic()),
        publish_all(&h),
    )
    .await;
    assert_eq!(inside, ["widgets", "events"]);
    // Tombstones too.
    disable_producers(ProducerSet::none().with::<Widget>(), async {
        app.tombstone::<Widget, _>(&1i64).await.unwrap();
    })
    .await;
    assert!(h.sent().await.is_empty());
    assert_eq!(publish_all(&h).await, ALL, "enabled again after the scope");
}

async fn nested_scopes(target: Target) {
    let h = Harness::new(target, false).await;
    let (outer_before, inner, outer_after) =
        disable_producers(ProducerSet::none().with::<Widget>(), async {
            let before = publish_all(&h).await;
            let inner =
                disable_producers(ProducerSet::none().with::<Event>(), publish_all(&h)).await;
            (before, inner, publish_all(&h).await)
        })
        .await;
    assert_eq!(outer_before, ["events", "dynamic-widgets"]);
    assert_eq!(
        inner,
        ["dynamic-widgets"],
        "the outer scope still holds inside the inner one"
    );
    assert_eq!(outer_after, ["events", "dynamic-widgets"]);
    assert_eq!(publish_all(&h).await, ALL);
}

async fn scope_ends_on_error_and_panic(target: Target) {
    let h = Harness::new(target, false).await;
    let failed: Result<(), &str> =
        disable_producers(ProducerSet::all(), async { Err("handler failed") }).await;
    assert!(failed.is_err());
    assert_eq!(publish_all(&h).await, ALL);

    let panicked = std::panic::AssertUnwindSafe(disable_producers(ProducerSet::all(), async {
        panic!("boom");
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    assert_eq!(publish_all(&h).await, ALL, "enabled again after the panic");

    let panicked = std::panic::catch_unwind(|| {
        disable_producers_sync(ProducerSet::all(), || panic!("sync boom"))
    });
    assert!(panicked.is_err());
    assert_eq!(publish_all(&h).await, ALL);
}

async fn scope_confined_to_its_task(target: Target) {
    let h = Harness::new(target, false).await;
    let app = h.app.clone();
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
    assert_eq!(
        h.widget_ids().await,
        [7, 9],
        "only the scoped task's own publish was dropped"
    );
}

/// Publishes widget `widget` and event `event` from inside a `producers` scope, opened while
/// another task's scope is open too (`barrier`, two parties).
async fn publish_in_scope(
    app: App,
    producers: ProducerSet,
    widget: i64,
    event: i64,
    barrier: Arc<tokio::sync::Barrier>,
) {
    disable_producers(producers, async move {
        barrier.wait().await; // both scopes are open
        app.publish(&Widget::new(widget, "w")).await.unwrap();
        app.publish(&Event {
            id: event,
            kind: "e".into(),
        })
        .await
        .unwrap();
        barrier.wait().await; // neither closes before both published
    })
    .await;
}

/// Two tasks in different scopes at the same time: each scope holds in its own task only.
async fn concurrent_scopes(target: Target) {
    let h = Harness::new(target, false).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let widgets_off = tokio::spawn(publish_in_scope(
        h.app.clone(),
        ProducerSet::none().with::<Widget>(),
        10,
        11,
        barrier.clone(),
    ));
    let events_off = tokio::spawn(publish_in_scope(
        h.app.clone(),
        ProducerSet::none().with::<Event>(),
        20,
        21,
        barrier,
    ));
    widgets_off.await.unwrap();
    events_off.await.unwrap();
    assert_eq!(
        h.widget_ids().await,
        [20],
        "only the events-off task's widget"
    );
    assert_eq!(
        h.ids("events", "com.example.Event").await,
        [11],
        "only the widgets-off task's event"
    );
}

macro_rules! on_every_target {
    ($($name:ident => $case:ident;)*) => {
        mod test_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $case(Target::Test).await;
                }
            )*
        }
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $case(Target::Embedded).await;
                }
            )*
        }
        mod tansu {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs tansu (TANSU_BROKERS)"]
                async fn $name() {
                    $case(Target::Tansu).await;
                }
            )*
        }
    };
}

on_every_target! {
    the_config_switch_disables_everything => config_switch;
    a_scope_disables_all_or_only_the_listed_producers => scope_all_or_listed;
    scopes_nest_and_unwind_one_level_at_a_time => nested_scopes;
    a_scope_ends_on_error_and_on_panic => scope_ends_on_error_and_panic;
    a_scope_never_disables_another_task => scope_confined_to_its_task;
    concurrent_tasks_hold_different_scopes_at_once => concurrent_scopes;
}
