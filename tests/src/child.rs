//! Consumer child processes (the `kill_consumer` binary) for crash and consumer-group tests,
//! what they handled, and the group's committed offsets as the broker has them.
//!
//! The child is configured like any deimos service, by `DEIMOS_*` environment variables; the
//! variables that steer the test binary itself start with `KILL_TEST_`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::process::{Child, Command};

use crate::Broker;

/// What to start: a `kill_consumer` process on `topic` in `group`, writing to `out`.
#[derive(Debug, Clone)]
pub struct ChildConsumer {
    /// The `kill_consumer` binary: `env!("CARGO_BIN_EXE_kill_consumer")` in an integration
    /// test (Cargo sets that variable for tests only, not for this library).
    pub bin: PathBuf,
    /// Topic to consume.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// File the child appends `<id> <partition> <offset>` lines to.
    pub out: PathBuf,
    /// `consumers.offset_commit_interval`.
    pub commit_interval: Duration,
    /// The handler of message `stall_after + 1` never returns (see the binary's docs).
    pub stall_after: Option<u64>,
    /// Each handler first sleeps this long (slows consumption down so that kills land between
    /// commits).
    pub delay: Option<Duration>,
}

impl ChildConsumer {
    /// A child from `bin` for `topic`/`group` writing to `out`, committing every 200 ms, never
    /// stalling or pausing.
    pub fn new(bin: &str, topic: &str, group: &str, out: &Path) -> ChildConsumer {
        ChildConsumer {
            bin: PathBuf::from(bin),
            topic: topic.to_owned(),
            group: group.to_owned(),
            out: out.to_owned(),
            commit_interval: Duration::from_millis(200),
            stall_after: None,
            delay: None,
        }
    }

    /// Starts the process (killed when the returned handle is dropped).
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn spawn(&self, broker: &Broker) -> Child {
        let mut command = Command::new(&self.bin);
        if let Some(n) = self.stall_after {
            command.env("KILL_TEST_STALL_AFTER", n.to_string());
        }
        if let Some(delay) = self.delay {
            command.env("KILL_TEST_DELAY_US", delay.as_micros().to_string());
        }
        command
            .env("DEIMOS_KAFKA_BROKERS", broker.bootstrap())
            .env("DEIMOS_SCHEMA_PATH", crate::schema_dir())
            .env("DEIMOS_CONSUMERS_SESSION_TIMEOUT", "6s")
            .env("DEIMOS_CONSUMERS_HEARTBEAT_INTERVAL", "500ms")
            .env(
                "DEIMOS_CONSUMERS_OFFSET_COMMIT_INTERVAL",
                format!("{}ms", self.commit_interval.as_millis()),
            )
            .env("DEIMOS_CONSUMER__ON_KILL_WIDGET__TOPIC", &self.topic)
            .env("DEIMOS_CONSUMER__ON_KILL_WIDGET__GROUP_ID", &self.group)
            .env("KILL_TEST_OUT", &self.out)
            .env_remove("DEIMOS_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn kill_consumer")
    }
}

/// One message a child handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handled {
    /// The widget id.
    pub id: i64,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// Every complete line of a child's output file, in the order written (empty when the file
/// does not exist yet).
///
/// # Panics
/// On a complete line that is not `<id> <partition> <offset>`.
pub fn read_handled(out: &Path) -> Vec<Handled> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    // A line is complete once its newline is written (the child writes each line in one
    // write(2)); anything after the last newline is ignored.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                [id, partition, offset] => Handled {
                    id: id.parse().expect("id"),
                    partition: partition.parse().expect("partition"),
                    offset: offset.parse().expect("offset"),
                },
                _ => panic!("malformed line in {}: {line:?}", out.display()),
            }
        })
        .collect()
}

/// Polls `done` every 20 ms until it holds.
///
/// # Panics
/// When it does not hold within `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The offsets `group` has committed for partitions `0..partitions` of `topic` (`None`: none
/// committed), read with a consumer that never joins the group (no subscribe, no assign), so
/// it changes nothing.
///
/// # Panics
/// When the broker does not answer within 30 s.
pub async fn committed_offsets(
    broker: &Broker,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Option<i64>> {
    let bootstrap = broker.bootstrap();
    let group = group.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let committed = loop {
            match consumer.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
                Ok(committed) => break committed,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "reading committed offsets of group `{group}`: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        committed
            .elements_for_topic(&topic)
            .iter()
            .map(|e| {
                let offset = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                };
                (e.partition(), offset)
            })
            .collect()
    })
    .await
    .expect("offset reader task")
}
