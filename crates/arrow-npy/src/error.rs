//! The crate's error type.
//!
//! Every error carries *where* it happened ([`Location`]: file, `.npz` member, column) and
//! *what* happened ([`ErrorKind`], with structured fields). `Display` prints one line, e.g.
//! `data/ds.npz[features]: column 'x': data is 40 bytes but the header's shape needs 48`.
//! At the Arrow boundary (the [`Reader`](crate::Reader)'s batches) it becomes an
//! `ArrowError::ExternalError`; engines wrap it likewise (DataFusion: `DataFusionError::External`).

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = NpyError> = std::result::Result<T, E>;

/// Where an error happened. Every part is optional; the more that is known, the more is printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file on disk (`.npy`, `.npz`, or an output file).
    pub file: Option<PathBuf>,
    /// The member of an `.npz` archive, e.g. `features` (without `.npy`).
    pub member: Option<String>,
    /// The column (record field or member) being converted.
    pub column: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            wrote = true;
        }
        if let Some(member) = &self.member {
            if wrote {
                write!(f, "[{member}]")?;
            } else {
                write!(f, "member '{member}'")?;
            }
            wrote = true;
        }
        if let Some(column) = &self.column {
            if wrote {
                write!(f, ": ")?;
            }
            write!(f, "column '{column}'")?;
        }
        Ok(())
    }
}

impl Location {
    fn is_empty(&self) -> bool {
        self.file.is_none() && self.member.is_none() && self.column.is_none()
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("not an .npy file (the first bytes are not \\x93NUMPY)")]
    BadMagic,
    #[error("unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are known)")]
    UnsupportedVersion { major: u8, minor: u8 },
    #[error("header length {len} exceeds the limit of {limit} bytes")]
    HeaderTooLong { len: u64, limit: u64 },
    #[error("file is truncated: {what} needs {needed} bytes but only {available} are there")]
    Truncated { what: &'static str, needed: u64, available: u64 },
    #[error("malformed header: {message}")]
    HeaderSyntax { message: String },
    #[error("header text is not valid {encoding}")]
    HeaderEncoding { encoding: &'static str },
    #[error("invalid dtype {descr}: {message}")]
    InvalidDtype { descr: String, message: String },
    #[error("dtype {descr} is not supported: {reason}")]
    UnsupportedDtype { descr: String, reason: String },
    #[error("shape {shape:?} with item size {itemsize} overflows 64-bit byte counts")]
    ShapeOverflow { shape: Vec<u64>, itemsize: u64 },
    #[error("data is {available} bytes but the header's shape needs {needed}")]
    DataSize { needed: u64, available: u64 },
    #[error("invalid Unicode code point {value:#x} at row {row}")]
    InvalidCodePoint { value: u32, row: u64 },
    #[error("value {value} at row {row} is out of range for {target}")]
    ValueOutOfRange { value: i64, row: u64, target: &'static str },
    #[error("members have different first-axis lengths: {}", format_lengths(.lengths))]
    LengthMismatch { lengths: Vec<(String, u64)> },
    #[error("no member '{name}' in the archive (members: {})", .available.join(", "))]
    NoSuchMember { name: String, available: Vec<String> },
    #[error("no column '{name}'")]
    NoSuchColumn { name: String },
    #[error("member is not an .npy array (name does not end in .npy)")]
    NotAnNpyMember,
    #[error("corrupt zip archive: {message}")]
    Zip { message: String },
    #[error("compressed member claims {claimed} bytes, more than {limit} its {compressed} compressed bytes can hold")]
    ZipBomb { claimed: u64, compressed: u64, limit: u64 },
    #[error("cannot write {what}: {reason}")]
    Unwritable { what: String, reason: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Arrow(#[from] crate::arrow::error::ArrowError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn format_lengths(lengths: &[(String, u64)]) -> String {
    lengths.iter().map(|(name, len)| format!("{name}={len}")).collect::<Vec<_>>().join(", ")
}

/// The crate's error: what went wrong, and where.
#[derive(Debug)]
pub struct NpyError {
    pub location: Location,
    pub kind: ErrorKind,
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.location, self.kind)
        }
    }
}

impl std::error::Error for NpyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl<E: Into<ErrorKind>> From<E> for NpyError {
    fn from(kind: E) -> Self {
        NpyError { location: Location::default(), kind: kind.into() }
    }
}

impl NpyError {
    /// Set the file, unless a file is already named.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.location.file.get_or_insert_with(|| file.into());
        self
    }
    /// Set the `.npz` member, unless one is already named.
    pub fn in_member(mut self, member: impl Into<String>) -> Self {
        self.location.member.get_or_insert_with(|| member.into());
        self
    }
    /// Set the column, unless one is already named.
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.location.column.get_or_insert_with(|| column.into());
        self
    }
}

/// Adds location context to a `Result`, in the style of `anyhow::Context`.
pub trait ResultExt<T> {
    fn in_file(self, file: impl Into<PathBuf>) -> Result<T>;
    fn in_member(self, member: impl Into<String>) -> Result<T>;
    fn in_column(self, column: impl Into<String>) -> Result<T>;
}

impl<T, E: Into<NpyError>> ResultExt<T> for std::result::Result<T, E> {
    fn in_file(self, file: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| e.into().in_file(file))
    }
    fn in_member(self, member: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().in_member(member))
    }
    fn in_column(self, column: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().in_column(column))
    }
}

impl From<NpyError> for crate::arrow::error::ArrowError {
    fn from(e: NpyError) -> Self {
        match e.kind {
            // Keep Arrow's own errors as they are, but with the location prefixed.
            ErrorKind::Arrow(inner) if e.location.is_empty() => inner,
            _ => crate::arrow::error::ArrowError::ExternalError(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_member_and_column() {
        let e = NpyError::from(ErrorKind::DataSize { needed: 48, available: 40 })
            .in_column("x")
            .in_member("features")
            .in_file("data/ds.npz");
        assert_eq!(
            e.to_string(),
            "data/ds.npz[features]: column 'x': data is 40 bytes but the header's shape needs 48"
        );
    }

    #[test]
    fn inner_location_wins() {
        let e = NpyError::from(ErrorKind::BadMagic).in_file("inner.npy").in_file("outer.npz");
        assert_eq!(e.location.file.as_deref(), Some(std::path::Path::new("inner.npy")));
    }
}
