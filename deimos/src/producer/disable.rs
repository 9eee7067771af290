//! Scoped disabling of producers (Deimos' `Deimos.disable_producers`).

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;

use super::{DynamicProducer, Producer};

tokio::task_local! {
    /// The producers disabled in the current task, the union of every enclosing scope.
    static DISABLED: Arc<ProducerSet>;
}

/// A set of producers to disable: all of them, or a list of producer types and dynamic
/// producers.
///
/// ```
/// use deimos::producer::ProducerSet;
/// # #[deimos::producer(topic = "widgets", schema = "com.example.Widget", key_config(field = "id"))]
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Widget { id: i64, name: String, price: f64, tags: Vec<String>, description: Option<String>, updated_at: i64 }
/// let just_widgets = ProducerSet::none().with::<Widget>();
/// let everything = ProducerSet::all();
/// # let _ = (just_widgets, everything);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerSet {
    all: bool,
    types: Vec<(TypeId, &'static str)>,
    dynamic: Vec<(String, String)>,
}

impl ProducerSet {
    /// Every producer, typed and dynamic.
    pub fn all() -> Self {
        ProducerSet {
            all: true,
            ..ProducerSet::default()
        }
    }

    /// No producer; add some with [`ProducerSet::with`] and [`ProducerSet::with_dynamic`].
    pub fn none() -> Self {
        ProducerSet::default()
    }

    /// Adds the producer of payload type `P`.
    #[must_use]
    pub fn with<P: Producer>(mut self) -> Self {
        let id = (TypeId::of::<P>(), std::any::type_name::<P>());
        if !self.types.contains(&id) {
            self.types.push(id);
        }
        self
    }

    /// Adds a dynamic producer (identified by its topic and schema).
    #[must_use]
    pub fn with_dynamic(mut self, producer: &DynamicProducer) -> Self {
        let id = (producer.topic().to_owned(), producer.schema().full_name());
        if !self.dynamic.contains(&id) {
            self.dynamic.push(id);
        }
        self
    }

    /// Whether the producer of payload type `P` is in the set.
    pub fn contains<P: Producer>(&self) -> bool {
        self.all || self.types.iter().any(|(id, _)| *id == TypeId::of::<P>())
    }

    /// Whether `producer` is in the set.
    pub fn contains_dynamic(&self, producer: &DynamicProducer) -> bool {
        self.all
            || self.dynamic.iter().any(|(topic, schema)| {
                topic == producer.topic() && *schema == producer.schema().full_name()
            })
    }

    fn union(&self, other: &ProducerSet) -> ProducerSet {
        let mut out = self.clone();
        out.all |= other.all;
        for t in &other.types {
            if !out.types.contains(t) {
                out.types.push(*t);
            }
        }
        for d in &other.dynamic {
            if !out.dynamic.contains(d) {
                out.dynamic.push(d.clone());
            }
        }
        out
    }
}

/// Runs `scope` with `producers` disabled: their `publish`, `publish_list` and tombstones do
/// nothing and return `Ok(())` (Deimos' `Deimos.disable_producers(*producers) { ... }`).
///
/// - Scopes nest: inside an inner scope, the producers of every enclosing scope stay
///   disabled as well.
/// - The scope belongs to the task that awaits it (a tokio task-local): tasks spawned inside
///   it, and every other task, publish normally.
/// - It ends when `scope` completes, returns an error or panics; the producers are enabled
///   again for whatever runs after it.
///
/// `producers.disabled = true` in the configuration disables everything, always.
pub async fn disable_producers<F: Future>(producers: ProducerSet, scope: F) -> F::Output {
    DISABLED.scope(Arc::new(merged(producers)), scope).await
}

/// [`disable_producers`] for synchronous code: runs `scope` on this thread with `producers`
/// disabled for the current task.
pub fn disable_producers_sync<R>(producers: ProducerSet, scope: impl FnOnce() -> R) -> R {
    DISABLED.sync_scope(Arc::new(merged(producers)), scope)
}

fn merged(producers: ProducerSet) -> ProducerSet {
    DISABLED
        .try_with(|outer| outer.union(&producers))
        .unwrap_or(producers)
}

/// Whether a scope of the current task disables the producer of payload type `P`.
pub(crate) fn disabled<P: Producer>() -> bool {
    DISABLED.try_with(|s| s.contains::<P>()).unwrap_or(false)
}

/// Whether a scope of the current task disables `producer`.
pub(crate) fn disabled_dynamic(producer: &DynamicProducer) -> bool {
    DISABLED
        .try_with(|s| s.contains_dynamic(producer))
        .unwrap_or(false)
}
