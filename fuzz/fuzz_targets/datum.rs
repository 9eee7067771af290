//! Hostile bytes against the guard + apache-avro binary path directly (`guard::decode_datum`), plus the re-encode consistency check.
//! Input: first byte = schema number in `deimos_tests::hostile::Hostile::schemas`, rest = datum.
#![no_main]

use std::sync::OnceLock;

use deimos_tests::hostile::Hostile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static HOSTILE: OnceLock<Hostile> = OnceLock::new();
    HOSTILE
        .get_or_init(Hostile::new)
        .fuzz_one(data, Hostile::decode_datum);
});
