//! Hostile bytes against `Codec::decode_value` of every backend in `deimos_tests::avro_gen::BACKENDS`.
//! Input: first byte = schema number in `deimos_tests::hostile::Hostile::schemas`, rest = datum.
#![no_main]

use std::sync::OnceLock;

use deimos_tests::hostile::Hostile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static HOSTILE: OnceLock<Hostile> = OnceLock::new();
    HOSTILE
        .get_or_init(Hostile::new)
        .fuzz_one(data, Hostile::decode_values);
});
