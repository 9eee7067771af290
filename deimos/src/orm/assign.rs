//! [`PayloadValue`]s → SeaORM column values, for entity consumers.
//!
//! An active model takes a column value only in the exact `sea_query::Value` variant of its
//! field's Rust type (`i64` takes `BigInt`, `Option<DateTimeUtc>` takes `ChronoDateTimeUtc`).
//! The column's type does not say which Rust type the field has, so a value is offered in each
//! form it converts to without loss ([`forms`]) and `ActiveModelTrait::try_set` keeps the one
//! the field takes.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sea_orm::prelude::{
    BigDecimal, Decimal, TimeDate, TimeDateTime, TimeDateTimeWithTimeZone, TimeTime,
};
use sea_orm::sea_query::Value;
use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait, IdenStatic as _};

use crate::error::BoxError;
use crate::payload::{Payload, PayloadValue};

/// Every form of `value` that some SeaORM field type takes, without loss: for `Null` the null
/// of every variant; integers as every integer width they fit, as floats and decimals; strings
/// as text, and parsed as UUIDs, decimals, dates and times where they parse; dates and times as
/// chrono and `time` values; maps and arrays as JSON (and JSON text); and so on.
pub(crate) fn forms(value: &PayloadValue) -> Vec<Value> {
    use PayloadValue as P;
    let mut out = Vec::new();
    match value {
        P::Null => out.extend(nulls()),
        P::Bool(b) => out.push(Value::Bool(Some(*b))),
        P::Int(i) => {
            integers(*i, &mut out);
            out.push(Value::Double(Some(*i as f64)));
            if (*i as f32) as i64 == *i {
                out.push(Value::Float(Some(*i as f32)));
            }
            out.push(Value::Decimal(Some(Decimal::from(*i))));
            out.push(Value::BigDecimal(Some(Box::new(BigDecimal::from(*i)))));
            out.push(Value::String(Some(i.to_string())));
        }
        P::Float(f) => {
            out.push(Value::Double(Some(*f)));
            if f64::from(*f as f32) == *f || f.is_nan() {
                out.push(Value::Float(Some(*f as f32)));
            }
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
                integers(*f as i64, &mut out);
            }
            if f.is_finite() {
                // The shortest decimal form: 0.1 is 0.1, not 0.1000000000000000055511.
                let text = format!("{f}");
                decimals(&text, &mut out);
            }
            out.push(Value::String(Some(format!("{f:?}"))));
        }
        P::String(s) => {
            out.push(Value::String(Some(s.clone())));
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                out.push(Value::Char(Some(c)));
            }
            if let Ok(i) = s.parse::<i64>() {
                integers(i, &mut out);
            }
            if let Ok(f) = s.parse::<f64>() {
                if f.is_finite() {
                    out.push(Value::Double(Some(f)));
                }
            }
            decimals(s, &mut out);
            if let Ok(u) = uuid::Uuid::parse_str(s) {
                out.push(Value::Uuid(Some(u)));
            }
            if let Ok(d) = s.parse::<NaiveDate>() {
                dates(d, &mut out);
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                datetimes(t, &mut out);
            } else if let Ok(n) = s.parse::<NaiveDateTime>() {
                naive_datetimes(n, &mut out);
            }
            out.push(Value::Bytes(Some(s.as_bytes().to_vec())));
            out.push(Value::Json(Some(Box::new(serde_json::Value::String(
                s.clone(),
            )))));
        }
        P::Bytes(b) => out.push(Value::Bytes(Some(b.clone()))),
        P::Date(d) => {
            dates(*d, &mut out);
            out.push(Value::String(Some(d.to_string())));
        }
        P::Time(t) => {
            out.push(Value::ChronoTime(Some(*t)));
            if let Some(t) = time_time(*t) {
                out.push(Value::TimeTime(Some(t)));
            }
            out.push(Value::String(Some(t.to_string())));
        }
        P::DateTime(t) => {
            datetimes(*t, &mut out);
            out.push(Value::String(Some(t.to_rfc3339())));
        }
        P::NaiveDateTime(n) => {
            naive_datetimes(*n, &mut out);
            out.push(Value::String(Some(n.to_string())));
        }
        P::Uuid(u) => {
            out.push(Value::Uuid(Some(*u)));
            out.push(Value::String(Some(u.hyphenated().to_string())));
            out.push(Value::Bytes(Some(u.as_bytes().to_vec())));
        }
        P::Array(_) | P::Map(_) => {
            if let Ok(json) = serde_json::to_value(value) {
                out.push(Value::String(Some(json.to_string())));
                out.push(Value::Json(Some(Box::new(json))));
            }
        }
    }
    if !matches!(value, P::Null | P::Array(_) | P::Map(_) | P::String(_)) {
        if let Ok(json) = serde_json::to_value(value) {
            out.push(Value::Json(Some(Box::new(json))));
        }
    }
    out
}

fn nulls() -> [Value; 28] {
    [
        Value::Bool(None),
        Value::TinyInt(None),
        Value::SmallInt(None),
        Value::Int(None),
        Value::BigInt(None),
        Value::TinyUnsigned(None),
        Value::SmallUnsigned(None),
        Value::Unsigned(None),
        Value::BigUnsigned(None),
        Value::Float(None),
        Value::Double(None),
        Value::String(None),
        Value::Char(None),
        Value::Bytes(None),
        Value::Json(None),
        Value::ChronoDate(None),
        Value::ChronoTime(None),
        Value::ChronoDateTime(None),
        Value::ChronoDateTimeUtc(None),
        Value::ChronoDateTimeLocal(None),
        Value::ChronoDateTimeWithTimeZone(None),
        Value::TimeDate(None),
        Value::TimeTime(None),
        Value::TimeDateTime(None),
        Value::TimeDateTimeWithTimeZone(None),
        Value::Uuid(None),
        Value::Decimal(None),
        Value::BigDecimal(None),
    ]
}

fn integers(i: i64, out: &mut Vec<Value>) {
    out.push(Value::BigInt(Some(i)));
    if let Ok(v) = i32::try_from(i) {
        out.push(Value::Int(Some(v)));
    }
    if let Ok(v) = i16::try_from(i) {
        out.push(Value::SmallInt(Some(v)));
    }
    if let Ok(v) = i8::try_from(i) {
        out.push(Value::TinyInt(Some(v)));
    }
    if let Ok(v) = u64::try_from(i) {
        out.push(Value::BigUnsigned(Some(v)));
    }
    if let Ok(v) = u32::try_from(i) {
        out.push(Value::Unsigned(Some(v)));
    }
    if let Ok(v) = u16::try_from(i) {
        out.push(Value::SmallUnsigned(Some(v)));
    }
    if let Ok(v) = u8::try_from(i) {
        out.push(Value::TinyUnsigned(Some(v)));
    }
}

fn decimals(text: &str, out: &mut Vec<Value>) {
    let decimal = text
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text));
    if let Ok(d) = decimal {
        out.push(Value::Decimal(Some(d)));
    }
    if let Ok(d) = text.parse::<BigDecimal>() {
        out.push(Value::BigDecimal(Some(Box::new(d))));
    }
}

fn dates(d: NaiveDate, out: &mut Vec<Value>) {
    out.push(Value::ChronoDate(Some(d)));
    if let Some(d) = time_date(d) {
        out.push(Value::TimeDate(Some(d)));
    }
}

fn datetimes(t: DateTime<FixedOffset>, out: &mut Vec<Value>) {
    out.push(Value::ChronoDateTimeUtc(Some(t.with_timezone(&Utc))));
    out.push(Value::ChronoDateTimeWithTimeZone(Some(t)));
    out.push(Value::ChronoDateTimeLocal(Some(t.with_timezone(&Local))));
    // A zoneless column holds the UTC wall clock (what SeaORM writes for `DateTimeUtc`).
    out.push(Value::ChronoDateTime(Some(t.naive_utc())));
    if let Some(o) = time_offset_datetime(t) {
        out.push(Value::TimeDateTimeWithTimeZone(Some(o)));
    }
    if let Some(p) = time_primitive(t.naive_utc()) {
        out.push(Value::TimeDateTime(Some(p)));
    }
}

fn naive_datetimes(n: NaiveDateTime, out: &mut Vec<Value>) {
    out.push(Value::ChronoDateTime(Some(n)));
    if let Some(p) = time_primitive(n) {
        out.push(Value::TimeDateTime(Some(p)));
    }
    // Read as UTC for a zoned column, as Deimos' coercion reads it for `timestamp-*`.
    datetimes(n.and_utc().fixed_offset(), out);
}

fn time_date(d: NaiveDate) -> Option<TimeDate> {
    use chrono::Datelike as _;
    let month = u8::try_from(d.month()).ok()?.try_into().ok()?;
    TimeDate::from_calendar_date(d.year(), month, u8::try_from(d.day()).ok()?).ok()
}

fn time_time(t: NaiveTime) -> Option<TimeTime> {
    use chrono::Timelike as _;
    TimeTime::from_hms_nano(
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
        t.nanosecond(),
    )
    .ok()
}

fn time_primitive(n: NaiveDateTime) -> Option<TimeDateTime> {
    Some(TimeDateTime::new(
        time_date(n.date())?,
        time_time(n.time())?,
    ))
}

fn time_offset_datetime(t: DateTime<FixedOffset>) -> Option<TimeDateTimeWithTimeZone> {
    let nanos = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    let utc = TimeDateTimeWithTimeZone::from_unix_timestamp_nanos(nanos).ok()?;
    let offset = time::UtcOffset::from_whole_seconds(t.offset().local_minus_utc()).ok()?;
    Some(utc.to_offset(offset))
}

/// The forms of `value` that need no parsing or conversion, most likely first: what a field of
/// the value's own type takes (`String` for text, `BigInt` then `Int` for integers, `Double`
/// for floats, `ChronoDateTimeUtc` for instants, …). [`set_column`] tries these before
/// [`forms`].
fn direct_forms(value: &PayloadValue) -> Vec<Value> {
    use PayloadValue as P;
    match value {
        P::Null => Vec::new(),
        P::Bool(b) => vec![Value::Bool(Some(*b))],
        P::Int(i) => {
            let mut out = vec![Value::BigInt(Some(*i))];
            if let Ok(v) = i32::try_from(*i) {
                out.push(Value::Int(Some(v)));
            }
            out
        }
        P::Float(f) => vec![Value::Double(Some(*f))],
        P::String(s) => vec![Value::String(Some(s.clone()))],
        P::Bytes(b) => vec![Value::Bytes(Some(b.clone()))],
        P::Date(d) => vec![Value::ChronoDate(Some(*d))],
        P::Time(t) => vec![Value::ChronoTime(Some(*t))],
        P::DateTime(t) => vec![
            Value::ChronoDateTimeUtc(Some(t.with_timezone(&Utc))),
            Value::ChronoDateTimeWithTimeZone(Some(*t)),
        ],
        P::NaiveDateTime(n) => vec![Value::ChronoDateTime(Some(*n))],
        P::Uuid(u) => vec![Value::Uuid(Some(*u))],
        P::Array(_) | P::Map(_) => Vec::new(),
    }
}

/// Sets `column` of `active` from `value`, in the form its field takes.
///
/// # Errors
/// When no form fits: a null for a column that is not nullable, text that is not a number for
/// a number column, …; the message names the column and the value.
pub fn set_column<A: ActiveModelTrait>(
    active: &mut A,
    column: <A::Entity as EntityTrait>::Column,
    value: &PayloadValue,
) -> Result<(), BoxError> {
    for form in direct_forms(value)
        .into_iter()
        .chain(std::iter::once_with(|| forms(value)).flatten())
    {
        if active.try_set(column, form).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "column `{}` does not take {value}{}",
        column.as_str(),
        if value.is_null() {
            " (the column is not nullable)"
        } else {
            ""
        }
    )
    .into())
}

/// The value of `column` that `value` makes, in the form the column's field takes (for a
/// filter on the column).
///
/// # Errors
/// As [`set_column`].
pub fn column_value_of<A: ActiveModelTrait>(
    column: <A::Entity as EntityTrait>::Column,
    value: &PayloadValue,
) -> Result<Value, BoxError> {
    let mut scratch = A::default();
    set_column(&mut scratch, column, value)?;
    match scratch.get(column) {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Ok(v),
        ActiveValue::NotSet => Err(format!("column `{}` was not set", column.as_str()).into()),
    }
}

/// Sets every column of `active` that `attributes` has a field of the same name for (Deimos'
/// `record.send("#{k}=", v)` over `record_attributes`); fields without a column are ignored.
///
/// # Errors
/// The first field whose value the column does not take (see [`set_column`]).
pub fn assign_attributes<A: ActiveModelTrait>(
    active: &mut A,
    attributes: &Payload,
) -> Result<(), BoxError> {
    for column in <<A::Entity as EntityTrait>::Column as sea_orm::Iterable>::iter() {
        if let Some(value) = attributes.get(column.as_str()) {
            set_column(active, column, value)?;
        }
    }
    Ok(())
}
