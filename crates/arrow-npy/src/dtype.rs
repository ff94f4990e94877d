//! The numpy dtype model: what a header's `descr` says, parsed but not yet mapped to Arrow.
//!
//! A recursive model in the style of npyz's `DType`: a plain scalar type, a sub-array
//! (`('v', '<f4', (2, 3))`), or a record of named fields at byte offsets. Parsing follows
//! `numpy.lib.format.descr_to_dtype` (checked against numpy 2.4 on every type string of up to
//! three chars from numpy's alphabet, and on mutated headers); [`DType::descr`] prints it back
//! the way numpy writes it. Mapping to Arrow lives in `super::schema`, in one place.
//!
//! Differences from numpy, on purpose: `f12`/`c24` (a 32-bit machine's long double) parse, to be
//! refused by name when mapped; titles must be strings; numpy's string-only legacy spellings are
//! refused: repeat prefixes (`'2i4'`, `'(2,)i4'`, `'5S'`), comma lists (`'i4,f8'`), spaces
//! inside a type string, `'T'` (StringDType, which `.npy` cannot hold), and `M8[D/4]` divisors.

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
            // numpy reads `descr[0]` and `descr[1]` and ignores anything after them.
            Literal::Tuple(items) => match items.as_slice() {
                [base, shape, ..] => with_shape(DType::from_descr(base)?, shape, descr),
                _ => Err(invalid(descr, "a sub-array descr must be a (type, shape) pair")),
            },
            Literal::List(fields) => record_from_fields(fields).map(DType::Record),
            other => Err(invalid(other, "expected a type string, a list of fields or a (type, shape) tuple")),
        }
    }

    /// Parse a type string alone (`'<f4'`, `'|S5'`, ...).
    pub fn from_type_str(s: &str) -> Result<DType, ErrorKind> {
        parse_type_str(s).map_err(|message| {
            // Only the start of a long string is shown, so only that is quoted: a 16 MiB type
            // string is not copied for its error message.
            let shown = s.char_indices().nth(ERROR_SUBJECT_CHARS + 1).map_or(s, |(end, _)| &s[..end]);
            ErrorKind::InvalidDtype { descr: shortened(repr_str(shown)), message }
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
    ErrorKind::InvalidDtype { descr: descr.repr_truncated(ERROR_SUBJECT_CHARS), message: message.into() }
}

/// Keeps error messages one short line even for a hostile 16 MiB descr.
const ERROR_SUBJECT_CHARS: usize = 120;

/// The start of a piece of a type string, for an error message that quotes it.
fn excerpt(text: &str) -> &str {
    text.char_indices().nth(ERROR_SUBJECT_CHARS).map_or(text, |(end, _)| &text[..end])
}

fn shortened(text: String) -> String {
    match text.char_indices().nth(ERROR_SUBJECT_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// numpy's `dtype((base, shape))`: an int shape means `(n,)`, `()` means no sub-array. A
/// sub-array of a sub-array stays nested, as numpy keeps it (`('a', ('<f4', (2,)), (3,))`).
///
/// A zero-sized flexible type is the exception: `('S', 5)` and `('U', 5)` are `S5` and `U5`
/// (numpy's "flexible type with an itemsize"), and a tuple shape is an error there.
fn with_shape(base: DType, shape: &Literal, context: &Literal) -> Result<DType, ErrorKind> {
    if let DType::Bytes { len: 0 } | DType::Unicode { chars: 0, .. } | DType::Void { len: 0 } = base {
        return sized_flexible(base, shape, context);
    }
    let dims = match shape {
        Literal::Int(n) => vec![dimension(*n, context)?],
        // numpy takes a list as well as a tuple: `np.dtype([('b', '<f8', [2])])`.
        Literal::Tuple(items) | Literal::List(items) => items
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
    dims.iter()
        .try_fold(base.itemsize(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(context, "the sub-array's size overflows"))?;
    Ok(DType::SubArray { base: Box::new(base), shape: dims })
}

fn sized_flexible(base: DType, size: &Literal, context: &Literal) -> Result<DType, ErrorKind> {
    let size = match size {
        Literal::Int(n) => u64::try_from(*n).ok().filter(|&n| n <= MAX_ITEMSIZE),
        _ => None,
    };
    let Some(size) = size else {
        return Err(invalid(context, "a zero-sized flexible type takes an itemsize (an int), not a shape"));
    };
    let size = size as usize;
    Ok(match base {
        DType::Bytes { .. } => DType::Bytes { len: size },
        DType::Void { .. } => DType::Void { len: size },
        DType::Unicode { endian, .. } if size <= MAX_ITEMSIZE as usize / 4 => {
            DType::Unicode { chars: size, endian }
        }
        _ => return Err(invalid(context, "the itemsize is too large")),
    })
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
            _ => {
                return Err(invalid(
                    entry,
                    "a record field must be a (name, type) or (name, type, shape) tuple",
                ))
            }
        };
        let (name, dtype) = match parts {
            [name, dtype] => (name, DType::from_descr(dtype)?),
            [name, dtype, shape] => (name, with_shape(DType::from_descr(dtype)?, shape, entry)?),
            _ => {
                return Err(invalid(
                    entry,
                    "a record field must be a (name, type) or (name, type, shape) tuple",
                ))
            }
        };
        let size = dtype.itemsize();
        let is_padding = matches!(name, Literal::Str(n) if n.is_empty())
            && matches!(dtype, DType::Void { .. } | DType::SubArray { .. });
        if !is_padding {
            let (title, name) = field_name(name, entry)?;
            for key in title.iter().chain(std::iter::once(&name)) {
                if !names_and_titles.insert(key.clone()) {
                    return Err(invalid(
                        entry,
                        format!("field name {} is used twice (as a name or title)", repr_str(key)),
                    ));
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
        // numpy refuses a byte order on the bare (deprecated) `a`, though not on `a5`.
        'a' if size_text.is_empty() && rest.len() < s.len() => Err("'a' takes no byte order".to_string()),
        _ if size_text.is_empty() => single_char_code(kind, order),
        _ => sized_kind(kind, size_text, order),
    }
}

/// After `M` / `m`: nothing (`M` alone is `M8`), or `8` and the optional `[unit]`.
fn datetime_meta(after_kind: &str) -> Result<&str, String> {
    if after_kind.is_empty() {
        return Ok("");
    }
    // The size may have leading zeros (`M08`), as numpy reads it as an int.
    let size_len = after_kind.bytes().take_while(u8::is_ascii_digit).count();
    let (size, meta) = after_kind.split_at(size_len);
    match parse_count(size) {
        Some(8) => Ok(meta),
        _ => Err(format!("datetimes are 8 bytes, not {:?}", excerpt(after_kind))),
    }
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
    let int = |bytes, signed| DType::Int {
        bytes,
        signed,
        endian: if bytes == 1 { Endian::NATIVE } else { endian },
    };
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
    let size = parse_count(size_text).ok_or_else(|| format!("invalid size {:?}", excerpt(size_text)))?;
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
        time_unit(meta).ok_or_else(|| format!("invalid datetime unit {:?}", excerpt(meta)))?
    };
    Ok(match kind {
        DateKind::DateTime => DType::DateTime { unit, multiple, endian },
        DateKind::TimeDelta => DType::TimeDelta { unit, multiple, endian },
    })
}

/// `[ns]`, `[10s]`, `[generic]` → the unit and its multiple (numpy's limit: a C int).
fn time_unit(meta: &str) -> Option<(TimeUnit, u32)> {
    let inner = meta.strip_prefix('[')?.strip_suffix(']')?;
    let (digits, code) = match inner.strip_prefix('+') {
        Some(signed) => signed.split_at(signed.bytes().take_while(u8::is_ascii_digit).count()),
        None => inner.split_at(inner.bytes().take_while(u8::is_ascii_digit).count()),
    };
    let multiple = match (digits.is_empty(), inner.starts_with('+')) {
        (true, true) => return None,
        (true, false) => 1,
        (false, _) => digits.parse::<u32>().ok().filter(|&m| m <= i32::MAX as u32)?,
    };
    match code {
        // numpy ignores a multiple of the generic unit: `M8[5generic]` is `M8`.
        "generic" => Some((TimeUnit::Generic, 1)),
        "" => None,
        code => Some((TimeUnit::from_code(code)?, multiple)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::parse;

    const LE: Endian = Endian::Little;
    const BE: Endian = Endian::Big;

    fn ty(s: &str) -> DType {
        match DType::from_type_str(s) {
            Ok(dtype) => dtype,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn descr(text: &str) -> DType {
        let literal = parse(text).unwrap();
        match DType::from_descr(&literal) {
            Ok(dtype) => dtype,
            Err(e) => panic!("{text} should parse: {e}"),
        }
    }

    fn descr_err(text: &str) -> String {
        let literal = parse(text).unwrap();
        match DType::from_descr(&literal) {
            Ok(dtype) => panic!("{text} should be refused, got {dtype:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn int(bytes: u8, signed: bool, endian: Endian) -> DType {
        DType::Int { bytes, signed, endian }
    }

    #[test]
    fn sub_array_shape_may_be_a_list() {
        // python3 -c "import numpy as np; print(np.dtype([('b', '<f8', [2])]).descr)"
        // -> [('b', '<f8', (2,))]
        assert_eq!(descr("[('b', '<f8', [2])]"), descr("[('b', '<f8', (2,))]"));
    }

    #[test]
    fn kind_and_size_strings() {
        assert_eq!(ty("<f4"), DType::Float { bytes: 4, endian: LE });
        assert_eq!(ty(">f8"), DType::Float { bytes: 8, endian: BE });
        assert_eq!(ty("f2"), DType::Float { bytes: 2, endian: Endian::NATIVE });
        assert_eq!(ty("=i4"), int(4, true, Endian::NATIVE));
        assert_eq!(ty("|i4"), int(4, true, Endian::NATIVE));
        assert_eq!(ty(">u2"), int(2, false, BE));
        assert_eq!(ty("<i8"), int(8, true, LE));
        assert_eq!(ty("b1"), DType::Bool);
        assert_eq!(ty(">b1"), DType::Bool);
        assert_eq!(ty("<c8"), DType::Complex { bytes: 8, endian: LE });
        assert_eq!(ty(">c16"), DType::Complex { bytes: 16, endian: BE });
        assert_eq!(ty("<f16"), DType::Float { bytes: 16, endian: LE });
        assert_eq!(ty("<f12"), DType::Float { bytes: 12, endian: LE });
        assert_eq!(ty("<c24"), DType::Complex { bytes: 24, endian: LE });
        assert_eq!(ty("<c32"), DType::Complex { bytes: 32, endian: LE });
        assert_eq!(ty("|S5"), DType::Bytes { len: 5 });
        assert_eq!(ty("a5"), DType::Bytes { len: 5 });
        assert_eq!(ty("S0"), DType::Bytes { len: 0 });
        assert_eq!(ty("S05"), DType::Bytes { len: 5 });
        assert_eq!(ty("<U6"), DType::Unicode { chars: 6, endian: LE });
        assert_eq!(ty(">U6"), DType::Unicode { chars: 6, endian: BE });
        assert_eq!(ty("|V4"), DType::Void { len: 4 });
        assert_eq!(ty("|O"), DType::Object);
        assert_eq!(ty("O8"), DType::Object);
        assert_eq!(ty("O4"), DType::Object);
    }

    #[test]
    fn one_byte_types_ignore_byte_order() {
        assert_eq!(ty(">i1"), ty("<i1"));
        assert_eq!(ty(">u1"), ty("|u1"));
        assert_eq!(ty(">i1").endian(), None);
        assert_eq!(ty(">b"), ty("i1"));
        assert_eq!(ty(">?"), DType::Bool);
        assert_eq!(ty(">S3"), DType::Bytes { len: 3 });
        assert_eq!(ty("<V3"), DType::Void { len: 3 });
    }

    #[test]
    fn single_char_codes() {
        // Sizes as numpy reports them on 64-bit Linux:
        // python3 -c "import numpy as np; [print(c, np.dtype(c).str) for c in '?bBhHiIlLqQpPnNefdgFDGSaUVOcMm']"
        let expected = [
            ("?", "|b1"),
            ("b", "|i1"),
            ("B", "|u1"),
            ("h", "<i2"),
            ("H", "<u2"),
            ("i", "<i4"),
            ("I", "<u4"),
            ("l", "<i8"),
            ("L", "<u8"),
            ("q", "<i8"),
            ("Q", "<u8"),
            ("p", "<i8"),
            ("P", "<u8"),
            ("n", "<i8"),
            ("N", "<u8"),
            ("e", "<f2"),
            ("f", "<f4"),
            ("d", "<f8"),
            ("g", "<f16"),
            ("F", "<c8"),
            ("D", "<c16"),
            ("G", "<c32"),
            ("S", "|S0"),
            ("a", "|S0"),
            ("U", "<U0"),
            ("V", "|V0"),
            ("O", "|O"),
            ("c", "|S1"),
            ("M", "<M8"),
            ("m", "<m8"),
        ];
        for (code, numpy_str) in expected {
            assert_eq!(ty(code).type_str(), numpy_str, "{code}");
        }
        assert_eq!(ty(">h"), int(2, true, BE));
    }

    #[test]
    fn type_names() {
        // python3 -c "import numpy as np; print(np.dtype('float32').str)" and so on.
        let expected = [
            ("bool", "|b1"),
            ("int8", "|i1"),
            ("int16", "<i2"),
            ("int32", "<i4"),
            ("int64", "<i8"),
            ("uint8", "|u1"),
            ("uint16", "<u2"),
            ("uint32", "<u4"),
            ("uint64", "<u8"),
            ("float16", "<f2"),
            ("float32", "<f4"),
            ("float64", "<f8"),
            ("float128", "<f16"),
            ("complex64", "<c8"),
            ("complex128", "<c16"),
            ("int", "<i8"),
            ("float", "<f8"),
            ("complex", "<c16"),
            ("str", "<U0"),
            ("bytes", "|S0"),
            ("object", "|O"),
            ("void", "|V0"),
            ("double", "<f8"),
            ("intc", "<i4"),
            ("longlong", "<i8"),
            ("datetime64", "<M8"),
            ("datetime64[ns]", "<M8[ns]"),
            ("timedelta64[s]", "<m8[s]"),
            ("datetime64[10s]", "<M8[10s]"),
        ];
        for (name, numpy_str) in expected {
            assert_eq!(ty(name).type_str(), numpy_str, "{name}");
        }
    }

    #[test]
    fn datetimes() {
        assert_eq!(ty("<M8[ns]"), DType::DateTime { unit: TimeUnit::Nanosecond, multiple: 1, endian: LE });
        assert_eq!(ty(">m8[10s]"), DType::TimeDelta { unit: TimeUnit::Second, multiple: 10, endian: BE });
        assert_eq!(
            ty("M8"),
            DType::DateTime { unit: TimeUnit::Generic, multiple: 1, endian: Endian::NATIVE }
        );
        assert_eq!(ty("M8[generic]"), ty("M8"));
        assert_eq!(ty("M8[5generic]"), ty("M8"));
        assert_eq!(ty("M8[+10s]"), ty("M8[10s]"));
        assert_eq!(ty("M8[1ns]"), ty("M8[ns]"));
        assert_eq!(ty("M8[μs]"), ty("M8[us]"));
        for unit in ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"] {
            assert_eq!(ty(&format!("<M8[{unit}]")).type_str(), format!("<M8[{unit}]"));
        }
        assert_eq!(ty("<M8[2147483647s]").type_str(), "<M8[2147483647s]");
        // numpy accepts a zero multiple; so do we, and the mapping decides.
        assert_eq!(ty("m8[0D]").type_str(), "<m8[0D]");
    }

    #[test]
    fn invalid_type_strings_name_the_string() {
        // Each of these makes numpy raise "data type ... not understood" or similar.
        for bad in [
            "",
            "<",
            "x4",
            "i3",
            "i16",
            "u16",
            "f1",
            "f3",
            "f32",
            "c4",
            "b2",
            "O16",
            "<<f4",
            "<=f4",
            " i4",
            "i4 ",
            "<int32",
            "M4",
            "M16",
            "M[ns]",
            "M8[]",
            "M8[-1s]",
            "M8[B]",
            "M8[ns",
            "M8[s] ",
            "M8[2147483648s]",
            "M8[+s]",
            "M8[+]",
            "S2147483648",
            "U536870912",
            "S99999999999999999999",
            "i4,f8",
            "U-1",
            "T",
            "Int32",
        ] {
            match DType::from_type_str(bad) {
                Ok(dtype) => panic!("{bad:?} should be refused, got {dtype:?}"),
                Err(ErrorKind::InvalidDtype { descr, .. }) => assert_eq!(descr, repr_str(bad)),
                Err(other) => panic!("{bad:?}: unexpected error {other}"),
            }
        }
        let e = DType::from_type_str("<x4").unwrap_err().to_string();
        assert_eq!(e, "invalid dtype '<x4': unknown type kind 'x'");
    }

    #[test]
    fn scalar_descr_prints_like_numpy() {
        // python3 -c "import numpy as np, numpy.lib.format as f; print(repr(f.dtype_to_descr(np.dtype('>i8'))))"
        for (input, numpy_repr) in [
            ("<f4", "'<f4'"),
            (">i8", "'>i8'"),
            ("?", "'|b1'"),
            ("u1", "'|u1'"),
            ("S5", "'|S5'"),
            (">U6", "'>U6'"),
            ("V4", "'|V4'"),
            ("M8[10s]", "'<M8[10s]'"),
            ("m8", "'<m8'"),
            ("c16", "'<c16'"),
            ("O", "'|O'"),
        ] {
            assert_eq!(ty(input).descr(), numpy_repr, "{input}");
        }
    }

    #[test]
    fn records_lay_fields_out_sequentially() {
        let dtype = descr("[('a', '<i4'), ('', '|V4'), ('b', '<f8')]");
        let DType::Record(record) = &dtype else { panic!("not a record: {dtype:?}") };
        assert_eq!(record.itemsize, 16);
        let layout: Vec<_> =
            record.fields.iter().map(|f| (f.name.as_str(), f.offset, f.dtype.itemsize())).collect();
        assert_eq!(layout, [("a", 0, 4), ("b", 8, 8)]);
    }

    #[test]
    fn record_descr_prints_like_numpy() {
        // Each string is repr(numpy.lib.format.dtype_to_descr(dt)), from numpy 2.4:
        // np.dtype([('a','<i4'),('b','<f8')], align=True)
        let aligned = "[('a', '<i4'), ('', '|V4'), ('b', '<f8')]";
        // np.dtype({'names':['x','y'],'formats':['<i2','<f4'],'offsets':[0,4],'itemsize':12})
        let gaps = "[('x', '<i2'), ('', '|V2'), ('y', '<f4'), ('', '|V4')]";
        // np.dtype([(('Title','name'),'<i4'),('v','<f4',(2,3)),('inner',[('p','u1'),('q','>f8',(2,))])])
        let nested = "[(('Title', 'name'), '<i4'), ('v', '<f4', (2, 3)), ('inner', [('p', '|u1'), ('q', '>f8', (2,))])]";
        // np.dtype([('ü', '<i4'), ("it's", 'S3')])
        let quoted = "[('ü', '<i4'), (\"it's\", '|S3')]";
        for (text, itemsize) in [(aligned, 16), (gaps, 12), (nested, 45), (quoted, 7)] {
            let dtype = descr(text);
            assert_eq!(dtype.itemsize(), itemsize, "{text}");
            assert_eq!(dtype.descr(), text);
        }
    }

    #[test]
    fn record_fields_in_detail() {
        let dtype = descr("[(('Title', 'name'), '<i4'), ('v', '<f4', (2, 3)), ('inner', [('p', '|u1'), ('q', '>f8', (2,))])]");
        let DType::Record(record) = dtype else { panic!() };
        assert_eq!(record.fields[0].title.as_deref(), Some("Title"));
        assert_eq!(record.fields[0].name, "name");
        assert_eq!(
            record.fields[1].dtype,
            DType::SubArray { base: Box::new(DType::Float { bytes: 4, endian: LE }), shape: vec![2, 3] }
        );
        assert_eq!(record.fields[1].offset, 4);
        assert_eq!(record.fields[2].offset, 28);
        let DType::Record(inner) = &record.fields[2].dtype else { panic!() };
        assert_eq!(inner.fields[1].offset, 1);
        assert_eq!(inner.itemsize, 17);
    }

    #[test]
    fn padding_follows_numpy() {
        // numpy's descr_to_dtype treats '' + any void (sub-arrays are void too) as padding:
        // descr_to_dtype([('', '<f4', (2,)), ('b', '<i4')]) -> [('', '|V8'), ('b', '<i4')]
        assert_eq!(descr("[('', '<f4', (2,)), ('b', '<i4')]").descr(), "[('', '|V8'), ('b', '<i4')]");
        assert_eq!(descr("[('', ('<f4', (2,))), ('b', '<i4')]").descr(), "[('', '|V8'), ('b', '<i4')]");
        // ...but a named-'' field of another type is a field called ''.
        let DType::Record(r) = descr("[('', '<i4')]") else { panic!() };
        assert_eq!(r.fields.len(), 1);
        assert_eq!(r.fields[0].name, "");
        // A nested record called '' is a field too.
        assert_eq!(descr("[('', [('a', '<i4')])]").descr(), "[('', [('a', '<i4')])]");
        // A None title is no title: descr_to_dtype([((None, 'a'), '<i4')]).descr == [('a', '<i4')]
        assert_eq!(descr("[((None, 'a'), '<i4')]").descr(), "[('a', '<i4')]");
        // Names that need escapes print as Python's repr and parse back.
        let odd = "[('tab\\there', '<i4'), (\"it's\", '|u1'), ('\\x00', '|b1')]";
        assert_eq!(descr(odd).descr(), odd);
        // Trailing padding survives as the itemsize.
        assert_eq!(descr("[('a', '<i4'), ('', '|V12')]").itemsize(), 16);
    }

    #[test]
    fn field_shapes() {
        // descr_to_dtype([('a','<f4',3)]) -> [('a', '<f4', (3,))]; () means no sub-array.
        assert_eq!(descr("[('a', '<f4', 3)]").descr(), "[('a', '<f4', (3,))]");
        assert_eq!(descr("[('a', '<f4', ())]").descr(), "[('a', '<f4')]");
        assert_eq!(descr("[('a', '<f4', 1)]").descr(), "[('a', '<f4', (1,))]");
        assert_eq!(descr("[['a', '<i4']]").descr(), "[('a', '<i4')]");
        // A sub-array of a sub-array stays nested, as numpy prints it:
        // descr_to_dtype([('a', ('<f4', (2,)), (3,))]).descr == [('a', ('<f4', (2,)), (3,))]
        let nested = descr("[('a', ('<f4', (2,)), (3,))]");
        assert_eq!(nested.descr(), "[('a', ('<f4', (2,)), (3,))]");
        assert_eq!(nested.itemsize(), 24);
        assert_eq!(descr("('<f4', (2, 3))").itemsize(), 24);
        assert_eq!(descr("('<f4', ())"), ty("<f4"));
        assert_eq!(descr("('<f4', (2, 3))").descr(), "('<f4', (2, 3))");
    }

    #[test]
    fn zero_sized_flexible_types_take_an_itemsize() {
        // numpy: descr_to_dtype(('S', 5)) -> dtype('S5'); ('<U0', 1) -> '<U1'; ('V', 5) -> 'V5';
        // [('a', 'S', 5)] -> [('a', '|S5')]; ('U', (5,)) -> "invalid itemsize in generic type tuple".
        assert_eq!(descr("('S', 5)"), DType::Bytes { len: 5 });
        assert_eq!(descr("('S0', 5)"), DType::Bytes { len: 5 });
        assert_eq!(descr("('>U0', 1)"), DType::Unicode { chars: 1, endian: BE });
        assert_eq!(descr("('V', 5)"), DType::Void { len: 5 });
        assert_eq!(descr("('U', 0)"), ty("<U0"));
        assert_eq!(descr("[('a', 'S', 5)]").descr(), "[('a', '|S5')]");
        assert_eq!(descr("[('', 'V', 4), ('b', '<i4')]").descr(), "[('', '|V4'), ('b', '<i4')]");
        // A sized flexible type takes a shape as usual: ('S1', 5) is a sub-array.
        assert_eq!(descr("('S1', 5)").descr(), "('|S1', (5,))");
        assert!(descr_err("('U', (5,))").contains("takes an itemsize"));
        assert!(descr_err("('V', ())").contains("takes an itemsize"));
        assert!(descr_err("('S', -1)").contains("takes an itemsize"));
    }

    #[test]
    fn empty_records() {
        assert_eq!(descr("[]"), DType::Record(Record { fields: vec![], itemsize: 0 }));
        assert_eq!(descr("[]").descr(), "[]");
        assert_eq!(descr("[('a', [])]").descr(), "[('a', [])]");
    }

    #[test]
    fn bad_descrs() {
        assert!(descr_err("[('a', '<i4'), ('a', '<f8')]").contains("'a' is used twice"));
        assert!(descr_err("[(('a', 'b'), '<i4'), ('a', '<i4')]").contains("'a' is used twice"));
        assert!(descr_err("[(('a', 'a'), '<i4')]").contains("'a' is used twice"));
        assert!(descr_err("[('a', '<i4', (2, -1))]").contains("dimension -1"));
        assert!(descr_err("[('a', '<i4', (True,))]").contains("tuple of ints"));
        assert!(descr_err("[('a', '<i4', 2.0)]").contains("int or a tuple"));
        assert!(descr_err("[(1, '<i4')]").contains("field names must be strings"));
        assert!(descr_err("[(('a', 1), '<i4')]").contains("pair of strings"));
        assert!(descr_err("[('a',)]").contains("(name, type)"));
        assert!(descr_err("[('a', '<i4', (), 1)]").contains("(name, type)"));
        assert!(descr_err("['<i4']").contains("(name, type)"));
        assert!(descr_err("('<i4',)").contains("(type, shape)"));
        // descr_to_dtype(('<f4', (2,), 3)) -> dtype(('<f4', (2,))): extra items are ignored.
        assert_eq!(descr("('<f4', (2,), 3)").descr(), "('<f4', (2,))");
        assert!(descr_err("3").contains("expected a type string"));
        assert!(descr_err("{'a': '<i4'}").contains("expected a type string"));
        assert_eq!(descr_err("[('a', '<x4')]"), "invalid dtype '<x4': unknown type kind 'x'");
    }

    #[test]
    fn size_overflow_is_an_error() {
        let huge = format!("('<f8', ({0}, {0}, {0}))", u32::MAX);
        assert!(descr_err(&huge).contains("overflows"));
        let many = format!(
            "[{}]",
            (0..20)
                .map(|i| format!("('f{i}', '|V2147483647', (2147483647,))"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(descr_err(&many).contains("overflows"));
        // Long error subjects are cut short.
        assert!(descr_err(&many).len() < 300);
    }

    #[test]
    fn descr_round_trips() {
        for text in [
            "'<f4'",
            "'>M8[25ns]'",
            "[('a', '<i4'), ('', '|V4'), ('b', '<f8')]",
            "[(('T', 'n'), [('x', '>U3', (2,)), ('', '|V3')], (2, 2)), ('z', '<m8[D]')]",
            "('>i2', (4,))",
        ] {
            let dtype = descr(text);
            assert_eq!(dtype.descr(), text);
            assert_eq!(descr(&dtype.descr()), dtype);
        }
    }

    #[test]
    fn hand_built_records_print_padding() {
        let record = Record {
            fields: vec![
                RecordField { name: "a".into(), title: None, offset: 4, dtype: ty("<i4") },
                RecordField { name: "b".into(), title: None, offset: 8, dtype: ty("<i2") },
            ],
            itemsize: 16,
        };
        let text = DType::Record(record.clone()).descr();
        assert_eq!(text, "[('', '|V4'), ('a', '<i4'), ('b', '<i2'), ('', '|V6')]");
        assert_eq!(descr(&text), DType::Record(record));
    }
}
