//! Code generation shared by both macros. Paths go through `::deimos::__private`.

use proc_macro2::TokenStream;
use quote::quote;

use super::key::Key;
use super::schema_file::{SchemaFile, SchemaName};

/// `::deimos::__private::schema_ref("Widget", Some("com.example"))`
pub(crate) fn schema_ref(name: &SchemaName) -> TokenStream {
    let simple = &name.name;
    let namespace = match &name.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    quote!(::deimos::__private::schema_ref(#simple, #namespace))
}

/// The `KeyConfig` constant for `key`.
pub(crate) fn key_config(key: &Key) -> TokenStream {
    match key {
        Key::None => quote!(::deimos::__private::KEY_NONE),
        Key::Plain(_) => quote!(::deimos::__private::KEY_PLAIN),
        Key::Field(field) => {
            let field = field.value();
            quote!(::deimos::__private::key_field(#field))
        }
        Key::Schema(_, file) => {
            let name = &file.name.name;
            quote!(::deimos::__private::key_schema(#name))
        }
    }
}

/// `const _: &[u8] = include_bytes!("...");` for the value schema and the key schema, so editing
/// either one rebuilds the crate.
pub(crate) fn include_schemas(value: &SchemaFile, key: &Key) -> TokenStream {
    let key_file = match key {
        Key::Schema(_, file) => Some(file),
        _ => None,
    };
    let paths = std::iter::once(value)
        .chain(key_file)
        .map(|file| file.path.to_string_lossy().into_owned());
    quote! {
        #( const _: &[u8] = ::core::include_bytes!(#paths); )*
    }
}
