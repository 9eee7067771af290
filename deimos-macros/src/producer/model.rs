//! The `#[producer]` model: the struct's fields as serde sees them, plus the loaded schemas.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Attribute, Fields, Ident, ItemStruct, LitStr, Token, Type};

use super::args::ProducerArgs;
use crate::common::key::Key;
use crate::common::kind::Kind;
use crate::common::kw;
use crate::common::message::Message;
use crate::common::schema_file::{SchemaDirs, SchemaFile};

#[derive(Debug)]
pub(crate) struct Producer<'a> {
    pub(crate) item: &'a ItemStruct,
    pub(crate) topic: LitStr,
    pub(crate) schema: SchemaFile,
    pub(crate) key: Key,
    /// The named fields (empty for tuple and unit structs, which `validate` rejects).
    pub(crate) fields: Vec<Field<'a>>,
    /// Struct-level `#[serde(rename_all = "...")]`, at its `rename_all`.
    pub(crate) rename_all: Option<Span>,
    /// `payload = Type`: the producer-type form (the struct is a unit struct naming the
    /// payload type).
    pub(crate) payload: Option<(kw::payload, Type)>,
    /// `entity = path::Entity`: the entity-producer form (a unit struct publishing rows of a
    /// SeaORM entity).
    pub(crate) entity: Option<(kw::entity, Type)>,
    /// `refetch = bool` (entity producers).
    pub(crate) refetch: Option<(kw::refetch, syn::LitBool)>,
    /// The `hooks` flag.
    pub(crate) hooks: Option<kw::hooks>,
}

/// A named struct field as serde serializes it.
#[derive(Debug)]
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The name serde writes: `#[serde(rename)]`, else the identifier without `r#`.
    pub(crate) name: String,
    pub(crate) renamed: bool,
    /// `#[serde(flatten)]`, at its `flatten`.
    pub(crate) flatten: Option<Span>,
    /// `#[serde(skip)]` or `#[serde(skip_serializing)]`: never written.
    pub(crate) skipped: bool,
}

impl<'a> Producer<'a> {
    /// Builds the model, loading the value schema and the key schema (if any). Both load
    /// errors are reported together.
    pub(crate) fn from_syn(
        item: &'a ItemStruct,
        args: ProducerArgs,
        dirs: &SchemaDirs,
    ) -> syn::Result<Self> {
        let ProducerArgs {
            message,
            payload,
            entity,
            refetch,
            hooks,
        } = args;
        let message = Message::load(message, dirs)?;
        let fields = match &item.fields {
            Fields::Named(named) => named.named.iter().map(Field::from_syn).collect(),
            Fields::Unnamed(_) | Fields::Unit => Vec::new(),
        };
        Ok(Producer {
            item,
            topic: message.topic,
            schema: message.schema,
            key: message.key,
            fields,
            rename_all: SerdeAttrs::of(&item.attrs).rename_all,
            payload,
            entity,
            refetch,
            hooks,
        })
    }

    /// The struct field serde writes as `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|field| !field.skipped && field.flatten.is_none() && field.name == name)
    }

    /// Each struct field type with the kind of the schema field it fills: value schema fields,
    /// then key schema fields for `key_config(schema = "...")`. `expand` turns these into
    /// `assert_compatible` calls.
    pub(crate) fn type_checks(&self) -> Vec<(&'a Type, &Kind)> {
        let key_fields = match &self.key {
            Key::Schema(_, key) => key.fields.as_slice(),
            _ => &[],
        };
        self.schema
            .fields
            .iter()
            .chain(key_fields)
            .filter_map(|schema_field| {
                let field = self.field(&schema_field.name)?;
                Some((field.ty, &schema_field.kind))
            })
            .collect()
    }
}

impl<'a> Field<'a> {
    fn from_syn(field: &'a syn::Field) -> Self {
        let ident = field
            .ident
            .as_ref()
            .unwrap_or_else(|| unreachable!("named fields have identifiers"));
        let serde = SerdeAttrs::of(&field.attrs);
        Field {
            ident,
            ty: &field.ty,
            renamed: serde.rename.is_some(),
            name: serde.rename.unwrap_or_else(|| ident.unraw().to_string()),
            flatten: serde.flatten,
            skipped: serde.skip,
        }
    }
}

/// The `#[serde(...)]` options that change which names serde writes.
#[derive(Debug, Default)]
struct SerdeAttrs {
    /// `rename = "x"` or `rename(serialize = "x")`.
    rename: Option<String>,
    rename_all: Option<Span>,
    flatten: Option<Span>,
    skip: bool,
}

impl SerdeAttrs {
    fn of(attrs: &[Attribute]) -> Self {
        let mut serde = SerdeAttrs::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
            // A malformed `#[serde]` is reported by serde's own derive, with a better message
            // than ours would be, so a parse error here only stops reading this attribute.
            let _ = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("rename") {
                    if meta.input.peek(Token![=]) {
                        serde.rename = Some(meta.value()?.parse::<LitStr>()?.value());
                    } else {
                        meta.parse_nested_meta(|inner| {
                            let value = inner.value()?.parse::<LitStr>()?;
                            if inner.path.is_ident("serialize") {
                                serde.rename = Some(value.value());
                            }
                            Ok(())
                        })?;
                    }
                } else if path.is_ident("rename_all") {
                    serde.rename_all = Some(path.segments[0].ident.span());
                    skip_value(&meta)?;
                } else if path.is_ident("flatten") {
                    serde.flatten = Some(path.segments[0].ident.span());
                } else if path.is_ident("skip") || path.is_ident("skip_serializing") {
                    serde.skip = true;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            });
        }
        serde
    }
}

/// Consumes `= value` or `(...)` after a serde option we do not care about.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn serde_names() {
        let item: ItemStruct = parse_quote! {
            #[serde(deny_unknown_fields, rename_all = "camelCase")]
            struct S {
                plain: i64,
                r#type: String,
                #[serde(rename = "given")]
                renamed: String,
                #[serde(default, rename(serialize = "out", deserialize = "in"))]
                both: String,
                #[serde(skip_serializing_if = "Option::is_none", with = "x")]
                opt: Option<i64>,
                #[serde(skip)]
                skipped: u8,
                #[serde(flatten)]
                flat: Other,
            }
        };
        let Fields::Named(named) = &item.fields else {
            unreachable!()
        };
        let fields: Vec<Field<'_>> = named.named.iter().map(Field::from_syn).collect();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["plain", "type", "given", "out", "opt", "skipped", "flat"]
        );
        assert!(fields[2].renamed && !fields[1].renamed);
        assert!(fields[5].skipped);
        assert!(fields[6].flatten.is_some());
        assert!(fields[..6].iter().all(|f| f.flatten.is_none()));
        assert!(SerdeAttrs::of(&item.attrs).rename_all.is_some());
    }
}
