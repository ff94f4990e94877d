//! The numpy dtype model: what a header's `descr` says, parsed but not yet mapped to Arrow.
//!
//! A recursive model in the style of npyz's `DType`: a plain scalar type, a sub-array
//! (`('v', '<f4', (2, 3))`), or a record of named fields at byte offsets. Parsing accepts every
//! form `numpy.lib.format.descr_to_dtype` accepts; [`DType::descr`] prints it back the way numpy
//! writes it. Mapping to Arrow lives in `super::schema`, in one place.

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
    pub fn from_descr(descr: &super::literal::Literal) -> Result<DType, crate::error::ErrorKind> {
        let _ = descr;
        todo!("H1")
    }

    /// Parse a type string alone (`'<f4'`, `'|S5'`, ...).
    pub fn from_type_str(s: &str) -> Result<DType, crate::error::ErrorKind> {
        let _ = s;
        todo!("H1")
    }

    /// The descr the way numpy's `dtype_to_descr` prints it: `'<f4'` for a scalar, the list of
    /// field tuples (with `('', '|V<n>')` padding) for a record, as a Python literal.
    pub fn descr(&self) -> String {
        todo!("H1")
    }
}
