//! Deimos' coercion rules (`deimos::schema::coerce`): one test per rule, each asserting the
//! exact `Value` produced, and one per error case asserting the error's path, expected type
//! and what was found.

use std::collections::HashMap;

use apache_avro::types::Value;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use deimos::schema::coerce::{coerce, coerce_payload, to_payload, to_payload_with_schema};
use deimos::schema::names::parse_schema;
use deimos::schema::{AvroSchema, Decimal};
use deimos::{payload, Payload, PayloadValue};
use deimos_tests::schema_dir;

fn schema(json: &str) -> AvroSchema {
    parse_schema(json).expect("test schema parses")
}

fn file_schema(name: &str) -> AvroSchema {
    let text = std::fs::read_to_string(schema_dir().join(format!("com/example/{name}.avsc")))
        .expect("schema file");
    schema(&text)
}

/// Coerces `v` to the schema written as JSON.
fn ok(v: impl Into<PayloadValue>, schema_json: &str) -> Value {
    coerce(&v.into(), &schema(schema_json)).expect("coerces")
}

/// The error's Display for coercing `v` to the schema written as JSON.
fn fails(v: impl Into<PayloadValue>, schema_json: &str) -> String {
    coerce(&v.into(), &schema(schema_json))
        .expect_err("must not coerce")
        .to_string()
}

fn dec(bytes: &[u8]) -> Value {
    Value::Decimal(Decimal::from(bytes.to_vec()))
}

fn dt(s: &str) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn naive(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
}

const ENUM: &str = r#"{"type":"enum","name":"OrderStatus","namespace":"com.example",
    "symbols":["NEW","PAID","SHIPPED"],"default":"NEW"}"#;
const FIXED4: &str = r#"{"type":"fixed","name":"Four","size":4}"#;
const DEC_9_2: &str = r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#;
const DEC_FIXED: &str = r#"{"type":"fixed","name":"Dec8","size":8,"logicalType":"decimal",
    "precision":18,"scale":4}"#;

// ---- int / long ------------------------------------------------------------------------------

#[test]
fn int_and_long_from_integers() {
    assert_eq!(ok(5, r#""int""#), Value::Int(5));
    assert_eq!(ok(-7, r#""long""#), Value::Long(-7));
    assert_eq!(ok(i64::MAX, r#""long""#), Value::Long(i64::MAX));
}

#[test]
fn int_and_long_from_integer_strings() {
    assert_eq!(ok("42", r#""int""#), Value::Int(42));
    assert_eq!(ok("-42", r#""long""#), Value::Long(-42));
    assert_eq!(ok("+7", r#""int""#), Value::Int(7));
}

#[test]
fn long_from_datetime_is_whole_epoch_seconds_as_deimos_time_to_i() {
    assert_eq!(
        ok(dt("2024-01-01T00:00:00.900Z"), r#""long""#),
        Value::Long(1_704_067_200)
    );
    assert_eq!(
        ok(dt("2024-01-01T02:00:00+02:00"), r#""int""#),
        Value::Int(1_704_067_200)
    );
}

#[test]
fn int_out_of_range_is_an_error() {
    assert_eq!(
        fails(3_000_000_000i64, r#""int""#),
        "<root>: expected int, found int 3000000000 (out of range for int)"
    );
    assert_eq!(
        fails("99999999999999999999", r#""long""#),
        r#"<root>: expected long, found string "99999999999999999999" (out of range for long)"#
    );
}

#[test]
fn int_from_non_integer_values_is_an_error() {
    assert_eq!(
        fails("1.5", r#""int""#),
        r#"<root>: expected int, found string "1.5""#
    );
    assert_eq!(
        fails("0x1A", r#""long""#),
        r#"<root>: expected long, found string "0x1A""#
    );
    assert_eq!(
        fails(1.0, r#""int""#),
        "<root>: expected int, found float 1.0"
    );
    assert_eq!(
        fails(true, r#""long""#),
        "<root>: expected long, found bool true"
    );
    assert_eq!(
        fails(PayloadValue::Null, r#""int""#),
        "<root>: expected int, found null"
    );
}

// ---- float / double --------------------------------------------------------------------------

#[test]
fn float_and_double_from_numbers_and_numeric_strings() {
    assert_eq!(ok(3, r#""double""#), Value::Double(3.0));
    assert_eq!(ok(1.5, r#""float""#), Value::Float(1.5));
    assert_eq!(ok(0.1, r#""double""#), Value::Double(0.1));
    assert_eq!(ok("2.5", r#""double""#), Value::Double(2.5));
    assert_eq!(ok("-1e3", r#""float""#), Value::Float(-1000.0));
    assert_eq!(ok(".5", r#""double""#), Value::Double(0.5));
    match ok(f64::NAN, r#""double""#) {
        Value::Double(x) => assert!(x.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn float_from_nan_strings_bools_and_out_of_range_is_an_error() {
    assert_eq!(
        fails("NaN", r#""double""#),
        r#"<root>: expected double, found string "NaN""#
    );
    assert_eq!(
        fails(false, r#""float""#),
        "<root>: expected float, found bool false"
    );
    assert_eq!(
        fails(1e300, r#""float""#),
        "<root>: expected float, found float 1e300 (out of range for float)"
    );
}

// ---- string ----------------------------------------------------------------------------------

#[test]
fn string_from_every_value_with_a_string_form() {
    let uid = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let rows: Vec<(&str, PayloadValue, &str)> = vec![
        ("string", "x".into(), "x"),
        ("int", 5.into(), "5"),
        ("negative int", (-5).into(), "-5"),
        ("whole float keeps .0", 1.0.into(), "1.0"),
        ("float", 2.5.into(), "2.5"),
        ("bool", true.into(), "true"),
        (
            "date",
            NaiveDate::from_ymd_opt(2024, 1, 31).unwrap().into(),
            "2024-01-31",
        ),
        (
            "time",
            NaiveTime::from_hms_milli_opt(12, 34, 56, 789)
                .unwrap()
                .into(),
            "12:34:56.789",
        ),
        (
            "datetime",
            dt("2024-01-31T12:34:56+02:00").into(),
            "2024-01-31T12:34:56+02:00",
        ),
        (
            "naive datetime",
            naive("2024-01-31T12:34:56").into(),
            "2024-01-31T12:34:56",
        ),
        ("uuid", uid.into(), "67e55044-10b1-426f-9247-bb680e5fe0c8"),
    ];
    for (name, input, want) in rows {
        assert_eq!(
            coerce(&input, &schema(r#""string""#)).unwrap(),
            Value::String(want.to_owned()),
            "{name}"
        );
    }
}

#[test]
fn string_from_null_bytes_arrays_and_maps_is_an_error() {
    assert_eq!(
        fails(PayloadValue::Null, r#""string""#),
        "<root>: expected string, found null"
    );
    assert_eq!(
        fails(vec![1u8, 2], r#""string""#),
        "<root>: expected string, found bytes of length 2"
    );
    assert_eq!(
        fails(vec!["a"], r#""string""#),
        "<root>: expected string, found array of 1"
    );
    assert_eq!(
        fails(payload! {"k" => 1}, r#""string""#),
        "<root>: expected string, found map of 1"
    );
}

// ---- boolean ---------------------------------------------------------------------------------

#[test]
fn boolean_follows_ruby_truthiness_only_null_and_false_are_false() {
    let rows: Vec<(&str, PayloadValue, bool)> = vec![
        ("null", PayloadValue::Null, false),
        ("false", false.into(), false),
        ("true", true.into(), true),
        ("string false", "false".into(), true),
        ("empty string", "".into(), true),
        ("zero", 0.into(), true),
        ("empty array", PayloadValue::Array(vec![]), true),
    ];
    for (name, input, want) in rows {
        assert_eq!(
            coerce(&input, &schema(r#""boolean""#)).unwrap(),
            Value::Boolean(want),
            "{name}"
        );
    }
}

// ---- null and unions -------------------------------------------------------------------------

#[test]
fn null_schema_takes_only_null() {
    assert_eq!(ok(PayloadValue::Null, r#""null""#), Value::Null);
    assert_eq!(fails(0, r#""null""#), "<root>: expected null, found int 0");
}

#[test]
fn union_null_goes_to_the_null_branch_wherever_it_is() {
    assert_eq!(
        ok(PayloadValue::Null, r#"["null","string"]"#),
        Value::Union(0, Box::new(Value::Null))
    );
    assert_eq!(
        ok(PayloadValue::Null, r#"["string","null"]"#),
        Value::Union(1, Box::new(Value::Null))
    );
    assert_eq!(
        ok(None::<bool>, r#"["null","boolean"]"#),
        Value::Union(0, Box::new(Value::Null))
    );
}

#[test]
fn union_prefers_the_branch_of_the_values_own_type() {
    let u = r#"["null","int","string"]"#;
    assert_eq!(
        ok("1", u),
        Value::Union(2, Box::new(Value::String("1".into())))
    );
    assert_eq!(ok(1, u), Value::Union(1, Box::new(Value::Int(1))));
    // An int too large for `int` is not an exact match; `string` takes it.
    assert_eq!(
        ok(5_000_000_000i64, u),
        Value::Union(2, Box::new(Value::String("5000000000".into())))
    );
    assert_eq!(
        ok("PAID", &format!(r#"["null","string",{ENUM}]"#)),
        Value::Union(1, Box::new(Value::String("PAID".into())))
    );
    assert_eq!(
        ok("PAID", &format!(r#"["null",{ENUM},"string"]"#)),
        Value::Union(1, Box::new(Value::Enum(1, "PAID".into())))
    );
}

#[test]
fn union_falls_back_to_the_first_branch_that_coerces() {
    assert_eq!(
        ok(true, r#"["null","int","string"]"#),
        Value::Union(2, Box::new(Value::String("true".into())))
    );
    assert_eq!(
        ok(5, r#"["null","string"]"#),
        Value::Union(1, Box::new(Value::String("5".into())))
    );
    assert_eq!(
        ok("12", r#"["null","long","double"]"#),
        Value::Union(1, Box::new(Value::Long(12)))
    );
}

#[test]
fn union_without_null_branch_coerces_null_like_deimos() {
    // Deimos coerces nil to the first non-null branch; `boolean` makes it false.
    assert_eq!(
        ok(PayloadValue::Null, r#"["int","boolean"]"#),
        Value::Union(1, Box::new(Value::Boolean(false)))
    );
}

#[test]
fn union_error_with_one_non_null_branch_is_that_branchs_error() {
    assert_eq!(
        fails("x", r#"["null","int"]"#),
        r#"<root>: expected int, found string "x""#
    );
}

#[test]
fn union_error_with_several_branches_names_the_union() {
    assert_eq!(
        fails(vec![1i64], r#"["null","int","string"]"#),
        "<root>: expected union [null, int, string], found array of 1 (no branch accepts it)"
    );
}

// ---- enum ------------------------------------------------------------------------------------

#[test]
fn enum_from_a_symbol_string() {
    assert_eq!(ok("PAID", ENUM), Value::Enum(1, "PAID".into()));
    assert_eq!(ok("NEW", ENUM), Value::Enum(0, "NEW".into()));
}

#[test]
fn enum_unknown_symbol_is_an_error_listing_symbols_even_with_a_default() {
    assert_eq!(
        fails("LOST", ENUM),
        r#"<root>: expected enum com.example.OrderStatus, found string "LOST" (symbols are NEW, PAID, SHIPPED)"#
    );
    assert_eq!(
        fails(1, ENUM),
        "<root>: expected enum com.example.OrderStatus, found int 1"
    );
}

// ---- bytes / fixed ---------------------------------------------------------------------------

#[test]
fn bytes_from_bytes_and_from_strings_as_utf8() {
    assert_eq!(ok(vec![1u8, 2], r#""bytes""#), Value::Bytes(vec![1, 2]));
    assert_eq!(ok("hé", r#""bytes""#), Value::Bytes(vec![b'h', 0xC3, 0xA9]));
    assert_eq!(
        fails(5, r#""bytes""#),
        "<root>: expected bytes, found int 5"
    );
}

#[test]
fn fixed_from_bytes_of_its_size() {
    assert_eq!(ok(vec![9u8; 4], FIXED4), Value::Fixed(4, vec![9; 4]));
    assert_eq!(
        fails(vec![9u8; 3], FIXED4),
        "<root>: expected fixed Four (4 bytes), found bytes of length 3 (3 bytes, fixed size is 4)"
    );
    assert_eq!(
        fails("abcd", FIXED4),
        r#"<root>: expected fixed Four (4 bytes), found string "abcd""#
    );
}

// ---- logical types ---------------------------------------------------------------------------

const DATE: &str = r#"{"type":"int","logicalType":"date"}"#;
const TIME_MS: &str = r#"{"type":"int","logicalType":"time-millis"}"#;
const TIME_US: &str = r#"{"type":"long","logicalType":"time-micros"}"#;
const TS_MS: &str = r#"{"type":"long","logicalType":"timestamp-millis"}"#;
const TS_US: &str = r#"{"type":"long","logicalType":"timestamp-micros"}"#;
const TS_NS: &str = r#"{"type":"long","logicalType":"timestamp-nanos"}"#;
const LTS_MS: &str = r#"{"type":"long","logicalType":"local-timestamp-millis"}"#;
const LTS_US: &str = r#"{"type":"long","logicalType":"local-timestamp-micros"}"#;
const LTS_NS: &str = r#"{"type":"long","logicalType":"local-timestamp-nanos"}"#;

/// 2024-01-31 is day 19753 after 1970-01-01.
const JAN31: i32 = 19_753;
/// 2024-01-31T10:34:56.789Z in milliseconds.
const INSTANT_MS: i64 = 1_706_697_296_789;
/// 2024-01-31T12:34:56.789 (wall clock, read as UTC) in milliseconds.
const WALL_MS: i64 = 1_706_704_496_789;

#[test]
fn date_from_chrono_iso_string_and_integer() {
    assert_eq!(
        ok(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(), DATE),
        Value::Date(JAN31)
    );
    assert_eq!(
        ok(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap(), DATE),
        Value::Date(-1)
    );
    assert_eq!(ok("2024-01-31", DATE), Value::Date(JAN31));
    assert_eq!(ok(5, DATE), Value::Date(5));
    assert_eq!(
        fails("31/01/2024", DATE),
        r#"<root>: expected date, found string "31/01/2024" (not an ISO-8601 date)"#
    );
}

#[test]
fn time_millis_and_micros_from_chrono_iso_string_and_integer() {
    let t = NaiveTime::from_hms_micro_opt(12, 34, 56, 789_123).unwrap();
    assert_eq!(ok(t, TIME_MS), Value::TimeMillis(45_296_789));
    assert_eq!(ok(t, TIME_US), Value::TimeMicros(45_296_789_123));
    assert_eq!(ok("12:34:56.789", TIME_MS), Value::TimeMillis(45_296_789));
    assert_eq!(
        ok("12:34:56.789123", TIME_US),
        Value::TimeMicros(45_296_789_123)
    );
    assert_eq!(ok("12:34", TIME_MS), Value::TimeMillis(45_240_000));
    assert_eq!(ok(5, TIME_MS), Value::TimeMillis(5));
    assert_eq!(ok(5, TIME_US), Value::TimeMicros(5));
    assert_eq!(
        fails("noon", TIME_MS),
        r#"<root>: expected time-millis, found string "noon" (not an ISO-8601 time)"#
    );
}

#[test]
fn timestamps_from_chrono_values_are_instants() {
    let t = dt("2024-01-31T12:34:56.789123456+02:00");
    assert_eq!(ok(t, TS_MS), Value::TimestampMillis(INSTANT_MS));
    assert_eq!(
        ok(t, TS_US),
        Value::TimestampMicros(INSTANT_MS * 1000 + 123)
    );
    assert_eq!(
        ok(t, TS_NS),
        Value::TimestampNanos(INSTANT_MS * 1_000_000 + 123_456)
    );
    let utc = Utc.with_ymd_and_hms(2024, 1, 31, 10, 34, 56).unwrap();
    assert_eq!(ok(utc, TS_MS), Value::TimestampMillis(INSTANT_MS - 789));
    // A NaiveDateTime is read as UTC.
    assert_eq!(
        ok(naive("2024-01-31T10:34:56.789"), TS_MS),
        Value::TimestampMillis(INSTANT_MS)
    );
}

#[test]
fn timestamps_from_iso_strings_with_and_without_offset() {
    assert_eq!(
        ok("2024-01-31T12:34:56.789+02:00", TS_MS),
        Value::TimestampMillis(INSTANT_MS)
    );
    assert_eq!(
        ok("2024-01-31T10:34:56.789Z", TS_US),
        Value::TimestampMicros(INSTANT_MS * 1000)
    );
    assert_eq!(
        ok("2024-01-31T10:34:56.789", TS_MS),
        Value::TimestampMillis(INSTANT_MS)
    );
    assert_eq!(
        ok("2024-01-31 10:34:56.789", TS_MS),
        Value::TimestampMillis(INSTANT_MS)
    );
    assert_eq!(
        fails("yesterday", TS_MS),
        r#"<root>: expected timestamp-millis, found string "yesterday" (not an ISO-8601 date-time)"#
    );
}

#[test]
fn timestamps_from_integers_as_is() {
    assert_eq!(ok(7, TS_MS), Value::TimestampMillis(7));
    assert_eq!(ok(7, TS_US), Value::TimestampMicros(7));
    assert_eq!(ok(7, TS_NS), Value::TimestampNanos(7));
    assert_eq!(ok(7, LTS_MS), Value::LocalTimestampMillis(7));
}

#[test]
fn timestamp_nanos_out_of_range_is_an_error() {
    assert_eq!(
        fails(dt("2300-01-01T00:00:00Z"), TS_NS),
        "<root>: expected timestamp-nanos, found datetime 2300-01-01T00:00:00+00:00 (out of range for timestamp-nanos)"
    );
}

#[test]
fn local_timestamps_use_the_wall_clock() {
    let wall = naive("2024-01-31T12:34:56.789");
    assert_eq!(ok(wall, LTS_MS), Value::LocalTimestampMillis(WALL_MS));
    assert_eq!(
        ok(wall, LTS_US),
        Value::LocalTimestampMicros(WALL_MS * 1000)
    );
    assert_eq!(
        ok(wall, LTS_NS),
        Value::LocalTimestampNanos(WALL_MS * 1_000_000)
    );
    // A DateTime by its own wall clock, not converted to UTC.
    assert_eq!(
        ok(dt("2024-01-31T12:34:56.789+02:00"), LTS_MS),
        Value::LocalTimestampMillis(WALL_MS)
    );
    assert_eq!(
        ok("2024-01-31T12:34:56.789", LTS_MS),
        Value::LocalTimestampMillis(WALL_MS)
    );
    assert_eq!(
        ok("2024-01-31T12:34:56.789-05:00", LTS_MS),
        Value::LocalTimestampMillis(WALL_MS)
    );
}

#[test]
fn decimal_from_integers_floats_and_strings_at_the_schema_scale() {
    // 12 → 1200 = 0x04B0
    assert_eq!(ok(12, DEC_9_2), dec(&[0x04, 0xB0]));
    // 0.1 → 10
    assert_eq!(ok(0.1, DEC_9_2), dec(&[0x0A]));
    // "12.34" → 1234 = 0x04D2
    assert_eq!(ok("12.34", DEC_9_2), dec(&[0x04, 0xD2]));
    // "-0.05" → -5 = 0xFB
    assert_eq!(ok("-0.05", DEC_9_2), dec(&[0xFB]));
    // "1.50" → 150 = 0x0096 (a leading zero byte keeps it positive)
    assert_eq!(ok("1.50", DEC_9_2), dec(&[0x00, 0x96]));
    // "1.2e1" → 1200
    assert_eq!(ok("1.2e1", DEC_9_2), dec(&[0x04, 0xB0]));
    let Value::Decimal(d) = ok("1.50", DEC_9_2) else {
        panic!()
    };
    // Sign-extended to the 4 bytes precision 9 needs (apache-avro resolves no shorter ones).
    assert_eq!(Vec::<u8>::try_from(&d).unwrap(), vec![0, 0, 0, 0x96]);
    let Value::Decimal(d) = ok("-0.05", DEC_9_2) else {
        panic!()
    };
    assert_eq!(
        Vec::<u8>::try_from(&d).unwrap(),
        vec![0xFF, 0xFF, 0xFF, 0xFB]
    );
}

#[test]
fn decimal_on_fixed_is_sign_extended_to_its_size() {
    let Value::Decimal(d) = ok(-1, DEC_FIXED) else {
        panic!()
    };
    // -1 at scale 4 is -10000 = 0x…D8F0
    assert_eq!(
        Vec::<u8>::try_from(&d).unwrap(),
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xD8, 0xF0]
    );
}

#[test]
fn decimal_beyond_scale_or_precision_is_an_error() {
    assert_eq!(
        fails("1.234", DEC_9_2),
        r#"<root>: expected decimal(9, 2), found string "1.234" (more than 2 fractional digits; it cannot be stored without rounding)"#
    );
    assert_eq!(
        fails("12345678.9", DEC_9_2),
        r#"<root>: expected decimal(9, 2), found string "12345678.9" (needs 10 digits, precision is 9)"#
    );
    assert_eq!(
        fails(f64::NAN, DEC_9_2),
        "<root>: expected decimal(9, 2), found float NaN"
    );
    assert_eq!(
        fails("abc", DEC_9_2),
        r#"<root>: expected decimal(9, 2), found string "abc""#
    );
}

#[test]
fn uuid_from_uuid_values_and_strings() {
    let u = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let s = r#"{"type":"string","logicalType":"uuid"}"#;
    assert_eq!(ok(u, s), Value::Uuid(u));
    assert_eq!(
        ok("67e55044-10b1-426f-9247-bb680e5fe0c8", s),
        Value::Uuid(u)
    );
    assert_eq!(ok("67E5504410B1426F9247BB680E5FE0C8", s), Value::Uuid(u));
    assert_eq!(
        fails("not-a-uuid", s),
        r#"<root>: expected uuid, found string "not-a-uuid" (not a UUID)"#
    );
}

// ---- records, arrays, maps -------------------------------------------------------------------

fn line_item(sku: &str, qty: i32, price: &[u8], discount: Option<f64>) -> Value {
    Value::Record(vec![
        ("sku".into(), Value::String(sku.into())),
        ("qty".into(), Value::Int(qty)),
        ("price".into(), dec(price)),
        (
            "discount".into(),
            match discount {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(d) => Value::Union(1, Box::new(Value::Double(d))),
            },
        ),
    ])
}

fn order_payload() -> Payload {
    payload! {
        "id" => "1001",
        "customer" => 42,
        "status" => "PAID",
        "items" => vec![
            payload! { "sku" => "A-1", "qty" => "2", "price" => "12.34" },
            payload! { "sku" => "B-2", "qty" => 1, "price" => 5, "discount" => "0.5" },
        ],
        "attrs" => payload! { "color" => "red", "size" => 9 },
        "placed_on" => NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(),
        "placed_at" => "2024-01-31T12:34:56.789+02:00",
        "ref" => "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "shipping" => payload! { "sku" => "SHIP", "qty" => 1, "price" => 4.5 },
        "legacy_field" => "dropped",
    }
}

fn order_value() -> Value {
    Value::Record(vec![
        ("id".into(), Value::Long(1001)),
        ("customer".into(), Value::String("42".into())),
        ("status".into(), Value::Enum(1, "PAID".into())),
        (
            "items".into(),
            Value::Array(vec![
                line_item("A-1", 2, &[0x04, 0xD2], None),
                line_item("B-2", 1, &[0x01, 0xF4], Some(0.5)),
            ]),
        ),
        (
            "attrs".into(),
            Value::Map(HashMap::from([
                ("color".into(), Value::String("red".into())),
                ("size".into(), Value::String("9".into())),
            ])),
        ),
        ("note".into(), Value::Union(0, Box::new(Value::Null))),
        ("placed_on".into(), Value::Date(JAN31)),
        ("placed_at".into(), Value::TimestampMillis(INSTANT_MS)),
        (
            "ref".into(),
            Value::Uuid(uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap()),
        ),
        ("gift".into(), Value::Boolean(false)),
        ("priority".into(), Value::Int(3)),
        (
            "shipping".into(),
            Value::Union(1, Box::new(line_item("SHIP", 1, &[0x01, 0xC2], None))),
        ),
    ])
}

#[test]
fn record_with_nested_records_arrays_maps_unions_enums_and_defaults() {
    let order = file_schema("Order");
    assert_eq!(
        coerce_payload(&order_payload(), &order).unwrap(),
        order_value()
    );
}

#[test]
fn record_drops_fields_the_schema_lacks() {
    let s = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    assert_eq!(
        ok(payload! {"a" => 1, "b" => 2, "c" => payload!{}}, s),
        Value::Record(vec![("a".into(), Value::Int(1))])
    );
}

#[test]
fn record_missing_fields_take_their_defaults() {
    let s = r#"{"type":"record","name":"R","fields":[
        {"name":"a","type":"int","default":7},
        {"name":"b","type":["null","string"],"default":null},
        {"name":"c","type":["string","null"],"default":"x"},
        {"name":"d","type":{"type":"map","values":"long"},"default":{"k":1}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["P","Q"]},"default":"Q"},
        {"name":"f","type":"bytes","default":"\u00ff"},
        {"name":"g","type":{"type":"record","name":"Inner","fields":[
            {"name":"x","type":"double","default":1.5},{"name":"y","type":"long"}]},
         "default":{"y":2}},
        {"name":"h","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]}"#;
    assert_eq!(
        ok(payload! {}, s),
        Value::Record(vec![
            ("a".into(), Value::Int(7)),
            ("b".into(), Value::Union(0, Box::new(Value::Null))),
            (
                "c".into(),
                Value::Union(0, Box::new(Value::String("x".into())))
            ),
            (
                "d".into(),
                Value::Map(HashMap::from([("k".into(), Value::Long(1))]))
            ),
            ("e".into(), Value::Enum(1, "Q".into())),
            ("f".into(), Value::Bytes(vec![0xFF])),
            (
                "g".into(),
                Value::Record(vec![
                    ("x".into(), Value::Double(1.5)),
                    ("y".into(), Value::Long(2)),
                ])
            ),
            ("h".into(), Value::TimestampMillis(0)),
        ])
    );
}

#[test]
fn record_missing_field_without_default_is_an_error() {
    let mut p = order_payload();
    p.remove("customer");
    let err = coerce_payload(&p, &file_schema("Order")).unwrap_err();
    assert_eq!(err.path(), "customer");
    assert_eq!(err.expected(), "string");
    assert_eq!(err.found(), "nothing");
    assert_eq!(err.detail(), Some("missing field without a default"));
    assert_eq!(
        err.to_string(),
        "customer: expected string, found nothing (missing field without a default)"
    );
}

#[test]
fn record_from_a_non_map_is_an_error() {
    assert_eq!(
        coerce(&PayloadValue::Int(1), &file_schema("Order"))
            .unwrap_err()
            .to_string(),
        "<root>: expected record com.example.Order, found int 1"
    );
}

#[test]
fn error_in_an_array_element_names_its_index() {
    let mut p = order_payload();
    p.insert(
        "items",
        vec![
            payload! { "sku" => "A-1", "qty" => 2, "price" => 1 },
            payload! { "sku" => "B-2", "qty" => "x", "price" => 1 },
        ],
    );
    let err = coerce_payload(&p, &file_schema("Order")).unwrap_err();
    assert_eq!(err.path(), "items[1].qty");
    assert_eq!(err.expected(), "int");
    assert_eq!(
        err.to_string(),
        r#"items[1].qty: expected int, found string "x""#
    );
}

#[test]
fn error_in_a_nested_decimal_names_the_field() {
    let mut p = order_payload();
    p.insert(
        "items",
        vec![payload! { "sku" => "A-1", "qty" => 2, "price" => "0.001" }],
    );
    assert_eq!(
        coerce_payload(&p, &file_schema("Order"))
            .unwrap_err()
            .to_string(),
        r#"items[0].price: expected decimal(9, 2), found string "0.001" (more than 2 fractional digits; it cannot be stored without rounding)"#
    );
}

#[test]
fn error_in_a_map_value_names_its_key() {
    let mut p = order_payload();
    p.insert("attrs", payload! { "color" => PayloadValue::Array(vec![]) });
    let err = coerce_payload(&p, &file_schema("Order")).unwrap_err();
    assert_eq!(err.path(), r#"attrs["color"]"#);
    assert_eq!(
        err.to_string(),
        r#"attrs["color"]: expected string, found array of 0"#
    );
}

#[test]
fn error_in_an_enum_field_lists_the_symbols() {
    let mut p = order_payload();
    p.insert("status", "LOST");
    assert_eq!(
        coerce_payload(&p, &file_schema("Order"))
            .unwrap_err()
            .to_string(),
        r#"status: expected enum com.example.OrderStatus, found string "LOST" (symbols are NEW, PAID, SHIPPED)"#
    );
}

#[test]
fn union_record_branch_through_a_named_reference() {
    let mut p = order_payload();
    p.insert("shipping", "by boat");
    let Value::Record(fields) = coerce_payload(&p, &file_schema("Order")).unwrap() else {
        panic!()
    };
    assert_eq!(
        fields.last().unwrap(),
        &(
            "shipping".to_owned(),
            Value::Union(2, Box::new(Value::String("by boat".into())))
        )
    );
    // A map is an exact match for the record branch, so its error is the record's.
    p.insert(
        "shipping",
        payload! { "sku" => "S", "qty" => "x", "price" => 1 },
    );
    assert_eq!(
        coerce_payload(&p, &file_schema("Order"))
            .unwrap_err()
            .to_string(),
        r#"shipping.qty: expected int, found string "x" (via union branch com.example.LineItem)"#
    );
}

#[test]
fn recursive_schema_follows_the_value() {
    let tree = file_schema("TreeNode");
    let p = payload! {
        "label" => "root",
        "children" => vec![payload! { "label" => "a" }, payload! { "label" => 2 }],
        "next" => payload! { "label" => "sibling" },
    };
    let leaf = |l: &str| {
        Value::Record(vec![
            ("label".into(), Value::String(l.into())),
            ("children".into(), Value::Array(vec![])),
            ("next".into(), Value::Union(0, Box::new(Value::Null))),
        ])
    };
    assert_eq!(
        coerce_payload(&p, &tree).unwrap(),
        Value::Record(vec![
            ("label".into(), Value::String("root".into())),
            ("children".into(), Value::Array(vec![leaf("a"), leaf("2")])),
            ("next".into(), Value::Union(1, Box::new(leaf("sibling")))),
        ])
    );
}

#[test]
fn deep_values_are_refused_not_a_stack_overflow() {
    let mut node = payload! { "label" => "last" };
    for i in 0..300 {
        node = payload! { "label" => i, "next" => node };
    }
    let err = coerce_payload(&node, &file_schema("TreeNode")).unwrap_err();
    assert_eq!(err.detail(), Some("nested deeper than 128 levels"));
    assert!(err.path().starts_with("next.next.next"), "{}", err.path());
}

#[test]
fn unresolved_reference_is_an_error_not_a_panic() {
    let s = apache_avro::Schema::Ref {
        name: apache_avro::schema::Name::new("com.example.Missing").unwrap(),
    };
    let err = coerce(&PayloadValue::Int(1), &s).unwrap_err();
    assert_eq!(err.path(), "");
    assert!(
        err.to_string()
            .starts_with("<root>: expected com.example.Missing, found int 1 (bad schema"),
        "{err}"
    );
}

// ---- decode side -----------------------------------------------------------------------------

#[test]
fn to_payload_turns_values_back_into_payloads() {
    let got = to_payload(&order_value());
    let PayloadValue::Map(p) = got else { panic!() };
    assert_eq!(p.keys().next().map(String::as_str), Some("id"));
    assert_eq!(p.get("id"), Some(&PayloadValue::Int(1001)));
    assert_eq!(p.get("status"), Some(&PayloadValue::String("PAID".into())));
    assert_eq!(p.get("note"), Some(&PayloadValue::Null));
    assert_eq!(
        p.get("placed_on"),
        Some(&PayloadValue::Date(
            NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()
        ))
    );
    assert_eq!(
        p.get("placed_at"),
        Some(&PayloadValue::DateTime(dt("2024-01-31T10:34:56.789Z")))
    );
    // Without the schema a decimal is its unscaled two's-complement bytes.
    let items = p.get("items").unwrap();
    let PayloadValue::Array(items) = items else {
        panic!()
    };
    assert_eq!(
        items[0].as_map().unwrap().get("price"),
        Some(&PayloadValue::Bytes(vec![0x04, 0xD2]))
    );
    assert_eq!(
        to_payload(&Value::TimeMicros(45_296_789_123)),
        PayloadValue::Time(NaiveTime::from_hms_micro_opt(12, 34, 56, 789_123).unwrap())
    );
    assert_eq!(
        to_payload(&Value::LocalTimestampMillis(WALL_MS)),
        PayloadValue::NaiveDateTime(naive("2024-01-31T12:34:56.789"))
    );
}

#[test]
fn to_payload_with_schema_writes_decimals_at_their_scale_and_coerces_back() {
    let order = file_schema("Order");
    let p = to_payload_with_schema(&order_value(), &order).unwrap();
    let items = p.as_map().unwrap().get("items").unwrap();
    let PayloadValue::Array(items) = items else {
        panic!()
    };
    assert_eq!(
        items[0].as_map().unwrap().get("price"),
        Some(&PayloadValue::String("12.34".into()))
    );
    assert_eq!(coerce(&p, &order).unwrap(), order_value());
}

#[test]
fn big_decimal_from_numbers_and_strings() {
    let s = r#"{"type":"bytes","logicalType":"big-decimal"}"#;
    let want = |t: &str| Value::BigDecimal(t.parse::<apache_avro::BigDecimal>().unwrap());
    assert_eq!(ok("12.345", s), want("12.345"));
    assert_eq!(ok(7, s), want("7"));
    assert_eq!(ok(0.5, s), want("0.5"));
    assert_eq!(
        fails("twelve", s),
        r#"<root>: expected big-decimal, found string "twelve""#
    );
}

#[test]
fn duration_from_its_twelve_bytes() {
    let s = r#"{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}"#;
    let raw = vec![1u8, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0];
    assert_eq!(
        ok(raw, s),
        Value::Duration(apache_avro::Duration::new(
            apache_avro::Months::new(1),
            apache_avro::Days::new(2),
            apache_avro::Millis::new(3),
        ))
    );
    assert_eq!(
        fails(vec![0u8; 11], s),
        "<root>: expected duration, found bytes of length 11 (a duration is 12 bytes)"
    );
}

#[tokio::test]
async fn coerced_values_resolve_and_encode_with_avro_local() {
    use deimos::schema::{AvroLocal, Codec, SchemaRef};
    let codec = Codec::new(std::sync::Arc::new(AvroLocal::new(schema_dir())));
    let order = SchemaRef::parse("com.example.Order");
    let coerced = coerce_payload(&order_payload(), &file_schema("Order")).unwrap();
    let (resolved, bytes) = codec.encode_value("orders", &order, coerced).await.unwrap();
    assert_eq!(resolved, order_value());
    let back = codec
        .decode_value(&order, Some(&bytes), ("orders", 0, 0))
        .await
        .unwrap();
    assert_eq!(back, Some(order_value()));
}
