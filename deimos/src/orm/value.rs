//! SeaORM column values → [`PayloadValue`]s, for entity producers.
//!
//! A model's columns become a [`Payload`] keyed by column name; Deimos' coercion rules
//! ([`schema::coerce`](crate::schema::coerce)) then fit each value to its schema field, as
//! Deimos' `ActiveRecordProducer` hands record attributes to its `AvroSchemaCoercer`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use sea_orm::prelude::{TimeDate, TimeDateTimeWithTimeZone, TimeTime};
use sea_orm::sea_query::Value;
use sea_orm::{EntityTrait, IdenStatic as _, ModelTrait};

use crate::payload::{Payload, PayloadValue};

/// Every column of `model` by column name (`Column::as_str`, the name in the database), in the
/// entity's column order, converted by [`column_value`].
pub fn model_attributes<M: ModelTrait>(model: &M) -> Payload {
    <<M::Entity as EntityTrait>::Column as sea_orm::Iterable>::iter()
        .map(|column| (column.as_str().to_owned(), column_value(&model.get(column))))
        .collect()
}

/// One SeaORM column value as a [`PayloadValue`]:
///
/// | SeaORM (`sea_query::Value`) | payload value | fills (by Deimos' coercion rules) |
/// |---|---|---|
/// | any variant holding `None` (SQL `NULL`) | `Null` | the `null` branch of a union |
/// | `Bool` | `Bool` | `boolean` |
/// | `TinyInt` … `BigInt`, `TinyUnsigned` … `Unsigned` | `Int` | `int`, `long`, `string`, `double`, `decimal` |
/// | `BigUnsigned` | `Int`; above `i64::MAX`, its decimal `String` | as `Int`; the string only fills `string` and `decimal` |
/// | `Float`, `Double` | `Float` | `float`, `double`, `decimal`, `string` |
/// | `String`, `Char`, `Enum` (its value) | `String` | `string`, an enum with that symbol, numbers from numeric text |
/// | `Bytes` | `Bytes` | `bytes`, `fixed` |
/// | `Json` | a JSON object is a `Map`, an array an `Array`, scalars their own kind | `record`, `map`, `array` (JSON columns for nested data) |
/// | `ChronoDate`, `TimeDate` | `Date` | `date`, `string` |
/// | `ChronoTime`, `TimeTime` | `Time` | `time-millis`, `time-micros` |
/// | `ChronoDateTime`, `TimeDateTime` (no zone) | `NaiveDateTime` | `timestamp-*` (read as UTC), `local-timestamp-*` |
/// | `ChronoDateTimeUtc`, `…Local`, `…WithTimeZone`, `TimeDateTimeWithTimeZone` | `DateTime` | `timestamp-*`, `long` (epoch seconds, Deimos' `Time#to_i`) |
/// | `Uuid` | `Uuid` | `uuid`, `string` |
/// | `Decimal`, `BigDecimal` | its decimal `String` (exact, no float rounding) | `decimal(p, s)`, `double`, `string` |
/// | anything else (PostgreSQL arrays, ranges, network types, `jiff`) | SeaORM's own JSON form of the value | as `Json` |
pub fn column_value(value: &Value) -> PayloadValue {
    match value {
        Value::Bool(v) => opt(v, |b| PayloadValue::Bool(*b)),
        Value::TinyInt(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::SmallInt(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::Int(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::BigInt(v) => opt(v, |i| PayloadValue::Int(*i)),
        Value::TinyUnsigned(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::SmallUnsigned(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::Unsigned(v) => opt(v, |i| PayloadValue::Int((*i).into())),
        Value::BigUnsigned(v) => opt(v, |i| match i64::try_from(*i) {
            Ok(i) => PayloadValue::Int(i),
            Err(_) => PayloadValue::String(i.to_string()),
        }),
        Value::Float(v) => opt(v, |f| PayloadValue::Float((*f).into())),
        Value::Double(v) => opt(v, |f| PayloadValue::Float(*f)),
        Value::String(v) => opt(v, |s| PayloadValue::String(s.clone())),
        Value::Char(v) => opt(v, |c| PayloadValue::String(c.to_string())),
        Value::Enum(e) => match e {
            sea_orm::sea_query::OptionEnum::Some(e) => PayloadValue::String(e.value.to_string()),
            sea_orm::sea_query::OptionEnum::None(_) => PayloadValue::Null,
        },
        Value::Bytes(v) => opt(v, |b| PayloadValue::Bytes(b.clone())),
        Value::Json(v) => opt(v, |j| PayloadValue::from((**j).clone())),
        Value::ChronoDate(v) => opt(v, |d| PayloadValue::Date(*d)),
        Value::ChronoTime(v) => opt(v, |t| PayloadValue::Time(*t)),
        Value::ChronoDateTime(v) => opt(v, |t| PayloadValue::NaiveDateTime(*t)),
        Value::ChronoDateTimeUtc(v) => opt(v, |t| PayloadValue::DateTime(t.fixed_offset())),
        Value::ChronoDateTimeLocal(v) => opt(v, |t| PayloadValue::DateTime(t.fixed_offset())),
        Value::ChronoDateTimeWithTimeZone(v) => opt(v, |t| PayloadValue::DateTime(*t)),
        Value::TimeDate(v) => opt(v, |d| {
            date_of(*d).map_or_else(json_form(value), PayloadValue::Date)
        }),
        Value::TimeTime(v) => opt(v, |t| {
            time_of(*t).map_or_else(json_form(value), PayloadValue::Time)
        }),
        Value::TimeDateTime(v) => opt(v, |t| {
            date_of(t.date())
                .zip(time_of(t.time()))
                .map_or_else(json_form(value), |(d, t)| {
                    PayloadValue::NaiveDateTime(NaiveDateTime::new(d, t))
                })
        }),
        Value::TimeDateTimeWithTimeZone(v) => opt(v, |t| {
            offset_datetime(*t).map_or_else(json_form(value), PayloadValue::DateTime)
        }),
        Value::Uuid(v) => opt(v, |u| PayloadValue::Uuid(*u)),
        Value::Decimal(v) => opt(v, |d| PayloadValue::String(d.to_string())),
        Value::BigDecimal(v) => opt(v, |d| PayloadValue::String(d.to_plain_string())),
        // Variants of sea-query features deimos does not enable (an application may).
        #[allow(unreachable_patterns)]
        other => json_form(other)(),
    }
}

fn opt<T>(value: &Option<T>, f: impl FnOnce(&T) -> PayloadValue) -> PayloadValue {
    value.as_ref().map_or(PayloadValue::Null, f)
}

/// SeaORM's JSON rendering of `value`, as a payload value.
fn json_form(value: &Value) -> impl FnOnce() -> PayloadValue + '_ {
    move || PayloadValue::from(sea_orm::sea_query::value::sea_value_to_json_value(value))
}

fn date_of(d: TimeDate) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(d.year(), u8::from(d.month()).into(), d.day().into())
}

fn time_of(t: TimeTime) -> Option<NaiveTime> {
    NaiveTime::from_hms_nano_opt(
        t.hour().into(),
        t.minute().into(),
        t.second().into(),
        t.nanosecond(),
    )
}

fn offset_datetime(t: TimeDateTimeWithTimeZone) -> Option<DateTime<FixedOffset>> {
    let offset = FixedOffset::east_opt(t.offset().whole_seconds())?;
    let nanos = t.unix_timestamp_nanos();
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    Some(DateTime::from_timestamp(secs, sub)?.with_timezone(&offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn scalars_and_nulls() {
        assert_eq!(column_value(&Value::BigInt(Some(7))), PayloadValue::Int(7));
        assert_eq!(column_value(&Value::BigInt(None)), PayloadValue::Null);
        assert_eq!(
            column_value(&Value::Unsigned(Some(u32::MAX))),
            PayloadValue::Int(4_294_967_295)
        );
        assert_eq!(
            column_value(&Value::BigUnsigned(Some(u64::MAX))),
            PayloadValue::String("18446744073709551615".into())
        );
        assert_eq!(
            column_value(&Value::Float(Some(1.5))),
            PayloadValue::Float(1.5)
        );
        assert_eq!(
            column_value(&Value::Char(Some('x'))),
            PayloadValue::String("x".into())
        );
        assert_eq!(
            column_value(&Value::Bytes(Some(vec![1, 2]))),
            PayloadValue::Bytes(vec![1, 2])
        );
    }

    #[test]
    fn decimals_keep_every_digit() {
        let d: sea_orm::prelude::Decimal = "12345678901234.5678".parse().unwrap();
        assert_eq!(
            column_value(&Value::Decimal(Some(d))),
            PayloadValue::String("12345678901234.5678".into())
        );
        let b: sea_orm::prelude::BigDecimal = "1e3".parse().unwrap();
        assert_eq!(
            column_value(&Value::BigDecimal(Some(Box::new(b)))),
            PayloadValue::String("1000".into())
        );
    }

    #[test]
    fn times_from_both_crates_agree() {
        let utc = Utc.with_ymd_and_hms(2024, 1, 31, 12, 34, 56).unwrap();
        let chrono = column_value(&Value::ChronoDateTimeUtc(Some(utc)));
        let time = column_value(&Value::TimeDateTimeWithTimeZone(Some(
            TimeDateTimeWithTimeZone::from_unix_timestamp(utc.timestamp()).unwrap(),
        )));
        assert_eq!(chrono, time);
        let date = column_value(&Value::TimeDate(Some(
            TimeDate::from_ordinal_date(2024, 31).unwrap(),
        )));
        assert_eq!(
            date,
            PayloadValue::Date(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
        );
    }

    #[test]
    fn json_columns_become_maps_and_arrays() {
        let json = serde_json::json!({"a": [1, "x"], "b": null});
        let value = column_value(&Value::Json(Some(Box::new(json))));
        let map = value.as_map().expect("a map");
        assert_eq!(
            map.get("a"),
            Some(&PayloadValue::Array(vec![
                PayloadValue::Int(1),
                PayloadValue::String("x".into())
            ]))
        );
        assert_eq!(map.get("b"), Some(&PayloadValue::Null));
    }
}
