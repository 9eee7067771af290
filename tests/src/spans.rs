//! `tracing` spans as tests read them: a layer that keeps every closed span's name, fields and
//! parent's name, installed as the process-wide subscriber (consumers run on other threads).

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

/// A closed span: its name, its fields as text, and its parent's name.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSpan {
    /// The span's name.
    pub name: String,
    /// Every field that has a value, as text (`Display` for strings, `Debug` otherwise).
    pub fields: BTreeMap<String, String>,
    /// The parent span's name, if any.
    pub parent: Option<String>,
}

static CLOSED: Mutex<Vec<ClosedSpan>> = Mutex::new(Vec::new());

/// Installs the capturing layer as the global subscriber (once; later calls do nothing). A
/// test binary that uses it must not install another subscriber.
pub fn capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::registry()
            .with(Capture)
            .try_init()
            .expect("no other global subscriber in this test binary");
    });
}

/// Every span closed so far.
pub fn closed() -> Vec<ClosedSpan> {
    CLOSED.lock().unwrap().clone()
}

/// Fields recorded on a span so far.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let fields = span
            .extensions_mut()
            .remove::<Fields>()
            .map(|f| f.0)
            .unwrap_or_default();
        CLOSED.lock().unwrap().push(ClosedSpan {
            name: span.name().to_owned(),
            fields,
            parent: span.parent().map(|p| p.name().to_owned()),
        });
    }
}
