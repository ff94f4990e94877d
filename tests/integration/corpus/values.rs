//! Comparing one value numpy read back (as `expected.json` encodes it) with one Arrow value.
//!
//! Floats compare by bits (NaN equals NaN, -0.0 differs from 0.0); bytes as lowercase hex;
//! datetimes converted from the dtype's unit to what SPEC §3 says the Arrow type holds.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::*;
use serde_json::Value;

use super::dtype::{time_type, Dt, TimeTarget};
use super::expected::FLOAT_MARK;

/// `Ok` if `array[idx]` is `expected` read as an item of `dt`; else what differs, with `path`
/// (e.g. `[3].pos.x`) saying where inside the item.
pub fn check_value(
    expected: &Value,
    dt: &Dt,
    array: &dyn Array,
    idx: usize,
    path: &str,
) -> Result<(), String> {
    if expected.is_null() {
        return if array.is_null(idx) {
            Ok(())
        } else {
            Err(format!("{path}: expected null (NaT), got a value"))
        };
    }
    if array.is_null(idx) {
        return Err(format!("{path}: expected {expected}, got null"));
    }
    match dt {
        Dt::Bool => {
            let got = array.as_boolean_opt().ok_or_else(|| wrong_array(path, array))?.value(idx);
            same(path, expected.as_bool(), got)
        }
        Dt::Int { .. } => {
            let got = int_value(array, idx).ok_or_else(|| wrong_array(path, array))?;
            let want = expected.as_i64().map(i128::from).or_else(|| expected.as_u64().map(i128::from));
            same(path, want, got)
        }
        Dt::Float { .. } => check_float(expected, array, idx, path),
        Dt::Complex { .. } => {
            let parts = array.as_struct_opt().ok_or_else(|| wrong_array(path, array))?;
            let want = expected
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| format!("{path}: bad expected {expected}"))?;
            for (i, part) in ["real", "imag"].into_iter().enumerate() {
                let child = parts
                    .column_by_name(part)
                    .ok_or_else(|| format!("{path}: complex struct has no '{part}'"))?;
                check_float(&want[i], child.as_ref(), idx, &format!("{path}.{part}"))?;
            }
            Ok(())
        }
        Dt::Bytes => {
            let got = array.as_binary_opt::<i32>().ok_or_else(|| wrong_array(path, array))?.value(idx);
            same(path, expected.as_str().map(str::to_string), hex(got))
        }
        Dt::Void(_) => {
            let got = array.as_fixed_size_binary_opt().ok_or_else(|| wrong_array(path, array))?.value(idx);
            same(path, expected.as_str().map(str::to_string), hex(got))
        }
        Dt::Str => {
            let got = array.as_string_opt::<i32>().ok_or_else(|| wrong_array(path, array))?.value(idx);
            same(path, expected.as_str(), got)
        }
        Dt::Time { delta, unit, mult } => {
            let count = expected.as_i64().ok_or_else(|| format!("{path}: bad expected {expected}"))?;
            let want = arrow_time_value(*delta, unit, *mult, count).map_err(|e| format!("{path}: {e}"))?;
            let got = time_value(array, idx).ok_or_else(|| wrong_array(path, array))?;
            if want == got {
                Ok(())
            } else {
                Err(format!("{path}: expected {want} (numpy's {count} × {mult}{unit}), got {got}"))
            }
        }
        Dt::Record(fields) => {
            let record = array.as_struct_opt().ok_or_else(|| wrong_array(path, array))?;
            for (name, field_dt) in fields {
                let child =
                    record.column_by_name(name).ok_or_else(|| format!("{path}: no struct field '{name}'"))?;
                let want =
                    expected.get(name).ok_or_else(|| format!("{path}: expected value has no '{name}'"))?;
                check_value(want, field_dt, child.as_ref(), idx, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
        Dt::Sub { base, shape } => {
            let list = array.as_fixed_size_list_opt().ok_or_else(|| wrong_array(path, array))?;
            let items = list.value(idx);
            let want = expected.as_array().ok_or_else(|| format!("{path}: bad expected {expected}"))?;
            if want.len() != shape[0] || items.len() != shape[0] {
                return Err(format!(
                    "{path}: expected {} items (numpy {}), got {}",
                    shape[0],
                    want.len(),
                    items.len()
                ));
            }
            let inner = Dt::clone(base).with_dims(&shape[1..]);
            for (i, w) in want.iter().enumerate() {
                check_value(w, &inner, items.as_ref(), i, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
    }
}

fn same<T: PartialEq + std::fmt::Debug>(path: &str, want: Option<T>, got: T) -> Result<(), String> {
    match want {
        Some(w) if w == got => Ok(()),
        Some(w) => Err(format!("{path}: expected {w:?}, got {got:?}")),
        None => Err(format!("{path}: the expected value is not of the column's kind (got {got:?})")),
    }
}

fn wrong_array(path: &str, array: &dyn Array) -> String {
    format!("{path}: unexpected Arrow type {:?}", array.data_type())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_float(expected: &Value, array: &dyn Array, idx: usize, path: &str) -> Result<(), String> {
    let got = match array.data_type() {
        DataType::Float16 => array.as_primitive::<Float16Type>().value(idx).to_f64(),
        DataType::Float32 => f64::from(array.as_primitive::<Float32Type>().value(idx)),
        DataType::Float64 => array.as_primitive::<Float64Type>().value(idx),
        _ => return Err(wrong_array(path, array)),
    };
    let want = match expected {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) if s.starts_with(FLOAT_MARK) => {
            s[FLOAT_MARK.len()..].parse().map_err(|_| format!("{path}: bad expected {expected}"))?
        }
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{path}: bad expected {expected}"))?,
        _ => return Err(format!("{path}: bad expected {expected}")),
    };
    // Every f2/f4 value is exactly an f64, so comparing the widened bits is exact.
    if (want.is_nan() && got.is_nan()) || want.to_bits() == got.to_bits() {
        Ok(())
    } else {
        Err(format!("{path}: expected {want:?}, got {got:?}"))
    }
}

fn int_value(array: &dyn Array, idx: usize) -> Option<i128> {
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(idx).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(idx).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(idx).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(idx).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(idx).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(idx).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(idx).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(idx).into(),
        _ => return None,
    })
}

fn time_value(array: &dyn Array, idx: usize) -> Option<i64> {
    use datafusion::arrow::datatypes::TimeUnit::*;
    Some(match array.data_type() {
        DataType::Date32 => array.as_primitive::<Date32Type>().value(idx).into(),
        DataType::Timestamp(Second, _) => array.as_primitive::<TimestampSecondType>().value(idx),
        DataType::Timestamp(Millisecond, _) => array.as_primitive::<TimestampMillisecondType>().value(idx),
        DataType::Timestamp(Microsecond, _) => array.as_primitive::<TimestampMicrosecondType>().value(idx),
        DataType::Timestamp(Nanosecond, _) => array.as_primitive::<TimestampNanosecondType>().value(idx),
        DataType::Duration(Second) => array.as_primitive::<DurationSecondType>().value(idx),
        DataType::Duration(Millisecond) => array.as_primitive::<DurationMillisecondType>().value(idx),
        DataType::Duration(Microsecond) => array.as_primitive::<DurationMicrosecondType>().value(idx),
        DataType::Duration(Nanosecond) => array.as_primitive::<DurationNanosecondType>().value(idx),
        _ => return None,
    })
}

/// numpy's `count` of `mult`×`unit` as the value SPEC §3's Arrow type holds.
pub fn arrow_time_value(delta: bool, unit: &str, mult: i64, count: i64) -> Result<i64, String> {
    let units = count.checked_mul(mult).ok_or("count × multiple overflows i64")?;
    match time_type(delta, unit)?.1 {
        TimeTarget::Scaled(factor) => {
            units.checked_mul(factor).ok_or_else(|| "scaled value overflows i64".to_string())
        }
        TimeTarget::Months => Ok(days_from_civil(1970 + units.div_euclid(12), units.rem_euclid(12) + 1, 1)),
        TimeTarget::Years => Ok(days_from_civil(1970 + units, 1, 1)),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn civil_dates_agree_with_numpy() {
    // numpy: np.datetime64('2020-02-01', 'D').astype(int) == 18293, '1969-12-01' == -31,
    // '1600-02-01' == -135109, '2400-01-01' == 157054.
    assert_eq!(days_from_civil(2020, 2, 1), 18_293);
    assert_eq!(days_from_civil(1969, 12, 1), -31);
    assert_eq!(days_from_civil(1600, 2, 1), -135_109);
    assert_eq!(days_from_civil(2400, 1, 1), 157_054);
    assert_eq!(arrow_time_value(false, "M", 1, -1).unwrap(), -31);
    assert_eq!(arrow_time_value(false, "W", 1, -1).unwrap(), -7);
}
