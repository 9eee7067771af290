//! Deimos' metrics as tests read them: one process-wide `metrics_util` debugging recorder,
//! and counters summed across snapshots.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The process-wide metrics recorder (the `metrics` facade takes one per process; the
/// `kafka_async` failures are counted on librdkafka's polling thread, so a thread-local
/// recorder would miss them). Tests use topics of their own, so counts never mix.
pub fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("install the recorder");
        snapshotter
    })
}

/// The counter `name` tagged `topic = <topic>`: its total since the process started.
///
/// A `DebuggingRecorder` snapshot resets every counter it returns, whichever test asked, so
/// each snapshot is folded into process-wide totals (under one lock, so no increment is lost
/// between tests).
pub fn counter(name: &str, topic: &str) -> u64 {
    static TOTALS: Mutex<BTreeMap<(String, String), u64>> = Mutex::new(BTreeMap::new());
    let mut totals = TOTALS.lock().unwrap();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let key = key.key();
        if let Some(label) = key.labels().find(|l| l.key() == "topic") {
            *totals
                .entry((key.name().to_owned(), label.value().to_owned()))
                .or_default() += n;
        }
    }
    totals
        .get(&(name.to_owned(), topic.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// A metric's name and its full label set, sorted.
type MetricId = (String, Vec<(String, String)>);

/// Every counter and histogram value seen so far.
#[derive(Default)]
struct Seen {
    counters: BTreeMap<MetricId, u64>,
    histograms: BTreeMap<MetricId, Vec<f64>>,
    /// Every value each gauge was seen at, in order.
    gauges: BTreeMap<MetricId, Vec<f64>>,
}

/// Folds a new snapshot into the process-wide [`Seen`] (a snapshot drains what it returns).
fn seen() -> std::sync::MutexGuard<'static, Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(|| Mutex::new(Seen::default()))
        .lock()
        .unwrap();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        let id = (key.name().to_owned(), labels);
        match value {
            DebugValue::Counter(n) => *seen.counters.entry(id).or_default() += n,
            DebugValue::Histogram(values) => seen
                .histograms
                .entry(id)
                .or_default()
                .extend(values.into_iter().map(|v| v.into_inner())),
            DebugValue::Gauge(v) => seen.gauges.entry(id).or_default().push(v.into_inner()),
        }
    }
    seen
}

/// Whether `labels` holds every `(key, value)` of `wanted`.
fn has_all(labels: &[(String, String)], wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

/// The counter `name` summed over every label set holding all of `labels`, since the process
/// started. Counters read here are not seen by [`counter`], and the other way round (each
/// snapshot drains what it returns): a test uses one or the other.
pub fn counter_with(name: &str, labels: &[(&str, &str)]) -> u64 {
    seen()
        .counters
        .iter()
        .filter(|((n, l), _)| n == name && has_all(l, labels))
        .map(|(_, v)| v)
        .sum()
}

/// Every value recorded in the histogram `name` under a label set holding all of `labels`.
pub fn histogram_with(name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    seen()
        .histograms
        .iter()
        .filter(|((n, l), _)| n == name && has_all(l, labels))
        .flat_map(|(_, v)| v.iter().copied())
        .collect()
}

/// Every value seen so far for the gauges `name` whose labels hold all of `labels`, label set
/// after label set, each in the order seen (each snapshot adds the gauge's value at that
/// moment).
pub fn gauge_with(name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    seen()
        .gauges
        .iter()
        .filter(|((n, l), _)| n == name && has_all(l, labels))
        .flat_map(|(_, v)| v.iter().copied())
        .collect()
}
