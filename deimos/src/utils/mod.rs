//! Utilities around consumers and topics (Deimos' `Deimos::Utils`): [`InlineConsumer`] reads
//! the last messages of a topic and returns.

mod inline;

pub use inline::{DecodedMessage, InlineConsumer, MessageSource, RawMessage};
