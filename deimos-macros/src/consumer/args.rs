//! Parsing `#[consumer(topic = "...", schema = "...", namespace = "...", group_id = "...",
//! key_config(...))]`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr};

use crate::common::args::{
    parse_comma_list, parse_str_value, set_once, MessageArgs, MessageArgsParser,
};
use crate::common::errors::Errors;
use crate::common::kw;

const ARGUMENTS: &[&str] = &["topic", "schema", "namespace", "group_id", "key_config"];

/// The arguments of `#[consumer]`: the shared message arguments plus `group_id`.
#[derive(Debug)]
pub(crate) struct ConsumerArgs {
    pub(crate) message: MessageArgs,
    pub(crate) group_id: (kw::group_id, LitStr),
}

impl ConsumerArgs {
    /// Parses the attribute's arguments; all argument errors are reported together.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        Self::parse_stream.parse2(args)
    }

    fn parse_stream(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut errors = Errors::new();
        let mut parser = MessageArgsParser::new("consumer", ARGUMENTS);
        let mut group_id = None;
        let parsed = parse_comma_list(input, |input| {
            let lookahead = input.lookahead1();
            if parser.parse_one(&lookahead, input, &mut errors)? {
                Ok(())
            } else if lookahead.peek(kw::group_id) {
                let key = input.parse()?;
                set_once(&mut group_id, key, parse_str_value(input)?, &mut errors);
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
        let group_id = parser.required(group_id, "group_id", "`group_id = \"...\"`", &mut errors);
        let message = parser.finish(&mut errors);
        errors.finish()?;
        match (message, group_id) {
            (Some(message), Some(group_id)) => Ok(ConsumerArgs { message, group_id }),
            _ => unreachable!("missing or invalid arguments were reported above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::args::KeyConfigArg;

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
        assert_eq!(args.message.topic.1.value(), "widgets");
        assert_eq!(args.group_id.1.value(), "g");
        assert_eq!(args.message.namespace.unwrap().1.value(), "com.example");
        assert!(
            matches!(args.message.key_config.1, KeyConfigArg::Schema(_, ref s) if s.value() == "Widget_key")
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
