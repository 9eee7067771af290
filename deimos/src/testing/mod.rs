//! Test and development helpers (feature `testing`).

mod embedded;

pub use embedded::EmbeddedKafka;
