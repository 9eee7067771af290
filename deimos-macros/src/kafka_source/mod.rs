//! `#[kafka_source(...)]` on a SeaORM entity's `impl ActiveModelBehavior for ActiveModel` block
//! (or on its `Model` struct): the hooks that publish the entity's inserts, updates and deletes
//! (Deimos' `KafkaSource`).

mod args;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, Item, ItemImpl, ItemStruct, Pat, Path, Type};

use crate::common::errors::{with_error, Errors};
use args::SourceArgs;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_error(item, &error),
    };
    let args = match args::parse(args) {
        Ok(args) => args,
        Err(error) => return with_error(item, &error),
    };
    let result = match parsed {
        Item::Impl(block) => expand_impl(&args, block),
        Item::Struct(model) => expand_struct(&args, &model),
        other => Err(syn::Error::new(
            item_keyword_span(&other),
            "`#[kafka_source]` goes on a SeaORM entity's `impl ActiveModelBehavior for \
             ActiveModel` block (keeping your own hooks), or on its `Model` struct",
        )),
    };
    match result {
        Ok(tokens) => tokens,
        Err(error) => with_error(item, &error),
    }
}

fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Fn(item) => item.sig.fn_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::Mod(item) => item.mod_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::Type(item) => item.type_token.span,
        other => other.span(),
    }
}

/// On `pub struct Model`: the struct as written, then `impl ActiveModelBehavior for ActiveModel`
/// holding only the generated hooks.
fn expand_struct(args: &SourceArgs, model: &ItemStruct) -> syn::Result<TokenStream> {
    if model.ident != "Model" {
        return Err(syn::Error::new(
            model.ident.span(),
            format_args!(
                "`#[kafka_source]` goes on the entity's `Model` struct (the one deriving \
                 `DeriveEntityModel`), not on `{}`; or put it on `impl ActiveModelBehavior for \
                 ActiveModel`",
                model.ident
            ),
        ));
    }
    let block: ItemImpl = syn::parse_quote_spanned! {model.ident.span()=>
        impl ::deimos::orm::sea_orm::ActiveModelBehavior for ActiveModel {}
    };
    let hooks = expand_impl(args, block)?;
    Ok(quote! {
        #model
        #hooks
    })
}

/// Which generated hook a user's method is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HookName {
    BeforeSave,
    AfterSave,
    AfterDelete,
}

impl HookName {
    fn as_str(self) -> &'static str {
        match self {
            HookName::BeforeSave => "before_save",
            HookName::AfterSave => "after_save",
            HookName::AfterDelete => "after_delete",
        }
    }

    /// The hook's parameters after the receiver, by the names the generated body uses.
    fn params(self) -> &'static [&'static str] {
        match self {
            HookName::BeforeSave => &["__deimos_db", "__deimos_insert"],
            HookName::AfterSave => &["__deimos_model", "__deimos_db", "__deimos_insert"],
            HookName::AfterDelete => &["__deimos_db"],
        }
    }

    fn has_receiver(self) -> bool {
        self != HookName::AfterSave
    }
}

fn expand_impl(args: &SourceArgs, mut block: ItemImpl) -> syn::Result<TokenStream> {
    let trait_ =
        match block.trait_.take() {
            Some((None, path, for_token))
                if path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "ActiveModelBehavior") =>
            {
                (path, for_token)
            }
            _ => return Err(syn::Error::new(
                block.impl_token.span,
                "`#[kafka_source]` goes on `impl ActiveModelBehavior for ActiveModel` (SeaORM), \
                 or on the entity's `Model` struct",
            )),
        };
    let Some((entity, model)) = entity_paths(&block.self_ty) else {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            "`#[kafka_source]` needs the entity's `ActiveModel` here (the one \
             `DeriveEntityModel` generates next to `Entity` and `Model`)",
        ));
    };

    let wanted: Vec<HookName> = [
        (args.update, HookName::BeforeSave),
        (args.create || args.update, HookName::AfterSave),
        (args.delete, HookName::AfterDelete),
    ]
    .into_iter()
    .filter_map(|(on, hook)| on.then_some(hook))
    .collect();

    // Take the user's versions of the hooks we write, to run them first.
    let mut user: Vec<(HookName, ImplItemFn)> = Vec::new();
    block.items.retain(|item| {
        let ImplItem::Fn(method) = item else {
            return true;
        };
        let Some(hook) = wanted
            .iter()
            .copied()
            .find(|hook| method.sig.ident == hook.as_str())
        else {
            return true;
        };
        user.push((hook, method.clone()));
        false
    });
    let mut errors = Errors::new();
    for (hook, method) in &user {
        check_user_hook(*hook, method, &mut errors);
    }
    errors.finish()?;
    if user
        .iter()
        .any(|(hook, method)| !signature_fits(*hook, method))
    {
        // rustc reports the mismatch with the trait's declaration (E0050 and friends) on
        // the impl as written, better than we could.
        block.trait_ = Some((None, trait_.0, trait_.1));
        for (_, method) in user {
            block.items.push(ImplItem::Fn(method));
        }
        return Ok(block.into_token_stream());
    }

    let behavior = quote!(::deimos::orm::sea_orm::ActiveModelTrait);
    let entity_of_self = quote!(<Self as #behavior>::Entity);
    let hooks = wanted.iter().map(|&hook| {
        let user = user.iter().find(|(h, _)| *h == hook).map(|(_, m)| m);
        hook_tokens(args, hook, user, &entity_of_self)
    });
    let has_async_trait = block.attrs.iter().any(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "async_trait")
    });
    let async_trait =
        (!has_async_trait).then(|| quote!(#[::deimos::__private::async_trait::async_trait]));
    let attrs = &block.attrs;
    let defaultness = &block.defaultness;
    let unsafety = &block.unsafety;
    let generics = &block.generics;
    let where_clause = &block.generics.where_clause;
    let (trait_path, for_token) = &trait_;
    let self_ty = &block.self_ty;
    let items = &block.items;

    let publish = publish_tokens(&args.producers, self_ty);
    let import = args
        .import
        .then(|| import_tokens(&args.producers, &entity, &model, self_ty));

    Ok(quote! {
        #async_trait
        #(#attrs)*
        #defaultness #unsafety impl #generics #trait_path #for_token #self_ty #where_clause {
            #(#items)*
            #(#hooks)*
        }

        #publish

        #import
    })
}

/// `path::Entity` and `path::Model` for a self type `path::ActiveModel`.
fn entity_paths(self_ty: &Type) -> Option<(Path, Path)> {
    let Type::Path(ty) = self_ty else {
        return None;
    };
    if ty.qself.is_some() {
        return None;
    }
    let last = ty.path.segments.last()?;
    if last.ident != "ActiveModel" || !last.arguments.is_none() {
        return None;
    }
    let sibling = |name: &str| {
        let mut path = ty.path.clone();
        if let Some(last) = path.segments.last_mut() {
            last.ident = syn::Ident::new(name, last.ident.span());
        }
        path
    };
    Some((sibling("Entity"), sibling("Model")))
}

/// A user's hook must be the `async fn` the trait declares (as written under `#[async_trait]`).
fn check_user_hook(hook: HookName, method: &ImplItemFn, errors: &mut Errors) {
    if method.sig.asyncness.is_none() {
        errors.push(
            method.sig.ident.span(),
            format_args!(
                "`{}` is not an `async fn` here: put `#[kafka_source]` above \
                 `#[async_trait]`, so that it sees the hooks as you wrote them",
                hook.as_str()
            ),
        );
    }
}

/// Whether a user's hook has the trait's receiver and parameter count (what the generated
/// hook relies on to rename its parameters).
fn signature_fits(hook: HookName, method: &ImplItemFn) -> bool {
    let typed = method
        .sig
        .inputs
        .iter()
        .filter(|arg| matches!(arg, FnArg::Typed(_)))
        .count();
    method.sig.receiver().is_some() == hook.has_receiver() && typed == hook.params().len()
}

/// One generated hook: the user's body first (in an `async` block, so its `return`s and `?`s
/// stay its own), then the publishing.
fn hook_tokens(
    args: &SourceArgs,
    hook: HookName,
    user: Option<&ImplItemFn>,
    entity_of_self: &TokenStream,
) -> TokenStream {
    let orm_pkg = quote!(::deimos::orm::sea_orm);
    let source = quote!(::deimos::orm::source);
    let model_ty = quote!(<#entity_of_self as #orm_pkg::EntityTrait>::Model);
    let params: Vec<_> = hook
        .params()
        .iter()
        .map(|name| format_ident!("{}", name))
        .collect();

    // The signature: the user's (generics, receiver, types), with our parameter names; or the
    // trait's.
    let (attrs, sig, prologue, first) = match user {
        Some(method) => {
            let mut sig = method.sig.clone();
            let mut rebind = Vec::new();
            let mut next = params.iter();
            for arg in &mut sig.inputs {
                if let FnArg::Typed(typed) = arg {
                    let Some(name) = next.next() else { break };
                    let pat =
                        std::mem::replace(&mut *typed.pat, Pat::Verbatim(name.to_token_stream()));
                    let ty = &typed.ty;
                    rebind.push(quote!(let #pat: #ty = #name;));
                }
            }
            let body = &method.block;
            let ret = match hook {
                HookName::AfterSave => quote!(#model_ty),
                _ => quote!(Self),
            };
            let first = quote! {
                ::deimos::__private::orm_hook::<#ret, _>(async move #body).await?
            };
            (
                method.attrs.clone(),
                sig.to_token_stream(),
                quote!(#(#rebind)*),
                first,
            )
        }
        None => {
            let sig = match hook {
                HookName::BeforeSave => quote! {
                    async fn before_save<C>(self, __deimos_db: &C, __deimos_insert: bool)
                        -> ::core::result::Result<Self, #orm_pkg::DbErr>
                    where
                        C: #orm_pkg::ConnectionTrait
                },
                HookName::AfterSave => quote! {
                    async fn after_save<C>(
                        __deimos_model: #model_ty,
                        __deimos_db: &C,
                        __deimos_insert: bool,
                    ) -> ::core::result::Result<#model_ty, #orm_pkg::DbErr>
                    where
                        C: #orm_pkg::ConnectionTrait
                },
                HookName::AfterDelete => quote! {
                    async fn after_delete<C>(self, __deimos_db: &C)
                        -> ::core::result::Result<Self, #orm_pkg::DbErr>
                    where
                        C: #orm_pkg::ConnectionTrait
                },
            };
            let first = match hook {
                HookName::AfterSave => quote!(__deimos_model),
                _ => quote!(self),
            };
            (Vec::new(), sig, TokenStream::new(), first)
        }
    };

    let body = match hook {
        HookName::BeforeSave => quote! {
            let __deimos_this = #first;
            if !__deimos_insert {
                #source::remember_changes(&__deimos_this);
            }
            ::core::result::Result::Ok(__deimos_this)
        },
        HookName::AfterSave => {
            let created = args.create.then(|| {
                quote! {
                    if __deimos_insert {
                        Self::__deimos_publish(
                            __deimos_db,
                            &#source::SourceEvent::Created(&__deimos_this),
                        )
                        .await
                        .map_err(|e| #source::hook_error::<#entity_of_self>("after insert", &e))?;
                    }
                }
            });
            let updated = args.update.then(|| {
                quote! {
                    if !__deimos_insert {
                        let __deimos_changes =
                            #source::take_changes::<#entity_of_self>(&__deimos_this);
                        Self::__deimos_publish(
                            __deimos_db,
                            &#source::SourceEvent::Updated(
                                &__deimos_this,
                                __deimos_changes.as_deref(),
                            ),
                        )
                        .await
                        .map_err(|e| #source::hook_error::<#entity_of_self>("after update", &e))?;
                    }
                }
            });
            quote! {
                let __deimos_this = #first;
                #created
                #updated
                ::core::result::Result::Ok(__deimos_this)
            }
        }
        HookName::AfterDelete => {
            let payload = match &args.deletion_payload {
                Some(path) => quote_spanned! {path.span()=>
                    {
                        let __deimos_payload: ::deimos::Payload = #path(&__deimos_this);
                        __deimos_payload
                    }
                },
                None => quote!(#source::deletion_payload(&__deimos_this)?),
            };
            quote! {
                let __deimos_this = #first;
                let __deimos_payload = #payload;
                Self::__deimos_publish(
                    __deimos_db,
                    &#source::SourceEvent::Deleted(&__deimos_payload),
                )
                .await
                .map_err(|e| #source::hook_error::<#entity_of_self>("after delete", &e))?;
                ::core::result::Result::Ok(__deimos_this)
            }
        }
    };
    quote! {
        #(#attrs)*
        #sig {
            #prologue
            #body
        }
    }
}

/// The one function that publishes an event through every producer, in order: each producer
/// appears once in the expansion, so one that does not fit is reported once, on its path.
fn publish_tokens(producers: &[Path], self_ty: &Type) -> TokenStream {
    let entity = quote!(<#self_ty as ::deimos::orm::sea_orm::ActiveModelTrait>::Entity);
    let calls = producers.iter().map(|producer| {
        quote_spanned! {producer.span()=>
            ::deimos::orm::source::publish_event::<#entity, #producer, C>(db, event).await?;
        }
    });
    quote! {
        impl #self_ty {
            #[doc(hidden)]
            async fn __deimos_publish<C>(
                db: &C,
                event: &::deimos::orm::source::SourceEvent<'_, #entity>,
            ) -> ::deimos::Result<()>
            where
                C: ::deimos::orm::sea_orm::ConnectionTrait,
            {
                #(#calls)*
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// `Entity::import(db, models, mode)`: one bulk write, then one message per row through each
/// producer.
fn import_tokens(producers: &[Path], entity: &Path, model: &Path, self_ty: &Type) -> TokenStream {
    let doc = format!(
        "Bulk-writes `models` on `db` (`deimos::orm::import_rows`: `INSERT`, or with \
         `ImportMode::Upsert` an on-conflict update, in statements under the bind-parameter \
         limit), then publishes one message per row through each of {} (Deimos' `import` on a \
         `KafkaSource` model). SeaORM's `ActiveModelBehavior` hooks do not run for the bulk \
         statements, as activerecord-import skips callbacks; rows must carry their primary \
         keys.\n\n# Errors\n\n`deimos::Error::Database` naming the table when a statement fails \
         (nothing is published); then no `deimos::App` configured, or a publish error.",
        producers
            .iter()
            .map(|p| format!("`{}`", p.to_token_stream().to_string().replace(' ', "")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    quote! {
        impl #entity {
            #[doc = #doc]
            pub async fn import<C>(
                db: &C,
                models: &[#model],
                mode: ::deimos::orm::ImportMode,
            ) -> ::deimos::Result<()>
            where
                C: ::deimos::orm::sea_orm::ConnectionTrait,
            {
                ::deimos::orm::import_rows::<Self, C>(db, models, mode).await?;
                <#self_ty>::__deimos_publish(
                    db,
                    &::deimos::orm::source::SourceEvent::Imported(models),
                )
                .await
            }
        }
    }
}
