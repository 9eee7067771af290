//! The `#[consumer]` model: the handler's signature (its body stays raw tokens) plus the loaded
//! schemas.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, LitStr, Signature, Visibility};

use super::args::{ConsumerArgs, Delivery, SettingsArgs};
use crate::common::key::Key;
use crate::common::message::Message;
use crate::common::schema_file::{SchemaDirs, SchemaFile};

/// A function whose body is kept as unparsed tokens, so rustc (not syn) reports errors in it
/// (tokio's and tracing's `MaybeItemFn`).
#[derive(Debug)]
pub(crate) struct HandlerFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: TokenTree,
}

impl Parse for HandlerFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: TokenTree = input.parse()?;
        match &body {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {}
            other => return Err(syn::Error::new(other.span(), "expected a function body")),
        }
        Ok(HandlerFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl ToTokens for HandlerFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

/// The item `#[consumer]` is on, as parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    /// An `async fn` handler.
    Fn(&'a HandlerFn),
    /// A struct (an entity consumer).
    Struct(&'a syn::ItemStruct),
}

/// What `#[consumer]` is on, with the arguments that belong to it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per macro call
pub(crate) enum Target<'a> {
    /// An `async fn` handler.
    Fn(&'a HandlerFn),
    /// A unit struct with `entity = path::Entity` (an entity consumer), and `hooks`.
    Entity {
        item: &'a syn::ItemStruct,
        entity: Option<(crate::common::kw::entity, syn::Type)>,
        hooks: Option<crate::common::kw::hooks>,
        /// `compacted` (batch mode), `true` when not given.
        compacted: Option<(
            crate::common::kw::compacted,
            crate::common::args::Spanned<bool>,
        )>,
    },
}

#[derive(Debug)]
pub(crate) struct Consumer<'a> {
    pub(crate) target: Target<'a>,
    /// `entity = ..` given on an `async fn` (reported by `validate`).
    pub(crate) stray_entity: Option<crate::common::kw::entity>,
    /// `hooks` given on an `async fn` (reported by `validate`).
    pub(crate) stray_hooks: Option<crate::common::kw::hooks>,
    /// `compacted` given on an `async fn` (reported by `validate`).
    pub(crate) stray_compacted: Option<crate::common::kw::compacted>,
    pub(crate) topic: LitStr,
    pub(crate) group_id: LitStr,
    pub(crate) schema: SchemaFile,
    pub(crate) key: Key,
    /// `delivery`, `Delivery::Message` when not given.
    pub(crate) delivery: Delivery,
    /// The optional settings as written (`delivery` included), with their spans.
    pub(crate) settings: SettingsArgs,
}

impl<'a> Consumer<'a> {
    /// Builds the model, loading the value schema and the key schema (if any). Both load
    /// errors are reported together.
    pub(crate) fn from_syn(
        item: Item<'a>,
        args: ConsumerArgs,
        dirs: &SchemaDirs,
    ) -> syn::Result<Self> {
        let message = Message::load(args.message, dirs)?;
        let (target, stray_entity, stray_hooks) = match item {
            Item::Fn(handler) => (
                Target::Fn(handler),
                args.entity.map(|(key, _)| key),
                args.hooks,
            ),
            Item::Struct(item) => (
                Target::Entity {
                    item,
                    entity: args.entity,
                    hooks: args.hooks,
                    compacted: args.compacted,
                },
                None,
                None,
            ),
        };
        let stray_compacted = match &target {
            Target::Fn(_) => args.compacted.map(|(key, _)| key),
            Target::Entity { .. } => None,
        };
        Ok(Consumer {
            target,
            stray_compacted,
            stray_entity,
            stray_hooks,
            topic: message.topic,
            group_id: args.group_id.1,
            schema: message.schema,
            key: message.key,
            delivery: args
                .settings
                .delivery
                .as_ref()
                .map_or(Delivery::Message, |(_, delivery)| delivery.value),
            settings: args.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_body_as_tokens() {
        let source = "#[doc = \"x\"] pub(crate) async fn handle(p: Option<W>, m: M) -> R { this is not rust }";
        let handler: HandlerFn = syn::parse_str(source).unwrap();
        assert_eq!(handler.sig.ident, "handle");
        assert_eq!(handler.attrs.len(), 1);
        let squash = |s: String| s.replace(' ', "");
        assert_eq!(
            squash(handler.to_token_stream().to_string()),
            squash(source.to_owned())
        );
        let err = syn::parse_str::<HandlerFn>("fn handle();").unwrap_err();
        assert_eq!(err.to_string(), "expected a function body");
    }
}
