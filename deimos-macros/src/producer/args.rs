//! Parsing `#[producer(topic = "...", schema = "...", namespace = "...", key_config(...),
//! payload = Type, entity = path::Entity, refetch = bool, hooks)]`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitBool, Token, Type};

use crate::common::args::{parse_comma_list, set_once, MessageArgs, MessageArgsParser};
use crate::common::errors::Errors;
use crate::common::kw;

const ARGUMENTS: &[&str] = &[
    "topic",
    "schema",
    "namespace",
    "key_config",
    "payload",
    "entity",
    "refetch",
    "hooks",
];

/// The arguments of `#[producer]`: the shared message arguments, plus `payload = Type` (the
/// producer-type form) and the `hooks` flag.
#[derive(Debug)]
pub(crate) struct ProducerArgs {
    pub(crate) message: MessageArgs,
    /// `payload = Type`: the struct is a producer type publishing `Type`.
    pub(crate) payload: Option<(kw::payload, Type)>,
    /// `entity = path::Entity`: the struct is an entity producer of that SeaORM entity.
    pub(crate) entity: Option<(kw::entity, Type)>,
    /// `refetch = true|false` (entity producers only).
    pub(crate) refetch: Option<(kw::refetch, LitBool)>,
    /// `hooks`: the hooks come from the user's `impl deimos::producer::ProducerHooks`.
    pub(crate) hooks: Option<kw::hooks>,
}

/// Parses the attribute's arguments; all argument errors are reported together.
pub(crate) fn parse(args: TokenStream) -> syn::Result<ProducerArgs> {
    parse_stream.parse2(args)
}

fn parse_stream(input: ParseStream<'_>) -> syn::Result<ProducerArgs> {
    let mut errors = Errors::new();
    let mut parser = MessageArgsParser::new("producer", ARGUMENTS);
    let mut payload: Option<(kw::payload, Type)> = None;
    let mut hooks: Option<(kw::hooks, ())> = None;
    let mut entity: Option<(kw::entity, Type)> = None;
    let mut refetch: Option<(kw::refetch, LitBool)> = None;
    let parsed = parse_comma_list(input, |input| {
        let lookahead = input.lookahead1();
        if parser.parse_one(&lookahead, input, &mut errors)? {
            Ok(())
        } else if lookahead.peek(kw::payload) {
            let key = input.parse::<kw::payload>()?;
            input.parse::<Token![=]>()?;
            let ty = input.parse::<Type>()?;
            set_once(&mut payload, key, ty, &mut errors);
            Ok(())
        } else if lookahead.peek(kw::entity) {
            let key = input.parse::<kw::entity>()?;
            input.parse::<Token![=]>()?;
            let ty = input.parse::<Type>()?;
            set_once(&mut entity, key, ty, &mut errors);
            Ok(())
        } else if lookahead.peek(kw::refetch) {
            let key = input.parse::<kw::refetch>()?;
            input.parse::<Token![=]>()?;
            let value = input.parse::<LitBool>()?;
            set_once(&mut refetch, key, value, &mut errors);
            Ok(())
        } else if lookahead.peek(kw::hooks) {
            let key = input.parse::<kw::hooks>()?;
            set_once(&mut hooks, key, (), &mut errors);
            Ok(())
        } else if input.peek(Ident::peek_any) {
            parser.unknown(input, &mut errors)
        } else {
            Err(lookahead.error())
        }
    });
    if let Err(error) = parsed {
        return Err(errors.fail(error));
    }
    let args = parser.finish(&mut errors);
    errors.finish()?;
    Ok(ProducerArgs {
        message: args.expect("missing or invalid arguments were reported above"),
        payload,
        entity,
        refetch,
        hooks: hooks.map(|(key, ())| key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::args::KeyConfigArg;

    fn parse_args(args: &str) -> Result<ProducerArgs, Vec<String>> {
        parse(args.parse().unwrap()).map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn all_arguments() {
        let args = parse_args(
            r#"topic = "widgets", schema = "Widget", namespace = "com.example", key_config(field = "id"),"#,
        )
        .unwrap();
        assert!(args.payload.is_none() && args.hooks.is_none());
        let args = args.message;
        assert_eq!(args.topic.1.value(), "widgets");
        assert_eq!(args.schema.1.value(), "Widget");
        assert_eq!(args.namespace.unwrap().1.value(), "com.example");
        assert!(matches!(args.key_config.1, KeyConfigArg::Field(_, ref f) if f.value() == "id"));
    }

    #[test]
    fn producer_type_form() {
        let args = parse_args(
            r#"topic = "t", schema = "com.example.Widget", key_config(none), payload = crate::Widget, hooks"#,
        )
        .unwrap();
        let (_, ty) = args.payload.unwrap();
        assert_eq!(quote::quote!(#ty).to_string(), "crate :: Widget");
        assert!(args.hooks.is_some());
        let errors = parse_args(
            r#"topic = "t", schema = "W", key_config(none), payload = A, payload = B, hooks, hooks"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "`payload` specified more than once",
                "`hooks` specified more than once"
            ]
        );
    }

    #[test]
    fn order_does_not_matter() {
        let args =
            parse_args(r#"key_config(none), schema = "com.example.Widget", topic = "t""#).unwrap();
        assert!(args.message.namespace.is_none());
        assert!(matches!(args.message.key_config.1, KeyConfigArg::None(_)));
    }

    #[test]
    fn collects_every_argument_error() {
        let errors = parse_args(
            r#"topc = "widgets", schema = "A", schema = "B", key_config(plain, none), crate = foo::bar"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown `producer` argument `topc`; did you mean `topic`?",
                "`schema` specified more than once",
                "`key_config` takes exactly one of `none`, `plain`, `field = \"...\"`, `schema = \"...\"`; found `plain` and `none`",
                "unknown `producer` argument `crate`; expected one of `topic`, `schema`, `namespace`, `key_config`, `payload`, `entity`, `refetch`, `hooks`",
            ]
        );
    }

    #[test]
    fn unrelated_unknown_argument_does_not_hide_missing_ones() {
        let errors = parse_args(r#"colour = "red", schema = "A", key_config(none)"#).unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown `producer` argument `colour`; expected one of `topic`, `schema`, `namespace`, `key_config`, `payload`, `entity`, `refetch`, `hooks`",
                "missing required argument `topic`; add `topic = \"...\"`",
            ]
        );
    }

    #[test]
    fn missing_arguments() {
        let errors = parse_args("").unwrap_err();
        assert_eq!(
            errors,
            [
                "missing required argument `topic`; add `topic = \"...\"`",
                "missing required argument `schema`; add `schema = \"com.example.Name\"`",
                "missing required argument `key_config`; add `key_config(none)`, `key_config(plain)`, `key_config(field = \"...\")` or `key_config(schema = \"...\")`",
            ]
        );
    }

    #[test]
    fn syntax_errors_keep_earlier_errors() {
        let errors = parse_args(r#"topc = "a", topic = 5"#).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0],
            "unknown `producer` argument `topc`; did you mean `topic`?"
        );
        assert_eq!(errors[1], "expected string literal");
        let errors = parse_args(r#"topic "a""#).unwrap_err();
        assert_eq!(errors, ["expected `=`"]);
        let errors = parse_args(r#""a""#).unwrap_err();
        assert_eq!(
            errors,
            ["expected one of: `topic`, `schema`, `namespace`, `key_config`, `payload`, `entity`, `refetch`, `hooks`"]
        );
    }
}
