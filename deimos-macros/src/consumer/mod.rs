//! `#[consumer(...)]` on an `async fn` handler, or with `entity = ..` on a unit struct (an
//! entity consumer): parse → model → validate → expand.

mod args;
mod expand;
mod model;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::common::errors::with_error;
use crate::common::schema_file::SchemaDirs;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(syn::Item::Struct(item)) = syn::parse2::<syn::Item>(item.clone()) {
        // An entity consumer: `#[consumer(.., entity = path::Entity)] struct C;`.
        let result = args::ConsumerArgs::parse(args)
            .and_then(|args| {
                model::Consumer::from_syn(model::Item::Struct(&item), args, &SchemaDirs::from_env())
            })
            .and_then(|model| {
                model.validate()?;
                Ok(model)
            });
        return match result {
            Ok(model) => expand::tokens(&model),
            Err(error) => with_error(item.into_token_stream(), &error),
        };
    }
    let handler = match syn::parse2::<model::HandlerFn>(item.clone()) {
        Ok(handler) => handler,
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                format_args!("`#[consumer]` goes on an `async fn` handler: {error}"),
            );
            return with_error(item, &error);
        }
    };
    let result = args::ConsumerArgs::parse(args)
        .and_then(|args| {
            model::Consumer::from_syn(model::Item::Fn(&handler), args, &SchemaDirs::from_env())
        })
        .and_then(|model| {
            model.validate()?;
            Ok(model)
        });
    match result {
        Ok(model) => expand::tokens(&model),
        Err(error) => with_error(handler.into_token_stream(), &error),
    }
}
