//! Every `#[consumer]` check that needs no type information; rustc checks the parameter and
//! return types (see `expand`). No code generation here.

use syn::FnArg;

use super::args::{Delivery, SettingsArgs};
use super::model::{Consumer, HandlerFn, Target};
use crate::common::args::Spanned;
use crate::common::errors::Errors;
use crate::common::validate::{check_key_field_in_schema, check_not_empty, check_topic};

impl Consumer<'_> {
    /// Runs every check and reports all failures together.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        let mut errors = Errors::new();
        check_topic(&self.topic, &mut errors);
        check_not_empty("group_id", &self.group_id, &mut errors);
        check_key_field_in_schema(&self.key, &self.schema, &mut errors);
        self.check_settings(&mut errors);
        match &self.target {
            Target::Fn(handler) => self.check_signature(handler, &mut errors),
            Target::Entity {
                item,
                entity,
                compacted,
                ..
            } => {
                self.check_entity_struct(item, entity.as_ref(), compacted.as_ref(), &mut errors);
            }
        }
        if let Some(entity) = &self.stray_entity {
            errors.push(
                entity.span,
                "`entity = ..` makes an entity consumer, which goes on a unit struct \
                 (`struct WidgetConsumer;`), not on a handler function",
            );
        }
        if let Some(compacted) = &self.stray_compacted {
            errors.push(
                compacted.span,
                "`compacted` is for batch entity consumers (`entity = ..` on a unit struct, \
                 `delivery = \"inline_batch\"`)",
            );
        }
        if let Some(hooks) = &self.stray_hooks {
            errors.push(
                hooks.span,
                "`hooks` is for entity consumers (`entity = ..` on a unit struct); a handler \
                 function does its own work",
            );
        }
        errors.finish()
    }

    fn check_entity_struct(
        &self,
        item: &syn::ItemStruct,
        entity: Option<&(crate::common::kw::entity, syn::Type)>,
        compacted: Option<&(crate::common::kw::compacted, Spanned<bool>)>,
        errors: &mut Errors,
    ) {
        if entity.is_none() {
            errors.push(
                item.ident.span(),
                "`#[consumer]` on a struct needs `entity = path::to::Entity` (an entity \
                 consumer); a handler is an `async fn`",
            );
            return;
        }
        let generics = &item.generics;
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            errors.push_spanned(
                generics,
                "entity consumers cannot be generic; remove the generic parameters",
            );
        }
        if !matches!(item.fields, syn::Fields::Unit) {
            errors.push_spanned(
                &item.fields,
                "an entity consumer is a unit struct (`struct WidgetConsumer;`): the entity's \
                 columns take the payload's fields",
            );
        }
        if let Some((key, _)) = compacted {
            if self.delivery != Delivery::InlineBatch {
                errors.push(
                    key.span,
                    "`compacted` is for batch entity consumers: add `delivery = \"inline_batch\"`, \
                     or remove `compacted`",
                );
            }
        }
    }

    fn check_signature(&self, handler: &HandlerFn, errors: &mut Errors) {
        let sig = &handler.sig;
        if sig.asyncness.is_none() {
            errors.push(
                sig.fn_token.span,
                "`#[consumer]` handlers must be `async fn`",
            );
        }
        if let Some(unsafety) = &sig.unsafety {
            errors.push(
                unsafety.span,
                "`#[consumer]` handlers cannot be `unsafe fn`",
            );
        }
        let generics = &sig.generics;
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            let message =
                "`#[consumer]` handlers cannot be generic: the payload type must be concrete";
            match &generics.where_clause {
                Some(where_clause) if generics.params.is_empty() => {
                    errors.push_spanned(where_clause, message);
                }
                _ => errors.push_spanned(generics, message),
            }
        }
        if let Some(receiver) = sig.inputs.iter().find_map(|arg| match arg {
            FnArg::Receiver(receiver) => Some(receiver),
            FnArg::Typed(_) => None,
        }) {
            errors.push_spanned(
                receiver,
                "`#[consumer]` handlers are free functions; remove the `self` parameter",
            );
        } else if sig.inputs.len() != 2 {
            let (handlers, parameters) = match self.delivery {
                Delivery::Message | Delivery::Batch => (
                    "`#[consumer]` handlers",
                    "`payload: Option<T>` and `metadata: deimos::Metadata`",
                ),
                Delivery::InlineBatch => (
                    "`#[consumer(delivery = \"inline_batch\")]` handlers",
                    "`payloads: Vec<Option<T>>` and `metadata: deimos::BatchMetadata`",
                ),
            };
            errors.push(
                sig.paren_token.span.join(),
                format_args!(
                    "{handlers} take 2 parameters, {parameters}; found {}",
                    sig.inputs.len()
                ),
            );
        }
    }

    /// The checks `consumer::settings` makes at startup that the attribute alone can fail:
    /// zero limits, `backoff` min above max, the dead-letter topic.
    fn check_settings(&self, errors: &mut Errors) {
        let SettingsArgs {
            max_concurrency,
            max_batch_size,
            min_bytes,
            max_bytes_per_partition,
            backoff,
            dead_letter_topic,
            ..
        } = &self.settings;
        let at_least_one = |name: &str, value: Option<Spanned<u64>>, errors: &mut Errors| {
            if let Some(Spanned { value: 0, span }) = value {
                errors.push(span, format_args!("`{name}` must be at least 1, found 0"));
            }
        };
        let widen = |value: Spanned<u32>| Spanned {
            value: u64::from(value.value),
            span: value.span,
        };
        at_least_one(
            "max_concurrency",
            max_concurrency.as_ref().map(|(_, v)| widen(*v)),
            errors,
        );
        at_least_one(
            "max_batch_size",
            max_batch_size.as_ref().map(|(_, v)| *v),
            errors,
        );
        at_least_one(
            "min_bytes",
            min_bytes.as_ref().map(|(_, v)| widen(*v)),
            errors,
        );
        at_least_one(
            "max_bytes_per_partition",
            max_bytes_per_partition.as_ref().map(|(_, v)| widen(*v)),
            errors,
        );
        if let Some((key, backoff)) = backoff {
            if let (Some((_, min)), Some((_, max))) = (&backoff.min, &backoff.max) {
                if min.value > max.value {
                    errors.push(
                        key.span,
                        format_args!(
                            "`backoff` min ({}) is greater than max ({})",
                            humantime::format_duration(min.value),
                            humantime::format_duration(max.value)
                        ),
                    );
                }
            }
        }
        if let Some((_, dlq)) = dead_letter_topic {
            if dlq.value().is_empty() {
                errors.push(dlq.span(), "`dead_letter_topic` must not be empty");
            } else if dlq.value() == self.topic.value() {
                errors.push(
                    dlq.span(),
                    format_args!(
                        "`dead_letter_topic` must differ from the consumed topic `{}`",
                        self.topic.value()
                    ),
                );
            } else {
                check_topic(dlq, errors);
            }
        }
    }
}
