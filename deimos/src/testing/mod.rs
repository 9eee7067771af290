//! Test and development helpers (feature `testing`), Deimos' `TestHelpers` for Rust:
//!
//! - configuration presets scoped to the test's thread: [`unit_test`] (the `test` producer
//!   backend and the `avro_validation` schema backend), [`kafka_test`], [`full_integration_test`]
//!   ([`TestScope`]); tests running in parallel threads of one `cargo test` never see each
//!   other's settings or captured messages;
//! - calling handlers without a broker: [`test_consume_message`],
//!   [`test_consume_invalid_message`], [`test_consume_batch`];
//! - what was sent: [`sent_messages`], [`assert_sent!`](crate::assert_sent) /
//!   [`assert_not_sent!`](crate::assert_not_sent) and [`SentQuery`] with partial matching of
//!   payload, key, partition key and headers (Deimos' `have_sent`);
//! - [`schemas_compatible`];
//! - an embedded Kafka broker ([`EmbeddedKafka`]) and an in-process Confluent-compatible
//!   schema registry ([`SchemaRegistryServer`]).

mod consume;
mod embedded;
mod helpers;
mod schema_registry;

pub use consume::{
    test_consume_batch, test_consume_batch_with, test_consume_invalid_message,
    test_consume_message, test_consume_message_with, ConsumeOptions,
};
pub use embedded::EmbeddedKafka;
#[doc(hidden)]
pub use helpers::__sent_query;
pub use helpers::{
    check_schemas_compatible, clear_sent_messages, erased, full_integration_test,
    full_integration_test_with, json_includes, kafka_test, kafka_test_with, schemas_compatible,
    sent_messages, unit_test, unit_test_with, SentMessage, SentQuery, TestScope,
};
pub use schema_registry::SchemaRegistryServer;
