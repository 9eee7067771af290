//! Two consumer processes in one group share a 6-partition topic: once the group is steady,
//! every message is handled exactly once across the two, both handle some, and no partition
//! is handled by both. On the embedded broker and (ignored by default) on tansu.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use deimos::producer::PublishOptions;
use deimos::App;
use deimos_tests::child::{read_handled, wait_for, ChildConsumer, Handled};
use deimos_tests::{run_id, test_config, Broker, Widget};
use tokio::process::{Child, Command};

const PARTITIONS: i32 = 6;
/// Messages produced once the group is steady.
const COUNT: i64 = 5_000;
/// Ids of the steady-state messages start here; warm-up ids are below.
const MAIN_BASE: i64 = 1_000_000;
/// Warm-up messages per round: enough keys to reach every partition.
const WARM_UP: i64 = 60;
const MAX_ROUNDS: i64 = 30;

fn spawn(broker: &Broker, topic: &str, group: &str, out: &Path) -> Child {
    ChildConsumer::new(env!("CARGO_BIN_EXE_kill_consumer"), topic, group, out).spawn(broker)
}

/// Which process (0 or 1) handled each partition among `handled` (the two processes' lines),
/// restricted to the ids in `ids`; `None` when some partition was handled by both.
fn owners(handled: &[Vec<Handled>; 2], ids: &HashSet<i64>) -> Option<BTreeMap<i32, usize>> {
    let mut owners = BTreeMap::new();
    for (process, lines) in handled.iter().enumerate() {
        for h in lines.iter().filter(|h| ids.contains(&h.id)) {
            if *owners.entry(h.partition).or_insert(process) != process {
                return None;
            }
        }
    }
    Some(owners)
}

fn read_both(outs: &[&Path; 2]) -> [Vec<Handled>; 2] {
    [read_handled(outs[0]), read_handled(outs[1])]
}

fn handled_ids(handled: &[Vec<Handled>; 2]) -> HashSet<i64> {
    handled.iter().flatten().map(|h| h.id).collect()
}

async fn publish(app: &App, topic: &str, ids: impl Iterator<Item = i64>) {
    let widgets: Vec<Widget> = ids.map(|id| Widget::new(id, "g")).collect();
    app.publish_list_with::<Widget, _>(&widgets, &PublishOptions::new().topic(topic))
        .await
        .unwrap();
}

async fn sigterm(child: &Child) {
    let pid = child.id().expect("pid");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(term.success());
}

async fn two_processes_split_the_partitions(broker: Broker) {
    let run = run_id();
    let topic = format!("split-{run}");
    let group = format!("split-group-{run}");
    broker.create_topics(&[&topic], PARTITIONS).await;
    let app = App::from_config(test_config(&broker)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let outs = [out_a.as_path(), out_b.as_path()];
    let mut a = spawn(&broker, &topic, &group, outs[0]);
    let mut b = spawn(&broker, &topic, &group, outs[1]);

    // Warm up in rounds: publish a round of ids and wait until all are handled. The group is
    // steady when two rounds in a row show the same owner for every partition, and both
    // processes own some.
    let started = std::time::Instant::now();
    let mut previous: Option<BTreeMap<i32, usize>> = None;
    let mut round = 0;
    let steady = loop {
        assert!(
            round < MAX_ROUNDS,
            "the group did not settle in {MAX_ROUNDS} warm-up rounds; last owners {previous:?}"
        );
        let ids: HashSet<i64> = (round * WARM_UP..(round + 1) * WARM_UP).collect();
        publish(&app, &topic, ids.iter().copied()).await;
        wait_for(
            &format!("warm-up round {round} to be handled"),
            Duration::from_secs(60),
            || ids.is_subset(&handled_ids(&read_both(&outs))),
        )
        .await;
        let now = owners(&read_both(&outs), &ids);
        eprintln!(
            "warm-up round {round} after {:?}: owners {now:?}",
            started.elapsed()
        );
        let settled = now.as_ref().is_some_and(|o| {
            o.len() == PARTITIONS as usize && o.values().collect::<BTreeSet<_>>().len() == 2
        });
        if settled && now == previous {
            break now.unwrap();
        }
        previous = if settled { now } else { None };
        round += 1;
    };

    publish(&app, &topic, MAIN_BASE..MAIN_BASE + COUNT).await;
    let main: HashSet<i64> = (MAIN_BASE..MAIN_BASE + COUNT).collect();
    wait_for(
        "every steady-state id to be handled",
        Duration::from_secs(90),
        || main.is_subset(&handled_ids(&read_both(&outs))),
    )
    .await;
    eprintln!("{COUNT} handled after {:?}", started.elapsed());
    let at_done = read_both(&outs);
    check(&at_done, &main, &steady, "once all were handled");

    // Graceful stop of both: each commits what it handled, so neither the rebalance nor the
    // shutdown hands anything out again.
    sigterm(&a).await;
    sigterm(&b).await;
    for child in [&mut a, &mut b] {
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits within 30s of SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "graceful shutdown exit status: {status:?}"
        );
    }
    check(&read_both(&outs), &main, &steady, "after both stopped");
}

/// Each id of `main` handled exactly once across the two, by both processes, on disjoint
/// partition sets that match the warm-up's owners.
fn check(
    handled: &[Vec<Handled>; 2],
    main: &HashSet<i64>,
    steady: &BTreeMap<i32, usize>,
    when: &str,
) {
    let mut times: HashMap<i64, usize> = HashMap::new();
    for h in handled.iter().flatten().filter(|h| main.contains(&h.id)) {
        *times.entry(h.id).or_default() += 1;
    }
    let mut repeated: Vec<(i64, usize)> = times
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(&id, &n)| (id, n))
        .collect();
    repeated.sort_unstable();
    let per_process: Vec<usize> = handled
        .iter()
        .map(|lines| lines.iter().filter(|h| main.contains(&h.id)).count())
        .collect();
    let partitions: Vec<BTreeSet<i32>> = handled
        .iter()
        .map(|lines| {
            lines
                .iter()
                .filter(|h| main.contains(&h.id))
                .map(|h| h.partition)
                .collect()
        })
        .collect();
    eprintln!(
        "{when}: handled per process {per_process:?}, partitions {partitions:?}, {} distinct of {}, {} repeated",
        times.len(),
        main.len(),
        repeated.len()
    );
    assert_eq!(
        times.len(),
        main.len(),
        "{when}: distinct steady-state ids handled"
    );
    assert!(
        repeated.is_empty(),
        "{when}: {} ids handled more than once, e.g. {:?}",
        repeated.len(),
        &repeated[..repeated.len().min(20)]
    );
    assert!(
        per_process.iter().all(|&n| n > 0),
        "{when}: one process handled nothing: {per_process:?}"
    );
    assert!(
        partitions[0].is_disjoint(&partitions[1]),
        "{when}: both processes handled partitions {:?}",
        partitions[0]
            .intersection(&partitions[1])
            .collect::<Vec<_>>()
    );
    for (process, set) in partitions.iter().enumerate() {
        for p in set {
            assert_eq!(
                steady.get(p),
                Some(&process),
                "{when}: partition {p} moved from its warm-up owner to process {process}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_split_the_partitions_embedded() {
    two_processes_split_the_partitions(Broker::embedded()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tansu (TANSU_BROKERS); run by .ci/run"]
async fn two_processes_split_the_partitions_tansu() {
    two_processes_split_the_partitions(Broker::real()).await;
}
