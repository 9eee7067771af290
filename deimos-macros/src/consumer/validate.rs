//! Every `#[consumer]` check that needs no type information; rustc checks the parameter and
//! return types (see `expand`). No code generation here.

use syn::FnArg;

use super::model::Consumer;
use crate::common::errors::Errors;
use crate::common::validate::{check_key_field_in_schema, check_not_empty, check_topic};

impl Consumer<'_> {
    /// Runs every check and reports all failures together.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        let mut errors = Errors::new();
        check_topic(&self.topic, &mut errors);
        check_not_empty("group_id", &self.group_id, &mut errors);
        check_key_field_in_schema(&self.key, &self.schema, &mut errors);
        self.check_signature(&mut errors);
        errors.finish()
    }

    fn check_signature(&self, errors: &mut Errors) {
        let sig = &self.handler.sig;
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
            errors.push(
                sig.paren_token.span.join(),
                format_args!(
                    "`#[consumer]` handlers take 2 parameters, `payload: Option<T>` and \
                     `metadata: deimos::Metadata`; found {}",
                    sig.inputs.len()
                ),
            );
        }
    }
}
