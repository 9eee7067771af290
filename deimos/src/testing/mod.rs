//! Test and development helpers (feature `testing`): an embedded Kafka broker
//! ([`EmbeddedKafka`]) and an in-process Confluent-compatible schema registry
//! ([`SchemaRegistryServer`]).

mod embedded;
mod schema_registry;

pub use embedded::EmbeddedKafka;
pub use schema_registry::SchemaRegistryServer;
