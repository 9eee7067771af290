//! Parsing `#[producer(topic = "...", schema = "...", namespace = "...", key_config(...))]`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr};

use crate::common::args::{
    parse_comma_list, parse_str_value, required, set_once, unknown_argument, KeyConfigArg,
    KEY_CONFIG_HINT,
};
use crate::common::errors::Errors;
use crate::common::kw;

const ARGUMENTS: &[&str] = &["topic", "schema", "namespace", "key_config"];

/// The arguments of `#[producer]`, each with its keyword token.
#[derive(Debug)]
pub(crate) struct ProducerArgs {
    pub(crate) topic: (kw::topic, LitStr),
    pub(crate) schema: (kw::schema, LitStr),
    pub(crate) namespace: Option<(kw::namespace, LitStr)>,
    pub(crate) key_config: (kw::key_config, KeyConfigArg),
}

impl ProducerArgs {
    /// Parses the attribute's arguments; all argument errors are reported together.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        Self::parse_stream.parse2(args)
    }

    fn parse_stream(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut errors = Errors::new();
        let mut topic = None;
        let mut schema = None;
        let mut namespace = None;
        let mut key_config = None;
        let mut suggested = Vec::new();
        let parsed = parse_comma_list(input, |input| {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::topic) {
                let key = input.parse()?;
                set_once(&mut topic, key, parse_str_value(input)?, &mut errors);
            } else if lookahead.peek(kw::schema) {
                let key = input.parse()?;
                set_once(&mut schema, key, parse_str_value(input)?, &mut errors);
            } else if lookahead.peek(kw::namespace) {
                let key = input.parse()?;
                set_once(&mut namespace, key, parse_str_value(input)?, &mut errors);
            } else if lookahead.peek(kw::key_config) {
                let key = input.parse()?;
                let value = KeyConfigArg::parse_parens(input, &key, &mut errors)?;
                set_once(&mut key_config, key, value, &mut errors);
            } else if input.peek(Ident::peek_any) {
                suggested.extend(unknown_argument(input, "producer", ARGUMENTS, &mut errors)?);
            } else {
                return Err(lookahead.error());
            }
            Ok(())
        });
        if let Err(error) = parsed {
            return Err(errors.fail(error));
        }
        let topic = required(topic, "topic", "`topic = \"...\"`", &suggested, &mut errors);
        let schema = required(
            schema,
            "schema",
            "`schema = \"com.example.Name\"`",
            &suggested,
            &mut errors,
        );
        let key_config = required(
            key_config,
            "key_config",
            KEY_CONFIG_HINT,
            &suggested,
            &mut errors,
        );
        errors.finish()?;
        match (topic, schema, key_config) {
            (Some(topic), Some(schema), Some((key, Some(key_config)))) => Ok(ProducerArgs {
                topic,
                schema,
                namespace,
                key_config: (key, key_config),
            }),
            _ => unreachable!("missing or invalid arguments were reported above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<ProducerArgs, Vec<String>> {
        ProducerArgs::parse(args.parse().unwrap())
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn all_arguments() {
        let args = parse(
            r#"topic = "widgets", schema = "Widget", namespace = "com.example", key_config(field = "id"),"#,
        )
        .unwrap();
        assert_eq!(args.topic.1.value(), "widgets");
        assert_eq!(args.schema.1.value(), "Widget");
        assert_eq!(args.namespace.unwrap().1.value(), "com.example");
        assert!(matches!(args.key_config.1, KeyConfigArg::Field(_, ref f) if f.value() == "id"));
    }

    #[test]
    fn order_does_not_matter() {
        let args =
            parse(r#"key_config(none), schema = "com.example.Widget", topic = "t""#).unwrap();
        assert!(args.namespace.is_none());
        assert!(matches!(args.key_config.1, KeyConfigArg::None(_)));
    }

    #[test]
    fn collects_every_argument_error() {
        let errors = parse(
            r#"topc = "widgets", schema = "A", schema = "B", key_config(plain, none), crate = foo::bar"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown `producer` argument `topc`; did you mean `topic`?",
                "`schema` specified more than once",
                "`key_config` takes exactly one of `none`, `plain`, `field = \"...\"`, `schema = \"...\"`; found `plain` and `none`",
                "unknown `producer` argument `crate`; expected one of `topic`, `schema`, `namespace`, `key_config`",
            ]
        );
    }

    #[test]
    fn unrelated_unknown_argument_does_not_hide_missing_ones() {
        let errors = parse(r#"colour = "red", schema = "A", key_config(none)"#).unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown `producer` argument `colour`; expected one of `topic`, `schema`, `namespace`, `key_config`",
                "missing required argument `topic`; add `topic = \"...\"`",
            ]
        );
    }

    #[test]
    fn missing_arguments() {
        let errors = parse("").unwrap_err();
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
        let errors = parse(r#"topc = "a", topic = 5"#).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0],
            "unknown `producer` argument `topc`; did you mean `topic`?"
        );
        assert_eq!(errors[1], "expected string literal");
        let errors = parse(r#"topic "a""#).unwrap_err();
        assert_eq!(errors, ["expected `=`"]);
        let errors = parse(r#""a""#).unwrap_err();
        assert_eq!(
            errors,
            ["expected one of: `topic`, `schema`, `namespace`, `key_config`"]
        );
    }
}
