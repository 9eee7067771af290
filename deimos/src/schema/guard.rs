//! A pre-pass over untrusted Avro binary datums, before apache-avro decodes them.
//!
//! apache-avro 0.21's `from_avro_datum` trusts what the bytes declare:
//!
//! - an array or map block count `n` becomes `Vec::reserve(n)` / `HashMap::reserve(n)` for any
//!   `n` up to `apache_avro::util::max_allocation_bytes` (512 MiB by default), that is up to
//!   512 Mi × `size_of::<Value>()` bytes, tens of GB, from a 10-byte message: the allocation
//!   fails and the process **aborts** (not a panic, so nothing can catch it);
//! - a string, bytes or `big-decimal` length allocates that many bytes before reading them;
//! - items that take no bytes on the wire (`null`, empty records) can be declared by the
//!   hundred million and are all materialised;
//! - recursive schemas (`LongList`, trees) recurse once per nesting level with no limit, so a
//!   long enough message overflows the stack (an abort too), and so does dropping the value;
//! - a truncated string, boolean or union decodes as `null` instead of failing.
//!
//! [`check_datum`] walks the schema over the bytes without allocating (except to build the
//! error, and once per datum a name table when the schema has named references) and rejects
//! all of these with the byte offset and the field path. [`decode_datum`] is the guard plus
//! apache-avro's decode: every backend that reads Avro binary decodes through it.
//!
//! Why not `apache_avro::util::max_allocation_bytes`: it is a process-wide, set-once global
//! (whoever calls it first wins, possibly the application for its own use of apache-avro), and
//! it bounds a single length, not `count × size_of::<Value>()` nor items of zero encoded size.
//! The guard bounds every length by the bytes actually present, which is stricter, so deimos
//! leaves the global alone.

use std::collections::HashMap;
use std::fmt;

use apache_avro::schema::Name;
use apache_avro::types::Value;
use apache_avro::Schema;

use crate::error::BoxError;

/// Limits [`check_datum_with`] enforces beyond "every declared length fits in the bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Maximum nesting of complex values (records, arrays, maps, unions, named references),
    /// counted from the datum's root (depth 1). Default 64: apache-avro recurses once per level
    /// when it decodes, resolves, converts (serde) and drops a value, and its frames are large
    /// in debug builds: a debug build decoding and resolving a recursive `LongList` overflowed a
    /// 2 MiB thread stack (tokio's and the test harness' default) between 78 and 90 levels
    /// (26 and 30 nodes; `avro_unguarded deep-list-N` in the tests package measures it).
    pub max_depth: usize,
    /// Maximum number of array items whose schema can take zero bytes on the wire (`null`,
    /// empty records, records of such), summed over the whole datum. Other items are bounded
    /// by the bytes that remain. Default 65 536.
    pub max_zero_size_items: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: 64,
            max_zero_size_items: 1 << 16,
        }
    }
}

impl DecodeLimits {
    /// The defaults with another depth limit.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// The defaults with another cap on items of zero encoded size.
    pub fn with_max_zero_size_items(mut self, max: u64) -> Self {
        self.max_zero_size_items = max;
        self
    }
}

/// Why [`check_datum`] rejected a datum: what, at which byte (0-based offset into the datum)
/// and where in the value (`$` is the root; `.field`, `[index]` for array items, `["key"]` for
/// map values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatumError {
    offset: usize,
    path: String,
    reason: String,
}

impl DatumError {
    /// Byte offset (into the datum) of the value that is wrong.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Where in the value: `$.items[3].sku`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, e.g. `string length 1000000 exceeds the 12 bytes that remain`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DatumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Avro datum at byte {} (`{}`): {}",
            self.offset, self.path, self.reason
        )
    }
}

impl std::error::Error for DatumError {}

/// Checks that `bytes` start with a well-formed Avro binary datum of `schema` that apache-avro
/// can decode without allocating more than a small multiple of `bytes.len()` or recursing
/// deeper than [`DecodeLimits::max_depth`]; returns the datum's length in bytes (trailing bytes
/// are the caller's business). Uses [`DecodeLimits::default`].
///
/// Checked: every varint (at most 10 bytes, no bits past 64; `int`s in `i32` range), string
/// and bytes lengths (non-negative, within the remaining bytes; a `big-decimal`'s inner
/// length too), fixed and duration sizes, booleans (0 or 1), enum and union indexes (in
/// range), array and map block counts (non-negative count or block byte size, `count × the
/// item's minimum encoded size` within the remaining bytes, items of zero size capped), and
/// the nesting depth. Not checked (apache-avro reports them): UTF-8 in strings, UUID syntax.
///
/// # Errors
/// [`DatumError`] for the first problem found.
pub fn check_datum(schema: &Schema, bytes: &[u8]) -> Result<usize, DatumError> {
    check_datum_with(schema, bytes, DecodeLimits::default())
}

/// As [`check_datum`] with explicit limits.
///
/// # Errors
/// As [`check_datum`].
pub fn check_datum_with(
    schema: &Schema,
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<usize, DatumError> {
    let mut walker = Walker {
        bytes,
        pos: 0,
        max_depth: limits.max_depth,
        zero_size_budget: limits.max_zero_size_items,
        root: schema,
        names: None,
    };
    match walker.walk(schema, None, 1) {
        Ok(()) => Ok(walker.pos),
        Err(fail) => Err(fail.into_error()),
    }
}

/// Decodes an untrusted Avro binary datum: [`check_datum`], then apache-avro's
/// `from_avro_datum` with `writer` (resolved to `reader` when given: Avro "Schema
/// Resolution"). The datum must use every byte.
///
/// # Errors
/// The [`DatumError`] from the guard, `N trailing bytes after the Avro datum`, or
/// apache-avro's decode or resolution error.
pub fn decode_datum(
    writer: &Schema,
    reader: Option<&Schema>,
    bytes: &[u8],
) -> Result<Value, BoxError> {
    let len = check_datum(writer, bytes)?;
    if len != bytes.len() {
        return Err(format!("{} trailing bytes after the Avro datum", bytes.len() - len).into());
    }
    let mut input = bytes;
    Ok(apache_avro::from_avro_datum(writer, &mut input, reader)?)
}

/// Named types by (namespace or `""`, name).
type Names<'a> = HashMap<(&'a str, &'a str), &'a Schema>;

struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
    zero_size_budget: u64,
    root: &'a Schema,
    /// Built on the first named reference.
    names: Option<Names<'a>>,
}

/// One step of the path, innermost first while the error unwinds.
enum Segment<'a> {
    Field(&'a str),
    Index(u64),
    Key(String),
}

struct Fail<'a> {
    offset: usize,
    reason: String,
    path: Vec<Segment<'a>>,
}

impl Fail<'_> {
    fn into_error(self) -> DatumError {
        use fmt::Write as _;
        let mut path = String::from("$");
        for seg in self.path.iter().rev() {
            let _ = match seg {
                Segment::Field(name) => write!(path, ".{name}"),
                Segment::Index(i) => write!(path, "[{i}]"),
                Segment::Key(k) => write!(path, "[{k:?}]"),
            };
        }
        DatumError {
            offset: self.offset,
            path,
            reason: self.reason,
        }
    }
}

type Step<'a> = Result<(), Box<Fail<'a>>>;

fn fail<'a>(offset: usize, reason: String) -> Box<Fail<'a>> {
    Box::new(Fail {
        offset,
        reason,
        path: Vec::new(),
    })
}

fn at<'a>(segment: Segment<'a>) -> impl FnOnce(Box<Fail<'a>>) -> Box<Fail<'a>> {
    move |mut f| {
        f.path.push(segment);
        f
    }
}

/// The namespace a named type's children see (apache-avro's `fully_qualified_name`).
fn qualified<'a>(name: &'a Name, enclosing: Option<&'a str>) -> (&'a str, &'a str) {
    let ns = name
        .namespace
        .as_deref()
        .or(enclosing.filter(|ns| !ns.is_empty()))
        .unwrap_or("");
    (ns, name.name.as_str())
}

fn collect_names<'a>(schema: &'a Schema, enclosing: Option<&'a str>, names: &mut Names<'a>) {
    match schema {
        Schema::Record(r) => {
            let key = qualified(&r.name, enclosing);
            if names.insert(key, schema).is_none() {
                for f in &r.fields {
                    collect_names(&f.schema, Some(key.0), names);
                }
            }
        }
        Schema::Enum(e) => {
            names.insert(qualified(&e.name, enclosing), schema);
        }
        Schema::Fixed(x) => {
            names.insert(qualified(&x.name, enclosing), schema);
        }
        Schema::Decimal(d) => collect_names(&d.inner, enclosing, names),
        Schema::Array(a) => collect_names(&a.items, enclosing, names),
        Schema::Map(m) => collect_names(&m.types, enclosing, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, enclosing, names);
            }
        }
        _ => {}
    }
}

impl<'a> Walker<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn lookup(&mut self, name: &'a Name, enclosing: Option<&'a str>) -> Option<&'a Schema> {
        let root = self.root;
        let names = self.names.get_or_insert_with(|| {
            let mut names = HashMap::new();
            collect_names(root, None, &mut names);
            names
        });
        names.get(&qualified(name, enclosing)).copied()
    }

    fn take(&mut self, n: u64, what: &str) -> Step<'a> {
        let remaining = self.remaining();
        if n > remaining as u64 {
            return Err(fail(
                self.pos,
                format!("{what} needs {n} bytes but only {remaining} remain"),
            ));
        }
        self.pos += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, Box<Fail<'a>>> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(fail(start, "truncated variable-length integer".into()));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(fail(
                    start,
                    "variable-length integer overflows 64 bits".into(),
                ));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        unreachable!("the tenth byte either ends the varint or is rejected")
    }

    fn long(&mut self) -> Result<i64, Box<Fail<'a>>> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn int(&mut self) -> Result<i32, Box<Fail<'a>>> {
        let start = self.pos;
        let v = self.long()?;
        i32::try_from(v).map_err(|_| fail(start, format!("int {v} is out of the 32-bit range")))
    }

    /// A length-prefixed byte string; returns (start, len) of its contents.
    fn length_prefixed(&mut self, what: &str) -> Result<(usize, usize), Box<Fail<'a>>> {
        let start = self.pos;
        let len = self.long()?;
        let Ok(len) = u64::try_from(len) else {
            return Err(fail(start, format!("negative {what} length {len}")));
        };
        let remaining = self.remaining();
        if len > remaining as u64 {
            return Err(fail(
                start,
                format!("{what} length {len} exceeds the {remaining} bytes that remain"),
            ));
        }
        let contents = self.pos;
        self.pos += len as usize;
        Ok((contents, len as usize))
    }

    fn deeper(&self, depth: usize) -> Step<'a> {
        if depth > self.max_depth {
            Err(fail(
                self.pos,
                format!("nesting deeper than {} levels", self.max_depth),
            ))
        } else {
            Ok(())
        }
    }

    /// A lower bound of the encoded size of a value of `schema`, in bytes.
    fn min_size(&mut self, schema: &'a Schema, ns: Option<&'a str>, depth: usize) -> u64 {
        match schema {
            Schema::Null => 0,
            Schema::Float => 4,
            Schema::Double => 8,
            Schema::Duration => 12,
            Schema::Fixed(f) => f.size as u64,
            Schema::Decimal(d) => self.min_size(&d.inner, ns, depth),
            Schema::Record(r) => {
                let inner = qualified(&r.name, ns).0;
                let mut sum = 0u64;
                for f in &r.fields {
                    sum = sum.saturating_add(self.min_size(&f.schema, Some(inner), depth + 1));
                }
                sum
            }
            // A record can only contain itself through a union, array or map (1 byte at
            // least), so a few levels of references are enough for a useful bound.
            Schema::Ref { name } if depth < 8 => match self.lookup(name, ns) {
                Some(target) => self.min_size(target, ns, depth + 1),
                None => 0,
            },
            Schema::Ref { .. } => 0,
            // Every other type starts with at least one byte: a varint, a length, a block
            // count, a union index or a boolean.
            _ => 1,
        }
    }

    fn walk(&mut self, schema: &'a Schema, ns: Option<&'a str>, depth: usize) -> Step<'a> {
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => {
                let start = self.pos;
                match self.bytes.get(start) {
                    Some(0 | 1) => {
                        self.pos += 1;
                        Ok(())
                    }
                    Some(b) => Err(fail(start, format!("boolean byte {b} is neither 0 nor 1"))),
                    None => Err(fail(start, "truncated boolean".into())),
                }
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => self.int().map(drop),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.long().map(drop),
            Schema::Float => self.take(4, "float"),
            Schema::Double => self.take(8, "double"),
            Schema::Duration => self.take(12, "duration"),
            Schema::Fixed(f) => self.take(f.size as u64, "fixed"),
            Schema::Bytes => self.length_prefixed("bytes").map(drop),
            Schema::String => self.length_prefixed("string").map(drop),
            Schema::Uuid => self.length_prefixed("uuid").map(drop),
            Schema::BigDecimal => {
                let (start, len) = self.length_prefixed("big-decimal")?;
                check_big_decimal(&self.bytes[start..start + len])
                    .map_err(|(offset, reason)| fail(start + offset, reason))
            }
            // An unscaled value of zero bytes is no two's-complement integer (Java's
            // `BigInteger` refuses it, and apache-avro cannot write it back).
            Schema::Decimal(d) if matches!(d.inner.as_ref(), Schema::Bytes) => {
                let start = self.pos;
                let (_, len) = self.length_prefixed("decimal")?;
                if len == 0 {
                    return Err(fail(start, "decimal of zero bytes".into()));
                }
                Ok(())
            }
            Schema::Decimal(d) => self.walk(&d.inner, ns, depth),
            Schema::Enum(e) => {
                let start = self.pos;
                let index = self.int()?;
                if usize::try_from(index).is_ok_and(|i| i < e.symbols.len()) {
                    Ok(())
                } else {
                    Err(fail(
                        start,
                        format!(
                            "enum index {index} is out of range (enum `{}` has {} symbols)",
                            e.name,
                            e.symbols.len()
                        ),
                    ))
                }
            }
            Schema::Union(u) => {
                self.deeper(depth)?;
                let start = self.pos;
                let index = self.long()?;
                let variants = u.variants();
                match usize::try_from(index).ok().and_then(|i| variants.get(i)) {
                    Some(variant) => self.walk(variant, ns, depth + 1),
                    None => Err(fail(
                        start,
                        format!(
                            "union index {index} is out of range (the union has {} branches)",
                            variants.len()
                        ),
                    )),
                }
            }
            Schema::Record(r) => {
                self.deeper(depth)?;
                let inner = qualified(&r.name, ns).0;
                for f in &r.fields {
                    self.walk(&f.schema, Some(inner), depth + 1)
                        .map_err(at(Segment::Field(&f.name)))?;
                }
                Ok(())
            }
            Schema::Ref { name } => {
                self.deeper(depth)?;
                match self.lookup(name, ns) {
                    Some(target) => self.walk(target, name.namespace.as_deref().or(ns), depth + 1),
                    None => Err(fail(
                        self.pos,
                        format!("the schema refers to `{name}`, which it does not define"),
                    )),
                }
            }
            Schema::Array(a) => {
                self.deeper(depth)?;
                let min = self.min_size(&a.items, ns, 0);
                let mut index = 0u64;
                while let Some(count) = self.block(min)? {
                    for _ in 0..count {
                        self.walk(&a.items, ns, depth + 1)
                            .map_err(at(Segment::Index(index)))?;
                        index += 1;
                    }
                }
                Ok(())
            }
            Schema::Map(m) => {
                self.deeper(depth)?;
                let min = self.min_size(&m.types, ns, 0).saturating_add(1);
                let bytes = self.bytes;
                while let Some(count) = self.block(min)? {
                    for _ in 0..count {
                        let (key, len) = self.length_prefixed("map key")?;
                        self.walk(&m.types, ns, depth + 1).map_err(|f| {
                            let key = String::from_utf8_lossy(&bytes[key..key + len]);
                            at(Segment::Key(key.into_owned()))(f)
                        })?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads one array or map block header; `None` at the end marker. Checks that `count`
    /// items of at least `min` bytes each fit in what remains (or, for `min == 0`, in the
    /// budget of zero-size items).
    fn block(&mut self, min: u64) -> Result<Option<u64>, Box<Fail<'a>>> {
        let start = self.pos;
        let raw = self.long()?;
        let count = match raw {
            0 => return Ok(None),
            1.. => raw as u64,
            i64::MIN => return Err(fail(start, format!("block count {raw} overflows"))),
            _ => {
                // A negative count is followed by the block's size in bytes.
                let size_at = self.pos;
                let size = self.long()?;
                if u64::try_from(size).map_or(true, |s| s > self.remaining() as u64) {
                    return Err(fail(
                        size_at,
                        format!(
                            "block size {size} is negative or exceeds the {} bytes that remain",
                            self.remaining()
                        ),
                    ));
                }
                raw.unsigned_abs()
            }
        };
        if min == 0 {
            match self.zero_size_budget.checked_sub(count) {
                Some(left) => self.zero_size_budget = left,
                None => {
                    return Err(fail(
                        start,
                        format!(
                            "block declares {count} items that take no bytes; more than the \
                             limit of items of zero encoded size allows"
                        ),
                    ))
                }
            }
        } else if count.saturating_mul(min) > self.remaining() as u64 {
            return Err(fail(
                start,
                format!(
                    "block declares {count} items of at least {min} bytes each, but only {} \
                     bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok(Some(count))
    }
}

/// apache-avro's `big-decimal` bytes: a length-prefixed big-endian integer, then the scale
/// as a long. Returns the offset within `inner` and the reason of the first problem.
fn check_big_decimal(inner: &[u8]) -> Result<(), (usize, String)> {
    let mut walker = Walker {
        bytes: inner,
        pos: 0,
        max_depth: 1,
        zero_size_budget: 0,
        root: &Schema::Null,
        names: None,
    };
    let result = walker
        .length_prefixed("big-decimal digits")
        .and_then(|_| walker.long().map(drop));
    result.map_err(|f| (f.offset, f.reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> Schema {
        crate::schema::names::parse_schema(json).unwrap()
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

    #[test]
    fn accepts_what_apache_avro_writes() {
        let s = schema(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"a","type":{"type":"array","items":"long"}},
                {"name":"m","type":{"type":"map","values":["null","string"]}},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
                {"name":"f","type":{"type":"fixed","name":"F","size":3}},
                {"name":"again","type":"F"},
                {"name":"b","type":"boolean"},
                {"name":"d","type":"double"}]}"#,
        );
        let value = Value::Record(vec![
            (
                "a".into(),
                Value::Array(vec![Value::Long(1), Value::Long(-300)]),
            ),
            (
                "m".into(),
                Value::Map(
                    [(
                        "k".to_owned(),
                        Value::Union(1, Box::new(Value::String("v".into()))),
                    )]
                    .into(),
                ),
            ),
            ("e".into(), Value::Enum(1, "Y".into())),
            ("f".into(), Value::Fixed(3, vec![1, 2, 3])),
            ("again".into(), Value::Fixed(3, vec![4, 5, 6])),
            ("b".into(), Value::Boolean(true)),
            ("d".into(), Value::Double(0.5)),
        ]);
        let bytes = apache_avro::to_avro_datum(&s, value.clone()).unwrap();
        assert_eq!(check_datum(&s, &bytes), Ok(bytes.len()));
        assert_eq!(decode_datum(&s, None, &bytes).unwrap(), value);
    }

    #[test]
    fn huge_array_count_is_an_error_with_offset_and_path() {
        let s = schema(
            r#"{"type":"record","name":"R","fields":[
                {"name":"id","type":"long"},
                {"name":"tags","type":{"type":"array","items":"string"}}]}"#,
        );
        let mut bytes = zigzag(7);
        bytes.extend(zigzag(500_000_000));
        let err = check_datum(&s, &bytes).unwrap_err();
        assert_eq!(err.offset(), 1);
        assert_eq!(err.path(), "$.tags");
        assert!(err.reason().contains("500000000 items"), "{err}");
    }

    #[test]
    fn zero_size_items_are_capped() {
        let s = schema(r#"{"type":"array","items":"null"}"#);
        let ok = [zigzag(1000), zigzag(0)].concat();
        assert_eq!(check_datum(&s, &ok), Ok(ok.len()));
        let bytes = [zigzag(500_000_000), zigzag(0)].concat();
        let err = check_datum(&s, &bytes).unwrap_err();
        assert!(err.reason().contains("take no bytes"), "{err}");
        let limits = DecodeLimits::default().with_max_zero_size_items(10);
        assert!(check_datum_with(&s, &ok, limits).is_err());
    }

    #[test]
    fn string_length_beyond_the_bytes_is_an_error() {
        let s = schema(r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#);
        let bytes = [zigzag(400_000_000), b"abc".to_vec()].concat();
        let err = check_datum(&s, &bytes).unwrap_err();
        assert_eq!((err.offset(), err.path()), (0, "$.s"));
        assert!(err.reason().contains("exceeds the 3 bytes"), "{err}");
        assert!(check_datum(&s, &zigzag(-1)).is_err());
    }

    #[test]
    fn recursion_is_limited() {
        let s = schema(
            r#"{"type":"record","name":"LongList","fields":[
                {"name":"value","type":"long"},
                {"name":"next","type":["null","LongList"]}]}"#,
        );
        // n nodes: (value 0, branch 1) × (n - 1), then (value 0, branch 0).
        let list = |n: usize| {
            let mut b = [0u8, 2].repeat(n - 1);
            b.extend([0, 0]);
            b
        };
        let ok = list(21);
        assert_eq!(check_datum(&s, &ok), Ok(ok.len()));
        let err = check_datum(&s, &list(10_000)).unwrap_err();
        assert!(err.reason().contains("nesting deeper than 64"), "{err}");
        assert!(err.path().starts_with("$.next.next.next"), "{err}");
    }

    #[test]
    fn indexes_varints_and_booleans() {
        let e = schema(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
        assert!(check_datum(&e, &zigzag(2)).is_err());
        assert!(check_datum(&e, &zigzag(-1)).is_err());
        assert_eq!(check_datum(&e, &zigzag(1)), Ok(1));
        let u = schema(r#"["null","long"]"#);
        assert!(check_datum(&u, &zigzag(2)).is_err());
        assert!(
            check_datum(&u, &[]).is_err(),
            "apache-avro reads an empty union as null"
        );
        let l = schema(r#""long""#);
        assert!(check_datum(&l, &[0xff; 10]).is_err());
        assert!(check_datum(
            &l,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
        )
        .is_err());
        assert_eq!(
            check_datum(
                &l,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
            ),
            Ok(10)
        );
        let i = schema(r#""int""#);
        assert!(check_datum(&i, &zigzag(i64::from(i32::MAX) + 1)).is_err());
        let b = schema(r#""boolean""#);
        assert!(check_datum(&b, &[2]).is_err());
        assert!(check_datum(&b, &[]).is_err());
    }

    #[test]
    fn negative_block_counts_carry_a_size() {
        let s = schema(r#"{"type":"array","items":"int"}"#);
        // -2 items, 2 bytes: [1, 2], end.
        let ok = [zigzag(-2), zigzag(2), zigzag(1), zigzag(2), zigzag(0)].concat();
        assert_eq!(check_datum(&s, &ok), Ok(ok.len()));
        assert_eq!(
            decode_datum(&s, None, &ok).unwrap(),
            Value::Array(vec![Value::Int(1), Value::Int(2)])
        );
        let bad = [zigzag(-2), zigzag(1000), zigzag(1), zigzag(2), zigzag(0)].concat();
        assert!(check_datum(&s, &bad).is_err());
        assert!(check_datum(&s, &zigzag(i64::MIN)).is_err());
    }

    #[test]
    fn map_errors_name_the_key() {
        let s = schema(r#"{"type":"map","values":"string"}"#);
        let bytes = [zigzag(1), zigzag(2), b"ab".to_vec(), zigzag(99)].concat();
        let err = check_datum(&s, &bytes).unwrap_err();
        assert_eq!(err.path(), "$[\"ab\"]");
        assert_eq!(err.offset(), 4);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let s = schema(r#""long""#);
        let err = decode_datum(&s, None, &[2, 0]).unwrap_err();
        assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    }
}
