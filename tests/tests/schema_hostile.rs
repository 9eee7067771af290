//! Hostile bytes against every decoder (the guard + apache-avro binary path, and
//! `Codec::decode_value` / `decode_key` of every backend): arbitrary bytes, mutations of valid
//! encodings, huge declared lengths, the fuzzers' regression inputs, and what apache-avro does
//! without the guard (in a child process, since it aborts).

use std::process::Command;
use std::sync::OnceLock;

use apache_avro::Schema;
use deimos::schema::guard::{self, check_datum};
use deimos::schema::names::parse_schema;
use deimos_tests::avro_gen::ValueGen;
use deimos_tests::hostile::Hostile;
use proptest::prelude::*;

fn hostile() -> &'static Hostile {
    static HOSTILE: OnceLock<Hostile> = OnceLock::new();
    HOSTILE.get_or_init(Hostile::new)
}

fn zigzag(v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return out;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// A change to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Truncate(usize),
    InsertVarint(usize, i64),
    SetByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(-1i64),
        Just(1 << 31),
        Just(1 << 40),
        Just(500_000_000),
        any::<i64>(),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), huge).prop_map(|(at, v)| Mutation::InsertVarint(at, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = bytes.len();
    match *m {
        Mutation::FlipBit(at, bit) if n > 0 => bytes[at % n] ^= 1 << bit,
        Mutation::SetByte(at, b) if n > 0 => bytes[at % n] = b,
        Mutation::Truncate(at) => bytes.truncate(at % (n + 1)),
        Mutation::InsertVarint(at, v) => {
            let at = at % (n + 1);
            bytes.splice(at..at, zigzag(v));
        }
        _ => {}
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes: every decoder returns `Ok` or `Err` (a panic fails the case, an abort
    /// the whole test binary).
    #[test]
    fn arbitrary_bytes_never_panic(index in any::<usize>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        hostile().decode_all(index, &bytes);
    }

    /// Mutated valid encodings (bit flips, truncation, inserted huge varints, overwritten
    /// bytes), several mutations at once: decoders return `Ok` or `Err`.
    #[test]
    fn mutated_encodings_never_panic(
        index in any::<usize>(),
        seed in any::<u64>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let h = hostile();
        let s = &h.schemas()[index % h.schemas().len()];
        let value = ValueGen::new(seed).value(&s.schema);
        let bytes = apache_avro::to_avro_datum(&s.schema, value).expect("generated values encode");
        prop_assert_eq!(check_datum(&s.schema, &bytes), Ok(bytes.len()));
        prop_assert_eq!(h.decode_all(index, &bytes), h.decode_all(index, &bytes));
        let mutated = mutations.iter().fold(bytes, apply);
        h.decode_all(index, &mutated);
    }
}

/// Every valid encoding passes the guard and decodes through every decoder.
#[test]
fn valid_encodings_pass_every_decoder() {
    let h = hostile();
    for (index, s) in h.schemas().iter().enumerate() {
        for seed in 0..50 {
            let value = ValueGen::new(seed).value(&s.schema);
            let bytes = apache_avro::to_avro_datum(&s.schema, value).expect("encodes");
            let accepted = h.decode_all(index, &bytes);
            // The direct path and every codec's value decode, at least.
            assert!(
                accepted >= 2,
                "{} seed {seed}: {accepted} decoders",
                s.schema_ref
            );
        }
    }
}

/// A huge declared count or length is the guard's error, found before apache-avro allocates.
#[test]
fn huge_declared_lengths_are_errors_not_allocations() {
    let cases: &[(&str, Vec<u8>)] = &[
        (r#"{"type":"array","items":"string"}"#, zigzag(500_000_000)),
        (r#"{"type":"array","items":"long"}"#, zigzag(i64::MAX)),
        (r#"{"type":"array","items":"null"}"#, zigzag(1 << 40)),
        (
            r#"{"type":"array","items":{"type":"record","name":"E","fields":[]}}"#,
            zigzag(1 << 30),
        ),
        (r#"{"type":"map","values":"null"}"#, zigzag(1 << 33)),
        (r#""string""#, zigzag(1 << 29)),
        (r#""bytes""#, zigzag(i64::MAX)),
        (
            r#"{"type":"bytes","logicalType":"big-decimal"}"#,
            [zigzag(2), zigzag(1 << 29), vec![0]].concat(),
        ),
        (
            r#"{"type":"array","items":"int"}"#,
            [zigzag(-3), zigzag(1 << 40)].concat(),
        ),
    ];
    for (json, bytes) in cases {
        let schema = parse_schema(json).unwrap();
        let err = guard::decode_datum(&schema, None, bytes).unwrap_err();
        let datum_err = err
            .downcast_ref::<guard::DatumError>()
            .unwrap_or_else(|| panic!("{json}: not the guard's error: {err}"));
        assert!(
            datum_err
                .to_string()
                .starts_with("invalid Avro datum at byte"),
            "{datum_err}"
        );
    }
    // The same through a codec: an error naming the schema, with the guard's as the source.
    let h = hostile();
    let (index, s) = h
        .schemas()
        .iter()
        .enumerate()
        .find(|(_, s)| s.schema_ref.to_string() == "com.example.Widget")
        .expect("Widget");
    let mut bytes = zigzag(1);
    bytes.extend(zigzag(1 << 29)); // name: a 512 MiB string
    assert_eq!(h.decode_all(index, &bytes), 0);
    let err = check_datum(&s.schema, &bytes).unwrap_err();
    assert_eq!((err.offset(), err.path()), (1, "$.name"));
}

/// The guard's depth limit keeps recursive schemas off the stack's end, and so does
/// `serde_avro_fast`'s on the consumer's typed path; a list at the limit still decodes.
#[test]
fn deep_recursion_is_an_error() {
    let h = hostile();
    let (index, s) = h
        .schemas()
        .iter()
        .enumerate()
        .find(|(_, s)| s.schema_ref.to_string() == "fuzz.LongList")
        .expect("LongList");
    let list = |n: usize| {
        let mut b = [0u8, 2].repeat(n - 1);
        b.extend([0, 0]);
        b
    };
    // Each node is three levels (the record, the `next` union, the reference back to the
    // record): node n's union is at level 3n - 1, so 21 nodes fit in 64 levels.
    assert!(h.decode_all(index, &list(21)) >= 2);
    // The consumer's typed path (`decode_message`, then `serde_avro_fast`) does not walk the
    // guard: its depth limit is `serde_avro_fast`'s own 64 levels, which count a node as
    // two (the record and the union). So 22 to 32 nodes pass there (once: the `Value`
    // fallback still has the guard), and 33 fail everywhere.
    assert_eq!(h.decode_all(index, &list(22)), 1);
    assert_eq!(h.decode_all(index, &list(32)), 1);
    assert_eq!(h.decode_all(index, &list(33)), 0);
    assert_eq!(h.decode_all(index, &list(100)), 0);
    let err = check_datum(&s.schema, &list(100_000)).unwrap_err();
    assert!(
        err.reason().contains("nesting deeper than 64 levels"),
        "{err}"
    );
}

/// Pins what apache-avro 0.21 does with these bytes when nothing guards it: the process dies
/// (allocation failure or stack overflow). If this starts passing through, apache-avro
/// changed and the guard's reasons should be revisited.
#[test]
fn unguarded_apache_avro_aborts_on_hostile_bytes() {
    for (mode, expect) in [
        ("huge-array", "memory allocation"),
        ("huge-null-array", "memory allocation"),
        ("deep-list", "overflowed its stack"),
    ] {
        // A 4 GiB address-space limit makes the huge reservation fail the same way whatever
        // the machine's overcommit policy (it could otherwise succeed and page in gigabytes).
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 4194304 && exec "$0" "$1""#)
            .arg(env!("CARGO_BIN_EXE_avro_unguarded"))
            .arg(mode)
            .output()
            .expect("run avro_unguarded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expect),
            "{mode}: expected the process to die with `{expect}`, got {:?}\nstdout: {}\nstderr: {stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
        );
    }
}

/// Inputs the fuzzers found (and any added by hand) stay fixed: `fuzz/regressions/<target>/*`,
/// in the fuzzers' format (first byte: schema number; rest: the datum).
#[test]
fn fuzz_regressions_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut count = 0;
    for target in std::fs::read_dir(&dir).expect("fuzz/regressions exists") {
        for input in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let path = input.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            hostile().fuzz_one(&data, Hostile::decode_all);
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs in {}", dir.display());
}

/// apache-avro 0.21 reads a truncated string, boolean or union as `null` instead of failing
/// (`decode.rs` maps `UnexpectedEof` to `Value::Null`); the guard turns these into errors.
#[test]
fn truncated_values_are_errors_not_nulls() {
    let string = parse_schema(r#""string""#).unwrap();
    let truncated = [zigzag(10), b"abc".to_vec()].concat();
    assert_eq!(
        apache_avro::from_avro_datum(&string, &mut &truncated[..], None).unwrap(),
        apache_avro::types::Value::Null,
        "apache-avro's behaviour changed"
    );
    assert!(guard::decode_datum(&string, None, &truncated).is_err());
    let boolean = parse_schema(r#""boolean""#).unwrap();
    assert_eq!(
        apache_avro::from_avro_datum(&boolean, &mut &[][..], None).unwrap(),
        apache_avro::types::Value::Null
    );
    assert!(guard::decode_datum(&boolean, None, &[]).is_err());
    let union: Schema = parse_schema(r#"["null","long"]"#).unwrap();
    assert!(guard::decode_datum(&union, None, &[]).is_err());
}
