//! Utilities around consumers and topics (Deimos' `Deimos::Utils`): [`InlineConsumer`] reads
//! the last messages of a topic and returns; [`LagReporter`] reports a consumer group's lag
//! per partition, on demand or on an interval, as the `consumer_lag` gauge (Deimos'
//! `Utils::LagReporter`).

mod inline;
mod lag;

pub use inline::{DecodedMessage, InlineConsumer, MessageSource, RawMessage};
pub use lag::{LagReporter, LagReporterTask, PartitionLag};
