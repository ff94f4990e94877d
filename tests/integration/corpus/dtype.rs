//! The test's own reading of a numpy `descr` (as `expected.json` writes it) and of SPEC §3.
//!
//! Deliberately independent of the crate's dtype parser and Arrow mapping: an oracle that shared
//! the code under test would agree with its bugs. Only what the fixtures use is parsed.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde_json::Value;

/// What one item of a column is, as numpy describes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Dt {
    Bool,
    Int {
        bytes: u8,
        signed: bool,
    },
    Float {
        bytes: u8,
    },
    Complex {
        bytes: u8,
    },
    /// `S<n>`
    Bytes,
    /// `U<n>`
    Str,
    /// `V<n>`
    Void(usize),
    /// `M8[<mult><unit>]` (`delta: false`) or `m8[...]` (`delta: true`).
    Time {
        delta: bool,
        unit: String,
        mult: i64,
    },
    /// Named fields, padding left out.
    Record(Vec<(String, Dt)>),
    /// A fixed-shape sub-array (or the extra dimensions of an array), C order, outermost first.
    Sub {
        base: Box<Dt>,
        shape: Vec<usize>,
    },
}

impl Dt {
    /// Parse a descr: a type string or a list of record fields.
    pub fn from_descr(descr: &Value) -> Result<Dt, String> {
        match descr {
            Value::String(s) => Dt::from_type_str(s),
            Value::Array(entries) => {
                let mut fields = Vec::new();
                for entry in entries {
                    if let Some((name, dt)) = record_field(entry)? {
                        fields.push((name, dt));
                    }
                }
                Ok(Dt::Record(fields))
            }
            other => Err(format!("descr is neither a string nor a list: {other}")),
        }
    }

    /// Parse a type string such as `<f4`, `|S5`, `>M8[10s]`, `=f4`, `f4`.
    pub fn from_type_str(s: &str) -> Result<Dt, String> {
        let body = s.trim_start_matches(['<', '>', '|', '=']);
        let (kind, rest) = body.split_at(body.chars().next().map_or(0, char::len_utf8));
        let size = || rest.parse::<usize>().map_err(|_| format!("bad size in type string {s:?}"));
        if rest.is_empty() {
            if let Some(dt) = char_code(kind) {
                return Ok(dt);
            }
        }
        Ok(match kind {
            "?" => Dt::Bool,
            "b" => Dt::Bool,
            "i" | "u" => Dt::Int { bytes: size()? as u8, signed: kind == "i" },
            "f" => Dt::Float { bytes: size()? as u8 },
            "c" => Dt::Complex { bytes: size()? as u8 },
            "S" => Dt::Bytes,
            "U" => Dt::Str,
            "V" => Dt::Void(size()?),
            "M" | "m" => {
                let unit = rest
                    .strip_prefix("8[")
                    .and_then(|u| u.strip_suffix(']'))
                    .ok_or_else(|| format!("datetime without a unit: {s:?}"))?;
                let digits = unit.chars().take_while(char::is_ascii_digit).count();
                let mult = if digits == 0 {
                    1
                } else {
                    unit[..digits].parse().map_err(|_| format!("bad multiple in {s:?}"))?
                };
                Dt::Time { delta: kind == "m", unit: unit[digits..].to_string(), mult }
            }
            _ => return Err(format!("type string {s:?} is not one the tests know")),
        })
    }

    /// This item type with `dims` extra dimensions around it (no-op for none).
    pub fn with_dims(self, dims: &[usize]) -> Dt {
        if dims.is_empty() {
            self
        } else {
            Dt::Sub { base: Box::new(self), shape: dims.to_vec() }
        }
    }

    /// The Arrow type SPEC §3 gives this item type.
    pub fn arrow_type(&self) -> Result<DataType, String> {
        Ok(match self {
            Dt::Bool => DataType::Boolean,
            Dt::Int { bytes, signed: true } => match bytes {
                1 => DataType::Int8,
                2 => DataType::Int16,
                4 => DataType::Int32,
                8 => DataType::Int64,
                _ => return Err(format!("no i{bytes}")),
            },
            Dt::Int { bytes, signed: false } => match bytes {
                1 => DataType::UInt8,
                2 => DataType::UInt16,
                4 => DataType::UInt32,
                8 => DataType::UInt64,
                _ => return Err(format!("no u{bytes}")),
            },
            Dt::Float { bytes } => float_type(*bytes)?,
            Dt::Complex { bytes } => {
                let part = float_type(bytes / 2)?;
                DataType::Struct(Fields::from(vec![
                    Field::new("real", part.clone(), false),
                    Field::new("imag", part, false),
                ]))
            }
            Dt::Bytes => DataType::Binary,
            Dt::Str => DataType::Utf8,
            Dt::Void(n) => DataType::FixedSizeBinary(*n as i32),
            Dt::Time { delta, unit, .. } => time_type(*delta, unit)?.0,
            Dt::Record(fields) => {
                let mut out = Vec::new();
                for (name, dt) in fields {
                    out.push(Field::new(name, dt.arrow_type()?, true));
                }
                DataType::Struct(Fields::from(out))
            }
            Dt::Sub { base, shape } => {
                let mut ty = base.arrow_type()?;
                for &d in shape.iter().rev() {
                    ty = DataType::FixedSizeList(Arc::new(Field::new("item", ty, true)), d as i32);
                }
                ty
            }
        })
    }
}

/// numpy's one-character type codes (C type names; `l`/`L` as on 64-bit Linux).
fn char_code(code: &str) -> Option<Dt> {
    let int = |bytes, signed| Dt::Int { bytes, signed };
    Some(match code {
        "?" => Dt::Bool,
        "b" => int(1, true),
        "B" => int(1, false),
        "h" => int(2, true),
        "H" => int(2, false),
        "i" => int(4, true),
        "I" => int(4, false),
        "l" | "q" => int(8, true),
        "L" | "Q" => int(8, false),
        "e" => Dt::Float { bytes: 2 },
        "f" => Dt::Float { bytes: 4 },
        "d" => Dt::Float { bytes: 8 },
        "F" => Dt::Complex { bytes: 8 },
        "D" => Dt::Complex { bytes: 16 },
        _ => return None,
    })
}

fn float_type(bytes: u8) -> Result<DataType, String> {
    Ok(match bytes {
        2 => DataType::Float16,
        4 => DataType::Float32,
        8 => DataType::Float64,
        _ => return Err(format!("no f{bytes}")),
    })
}

/// How a datetime64/timedelta64 count in `unit` lands in Arrow (SPEC §3): the Arrow type, and
/// how to turn one count of the base unit into the Arrow value.
pub enum TimeTarget {
    /// Arrow value = count × factor.
    Scaled(i64),
    /// Date32 of the first day of the month `count` months after 1970-01.
    Months,
    /// Date32 of 1 January of the year 1970 + `count`.
    Years,
}

pub fn time_type(delta: bool, unit: &str) -> Result<(DataType, TimeTarget), String> {
    use TimeTarget::*;
    let ts = |u| {
        if delta {
            DataType::Duration(u)
        } else {
            DataType::Timestamp(u, None)
        }
    };
    Ok(match (delta, unit) {
        (_, "ns") => (ts(TimeUnit::Nanosecond), Scaled(1)),
        (_, "us") => (ts(TimeUnit::Microsecond), Scaled(1)),
        (_, "ms") => (ts(TimeUnit::Millisecond), Scaled(1)),
        (_, "s") => (ts(TimeUnit::Second), Scaled(1)),
        (_, "m") => (ts(TimeUnit::Second), Scaled(60)),
        (_, "h") => (ts(TimeUnit::Second), Scaled(3600)),
        (false, "D") => (DataType::Date32, Scaled(1)),
        (false, "W") => (DataType::Date32, Scaled(7)),
        (false, "M") => (DataType::Date32, Months),
        (false, "Y") => (DataType::Date32, Years),
        (true, "D") => (ts(TimeUnit::Second), Scaled(86_400)),
        (true, "W") => (ts(TimeUnit::Second), Scaled(604_800)),
        _ => return Err(format!("no Arrow type for {}8[{unit}]", if delta { 'm' } else { 'M' })),
    })
}

/// One entry of a record descr: `[name, type]`, `[name, type, shape]`, `[[title, name], type]`.
/// Padding (`''` names) gives `None`.
fn record_field(entry: &Value) -> Result<Option<(String, Dt)>, String> {
    let parts = entry.as_array().ok_or_else(|| format!("record entry is not a list: {entry}"))?;
    let name = match parts.first() {
        Some(Value::String(n)) => n.clone(),
        Some(Value::Array(title_name)) => title_name
            .get(1)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("bad titled name: {entry}"))?
            .to_string(),
        _ => return Err(format!("record entry without a name: {entry}")),
    };
    if name.is_empty() {
        return Ok(None);
    }
    let ty = parts.get(1).ok_or_else(|| format!("record entry without a type: {entry}"))?;
    let dt = Dt::from_descr(ty)?;
    let shape = match parts.get(2) {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("bad sub-array shape: {entry}"))?,
        Some(other) => return Err(format!("bad sub-array shape {other}")),
        None => Vec::new(),
    };
    Ok(Some((name, dt.with_dims(&shape))))
}

/// A type's shape for comparison: list item names, nullability and metadata do not matter, struct
/// child names and every width do.
pub fn type_shape(ty: &DataType) -> String {
    match ty {
        DataType::FixedSizeList(item, n) => {
            format!("FixedSizeList({}, {n})", type_shape(item.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{}: {}", f.name(), type_shape(f.data_type()))).collect();
            format!("Struct{{{}}}", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}
