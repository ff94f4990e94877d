//! `datetime64` / `timedelta64` → Timestamp, Duration or Date32 (the table is
//! `schema::time_mapping`).
//!
//! NaT (`i64::MIN`) is null in every unit and is never scaled. Values that need no scaling
//! (`ns`, `us`, `ms`, `s` with multiple 1) keep the zero-copy path of the primitives; only the
//! null bitmap is computed, and only when a NaT is there. Everything else is scaled with checked
//! arithmetic: a value that leaves the target's range is `ValueOutOfRange` with its row.

use std::sync::Arc;

use crate::arrow::array::{ArrayRef, Date32Array, PrimitiveArray};
use crate::arrow::buffer::{NullBuffer, ScalarBuffer};
use crate::arrow::datatypes::{
    ArrowPrimitiveType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, TimeUnit as ArrowTimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use super::{primitive, ByteView};
use crate::error::ErrorKind;
use crate::dtype::{DType, Endian};
use crate::schema::{time_mapping, TimeMapping};

/// numpy's Not-a-Time.
pub const NAT: i64 = i64::MIN;

pub(super) fn decode_time(dtype: &DType, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let endian = dtype.endian().unwrap_or(Endian::NATIVE);
    let raw: ScalarBuffer<i64> = primitive::values(view, endian);
    let nulls = nat_nulls(&raw);
    let first_row = view.first_row;
    match time_mapping(dtype)? {
        TimeMapping::Timestamp { unit, factor } => match unit {
            ArrowTimeUnit::Second => scaled::<TimestampSecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Millisecond => scaled::<TimestampMillisecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Microsecond => scaled::<TimestampMicrosecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Nanosecond => scaled::<TimestampNanosecondType>(raw, nulls, factor, first_row),
        },
        TimeMapping::Duration { unit, factor } => match unit {
            ArrowTimeUnit::Second => scaled::<DurationSecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Millisecond => scaled::<DurationMillisecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Microsecond => scaled::<DurationMicrosecondType>(raw, nulls, factor, first_row),
            ArrowTimeUnit::Nanosecond => scaled::<DurationNanosecondType>(raw, nulls, factor, first_row),
        },
        TimeMapping::Days { factor } => dates(&raw, nulls, first_row, |v| v.checked_mul(factor)),
        TimeMapping::Months { factor } => {
            dates(&raw, nulls, first_row, |v| v.checked_mul(factor).and_then(first_day_of_month))
        }
        TimeMapping::Years { factor } => dates(&raw, nulls, first_row, |v| {
            v.checked_mul(factor).and_then(|y| y.checked_add(1970)).and_then(|y| days_from_civil(y, 1, 1))
        }),
    }
}

/// A validity bitmap marking NaT as null, or `None` when there is no NaT.
fn nat_nulls(raw: &[i64]) -> Option<NullBuffer> {
    if !raw.contains(&NAT) {
        return None;
    }
    Some(NullBuffer::from_iter(raw.iter().map(|&v| v != NAT)))
}

/// Timestamp/Duration values: the raw buffer itself (possibly zero-copy) when `factor` is 1,
/// else each non-NaT value times `factor`.
fn scaled<T>(raw: ScalarBuffer<i64>, nulls: Option<NullBuffer>, factor: i64, first_row: u64) -> Result<ArrayRef, ErrorKind>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    let values = if factor == 1 {
        raw
    } else {
        let mut out = Vec::with_capacity(raw.len());
        for (i, &v) in raw.iter().enumerate() {
            let scaled = if v == NAT {
                0
            } else {
                v.checked_mul(factor).ok_or_else(|| out_of_range(v, first_row, i, "a 64-bit timestamp/duration"))?
            };
            out.push(scaled);
        }
        ScalarBuffer::from(out)
    };
    Ok(Arc::new(PrimitiveArray::<T>::new(values, nulls)))
}

/// Date32 values: `to_days` of each non-NaT value, which must fit an i32.
fn dates(
    raw: &[i64],
    nulls: Option<NullBuffer>,
    first_row: u64,
    to_days: impl Fn(i64) -> Option<i64>,
) -> Result<ArrayRef, ErrorKind> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &v) in raw.iter().enumerate() {
        let days = if v == NAT {
            0
        } else {
            to_days(v)
                .and_then(|d| i32::try_from(d).ok())
                .ok_or_else(|| out_of_range(v, first_row, i, "Date32"))?
        };
        out.push(days);
    }
    Ok(Arc::new(Date32Array::new(ScalarBuffer::from(out), nulls)))
}

fn out_of_range(value: i64, first_row: u64, i: usize, target: &'static str) -> ErrorKind {
    ErrorKind::ValueOutOfRange { value, row: first_row + i as u64, target }
}

/// Days since 1970-01-01 of the first day of month `months` (counted from 1970-01, negative
/// before it).
fn first_day_of_month(months: i64) -> Option<i64> {
    let year = months.div_euclid(12).checked_add(1970)?;
    let month = months.rem_euclid(12) + 1;
    days_from_civil(year, month, 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`),
/// `None` when the arithmetic would overflow.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    // Far beyond Date32's range anyway; keeps the arithmetic below from overflowing.
    if year.unsigned_abs() > 1 << 40 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 31), Some(-1));
        assert_eq!(days_from_civil(1600, 2, 29), Some(-135_081));
        assert_eq!(first_day_of_month(0), Some(0));
        assert_eq!(first_day_of_month(-1), Some(-31)); // 1969-12-01
        assert_eq!(first_day_of_month(-13), Some(-365 - 31)); // 1968-12-01
        assert_eq!(first_day_of_month(1), Some(31));
        assert_eq!(days_from_civil(i64::MAX, 1, 1), None);
    }
}
