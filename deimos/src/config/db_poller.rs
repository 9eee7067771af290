//! `[[db_poller]]`: the database pollers (Deimos' `db_poller` blocks).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::error::{Error, Result};

/// One database poller (`[[db_poller]]`, Deimos' `db_poller` block): a task that reads the
/// rows of an entity producer's table that changed since its last run and publishes them
/// through that producer. See [`poller`](crate::poller) for what a run does.
///
/// ```toml
/// [[db_poller]]
/// producer = "WidgetProducer"     # an entity producer, by type name or full path
/// run_every = "1m"
/// delay_time = "2s"
/// timestamp_column = "updated_at"
///
/// [[db_poller]]                   # state-based (Deimos 2.x)
/// producer = "OrderProducer"
/// mode = "state_based"
/// state_column = "publish_state"  # rows where it is NULL (or `pending_state`) are sent
/// published_state = "published"
/// failed_state = "failed"
/// publish_timestamp_column = "published_at"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DbPollerConfig {
    /// The entity producer (`#[producer(.., entity = ..)]`) whose rows are polled and which
    /// publishes them: its type name (`WidgetProducer`) or full path
    /// (`my_app::producers::WidgetProducer`). Required in files; set by
    /// [`App::add_db_poller`](crate::App::add_db_poller) in code.
    pub producer: String,
    /// The poller's key in `poll_info` (its cursor and lock). Default: the producer's type
    /// name, as Deimos keys `poll_info` by producer class. Two pollers of one producer need
    /// distinct names.
    pub name: Option<String>,
    /// What the poller looks for: rows changed since the last run (`time_based`, the default)
    /// or rows in a state (`state_based`, Deimos 2.x).
    pub mode: PollMode,
    /// How often a run starts (from one run's start to the next's). A run that takes longer
    /// is followed at once by the next. Default 1 min, as in Deimos.
    #[serde(with = "duration")]
    pub run_every: Duration,
    /// Time-based: the column holding each row's last change (a datetime or timestamp
    /// column). Default `updated_at`, as in Deimos.
    pub timestamp_column: String,
    /// Time-based: rows changed less than this long ago wait for a later run, so that a
    /// transaction that stamped its rows earlier but committed later is not skipped. Default
    /// 2 s, as in Deimos. It should exceed your longest writing transaction.
    #[serde(with = "duration")]
    pub delay_time: Duration,
    /// Time-based: send every row of the table on every run, in primary key order, instead of
    /// the changed ones (the timestamp column is not used). Default false.
    pub full_table: bool,
    /// Time-based: when the poller first runs (no `poll_info` row yet), start from the oldest
    /// row (true, the default, as in Deimos) or from now, sending only rows changed from the
    /// start of the current second on (false; whole seconds, as some columns keep no
    /// fraction).
    pub start_from_beginning: bool,
    /// Most rows read and published at once (1 to 100 000). Default 1000, as in Deimos.
    pub batch_size: usize,
    /// How many times a batch whose publishing failed is tried again, backing off, before the
    /// run gives up (time-based: the cursor stays, so the next run starts with that batch;
    /// state-based: its rows are tried one by one and those that fail get `failed_state`).
    /// Default 1, as in Deimos.
    pub retries: u32,
    /// A poller lock not renewed for this long (its holder renews it after every batch) is
    /// taken over by another process: the holder probably died. Default 1 min.
    #[serde(with = "duration")]
    pub lock_timeout: Duration,
    /// State-based: the column holding each row's publishing state. Required in that mode.
    pub state_column: Option<String>,
    /// State-based: the state of rows waiting to be published. Default none: rows whose
    /// `state_column` is NULL.
    pub pending_state: Option<StateValue>,
    /// State-based: the state a published row gets. Required in that mode.
    pub published_state: Option<StateValue>,
    /// State-based: the state a row that could not be published gets. Required in that mode.
    pub failed_state: Option<StateValue>,
    /// State-based: a datetime column set to the time of publishing (or of failing), if any.
    pub publish_timestamp_column: Option<String>,
}

impl Default for DbPollerConfig {
    fn default() -> Self {
        DbPollerConfig {
            producer: String::new(),
            name: None,
            mode: PollMode::TimeBased,
            run_every: Duration::from_secs(60),
            timestamp_column: "updated_at".to_owned(),
            delay_time: Duration::from_secs(2),
            full_table: false,
            start_from_beginning: true,
            batch_size: 1000,
            retries: 1,
            lock_timeout: Duration::from_secs(60),
            state_column: None,
            pending_state: None,
            published_state: None,
            failed_state: None,
            publish_timestamp_column: None,
        }
    }
}

/// What a poller looks for (`db_poller.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PollMode {
    /// Rows whose timestamp column is past the last row sent (Deimos' default mode).
    #[default]
    TimeBased,
    /// Rows whose state column holds the pending state; each is marked published or failed
    /// (Deimos 2.x `mode: :state_based`).
    StateBased,
}

/// A value of a state column (`db_poller.published_state` etc.): text, an integer or a
/// boolean, converted to the column's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl std::fmt::Display for StateValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateValue::Bool(b) => write!(f, "{b}"),
            StateValue::Int(i) => write!(f, "{i}"),
            StateValue::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl DbPollerConfig {
    /// The settings of a poller of `producer` (a type name or full path), the rest default.
    pub fn new(producer: impl Into<String>) -> Self {
        DbPollerConfig {
            producer: producer.into(),
            ..DbPollerConfig::default()
        }
    }

    /// The poller's `poll_info` key: `name`, else the producer's last path segment.
    pub fn poller_name(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None => self.producer.rsplit("::").next().unwrap_or(&self.producer),
        }
    }

    /// Checks the settings; `at` names the poller in errors (e.g. `db_poller[0]`).
    ///
    /// # Errors
    /// [`Error::Config`] naming `<at>.<key>`.
    pub(crate) fn validate(&self, at: &str) -> Result<()> {
        let key = |k: &str| format!("{at}.{k}");
        if self.producer.trim().is_empty() {
            return Err(Error::config(
                key("producer"),
                "is required: the entity producer whose rows are polled",
            ));
        }
        if !(1..=100_000).contains(&self.batch_size) {
            return Err(Error::config(
                key("batch_size"),
                format!("must be 1 to 100000 rows, found {}", self.batch_size),
            ));
        }
        if self.run_every.is_zero() {
            return Err(Error::config(key("run_every"), "must be above zero"));
        }
        // Durations beyond any sensible setting would overflow the timestamp arithmetic.
        const MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
        for (name, value) in [
            ("run_every", self.run_every),
            ("delay_time", self.delay_time),
            ("lock_timeout", self.lock_timeout),
        ] {
            if value > MAX {
                return Err(Error::config(
                    key(name),
                    format!("must be at most 10 years, found {value:?}"),
                ));
            }
        }
        if self.lock_timeout < Duration::from_secs(1) {
            return Err(Error::config(key("lock_timeout"), "must be at least 1 s"));
        }
        if self.mode == PollMode::StateBased {
            if self.state_column.is_none() {
                return Err(Error::config(
                    key("state_column"),
                    "is required with `mode = \"state_based\"`",
                ));
            }
            for (name, value) in [
                ("published_state", &self.published_state),
                ("failed_state", &self.failed_state),
            ] {
                if value.is_none() {
                    return Err(Error::config(
                        key(name),
                        "is required with `mode = \"state_based\"`",
                    ));
                }
            }
            if self.published_state == self.pending_state || self.failed_state == self.pending_state
            {
                return Err(Error::config(
                    key("published_state"),
                    "`published_state` and `failed_state` must differ from `pending_state`, \
                     or rows would be published again and again",
                ));
            }
        }
        Ok(())
    }
}

/// Validates every `[[db_poller]]` and that their names are distinct.
pub(super) fn validate_all(pollers: &[DbPollerConfig]) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for (i, p) in pollers.iter().enumerate() {
        let at = format!("db_poller[{i}]");
        p.validate(&at)?;
        if !names.insert(p.poller_name()) {
            return Err(Error::config(
                format!("{at}.name"),
                format!(
                    "poller `{}` is declared twice; give one a distinct `name` (it keys its \
                     cursor in `poll_info`)",
                    p.poller_name()
                ),
            ));
        }
    }
    Ok(())
}
