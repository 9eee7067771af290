//! `#[producer(...)]` on a struct: parse → model → validate → expand.

mod args;
mod expand;
mod model;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

use crate::common::errors::with_error;
use crate::common::schema_file::SchemaDirs;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(item)) => item,
        Ok(other) => return with_error(item, &not_a_struct(&other)),
        Err(error) => return with_error(item, &error),
    };
    let result = args::parse(args)
        .and_then(|args| model::Producer::from_syn(&item, args, &SchemaDirs::from_env()))
        .and_then(|model| {
            model.validate()?;
            Ok(model)
        });
    match result {
        Ok(model) => expand::tokens(&model),
        Err(error) => with_error(item.into_token_stream(), &error),
    }
}

fn not_a_struct(item: &syn::Item) -> syn::Error {
    let span = match item {
        syn::Item::Enum(item) => item.enum_token.span,
        syn::Item::Union(item) => item.union_token.span,
        syn::Item::Fn(item) => item.sig.fn_token.span,
        syn::Item::Type(item) => item.type_token.span,
        _ => Span::call_site(),
    };
    syn::Error::new(
        span,
        "`#[producer]` goes on a struct with named fields, one per schema field (or on a unit \
         struct with `payload = Type`)",
    )
}
