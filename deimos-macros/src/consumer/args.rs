//! Parsing `#[consumer(topic = "...", schema = "...", namespace = "...", group_id = "...",
//! key_config(...))]`.

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

const ARGUMENTS: &[&str] = &["topic", "schema", "namespace", "group_id", "key_config"];

/// The arguments of `#[consumer]`, each with its keyword token.
#[derive(Debug)]
pub(crate) struct ConsumerArgs {
    pub(crate) topic: (kw::topic, LitStr),
    pub(crate) schema: (kw::schema, LitStr),
    pub(crate) namespace: Option<(kw::namespace, LitStr)>,
    pub(crate) group_id: (kw::group_id, LitStr),
    pub(crate) key_config: (kw::key_config, KeyConfigArg),
}

impl ConsumerArgs {
    /// Parses the attribute's arguments; all argument errors are reported together.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        Self::parse_stream.parse2(args)
    }

    fn parse_stream(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut errors = Errors::new();
        let mut topic = None;
        let mut schema = None;
        let mut namespace = None;
        let mut group_id = None;
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
            } else if lookahead.peek(kw::group_id) {
                let key = input.parse()?;
                set_once(&mut group_id, key, parse_str_value(input)?, &mut errors);
            } else if lookahead.peek(kw::key_config) {
                let key = input.parse()?;
                let value = KeyConfigArg::parse_parens(input, &key, &mut errors)?;
                set_once(&mut key_config, key, value, &mut errors);
            } else if input.peek(Ident::peek_any) {
                suggested.extend(unknown_argument(input, "consumer", ARGUMENTS, &mut errors)?);
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
        let group_id = required(
            group_id,
            "group_id",
            "`group_id = \"...\"`",
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
        match (topic, schema, group_id, key_config) {
            (Some(topic), Some(schema), Some(group_id), Some((key, Some(key_config)))) => {
                Ok(ConsumerArgs {
                    topic,
                    schema,
                    namespace,
                    group_id,
                    key_config: (key, key_config),
                })
            }
            _ => unreachable!("missing or invalid arguments were reported above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<ConsumerArgs, Vec<String>> {
        ConsumerArgs::parse(args.parse().unwrap())
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn all_arguments() {
        let args = parse(
            r#"topic = "widgets", schema = "Widget", namespace = "com.example", group_id = "g", key_config(schema = "Widget_key")"#,
        )
        .unwrap();
        assert_eq!(args.topic.1.value(), "widgets");
        assert_eq!(args.group_id.1.value(), "g");
        assert_eq!(args.namespace.unwrap().1.value(), "com.example");
        assert!(
            matches!(args.key_config.1, KeyConfigArg::Schema(_, ref s) if s.value() == "Widget_key")
        );
    }

    #[test]
    fn argument_errors() {
        let errors =
            parse(r#"topic = "a", topic = "b", schema = "W", group = "g", key_config(plain)"#)
                .unwrap_err();
        assert_eq!(
            errors,
            [
                "`topic` specified more than once",
                "unknown `consumer` argument `group`; did you mean `group_id`?",
            ]
        );
    }
}
