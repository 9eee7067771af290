//! Crash safety: a consumer process SIGKILLed three times at different points of a 20 000
//! message topic, restarted each time, then allowed to finish, handles every message, and the
//! only messages it handles twice are the ones of the uncommitted window at a kill: from the
//! offset the group had committed for the partition up to the last one handled before the
//! kill. On tansu (ignored by default) and on the embedded broker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use deimos::producer::PublishOptions;
use deimos::App;
use deimos_tests::child::{committed_offsets, read_handled, wait_for, ChildConsumer, Handled};
use deimos_tests::{run_id, test_config, Broker, Widget};
use tokio::process::{Child, Command};

const COUNT: i64 = 20_000;
const PARTITIONS: i32 = 4;
/// Kill when this many lines (duplicates included) have been handled in all.
const KILL_AT: [usize; 3] = [1_500, 7_000, 13_000];
/// Short enough that the group commits several times between kills, long enough that each
/// kill leaves an uncommitted window behind.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// Per message in the handler: 20 000 messages take seconds, not a fraction of one, so kills
/// land between commits.
const HANDLE_DELAY: Duration = Duration::from_micros(200);

/// The state at one kill.
#[derive(Debug)]
struct Kill {
    /// Lines in the output file when the process was dead.
    lines: usize,
    /// The group's committed offset per partition, read after the process died (so nothing
    /// could commit in between).
    committed: BTreeMap<i32, Option<i64>>,
    /// Per partition, one past the highest offset handled before the kill.
    end: BTreeMap<i32, i64>,
}

fn spawn(broker: &Broker, topic: &str, group: &str, out: &Path) -> Child {
    let mut child = ChildConsumer::new(env!("CARGO_BIN_EXE_kill_consumer"), topic, group, out);
    child.commit_interval = COMMIT_INTERVAL;
    child.delay = Some(HANDLE_DELAY);
    child.spawn(broker)
}

async fn publish(broker: &Broker, topic: &str) {
    let app = App::from_config(test_config(broker)).unwrap();
    let to_topic = PublishOptions::new().topic(topic);
    let ids: Vec<i64> = (0..COUNT).collect();
    for chunk in ids.chunks(2_000) {
        let widgets: Vec<Widget> = chunk.iter().map(|&id| Widget::new(id, "c")).collect();
        app.publish_list_with::<Widget, _>(&widgets, &to_topic)
            .await
            .unwrap();
    }
    app.shutdown_producers().await.unwrap();
}

async fn crash_three_times(broker: Broker) {
    let run = run_id();
    let topic = format!("crash-{run}");
    let group = format!("crash-group-{run}");
    let started = std::time::Instant::now();
    broker.create_topics(&[&topic], PARTITIONS).await;
    publish(&broker, &topic).await;
    eprintln!("published {COUNT} in {:?}", started.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("handled.txt");
    let mut child = spawn(&broker, &topic, &group, &out);
    let mut kills = Vec::new();
    for at in KILL_AT {
        // The first kill lands wherever the count is reached; each later one also waits for
        // the restarted process to have committed something, so its window starts past the
        // previous kill's.
        let previous = kills.last().map(|k: &Kill| k.committed.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if read_handled(&out).len() >= at {
                let Some(previous) = &previous else { break };
                let now = committed_offsets(&broker, &group, &topic, PARTITIONS).await;
                if now
                    .iter()
                    .any(|(p, c)| *c > previous.get(p).copied().flatten())
                {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {at} handled lines and a commit since the last kill: \
                 {} lines, committed {:?}",
                read_handled(&out).len(),
                committed_offsets(&broker, &group, &topic, PARTITIONS).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().expect("SIGKILL"); // tokio's start_kill sends SIGKILL on Unix
        let status = child.wait().await.unwrap();
        assert!(
            !status.success(),
            "killed process exited cleanly: {status:?}"
        );
        let committed = committed_offsets(&broker, &group, &topic, PARTITIONS).await;
        let handled = read_handled(&out);
        let distinct: HashSet<i64> = handled.iter().map(|h| h.id).collect();
        assert!(
            distinct.len() < COUNT as usize,
            "killed too late to test anything: every id was handled"
        );
        let mut end = BTreeMap::new();
        for h in &handled {
            let e = end.entry(h.partition).or_insert(0);
            *e = (*e).max(h.offset + 1);
        }
        eprintln!(
            "killed at {} lines after {:?}",
            handled.len(),
            started.elapsed()
        );
        kills.push(Kill {
            lines: handled.len(),
            committed,
            end,
        });
        child = spawn(&broker, &topic, &group, &out);
    }

    let all: HashSet<i64> = (0..COUNT).collect();
    wait_for(
        "every id to be handled after the last restart",
        Duration::from_secs(90),
        || {
            read_handled(&out)
                .iter()
                .map(|h| h.id)
                .collect::<HashSet<_>>()
                == all
        },
    )
    .await;
    eprintln!("all handled after {:?}", started.elapsed());
    // Graceful stop: SIGTERM, then exit 0 after committing.
    let pid = child.id().expect("pid");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30s of SIGTERM")
        .unwrap();
    assert!(
        status.success(),
        "graceful shutdown exit status: {status:?}"
    );

    check(&read_handled(&out), &kills, &all);
}

/// Every id handled; each kill's committed offsets no further than what was handled; every
/// repeat inside the uncommitted window of the kill just before it.
fn check(handled: &[Handled], kills: &[Kill], all: &HashSet<i64>) {
    let distinct: HashSet<i64> = handled.iter().map(|h| h.id).collect();
    assert_eq!(distinct.len(), all.len(), "distinct ids handled");
    assert_eq!(&distinct, all, "distinct ids handled = ids published");

    let mut first_seen: HashMap<i64, Handled> = HashMap::new();
    // Segment k: the lines written after kill k-1 (segment 0: before the first kill).
    let mut bounds: Vec<usize> = kills.iter().map(|k| k.lines).collect();
    bounds.push(handled.len());
    let mut start = 0;
    for (segment, &stop) in bounds.iter().enumerate() {
        let mut duplicates = Vec::new();
        for h in &handled[start..stop] {
            match first_seen.get(&h.id) {
                None => {
                    first_seen.insert(h.id, *h);
                }
                Some(first) => {
                    assert_eq!(
                        (first.partition, first.offset),
                        (h.partition, h.offset),
                        "id {} handled at two different places",
                        h.id
                    );
                    duplicates.push(*h);
                }
            }
        }
        if segment == 0 {
            assert!(
                duplicates.is_empty(),
                "repeats before any kill: {:?}",
                &duplicates[..duplicates.len().min(20)]
            );
        } else {
            let kill = &kills[segment - 1];
            for (&p, &c) in &kill.committed {
                let end = kill.end.get(&p).copied().unwrap_or(0);
                if let Some(c) = c {
                    assert!(
                        c <= end,
                        "kill {segment}: partition {p} committed offset {c} is past what was \
                         handled ({end}): {kill:?}"
                    );
                }
            }
            for d in &duplicates {
                let committed = kill.committed.get(&d.partition).copied().flatten();
                let end = kill.end.get(&d.partition).copied().unwrap_or(0);
                assert!(
                    d.offset >= committed.unwrap_or(0) && d.offset < end,
                    "kill {segment}: {d:?} was handled again but lies outside the uncommitted \
                     window [{committed:?}, {end}) of partition {}: {kill:?}",
                    d.partition
                );
            }
            let per_partition: BTreeMap<i32, usize> =
                duplicates.iter().fold(BTreeMap::new(), |mut m, d| {
                    *m.entry(d.partition).or_default() += 1;
                    m
                });
            eprintln!(
                "kill {segment}: {} lines handled before it; committed {:?}; handled up to {:?}; \
                 {} handled again after it {per_partition:?}",
                kill.lines,
                kill.committed,
                kill.end,
                duplicates.len()
            );
        }
        start = stop;
    }
    eprintln!(
        "handled {} lines for {} ids ({} repeats)",
        handled.len(),
        all.len(),
        handled.len() - all.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_sigkills_repeat_only_the_uncommitted_window_embedded() {
    crash_three_times(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn three_sigkills_repeat_only_the_uncommitted_window_tansu() {
    crash_three_times(Broker::real()).await;
}
