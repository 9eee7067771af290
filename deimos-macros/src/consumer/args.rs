//! Parsing `#[consumer(topic = "...", schema = "...", namespace = "...", group_id = "...",
//! key_config(...), delivery = "...", <settings>)]`.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Lookahead1, ParseStream, Parser};
use syn::{Ident, LitStr, Path, Token};

use crate::common::args::{
    code_list, parse_bool_value, parse_comma_list, parse_duration_value, parse_int_value,
    parse_str_value, set_once, skip_to_comma, unknown_argument, MessageArgs, MessageArgsParser,
    Spanned,
};
use crate::common::errors::Errors;
use crate::common::kw;

/// Every argument, for "did you mean" suggestions and "expected one of" lists.
/// `offset_retention_time` is left out: it is recognised only to explain why it is refused.
const ARGUMENTS: &[&str] = &[
    "topic",
    "schema",
    "namespace",
    "group_id",
    "key_config",
    "delivery",
    "max_concurrency",
    "start_from_beginning",
    "session_timeout",
    "heartbeat_interval",
    "offset_commit_interval",
    "offset_commit_threshold",
    "backoff",
    "reraise_errors",
    "disabled",
    "max_batch_size",
    "max_wait_time",
    "min_bytes",
    "max_bytes_per_partition",
    "report_lag",
    "dead_letter_topic",
    "dead_letter_max_retries",
    "fatal_error",
    "entity",
    "hooks",
    "compacted",
];

/// The arguments of `#[consumer]`: the shared message arguments, `group_id` and the
/// per-consumer settings.
#[derive(Debug)]
pub(crate) struct ConsumerArgs {
    pub(crate) message: MessageArgs,
    pub(crate) group_id: (kw::group_id, LitStr),
    pub(crate) settings: SettingsArgs,
    /// `entity = path::Entity`: an entity consumer (on a unit struct).
    pub(crate) entity: Option<(kw::entity, syn::Type)>,
    /// `hooks`: an entity consumer's hooks come from the user's `EntityConsumerHooks` impl.
    pub(crate) hooks: Option<kw::hooks>,
    /// `compacted = bool`: a batch entity consumer keeps only the last message per key.
    pub(crate) compacted: Option<(kw::compacted, Spanned<bool>)>,
}

/// `delivery = "..."`: how the handler receives messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Message,
    Batch,
    InlineBatch,
}

const DELIVERY_NAMES: [&str; 3] = ["message", "batch", "inline_batch"];

/// `backoff(min = ..., max = ...)`; at least one of the two is set.
#[derive(Debug, Default)]
pub(crate) struct BackoffArg {
    pub(crate) min: Option<(kw::min, Spanned<Duration>)>,
    pub(crate) max: Option<(kw::max, Spanned<Duration>)>,
}

/// The optional arguments that become `ConsumerSettings` (plus `delivery` and `fatal_error`,
/// which have their own registration fields). Each one is `None` when not given.
#[derive(Debug, Default)]
pub(crate) struct SettingsArgs {
    pub(crate) delivery: Option<(kw::delivery, Spanned<Delivery>)>,
    pub(crate) max_concurrency: Option<(kw::max_concurrency, Spanned<u32>)>,
    pub(crate) start_from_beginning: Option<(kw::start_from_beginning, Spanned<bool>)>,
    pub(crate) session_timeout: Option<(kw::session_timeout, Spanned<Duration>)>,
    pub(crate) heartbeat_interval: Option<(kw::heartbeat_interval, Spanned<Duration>)>,
    pub(crate) offset_commit_interval: Option<(kw::offset_commit_interval, Spanned<Duration>)>,
    pub(crate) offset_commit_threshold: Option<(kw::offset_commit_threshold, Spanned<u64>)>,
    pub(crate) backoff: Option<(kw::backoff, BackoffArg)>,
    pub(crate) reraise_errors: Option<(kw::reraise_errors, Spanned<bool>)>,
    pub(crate) disabled: Option<(kw::disabled, Spanned<bool>)>,
    /// A `usize` at runtime; parsed as `u64` and emitted unsuffixed, so rustc rejects a value
    /// too large for the target's `usize`.
    pub(crate) max_batch_size: Option<(kw::max_batch_size, Spanned<u64>)>,
    pub(crate) max_wait_time: Option<(kw::max_wait_time, Spanned<Duration>)>,
    pub(crate) min_bytes: Option<(kw::min_bytes, Spanned<u32>)>,
    pub(crate) max_bytes_per_partition: Option<(kw::max_bytes_per_partition, Spanned<u32>)>,
    pub(crate) report_lag: Option<(kw::report_lag, Spanned<bool>)>,
    pub(crate) dead_letter_topic: Option<(kw::dead_letter_topic, LitStr)>,
    pub(crate) dead_letter_max_retries: Option<(kw::dead_letter_max_retries, Spanned<u32>)>,
    pub(crate) fatal_error: Option<(kw::fatal_error, Path)>,
}

/// For each `name => value;`: if `lookahead` sees `name`, parses the key, evaluates `value`
/// (an `Option`, `None` when a bad value was reported) and stores it with [`set_once`].
macro_rules! parse_settings {
    ($settings:ident, $lookahead:ident, $input:ident, $errors:ident;
     $($name:ident => $value:expr;)*) => {
        $(
            if $lookahead.peek(kw::$name) {
                let key: kw::$name = $input.parse()?;
                if let Some(value) = $value {
                    set_once(&mut $settings.$name, key, value, $errors);
                }
                return Ok(true);
            }
        )*
    };
}

impl SettingsArgs {
    /// Parses one setting if `lookahead` sees one; `Ok(false)` when it is not one.
    fn parse_one(
        &mut self,
        lookahead: &Lookahead1<'_>,
        input: ParseStream<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        parse_settings! { self, lookahead, input, errors;
            delivery => parse_delivery(input, errors)?;
            max_concurrency => parse_int_value(input, "max_concurrency", errors)?;
            start_from_beginning => Some(parse_bool_value(input)?);
            session_timeout => parse_duration_value(input, "session_timeout", errors)?;
            heartbeat_interval => parse_duration_value(input, "heartbeat_interval", errors)?;
            offset_commit_interval =>
                parse_duration_value(input, "offset_commit_interval", errors)?;
            offset_commit_threshold =>
                parse_int_value(input, "offset_commit_threshold", errors)?;
            reraise_errors => Some(parse_bool_value(input)?);
            disabled => Some(parse_bool_value(input)?);
            max_batch_size => parse_int_value(input, "max_batch_size", errors)?;
            max_wait_time => parse_duration_value(input, "max_wait_time", errors)?;
            min_bytes => parse_int_value(input, "min_bytes", errors)?;
            max_bytes_per_partition =>
                parse_int_value(input, "max_bytes_per_partition", errors)?;
            report_lag => Some(parse_bool_value(input)?);
            dead_letter_topic => Some(parse_str_value(input)?);
            dead_letter_max_retries =>
                parse_int_value(input, "dead_letter_max_retries", errors)?;
            fatal_error => Some(parse_path_value(input)?);
        }
        if lookahead.peek(kw::backoff) {
            let key: kw::backoff = input.parse()?;
            if let Some(value) = BackoffArg::parse_parens(input, &key, errors)? {
                set_once(&mut self.backoff, key, value, errors);
            }
        } else if lookahead.peek(kw::offset_retention_time) {
            let key: kw::offset_retention_time = input.parse()?;
            errors.push(
                key.span,
                "`offset_retention_time` is not supported: librdkafka does not send a retention \
                 time in OffsetCommit (KIP-211 removed it in Kafka 2.1); set the broker's \
                 `offsets.retention.minutes` instead",
            );
            skip_to_comma(input)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// Parses `= "message" | "batch" | "inline_batch"`; another string is reported on it.
fn parse_delivery(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<Delivery>>> {
    let lit = parse_str_value(input)?;
    let value = match lit.value().as_str() {
        "message" => Delivery::Message,
        "batch" => Delivery::Batch,
        "inline_batch" => Delivery::InlineBatch,
        other => {
            errors.push(
                lit.span(),
                format_args!(
                    "unknown `delivery` `{other}`; expected one of {}",
                    code_list(DELIVERY_NAMES.map(|name| format!("\"{name}\"")))
                ),
            );
            return Ok(None);
        }
    };
    Ok(Some(Spanned {
        value,
        span: lit.span(),
    }))
}

/// Parses `= some::path`.
fn parse_path_value(input: ParseStream<'_>) -> syn::Result<Path> {
    input.parse::<Token![=]>()?;
    input.parse()
}

impl BackoffArg {
    /// Parses the `(...)` after `backoff`. Returns `None` (with errors reported) when it holds
    /// neither `min` nor `max`.
    fn parse_parens(
        input: ParseStream<'_>,
        key: &kw::backoff,
        errors: &mut Errors,
    ) -> syn::Result<Option<Self>> {
        const HINT: &str = "`backoff(min = \"1s\", max = \"1m\")`";
        if !input.peek(syn::token::Paren) {
            return Err(input.error(format_args!(
                "`backoff` takes a list: {HINT}; give `min`, `max` or both"
            )));
        }
        let content;
        syn::parenthesized!(content in input);
        if content.is_empty() {
            errors.push(
                key.span,
                format_args!("`backoff` needs `min`, `max` or both, e.g. {HINT}"),
            );
            return Ok(None);
        }
        let mut backoff = BackoffArg::default();
        parse_comma_list(&content, |content| {
            let lookahead = content.lookahead1();
            if lookahead.peek(kw::min) {
                let key: kw::min = content.parse()?;
                if let Some(value) = parse_duration_value(content, "min", errors)? {
                    set_once(&mut backoff.min, key, value, errors);
                }
            } else if lookahead.peek(kw::max) {
                let key: kw::max = content.parse()?;
                if let Some(value) = parse_duration_value(content, "max", errors)? {
                    set_once(&mut backoff.max, key, value, errors);
                }
            } else if content.peek(Ident::peek_any) {
                unknown_argument(content, "backoff", &["min", "max"], errors)?;
            } else {
                return Err(lookahead.error());
            }
            Ok(())
        })?;
        Ok(if backoff.min.is_some() || backoff.max.is_some() {
            Some(backoff)
        } else {
            None
        })
    }
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
        let mut settings = SettingsArgs::default();
        let mut entity: Option<(kw::entity, syn::Type)> = None;
        let mut hooks: Option<(kw::hooks, ())> = None;
        let mut compacted: Option<(kw::compacted, Spanned<bool>)> = None;
        let parsed = parse_comma_list(input, |input| {
            let lookahead = input.lookahead1();
            if parser.parse_one(&lookahead, input, &mut errors)?
                || settings.parse_one(&lookahead, input, &mut errors)?
            {
                Ok(())
            } else if lookahead.peek(kw::group_id) {
                let key = input.parse()?;
                set_once(&mut group_id, key, parse_str_value(input)?, &mut errors);
                Ok(())
            } else if lookahead.peek(kw::entity) {
                let key = input.parse::<kw::entity>()?;
                input.parse::<Token![=]>()?;
                let ty = input.parse::<syn::Type>()?;
                set_once(&mut entity, key, ty, &mut errors);
                Ok(())
            } else if lookahead.peek(kw::hooks) {
                let key = input.parse::<kw::hooks>()?;
                set_once(&mut hooks, key, (), &mut errors);
                Ok(())
            } else if lookahead.peek(kw::compacted) {
                let key = input.parse::<kw::compacted>()?;
                let value = parse_bool_value(input)?;
                set_once(&mut compacted, key, value, &mut errors);
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
            (Some(message), Some(group_id)) => Ok(ConsumerArgs {
                message,
                group_id,
                settings,
                entity,
                hooks: hooks.map(|(key, ())| key),
                compacted,
            }),
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

    const REQUIRED: &str =
        r#"topic = "widgets", schema = "Widget", group_id = "g", key_config(none)"#;

    fn parse_settings(settings: &str) -> Result<SettingsArgs, Vec<String>> {
        parse(&format!("{REQUIRED}, {settings}")).map(|args| args.settings)
    }

    fn value<K, T: Copy>(slot: &Option<(K, Spanned<T>)>) -> T {
        slot.as_ref().expect("set").1.value
    }

    #[test]
    fn all_settings() {
        let s = parse_settings(
            r#"delivery = "inline_batch", max_concurrency = 4, start_from_beginning = false,
               session_timeout = 30, heartbeat_interval = "500ms", offset_commit_interval = "2m",
               offset_commit_threshold = 10000000000, backoff(min = "100ms", max = 60),
               reraise_errors = true, disabled = false, max_batch_size = 500,
               max_wait_time = "1s 500ms", min_bytes = 1, max_bytes_per_partition = 1048576,
               report_lag = true, dead_letter_topic = "widgets.dlq", dead_letter_max_retries = 3,
               fatal_error = crate::errors::is_fatal,"#,
        )
        .unwrap();
        assert_eq!(value(&s.delivery), Delivery::InlineBatch);
        assert_eq!(value(&s.max_concurrency), 4);
        assert!(!value(&s.start_from_beginning));
        assert_eq!(value(&s.session_timeout), Duration::from_secs(30));
        assert_eq!(value(&s.heartbeat_interval), Duration::from_millis(500));
        assert_eq!(value(&s.offset_commit_interval), Duration::from_secs(120));
        assert_eq!(value(&s.offset_commit_threshold), 10_000_000_000);
        let backoff = &s.backoff.as_ref().unwrap().1;
        assert_eq!(value(&backoff.min), Duration::from_millis(100));
        assert_eq!(value(&backoff.max), Duration::from_secs(60));
        assert!(value(&s.reraise_errors));
        assert!(!value(&s.disabled));
        assert_eq!(value(&s.max_batch_size), 500);
        assert_eq!(value(&s.max_wait_time), Duration::from_millis(1500));
        assert_eq!(value(&s.min_bytes), 1);
        assert_eq!(value(&s.max_bytes_per_partition), 1_048_576);
        assert!(value(&s.report_lag));
        assert_eq!(s.dead_letter_topic.unwrap().1.value(), "widgets.dlq");
        assert_eq!(value(&s.dead_letter_max_retries), 3);
        let path = s.fatal_error.unwrap().1;
        assert_eq!(
            quote::quote!(#path).to_string(),
            "crate :: errors :: is_fatal"
        );
    }

    #[test]
    fn settings_default_to_none() {
        let s = parse_settings("").unwrap();
        assert!(s.delivery.is_none() && s.backoff.is_none() && s.fatal_error.is_none());
        for (text, delivery) in [
            ("message", Delivery::Message),
            ("batch", Delivery::Batch),
            ("inline_batch", Delivery::InlineBatch),
        ] {
            let s = parse_settings(&format!("delivery = \"{text}\"")).unwrap();
            assert_eq!(value(&s.delivery), delivery);
        }
        let s = parse_settings("backoff(max = 5)").unwrap();
        let backoff = s.backoff.unwrap().1;
        assert!(backoff.min.is_none());
        assert_eq!(value(&backoff.max), Duration::from_secs(5));
    }

    #[test]
    fn setting_errors_are_collected() {
        let errors = parse_settings(
            r#"delivery = "batches", max_concurrency = 5000000000, min_bytes = 1u32,
               session_timeout = "30 parsecs", max_wait_time = 1.5, disabled = true,
               disabled = false, max_concurency = 2, offset_retention_time = "7d",
               backoff(), backoff(minimum = 1, min = "x")"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown `delivery` `batches`; expected one of `\"message\"`, `\"batch\"`, \
                 `\"inline_batch\"`",
                "`max_concurrency` must be an unsuffixed integer from 0 to 4294967295, found \
                 `5000000000`",
                "`min_bytes` must be an unsuffixed integer from 0 to 4294967295, found `1u32`",
                "invalid `session_timeout` duration: unknown time unit \"parsecs\", supported \
                 units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few \
                 variations); expected whole seconds (`30`) or a string such as `\"500ms\"`, \
                 `\"30s\"` or `\"2m\"`",
                "`max_wait_time` takes a duration: whole seconds (`max_wait_time = 30`) or a \
                 string such as `max_wait_time = \"500ms\"` or `\"2m\"`",
                "`disabled` specified more than once",
                "unknown `consumer` argument `max_concurency`; did you mean `max_concurrency`?",
                "`offset_retention_time` is not supported: librdkafka does not send a retention \
                 time in OffsetCommit (KIP-211 removed it in Kafka 2.1); set the broker's \
                 `offsets.retention.minutes` instead",
                "`backoff` needs `min`, `max` or both, e.g. `backoff(min = \"1s\", max = \"1m\")`",
                "unknown `backoff` argument `minimum`; did you mean `min`?",
                "invalid `min` duration: expected number at 0; expected whole seconds (`30`) or a \
                 string such as `\"500ms\"`, `\"30s\"` or `\"2m\"`",
            ]
        );
    }

    #[test]
    fn malformed_settings_stop_parsing() {
        assert_eq!(
            parse_settings("backoff = 5").unwrap_err(),
            ["`backoff` takes a list: `backoff(min = \"1s\", max = \"1m\")`; give `min`, `max` or both"]
        );
        assert_eq!(
            parse_settings("disabled = \"yes\"").unwrap_err(),
            ["expected boolean literal"]
        );
        assert_eq!(
            parse_settings("max_batch_size = \"10\"").unwrap_err(),
            ["expected integer literal"]
        );
        assert_eq!(
            parse_settings("fatal_error = \"is_fatal\"").unwrap_err(),
            ["expected identifier"]
        );
    }
}
