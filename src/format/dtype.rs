//! The numpy dtype model: what a header's `descr` says, parsed but not yet mapped to Arrow.
//!
//! A recursive model in the style of npyz's `DType`: a plain scalar type, a sub-array
//! (`('v', '<f4', (2, 3))`), or a record of named fields at byte offsets. Parsing accepts every
//! form `numpy.lib.format.descr_to_dtype` accepts; [`DType::descr`] prints it back the way numpy
//! writes it. Mapping to Arrow lives in `super::schema`, in one place.

use super::literal::{repr_str, Literal};
use crate::error::ErrorKind;

/// Byte order of a multi-byte scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The byte order of the machine this runs on (numpy's `=`).
    pub const NATIVE: Endian = if cfg!(target_endian = "little") { Endian::Little } else { Endian::Big };
    /// numpy's character for it in a type string.
    pub fn char(self) -> char {
        match self {
            Endian::Little => '<',
            Endian::Big => '>',
        }
    }
}

/// The unit of a `datetime64` / `timedelta64`, as in `M8[ns]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `M8` / `m8` without a unit: numpy's generic unit, which has no fixed meaning.
    Generic,
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
    Picosecond,
    Femtosecond,
    Attosecond,
}

impl TimeUnit {
    /// numpy's code for the unit (`"ns"`, `"D"`, ...); empty for generic.
    pub fn code(self) -> &'static str {
        match self {
            TimeUnit::Generic => "",
            TimeUnit::Year => "Y",
            TimeUnit::Month => "M",
            TimeUnit::Week => "W",
            TimeUnit::Day => "D",
            TimeUnit::Hour => "h",
            TimeUnit::Minute => "m",
            TimeUnit::Second => "s",
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "us",
            TimeUnit::Nanosecond => "ns",
            TimeUnit::Picosecond => "ps",
            TimeUnit::Femtosecond => "fs",
            TimeUnit::Attosecond => "as",
        }
    }

    /// The unit for numpy's code (`"ns"`, `"D"`, ...; `"μs"` too, as numpy accepts it).
    pub fn from_code(code: &str) -> Option<TimeUnit> {
        Some(match code {
            "" | "generic" => TimeUnit::Generic,
            "Y" => TimeUnit::Year,
            "M" => TimeUnit::Month,
            "W" => TimeUnit::Week,
            "D" => TimeUnit::Day,
            "h" => TimeUnit::Hour,
            "m" => TimeUnit::Minute,
            "s" => TimeUnit::Second,
            "ms" => TimeUnit::Millisecond,
            "us" | "μs" => TimeUnit::Microsecond,
            "ns" => TimeUnit::Nanosecond,
            "ps" => TimeUnit::Picosecond,
            "fs" => TimeUnit::Femtosecond,
            "as" => TimeUnit::Attosecond,
            _ => return None,
        })
    }
}

/// A numpy dtype as described by an `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DType {
    /// `?`, `b1`: one byte, nonzero is true.
    Bool,
    /// `i1`..`i8`, `u1`..`u8`.
    Int { bytes: u8, signed: bool, endian: Endian },
    /// `f2`, `f4`, `f8`; `f12`/`f16` (long double) parse but are refused when mapped.
    Float { bytes: u8, endian: Endian },
    /// `c8`, `c16`; `c24`/`c32` (long double) parse but are refused when mapped.
    Complex { bytes: u8, endian: Endian },
    /// `S<n>`: fixed-width bytes, NUL-padded.
    Bytes { len: usize },
    /// `U<n>`: `n` UCS-4 code points (4 bytes each), NUL-padded.
    Unicode { chars: usize, endian: Endian },
    /// `V<n>`: raw bytes.
    Void { len: usize },
    /// `M8[<multiple><unit>]`.
    DateTime { unit: TimeUnit, multiple: u32, endian: Endian },
    /// `m8[<multiple><unit>]`.
    TimeDelta { unit: TimeUnit, multiple: u32, endian: Endian },
    /// `O`: pickled Python objects. Parses, always refused when mapped.
    Object,
    /// A structured (record) dtype.
    Record(Record),
    /// A fixed-shape sub-array of `base`, e.g. `('<f4', (2, 3))`. `shape` is C order.
    SubArray { base: Box<DType>, shape: Vec<usize> },
}

/// A structured dtype: named fields at byte offsets inside an item of `itemsize` bytes.
/// Padding (numpy's `('', '|V4')` entries) is not a field; it only moves the offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fields: Vec<RecordField>,
    pub itemsize: usize,
}

/// One named field of a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    pub name: String,
    /// numpy's optional field title, from `(('Title', 'name'), '<i4')`.
    pub title: Option<String>,
    /// Byte offset of the field inside the record item.
    pub offset: usize,
    pub dtype: DType,
}

impl DType {
    /// Size of one item in bytes (numpy's `dtype.itemsize`), saturating on absurd sub-array
    /// shapes (the header check compares sizes against the file length with checked arithmetic).
    pub fn itemsize(&self) -> usize {
        match self {
            DType::Bool => 1,
            DType::Int { bytes, .. } | DType::Float { bytes, .. } | DType::Complex { bytes, .. } => {
                *bytes as usize
            }
            DType::Bytes { len } | DType::Void { len } => *len,
            DType::Unicode { chars, .. } => chars.saturating_mul(4),
            DType::DateTime { .. } | DType::TimeDelta { .. } => 8,
            DType::Object => 8,
            DType::Record(r) => r.itemsize,
            DType::SubArray { base, shape } => {
                shape.iter().fold(base.itemsize(), |acc, &d| acc.saturating_mul(d))
            }
        }
    }

    /// The byte order, where the type has one (numpy's `|` types have none).
    pub fn endian(&self) -> Option<Endian> {
        match self {
            DType::Int { bytes: 1, .. } => None,
            DType::Int { endian, .. }
            | DType::Float { endian, .. }
            | DType::Complex { endian, .. }
            | DType::Unicode { endian, .. }
            | DType::DateTime { endian, .. }
            | DType::TimeDelta { endian, .. } => Some(*endian),
            _ => None,
        }
    }
}

impl DType {
    /// Parse a header's `descr` value: a type string (`'<f4'`, `'=i4'`, `'f4'`, `'d'`, `'S5'`,
    /// `'<M8[10s]'`, ...), a list of record fields, or a `(base, shape)` sub-array tuple.
    ///
    /// Follows `numpy.lib.format.descr_to_dtype`: fields are laid out one after the other, a
    /// field named `''` whose type is a plain void (or a sub-array, whose numpy type is void too)
    /// is padding, and the record's itemsize is where the last field ends.
    pub fn from_descr(descr: &Literal) -> Result<DType, ErrorKind> {
        match descr {
            Literal::Str(s) => DType::from_type_str(s),
            Literal::Tuple(items) => match items.as_slice() {
                [base, shape] => with_shape(DType::from_descr(base)?, shape, descr),
                _ => Err(invalid(descr, "a sub-array descr must be a (type, shape) pair")),
            },
            Literal::List(fields) => record_from_fields(fields).map(DType::Record),
            other => Err(invalid(
                other,
                "expected a type string, a list of fields or a (type, shape) tuple",
            )),
        }
    }

    /// Parse a type string alone (`'<f4'`, `'|S5'`, ...).
    pub fn from_type_str(s: &str) -> Result<DType, ErrorKind> {
        parse_type_str(s).map_err(|message| ErrorKind::InvalidDtype {
            descr: shortened(repr_str(s)),
            message,
        })
    }

    /// The descr the way numpy's `dtype_to_descr` prints it: `'<f4'` for a scalar, the list of
    /// field tuples (with `('', '|V<n>')` padding) for a record, as a Python literal.
    ///
    /// A sub-array prints as `('<f4', (2, 3))` (numpy never writes one at the top level; this
    /// form parses back). Fields that overlap or are out of order (which numpy refuses to
    /// describe) print in field order without padding, and do not parse back to the same offsets.
    pub fn descr(&self) -> String {
        match self {
            DType::Record(record) => record_descr(record),
            DType::SubArray { base, shape } => format!("({}, {})", base.descr(), shape_repr(shape)),
            scalar => repr_str(&scalar.type_str()),
        }
    }

    /// numpy's `dtype.str`: `<f4`, `|b1`, `|S5`, `<M8[10s]`, `|O`; a record or sub-array is
    /// `|V<itemsize>` as in numpy.
    pub fn type_str(&self) -> String {
        match self {
            DType::Bool => "|b1".to_string(),
            DType::Int { bytes: 1, signed, .. } => format!("|{}1", if *signed { 'i' } else { 'u' }),
            DType::Int { bytes, signed, endian } => {
                format!("{}{}{bytes}", endian.char(), if *signed { 'i' } else { 'u' })
            }
            DType::Float { bytes, endian } => format!("{}f{bytes}", endian.char()),
            DType::Complex { bytes, endian } => format!("{}c{bytes}", endian.char()),
            DType::Bytes { len } => format!("|S{len}"),
            DType::Unicode { chars, endian } => format!("{}U{chars}", endian.char()),
            DType::Void { len } => format!("|V{len}"),
            DType::DateTime { unit, multiple, endian } => {
                format!("{}M8{}", endian.char(), time_metadata(*unit, *multiple))
            }
            DType::TimeDelta { unit, multiple, endian } => {
                format!("{}m8{}", endian.char(), time_metadata(*unit, *multiple))
            }
            DType::Object => "|O".to_string(),
            DType::Record(_) | DType::SubArray { .. } => format!("|V{}", self.itemsize()),
        }
    }
}

// ---- descr literals -------------------------------------------------------------------------

fn invalid(descr: &Literal, message: impl Into<String>) -> ErrorKind {
    ErrorKind::InvalidDtype { descr: shortened(descr.to_string()), message: message.into() }
}

/// Keeps error messages one short line even for a hostile 16 MiB descr.
fn shortened(text: String) -> String {
    const LIMIT: usize = 120;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// numpy's `dtype((base, shape))`: an int shape means `(n,)`, `()` means no sub-array, and a
/// sub-array of a sub-array is one sub-array with the shapes joined (outer first).
fn with_shape(base: DType, shape: &Literal, context: &Literal) -> Result<DType, ErrorKind> {
    let mut dims = match shape {
        Literal::Int(n) => vec![dimension(*n, context)?],
        Literal::Tuple(items) => items
            .iter()
            .map(|item| match item {
                Literal::Int(n) => dimension(*n, context),
                _ => Err(invalid(context, "a sub-array shape must be a tuple of ints")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(invalid(context, "a sub-array shape must be an int or a tuple of ints")),
    };
    if dims.is_empty() {
        return Ok(base);
    }
    let base = match base {
        DType::SubArray { base, shape: inner } => {
            dims.extend(inner);
            *base
        }
        other => other,
    };
    dims.iter()
        .try_fold(base.itemsize(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(context, "the sub-array's size overflows"))?;
    Ok(DType::SubArray { base: Box::new(base), shape: dims })
}

fn dimension(n: i128, context: &Literal) -> Result<usize, ErrorKind> {
    usize::try_from(n).map_err(|_| invalid(context, format!("invalid sub-array dimension {n}")))
}

/// A list of `(name, type)` / `(name, type, shape)` entries, laid out sequentially.
fn record_from_fields(entries: &[Literal]) -> Result<Record, ErrorKind> {
    let mut fields = Vec::with_capacity(entries.len());
    let mut names_and_titles = std::collections::HashSet::new();
    let mut offset: usize = 0;
    for entry in entries {
        let parts = match entry {
            Literal::Tuple(parts) | Literal::List(parts) => parts.as_slice(),
            _ => return Err(invalid(entry, "a record field must be a (name, type) or (name, type, shape) tuple")),
        };
        let (name, dtype) = match parts {
            [name, dtype] => (name, DType::from_descr(dtype)?),
            [name, dtype, shape] => (name, with_shape(DType::from_descr(dtype)?, shape, entry)?),
            _ => return Err(invalid(entry, "a record field must be a (name, type) or (name, type, shape) tuple")),
        };
        let size = dtype.itemsize();
        let is_padding =
            matches!(name, Literal::Str(n) if n.is_empty()) && matches!(dtype, DType::Void { .. } | DType::SubArray { .. });
        if !is_padding {
            let (title, name) = field_name(name, entry)?;
            for key in title.iter().chain(std::iter::once(&name)) {
                if !names_and_titles.insert(key.clone()) {
                    return Err(invalid(entry, format!("field name {} is used twice (as a name or title)", repr_str(key))));
                }
            }
            fields.push(RecordField { name, title, offset, dtype });
        }
        offset = offset.checked_add(size).ok_or_else(|| invalid(entry, "the record's size overflows"))?;
    }
    Ok(Record { fields, itemsize: offset })
}

/// `'name'` or `('Title', 'name')` (a `None` title is no title).
fn field_name(name: &Literal, entry: &Literal) -> Result<(Option<String>, String), ErrorKind> {
    match name {
        Literal::Str(name) => Ok((None, name.clone())),
        Literal::Tuple(pair) => match pair.as_slice() {
            [Literal::Str(title), Literal::Str(name)] => Ok((Some(title.clone()), name.clone())),
            [Literal::None, Literal::Str(name)] => Ok((None, name.clone())),
            _ => Err(invalid(entry, "a titled field name must be a ('title', 'name') pair of strings")),
        },
        _ => Err(invalid(entry, "field names must be strings")),
    }
}

// ---- printing -------------------------------------------------------------------------------

/// numpy's `dtype.descr` for a record: fields in order, `('', '|V<n>')` for every gap.
fn record_descr(record: &Record) -> String {
    let mut entries = Vec::with_capacity(record.fields.len() + 1);
    let mut offset = 0usize;
    for field in &record.fields {
        if field.offset > offset {
            entries.push(padding_descr(field.offset - offset));
            offset = field.offset;
        }
        let name = match &field.title {
            Some(title) => format!("({}, {})", repr_str(title), repr_str(&field.name)),
            None => repr_str(&field.name),
        };
        entries.push(match &field.dtype {
            DType::SubArray { base, shape } => format!("({name}, {}, {})", base.descr(), shape_repr(shape)),
            dtype => format!("({name}, {})", dtype.descr()),
        });
        offset = offset.max(field.offset.saturating_add(field.dtype.itemsize()));
    }
    if record.itemsize > offset {
        entries.push(padding_descr(record.itemsize - offset));
    }
    format!("[{}]", entries.join(", "))
}

fn padding_descr(len: usize) -> String {
    format!("('', '|V{len}')")
}

/// A Python tuple: `(3,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [only] => format!("({only},)"),
        dims => format!("({})", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// `[ns]`, `[10s]`, or nothing for the generic unit.
fn time_metadata(unit: TimeUnit, multiple: u32) -> String {
    match (unit, multiple) {
        (TimeUnit::Generic, _) => String::new(),
        (unit, 1) => format!("[{}]", unit.code()),
        (unit, n) => format!("[{n}{}]", unit.code()),
    }
}

// ---- type strings ---------------------------------------------------------------------------

/// Largest item numpy allows (a C int), in bytes.
const MAX_ITEMSIZE: u64 = i32::MAX as u64;

/// A type string: an optional byte order (`<`, `>`, `=` native, `|` not applicable), then a
/// kind with a size (`f4`, `S5`), a single-char code (`d`, `?`), a datetime (`M8[10s]`), or one of
/// numpy's type names (`float32`, `datetime64[ns]`; names take no byte order but datetimes).
fn parse_type_str(s: &str) -> Result<DType, String> {
    if let Some(code) = type_name_code(s) {
        return parse_type_str(code);
    }
    let (order, rest) = match s.as_bytes().first() {
        Some(b'<') => (Endian::Little, &s[1..]),
        Some(b'>') => (Endian::Big, &s[1..]),
        Some(b'=' | b'|') => (Endian::NATIVE, &s[1..]),
        _ => (Endian::NATIVE, s),
    };
    if let Some(meta) = rest.strip_prefix("datetime64") {
        return datetime(meta, order, DateKind::DateTime);
    }
    if let Some(meta) = rest.strip_prefix("timedelta64") {
        return datetime(meta, order, DateKind::TimeDelta);
    }
    let mut chars = rest.chars();
    let Some(kind) = chars.next() else {
        return Err("empty type string".to_string());
    };
    let size_text = chars.as_str();
    match kind {
        'M' => datetime(datetime_meta(size_text)?, order, DateKind::DateTime),
        'm' => datetime(datetime_meta(size_text)?, order, DateKind::TimeDelta),
        _ if size_text.is_empty() => single_char_code(kind, order),
        _ => sized_kind(kind, size_text, order),
    }
}

/// After `M` / `m`: nothing (`M` alone is `M8`), or `8` and the optional `[unit]`.
fn datetime_meta(after_kind: &str) -> Result<&str, String> {
    if after_kind.is_empty() {
        return Ok("");
    }
    after_kind.strip_prefix('8').ok_or_else(|| format!("datetimes are 8 bytes, not {after_kind:?}"))
}

/// numpy's type names, as the type code they stand for (sizes as on 64-bit Linux).
fn type_name_code(name: &str) -> Option<&str> {
    if let Some(meta) = name.strip_prefix("datetime64") {
        return meta.is_empty().then_some("M8");
    }
    Some(match name {
        "bool" | "bool_" => "?",
        "int8" | "byte" => "i1",
        "int16" | "short" => "i2",
        "int32" | "intc" => "i4",
        "int64" | "int" | "long" | "longlong" | "intp" => "i8",
        "uint8" | "ubyte" => "u1",
        "uint16" | "ushort" => "u2",
        "uint32" | "uintc" => "u4",
        "uint64" | "ulong" | "ulonglong" | "uintp" => "u8",
        "float16" | "half" => "f2",
        "float32" | "single" => "f4",
        "float64" | "float" | "double" => "f8",
        "float128" | "longdouble" => "f16",
        "complex64" | "csingle" => "c8",
        "complex128" | "complex" | "cdouble" => "c16",
        "complex256" | "clongdouble" => "c32",
        "str" | "str_" | "unicode" => "U",
        "bytes" | "bytes_" => "S",
        "object" | "object_" => "O",
        "void" => "V",
        "timedelta64" => "m8",
        _ => return None,
    })
}

/// numpy's one-letter codes without a size.
fn single_char_code(code: char, endian: Endian) -> Result<DType, String> {
    let int = |bytes, signed| DType::Int { bytes, signed, endian: if bytes == 1 { Endian::NATIVE } else { endian } };
    Ok(match code {
        '?' => DType::Bool,
        'b' => int(1, true),
        'B' => int(1, false),
        'h' => int(2, true),
        'H' => int(2, false),
        'i' => int(4, true),
        'I' => int(4, false),
        'l' | 'q' | 'p' | 'n' => int(8, true),
        'L' | 'Q' | 'P' | 'N' => int(8, false),
        'e' => DType::Float { bytes: 2, endian },
        'f' => DType::Float { bytes: 4, endian },
        'd' => DType::Float { bytes: 8, endian },
        'g' => DType::Float { bytes: 16, endian },
        'F' => DType::Complex { bytes: 8, endian },
        'D' => DType::Complex { bytes: 16, endian },
        'G' => DType::Complex { bytes: 32, endian },
        'S' | 'a' => DType::Bytes { len: 0 },
        'c' => DType::Bytes { len: 1 },
        'U' => DType::Unicode { chars: 0, endian },
        'V' => DType::Void { len: 0 },
        'O' => DType::Object,
        _ => return Err(format!("unknown type code {code:?}")),
    })
}

/// A kind letter with a size: `i4`, `f8`, `S5`, `U6`, `V4`, `O8`.
fn sized_kind(kind: char, size_text: &str, endian: Endian) -> Result<DType, String> {
    let size = parse_count(size_text).ok_or_else(|| format!("invalid size {size_text:?}"))?;
    let too_large = || format!("size {size} is too large");
    let small = |allowed: &[u64]| allowed.contains(&size).then_some(size as u8);
    let dtype = match kind {
        'b' => small(&[1]).map(|_| DType::Bool),
        'i' | 'u' => small(&[1, 2, 4, 8]).map(|bytes| DType::Int {
            bytes,
            signed: kind == 'i',
            endian: if bytes == 1 { Endian::NATIVE } else { endian },
        }),
        'f' => small(&[2, 4, 8, 12, 16]).map(|bytes| DType::Float { bytes, endian }),
        'c' => small(&[8, 16, 24, 32]).map(|bytes| DType::Complex { bytes, endian }),
        'O' => small(&[4, 8]).map(|_| DType::Object),
        'S' | 'a' if size <= MAX_ITEMSIZE => Some(DType::Bytes { len: size as usize }),
        'V' if size <= MAX_ITEMSIZE => Some(DType::Void { len: size as usize }),
        'U' if size <= MAX_ITEMSIZE / 4 => Some(DType::Unicode { chars: size as usize, endian }),
        'S' | 'a' | 'V' | 'U' => return Err(too_large()),
        _ => return Err(format!("unknown type kind {kind:?}")),
    };
    dtype.ok_or_else(|| format!("no {kind:?} type has size {size}"))
}

/// Decimal digits (leading zeros and a `+` allowed, as numpy allows them), at most u64.
fn parse_count(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Clone, Copy)]
enum DateKind {
    DateTime,
    TimeDelta,
}

/// The part after `M8` / `datetime64`: nothing (generic) or `[<multiple><unit>]`.
fn datetime(meta: &str, endian: Endian, kind: DateKind) -> Result<DType, String> {
    let (unit, multiple) = if meta.is_empty() {
        (TimeUnit::Generic, 1)
    } else {
        time_unit(meta).ok_or_else(|| format!("invalid datetime unit {meta:?}"))?
    };
    Ok(match kind {
        DateKind::DateTime => DType::DateTime { unit, multiple, endian },
        DateKind::TimeDelta => DType::TimeDelta { unit, multiple, endian },
    })
}

/// `[ns]`, `[10s]`, `[generic]` → the unit and its multiple (numpy's limit: a C int).
fn time_unit(meta: &str) -> Option<(TimeUnit, u32)> {
    let inner = meta.strip_prefix('[')?.strip_suffix(']')?;
    if inner == "generic" {
        return Some((TimeUnit::Generic, 1));
    }
    let unsigned = inner.strip_prefix('+').unwrap_or(inner);
    let digits_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, code) = unsigned.split_at(digits_len);
    let multiple = if digits.is_empty() { 1 } else { digits.parse::<u32>().ok().filter(|&m| m <= i32::MAX as u32)? };
    match TimeUnit::from_code(code)? {
        TimeUnit::Generic => None,
        unit => Some((unit, multiple)),
    }
}
