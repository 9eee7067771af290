//! Loading what both macros share: the topic, the value schema and the key.

use syn::LitStr;

use super::args::MessageArgs;
use super::errors::Errors;
use super::key::Key;
use super::schema_file::{SchemaDirs, SchemaFile, SchemaName};

/// The shared arguments with their schema files loaded.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) topic: LitStr,
    pub(crate) schema: SchemaFile,
    pub(crate) key: Key,
}

impl Message {
    /// Loads the value schema and the key schema (if any). Both load errors are reported
    /// together.
    pub(crate) fn load(args: MessageArgs, dirs: &SchemaDirs) -> syn::Result<Self> {
        let mut errors = Errors::new();
        let schema_lit = args.schema.1;
        let name = errors.check(SchemaName::resolve(&schema_lit, args.namespace.as_ref()));
        let schema = name
            .as_ref()
            .and_then(|name| errors.check(SchemaFile::load(name.clone(), &schema_lit, dirs)));
        let key = name
            .as_ref()
            .and_then(|name| errors.check(Key::resolve(args.key_config.1, name, dirs)));
        errors.finish()?;
        let (Some(schema), Some(key)) = (schema, key) else {
            unreachable!("load errors were reported above")
        };
        Ok(Message {
            topic: args.topic.1,
            schema,
            key,
        })
    }
}
