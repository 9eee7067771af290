//! `avro_local`: schemas from `.avsc` files, bare Avro datums on the wire.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use apache_avro::types::Value;
use apache_avro::Schema;

use super::{SchemaBackend, SchemaRef, SerializationContext};
use crate::config::SchemaBackendKind;
use crate::error::{BoxError, Error, Result};

/// Deimos' `avro_local` backend: finds `com.example.Widget` at
/// `<root>/com/example/Widget.avsc` and writes each value as a bare Avro binary datum (Avro
/// spec, "Binary Encoding"; no object container, no Confluent framing), so a reader needs the
/// same `.avsc`.
///
/// Parsed schemas are cached for the life of the backend.
#[derive(Debug)]
pub struct AvroLocal {
    root: PathBuf,
    cache: RwLock<HashMap<SchemaRef, Arc<Schema>>>,
}

impl AvroLocal {
    /// A backend over the `.avsc` tree at `root` (`schema.path`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        super::names::install_lenient_names();
        AvroLocal {
            root: root.into(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The schema tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `schema` lives: `<root>/<namespace with / for .>/<name>.avsc`.
    pub fn path_of(&self, schema: &SchemaRef) -> PathBuf {
        let mut path = self.root.clone();
        if let Some(ns) = &schema.namespace {
            path.extend(ns.split('.').filter(|s| !s.is_empty()));
        }
        path.push(format!("{}.avsc", schema.name));
        path
    }

    /// Loads and parses a schema synchronously (cached).
    ///
    /// # Errors
    /// [`Error::SchemaLoad`] when the file is missing, unreadable, not valid Avro, or defines
    /// another name than the one asked for.
    pub fn load(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        if let Some(found) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(schema)
        {
            return Ok(found.clone());
        }
        let path = self.path_of(schema);
        let load_err = |source: BoxError| Error::SchemaLoad {
            schema: schema.full_name(),
            source,
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| load_err(format!("cannot read `{}`: {e}", path.display()).into()))?;
        let parsed = super::names::parse_schema(&text).map_err(|e| {
            load_err(format!("`{}` is not a valid Avro schema: {e}", path.display()).into())
        })?;
        if let Some(name) = parsed.name() {
            if name.fullname(None) != schema.full_name() {
                return Err(load_err(
                    format!(
                        "`{}` defines `{}`, expected `{}`",
                        path.display(),
                        name.fullname(None),
                        schema.full_name()
                    )
                    .into(),
                ));
            }
        }
        if let Some(bad) = super::names::strict_name_violation(&parsed) {
            tracing::warn!(
                schema = %schema,
                name = %bad,
                path = %path.display(),
                "schema uses a name the Avro specification rejects (Ruby Avro and Deimos accept \
                 hyphens in namespaces); loaded anyway, but a schema registry will refuse it"
            );
        }
        let parsed = Arc::new(parsed);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(schema.clone(), parsed.clone());
        Ok(parsed)
    }
}

#[async_trait::async_trait]
impl SchemaBackend for AvroLocal {
    fn kind(&self) -> SchemaBackendKind {
        SchemaBackendKind::AvroLocal
    }

    async fn schema(&self, schema: &SchemaRef) -> Result<Arc<Schema>> {
        self.load(schema)
    }

    async fn encode(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        avro: &Schema,
        value: Value,
    ) -> Result<Vec<u8>, BoxError> {
        Ok(apache_avro::to_avro_datum(avro, value)?)
    }

    async fn decode(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        avro: &Schema,
        bytes: &[u8],
    ) -> Result<Value, BoxError> {
        super::guard::decode_datum(avro, None, bytes)
    }

    async fn datum_prefix(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &Schema,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(Some(Vec::new()))
    }

    async fn datum_body<'b>(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &Schema,
        bytes: &'b [u8],
    ) -> Result<Option<&'b [u8]>, BoxError> {
        Ok(Some(bytes))
    }

    fn datum_body_now<'b>(
        &self,
        _ctx: SerializationContext<'_>,
        _schema: &SchemaRef,
        _avro: &Schema,
        bytes: &'b [u8],
    ) -> Option<Result<Option<&'b [u8]>, BoxError>> {
        Some(Ok(Some(bytes)))
    }
}
