//! `#[consumer]` code generation. No validation here.

use std::time::Duration;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned as _;
use syn::{FnArg, LitBool, ReturnType};

use super::args::{Delivery, SettingsArgs};
use super::model::{Consumer, HandlerFn, Target};
use crate::common::args::Spanned;
use crate::common::expand::{include_schemas, key_config, schema_ref};

pub(crate) fn tokens(model: &Consumer<'_>) -> TokenStream {
    match &model.target {
        Target::Fn(handler) => fn_tokens(model, handler),
        Target::Entity {
            item,
            entity: Some((_, entity)),
            hooks,
            compacted,
        } => entity_tokens(
            model,
            item,
            entity,
            hooks.as_ref(),
            compacted.as_ref().is_none_or(|(_, c)| c.value),
        ),
        Target::Entity { entity: None, .. } => {
            unreachable!("validate reports an entity consumer without `entity`")
        }
    }
}

/// The registration (`inventory::submit!`) of `__deimos_handler` under `name` (a string
/// expression).
fn registration(model: &Consumer<'_>, name: &TokenStream, variant: &TokenStream) -> TokenStream {
    let topic = model.topic.value();
    let group_id = model.group_id.value();
    let schema_ref = schema_ref(&model.schema.name);
    let key_config = key_config(&model.key);
    let delivery = match model.delivery {
        Delivery::Message => quote!(Message),
        Delivery::Batch => quote!(Batch),
        Delivery::InlineBatch => quote!(InlineBatch),
    };
    let settings = settings(&model.settings);
    // A path that is not a `fn(&deimos::Error) -> bool` is reported on the path.
    let fatal_error = match &model.settings.fatal_error {
        Some((_, path)) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(::deimos::__private::fatal_error_hook(#path))
        },
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::deimos::__private::inventory::submit! {
            ::deimos::__private::ConsumerRegistration {
                name: #name,
                topic: #topic,
                schema: #schema_ref,
                group_id: #group_id,
                key_config: #key_config,
                delivery: ::deimos::__private::Delivery::#delivery,
                settings: #settings,
                fatal_error: #fatal_error,
                handler: ::deimos::__private::Handler::#variant(__deimos_handler),
            }
        }
    }
}

/// An entity consumer: `impl deimos::orm::EntityConsumer`, the hooks impl, and a registered
/// handler that writes each message with `deimos::orm::handle`.
fn entity_tokens(
    model: &Consumer<'_>,
    item: &syn::ItemStruct,
    entity: &syn::Type,
    hooks: Option<&crate::common::kw::hooks>,
    compacted: bool,
) -> TokenStream {
    let ident = &item.ident;
    let name = ident.unraw().to_string();
    let schema_ref = schema_ref(&model.schema.name);
    let includes = include_schemas(&model.schema, &model.key);
    let orm = quote_spanned!(entity.span()=> ::deimos::orm);
    // With `hooks`, a missing `EntityConsumerHooks` impl is reported on `hooks`; without, an
    // empty impl (a user impl then conflicts instead of being silently ignored). The handler's
    // body carries that span (or the entity's), so what fails in it is reported there, not on
    // the whole attribute.
    let (at, hooks_impl) = match hooks {
        Some(hooks) => (hooks.span, TokenStream::new()),
        None => (
            entity.span(),
            quote_spanned! {entity.span()=>
                #[automatically_derived]
                impl ::deimos::orm::EntityConsumerHooks for #ident {}
            },
        ),
    };
    let consumer_impl = quote_spanned! {entity.span()=>
        #[automatically_derived]
        impl #orm::EntityConsumer for #ident {
            type Entity = #entity;
            type Model = <#entity as #orm::sea_orm::EntityTrait>::Model;
            type ActiveModel = <#entity as #orm::sea_orm::EntityTrait>::ActiveModel;
            const SCHEMA: ::deimos::__private::SchemaRef = #schema_ref;
        }
    };
    let (handler, variant) = if model.delivery == Delivery::InlineBatch {
        let handler = quote_spanned! {at=>
            type __DeimosConsumer = #ident;
            fn __deimos_handler(
                payloads: ::std::vec::Vec<::deimos::__private::Incoming>,
                metadata: ::deimos::__private::BatchMetadata,
            ) -> ::core::result::Result<
                ::deimos::__private::HandlerFuture,
                ::deimos::__private::PayloadError,
            > {
                ::core::result::Result::Ok(::deimos::orm::batch_handler_future::<__DeimosConsumer>(
                    payloads, metadata, #compacted,
                ))
            }
        };
        (handler, quote!(Batch))
    } else {
        let handler = quote_spanned! {at=>
            type __DeimosConsumer = #ident;
            fn __deimos_handler(
                payload: ::deimos::__private::Incoming,
                metadata: ::deimos::Metadata,
            ) -> ::core::result::Result<
                ::deimos::__private::HandlerFuture,
                ::deimos::__private::PayloadError,
            > {
                ::core::result::Result::Ok(::deimos::orm::handler_future::<__DeimosConsumer>(
                    payload, metadata,
                ))
            }
        };
        (handler, quote!(Message))
    };
    let registration = registration(
        model,
        &quote!(::core::concat!(::core::module_path!(), "::", #name)),
        &variant,
    );
    quote! {
        #item

        const _: () = {
            #includes

            #consumer_impl

            #hooks_impl

            #handler

            #registration
        };
    }
}

fn fn_tokens(model: &Consumer<'_>, handler: &HandlerFn) -> TokenStream {
    let sig = &handler.sig;
    let name = &sig.ident;
    let name_str = name.unraw().to_string();
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
    let handler_result =
        quote_spanned!(output.span()=> ::deimos::__private::handler_result(#output));
    let (incoming, metadata_ty, payload_from_avro, handler_variant) = match model.delivery {
        Delivery::Message | Delivery::Batch => (
            quote!(::deimos::__private::Incoming),
            quote!(::deimos::Metadata),
            quote_spanned!(param_ty_span(0)=> ::deimos::__private::payload_from_incoming(#args)),
            quote!(Message),
        ),
        Delivery::InlineBatch => (
            quote!(::std::vec::Vec<::deimos::__private::Incoming>),
            quote!(::deimos::__private::BatchMetadata),
            quote_spanned!(param_ty_span(0)=> ::deimos::__private::payloads_from_incoming(#args)),
            quote!(Batch),
        ),
    };
    let registration = registration(
        model,
        &quote!(::core::concat!(::core::module_path!(), "::", #name_str)),
        &handler_variant,
    );

    quote! {
        #handler

        const _: () = {
            #includes

            fn __deimos_handler(
                #payload: #incoming,
                #metadata: #metadata_ty,
            ) -> ::core::result::Result<
                ::deimos::__private::HandlerFuture,
                ::deimos::__private::PayloadError,
            > {
                let #payload = #payload_from_avro?;
                ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                    let #output = #name(#payload, #metadata).await;
                    #handler_result
                }))
            }

            #registration
        };
    }
}

/// The `ConsumerSettings` expression: the given settings over `ConsumerSettings::NONE`.
/// Integer and bool literals keep the user's span, so rustc reports an integer too large for
/// the field (`max_batch_size` is a `usize`) on it.
fn settings(settings: &SettingsArgs) -> TokenStream {
    let int = |value: Spanned<u64>| {
        let mut literal = Literal::u64_unsuffixed(value.value);
        literal.set_span(value.span);
        literal.into_token_stream()
    };
    let int32 = |value: &Spanned<u32>| {
        int(Spanned {
            value: u64::from(value.value),
            span: value.span,
        })
    };
    let boolean = |value: &Spanned<bool>| LitBool::new(value.value, value.span).into_token_stream();
    let duration = |value: &Spanned<Duration>| duration(value.value);
    let backoff = settings.backoff.as_ref().map(|(_, backoff)| backoff);
    let SettingsArgs {
        delivery: _,
        max_concurrency,
        start_from_beginning,
        session_timeout,
        heartbeat_interval,
        offset_commit_interval,
        offset_commit_threshold,
        backoff: _,
        reraise_errors,
        disabled,
        max_batch_size,
        max_wait_time,
        min_bytes,
        max_bytes_per_partition,
        report_lag,
        dead_letter_topic,
        dead_letter_max_retries,
        fatal_error: _,
    } = settings;
    let fields = [
        (
            "max_concurrency",
            max_concurrency.as_ref().map(|(_, v)| int32(v)),
        ),
        (
            "start_from_beginning",
            start_from_beginning.as_ref().map(|(_, v)| boolean(v)),
        ),
        (
            "session_timeout",
            session_timeout.as_ref().map(|(_, v)| duration(v)),
        ),
        (
            "heartbeat_interval",
            heartbeat_interval.as_ref().map(|(_, v)| duration(v)),
        ),
        (
            "offset_commit_interval",
            offset_commit_interval.as_ref().map(|(_, v)| duration(v)),
        ),
        (
            "offset_commit_threshold",
            offset_commit_threshold.as_ref().map(|(_, v)| int(*v)),
        ),
        (
            "backoff_min",
            backoff
                .and_then(|b| b.min.as_ref())
                .map(|(_, v)| duration(v)),
        ),
        (
            "backoff_max",
            backoff
                .and_then(|b| b.max.as_ref())
                .map(|(_, v)| duration(v)),
        ),
        (
            "reraise_errors",
            reraise_errors.as_ref().map(|(_, v)| boolean(v)),
        ),
        ("disabled", disabled.as_ref().map(|(_, v)| boolean(v))),
        (
            "max_batch_size",
            max_batch_size.as_ref().map(|(_, v)| int(*v)),
        ),
        (
            "max_wait_time",
            max_wait_time.as_ref().map(|(_, v)| duration(v)),
        ),
        ("min_bytes", min_bytes.as_ref().map(|(_, v)| int32(v))),
        (
            "max_bytes_per_partition",
            max_bytes_per_partition.as_ref().map(|(_, v)| int32(v)),
        ),
        ("report_lag", report_lag.as_ref().map(|(_, v)| boolean(v))),
        (
            "dead_letter_topic",
            dead_letter_topic
                .as_ref()
                .map(|(_, v)| v.into_token_stream()),
        ),
        (
            "dead_letter_max_retries",
            dead_letter_max_retries.as_ref().map(|(_, v)| int32(v)),
        ),
    ];
    let fields: Vec<TokenStream> = fields
        .into_iter()
        .filter_map(|(name, value)| {
            let name = format_ident!("{name}");
            value.map(|value| quote!(#name: ::core::option::Option::Some(#value)))
        })
        .collect();
    if fields.is_empty() {
        return quote!(::deimos::__private::ConsumerSettings::NONE);
    }
    quote! {
        ::deimos::__private::ConsumerSettings {
            #(#fields,)*
            ..::deimos::__private::ConsumerSettings::NONE
        }
    }
}

/// A `const` `Duration` expression, exact to the nanosecond.
fn duration(value: Duration) -> TokenStream {
    let secs = value.as_secs();
    let nanos = value.subsec_nanos();
    quote!(::core::time::Duration::new(#secs, #nanos))
}
