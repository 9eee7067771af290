//! Avro's JSON encoding (`deimos::schema::avro_json`): exact JSON for every primitive and
//! logical type, the Avro spec's union examples, exact round trips (recursive schemas, NaN and
//! infinities), and decode errors that name the field path.

use std::collections::HashMap;

use apache_avro::types::Value;
use deimos::schema::avro_json::{from_json, to_json};
use deimos::schema::coerce::coerce_payload;
use deimos::schema::names::parse_schema;
use deimos::schema::AvroSchema;
use deimos::{payload, Payload};
use deimos_tests::{everything, schema_dir};
use serde_json::json;

fn file_schema(name: &str) -> AvroSchema {
    let text = std::fs::read_to_string(schema_dir().join(format!("com/example/{name}.avsc")))
        .expect("schema file");
    parse_schema(&text).expect("schema parses")
}

#[test]
fn every_primitive_and_logical_type_has_its_exact_json() {
    let schema = file_schema("Everything");
    assert_eq!(
        to_json(&everything::value(), &schema).unwrap(),
        everything::json()
    );
}

#[test]
fn every_primitive_and_logical_type_round_trips_exactly() {
    let schema = file_schema("Everything");
    for value in [everything::value(), everything::value_with_nulls()] {
        let json = to_json(&value, &schema).unwrap();
        assert_eq!(from_json(&json, &schema).unwrap(), value);
    }
}

#[test]
fn null_union_branches_are_json_null() {
    let schema = file_schema("Everything");
    let json = to_json(&everything::value_with_nulls(), &schema).unwrap();
    for field in ["opt_long", "opt_fixed", "opt_dec", "opt_double", "choice"] {
        assert_eq!(json[field], serde_json::Value::Null, "{field}");
    }
}

#[test]
fn spec_example_union_of_null_string_and_record() {
    // Avro spec, "JSON Encoding": for ["null","string","Foo"], null is `null`, the string "a"
    // is {"string": "a"} and a Foo is {"Foo": {...}}.
    let schema = parse_schema(
        r#"["null","string",{"type":"record","name":"Foo","fields":[{"name":"x","type":"int"}]}]"#,
    )
    .unwrap();
    let rows = [
        (Value::Union(0, Box::new(Value::Null)), json!(null)),
        (
            Value::Union(1, Box::new(Value::String("a".into()))),
            json!({"string": "a"}),
        ),
        (
            Value::Union(
                2,
                Box::new(Value::Record(vec![("x".into(), Value::Int(1))])),
            ),
            json!({"Foo": {"x": 1}}),
        ),
    ];
    for (value, want) in rows {
        assert_eq!(to_json(&value, &schema).unwrap(), want);
        assert_eq!(from_json(&want, &schema).unwrap(), value);
    }
}

#[test]
fn union_branch_of_a_named_fixed_round_trips() {
    let schema = file_schema("Everything");
    let Value::Record(mut fields) = everything::value() else {
        panic!()
    };
    let choice = fields.iter_mut().find(|(n, _)| n == "choice").unwrap();
    choice.1 = Value::Union(2, Box::new(Value::Fixed(4, b"1234".to_vec())));
    let value = Value::Record(fields);
    let json = to_json(&value, &schema).unwrap();
    assert_eq!(json["choice"], json!({"com.example.Four": "1234"}));
    assert_eq!(from_json(&json, &schema).unwrap(), value);
}

#[test]
fn named_union_branches_use_the_full_name() {
    let schema = parse_schema(
        r#"{"type":"record","name":"Outer","namespace":"com.example","fields":[
            {"name":"v","type":["null",{"type":"record","name":"Inner","fields":[]}]}]}"#,
    )
    .unwrap();
    let value = Value::Record(vec![(
        "v".into(),
        Value::Union(1, Box::new(Value::Record(vec![]))),
    )]);
    assert_eq!(
        to_json(&value, &schema).unwrap(),
        json!({"v": {"com.example.Inner": {}}})
    );
}

#[test]
fn nan_and_infinities_are_the_strings_java_avro_writes() {
    let schema = parse_schema(
        r#"{"type":"record","name":"F","fields":[{"name":"d","type":"double"},
            {"name":"f","type":"float"}]}"#,
    )
    .unwrap();
    let rows = [
        (f64::NAN, f32::NAN, json!({"d": "NaN", "f": "NaN"})),
        (
            f64::INFINITY,
            f32::NEG_INFINITY,
            json!({"d": "Infinity", "f": "-Infinity"}),
        ),
        (
            -0.0,
            f32::MIN_POSITIVE,
            json!({"d": -0.0, "f": f32::MIN_POSITIVE}),
        ),
        (
            f64::MAX,
            0.1f32,
            json!({"d": f64::MAX, "f": f64::from(0.1f32)}),
        ),
    ];
    for (d, f, want) in rows {
        let value = Value::Record(vec![
            ("d".into(), Value::Double(d)),
            ("f".into(), Value::Float(f)),
        ]);
        let json = to_json(&value, &schema).unwrap();
        assert_eq!(json, want);
        // Through bytes, as the backend sends it.
        let text = serde_json::to_vec(&json).unwrap();
        let back = from_json(&serde_json::from_slice(&text).unwrap(), &schema).unwrap();
        let Value::Record(fields) = back else {
            panic!()
        };
        let (Value::Double(d2), Value::Float(f2)) = (&fields[0].1, &fields[1].1) else {
            panic!("{fields:?}")
        };
        assert_eq!(d2.to_bits(), d.to_bits(), "double {d}");
        assert_eq!(f2.to_bits(), f.to_bits(), "float {f}");
    }
}

#[test]
fn bytes_are_iso_8859_1_strings() {
    let schema = parse_schema(r#""bytes""#).unwrap();
    let all: Vec<u8> = (0..=255).collect();
    let json = to_json(&Value::Bytes(all.clone()), &schema).unwrap();
    let text = json.as_str().unwrap();
    assert_eq!(text.chars().count(), 256);
    assert_eq!(text.chars().nth(0xE9), Some('é'));
    assert_eq!(from_json(&json, &schema).unwrap(), Value::Bytes(all));
    assert_eq!(
        from_json(&json!("Ā"), &schema).unwrap_err().to_string(),
        r#"<root>: expected bytes, found JSON string "Ā" (a character above U+00FF)"#
    );
}

fn tree(label: &str, children: Vec<Value>, next: Option<Value>) -> Value {
    Value::Record(vec![
        ("label".into(), Value::String(label.into())),
        ("children".into(), Value::Array(children)),
        (
            "next".into(),
            match next {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(n) => Value::Union(1, Box::new(n)),
            },
        ),
    ])
}

#[test]
fn recursive_schema_round_trips_with_exact_json() {
    let schema = file_schema("TreeNode");
    let value = tree(
        "root",
        vec![tree("a", vec![tree("a1", vec![], None)], None)],
        Some(tree("sibling", vec![], None)),
    );
    let json = to_json(&value, &schema).unwrap();
    assert_eq!(
        json,
        json!({
            "label": "root",
            "children": [{"label": "a", "children": [{"label": "a1", "children": [], "next": null}], "next": null}],
            "next": {"com.example.TreeNode": {"label": "sibling", "children": [], "next": null}},
        })
    );
    assert_eq!(from_json(&json, &schema).unwrap(), value);
}

#[test]
fn unresolved_values_are_written_and_read_back_resolved() {
    // `Value::validate` accepts an int for a long, a string for an enum and a bare value for
    // a union; the JSON is the same and decoding gives the resolved form.
    let schema = parse_schema(
        r#"{"type":"record","name":"R","fields":[{"name":"l","type":"long"},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
            {"name":"u","type":["null","string"]}]}"#,
    )
    .unwrap();
    let loose = Value::Record(vec![
        ("l".into(), Value::Int(3)),
        ("e".into(), Value::String("B".into())),
        ("u".into(), Value::String("x".into())),
    ]);
    let json = to_json(&loose, &schema).unwrap();
    assert_eq!(json, json!({"l": 3, "e": "B", "u": {"string": "x"}}));
    assert_eq!(
        from_json(&json, &schema).unwrap(),
        Value::Record(vec![
            ("l".into(), Value::Long(3)),
            ("e".into(), Value::Enum(1, "B".into())),
            (
                "u".into(),
                Value::Union(1, Box::new(Value::String("x".into())))
            ),
        ])
    );
}

fn order_json() -> serde_json::Value {
    let p: Payload = payload! {
        "id" => 1, "customer" => "c", "status" => "NEW",
        "items" => vec![
            payload! { "sku" => "A", "qty" => 1, "price" => "1.00" },
            payload! { "sku" => "B", "qty" => 2, "price" => "2.50", "discount" => 0.5 },
        ],
        "attrs" => payload! { "color" => "red" },
        "placed_on" => "2024-01-31", "placed_at" => 0, "ref" => everything::UID,
    };
    let schema = file_schema("Order");
    to_json(&coerce_payload(&p, &schema).unwrap(), &schema).unwrap()
}

#[test]
fn order_json_is_exact() {
    assert_eq!(
        order_json(),
        json!({
            "id": 1, "customer": "c", "status": "NEW",
            "items": [
                {"sku": "A", "qty": 1, "price": "\u{0}\u{0}\u{0}d", "discount": null},
                {"sku": "B", "qty": 2, "price": "\u{0}\u{0}\u{0}\u{fa}", "discount": {"double": 0.5}},
            ],
            "attrs": {"color": "red"}, "note": null, "placed_on": 19_753, "placed_at": 0,
            "ref": everything::UID, "gift": false, "priority": 3, "shipping": null,
        })
    );
}

/// Decodes `order_json()` changed by `edit` and returns the error's Display.
fn decode_error(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json = order_json();
    edit(&mut json);
    from_json(&json, &file_schema("Order"))
        .expect_err("must not decode")
        .to_string()
}

#[test]
fn decode_wrong_type_names_the_field_path() {
    assert_eq!(
        decode_error(|j| j["items"][1]["qty"] = json!("x")),
        r#"items[1].qty: expected int, found JSON string "x""#
    );
    assert_eq!(
        decode_error(|j| j["items"][0]["qty"] = json!(3_000_000_000i64)),
        "items[0].qty: expected int, found JSON number 3000000000 (out of range for int)"
    );
    assert_eq!(
        decode_error(|j| j["attrs"]["color"] = json!(1)),
        r#"attrs["color"]: expected string, found JSON number 1"#
    );
    assert_eq!(
        decode_error(|j| j["items"][0]["price"] = json!("Ā")),
        r#"items[0].price: expected decimal(9, 2), found JSON string "Ā" (a character above U+00FF)"#
    );
    assert_eq!(
        decode_error(|j| j["ref"] = json!("nope")),
        r#"ref: expected uuid, found JSON string "nope" (not a UUID)"#
    );
}

#[test]
fn decode_missing_and_unknown_fields_are_errors() {
    assert_eq!(
        decode_error(|j| {
            j.as_object_mut().unwrap().remove("customer");
        }),
        "customer: expected string, found nothing (missing field)"
    );
    assert_eq!(
        decode_error(|j| j["bogus"] = json!(1)),
        "bogus: expected record com.example.Order, found field `bogus` (the record has no such field)"
    );
}

#[test]
fn decode_bad_unions_and_enums_are_errors() {
    assert_eq!(
        decode_error(|j| j["note"] = json!({"int": 5})),
        "note: expected union [null, string], found JSON object with 1 keys (the union has no branch `int`)"
    );
    assert_eq!(
        decode_error(|j| j["note"] = json!("bare")),
        r#"note: expected union [null, string], found JSON string "bare" (a union value is null or {"<branch>": value})"#
    );
    assert_eq!(
        decode_error(|j| j["items"][0]["discount"] = json!({"double": "x"})),
        r#"items[0].discount: expected double, found JSON string "x""#
    );
    assert_eq!(
        decode_error(|j| j["status"] = json!("LOST")),
        r#"status: expected enum com.example.OrderStatus, found JSON string "LOST" (symbols are NEW, PAID, SHIPPED)"#
    );
    assert_eq!(
        decode_error(|j| j["items"] = json!({})),
        "items: expected array of record com.example.LineItem, found JSON object with 0 keys"
    );
}

#[test]
fn encode_errors_name_the_field_path() {
    let schema = file_schema("TreeNode");
    let bad = tree("root", vec![tree("a", vec![], None), Value::Int(1)], None);
    assert_eq!(
        to_json(&bad, &schema).unwrap_err().to_string(),
        "children[1]: expected record com.example.TreeNode, found Int(1)"
    );
    let fixed = parse_schema(r#"{"type":"fixed","name":"Two","size":2}"#).unwrap();
    assert_eq!(
        to_json(&Value::Fixed(3, vec![1, 2, 3]), &fixed)
            .unwrap_err()
            .to_string(),
        "<root>: expected fixed Two (2 bytes), found Fixed(3, [1, 2, 3]) (3 bytes, fixed size is 2)"
    );
    let map = parse_schema(r#"{"type":"map","values":"int"}"#).unwrap();
    assert_eq!(
        to_json(
            &Value::Map(HashMap::from([("k".into(), Value::String("x".into()))])),
            &map
        )
        .unwrap_err()
        .to_string(),
        r#"["k"]: expected int, found String("x")"#
    );
}

#[test]
fn deep_json_is_refused_not_a_stack_overflow() {
    let schema = file_schema("TreeNode");
    let mut value = tree("last", vec![], None);
    for i in 0..300 {
        value = tree(&i.to_string(), vec![], Some(value));
    }
    let err = to_json(&value, &schema).unwrap_err();
    assert_eq!(err.detail(), Some("nested deeper than 128 levels"));
    let mut json = json!({"label": "last", "children": [], "next": null});
    for _ in 0..300 {
        json = json!({"label": "x", "children": [], "next": {"com.example.TreeNode": json}});
    }
    let err = from_json(&json, &schema).unwrap_err();
    assert_eq!(err.detail(), Some("nested deeper than 128 levels"));
}
