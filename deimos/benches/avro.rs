//! The typed Avro hot path (DESIGN.md §5): encode and decode one message through
//!
//! - `deimos_typed`: the default typed path since it was chosen by these numbers:
//!   [`Codec::encode_payload`] (serde straight to bytes with `serde_avro_fast`, no `Value`;
//!   `key_config(none)` so only the value is measured) and [`Codec::decode_incoming`] plus
//!   `Datum::deserialize_fast`, as a `#[consumer]` handler's payload is read.
//! - `deimos_typed_keyed`: `deimos_typed`'s encode with a field key (`key_config(field =
//!   "id")` for the widget, `"order_id"` for the order), as `publish` runs it: value and key
//!   both written by `serde_avro_fast`.
//! - `deimos_codec_keyed`: the same payload and key on the `Value` path
//!   (`encode_payload` with `want_value`, as the test backend runs it).
//! - `deimos_codec`: the `Value` path (the only one before). [`deimos::schema::to_avro_value`] then
//!   [`Codec::encode_value`] (our field-by-field `resolve`, then `apache_avro::to_avro_datum`
//!   through [`AvroLocal`]); decode [`Codec::decode_value`] (`from_avro_datum`) then
//!   [`deimos::schema::from_avro_value`] (`apache_avro::from_value`).
//! - `apache_avro_value`: the same steps on apache-avro alone (`to_value`, `Value::resolve`,
//!   `to_avro_datum`; `from_avro_datum`, `from_value`), without the `Codec` around them.
//! - `apache_avro_serde`: `apache_avro::write_avro_datum_ref`, serde straight to bytes. apache-avro
//!   0.21 has no serde deserializer over bytes (its `de` module reads a `Value`), so this path
//!   has no decode benchmark.
//! - `serde_avro_fast`: `to_datum` / `from_datum_slice` with its own schema, parsed from the same
//!   JSON.
//!
//! Payloads: the quickstart's `com.example.Widget` and `bench.Order`, 50 nested line items with
//! an optional field and a 5-entry map each.
//!
//! `guard/check_datum` times `deimos::schema::guard::check_datum` alone: the pre-pass that
//! `deimos_codec`'s decode runs before apache-avro.
//!
//! Before timing, `check` asserts that every path writes the same datum and that every decoder
//! reads each path's bytes back to an equal struct.
//!
//! ```text
//! cargo bench -p deimos --bench avro -- --warm-up-time 1 --measurement-time 3
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apache_avro::Schema;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use deimos::schema::{
    from_avro_value, to_avro_value, AvroLocal, Codec, Incoming, KeyConfig, SchemaRef,
};
use futures::executor::block_on;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `schemas/com/example/Widget.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    tags: Vec<String>,
    description: Option<String>,
    /// `timestamp-millis`.
    updated_at: i64,
}

const ORDER_SCHEMA: &str = r#"{
  "type": "record",
  "name": "Order",
  "namespace": "bench",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "long"},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "currency", "type": "string"},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "items", "type": {"type": "array", "items": {
      "type": "record",
      "name": "LineItem",
      "fields": [
        {"name": "sku", "type": "string"},
        {"name": "product_name", "type": "string"},
        {"name": "warehouse", "type": "string"},
        {"name": "quantity", "type": "long"},
        {"name": "line_no", "type": "long"},
        {"name": "unit_price", "type": "double"},
        {"name": "tax_rate", "type": "double"},
        {"name": "discount", "type": ["null", "double"], "default": null},
        {"name": "attributes", "type": {"type": "map", "values": "string"}}
      ]
    }}},
    {"name": "total", "type": "double"}
  ]
}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    order_id: String,
    customer_id: i64,
    created_at: i64,
    currency: String,
    note: Option<String>,
    items: Vec<LineItem>,
    total: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LineItem {
    sku: String,
    product_name: String,
    warehouse: String,
    quantity: i64,
    line_no: i64,
    unit_price: f64,
    tax_rate: f64,
    discount: Option<f64>,
    /// A `BTreeMap` so that the serde paths write the entries in one order.
    attributes: BTreeMap<String, String>,
}

fn widget() -> Widget {
    Widget {
        id: 4_200_017,
        name: "Left-handed sprocket, brushed steel".to_owned(),
        price: 19.99,
        tags: vec![
            "hardware".to_owned(),
            "sale".to_owned(),
            "eu-stock".to_owned(),
        ],
        description: Some("A sprocket for the discerning left-handed engineer.".to_owned()),
        updated_at: 1_767_225_600_123,
    }
}

fn order() -> Order {
    let items: Vec<LineItem> = (0..50_i64)
        .map(|i| LineItem {
            sku: format!("SKU-{:06}", 100_000 + i * 37),
            product_name: format!("Product number {i} in the spring catalogue"),
            warehouse: ["AMS-1", "FRA-2", "DUB-1"][(i % 3) as usize].to_owned(),
            quantity: 1 + i % 7,
            line_no: i + 1,
            unit_price: 3.25 + i as f64 * 1.5,
            tax_rate: 0.21,
            discount: (i % 4 == 0).then_some(0.1),
            attributes: [
                (
                    "colour",
                    ["red", "green", "blue"][(i % 3) as usize].to_owned(),
                ),
                ("size", format!("{}", 36 + i % 10)),
                ("material", "recycled polyester".to_owned()),
                ("gift_wrap", (i % 2 == 0).to_string()),
                ("promo", format!("SPRING{}", 2026 + i % 2)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        })
        .collect();
    let total = items
        .iter()
        .map(|it| it.unit_price * it.quantity as f64)
        .sum();
    Order {
        order_id: "ord-2026-000123456".to_owned(),
        customer_id: 987_654_321,
        created_at: 1_767_225_600_456,
        currency: "EUR".to_owned(),
        note: Some("Leave at the side door".to_owned()),
        items,
        total,
    }
}

/// One payload, its schema in both libraries' forms, and a codec that finds the schema.
struct Case<T> {
    name: &'static str,
    payload: T,
    /// The field key of the `_keyed` paths.
    key: KeyConfig,
    schema_ref: SchemaRef,
    apache: Arc<Schema>,
    fast: serde_avro_fast::Schema,
    codec: Codec,
}

impl<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static> Case<T> {
    /// `root` is an `avro_local` schema tree holding `full_name`; `key_field` is the field
    /// key of the `_keyed` paths.
    fn new(
        name: &'static str,
        payload: T,
        root: &Path,
        full_name: &str,
        key_field: &'static str,
    ) -> Self {
        let schema_ref = SchemaRef::parse(full_name);
        let local = AvroLocal::new(root);
        let apache = local.load(&schema_ref).expect("schema loads");
        let json = std::fs::read_to_string(local.path_of(&schema_ref)).expect("read .avsc");
        let fast = json
            .parse::<serde_avro_fast::Schema>()
            .expect("serde_avro_fast parses the schema");
        Case {
            name,
            payload,
            key: KeyConfig::Field(key_field.into()),
            schema_ref,
            apache,
            fast,
            codec: Codec::new(Arc::new(local)),
        }
    }

    fn encode_deimos_codec(&self) -> Vec<u8> {
        let value = to_avro_value(&self.payload).expect("to_avro_value");
        let (_, bytes) = block_on(self.codec.encode_value("bench", &self.schema_ref, value))
            .expect("Codec::encode_value");
        bytes
    }

    fn decode_deimos_codec(&self, bytes: &[u8]) -> T {
        let value = block_on(self.codec.decode_value(
            &self.schema_ref,
            Some(bytes),
            ("bench", 0, 0),
        ))
        .expect("Codec::decode_value")
        .expect("not a tombstone");
        from_avro_value(&value).expect("from_avro_value")
    }

    fn encode_deimos_typed(&self) -> Vec<u8> {
        block_on(self.codec.encode_payload(
            "bench",
            &self.schema_ref,
            &KeyConfig::None,
            &self.payload,
            None,
            false,
        ))
        .expect("Codec::encode_payload")
        .payload
        .to_vec()
    }

    /// The value and key bytes of `encode_payload` with the field key, on the fast path or
    /// (`want_value`) the `Value` path.
    fn encode_keyed(&self, want_value: bool) -> (Vec<u8>, Vec<u8>) {
        let encoded = block_on(self.codec.encode_payload(
            "bench",
            &self.schema_ref,
            &self.key,
            &self.payload,
            None,
            want_value,
        ))
        .expect("Codec::encode_payload");
        assert_eq!(encoded.value.is_some(), want_value, "the path asked for");
        (
            encoded.payload.to_vec(),
            encoded.key.expect("a field key").1.to_vec(),
        )
    }

    fn decode_deimos_typed(&self, bytes: &[u8]) -> T {
        let incoming = block_on(self.codec.decode_incoming(
            &self.schema_ref,
            Some(bytes),
            ("bench", 0, 0),
        ))
        .expect("Codec::decode_incoming");
        let Incoming::Datum(datum) = incoming else {
            panic!("avro_local gives typed handlers the datum")
        };
        datum.deserialize_fast().expect("Datum::deserialize_fast")
    }

    fn encode_apache_value(&self) -> Vec<u8> {
        let value = apache_avro::to_value(&self.payload).expect("to_value");
        let value = value.resolve(&self.apache).expect("resolve");
        apache_avro::to_avro_datum(&self.apache, value).expect("to_avro_datum")
    }

    fn decode_apache_value(&self, mut bytes: &[u8]) -> T {
        let value =
            apache_avro::from_avro_datum(&self.apache, &mut bytes, None).expect("from_avro_datum");
        assert!(bytes.is_empty(), "trailing bytes");
        apache_avro::from_value(&value).expect("from_value")
    }

    fn encode_apache_serde(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        apache_avro::write_avro_datum_ref(&self.apache, &self.payload, &mut buf)
            .expect("write_avro_datum_ref");
        buf
    }

    fn encode_fast(&self, config: &mut serde_avro_fast::ser::SerializerConfig<'_>) -> Vec<u8> {
        serde_avro_fast::to_datum(&self.payload, Vec::new(), config).expect("to_datum")
    }

    fn decode_fast(&self, bytes: &[u8]) -> T {
        serde_avro_fast::from_datum_slice(bytes, &self.fast).expect("from_datum_slice")
    }

    /// Panics unless every encoder writes the same datum and every decoder reads every encoder's
    /// bytes back to the payload.
    ///
    /// Bytes are compared exactly, except that the `Value` paths write a map's entries in
    /// `HashMap` order (apache-avro's `Value::Map`), which varies from run to run; for a payload
    /// with maps their bytes are compared as decoded `Value`s (entry order ignored) and length.
    fn check(&self) {
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&self.fast);
        let reference = self.encode_fast(&mut config);
        let encoded = [
            ("deimos_codec", self.encode_deimos_codec()),
            ("deimos_typed", self.encode_deimos_typed()),
            ("apache_avro_value", self.encode_apache_value()),
            ("apache_avro_serde", self.encode_apache_serde()),
            ("serde_avro_fast", reference.clone()),
        ];
        let as_value = |mut b: &[u8]| {
            apache_avro::from_avro_datum(&self.apache, &mut b, None).expect("from_avro_datum")
        };
        for (path, bytes) in &encoded {
            if bytes != &reference {
                let maps_only = path.contains("value") || *path == "deimos_codec";
                assert!(
                    maps_only
                        && bytes.len() == reference.len()
                        && as_value(bytes) == as_value(&reference),
                    "{}: {path} wrote other bytes than serde_avro_fast\n{bytes:?}\n{reference:?}",
                    self.name,
                );
                eprintln!(
                    "{}: {path} differs from serde_avro_fast only in map entry order",
                    self.name
                );
            }
            for (decoder, decoded) in [
                ("deimos_codec", self.decode_deimos_codec(bytes)),
                ("deimos_typed", self.decode_deimos_typed(bytes)),
                ("apache_avro_value", self.decode_apache_value(bytes)),
                ("serde_avro_fast", self.decode_fast(bytes)),
            ] {
                assert_eq!(
                    decoded, self.payload,
                    "{}: {decoder} misread {path}'s bytes",
                    self.name
                );
            }
        }
        let (fast_value, fast_key) = self.encode_keyed(false);
        let (slow_value, slow_key) = self.encode_keyed(true);
        assert_eq!(fast_value, reference, "{}: keyed value bytes", self.name);
        assert_eq!(
            as_value(&slow_value),
            as_value(&reference),
            "{}: keyed Value path",
            self.name
        );
        assert_eq!(
            fast_key, slow_key,
            "{}: both paths write the same key",
            self.name
        );
        eprintln!(
            "{}: all paths agree; datum is {} bytes, key {} bytes",
            self.name,
            reference.len(),
            fast_key.len()
        );
    }

    fn bench(&self, c: &mut Criterion) {
        self.check();
        let bytes = self.encode_fast(&mut serde_avro_fast::ser::SerializerConfig::new(&self.fast));
        let mut group = c.benchmark_group(self.name);
        group.throughput(Throughput::Elements(1));
        let encode = |path: &str| BenchmarkId::new("encode", path);
        let decode = |path: &str| BenchmarkId::new("decode", path);

        group.bench_function(encode("deimos_codec"), |b| {
            b.iter(|| black_box(self.encode_deimos_codec()))
        });
        group.bench_function(encode("deimos_typed"), |b| {
            b.iter(|| black_box(self.encode_deimos_typed()))
        });
        group.bench_function(encode("deimos_typed_keyed"), |b| {
            b.iter(|| black_box(self.encode_keyed(false)))
        });
        group.bench_function(encode("deimos_codec_keyed"), |b| {
            b.iter(|| black_box(self.encode_keyed(true)))
        });
        group.bench_function(encode("apache_avro_value"), |b| {
            b.iter(|| black_box(self.encode_apache_value()))
        });
        group.bench_function(encode("apache_avro_serde"), |b| {
            b.iter(|| black_box(self.encode_apache_serde()))
        });
        group.bench_function(encode("serde_avro_fast"), |b| {
            // The config caches schema lookups; a producer would keep one per schema.
            let mut config = serde_avro_fast::ser::SerializerConfig::new(&self.fast);
            b.iter(|| black_box(self.encode_fast(&mut config)))
        });

        group.bench_function(decode("deimos_codec"), |b| {
            b.iter(|| black_box(self.decode_deimos_codec(black_box(&bytes))))
        });
        group.bench_function(decode("deimos_typed"), |b| {
            b.iter(|| black_box(self.decode_deimos_typed(black_box(&bytes))))
        });
        group.bench_function(decode("apache_avro_value"), |b| {
            b.iter(|| black_box(self.decode_apache_value(black_box(&bytes))))
        });
        group.bench_function(decode("serde_avro_fast"), |b| {
            b.iter(|| black_box(self.decode_fast(black_box(&bytes))))
        });
        // The hostile-input guard alone (part of `deimos_codec`'s decode).
        group.bench_function(BenchmarkId::new("guard", "check_datum"), |b| {
            b.iter(|| {
                black_box(deimos::schema::guard::check_datum(
                    &self.apache,
                    black_box(&bytes),
                ))
            })
        });
        group.finish();
    }
}

fn schemas_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn avro(c: &mut Criterion) {
    Case::new(
        "widget",
        widget(),
        &schemas_root(),
        "com.example.Widget",
        "id",
    )
    .bench(c);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("bench")).expect("mkdir");
    std::fs::write(dir.path().join("bench/Order.avsc"), ORDER_SCHEMA).expect("write .avsc");
    Case::new("order", order(), dir.path(), "bench.Order", "order_id").bench(c);
}

criterion_group!(benches, avro);
criterion_main!(benches);
