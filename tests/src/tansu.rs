//! A tansu broker process of the test's own, which the test can stop and restart on the same
//! port (broker-outage tests). The shared tansu of `.ci/run` ([`Broker::real`](crate::Broker))
//! must not be stopped, so these tests start their own from the binary named by `TANSU_BIN`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Environment variable with the path of the tansu binary (set by `.ci/run`).
pub const TANSU_BIN_ENV: &str = "TANSU_BIN";

/// A tansu broker (memory storage) on a fixed loopback port, killed on drop.
#[derive(Debug)]
pub struct TansuProcess {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl TansuProcess {
    /// Starts tansu from `TANSU_BIN` on a free loopback port and waits until it accepts
    /// connections.
    ///
    /// # Panics
    /// When `TANSU_BIN` is not set (a real-infrastructure test must fail, never pass by
    /// skipping), or when tansu does not accept connections within 30 s.
    pub async fn start() -> TansuProcess {
        let bin = std::env::var_os(TANSU_BIN_ENV).unwrap_or_else(|| {
            panic!("{TANSU_BIN_ENV} is not set: this test starts its own tansu broker from that binary (.ci/run sets it)")
        });
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            probe.local_addr().expect("local addr").port()
        };
        let mut tansu = TansuProcess {
            bin: PathBuf::from(bin),
            port,
            log: std::env::temp_dir().join(format!("deimos-tests-tansu-{port}.log")),
            child: None,
        };
        tansu.up().await;
        tansu
    }

    /// `127.0.0.1:<port>`, for `kafka.brokers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL) and waits for it to exit. Its memory storage, topics
    /// included, is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the broker again on the same port, with empty storage: re-create topics.
    ///
    /// # Panics
    /// When tansu does not accept connections within 30 s.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.up().await;
    }

    async fn up(&mut self) {
        let url = format!("tcp://{}", self.bootstrap());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the tansu log");
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(self.bootstrap())
                .await
                .is_ok()
            {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && tokio::time::Instant::now() < deadline,
                "tansu on {} did not accept connections (exit status {exited:?}); log {}:\n{}",
                self.bootstrap(),
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
