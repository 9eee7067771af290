//! Checks shared by both macros. No code generation here.

use syn::LitStr;

use super::errors::Errors;
use super::key::Key;
use super::schema_file::SchemaFile;

/// Kafka topic names: 1 to 249 of `[a-zA-Z0-9._-]` (Kafka's `Topic.validate`).
pub(crate) fn check_topic(topic: &LitStr, errors: &mut Errors) {
    let value = topic.value();
    if value.is_empty() {
        errors.push(topic.span(), "`topic` must not be empty");
    } else if value == "." || value == ".." {
        errors.push(
            topic.span(),
            format_args!("`{value}` is not a valid Kafka topic name"),
        );
    } else if value.len() > 249 {
        errors.push(
            topic.span(),
            format_args!(
                "topic `{value}` is {} characters long; Kafka allows at most 249",
                value.len()
            ),
        );
    } else if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        errors.push(
            topic.span(),
            format_args!(
                "topic `{value}` contains `{bad}`; Kafka topic names may only contain ASCII \
                 letters, digits, `.`, `_` and `-`"
            ),
        );
    }
}

/// A non-empty string argument such as `group_id`.
pub(crate) fn check_not_empty(name: &str, value: &LitStr, errors: &mut Errors) {
    if value.value().trim().is_empty() {
        errors.push(value.span(), format_args!("`{name}` must not be empty"));
    }
}

/// `key_config(field = "x")`: `x` must be a field of the value schema. Returns whether it is.
pub(crate) fn check_key_field_in_schema(
    key: &Key,
    schema: &SchemaFile,
    errors: &mut Errors,
) -> bool {
    let Key::Field(field) = key else {
        return true;
    };
    let name = field.value();
    if schema.field(&name).is_some() {
        return true;
    }
    errors.push(
        field.span(),
        format_args!(
            "key field `{name}` is not in schema `{}`; its fields are {}",
            schema.name,
            schema.field_list()
        ),
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic_errors(topic: &str) -> Vec<String> {
        let mut errors = Errors::new();
        check_topic(
            &LitStr::new(topic, proc_macro2::Span::call_site()),
            &mut errors,
        );
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn topics() {
        assert!(topic_errors("widgets").is_empty());
        assert!(topic_errors("my-app.widgets_v2").is_empty());
        assert_eq!(topic_errors(""), ["`topic` must not be empty"]);
        assert_eq!(topic_errors(".."), ["`..` is not a valid Kafka topic name"]);
        assert_eq!(
            topic_errors("my topic"),
            [
                "topic `my topic` contains ` `; Kafka topic names may only contain ASCII letters, \
              digits, `.`, `_` and `-`"
            ]
        );
        assert_eq!(topic_errors(&"a".repeat(250)).len(), 1);
    }
}
