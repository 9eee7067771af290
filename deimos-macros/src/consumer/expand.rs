//! `#[consumer]` code generation. No validation here.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::model::Consumer;
use crate::common::expand::{include_schemas, key_config, schema_ref};

pub(crate) fn tokens(model: &Consumer<'_>) -> TokenStream {
    let handler = model.handler;
    let sig = &handler.sig;
    let name = &sig.ident;
    let name_str = name.unraw().to_string();
    let topic = model.topic.value();
    let group_id = model.group_id.value();
    let schema_ref = schema_ref(&model.schema.name);
    let key_config = key_config(&model.key);
    let includes = include_schemas(&model.schema, &model.key);

    // Type errors land on the user's tokens: a payload parameter that is not `Option<T>` on its
    // type, a metadata parameter that is not `Metadata` on its type, a wrong return type on the
    // return type (or on the name when there is none). rustc reports an unsatisfied bound on
    // the whole call expression or argument, so those carry the user's span; the identifiers
    // they use are created once and reused, so they resolve whatever the span.
    let param_ty_span = |index: usize| match sig.inputs.iter().nth(index) {
        Some(FnArg::Typed(param)) => param.ty.span(),
        _ => name.span(),
    };
    let payload = Ident::new("payload", Span::call_site());
    let metadata = Ident::new("metadata", param_ty_span(1));
    let output = Ident::new(
        "output",
        match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => name.span(),
        },
    );
    let args = quote!(#payload, &#metadata);
    let payload_from_avro =
        quote_spanned!(param_ty_span(0)=> ::deimos::__private::payload_from_incoming(#args));
    let handler_result =
        quote_spanned!(output.span()=> ::deimos::__private::handler_result(#output));

    quote! {
        #handler

        const _: () = {
            #includes

            fn __deimos_handler(
                #payload: ::deimos::__private::Incoming,
                #metadata: ::deimos::Metadata,
            ) -> ::deimos::__private::HandlerFuture {
                ::std::boxed::Box::pin(async move {
                    let #payload = #payload_from_avro?;
                    let #output = #name(#payload, #metadata).await;
                    #handler_result
                })
            }

            ::deimos::__private::inventory::submit! {
                ::deimos::__private::ConsumerRegistration {
                    name: ::core::concat!(::core::module_path!(), "::", #name_str),
                    topic: #topic,
                    schema: #schema_ref,
                    group_id: #group_id,
                    key_config: #key_config,
                    delivery: ::deimos::__private::Delivery::Message,
                    settings: ::deimos::__private::ConsumerSettings::NONE,
                    fatal_error: ::core::option::Option::None,
                    handler: ::deimos::__private::Handler::Message(__deimos_handler),
                }
            }
        };
    }
}
