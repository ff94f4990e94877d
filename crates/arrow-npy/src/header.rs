//! The `.npy` header: magic, version, length, and the Python-literal dict
//! `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`, parsed in small pure steps:
//! [`read_preamble`] (magic → version → length, checked against the cap before anything is
//! read or allocated), then the header text (latin-1 for 1.0/2.0, UTF-8 for 3.0), the literal
//! ([`super::literal`]), and the typed header ([`parse_header`]).
//!
//! Where numpy is the judge it is followed (`numpy.lib.format._read_array_header`): exactly the
//! three keys, `fortran_order` a bool, `shape` a tuple of ints (a bool counts, as in Python).
//! The Python 2 long suffix `3L` is read in 1.0 and 2.0 headers only, upper case only, as
//! numpy's `_filter_header` does. Stricter than numpy: a negative dimension is refused here
//! (numpy fails later, making the array). Syntax errors name the byte offset in the file.

use std::io::Read;

use std::borrow::Cow;

use super::dtype::DType;
use super::literal::{self, DictEntry, Literal};
use crate::error::ErrorKind;

/// The six bytes every `.npy` starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Default cap on the header text length (SPEC §2); a longer header is refused before any
/// allocation.
pub const DEFAULT_MAX_HEADER_LEN: u64 = 16 << 20;

/// Bytes needed to learn the full header length: magic, version, and a u32 length (v2/v3).
pub const PREAMBLE_LEN: usize = 12;

/// Most dimensions an array has: numpy's `NPY_MAXDIMS` (64 since numpy 2.0, 32 before).
pub const MAX_DIMS: usize = 64;

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// Format version (major, minor): (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    pub dtype: DType,
    /// The `descr` value as the header's text wrote it, kept as provenance: for a type string
    /// its value without quotes (`<f4`), for a record list or sub-array tuple the literal's
    /// source text exactly as written (`[('a', '<i4'), ('b', '<f8')]`).
    pub descr: String,
    pub fortran_order: bool,
    /// The array's shape; empty for a 0-d array.
    pub shape: Vec<u64>,
    /// Offset of the first data byte from the start of the `.npy` bytes.
    pub data_offset: u64,
}

impl NpyHeader {
    /// Rows of the table this array is: the first axis, or 1 for a 0-d array.
    pub fn num_rows(&self) -> u64 {
        self.shape.first().copied().unwrap_or(1)
    }

    /// The dimensions after the first (empty for 0-d and 1-d arrays).
    pub fn inner_shape(&self) -> &[u64] {
        self.shape.get(1..).unwrap_or(&[])
    }

    /// Bytes of one row: itemsize times the product of the inner dimensions.
    pub fn row_len(&self) -> Result<u64, ErrorKind> {
        let itemsize = self.dtype.itemsize() as u64;
        self.inner_shape()
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| ErrorKind::ShapeOverflow { shape: self.shape.clone(), itemsize })
    }

    /// Bytes of all the data, with overflow-checked arithmetic.
    pub fn data_len(&self) -> Result<u64, ErrorKind> {
        let itemsize = self.dtype.itemsize() as u64;
        self.shape
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| ErrorKind::ShapeOverflow { shape: self.shape.clone(), itemsize })
    }
}

/// From the first bytes of a file (at least [`PREAMBLE_LEN`], or the whole file if shorter):
/// the version and the total length of magic + version + length field + header text, i.e.
/// the offset where the data begin. Checks the magic, the version, and `max_header_len`.
pub fn read_preamble(bytes: &[u8], max_header_len: u64) -> Result<((u8, u8), u64), ErrorKind> {
    check_magic(bytes)?;
    let version = read_version(bytes)?;
    let length_field = length_field_size(version)?;
    let field_end = MAGIC.len() + 2 + length_field;
    let Some(field) = bytes.get(MAGIC.len() + 2..field_end) else {
        return Err(truncated("the header length", field_end, bytes.len()));
    };
    let header_len = match *field {
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        _ => unreachable!("length fields are 2 or 4 bytes"),
    };
    if header_len > max_header_len {
        return Err(ErrorKind::HeaderTooLong { len: header_len, limit: max_header_len });
    }
    Ok((version, field_end as u64 + header_len))
}

/// Parse a whole header from `bytes`, which hold at least the header (usually the whole file or
/// map). Does not look at the data; the caller checks `data_len` against what it has.
pub fn parse_header(bytes: &[u8], max_header_len: u64) -> Result<NpyHeader, ErrorKind> {
    let (version, data_offset) = read_preamble(bytes, max_header_len)?;
    let text_start = MAGIC.len() + 2 + length_field_size(version)?;
    // `data_offset` fits in usize: it is at most 12 + u32::MAX and, if found, within `bytes`.
    let text_bytes = usize::try_from(data_offset)
        .ok()
        .and_then(|end| bytes.get(text_start..end))
        .ok_or_else(|| truncated("the header", data_offset, bytes.len()))?;
    let text = decode_header_text(text_bytes, version)?;
    let dict = HeaderDict::parse(&text, text_start, version)?;
    let dtype = DType::from_descr(&dict.descr.value)?;
    Ok(NpyHeader {
        version,
        descr: descr_provenance(dict.descr),
        dtype,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset,
    })
}

/// Bytes read first when only the header is wanted ([`read_header`]): numpy writes headers of
/// 64 or 128 bytes; only a record dtype with many fields needs a second read.
pub const HEADER_PREFIX_LEN: u64 = 4096;

/// The header of the `.npy` bytes `reader` starts at, read without touching the data: a prefix
/// of [`HEADER_PREFIX_LEN`] bytes, then, for a longer header, the rest of it (its length checked
/// against `max_header_len` before more is read). For answers from headers alone (schemas, row
/// counts), where mapping the file would cost more than reading it.
pub fn read_header(reader: &mut impl Read, max_header_len: u64) -> Result<NpyHeader, ErrorKind> {
    let mut bytes = vec![0u8; HEADER_PREFIX_LEN as usize];
    let mut filled = 0;
    // One read of a file usually holds the whole header: read on only while it is incomplete.
    loop {
        let n = match reader.read(&mut bytes[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        filled += n;
        let complete = matches!(read_preamble(&bytes[..filled], max_header_len), Ok((_, end)) if end <= filled as u64);
        if n == 0 || filled == bytes.len() || complete {
            break;
        }
    }
    bytes.truncate(filled);
    let (_, data_offset) = read_preamble(&bytes, max_header_len)?;
    let have = bytes.len() as u64;
    if data_offset > have && have == HEADER_PREFIX_LEN {
        reader.take(data_offset - have).read_to_end(&mut bytes)?;
    }
    parse_header(&bytes, max_header_len)
}

// ---- the steps ------------------------------------------------------------------------------

fn truncated(what: &'static str, needed: impl TryInto<u64>, available: usize) -> ErrorKind {
    ErrorKind::Truncated { what, needed: needed.try_into().unwrap_or(u64::MAX), available: available as u64 }
}

/// The magic string; a short input that agrees with it as far as it goes is truncated.
fn check_magic(bytes: &[u8]) -> Result<(), ErrorKind> {
    let seen = bytes.len().min(MAGIC.len());
    if bytes[..seen] != MAGIC[..seen] {
        return Err(ErrorKind::BadMagic);
    }
    if bytes.len() < MAGIC.len() + 2 {
        return Err(truncated("the magic string and version", MAGIC.len() + 2, bytes.len()));
    }
    Ok(())
}

fn read_version(bytes: &[u8]) -> Result<(u8, u8), ErrorKind> {
    match bytes.get(MAGIC.len()..MAGIC.len() + 2) {
        Some(&[major, minor]) => Ok((major, minor)),
        _ => Err(truncated("the magic string and version", MAGIC.len() + 2, bytes.len())),
    }
}

/// Bytes of the little-endian header length: 2 in version 1.0, 4 in 2.0 and 3.0.
fn length_field_size(version: (u8, u8)) -> Result<usize, ErrorKind> {
    match version {
        (1, 0) => Ok(2),
        (2, 0) | (3, 0) => Ok(4),
        (major, minor) => Err(ErrorKind::UnsupportedVersion { major, minor }),
    }
}

/// Versions 1.0 and 2.0 are latin-1 (every byte is the char of that code), 3.0 is UTF-8.
/// Borrowed when the bytes already are the text (UTF-8, or ASCII as numpy writes it): the
/// largest header the cap allows is not copied.
fn decode_header_text(bytes: &[u8], version: (u8, u8)) -> Result<Cow<'_, str>, ErrorKind> {
    if version == (3, 0) || bytes.is_ascii() {
        return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|_| ErrorKind::HeaderEncoding { encoding: "UTF-8" });
    }
    Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()))
}

/// The three entries of the header dict, checked for presence, uniqueness and type.
struct HeaderDict<'t> {
    descr: Descr<'t>,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// The `descr` entry: its value and its source text.
struct Descr<'t> {
    value: Literal,
    /// Borrowed from the header text: a 16 MiB descr is not copied before it is needed.
    source: &'t str,
}

impl<'t> HeaderDict<'t> {
    /// `text` starts at byte `text_start` of the file; errors give file offsets.
    fn parse(text: &'t str, text_start: usize, version: (u8, u8)) -> Result<HeaderDict<'t>, ErrorKind> {
        let entries = literal::parse_dict_entries_with(text, version <= (2, 0)).map_err(|e| {
            let offset = text_start + file_offset(text, e.offset, version);
            syntax(format!("at byte {offset}: {}", e.message))
        })?;
        let mut descr = None;
        let mut fortran_order = None;
        let mut shape = None;
        for DictEntry { key, value, value_source } in entries {
            let key = match key {
                Literal::Str(key) => key,
                other => {
                    return Err(syntax(format!(
                        "unexpected key {other} (the keys are 'descr', 'fortran_order' and 'shape')"
                    )))
                }
            };
            // A repeated key keeps its last value, as a Python dict literal does (numpy reads
            // such a header); only the values that survive are checked.
            match key.as_str() {
                "descr" => descr = Some(Descr { value, source: value_source }),
                "fortran_order" => fortran_order = Some(value),
                "shape" => shape = Some(value),
                _ => {
                    return Err(syntax(format!(
                        "unexpected key {} (the keys are 'descr', 'fortran_order' and 'shape')",
                        literal::repr_str(&key)
                    )))
                }
            }
        }
        Ok(HeaderDict {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: parse_fortran_order(&fortran_order.ok_or_else(|| missing("fortran_order"))?)?,
            shape: parse_shape(&shape.ok_or_else(|| missing("shape"))?)?,
        })
    }
}

/// A byte offset into the decoded text, as an offset into the header's bytes: the same in
/// UTF-8 (3.0); in latin-1 every char was one byte.
fn file_offset(text: &str, offset: usize, version: (u8, u8)) -> usize {
    if version == (3, 0) {
        return offset;
    }
    text.get(..offset).map_or(offset, |before| before.chars().count())
}

fn syntax(message: String) -> ErrorKind {
    ErrorKind::HeaderSyntax { message }
}

fn missing(key: &str) -> ErrorKind {
    syntax(format!("missing key '{key}'"))
}

fn parse_fortran_order(value: &Literal) -> Result<bool, ErrorKind> {
    match value {
        Literal::Bool(b) => Ok(*b),
        other => Err(syntax(format!("fortran_order is not a bool: {}", short(other)))),
    }
}

/// numpy requires a tuple of ints (a bool is an int in Python, so numpy takes `True` as 1).
fn parse_shape(value: &Literal) -> Result<Vec<u64>, ErrorKind> {
    let Literal::Tuple(dims) = value else {
        return Err(syntax(format!("shape is not a tuple: {}", short(value))));
    };
    if dims.len() > MAX_DIMS {
        return Err(syntax(format!("shape has {} dimensions, more than numpy's {MAX_DIMS}", dims.len())));
    }
    dims.iter()
        .map(|dim| match dim {
            Literal::Int(n) => u64::try_from(*n)
                .map_err(|_| syntax(format!("shape {} has an invalid dimension {n}", short(value)))),
            Literal::Bool(b) => Ok(u64::from(*b)),
            other => Err(syntax(format!(
                "shape {} has a dimension that is not an int: {}",
                short(value),
                short(other)
            ))),
        })
        .collect()
}

/// A literal's repr, cut short for an error message.
fn short(value: &Literal) -> String {
    value.repr_truncated(80)
}

/// What [`NpyHeader::descr`] keeps: a type string's value, or a list's / tuple's source text.
fn descr_provenance(descr: Descr) -> String {
    match descr.value {
        Literal::Str(s) => s,
        _ => descr.source.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::{Endian, Record};
    use std::path::{Path, PathBuf};

    /// An `.npy` preamble + header text, with no data, padded the way numpy pads (to 64 bytes,
    /// spaces then a newline) when `pad` is set.
    fn npy(version: (u8, u8), text: &str, pad: bool) -> Vec<u8> {
        let field = if version == (1, 0) { 2 } else { 4 };
        let mut text = text.to_string();
        if pad {
            let unpadded = MAGIC.len() + 2 + field + text.len() + 1;
            text.push_str(&" ".repeat((64 - unpadded % 64) % 64));
            text.push('\n');
        }
        npy_bytes(version, text.as_bytes())
    }

    fn npy_bytes(version: (u8, u8), text: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([version.0, version.1]);
        if version == (1, 0) {
            bytes.extend(u16::try_from(text.len()).unwrap().to_le_bytes());
        } else {
            bytes.extend(u32::try_from(text.len()).unwrap().to_le_bytes());
        }
        bytes.extend(text);
        bytes
    }

    fn header(bytes: &[u8]) -> NpyHeader {
        match parse_header(bytes, DEFAULT_MAX_HEADER_LEN) {
            Ok(header) => header,
            Err(e) => panic!("header should parse: {e}\n{}", String::from_utf8_lossy(bytes)),
        }
    }

    fn header_err(bytes: &[u8]) -> ErrorKind {
        match parse_header(bytes, DEFAULT_MAX_HEADER_LEN) {
            Ok(header) => panic!("header should be refused, got {header:?}"),
            Err(e) => e,
        }
    }

    fn syntax_message(bytes: &[u8]) -> String {
        match header_err(bytes) {
            ErrorKind::HeaderSyntax { message } => message,
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    fn f4() -> DType {
        DType::Float { bytes: 4, endian: Endian::Little }
    }

    #[test]
    fn header_alone_is_read_without_the_data() {
        let mut bytes = npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (262144,), }", true);
        let header_len = bytes.len() as u64;
        bytes.extend(vec![0u8; 1 << 20]);
        let mut reader = std::io::Cursor::new(&bytes);
        let h = read_header(&mut reader, DEFAULT_MAX_HEADER_LEN).unwrap();
        assert_eq!((h.shape.as_slice(), h.data_offset), (&[262144u64][..], header_len));
        assert!(reader.position() <= HEADER_PREFIX_LEN, "read {} bytes", reader.position());

        // A header longer than the prefix (a record of 400 fields) takes a second, bounded read.
        let fields: Vec<String> = (0..400).map(|i| format!("('field_{i}', '<i4')")).collect();
        let text = format!("{{'descr': [{}], 'fortran_order': False, 'shape': (2,), }}", fields.join(", "));
        let mut bytes = npy((2, 0), &text, true);
        let header_len = bytes.len() as u64;
        assert!(header_len > HEADER_PREFIX_LEN);
        bytes.extend(vec![0u8; 2 * 400 * 4]);
        let mut reader = std::io::Cursor::new(&bytes);
        let h = read_header(&mut reader, DEFAULT_MAX_HEADER_LEN).unwrap();
        assert_eq!((h.data_offset, reader.position()), (header_len, header_len));
        assert_eq!(h, header(&bytes));

        // Cut short inside the header: truncated, as parse_header says of the same bytes.
        let cut = &bytes[..5000];
        let err = read_header(&mut std::io::Cursor::new(cut), DEFAULT_MAX_HEADER_LEN).unwrap_err();
        assert!(matches!(err, ErrorKind::Truncated { .. }), "{err}");
        // The cap holds before the second read.
        let err = read_header(&mut std::io::Cursor::new(&bytes), 1000).unwrap_err();
        assert!(matches!(err, ErrorKind::HeaderTooLong { .. }), "{err}");
    }

    #[test]
    fn header_as_numpy_writes_it() {
        // io.BytesIO after np.save(b, np.zeros((3, 4), '<f4')): the first 128 bytes.
        let mut bytes =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".to_vec();
        bytes.extend([b' '; 58]);
        bytes.push(b'\n');
        bytes.extend([0u8; 48]);
        assert_eq!(read_preamble(&bytes[..PREAMBLE_LEN], DEFAULT_MAX_HEADER_LEN).unwrap(), ((1, 0), 128));
        let h = header(&bytes);
        assert_eq!(
            h,
            NpyHeader {
                version: (1, 0),
                dtype: f4(),
                descr: "<f4".to_string(),
                fortran_order: false,
                shape: vec![3, 4],
                data_offset: 128,
            }
        );
        assert_eq!(h.data_len().unwrap(), 48);
        assert_eq!(h.row_len().unwrap(), 16);
    }

    #[test]
    fn python2_long_suffix_only_where_numpy_reads_it() {
        // numpy 2.4: np.load reads the 1.0 and 2.0 files and refuses the others ("Cannot parse
        // header"): `_filter_header` runs for versions up to 2.0 and drops an upper-case `L` only.
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }";
        for version in [(1, 0), (2, 0)] {
            assert_eq!(header(&npy(version, text, true)).shape, [3, 4], "{version:?}");
        }
        let message = syntax_message(&npy((3, 0), text, true));
        assert!(message.contains("long suffix L") && message.contains("1.0 and 2.0"), "{message}");
        let lower = "{'descr': '<f4', 'fortran_order': False, 'shape': (3l, 4), }";
        assert!(syntax_message(&npy((1, 0), lower, true)).contains("invalid number"));
    }

    #[test]
    fn headers_other_writers_write() {
        for text in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, ), }",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 4)}",
            "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4'}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }",
            "{'descr':'<f4','fortran_order':False,'shape':(3,4)}",
            "{\n  'descr': '<f4',\n  'fortran_order': False,\n  'shape': (3, 4),\n}\n",
            "  {'descr': u'<f4', 'fortran_order': False, 'shape': (3, 4)}\t\r\n",
        ] {
            let h = header(&npy((1, 0), text, false));
            assert_eq!(
                (h.dtype, h.descr.as_str(), h.fortran_order, h.shape.as_slice()),
                (f4(), "<f4", false, &[3u64, 4][..]),
                "{text}"
            );
            assert_eq!(h.data_offset, 10 + text.len() as u64, "{text}");
        }
    }

    #[test]
    fn bare_and_native_type_strings() {
        let h = header(&npy((1, 0), "{'descr': 'f4', 'fortran_order': True, 'shape': ()}", true));
        assert_eq!((h.dtype.clone(), h.fortran_order, h.shape.len(), h.num_rows()), (f4(), true, 0, 1));
        let h = header(&npy((1, 0), "{'descr': '=i4', 'fortran_order': False, 'shape': (5,)}", true));
        assert_eq!(h.dtype, DType::Int { bytes: 4, signed: true, endian: Endian::NATIVE });
        assert_eq!(h.descr, "=i4");
    }

    #[test]
    fn record_descr_is_kept_as_written() {
        let text =
            "{'descr': [('a', '<i4'),\n  (('Title', 'b'), '<f8')], 'fortran_order': False, 'shape': (2,), }";
        let h = header(&npy((1, 0), text, true));
        assert_eq!(h.descr, "[('a', '<i4'),\n  (('Title', 'b'), '<f8')]");
        assert_eq!(h.dtype.itemsize(), 12);
        assert_eq!(h.dtype.descr(), "[('a', '<i4'), (('Title', 'b'), '<f8')]");
    }

    #[test]
    fn version_2_header_over_64_kib() {
        let fields: Vec<String> = (0..4000).map(|i| format!("('field_{i:04}', '<f8')")).collect();
        let text = format!("{{'descr': [{}], 'fortran_order': False, 'shape': (7,), }}", fields.join(", "));
        assert!(text.len() > 65536);
        let bytes = npy((2, 0), &text, true);
        let h = header(&bytes);
        assert_eq!(h.version, (2, 0));
        assert_eq!(h.data_offset as usize, bytes.len());
        assert_eq!(h.data_offset % 64, 0);
        let DType::Record(Record { fields, itemsize }) = &h.dtype else { panic!("not a record") };
        assert_eq!((fields.len(), *itemsize), (4000, 32000));
        assert_eq!((fields[3999].name.as_str(), fields[3999].offset), ("field_3999", 31992));
        // The same header is too long for version 1.0's u16 length, and for a smaller cap.
        assert!(matches!(parse_header(&bytes, 65536), Err(ErrorKind::HeaderTooLong { limit: 65536, .. })));
    }

    #[test]
    fn version_3_utf8_field_names() {
        let text =
            "{'descr': [('température', '<i4'), ('日', '<f8')], 'fortran_order': False, 'shape': (1,), }";
        let h = header(&npy((3, 0), text, true));
        let DType::Record(record) = &h.dtype else { panic!("not a record") };
        let names: Vec<_> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["température", "日"]);
        assert_eq!(h.descr, "[('température', '<i4'), ('日', '<f8')]");
    }

    #[test]
    fn version_3_must_be_utf8() {
        let bytes = npy_bytes((3, 0), b"{'descr': [('\xe9', '<i4')], 'fortran_order': False, 'shape': (1,)}");
        assert!(matches!(header_err(&bytes), ErrorKind::HeaderEncoding { encoding: "UTF-8" }));
    }

    #[test]
    fn versions_1_and_2_are_latin1() {
        // The byte 0xE9 is 'é' in latin-1; in a version 3.0 file it would be invalid UTF-8.
        // The UTF-8 bytes of 'é' (C3 A9) read as latin-1 are two chars, 'Ã©', as numpy reads them.
        for version in [(1, 0), (2, 0)] {
            let bytes = npy_bytes(
                version,
                b"{'descr': [('caf\xe9', '<i4'), ('\xc3\xa9', 'u1')], 'fortran_order': False, 'shape': (1,)}",
            );
            let h = header(&bytes);
            let DType::Record(record) = &h.dtype else { panic!("not a record") };
            assert_eq!(record.fields[0].name, "café");
            assert_eq!(record.fields[1].name, "Ã©");
        }
    }

    #[test]
    fn data_offset_need_not_be_aligned() {
        let text = "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}";
        let mut bytes = npy((1, 0), text, false);
        bytes.extend([1, 0, 2, 0, 3, 0]);
        let h = header(&bytes);
        assert_eq!(h.data_offset, 10 + text.len() as u64);
        assert_eq!(h.data_offset % 64, 1);
    }

    #[test]
    fn bad_magic() {
        assert!(matches!(header_err(b"\x93NUMPX\x01\x00\x10\x00"), ErrorKind::BadMagic));
        assert!(matches!(header_err(b"PK\x03\x04 this is a zip"), ErrorKind::BadMagic));
        assert!(matches!(header_err(b"x"), ErrorKind::BadMagic));
    }

    #[test]
    fn truncated_inputs() {
        for short in [&b""[..], b"\x93NUM", b"\x93NUMPY", b"\x93NUMPY\x01"] {
            assert!(matches!(header_err(short), ErrorKind::Truncated { needed: 8, .. }), "{short:?}");
        }
        assert!(matches!(
            header_err(b"\x93NUMPY\x01\x00\x10"),
            ErrorKind::Truncated { needed: 10, available: 9, .. }
        ));
        assert!(matches!(
            header_err(b"\x93NUMPY\x02\x00\x10\x00\x00"),
            ErrorKind::Truncated { needed: 12, available: 11, .. }
        ));
        let bytes = npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", true);
        let e = header_err(&bytes[..bytes.len() - 1]);
        assert_eq!(e.to_string(), "file is truncated: the header needs 128 bytes but only 127 are there");
    }

    #[test]
    fn unknown_versions() {
        for (major, minor) in [(4, 0), (1, 1), (0, 0), (255, 255)] {
            let bytes = [&MAGIC[..], &[major, minor, 0, 0, 0, 0]].concat();
            let e = header_err(&bytes);
            assert!(
                matches!(e, ErrorKind::UnsupportedVersion { major: a, minor: b } if (a, b) == (major, minor)),
                "{e}"
            );
        }
    }

    #[test]
    fn length_over_the_cap_is_refused_before_reading_it() {
        // Twelve bytes claiming a 4 GiB header: refused on the claim alone.
        let bytes = [&MAGIC[..], &[2, 0], &u32::MAX.to_le_bytes()].concat();
        let e = header_err(&bytes);
        assert!(
            matches!(e, ErrorKind::HeaderTooLong { len: 4294967295, limit: DEFAULT_MAX_HEADER_LEN }),
            "{e}"
        );
        let bytes = [&MAGIC[..], &[1, 0], &1000u16.to_le_bytes()].concat();
        assert!(matches!(
            read_preamble(&bytes, 999),
            Err(ErrorKind::HeaderTooLong { len: 1000, limit: 999 })
        ));
        assert_eq!(read_preamble(&bytes, 1000).unwrap(), ((1, 0), 1010));
    }

    #[test]
    fn keys_must_be_exactly_the_three() {
        let e = syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False}", true));
        assert_eq!(e, "missing key 'shape'");
        let e = syntax_message(&npy((1, 0), "{'fortran_order': False, 'shape': ()}", true));
        assert_eq!(e, "missing key 'descr'");
        let e = syntax_message(&npy(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}",
            true,
        ));
        assert_eq!(e, "unexpected key 'extra' (the keys are 'descr', 'fortran_order' and 'shape')");
        let e =
            syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (), 1: 1}", true));
        assert_eq!(e, "unexpected key 1 (the keys are 'descr', 'fortran_order' and 'shape')");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        // As in Python: eval("{'shape': 'junk', 'shape': (2,)}") == {'shape': (2,)}.
        let mut bytes =
            npy((1, 0), "{'descr': '<f4', 'shape': 'junk', 'fortran_order': False, 'shape': (2,)}", true);
        bytes.extend_from_slice(&[0; 8]);
        let header = parse_header(&bytes, DEFAULT_MAX_HEADER_LEN).unwrap();
        assert_eq!(header.shape, vec![2]);
    }

    #[test]
    fn value_types_are_checked() {
        let e =
            syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1)}", true));
        assert_eq!(e, "shape (3, -1) has an invalid dimension -1");
        let e =
            syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4]}", true));
        assert_eq!(e, "shape is not a tuple: [3, 4]");
        let e = syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': 3}", true));
        assert_eq!(e, "shape is not a tuple: 3");
        let e =
            syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4.0)}", true));
        assert_eq!(e, "shape (3, 4.0) has a dimension that is not an int: 4.0");
        let e = syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", true));
        assert_eq!(e, "fortran_order is not a bool: 0");
        let e = syntax_message(&npy(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,)}",
            true,
        ));
        assert_eq!(e, "shape (18446744073709551616,) has an invalid dimension 18446744073709551616");
        // numpy's check is isinstance(x, int), which a bool passes.
        let h = header(&npy(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (True, 18446744073709551615)}",
            true,
        ));
        assert_eq!(h.shape, [1, u64::MAX]);
        assert!(matches!(h.data_len(), Err(ErrorKind::ShapeOverflow { .. })));
    }

    #[test]
    fn bad_descr_is_an_invalid_dtype() {
        let e = header_err(&npy((1, 0), "{'descr': '<x4', 'fortran_order': False, 'shape': (3,)}", true));
        assert_eq!(e.to_string(), "invalid dtype '<x4': unknown type kind 'x'");
        let e = header_err(&npy((1, 0), "{'descr': None, 'fortran_order': False, 'shape': (3,)}", true));
        assert!(matches!(e, ErrorKind::InvalidDtype { .. }), "{e}");
    }

    #[test]
    fn syntax_errors_give_the_file_offset() {
        let e = syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': Flase, 'shape': (3,)}", true));
        assert_eq!(e, "at byte 44: expected a value, found the name \"Flase\"");
        // In latin-1 a byte is a char, even where the decoded text needs two UTF-8 bytes.
        let e = syntax_message(&npy_bytes(
            (2, 0),
            b"{'descr': [('\xe9\xe9', '<f4')], 'fortran_order': Flase, 'shape': (3,)}",
        ));
        assert_eq!(e, "at byte 56: expected a value, found the name \"Flase\"");
        let e = syntax_message(&npy((1, 0), "['descr', '<f4']", true));
        assert_eq!(e, "at byte 10: expected a dict, found a list");
        let e =
            syntax_message(&npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}\0", false));
        assert!(e.contains("unexpected '\\0'"), "{e}");
    }

    #[test]
    fn hostile_headers_are_errors() {
        let bomb = format!("{{'descr': {}, 'fortran_order': False, 'shape': (3,)}}", "[".repeat(60_000));
        let e = syntax_message(&npy((1, 0), &bomb, true));
        assert!(e.contains("nesting deeper than 64"), "{e}");
        let big = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},)}}", "9".repeat(60_000));
        let e = syntax_message(&npy((1, 0), &big, true));
        assert!(e.contains("too large") && e.len() < 200, "{e}");
        let e = syntax_message(&npy(
            (1, 0),
            "{'descr': __import__('os').system('ls'), 'fortran_order': False, 'shape': ()}",
            true,
        ));
        assert!(e.contains("\"__import__\""), "{e}");
    }

    /// numpy's own limit on dimensions holds; one more is refused before it costs anything.
    #[test]
    fn shapes_have_at_most_numpy_s_64_dimensions() {
        let shape = |n: usize| format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}", "1, ".repeat(n));
        let h = parse_header(&npy((1, 0), &shape(MAX_DIMS), true), DEFAULT_MAX_HEADER_LEN).unwrap();
        assert_eq!(h.shape, vec![1; MAX_DIMS]);
        let e = syntax_message(&npy((1, 0), &shape(MAX_DIMS + 1), true));
        assert!(e.contains("65 dimensions, more than numpy's 64"), "{e}");
    }

    /// A header of more values than the budget is refused where the budget runs out, and a
    /// long type string is quoted only in part: hostile headers cost little memory (the
    /// measured bounds are in tests/hostile.rs).
    #[test]
    fn value_budget_and_long_type_strings() {
        let many = format!("{{'descr': [{}], 'fortran_order': False, 'shape': (1,)}}", "1,".repeat(literal::MAX_VALUES));
        let e = syntax_message(&npy((2, 0), &many, true));
        assert!(e.contains(&format!("more than {} values", literal::MAX_VALUES)), "{e}");
        let long = format!("{{'descr': '<M8[{}]', 'fortran_order': False, 'shape': (1,)}}", "s".repeat(100_000));
        let e = parse_header(&npy((2, 0), &long, true), DEFAULT_MAX_HEADER_LEN).unwrap_err().to_string();
        assert!(e.contains("invalid datetime unit") && e.len() < 400, "{e}");
    }

    /// The numpy-made corpus: every file that is not a `bad_*` must parse, and agree with
    /// `expected.json` where it says something about the header.
    #[test]
    fn corpus_headers_parse() {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/corpus/files"));
        let expected = expected_headers(&dir);
        let mut parsed = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".npy") || name.starts_with("bad_") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let h = parse_header(&bytes, DEFAULT_MAX_HEADER_LEN).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(h.data_offset % 64, 0, "{name}");
            if let Some(case) = expected.get(&name) {
                check_against_expected(&name, &h, case);
            }
            parsed += 1;
        }
        assert!(parsed >= 30, "only {parsed} corpus files found in {}", dir.display());
        for bad in ["bad_magic.npy"] {
            if let Ok(bytes) = std::fs::read(dir.join(bad)) {
                assert!(parse_header(&bytes, DEFAULT_MAX_HEADER_LEN).is_err(), "{bad}");
            }
        }
    }

    fn expected_headers(dir: &Path) -> std::collections::HashMap<String, serde_json::Value> {
        let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) else {
            return Default::default();
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["cases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|case| Some((case["file"].as_str()?.to_string(), case.clone())))
            .collect()
    }

    fn check_against_expected(name: &str, h: &NpyHeader, case: &serde_json::Value) {
        if case.get("descr").is_none() {
            return;
        }
        let shape: Vec<u64> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(h.shape, shape, "{name}");
        assert_eq!(h.fortran_order, case["fortran_order"].as_bool().unwrap(), "{name}");
        let descr = json_descr(&case["descr"]);
        if let Literal::Str(type_str) = &descr {
            assert_eq!(&h.descr, type_str, "{name}");
            assert_eq!(&h.dtype.type_str(), type_str, "{name}");
        }
        assert_eq!(h.dtype, DType::from_descr(&descr).unwrap(), "{name}");
        assert_eq!(h.dtype.descr(), descr.to_string(), "{name}");
    }

    /// expected.json writes numpy's descr with JSON arrays for Python's lists and tuples.
    fn json_descr(value: &serde_json::Value) -> Literal {
        match value {
            serde_json::Value::String(s) => Literal::Str(s.clone()),
            serde_json::Value::Array(fields) => Literal::List(fields.iter().map(json_field).collect()),
            other => panic!("unexpected descr {other}"),
        }
    }

    fn json_field(field: &serde_json::Value) -> Literal {
        let parts = field.as_array().unwrap();
        let mut out = vec![Literal::Str(parts[0].as_str().unwrap().to_string()), json_descr(&parts[1])];
        if let Some(shape) = parts.get(2) {
            out.push(Literal::Tuple(
                shape.as_array().unwrap().iter().map(|d| Literal::Int(d.as_i64().unwrap().into())).collect(),
            ));
        }
        Literal::Tuple(out)
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        fn config() -> ProptestConfig {
            ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() }
        }

        fn valid_headers() -> Vec<Vec<u8>> {
            vec![
                npy((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", true),
                npy((1, 0), "{'descr': [('a', '<i4'), (('T', 'b'), '>f8', (2, 3)), ('', '|V4'), ('c', [('x', 'u1')])], 'fortran_order': True, 'shape': (2L,)}", true),
                npy((2, 0), "{\"shape\": (), \"descr\": '<M8[10s]', \"fortran_order\": False}", true),
                npy((3, 0), "{'descr': [('température', '<U3'), ('日', 'S2')], 'fortran_order': False, 'shape': (1,), }", true),
            ]
        }

        #[derive(Debug, Clone)]
        enum Mutation {
            Flip { at: usize, bits: u8 },
            Truncate { at: usize },
            Insert { at: usize, byte: u8 },
            Remove { at: usize },
        }

        fn mutation() -> impl Strategy<Value = Mutation> {
            prop_oneof![
                (any::<usize>(), 1u8..).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
                any::<usize>().prop_map(|at| Mutation::Truncate { at }),
                (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
                any::<usize>().prop_map(|at| Mutation::Remove { at }),
            ]
        }

        fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
            let len = bytes.len().max(1);
            match *mutation {
                Mutation::Flip { at, bits } => {
                    if let Some(b) = bytes.get_mut(at % len) {
                        *b ^= bits;
                    }
                }
                Mutation::Truncate { at } => bytes.truncate(at % len),
                Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
                Mutation::Remove { at } => {
                    if !bytes.is_empty() {
                        bytes.remove(at % bytes.len());
                    }
                }
            }
        }

        /// Parse, and insist on an answer (either one) within a generous bound.
        fn parse_quickly(bytes: &[u8]) {
            let start = Instant::now();
            let _ = parse_header(bytes, DEFAULT_MAX_HEADER_LEN);
            assert!(start.elapsed() < Duration::from_millis(500), "took {:?}", start.elapsed());
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                parse_quickly(&bytes);
            }

            #[test]
            fn random_text_after_a_valid_preamble(version in 1u8..=3, text in proptest::collection::vec(any::<u8>(), 0..300)) {
                parse_quickly(&npy_bytes((version, 0), &text));
            }

            #[test]
            fn random_header_like_text(text in "[{}()\\[\\]',: 0-9a-zA-Z<>|=\"\\\\_L-]{0,200}") {
                parse_quickly(&npy((1, 0), &text, false));
            }

            #[test]
            fn mutated_valid_headers(which in 0usize..4, mutations in proptest::collection::vec(mutation(), 1..8)) {
                let mut bytes = valid_headers()[which].clone();
                for m in &mutations {
                    apply(&mut bytes, m);
                }
                parse_quickly(&bytes);
            }
        }

        #[test]
        fn the_valid_headers_are_valid() {
            for bytes in valid_headers() {
                header(&bytes);
            }
        }
    }
}
