//! Error collection: every check reports into one [`Errors`], so a user sees all mistakes at once.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Collects `syn::Error`s and combines them.
///
/// Like serde's `Ctxt`, it must be consumed with [`Errors::finish`]: dropping it unchecked is a
/// bug in this crate (errors would be lost), so it panics.
#[derive(Debug)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    finished: bool,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Errors {
            combined: None,
            finished: false,
        }
    }

    /// Adds an error at `span`.
    pub(crate) fn push(&mut self, span: Span, message: impl Display) {
        self.push_error(syn::Error::new(span, message));
    }

    /// Adds an error covering all of `tokens` (first to last token).
    pub(crate) fn push_spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push_error(syn::Error::new_spanned(tokens, message));
    }

    /// Adds an existing error (which may itself hold several).
    pub(crate) fn push_error(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Adds the error of `result`, if any, and returns its value.
    pub(crate) fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push_error(error);
                None
            }
        }
    }

    /// Adds `error` (a parse error that ends parsing) and returns everything collected so far.
    pub(crate) fn fail(mut self, error: syn::Error) -> syn::Error {
        self.push_error(error);
        self.finished = true;
        self.combined
            .take()
            .unwrap_or_else(|| unreachable!("an error was just pushed"))
    }

    /// `Err` with every collected error, or `Ok` if there were none.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.finished = true;
        match self.combined.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("internal error in deimos-macros: `Errors` dropped without `finish()`");
        }
    }
}

/// The user's item followed by `compile_error!`s, so the item still exists for the rest of the
/// crate (and the IDE) when the attribute is wrong.
pub(crate) fn with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut tokens = item;
    tokens.extend(error.to_compile_error());
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_all_errors() {
        let mut errors = Errors::new();
        errors.push(Span::call_site(), "first");
        errors.push(Span::call_site(), "second");
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn empty_is_ok() {
        assert!(Errors::new().finish().is_ok());
    }

    #[test]
    #[should_panic(expected = "without `finish()`")]
    fn dropping_unfinished_panics() {
        let _errors = Errors::new();
    }
}
