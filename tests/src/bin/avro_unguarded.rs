//! Runs apache-avro 0.21's `from_avro_datum` on hostile bytes *without* deimos' guard, in its
//! own process, so `tests/tests/schema_hostile.rs` can show what the guard prevents: the
//! process aborts (allocation failure, stack overflow), which no test could survive in-process.
//!
//! Usage: `avro_unguarded huge-array | huge-null-array | deep-list`. Exits 0 if apache-avro
//! returned (the test then fails: the pinned behaviour changed).

use apache_avro::Schema;

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

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (schema, bytes) = match mode.as_str() {
        // An array of strings declaring 500 million items: 7 bytes.
        "huge-array" => (
            r#"{"type": "array", "items": "string"}"#,
            zigzag(500_000_000),
        ),
        // 500 million nulls take no bytes at all: apache-avro materialises every one.
        "huge-null-array" => (
            r#"{"type": "array", "items": "null"}"#,
            [zigzag(500_000_000), zigzag(0)].concat(),
        ),
        // A linked list a million levels deep: 2 bytes a level.
        "deep-list" => (
            r#"{"type": "record", "name": "LongList", "fields": [
                {"name": "value", "type": "long"},
                {"name": "next", "type": ["null", "LongList"]}]}"#,
            {
                let mut b = [0u8, 2].repeat(1_000_000);
                b.extend([0, 0]);
                b
            },
        ),
        // `deep-list-N`: a list N nodes deep, decoded in a thread with a 2 MiB stack (tokio's
        // and the test harness' default), to measure how deep apache-avro can go.
        other if other.starts_with("deep-list-") => {
            let n: usize = other["deep-list-".len()..].parse().expect("a node count");
            let schema = Schema::parse_str(
                r#"{"type": "record", "name": "LongList", "fields": [
                    {"name": "value", "type": "long"},
                    {"name": "next", "type": ["null", "LongList"]}]}"#,
            )
            .expect("schema");
            let mut b = [0u8, 2].repeat(n - 1);
            b.extend([0, 0]);
            let ok = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let v =
                        apache_avro::from_avro_datum(&schema, &mut &b[..], None).expect("decodes");
                    let v = v.resolve(&schema).expect("resolves");
                    drop(v);
                })
                .expect("thread")
                .join()
                .is_ok();
            println!("{n} nodes: {}", if ok { "ok" } else { "panicked" });
            return;
        }
        other => {
            eprintln!("unknown mode `{other}`");
            std::process::exit(2);
        }
    };
    let schema = Schema::parse_str(schema).expect("schema");
    let result = apache_avro::from_avro_datum(&schema, &mut &bytes[..], None);
    println!(
        "apache-avro returned: {}",
        match &result {
            Ok(_) => "Ok".to_owned(),
            Err(e) => format!("Err({e})"),
        }
    );
}
