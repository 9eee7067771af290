//! Parsing `#[kafka_source(producers(A, B), create, update, delete, import,
//! deletion_payload = path::to_fn)]`.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse as _, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Path, Token};

use crate::common::args::{parse_comma_list, set_once, unknown_argument};
use crate::common::errors::Errors;
use crate::common::kw;

const ARGUMENTS: &[&str] = &[
    "producers",
    "create",
    "update",
    "delete",
    "import",
    "deletion_payload",
];

/// The arguments of `#[kafka_source]`.
#[derive(Debug)]
pub(crate) struct SourceArgs {
    /// The entity producers each change is published through, in order.
    pub(crate) producers: Vec<Path>,
    /// Publish on insert.
    pub(crate) create: bool,
    /// Publish on an update that changes a watched attribute.
    pub(crate) update: bool,
    /// Publish a deletion payload on delete.
    pub(crate) delete: bool,
    /// Add `Entity::import`.
    pub(crate) import: bool,
    /// `deletion_payload = path`: a `fn(&ActiveModel) -> deimos::Payload`.
    pub(crate) deletion_payload: Option<Path>,
}

/// Parses the attribute's arguments; all argument errors are reported together.
pub(crate) fn parse(args: TokenStream) -> syn::Result<SourceArgs> {
    parse_stream.parse2(args)
}

fn parse_stream(input: ParseStream<'_>) -> syn::Result<SourceArgs> {
    let mut errors = Errors::new();
    let mut producers: Option<(kw::producers, Punctuated<Path, Token![,]>)> = None;
    let mut producers_span = Span::call_site();
    let mut create: Option<(kw::create, ())> = None;
    let mut update: Option<(kw::update, ())> = None;
    let mut delete: Option<(kw::delete, ())> = None;
    let mut import: Option<(kw::import, ())> = None;
    let mut deletion_payload: Option<(kw::deletion_payload, Path)> = None;
    let mut suggested = Vec::new();
    let parsed = parse_comma_list(input, |input| {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::producers) {
            let key = input.parse::<kw::producers>()?;
            let content;
            let parens = syn::parenthesized!(content in input);
            let list = content.parse_terminated(Path::parse, Token![,])?;
            producers_span = parens.span.join();
            set_once(&mut producers, key, list, &mut errors);
        } else if lookahead.peek(kw::create) {
            let key = input.parse::<kw::create>()?;
            set_once(&mut create, key, (), &mut errors);
        } else if lookahead.peek(kw::update) {
            let key = input.parse::<kw::update>()?;
            set_once(&mut update, key, (), &mut errors);
        } else if lookahead.peek(kw::delete) {
            let key = input.parse::<kw::delete>()?;
            set_once(&mut delete, key, (), &mut errors);
        } else if lookahead.peek(kw::import) {
            let key = input.parse::<kw::import>()?;
            set_once(&mut import, key, (), &mut errors);
        } else if lookahead.peek(kw::deletion_payload) {
            let key = input.parse::<kw::deletion_payload>()?;
            input.parse::<Token![=]>()?;
            let path = input.parse::<Path>()?;
            set_once(&mut deletion_payload, key, path, &mut errors);
        } else if input.peek(Ident::peek_any) {
            if let Some(s) = unknown_argument(input, "kafka_source", ARGUMENTS, &mut errors)? {
                suggested.push(s);
            }
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    });
    if let Err(error) = parsed {
        return Err(errors.fail(error));
    }
    let producers = match producers {
        Some((_, list)) if list.is_empty() => {
            errors.push(
                producers_span,
                "`producers(..)` is empty; name at least one entity producer of this entity \
                 (`producers(crate::WidgetProducer)`)",
            );
            Vec::new()
        }
        Some((_, list)) => list.into_iter().collect(),
        None => {
            if !suggested.contains(&"producers") {
                errors.push(
                    Span::call_site(),
                    "missing required argument `producers`; add `producers(path::To\
                     EntityProducer, ..)`: the `#[producer(.., entity = ..)]` types that \
                     publish this entity",
                );
            }
            Vec::new()
        }
    };
    // Deimos' `kafka_config` default: every event on. Naming some turns on only those.
    let none_named = create.is_none() && update.is_none() && delete.is_none() && import.is_none();
    let delete_on = none_named || delete.is_some();
    if let (Some((key, _)), false) = (&deletion_payload, delete_on) {
        errors.push(
            key.span,
            "`deletion_payload` has no effect without `delete`: add `delete`, or remove it",
        );
    }
    errors.finish()?;
    Ok(SourceArgs {
        producers,
        create: none_named || create.is_some(),
        update: none_named || update.is_some(),
        delete: delete_on,
        import: none_named || import.is_some(),
        deletion_payload: deletion_payload.map(|(_, path)| path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &str) -> Result<SourceArgs, Vec<String>> {
        parse(args.parse().unwrap()).map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn no_event_named_means_all() {
        let args = parse_args("producers(crate::A, b::B)").unwrap();
        assert_eq!(args.producers.len(), 2);
        assert!(args.create && args.update && args.delete && args.import);
        assert!(args.deletion_payload.is_none());
    }

    #[test]
    fn named_events_only() {
        let args = parse_args("producers(A), create, delete, deletion_payload = f").unwrap();
        assert!(args.create && !args.update && args.delete && !args.import);
        assert!(args.deletion_payload.is_some());
    }

    #[test]
    fn errors_are_collected() {
        let errors = parse_args("producers(), creat, update, update").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("did you mean `create`"), "{errors:?}");
        assert!(errors[1].contains("more than once"), "{errors:?}");
        assert!(errors[2].contains("is empty"), "{errors:?}");
    }

    #[test]
    fn missing_producers_and_useless_deletion_payload() {
        let errors = parse_args("create, deletion_payload = f").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("missing required argument `producers`"));
        assert!(errors[1].contains("without `delete`"));
    }
}
