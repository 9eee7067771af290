//! `deimos::schema::compatible`: Avro schema-resolution verdicts at Confluent's BACKWARD,
//! FORWARD and FULL levels, the reasons they give, and real datums that agree with them.

use std::path::Path;

use apache_avro::types::Value;
use apache_avro::Schema;
use deimos::schema::{compatible, Compatibility, Incompatibility, SchemaSource};
use deimos_tests::schema_dir;

use Compatibility::{Backward, Forward, Full};

/// `com.example.Widget` with `id: long` plus these extra fields (JSON, comma-separated).
fn widget(extra_fields: &str) -> String {
    let extra = if extra_fields.is_empty() {
        String::new()
    } else {
        format!(",{extra_fields}")
    };
    format!(
        r#"{{"type":"record","name":"Widget","namespace":"com.example",
            "fields":[{{"name":"id","type":"long"}}{extra}]}}"#
    )
}

fn parse(json: &str) -> Schema {
    Schema::parse_str(json).expect("test schema parses")
}

/// The error's Display, asserting it is a resolution failure in `direction` at `path`.
fn failure(
    result: Result<(), Incompatibility>,
    direction: Compatibility,
    path: Option<&str>,
) -> String {
    let err = result.expect_err("expected an incompatibility");
    assert_eq!(err.direction(), Some(direction), "{err}");
    assert_eq!(err.path(), path, "{err}");
    err.to_string()
}

/// [`failure`] of `compatible(old, new, mode)` in `mode`'s own direction.
fn fails<'o, 'n>(
    old: impl Into<SchemaSource<'o>>,
    new: impl Into<SchemaSource<'n>>,
    mode: Compatibility,
    path: Option<&str>,
) -> String {
    failure(compatible(old, new, mode), mode, path)
}

const NAME: &str = r#"{"name":"name","type":"string"}"#;
const COLOR_DEFAULT: &str = r#"{"name":"color","type":"string","default":"red"}"#;
const NOTE_DEFAULT: &str = r#"{"name":"note","type":["null","string"],"default":null}"#;

#[test]
fn adding_a_field_with_a_default_is_fully_compatible() {
    let old = widget(NAME);
    let new = widget(&format!("{NAME},{COLOR_DEFAULT}"));
    for mode in [Backward, Forward, Full] {
        assert!(compatible(&old, &new, mode).is_ok(), "{mode}");
    }
}

#[test]
fn adding_a_field_without_a_default_breaks_backward_only() {
    let old = widget(NAME);
    let new = widget(&format!(r#"{NAME},{{"name":"price","type":"double"}}"#));
    let expected = "backward: reader field `com.example.Widget.price` has no default and is \
                    missing from the writer schema";
    assert_eq!(
        fails(&old, &new, Backward, Some("com.example.Widget.price")),
        expected
    );
    assert!(compatible(&old, &new, Forward).is_ok());
    assert_eq!(
        failure(
            compatible(&old, &new, Full),
            Backward,
            Some("com.example.Widget.price")
        ),
        expected
    );
}

#[test]
fn removing_a_field_with_a_default_is_fully_compatible() {
    let old = widget(&format!("{NAME},{NOTE_DEFAULT}"));
    let new = widget(NAME);
    for mode in [Backward, Forward, Full] {
        assert!(compatible(&old, &new, mode).is_ok(), "{mode}");
    }
}

#[test]
fn removing_a_field_without_a_default_breaks_forward_only() {
    let old = widget(NAME);
    let new = widget("");
    assert!(compatible(&old, &new, Backward).is_ok());
    let expected = "forward: reader field `com.example.Widget.name` has no default and is \
                    missing from the writer schema";
    assert_eq!(
        fails(&old, &new, Forward, Some("com.example.Widget.name")),
        expected
    );
    assert_eq!(
        failure(
            compatible(&old, &new, Full),
            Forward,
            Some("com.example.Widget.name")
        ),
        expected
    );
}

#[test]
fn int_to_long_promotes_backward_but_not_forward() {
    let old = widget(r#"{"name":"count","type":"int"}"#);
    let new = widget(r#"{"name":"count","type":"long"}"#);
    assert!(compatible(&old, &new, Backward).is_ok());
    assert_eq!(
        fails(&old, &new, Forward, Some("com.example.Widget.count")),
        "forward: `com.example.Widget.count`: writer type `long` cannot be read as reader type \
         `int`"
    );
}

const COLOR_RG: &str =
    r#"{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}}"#;
const COLOR_RGB: &str =
    r#"{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}}"#;

#[test]
fn adding_an_enum_symbol_breaks_forward() {
    let (old, new) = (widget(COLOR_RG), widget(COLOR_RGB));
    assert!(compatible(&old, &new, Backward).is_ok());
    assert_eq!(
        fails(&old, &new, Forward, Some("com.example.Widget.color")),
        "forward: `com.example.Widget.color`: reader enum `com.example.Color` lacks writer \
         symbol(s) `BLUE`"
    );
}

#[test]
fn removing_an_enum_symbol_breaks_backward() {
    let (old, new) = (widget(COLOR_RGB), widget(COLOR_RG));
    assert!(compatible(&old, &new, Forward).is_ok());
    assert_eq!(
        fails(&old, &new, Backward, Some("com.example.Widget.color")),
        "backward: `com.example.Widget.color`: reader enum `com.example.Color` lacks writer \
         symbol(s) `BLUE`"
    );
}

/// Known gap in apache-avro 0.21: the Avro spec (1.9+) lets a reader enum's `default` stand in
/// for unknown writer symbols, so this is backward compatible by the spec and in Confluent's
/// Java checker, but apache-avro still reports missing symbols. If this test starts failing,
/// apache-avro has fixed it: flip the assertion and drop the caveat from `compatible`'s docs.
#[test]
fn enum_default_is_not_honoured_by_apache_avro() {
    let old = widget(COLOR_RGB);
    let new = widget(
        r#"{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"],
            "default":"RED"}}"#,
    );
    assert_eq!(
        fails(&old, &new, Backward, Some("com.example.Widget.color")),
        "backward: `com.example.Widget.color`: reader enum `com.example.Color` lacks writer \
         symbol(s) `BLUE`"
    );
}

#[test]
fn adding_a_union_branch_breaks_forward() {
    let old = widget(NOTE_DEFAULT);
    let new = widget(r#"{"name":"note","type":["null","string","long"],"default":null}"#);
    assert!(compatible(&old, &new, Backward).is_ok());
    assert_eq!(
        fails(&old, &new, Forward, Some("com.example.Widget.note")),
        "forward: `com.example.Widget.note`: writer union branch(es) `long` cannot be read as \
         reader type `[null, string]`"
    );
}

#[test]
fn widening_a_field_into_a_union_is_backward_compatible() {
    let old = widget(NAME);
    let new = widget(r#"{"name":"name","type":["null","string"]}"#);
    assert!(compatible(&old, &new, Backward).is_ok());
    assert_eq!(
        fails(&old, &new, Forward, Some("com.example.Widget.name")),
        "forward: `com.example.Widget.name`: writer union branch(es) `null` cannot be read as \
         reader type `string`"
    );
}

fn dims(fields: &str) -> String {
    widget(&format!(
        r#"{{"name":"dims","type":{{"type":"record","name":"Dimensions","fields":[{fields}]}}}}"#
    ))
}

#[test]
fn nested_record_type_change_names_the_nested_field() {
    let old = dims(r#"{"name":"width","type":"int"}"#);
    let new = dims(r#"{"name":"width","type":"string"}"#);
    let path = Some("com.example.Widget.dims.width");
    assert_eq!(
        failure(compatible(&old, &new, Backward), Backward, path),
        "backward: `com.example.Widget.dims.width`: writer type `int` cannot be read as reader \
         type `string`"
    );
    assert_eq!(
        failure(compatible(&old, &new, Forward), Forward, path),
        "forward: `com.example.Widget.dims.width`: writer type `string` cannot be read as \
         reader type `int`"
    );
}

#[test]
fn nested_record_new_field_without_default_names_the_nested_field() {
    let old = dims(r#"{"name":"width","type":"int"}"#);
    let new = dims(r#"{"name":"width","type":"int"},{"name":"height","type":"int"}"#);
    assert!(compatible(&old, &new, Forward).is_ok());
    assert_eq!(
        fails(&old, &new, Backward, Some("com.example.Widget.dims.height")),
        "backward: reader field `com.example.Widget.dims.height` has no default and is missing \
         from the writer schema"
    );
}

#[test]
fn nested_record_inside_an_array_names_the_field() {
    let items = |fields: &str| {
        widget(&format!(
            r#"{{"name":"parts","type":{{"type":"array","items":
                {{"type":"record","name":"Part","fields":[{fields}]}}}}}}"#
        ))
    };
    let old = items(r#"{"name":"sku","type":"string"}"#);
    let new = items(r#"{"name":"sku","type":"string"},{"name":"qty","type":"int"}"#);
    assert_eq!(
        fails(&old, &new, Backward, Some("com.example.Widget.parts.qty")),
        "backward: reader field `com.example.Widget.parts.qty` has no default and is missing \
         from the writer schema"
    );
}

#[test]
fn top_level_type_change_uses_the_schema_name() {
    let old = widget("");
    assert_eq!(
        fails(&old, r#""string""#, Backward, None),
        "backward: the top-level schema: writer type `com.example.Widget` cannot be read as \
         reader type `string`"
    );
}

/// Encodes `value` with `writer` and decodes it with `reader`, as a consumer on the new schema
/// would (Avro schema resolution in apache-avro's reader).
fn roundtrip(writer: &Schema, reader: &Schema, value: Value) -> Value {
    let bytes = apache_avro::to_avro_datum(writer, value).expect("encodes with the writer schema");
    let mut slice = bytes.as_slice();
    let decoded = apache_avro::from_avro_datum(writer, &mut slice, Some(reader))
        .expect("decodes with the reader schema");
    assert!(slice.is_empty(), "whole datum consumed");
    decoded
}

#[test]
fn added_field_default_is_filled_when_reading_old_data() {
    let old = parse(&widget(NAME));
    let new = parse(&widget(&format!("{NAME},{COLOR_DEFAULT}")));
    assert!(compatible(&old, &new, Backward).is_ok());
    let written = Value::Record(vec![
        ("id".into(), Value::Long(7)),
        ("name".into(), Value::String("sprocket".into())),
    ]);
    assert_eq!(
        roundtrip(&old, &new, written),
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("name".into(), Value::String("sprocket".into())),
            ("color".into(), Value::String("red".into())),
        ])
    );
}

#[test]
fn dropped_field_is_skipped_when_reading_old_data() {
    let old = parse(&widget(&format!("{NAME},{NOTE_DEFAULT}")));
    let new = parse(&widget(NAME));
    assert!(compatible(&old, &new, Backward).is_ok());
    let written = Value::Record(vec![
        ("id".into(), Value::Long(7)),
        ("name".into(), Value::String("sprocket".into())),
        (
            "note".into(),
            Value::Union(1, Box::new(Value::String("shiny".into()))),
        ),
    ]);
    assert_eq!(
        roundtrip(&old, &new, written),
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("name".into(), Value::String("sprocket".into())),
        ])
    );
}

#[test]
fn forward_incompatible_data_really_fails_to_decode() {
    // Old readers lack `name`'s replacement: the verdict says forward fails; so does the reader.
    let old = parse(&widget(NAME));
    let new = parse(&widget(""));
    assert!(compatible(&old, &new, Forward).is_err());
    let bytes =
        apache_avro::to_avro_datum(&new, Value::Record(vec![("id".into(), Value::Long(1))]))
            .expect("encodes with the new schema");
    assert!(apache_avro::from_avro_datum(&new, &mut bytes.as_slice(), Some(&old)).is_err());
}

fn widget_avsc() -> std::path::PathBuf {
    schema_dir().join("com/example/Widget.avsc")
}

/// `Widget.avsc` with one more field appended, written to `dir`.
fn evolved_widget(dir: &Path, field: serde_json::Value) -> std::path::PathBuf {
    let text = std::fs::read_to_string(widget_avsc()).expect("Widget.avsc is readable");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("Widget.avsc is JSON");
    json["fields"]
        .as_array_mut()
        .expect("fields array")
        .push(field);
    let path = dir.join("Widget.avsc");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).expect("serializes"),
    )
    .expect("writes evolved schema");
    path
}

#[test]
fn files_are_loaded_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_default = evolved_widget(
        dir.path(),
        serde_json::json!({"name": "color", "type": "string", "default": "blue"}),
    );
    for mode in [Backward, Forward, Full] {
        assert!(
            compatible(widget_avsc().as_path(), &with_default, mode).is_ok(),
            "{mode}"
        );
    }

    let other = tempfile::tempdir().expect("tempdir");
    let without_default = evolved_widget(
        other.path(),
        serde_json::json!({"name": "color", "type": "string"}),
    );
    assert_eq!(
        failure(
            compatible(&widget_avsc(), &without_default, Full),
            Backward,
            Some("com.example.Widget.color")
        ),
        "backward: reader field `com.example.Widget.color` has no default and is missing from \
         the writer schema"
    );

    // Sources mix: a file against a parsed schema.
    let parsed = parse(&std::fs::read_to_string(&without_default).expect("readable"));
    assert!(compatible(&widget_avsc(), &parsed, Forward).is_ok());
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("Missing.avsc");
    let err = compatible(&widget_avsc(), &missing, Backward).expect_err("missing file");
    assert_eq!(
        err.to_string(),
        format!(
            "could not load the new schema from file `{}`",
            missing.display()
        )
    );
    assert_eq!(err.direction(), None);
    let io = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("source is the io error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn unparseable_inputs_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("Bad.avsc");
    std::fs::write(&bad, r#"{"type":"record","name":"Bad"}"#).expect("writes");
    let err = compatible(&bad, &widget_avsc(), Backward).expect_err("bad file");
    assert_eq!(
        err.to_string(),
        format!(
            "could not load the old schema from file `{}`",
            bad.display()
        )
    );
    assert!(matches!(err, Incompatibility::Load { role: "old", .. }));

    let err = compatible(&widget_avsc(), "{not json", Backward).expect_err("bad JSON");
    assert_eq!(
        err.to_string(),
        "could not load the new schema from inline JSON"
    );
}

#[test]
fn incompatibility_is_send_sync_static() {
    fn assert_bounds<T: std::error::Error + Send + Sync + 'static>() {}
    assert_bounds::<Incompatibility>();
}

/// apache-avro 0.21's checker has no rule for `decimal` against `decimal` (it reports a schema
/// with one incompatible even with itself); `compatible()` applies the Avro specification's rule
/// instead: decimals match when precision and scale are equal.
#[test]
fn decimals_match_by_precision_and_scale() {
    let all_types = schema_dir().join("com/example/AllTypes.avsc");
    compatible(&all_types, &all_types, Full)
        .expect("a schema with a decimal is compatible with itself");

    let priced = |decimal: &str, extra: &str| {
        format!(
            r#"{{"type":"record","name":"Price","namespace":"com.example","fields":[
                {{"name":"amount","type":{decimal}}}{extra}]}}"#
        )
    };
    let bytes_9_2 = r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#;
    // Adding a defaulted field next to a decimal is backward compatible (a Confluent registry
    // accepts this evolution).
    let v1 = priced(bytes_9_2, "");
    let v2 = priced(
        bytes_9_2,
        r#",{"name":"note","type":"string","default":""}"#,
    );
    compatible(v1.as_str(), v2.as_str(), Backward).expect("added defaulted field");
    compatible(v1.as_str(), v2.as_str(), Full).expect("and forward: the new field is skipped");

    // Another scale reads the same bytes as another number: incompatible, with the reason.
    let v3 = priced(
        r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":3}"#,
        "",
    );
    let err = compatible(v1.as_str(), v3.as_str(), Backward).unwrap_err();
    assert_eq!(err.path(), Some("com.example.Price.amount"));
    assert_eq!(
        err.to_string(),
        "backward: `com.example.Price.amount`: writer type `decimal(9, 2)` does not match reader \
         type `decimal(9, 3)`: precision and scale must be equal (Avro specification, Schema \
         Resolution)"
    );
    // A decimal against plain bytes is still a type question for the underlying types.
    let plain = priced(r#""bytes""#, "");
    compatible(v1.as_str(), plain.as_str(), Full).expect("decimal and bytes share the encoding");
}

#[test]
fn identical_schemas_without_decimals_are_fully_compatible() {
    let widget = widget_avsc();
    assert!(compatible(&widget, &widget, Full).is_ok());
}

/// Known gap in apache-avro 0.21: named types are matched by simple name, so moving a record to
/// another namespace passes, although the Avro spec requires full names (or aliases) to match.
#[test]
fn namespace_change_is_not_caught_by_apache_avro() {
    let old = widget(NAME);
    let new = old.replace("com.example", "com.other");
    assert!(compatible(&old, &new, Full).is_ok());
}
