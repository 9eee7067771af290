//! Pieces shared by `#[producer]` and `#[consumer]`.

pub(crate) mod args;
pub(crate) mod errors;
pub(crate) mod expand;
pub(crate) mod key;
pub(crate) mod kind;
pub(crate) mod kw;
pub(crate) mod message;
pub(crate) mod schema_file;
pub(crate) mod validate;
