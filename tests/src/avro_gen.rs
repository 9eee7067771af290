//! Random valid Avro values for any parsed schema, and round trips through every schema backend.
//!
//! [`ValueGen`] is a small seeded generator (SplitMix64, so a failing seed reproduces):
//! primitives with their edge values, every logical type apache-avro 0.21 models, records,
//! enums, arrays, maps, unions, fixed, and named references with recursion bounded by
//! [`ValueGen::max_depth`] (past it, unions take a branch that ends the recursion and arrays
//! and maps are empty).
//!
//! [`SchemaTree`] lays schemas out as `AvroLocal` expects (`<root>/<namespace dirs>/<Name>.avsc`)
//! and [`SchemaTree::codecs`] builds one [`Codec`] per entry of [`BACKENDS`] through
//! `deimos::schema::backend_from_config`; [`roundtrip_value`] and [`roundtrip_keys`] encode and
//! decode through them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use apache_avro::schema::{Name, Schema};
use apache_avro::types::Value;
use deimos::config::{SchemaBackendKind, SchemaConfig};
use deimos::schema::{Codec, KeyConfig, SchemaRef};

/// The schema backends every round trip goes through. Adding a backend is one line here.
pub const BACKENDS: &[SchemaBackendKind] = &[
    SchemaBackendKind::AvroLocal,
    SchemaBackendKind::AvroSchemaRegistry,
    SchemaBackendKind::AvroValidation,
    SchemaBackendKind::Mock,
];

/// The in-process Confluent-REST registry the round trips' `avro_schema_registry` codecs
/// talk to over loopback HTTP: one per test process, on its own thread and runtime (tests'
/// runtimes come and go), with compatibility `NONE` because round trips register unrelated
/// schemas under shared subjects.
///
/// # Panics
/// When the server cannot start or be configured.
pub fn registry_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("registry runtime");
            runtime.block_on(async move {
                let server = deimos::testing::SchemaRegistryServer::start()
                    .await
                    .expect("registry server");
                let answer = reqwest::Client::new()
                    .put(format!("{}/config", server.url()))
                    .json(&serde_json::json!({"compatibility": "NONE"}))
                    .send()
                    .await
                    .expect("PUT /config");
                assert!(answer.status().is_success(), "PUT /config: {answer:?}");
                tx.send(server.url()).expect("send url");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("registry thread")
    })
}

/// Seeded generator of valid values for a schema.
#[derive(Debug, Clone)]
pub struct ValueGen {
    state: u64,
    /// Nesting depth (records, arrays, maps, unions, references) after which the generator
    /// steers towards values that end the recursion. Default 6.
    pub max_depth: usize,
}

/// Named types by full name (`namespace.name`, or `name` in the null namespace).
type Names<'a> = HashMap<String, &'a Schema>;

fn fullname(name: &Name, enclosing: Option<&str>) -> String {
    match name
        .namespace
        .as_deref()
        .or(enclosing.filter(|n| !n.is_empty()))
    {
        Some(ns) => format!("{ns}.{}", name.name),
        None => name.name.clone(),
    }
}

fn namespace_of(name: &Name, enclosing: Option<&str>) -> Option<String> {
    name.namespace
        .clone()
        .or_else(|| enclosing.filter(|n| !n.is_empty()).map(str::to_owned))
}

fn collect<'a>(schema: &'a Schema, enclosing: Option<&str>, names: &mut Names<'a>) {
    match schema {
        Schema::Record(r) if names.insert(fullname(&r.name, enclosing), schema).is_none() => {
            let ns = namespace_of(&r.name, enclosing);
            for f in &r.fields {
                collect(&f.schema, ns.as_deref(), names);
            }
        }
        Schema::Enum(e) => {
            names.insert(fullname(&e.name, enclosing), schema);
        }
        Schema::Fixed(x) => {
            names.insert(fullname(&x.name, enclosing), schema);
        }
        Schema::Decimal(d) => collect(&d.inner, enclosing, names),
        Schema::Array(a) => collect(&a.items, enclosing, names),
        Schema::Map(m) => collect(&m.types, enclosing, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect(v, enclosing, names);
            }
        }
        _ => {}
    }
}

impl ValueGen {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        ValueGen {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            max_depth: 6,
        }
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    fn long(&mut self) -> i64 {
        match self.below(4) {
            0 => self.pick(&[0, 1, -1, i64::MIN, i64::MAX, 63, -64, 64]),
            1 => (self.next_u64() as i64) >> self.below(63),
            _ => self.below(2000) as i64 - 1000,
        }
    }

    fn int(&mut self) -> i32 {
        match self.below(4) {
            0 => self.pick(&[0, 1, -1, i32::MIN, i32::MAX]),
            1 => (self.next_u64() as i32) >> self.below(31),
            _ => self.below(2000) as i32 - 1000,
        }
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", " ", "é", "ß", "日本", "🦀", "\u{0}", "\"", "\\", "\n",
        ];
        let len = self.pick(&[0, 1, 3, 8, 20]);
        (0..len).map(|_| self.pick(PIECES)).collect()
    }

    fn len(&mut self, depth: usize) -> usize {
        if depth >= self.max_depth {
            0
        } else {
            self.pick(&[0, 1, 2, 3, 5])
        }
    }

    /// A random value valid for `schema` (a complete schema: named references resolve within
    /// it).
    pub fn value(&mut self, schema: &Schema) -> Value {
        let mut names = Names::new();
        collect(schema, None, &mut names);
        self.gen(schema, None, &names, 0)
    }

    fn gen(&mut self, schema: &Schema, ns: Option<&str>, names: &Names<'_>, depth: usize) -> Value {
        match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Boolean(self.below(2) == 1),
            Schema::Int => Value::Int(self.int()),
            Schema::Long => Value::Long(self.long()),
            Schema::Float => {
                Value::Float(self.pick(&[0.0, -0.0, 1.5, -3.25, f32::MAX, f32::MIN_POSITIVE]))
            }
            Schema::Double => Value::Double(self.pick(&[0.0, 2.5, -1e300, f64::MAX, f64::EPSILON])),
            Schema::Bytes => {
                let len = self.pick(&[0, 1, 7, 33]);
                Value::Bytes(self.bytes(len))
            }
            Schema::String => Value::String(self.string()),
            Schema::Uuid => {
                Value::Uuid(uuid::Uuid::from_u64_pair(self.next_u64(), self.next_u64()))
            }
            Schema::Date => Value::Date(self.int()),
            Schema::TimeMillis => Value::TimeMillis(self.below(86_400_000) as i32),
            Schema::TimeMicros => Value::TimeMicros(self.below(86_400_000_000) as i64),
            Schema::TimestampMillis => Value::TimestampMillis(self.long()),
            Schema::TimestampMicros => Value::TimestampMicros(self.long()),
            Schema::TimestampNanos => Value::TimestampNanos(self.long()),
            Schema::LocalTimestampMillis => Value::LocalTimestampMillis(self.long()),
            Schema::LocalTimestampMicros => Value::LocalTimestampMicros(self.long()),
            Schema::LocalTimestampNanos => Value::LocalTimestampNanos(self.long()),
            Schema::Duration => {
                let mut b = [0u8; 12];
                b.copy_from_slice(&self.bytes(12));
                Value::Duration(apache_avro::Duration::from(b))
            }
            Schema::BigDecimal => {
                let text = format!("{}.{}", self.int(), self.below(100_000));
                Value::BigDecimal(text.parse().expect("a decimal literal"))
            }
            Schema::Decimal(d) => {
                // apache-avro 0.21 only resolves a decimal whose byte length can hold
                // `precision` digits (see `apache_avro_rejects_short_decimals` in
                // schema_spec_examples.rs), so use that length (or the fixed size).
                let len = match d.inner.as_ref() {
                    Schema::Fixed(f) => f.size,
                    _ => (1..=64)
                        .find(|&n: &usize| {
                            ((2f64.powi(8 * n as i32 - 1) - 1.0).log10().floor() as usize)
                                >= d.precision
                        })
                        .unwrap_or(64),
                };
                let mut digits = self.bytes(len);
                // Keep the value within the precision: small magnitude, sign-extended.
                let small = (self.below(20_000) as i64 - 10_000).to_be_bytes();
                for (i, b) in digits.iter_mut().enumerate() {
                    let from_end = len - 1 - i;
                    *b = if from_end < 2 {
                        small[7 - from_end]
                    } else if small[0] & 0x80 != 0 {
                        0xff
                    } else {
                        0
                    };
                }
                Value::Decimal(apache_avro::Decimal::from(digits))
            }
            Schema::Fixed(f) => Value::Fixed(f.size, self.bytes(f.size)),
            Schema::Enum(e) => {
                let i = self.below(e.symbols.len() as u64) as usize;
                Value::Enum(i as u32, e.symbols[i].clone())
            }
            Schema::Array(a) => {
                let n = self.len(depth);
                Value::Array(
                    (0..n)
                        .map(|_| self.gen(&a.items, ns, names, depth + 1))
                        .collect(),
                )
            }
            Schema::Map(m) => {
                let n = self.len(depth);
                Value::Map(
                    (0..n)
                        .map(|i| {
                            (
                                format!("{i}{}", self.string()),
                                self.gen(&m.types, ns, names, depth + 1),
                            )
                        })
                        .collect(),
                )
            }
            Schema::Union(u) => {
                let variants = u.variants();
                let i = if depth >= self.max_depth {
                    terminal_branch(variants)
                } else {
                    self.below(variants.len() as u64) as usize
                };
                Value::Union(
                    i as u32,
                    Box::new(self.gen(&variants[i], ns, names, depth + 1)),
                )
            }
            Schema::Record(r) => {
                let inner = namespace_of(&r.name, ns);
                Value::Record(
                    r.fields
                        .iter()
                        .map(|f| {
                            (
                                f.name.clone(),
                                self.gen(&f.schema, inner.as_deref(), names, depth + 1),
                            )
                        })
                        .collect(),
                )
            }
            Schema::Ref { name } => {
                let target = names
                    .get(&fullname(name, ns))
                    .or_else(|| names.get(&name.name))
                    .unwrap_or_else(|| {
                        panic!("reference to `{name}`, which the schema does not define")
                    });
                let inner = namespace_of(name, ns);
                self.gen(target, inner.as_deref(), names, depth + 1)
            }
        }
    }
}

/// The union branch that ends a recursion soonest: `null`, else a primitive, else an array or
/// map (generated empty), else the first.
fn terminal_branch(variants: &[Schema]) -> usize {
    let rank = |s: &Schema| match s {
        Schema::Null => 0,
        Schema::Record(_) | Schema::Ref { .. } | Schema::Union(_) => 3,
        Schema::Array(_) | Schema::Map(_) => 2,
        _ => 1,
    };
    (0..variants.len())
        .min_by_key(|&i| rank(&variants[i]))
        .unwrap_or(0)
}

/// A temporary `AvroLocal` schema tree.
#[derive(Debug)]
pub struct SchemaTree {
    dir: tempfile::TempDir,
}

impl Default for SchemaTree {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaTree {
    /// An empty tree in a fresh temporary directory.
    pub fn new() -> Self {
        SchemaTree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The tree's root (`schema.path`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `json` (which parses to `schema`) where `AvroLocal` looks for it: named schemas
    /// at `<namespace dirs>/<Name>.avsc`, unnamed ones (arrays, unions, primitives) as
    /// `<fallback>.avsc` at the root. Returns the reference to load it by.
    pub fn add(&self, schema: &Schema, json: &str, fallback: &str) -> SchemaRef {
        let schema_ref = match schema.name() {
            Some(name) => SchemaRef::parse(&name.fullname(None)),
            None => SchemaRef::parse(fallback),
        };
        let path = self.path_of(&schema_ref);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create schema dir");
        std::fs::write(&path, json).expect("write schema");
        schema_ref
    }

    fn path_of(&self, schema: &SchemaRef) -> PathBuf {
        let mut path = self.root().to_path_buf();
        if let Some(ns) = &schema.namespace {
            path.extend(ns.split('.').filter(|s| !s.is_empty()));
        }
        path.join(format!("{}.avsc", schema.name))
    }

    /// One codec per entry of [`BACKENDS`], over this tree.
    pub fn codecs(&self) -> Vec<(SchemaBackendKind, Codec)> {
        codecs_at(self.root())
    }
}

/// One codec per entry of [`BACKENDS`], over the `AvroLocal`-style schema tree at `root`.
///
/// # Panics
/// When a backend cannot be built from the config.
pub fn codecs_at(root: &Path) -> Vec<(SchemaBackendKind, Codec)> {
    BACKENDS
        .iter()
        .map(|&kind| {
            let mut config = SchemaConfig::default();
            config.backend = kind;
            config.path = root.to_path_buf();
            if kind == SchemaBackendKind::AvroSchemaRegistry {
                config.registry_url = registry_url().to_owned();
            }
            let backend = deimos::schema::backend_from_config(&config)
                .unwrap_or_else(|e| panic!("backend {kind:?}: {e}"));
            (kind, Codec::new(backend))
        })
        .collect()
}

/// Where decoded messages come from, for error messages.
const AT: (&str, i32, i64) = ("roundtrip", 0, 0);

/// Encodes `value` with `codec` as a message value of `schema` and decodes it back; `Ok` when
/// the decoded value equals the resolved one the encoder reports (the input itself is not
/// compared: resolution may legitimately change its form, e.g. wrap a union branch).
///
/// # Errors
/// What went wrong, with the backend's error chain.
pub async fn roundtrip_value(
    codec: &Codec,
    schema: &SchemaRef,
    value: Value,
) -> Result<usize, String> {
    let (resolved, bytes) = codec
        .encode_value("roundtrip", schema, value.clone())
        .await
        .map_err(|e| format!("encode: {}", chain(&e)))?;
    let decoded = codec
        .decode_value(schema, Some(&bytes), AT)
        .await
        .map_err(|e| format!("decode of {bytes:?}: {}", chain(&e)))?
        .ok_or("decoded a tombstone")?;
    if decoded != resolved {
        return Err(format!(
            "decoded value differs\n  sent:     {value:?}\n  resolved: {resolved:?}\n  decoded:  {decoded:?}"
        ));
    }
    Ok(bytes.len())
}

/// For a record `value` of `schema`: the key round trip with `key_config(field = <each
/// field>)` and with `key_config(schema = <the record itself>)`.
///
/// # Errors
/// What went wrong.
pub async fn roundtrip_keys(
    codec: &Codec,
    schema: &SchemaRef,
    value: &Value,
) -> Result<(), String> {
    let Value::Record(fields) = value else {
        return Ok(());
    };
    for (name, field) in fields {
        let config = KeyConfig::Field(name.clone().into());
        let (decoded_form, bytes) = codec
            .encode_key("roundtrip", schema, &config, field.clone())
            .await
            .map_err(|e| format!("encode key field `{name}`: {}", chain(&e)))?;
        let back = codec
            .decode_key(schema, &config, Some(&bytes), AT)
            .await
            .map_err(|e| format!("decode key field `{name}`: {}", chain(&e)))?;
        if back.as_ref() != Some(&decoded_form) {
            return Err(format!(
                "key field `{name}`: sent {decoded_form:?}, got {back:?}"
            ));
        }
    }
    let config = KeyConfig::Schema(schema.name.clone());
    let (resolved, bytes) = codec
        .encode_key("roundtrip", schema, &config, value.clone())
        .await
        .map_err(|e| format!("encode record key: {}", chain(&e)))?;
    let back = codec
        .decode_key(schema, &config, Some(&bytes), AT)
        .await
        .map_err(|e| format!("decode record key: {}", chain(&e)))?;
    if back.as_ref() != Some(&resolved) {
        return Err(format!("record key: sent {resolved:?}, got {back:?}"));
    }
    Ok(())
}

/// An error and its sources, joined with `: `.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
