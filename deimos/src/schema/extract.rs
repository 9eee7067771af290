//! Pulls named top-level fields out of a serde struct without serializing the rest: the key
//! of a typed payload on the fast encode path (`key_config(field)` and `key_config(schema)`)
//! costs only its own fields.
//!
//! [`KeyFields`] hands them to another serializer as a struct of just those fields (the key
//! record, written by `serde_avro_fast` against the key schema), collecting each as an
//! apache-avro value on the way (the key's decoded form).

use std::cell::RefCell;

use apache_avro::types::Value;
use serde::ser::{self, Error as _, Impossible, Serialize, SerializeStruct, Serializer};

/// A struct payload seen as the struct of its fields named in `names` (a key record), for
/// serializing the key straight to bytes: only those fields are serialized, under the same
/// names, in the order the payload serializes them (`serde_avro_fast` writes a record's fields
/// in schema order whatever order they come in). Each is also converted to an apache-avro
/// value ([`to_avro_value`](super::to_avro_value)'s conversion), kept by its index in
/// `names`; [`KeyFields::into_first`] and [`KeyFields::into_values`] return them.
///
/// Serializing fails (with the inner serializer's error type) when the payload does not
/// serialize as a struct, when a named field is missing (serialized twice: the inner
/// serializer's error), or when a named field does not convert to a value.
pub(crate) struct KeyFields<'a, P: ?Sized> {
    payload: &'a P,
    names: &'a [String],
    values: RefCell<Collected>,
}

/// The values a serialization collected, by index in the names: the first inline (most keys
/// have one field, which then costs no allocation), the others in `rest`.
#[derive(Default)]
struct Collected {
    first: Option<Value>,
    rest: Vec<Option<Value>>,
}

impl Collected {
    fn slot(&mut self, i: usize) -> &mut Option<Value> {
        match i {
            0 => &mut self.first,
            i => &mut self.rest[i - 1],
        }
    }

    fn missing(&self) -> Option<usize> {
        if self.first.is_none() {
            return Some(0);
        }
        self.rest.iter().position(Option::is_none).map(|i| i + 1)
    }
}

impl<'a, P: Serialize + ?Sized> KeyFields<'a, P> {
    /// The fields of `payload` named in `names` (the key schema's fields, in schema order;
    /// at least one).
    pub(crate) fn new(payload: &'a P, names: &'a [String]) -> Self {
        KeyFields {
            payload,
            names,
            values: RefCell::default(),
        }
    }

    /// The value of the first named field, as the last serialization collected it; `None`
    /// if it did not get every field.
    pub(crate) fn into_first(self) -> Option<Value> {
        let values = self.values.into_inner();
        if values.missing().is_some() {
            return None;
        }
        values.first
    }

    /// The values the last serialization collected, in the order of `names`; `None` if it
    /// did not get them all.
    pub(crate) fn into_values(self) -> Option<Vec<Value>> {
        let values = self.values.into_inner();
        std::iter::once(values.first).chain(values.rest).collect()
    }
}

impl<P: Serialize + ?Sized> Serialize for KeyFields<'_, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut values = self.values.borrow_mut();
        values.first = None;
        values.rest.clear();
        values.rest.resize(self.names.len().saturating_sub(1), None);
        self.payload.serialize(Project {
            inner: serializer,
            names: self.names,
            values: &mut values,
        })
    }
}

/// The serializer [`KeyFields`] runs the payload through: takes a struct, passes on the
/// named fields.
struct Project<'n, 'v, S> {
    inner: S,
    names: &'n [String],
    values: &'v mut Collected,
}

/// [`Project`]'s struct serializer.
struct ProjectStruct<'n, 'v, S: SerializeStruct> {
    inner: S,
    names: &'n [String],
    values: &'v mut Collected,
}

impl<S: SerializeStruct> SerializeStruct for ProjectStruct<'_, '_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        let Some(i) = self.names.iter().position(|n| n == key) else {
            return Ok(());
        };
        let v = apache_avro::to_value(value)
            .map_err(|e| S::Error::custom(format_args!("key field `{key}`: {e}")))?;
        self.inner.serialize_field(key, value)?;
        *self.values.slot(i) = Some(v);
        Ok(())
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        if let Some(i) = self.values.missing() {
            return Err(S::Error::custom(format_args!(
                "payload has no key field `{}`",
                self.names[i]
            )));
        }
        self.inner.end()
    }
}

fn not_a_struct<E: ser::Error, T>() -> Result<T, E> {
    Err(E::custom(
        "the payload does not serialize as a struct, so its key fields cannot be read",
    ))
}

macro_rules! reject {
    ($($name:ident($($arg:ty),*);)*) => {$(
        fn $name(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            not_a_struct()
        }
    )*};
}

impl<'n, 'v, S: Serializer> Serializer for Project<'n, 'v, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = ProjectStruct<'n, 'v, S::SerializeStruct>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(ProjectStruct {
            inner: self.inner.serialize_struct(name, self.names.len())?,
            names: self.names,
            values: self.values,
        })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    reject! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<S::Ok, S::Error> {
        not_a_struct()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        not_a_struct()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        not_a_struct()
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        not_a_struct()
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        not_a_struct()
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        not_a_struct()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        not_a_struct()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        not_a_struct()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Order {
        id: i64,
        region: String,
        lines: Vec<String>,
        #[serde(rename = "ref")]
        reference: uuid::Uuid,
    }

    #[derive(serde::Serialize)]
    struct Wrapped(Order);

    fn order() -> Order {
        Order {
            id: 7,
            region: "eu".into(),
            lines: vec!["a".into()],
            reference: uuid::Uuid::nil(),
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn only_the_named_fields_are_passed_on_and_collected() {
        let order = order();
        let wanted = names(&["region", "id"]);
        let fields = KeyFields::new(&order, &wanted);
        let json = serde_json::to_value(&fields).unwrap();
        assert_eq!(json, serde_json::json!({"id": 7, "region": "eu"}));
        assert_eq!(
            fields.into_values().unwrap(),
            vec![Value::String("eu".into()), Value::Long(7)],
            "in the order of the names"
        );
        let renamed = names(&["ref"]);
        let wrapped = Wrapped(order);
        let fields = KeyFields::new(&wrapped, &renamed);
        assert!(serde_json::to_value(&fields).is_ok());
        assert_eq!(fields.into_values().unwrap().len(), 1);
    }

    #[test]
    fn a_missing_field_or_a_non_struct_is_an_error() {
        let wanted = names(&["id", "nope"]);
        let order = order();
        let fields = KeyFields::new(&order, &wanted);
        let err = serde_json::to_value(&fields).unwrap_err();
        assert!(err.to_string().contains("no key field `nope`"), "{err}");
        assert!(fields.into_values().is_none());

        let id = names(&["id"]);
        let err = serde_json::to_value(KeyFields::new(&vec![1, 2], &id)).unwrap_err();
        assert!(
            err.to_string().contains("does not serialize as a struct"),
            "{err}"
        );
    }
}
