//! The resolved `key_config`.

use proc_macro2::Span;
use syn::LitStr;

use super::args::KeyConfigArg;
use super::schema_file::{SchemaDirs, SchemaFile, SchemaName};

/// `key_config(...)` with its key schema loaded.
#[derive(Debug)]
pub(crate) enum Key {
    None,
    /// The span of the `plain` keyword (where a missing `PayloadKey` impl is reported).
    Plain(Span),
    /// The field name literal (spans errors about it).
    Field(LitStr),
    /// The key schema literal and the loaded key schema.
    Schema(LitStr, SchemaFile),
}

impl Key {
    /// Loads the key schema for `key_config(schema = "...")`, next to the value schema `value`.
    pub(crate) fn resolve(
        arg: KeyConfigArg,
        value: &SchemaName,
        dirs: &SchemaDirs,
    ) -> syn::Result<Key> {
        Ok(match arg {
            KeyConfigArg::None(_) => Key::None,
            KeyConfigArg::Plain(plain) => Key::Plain(plain.span),
            KeyConfigArg::Field(_, field) => Key::Field(field),
            KeyConfigArg::Schema(_, lit) => {
                let name = value.sibling(&lit)?;
                let file = SchemaFile::load(name, &lit, dirs)?;
                Key::Schema(lit, file)
            }
        })
    }
}
