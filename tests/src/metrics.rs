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
