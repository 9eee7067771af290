//! At-least-once across a crash: a consumer process killed with SIGKILL mid-stream and
//! restarted loses no message.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use deimos::App;
use deimos_tests::child::{read_handled, wait_for, ChildConsumer};
use deimos_tests::{test_config, Broker, Widget};
use tokio::process::{Child, Command};

const COUNT: i64 = 400;

/// Starts the consumer process on `widgets`, group `kill-test`; with `stall_after`, its
/// handler hangs on message `stall_after + 1` (see `tests/src/bin/kill_consumer.rs`).
fn spawn_consumer(broker: &Broker, out: &Path, stall_after: Option<u64>) -> Child {
    let mut child = ChildConsumer::new(
        env!("CARGO_BIN_EXE_kill_consumer"),
        "widgets",
        "kill-test",
        out,
    );
    child.commit_interval = Duration::from_millis(100);
    child.stall_after = stall_after;
    child.spawn(broker)
}

fn handled(out: &Path) -> Vec<i64> {
    read_handled(out).into_iter().map(|h| h.id).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_then_restart_loses_nothing() {
    let broker = Broker::embedded();
    broker.create_topics(&["widgets"], 3).await;
    let app = App::from_config(test_config(&broker)).unwrap();
    let sent: Vec<Widget> = (0..COUNT).map(|id| Widget::new(id, "k")).collect();
    app.publish_list(&sent).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("handled.txt");
    let mut first = spawn_consumer(&broker, &out, Some(50));
    wait_for(
        "the first process to handle 50 messages",
        Duration::from_secs(60),
        || handled(&out).len() >= 50,
    )
    .await;
    // Message 51 is now in flight and never finishes. Give a (wrongly) early offset commit
    // time to happen — five commit intervals — before the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.start_kill().expect("SIGKILL"); // tokio's start_kill sends SIGKILL on Unix
    let status = first.wait().await.unwrap();
    let before_restart = handled(&out).len();
    assert!(
        !status.success(),
        "killed process exited cleanly: {status:?}"
    );
    assert!(
        before_restart < COUNT as usize,
        "killed too late to test anything: {before_restart} handled"
    );

    let mut second = spawn_consumer(&broker, &out, None);
    let all: HashSet<i64> = (0..COUNT).collect();
    wait_for(
        "every id to be handled after the restart",
        Duration::from_secs(90),
        || handled(&out).into_iter().collect::<HashSet<_>>() == all,
    )
    .await;
    // Graceful stop: SIGTERM, then exit 0 after committing.
    let pid = second.id().expect("pid");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .expect("exits within 30s of SIGTERM")
        .unwrap();
    assert!(
        status.success(),
        "graceful shutdown exit status: {status:?}"
    );

    let ids = handled(&out);
    let distinct: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct, all, "distinct ids handled = ids published");
    println!(
        "handled {} messages for {} ids ({} redelivered after SIGKILL)",
        ids.len(),
        COUNT,
        ids.len() - COUNT as usize
    );
}
