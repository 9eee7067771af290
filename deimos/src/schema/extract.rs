//! Pulls named top-level fields out of a serde struct as Avro values, without serializing the
//! rest: the key of a typed payload on the fast encode path (`key_config(field)` and
//! `key_config(schema)`) costs only its own fields.

use apache_avro::types::Value;
use serde::ser::{self, Impossible, Serialize, SerializeStruct, Serializer};

use crate::error::BoxError;

/// The fields of `payload` named in `names`, in the order `payload` serializes them, as
/// apache-avro values (the same conversion [`to_avro_value`](super::to_avro_value) does).
///
/// # Errors
/// When `payload` does not serialize as a struct, or a wanted field fails to convert.
pub(crate) fn extract_fields<T: Serialize + ?Sized>(
    payload: &T,
    names: &[&str],
) -> Result<Vec<(String, Value)>, BoxError> {
    payload
        .serialize(Extractor { names })
        .map_err(|e| e.0.into())
}

#[derive(Debug)]
struct ExtractError(String);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExtractError {}

impl ser::Error for ExtractError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        ExtractError(msg.to_string())
    }
}

fn not_a_struct<T>() -> Result<T, ExtractError> {
    Err(ExtractError(
        "the payload does not serialize as a struct, so its key fields cannot be read".into(),
    ))
}

struct Extractor<'n> {
    names: &'n [&'n str],
}

struct Fields<'n> {
    names: &'n [&'n str],
    found: Vec<(String, Value)>,
}

impl SerializeStruct for Fields<'_> {
    type Ok = Vec<(String, Value)>;
    type Error = ExtractError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ExtractError> {
        if self.names.contains(&key) {
            let v = apache_avro::to_value(value)
                .map_err(|e| ExtractError(format!("key field `{key}`: {e}")))?;
            self.found.push((key.to_owned(), v));
        }
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, ExtractError> {
        Ok(self.found)
    }
}

macro_rules! reject {
    ($($name:ident($($arg:ty),*);)*) => {$(
        fn $name(self, $(_: $arg),*) -> Result<Self::Ok, ExtractError> {
            not_a_struct()
        }
    )*};
}

impl<'n> Serializer for Extractor<'n> {
    type Ok = Vec<(String, Value)>;
    type Error = ExtractError;
    type SerializeSeq = Impossible<Self::Ok, ExtractError>;
    type SerializeTuple = Impossible<Self::Ok, ExtractError>;
    type SerializeTupleStruct = Impossible<Self::Ok, ExtractError>;
    type SerializeTupleVariant = Impossible<Self::Ok, ExtractError>;
    type SerializeMap = Impossible<Self::Ok, ExtractError>;
    type SerializeStruct = Fields<'n>;
    type SerializeStructVariant = Impossible<Self::Ok, ExtractError>;

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, ExtractError> {
        Ok(Fields {
            names: self.names,
            found: Vec::with_capacity(len.min(self.names.len())),
        })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, ExtractError> {
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

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, ExtractError> {
        not_a_struct()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, ExtractError> {
        not_a_struct()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ExtractError> {
        not_a_struct()
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ExtractError> {
        not_a_struct()
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ExtractError> {
        not_a_struct()
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ExtractError> {
        not_a_struct()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ExtractError> {
        not_a_struct()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ExtractError> {
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

    #[test]
    fn only_the_named_fields_are_converted() {
        let order = Order {
            id: 7,
            region: "eu".into(),
            lines: vec!["a".into()],
            reference: uuid::Uuid::nil(),
        };
        let got = extract_fields(&order, &["region", "id"]).unwrap();
        assert_eq!(
            got,
            vec![
                ("id".to_owned(), Value::Long(7)),
                ("region".to_owned(), Value::String("eu".into()))
            ]
        );
        let renamed = extract_fields(&order, &["ref"]).unwrap();
        assert_eq!(renamed.len(), 1);
        assert_eq!(extract_fields(&order, &["nope"]).unwrap(), vec![]);
    }

    #[test]
    fn non_structs_are_errors() {
        let err = extract_fields(&vec![1, 2], &["id"]).unwrap_err();
        assert!(
            err.to_string().contains("does not serialize as a struct"),
            "{err}"
        );
    }
}
