//! Every `#[producer]` check that needs no type information. Type compatibility is left to
//! rustc (see `expand`). No code generation here.

use syn::Fields;

use super::model::Producer;
use crate::common::errors::Errors;
use crate::common::key::Key;
use crate::common::kind::Kind;
use crate::common::validate::{check_key_field_in_schema, check_topic};

impl Producer<'_> {
    /// Runs every check and reports all failures together.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        let mut errors = Errors::new();
        check_topic(&self.topic, &mut errors);
        if let Some((refetch, _)) = &self.refetch {
            if self.entity.is_none() {
                errors.push(
                    refetch.span,
                    "`refetch` is for entity producers: add `entity = path::to::Entity`, or \
                     remove `refetch`",
                );
            }
        }
        if self.entity.is_some() {
            if let Some((payload, _)) = &self.payload {
                errors.push(
                    payload.span,
                    "`payload = ..` and `entity = ..` are two forms of producer: an entity \
                     producer publishes rows of its entity; keep one",
                );
            }
            self.check_unit_struct(&mut errors, "entity");
            check_key_field_in_schema(&self.key, &self.schema, &mut errors);
            return errors.finish();
        }
        if self.payload.is_some() {
            // The producer-type form: the payload type carries the fields, and is checked
            // against the schema when it is encoded.
            self.check_producer_type(&mut errors);
            check_key_field_in_schema(&self.key, &self.schema, &mut errors);
            return errors.finish();
        }
        self.check_shape(&mut errors);
        self.check_serde(&mut errors);
        self.check_fields(&mut errors);
        self.check_key(&mut errors);
        errors.finish()
    }

    /// `payload = Type` goes on a unit struct without generics.
    fn check_producer_type(&self, errors: &mut Errors) {
        self.check_unit_struct(errors, "payload");
    }

    /// The producer-type and entity forms go on a unit struct without generics.
    fn check_unit_struct(&self, errors: &mut Errors, form: &str) {
        let generics = &self.item.generics;
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            errors.push_spanned(
                generics,
                format!(
                    "`#[producer(.., {form} = ..)]` does not support generic producer types; \
                     remove the generic parameters"
                ),
            );
        }
        match &self.item.fields {
            Fields::Unit => {}
            fields => errors.push_spanned(
                fields,
                if form == "entity" {
                    "with `entity = ..`, `#[producer]` goes on a unit struct (`struct \
                     WidgetProducer;`): the entity's columns are the fields"
                        .to_owned()
                } else {
                    "with `payload = ..`, `#[producer]` goes on a unit struct (`struct \
                     WidgetProducer;`): the payload type carries the fields"
                        .to_owned()
                },
            ),
        }
    }

    fn check_shape(&self, errors: &mut Errors) {
        let generics = &self.item.generics;
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            let message = "`#[producer]` does not support generic structs: a payload type maps to \
                           one schema; remove the generic parameters";
            match &generics.where_clause {
                Some(where_clause) if generics.params.is_empty() => {
                    errors.push_spanned(where_clause, message);
                }
                _ => errors.push_spanned(generics, message),
            }
        }
        match &self.item.fields {
            Fields::Named(_) => {}
            Fields::Unnamed(fields) => errors.push_spanned(
                fields,
                "`#[producer]` needs a struct with named fields, one per schema field",
            ),
            Fields::Unit => errors.push(
                self.item.ident.span(),
                "`#[producer]` needs a struct with named fields, one per schema field, or \
                 `payload = Type` naming the payload type of this producer type",
            ),
        }
    }

    fn check_serde(&self, errors: &mut Errors) {
        if let Some(span) = self.rename_all {
            errors.push(
                span,
                "`#[serde(rename_all)]` is not supported by `#[producer]` yet; rename fields \
                 one by one with `#[serde(rename = \"...\")]`",
            );
        }
        for field in &self.fields {
            if let Some(span) = field.flatten {
                errors.push(
                    span,
                    "`#[serde(flatten)]` is not supported by `#[producer]` yet; declare the \
                     schema's fields directly on the struct",
                );
            }
        }
    }

    fn check_fields(&self, errors: &mut Errors) {
        let schema = &self.schema;
        for field in &self.fields {
            if field.skipped || field.flatten.is_some() || schema.field(&field.name).is_some() {
                continue;
            }
            let serialized = if field.renamed {
                format!(" (serialized as `{}`)", field.name)
            } else {
                String::new()
            };
            errors.push(
                field.ident.span(),
                format_args!(
                    "field `{}`{serialized} is not in schema `{}`; its fields are {}",
                    field.ident,
                    schema.name,
                    schema.field_list()
                ),
            );
        }
        if !matches!(self.item.fields, Fields::Named(_))
            || self.fields.iter().any(|field| field.flatten.is_some())
        {
            // Already an error (see `check_shape`, `check_serde`); a flattened struct may hold
            // the rest of the fields, so reporting them as missing would only add noise.
            return;
        }
        for schema_field in &schema.fields {
            if schema_field.has_default
                || self.field(&schema_field.name).is_some()
                || auto_filled(&schema_field.name, &schema_field.kind)
            {
                continue;
            }
            errors.push(
                self.item.ident.span(),
                format_args!(
                    "struct `{}` is missing field `{}` required by schema `{}` (add it, or give \
                     the field a default in the schema)",
                    self.item.ident, schema_field.name, schema.name
                ),
            );
        }
    }

    fn check_key(&self, errors: &mut Errors) {
        let ident = &self.item.ident;
        match &self.key {
            Key::None | Key::Plain(_) => {}
            Key::Field(field) => {
                let name = field.value();
                if check_key_field_in_schema(&self.key, &self.schema, errors)
                    && self.field(&name).is_none()
                {
                    errors.push(
                        field.span(),
                        format_args!("key field `{name}` is not a field of struct `{ident}`"),
                    );
                }
            }
            Key::Schema(lit, key_schema) => {
                for key_field in &key_schema.fields {
                    if self.field(&key_field.name).is_none() {
                        errors.push(
                            lit.span(),
                            format_args!(
                                "key schema `{}` has field `{}`, which struct `{ident}` lacks \
                                 (the key is filled from the payload's fields of the same names)",
                                key_schema.name, key_field.name
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Deimos' auto-added fields, which `deimos::schema::autofill` fills at publish time when
/// the payload leaves them out: `message_id` (string or uuid) and `timestamp` (string, long,
/// int, double or a timestamp logical type), nullable or not.
fn auto_filled(name: &str, kind: &Kind) -> bool {
    let kind = match kind {
        Kind::Nullable(inner) => inner.as_ref(),
        other => other,
    };
    match name {
        "message_id" => matches!(kind, Kind::Str | Kind::Uuid),
        "timestamp" => matches!(
            kind,
            Kind::Str
                | Kind::Long
                | Kind::Int
                | Kind::Double
                | Kind::TimestampMillis
                | Kind::TimestampMicros
        ),
        _ => false,
    }
}
