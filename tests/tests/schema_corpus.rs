//! Real-world `.avsc` files (the shared corpus, `AVRO_CORPUS_DIR`; see its `SOURCES.md`)
//! parsed, laid out as `AvroLocal` expects, and round-tripped with random valid values through
//! every schema backend ([`BACKENDS`]), keys included for records.
//!
//! Files that name types defined in other files of their folder are parsed together with
//! those files (`Schema::parse_list`) and installed as standalone JSON with the definitions
//! inlined (`deimos::schema::names::inline_named`); the corpus is never copied into the project.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use apache_avro::schema::ResolvedSchema;
use apache_avro::Schema;
use deimos::config::SchemaBackendKind;
use deimos::schema::names::{inline_named, install_lenient_names, parse_schema};
use deimos_tests::avro_gen::{roundtrip_keys, roundtrip_value, SchemaTree, ValueGen, BACKENDS};

/// The corpus directory (one subdirectory per source repository).
const CORPUS_ENV: &str = "AVRO_CORPUS_DIR";
/// Random values per schema and backend.
const VALUES: u64 = 25;

/// Corpus files expected not to round-trip, with the reason. The test fails if this list is
/// out of date in either direction.
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    (
        "apache__avro/regression_error_field_in_record.avsc",
        "apache-avro 0.21 has no protocol `error` type (`Unknown primitive type: ...error`)",
    ),
    (
        "linkedin__avro-util/TestRecordWithHorribleDefaultValues.avsc",
        "negative case: `1.234e+567` is out of range for serde_json",
    ),
    (
        "linkedin__avro-util/TestRecordWithInternalNullNamespaceReference.avsc",
        "apache-avro 0.21 does not fall back to the null namespace for a bare name \
         (Java and Python do): `Unknown primitive type: outer.InnerRecord1`",
    ),
    (
        "linkedin__avro-util/TestTreeNode.avsc",
        "apache-avro 0.21 bug: rejects the valid recursive array default `[{\"children\": []}]` \
         of a union (`One union type Array must match the default's value type Array`)",
    ),
    (
        "linkedin__avro-util/logicalTypesWithDefaults.avsc",
        "apache-avro 0.21 bug: rejects the bytes default `\"13\"` (a string, as the spec \
         writes bytes defaults) of a decimal union branch",
    ),
];

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os(CORPUS_ENV).unwrap_or_else(|| {
        panic!("{CORPUS_ENV} is not set: point it at the Avro schema corpus (.ci/run sets it to shared/corpus/avro)")
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "{CORPUS_ENV}={} is not a directory",
        dir.display()
    );
    dir
}

/// Features a schema exercises, for the coverage check.
fn features(schema: &Schema, out: &mut BTreeSet<&'static str>, depth: usize) {
    let named_ns = |ns: &Option<String>, out: &mut BTreeSet<&'static str>| {
        if ns.as_deref().is_some_and(|n| !n.is_empty()) {
            out.insert("namespace");
        }
    };
    match schema {
        Schema::Record(r) => {
            named_ns(&r.name.namespace, out);
            if depth > 0 {
                out.insert("nested record");
            }
            for f in &r.fields {
                features(&f.schema, out, depth + 1);
            }
        }
        Schema::Ref { .. } => {
            out.insert("named reference");
        }
        Schema::Enum(e) => {
            named_ns(&e.name.namespace, out);
            out.insert("enum");
        }
        Schema::Fixed(x) => {
            named_ns(&x.name.namespace, out);
            out.insert("fixed");
        }
        Schema::Map(m) => {
            out.insert("map");
            features(&m.types, out, depth + 1);
        }
        Schema::Array(a) => {
            out.insert("array");
            features(&a.items, out, depth + 1);
        }
        Schema::Union(u) => {
            out.insert("union");
            for v in u.variants() {
                features(v, out, depth + 1);
            }
        }
        Schema::Decimal(d) => {
            out.insert("logical type");
            out.insert("decimal");
            features(&d.inner, out, depth + 1);
        }
        Schema::Uuid
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos
        | Schema::Duration
        | Schema::BigDecimal => {
            out.insert("logical type");
        }
        _ => {}
    }
}

/// Whether a named type refers to itself (directly or through others).
fn recursive(schema: &Schema) -> bool {
    let Ok(resolved) = ResolvedSchema::try_from(schema) else {
        return false;
    };
    fn reaches(
        s: &Schema,
        target: &str,
        names: &ResolvedSchema<'_>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        match s {
            Schema::Ref { name } => {
                let full = name.fullname(None);
                full == target
                    || (seen.insert(full)
                        && names
                            .get_names()
                            .get(name)
                            .is_some_and(|t| reaches(t, target, names, seen)))
            }
            Schema::Record(r) => r
                .fields
                .iter()
                .any(|f| reaches(&f.schema, target, names, seen)),
            Schema::Array(a) => reaches(&a.items, target, names, seen),
            Schema::Map(m) => reaches(&m.types, target, names, seen),
            Schema::Union(u) => u.variants().iter().any(|v| reaches(v, target, names, seen)),
            _ => false,
        }
    }
    resolved.get_names().iter().any(|(name, s)| {
        matches!(s, Schema::Record(_))
            && reaches_record(s, &name.fullname(None), &resolved, reaches)
    })
}

fn reaches_record(
    s: &Schema,
    target: &str,
    names: &ResolvedSchema<'_>,
    reaches: fn(&Schema, &str, &ResolvedSchema<'_>, &mut BTreeSet<String>) -> bool,
) -> bool {
    let Schema::Record(r) = s else { return false };
    r.fields
        .iter()
        .any(|f| reaches(&f.schema, target, names, &mut BTreeSet::new()))
}

fn avsc_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "avsc"))
        .collect();
    files.sort();
    files
}

/// Parses `text` on its own; failing that, together with the other files of its folder whose
/// definitions it names (`Schema::parse_list`), returning the standalone JSON to install.
fn parse_with_folder(
    path: &Path,
    text: &str,
    folder: &[(PathBuf, String)],
) -> Result<(Schema, String, Option<Vec<String>>), String> {
    let standalone_err = match parse_schema(text) {
        Ok(schema) => return Ok((schema, text.to_owned(), None)),
        Err(e) => e.to_string(),
    };
    // Dependencies: files of the folder that parse alone and whose named types this text
    // mentions by full or simple name.
    let mut deps = Vec::new();
    for (other, other_text) in folder {
        if other == path {
            continue;
        }
        let Ok(schema) = parse_schema(other_text) else {
            continue;
        };
        let Ok(resolved) = ResolvedSchema::try_from(&schema) else {
            continue;
        };
        let mentioned = resolved.get_names().keys().any(|n| {
            text.contains(&format!("\"{}\"", n.fullname(None)))
                || text.contains(&format!("\"{}\"", n.name))
        });
        if mentioned {
            deps.push((other.clone(), other_text.clone()));
        }
    }
    if deps.is_empty() {
        return Err(standalone_err);
    }
    install_lenient_names();
    // `parse_list` wants one named type per text: a file holding a top-level JSON array of
    // types (DatasetIdentifier.avsc) contributes each element.
    let mut texts: Vec<String> = Vec::new();
    for (_, t) in &deps {
        match serde_json::from_str::<serde_json::Value>(t) {
            Ok(serde_json::Value::Array(items)) => {
                texts.extend(items.iter().map(|i| i.to_string()));
            }
            _ => texts.push(t.clone()),
        }
    }
    let deps_len = texts.len();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => texts.extend(items.iter().map(|i| i.to_string())),
        _ => texts.push(text.to_owned()),
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let parsed = std::panic::catch_unwind(|| Schema::parse_list(texts.clone()))
        .map_err(|_| "apache-avro panicked in parse_list".to_owned())?
        .map_err(|e| {
            format!(
                "{standalone_err}; with {} files of its folder: {e}",
                deps.len()
            )
        })?;
    // The file's own types (several for a top-level array: their union, as `parse_schema`
    // reads such a file).
    let own = &parsed[deps_len..];
    let target = match own {
        [one] => one.clone(),
        many => Schema::Union(
            apache_avro::schema::UnionSchema::new(many.to_vec()).map_err(|e| e.to_string())?,
        ),
    };
    let target = &target;
    let all: Vec<&Schema> = parsed.iter().collect();
    let resolved = ResolvedSchema::try_from(all).map_err(|e| e.to_string())?;
    let json = inline_named(target, resolved.get_names()).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&json).unwrap();
    let schema = parse_schema(&json).map_err(|e| format!("inlined schema does not parse: {e}"))?;
    let dep_names = deps
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    Ok((schema, json, Some(dep_names)))
}

#[derive(Debug, Default)]
struct Outcome {
    status: String,
    features: BTreeSet<&'static str>,
    ok: bool,
}

#[test]
#[ignore = "needs AVRO_CORPUS_DIR (the shared Avro schema corpus); .ci/run sets it"]
fn corpus_schemas_round_trip_through_every_backend() {
    let corpus = corpus_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in &folders {
        let files: Vec<(PathBuf, String)> = avsc_files(folder)
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p, text)
            })
            .collect();
        for (path, text) in &files {
            let key = format!(
                "{}/{}",
                folder.file_name().unwrap().to_string_lossy(),
                path.file_name().unwrap().to_string_lossy()
            );
            let mut outcome = Outcome::default();
            let (schema, json, deps) = match parse_with_folder(path, text, &files) {
                Ok(parsed) => parsed,
                Err(e) => {
                    outcome.status = format!("does not parse: {e}");
                    outcomes.insert(key, outcome);
                    continue;
                }
            };
            features(&schema, &mut outcome.features, 0);
            if recursive(&schema) {
                outcome.features.insert("recursive");
            }
            // A tree per file: folders define some names twice (SOURCES.md).
            let tree = SchemaTree::new();
            let stem = path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .replace(['.', '-'], "_");
            let schema_ref = tree.add(&schema, &json, &stem);
            let mut errors = Vec::new();
            let mut bytes = 0;
            // Deimos' hyphenated namespaces load everywhere but may not be registered: the
            // registry backend must refuse them (checked), the others round-trip them.
            let lenient_name = deimos::schema::names::strict_name_violation(&schema);
            let mut refused = false;
            runtime.block_on(async {
                for (kind, codec) in tree.codecs() {
                    if let (Some(name), SchemaBackendKind::AvroSchemaRegistry) =
                        (&lenient_name, kind)
                    {
                        let value = ValueGen::new(0).value(&schema);
                        match roundtrip_value(&codec, &schema_ref, value).await {
                            Err(e)
                                if e.contains("breaks the Avro name rule")
                                    && e.contains(name.as_str()) =>
                            {
                                refused = true;
                            }
                            other => errors.push(format!(
                                "{kind:?} should refuse to register `{name}`, got {other:?}"
                            )),
                        }
                        continue;
                    }
                    for seed in 0..VALUES {
                        let value = ValueGen::new(seed).value(&schema);
                        match roundtrip_value(&codec, &schema_ref, value.clone()).await {
                            Ok(n) => bytes += n,
                            Err(e) => {
                                errors.push(format!("{kind:?} seed {seed}: {e}"));
                                break;
                            }
                        }
                        if let Err(e) = roundtrip_keys(&codec, &schema_ref, &value).await {
                            errors.push(format!("{kind:?} seed {seed} key: {e}"));
                            break;
                        }
                    }
                }
            });
            let via = deps
                .map(|d| format!(" (with {})", d.join(", ")))
                .unwrap_or_default();
            if errors.is_empty() {
                outcome.ok = true;
                let backends = BACKENDS.len() - usize::from(refused);
                let note = if refused {
                    " (registry refused its hyphenated name, as it must)"
                } else {
                    ""
                };
                outcome.status =
                    format!("ok{via}: {VALUES} values x {backends} backends, {bytes} bytes{note}");
            } else {
                outcome.status = format!("FAILED{via}: {}", errors.join("; "));
            }
            outcomes.insert(key, outcome);
        }
    }

    println!(
        "{} corpus schemas under {}:",
        outcomes.len(),
        corpus.display()
    );
    for (key, o) in &outcomes {
        let features: Vec<_> = o.features.iter().copied().collect();
        println!("  {key}: {} [{}]", o.status, features.join(", "));
    }

    let round_tripped: Vec<&Outcome> = outcomes.values().filter(|o| o.ok).collect();
    println!("{} of {} round-trip", round_tripped.len(), outcomes.len());
    assert!(
        outcomes.len() >= 20,
        "only {} corpus files found",
        outcomes.len()
    );
    assert!(
        round_tripped.len() >= 20,
        "only {} schemas round-trip",
        round_tripped.len()
    );
    let covered: BTreeSet<&str> = round_tripped
        .iter()
        .flat_map(|o| o.features.iter().copied())
        .collect();
    for feature in [
        "nested record",
        "recursive",
        "union",
        "logical type",
        "decimal",
        "enum",
        "fixed",
        "map",
        "array",
        "namespace",
        "named reference",
    ] {
        assert!(
            covered.contains(feature),
            "no round-tripped schema has a {feature}"
        );
    }
    let failed: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, o)| !o.ok)
        .map(|(k, _)| k.as_str())
        .collect();
    let expected: BTreeSet<&str> = EXPECTED_FAILURES.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        failed, expected,
        "failures differ from EXPECTED_FAILURES (update the list with the reason)"
    );
}
