//! Parsing helpers shared by the argument parsers of both macros.
//!
//! Each argument is kept as `(keyword token, value)` so errors can point at either one.

use std::time::Duration;

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Lookahead1, ParseStream};
use syn::{Ident, Lit, LitBool, LitInt, LitStr, Token};

use super::errors::Errors;
use super::kw;

/// Parses `= "value"`.
pub(crate) fn parse_str_value(input: ParseStream<'_>) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// A value parsed from a literal, with the literal's span for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Parses `= 123` into a `T` (`u32`, `u64`, ...). A value out of range is reported on the
/// literal and gives `None`.
pub(crate) fn parse_int_value<T>(
    input: ParseStream<'_>,
    name: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<T>>>
where
    T: std::str::FromStr + std::fmt::Display + Bounded,
    T::Err: std::fmt::Display,
{
    input.parse::<Token![=]>()?;
    let lit: LitInt = input.parse()?;
    match lit.base10_parse::<T>() {
        Ok(value) if lit.suffix().is_empty() => Ok(Some(Spanned {
            value,
            span: lit.span(),
        })),
        _ => {
            errors.push(
                lit.span(),
                format_args!(
                    "`{name}` must be an unsuffixed integer from 0 to {}, found `{lit}`",
                    T::MAX
                ),
            );
            Ok(None)
        }
    }
}

/// The largest value of an integer type, for [`parse_int_value`]'s error.
pub(crate) trait Bounded {
    const MAX: Self;
}

impl Bounded for u32 {
    const MAX: Self = u32::MAX;
}

impl Bounded for u64 {
    const MAX: Self = u64::MAX;
}

/// Parses `= true` or `= false`.
pub(crate) fn parse_bool_value(input: ParseStream<'_>) -> syn::Result<Spanned<bool>> {
    input.parse::<Token![=]>()?;
    let lit: LitBool = input.parse()?;
    Ok(Spanned {
        value: lit.value,
        span: lit.span,
    })
}

/// Parses `= 30` (seconds, as in the configuration files) or `= "500ms"` (a `humantime`
/// duration). A malformed value is reported on the literal and gives `None`.
pub(crate) fn parse_duration_value(
    input: ParseStream<'_>,
    name: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<Duration>>> {
    input.parse::<Token![=]>()?;
    let lit: Lit = input.parse()?;
    let value = match &lit {
        Lit::Int(int) if int.suffix().is_empty() => int
            .base10_parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string()),
        Lit::Str(text) => humantime::parse_duration(&text.value()).map_err(|e| e.to_string()),
        _ => {
            errors.push(
                lit.span(),
                format_args!(
                    "`{name}` takes a duration: whole seconds (`{name} = 30`) or a string such \
                     as `{name} = \"500ms\"` or `\"2m\"`"
                ),
            );
            return Ok(None);
        }
    };
    match value {
        Ok(value) => Ok(Some(Spanned {
            value,
            span: lit.span(),
        })),
        Err(reason) => {
            errors.push(
                lit.span(),
                format_args!(
                    "invalid `{name}` duration: {reason}; expected whole seconds (`30`) or a \
                     string such as `\"500ms\"`, `\"30s\"` or `\"2m\"`"
                ),
            );
            Ok(None)
        }
    }
}

/// Stores `(key, value)` in `slot`, or reports the second occurrence of `key`.
///
/// The one place that checks for repeated arguments, for every argument of every macro.
pub(crate) fn set_once<K: ToTokens, V>(
    slot: &mut Option<(K, V)>,
    key: K,
    value: V,
    errors: &mut Errors,
) {
    if slot.is_some() {
        let name = key.to_token_stream();
        errors.push_spanned(&key, format_args!("`{name}` specified more than once"));
    } else {
        *slot = Some((key, value));
    }
}

/// Reports a missing required argument (on the attribute) and passes `slot` through. `hint`
/// completes "add ...". Not reported when an unknown argument was already taken for this one
/// (`topc` → "did you mean `topic`?"), since fixing that typo fixes both.
pub(crate) fn required<T>(
    slot: Option<T>,
    name: &str,
    hint: &str,
    suggested: &[&str],
    errors: &mut Errors,
) -> Option<T> {
    if slot.is_none() && !suggested.contains(&name) {
        errors.push(
            Span::call_site(),
            format_args!("missing required argument `{name}`; add {hint}"),
        );
    }
    slot
}

/// The `required` hint for `key_config`.
pub(crate) const KEY_CONFIG_HINT: &str = "`key_config(none)`, `key_config(plain)`, \
     `key_config(field = \"...\")` or `key_config(schema = \"...\")`";

/// Reports an unknown `key ...` argument on its key and skips to the next top-level comma, so
/// parsing goes on and later mistakes are reported too. Returns the argument it suggests
/// instead, if any.
pub(crate) fn unknown_argument(
    input: ParseStream<'_>,
    macro_name: &str,
    expected: &[&'static str],
    errors: &mut Errors,
) -> syn::Result<Option<&'static str>> {
    let key = Ident::parse_any(input)?;
    let suggestion = closest(&key.to_string(), expected);
    let hint = match suggestion {
        Some(name) => format!("did you mean `{name}`?"),
        None => format!("expected one of {}", code_list(expected)),
    };
    errors.push(
        key.span(),
        format_args!("unknown `{macro_name}` argument `{key}`; {hint}"),
    );
    skip_to_comma(input)?;
    Ok(suggestion)
}

/// The expected name `name` is most likely a typo of: a prefix either way (`group` for
/// `group_id`), or at most one edit per three characters (`topc` for `topic`).
fn closest(name: &str, expected: &[&'static str]) -> Option<&'static str> {
    expected
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len() / 3).max(1)
                || (name.len() >= 3 && (candidate.starts_with(name) || name.starts_with(candidate)))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Skips token trees up to (not including) the next top-level `,`.
pub(crate) fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// Parses `item (, item)* ,?` where `item` does its own reporting.
pub(crate) fn parse_comma_list(
    input: ParseStream<'_>,
    mut item: impl FnMut(ParseStream<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    while !input.is_empty() {
        item(input)?;
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// `` `a`, `b`, `c` ``
pub(crate) fn code_list<S: std::fmt::Display>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parsed inside of `key_config(...)`.
#[derive(Debug, Clone)]
pub(crate) enum KeyConfigArg {
    /// `key_config(none)`
    None(kw::none),
    /// `key_config(plain)`
    Plain(kw::plain),
    /// `key_config(field = "id")`
    Field(kw::field, LitStr),
    /// `key_config(schema = "Widget_key")`
    Schema(kw::schema, LitStr),
}

const KEY_CONFIG_FORMS: &str = "`none`, `plain`, `field = \"...\"`, `schema = \"...\"`";

impl KeyConfigArg {
    fn form_name(&self) -> &'static str {
        match self {
            KeyConfigArg::None(_) => "none",
            KeyConfigArg::Plain(_) => "plain",
            KeyConfigArg::Field(..) => "field",
            KeyConfigArg::Schema(..) => "schema",
        }
    }

    fn form_span(&self) -> Span {
        match self {
            KeyConfigArg::None(k) => k.span,
            KeyConfigArg::Plain(k) => k.span,
            KeyConfigArg::Field(k, _) => k.span,
            KeyConfigArg::Schema(k, _) => k.span,
        }
    }

    /// Parses the `(...)` after `key_config`. Returns `None` (with errors reported) when it does
    /// not hold exactly one known form.
    pub(crate) fn parse_parens(
        input: ParseStream<'_>,
        key: &kw::key_config,
        errors: &mut Errors,
    ) -> syn::Result<Option<Self>> {
        if input.peek(Token![=]) {
            return Err(input.error(format_args!(
                "`key_config` takes a list: `key_config(field = \"id\")`; expected one of \
                 {KEY_CONFIG_FORMS} inside the parentheses"
            )));
        }
        let content;
        syn::parenthesized!(content in input);
        let mut forms: Vec<KeyConfigArg> = Vec::new();
        let mut unknown = false;
        parse_comma_list(&content, |content| {
            let lookahead = content.lookahead1();
            let form = if lookahead.peek(kw::none) {
                KeyConfigArg::None(content.parse()?)
            } else if lookahead.peek(kw::plain) {
                KeyConfigArg::Plain(content.parse()?)
            } else if lookahead.peek(kw::field) {
                KeyConfigArg::Field(content.parse()?, parse_str_value(content)?)
            } else if lookahead.peek(kw::schema) {
                KeyConfigArg::Schema(content.parse()?, parse_str_value(content)?)
            } else if content.peek(Ident::peek_any) {
                let name = Ident::parse_any(content)?;
                errors.push(
                    name.span(),
                    format_args!(
                        "unknown `key_config` form `{name}`; expected one of {KEY_CONFIG_FORMS}"
                    ),
                );
                unknown = true;
                return skip_to_comma(content);
            } else {
                return Err(lookahead.error());
            };
            if let Some(first) = forms.first() {
                errors.push(
                    form.form_span(),
                    format_args!(
                        "`key_config` takes exactly one of {KEY_CONFIG_FORMS}; found `{}` and `{}`",
                        first.form_name(),
                        form.form_name()
                    ),
                );
            }
            forms.push(form);
            Ok(())
        })?;
        if forms.is_empty() && !unknown {
            errors.push(
                key.span,
                format_args!(
                    "`key_config` needs one of {KEY_CONFIG_FORMS}, e.g. `key_config(field = \"id\")`"
                ),
            );
        }
        Ok(if forms.len() == 1 { forms.pop() } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse::Parser;

    fn key_config(tokens: &str) -> (Option<KeyConfigArg>, Vec<String>) {
        let mut errors = Errors::new();
        let parsed = (|input: ParseStream<'_>| {
            let key: kw::key_config = input.parse()?;
            KeyConfigArg::parse_parens(input, &key, &mut errors)
        })
        .parse_str(tokens);
        let mut messages: Vec<String> = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                messages.push(e.to_string());
                None
            }
        };
        (parsed, messages)
    }

    #[test]
    fn key_config_forms() {
        assert!(matches!(
            key_config("key_config(none)"),
            (Some(KeyConfigArg::None(_)), m) if m.is_empty()
        ));
        assert!(matches!(
            key_config("key_config(plain)"),
            (Some(KeyConfigArg::Plain(_)), m) if m.is_empty()
        ));
        match key_config("key_config(field = \"id\")") {
            (Some(KeyConfigArg::Field(_, lit)), m) if m.is_empty() => assert_eq!(lit.value(), "id"),
            other => panic!("{other:?}"),
        }
        match key_config("key_config(schema = \"Widget_key\",)") {
            (Some(KeyConfigArg::Schema(_, lit)), m) if m.is_empty() => {
                assert_eq!(lit.value(), "Widget_key");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn key_config_mistakes() {
        let (parsed, messages) = key_config("key_config()");
        assert!(parsed.is_none());
        assert_eq!(
            messages,
            ["`key_config` needs one of `none`, `plain`, `field = \"...\"`, `schema = \"...\"`, e.g. `key_config(field = \"id\")`"]
        );

        let (parsed, messages) = key_config("key_config(field = \"id\", schema = \"K\")");
        assert!(parsed.is_none());
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].ends_with("found `field` and `schema`"),
            "{messages:?}"
        );

        let (parsed, messages) = key_config("key_config(feild = \"id\")");
        assert!(parsed.is_none());
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with("unknown `key_config` form `feild`"),
            "{messages:?}"
        );

        let (_, messages) = key_config("key_config = \"id\"");
        assert!(
            messages[0].starts_with("`key_config` takes a list"),
            "{messages:?}"
        );

        let (_, messages) = key_config("key_config(field = 1)");
        assert_eq!(messages, ["expected string literal"]);
    }

    #[test]
    fn suggestions() {
        let expected = &["topic", "schema", "namespace", "group_id", "key_config"];
        assert_eq!(closest("topc", expected), Some("topic"));
        assert_eq!(closest("shcema", expected), Some("schema"));
        assert_eq!(closest("group", expected), Some("group_id"));
        assert_eq!(closest("key", expected), Some("key_config"));
        assert_eq!(closest("key_configs", expected), Some("key_config"));
        assert_eq!(closest("crate", expected), None);
        assert_eq!(closest("id", expected), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn code_list_formats() {
        assert_eq!(code_list(["a", "b"]), "`a`, `b`");
    }
}

/// The arguments both macros take: `topic`, `schema`, `namespace`, `key_config(...)`.
#[derive(Debug)]
pub(crate) struct MessageArgs {
    pub(crate) topic: (kw::topic, LitStr),
    pub(crate) schema: (kw::schema, LitStr),
    pub(crate) namespace: Option<(kw::namespace, LitStr)>,
    pub(crate) key_config: (kw::key_config, KeyConfigArg),
}

/// Collects [`MessageArgs`] while a macro's argument list is parsed; each macro handles its
/// own extra arguments around it.
#[derive(Debug)]
pub(crate) struct MessageArgsParser {
    macro_name: &'static str,
    expected: &'static [&'static str],
    topic: Option<(kw::topic, LitStr)>,
    schema: Option<(kw::schema, LitStr)>,
    namespace: Option<(kw::namespace, LitStr)>,
    key_config: Option<(kw::key_config, Option<KeyConfigArg>)>,
    /// Arguments suggested for unknown ones (`topc` → `topic`).
    suggested: Vec<&'static str>,
}

impl MessageArgsParser {
    /// A parser for `#[macro_name(...)]`, whose valid arguments are `expected`.
    pub(crate) fn new(macro_name: &'static str, expected: &'static [&'static str]) -> Self {
        MessageArgsParser {
            macro_name,
            expected,
            topic: None,
            schema: None,
            namespace: None,
            key_config: None,
            suggested: Vec::new(),
        }
    }

    /// Parses one shared argument if `lookahead` sees one; `Ok(false)` when it is not one.
    pub(crate) fn parse_one(
        &mut self,
        lookahead: &Lookahead1<'_>,
        input: ParseStream<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        if lookahead.peek(kw::topic) {
            let key = input.parse()?;
            set_once(&mut self.topic, key, parse_str_value(input)?, errors);
        } else if lookahead.peek(kw::schema) {
            let key = input.parse()?;
            set_once(&mut self.schema, key, parse_str_value(input)?, errors);
        } else if lookahead.peek(kw::namespace) {
            let key = input.parse()?;
            set_once(&mut self.namespace, key, parse_str_value(input)?, errors);
        } else if lookahead.peek(kw::key_config) {
            let key = input.parse()?;
            let value = KeyConfigArg::parse_parens(input, &key, errors)?;
            set_once(&mut self.key_config, key, value, errors);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Reports an unknown argument (see [`unknown_argument`]) and remembers its suggestion.
    pub(crate) fn unknown(
        &mut self,
        input: ParseStream<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let suggested = unknown_argument(input, self.macro_name, self.expected, errors)?;
        self.suggested.extend(suggested);
        Ok(())
    }

    /// [`required`] for a macro's own argument.
    pub(crate) fn required<T>(
        &self,
        slot: Option<T>,
        name: &str,
        hint: &str,
        errors: &mut Errors,
    ) -> Option<T> {
        required(slot, name, hint, &self.suggested, errors)
    }

    /// Reports the missing shared arguments; `None` when any is missing or invalid (reported).
    pub(crate) fn finish(self, errors: &mut Errors) -> Option<MessageArgs> {
        let MessageArgsParser {
            topic,
            schema,
            namespace,
            key_config,
            suggested,
            ..
        } = self;
        let topic = required(topic, "topic", "`topic = \"...\"`", &suggested, errors);
        let schema = required(
            schema,
            "schema",
            "`schema = \"com.example.Name\"`",
            &suggested,
            errors,
        );
        let key_config = required(
            key_config,
            "key_config",
            KEY_CONFIG_HINT,
            &suggested,
            errors,
        );
        match (topic, schema, key_config) {
            (Some(topic), Some(schema), Some((key, Some(key_config)))) => Some(MessageArgs {
                topic,
                schema,
                namespace,
                key_config: (key, key_config),
            }),
            _ => None,
        }
    }
}
