//! Hostile bytes against every decoder: shared by `tests/tests/schema_hostile.rs` (proptest)
//! and the cargo-fuzz targets in `fuzz/`.
//!
//! [`Hostile`] loads the project's `schemas/com/example/*.avsc` and the fuzzing schemas in
//! `fuzz/schemas/fuzz/*.avsc` (recursive, unions, maps, arrays of null and empty records,
//! decimals, fixed), each tree read in place by its own codecs (no copies, nothing left in
//! temporary directories by a fuzzer process that never drops its statics), and decodes bytes with each of them through:
//!
//! - the guard + apache-avro binary path directly ([`deimos::schema::guard::decode_datum`]);
//! - `Codec::decode_message` with the raw datum it hands typed consumers unchecked, read by
//!   `Datum::deserialize_fast` and `Datum::to_value`;
//! - `Codec::decode_value` and `Codec::decode_key` (`key_config(field = <first field>)` and
//!   `key_config(schema = <the record>)`) of every backend in
//!   [`BACKENDS`](crate::avro_gen::BACKENDS).
//!
//! Every call must return `Ok` or `Err`; a panic or an abort is a bug. When the direct path
//! decodes a value, [`check_reencode`] also asserts that apache-avro's encoding of
//! it passes the guard and decodes to the same value (the guard must never reject what
//! apache-avro writes).

use std::path::{Path, PathBuf};

use apache_avro::types::Value;
use apache_avro::Schema;
use deimos::config::SchemaBackendKind;
use deimos::schema::guard;
use deimos::schema::names::parse_schema;
use deimos::schema::{Codec, KeyConfig, SchemaRef};

use crate::avro_gen::codecs_at;
use deimos::schema::Incoming;

/// Where decoded messages come from, for error messages.
const AT: (&str, i32, i64) = ("hostile", 0, 0);

/// One schema of the set.
#[derive(Debug)]
pub struct HostileSchema {
    /// How the codecs load it.
    pub schema_ref: SchemaRef,
    /// The parsed schema.
    pub schema: Schema,
    /// The first field's name when the schema is a record (the field key).
    pub first_field: Option<String>,
    /// Which schema root (and so which codecs) it comes from.
    root: usize,
}

/// The schema set, the codecs of every backend and a runtime to drive them.
#[derive(Debug)]
pub struct Hostile {
    schemas: Vec<HostileSchema>,
    /// Per schema root, one codec per backend.
    codecs: Vec<Vec<(SchemaBackendKind, Codec)>>,
    runtime: tokio::runtime::Runtime,
}

/// The project's and the fuzzing schema directories (`schemas/`, `fuzz/schemas/`).
pub fn schema_roots() -> [PathBuf; 2] {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [repo.join("schemas"), repo.join("fuzz/schemas")]
}

fn avsc_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            avsc_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "avsc") {
            out.push(path);
        }
    }
}

impl Default for Hostile {
    fn default() -> Self {
        Self::new()
    }
}

impl Hostile {
    /// Loads the schema set and builds the codecs.
    ///
    /// # Panics
    /// When a schema file is missing or does not parse.
    pub fn new() -> Self {
        let roots = schema_roots();
        let mut schemas = Vec::new();
        for (root_index, root) in roots.iter().enumerate() {
            let mut files = Vec::new();
            avsc_files(root, &mut files);
            for path in files {
                let json = std::fs::read_to_string(&path).expect("read schema");
                let schema = parse_schema(&json)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
                let name = schema
                    .name()
                    .unwrap_or_else(|| panic!("{}: schemas here are named", path.display()));
                let first_field = match &schema {
                    Schema::Record(r) => r.fields.first().map(|f| f.name.clone()),
                    _ => None,
                };
                schemas.push(HostileSchema {
                    schema_ref: SchemaRef::parse(&name.fullname(None)),
                    schema,
                    first_field,
                    root: root_index,
                });
            }
        }
        assert!(schemas.len() >= 8, "schema set too small: {schemas:?}");
        Hostile {
            schemas,
            codecs: roots.iter().map(|r| codecs_at(r)).collect(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// The schema set.
    pub fn schemas(&self) -> &[HostileSchema] {
        &self.schemas
    }

    /// Decodes `bytes` with schema number `index` (modulo the set's size) through every
    /// decoder; returns how many decoders accepted them. Never panics unless a decoder does
    /// (or [`check_reencode`] finds an inconsistency).
    pub fn decode_all(&self, index: usize, bytes: &[u8]) -> usize {
        self.decode_datum(index, bytes)
            + self.decode_values(index, bytes)
            + self.decode_keys(index, bytes)
    }

    fn pick(&self, index: usize) -> &HostileSchema {
        &self.schemas[index % self.schemas.len()]
    }

    /// The guard + apache-avro binary path directly; 1 if it accepted the bytes. An accepted
    /// value must survive [`check_reencode`].
    pub fn decode_datum(&self, index: usize, bytes: &[u8]) -> usize {
        let s = self.pick(index);
        match guard::decode_datum(&s.schema, None, bytes) {
            Ok(value) => {
                check_reencode(&s.schema, &value);
                1
            }
            Err(_) => 0,
        }
    }

    /// `Codec::decode_value` of every backend, and the typed handlers' path
    /// (`Codec::decode_incoming`, then `serde_avro_fast` into a type that reads every value,
    /// then the `Value` fallback); how many accepted the bytes.
    pub fn decode_values(&self, index: usize, bytes: &[u8]) -> usize {
        let s = self.pick(index);
        self.runtime.block_on(async {
            let mut accepted = 0;
            for (_, codec) in &self.codecs[s.root] {
                let decoded = codec.decode_value(&s.schema_ref, Some(bytes), AT).await;
                accepted += usize::from(decoded.is_ok());
                if let Ok(Incoming::Datum(datum)) =
                    codec.decode_incoming(&s.schema_ref, Some(bytes), AT).await
                {
                    let fast = datum.deserialize_fast::<serde::de::IgnoredAny>();
                    let slow = datum.to_value();
                    accepted += usize::from(fast.is_ok()) + usize::from(slow.is_ok());
                }
                // The consumer's path: `decode_message` hands typed handlers the datum
                // without the guard's walk, so `serde_avro_fast`'s limits (and, on its
                // fallback, the guard in `to_value`) are all that stands before the bytes.
                if let Ok(decoder) = codec.decoder(&s.schema_ref, &KeyConfig::None).await {
                    if let Ok((_, Incoming::Datum(datum))) =
                        codec.decode_message(&decoder, None, Some(bytes), AT).await
                    {
                        let fast = datum.deserialize_fast::<serde::de::IgnoredAny>();
                        let slow = datum.to_value();
                        accepted += usize::from(fast.is_ok()) + usize::from(slow.is_ok());
                    }
                }
            }
            accepted
        })
    }

    /// `Codec::decode_key` of every backend, with `key_config(field = <first field>)` and
    /// `key_config(schema = <the record>)` (records only); how many accepted the bytes.
    pub fn decode_keys(&self, index: usize, bytes: &[u8]) -> usize {
        let s = self.pick(index);
        let Some(field) = &s.first_field else {
            return 0;
        };
        let configs = [
            KeyConfig::Field(field.clone().into()),
            KeyConfig::Schema(s.schema_ref.name.clone()),
        ];
        self.runtime.block_on(async {
            let mut accepted = 0;
            for (_, codec) in &self.codecs[s.root] {
                for config in &configs {
                    let decoded = codec
                        .decode_key(&s.schema_ref, config, Some(bytes), AT)
                        .await;
                    accepted += usize::from(decoded.is_ok());
                }
            }
            accepted
        })
    }

    /// The fuzzers' input format: the first byte picks the schema, the rest is the datum.
    /// Runs `decode` (one of the `decode_*` methods) on it.
    pub fn fuzz_one(&self, data: &[u8], decode: fn(&Self, usize, &[u8]) -> usize) {
        if let Some((&which, bytes)) = data.split_first() {
            decode(self, usize::from(which), bytes);
        }
    }
}

/// Asserts that apache-avro's encoding of `value` (decoded with `schema`) passes the guard
/// and decodes to the same value.
///
/// # Panics
/// On any inconsistency: that is the bug this looks for.
pub fn check_reencode(schema: &Schema, value: &Value) {
    let bytes = match apache_avro::to_avro_datum(schema, value.clone()) {
        Ok(bytes) => bytes,
        Err(e) => panic!("apache-avro cannot re-encode what it decoded: {e}\nvalue: {value:?}"),
    };
    if let Err(e) = guard::check_datum(schema, &bytes) {
        panic!("the guard rejects what apache-avro wrote: {e}\nvalue: {value:?}\nbytes: {bytes:?}");
    }
    match guard::decode_datum(schema, None, &bytes) {
        Ok(again) => assert!(
            same(value, &again),
            "re-encoded value decodes differently:\n  {value:?}\n  {again:?}"
        ),
        Err(e) => panic!("re-encoded value does not decode: {e}\nvalue: {value:?}"),
    }
}

/// Value equality that treats floats bit for bit (so NaN equals itself).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Union(i, x), Value::Union(j, y)) => i == j && same(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Record(x), Value::Record(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((n, a), (m, b))| n == m && same(a, b))
        }
        _ => a == b,
    }
}
