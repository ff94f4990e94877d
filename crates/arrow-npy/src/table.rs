//! Tables over numpy arrays (SPEC §5 layout, format side): a `.npy` file, an `.npz` archive
//! (one column per member), or one `.npz` member; and the lazy batch reader over them.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Int64Array};
use crate::arrow::buffer::Buffer;
use crate::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use crate::arrow::error::ArrowError;
use crate::arrow::record_batch::{RecordBatch, RecordBatchOptions, RecordBatchReader};

use super::array::{ArrayData, NpyArray, RowReader};
use super::bytes::{open_file, LengthGuard};
use super::decode::{self, decode, ByteView};
use super::dtype::DType;
use super::header::{read_header, NpyHeader, DEFAULT_MAX_HEADER_LEN};
use super::npz::list_members;
use super::schema::{arrow_field, shape_metadata, DESCR_KEY, FORTRAN_ORDER_KEY, SHAPE_KEY};
use crate::error::{ErrorKind, Location, NpyError, Result, ResultExt};

/// Default of [`ReaderBuilder::with_inflate_in_memory_bytes`]: 512 MiB. Measured on the
/// development machine (release, one 256 MiB member of `np.savez_compressed`, 2 cores):
/// libdeflate's whole-buffer inflate takes 1.55× less CPU than zlib-rs's stream, and a
/// conversion to Arrow IPC took 0.73 s instead of 0.90 s, the fresh memory's page faults paid on
/// the other core. A reader holds at most this much inflated data at once, in a mapped
/// temporary file on Linux (the kernel can write it out; the process's own memory stays
/// small); larger members are streamed.
pub const DEFAULT_INFLATE_IN_MEMORY_BYTES: u64 = 512 << 20;

/// Options for opening files.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Longest header text accepted, in bytes. Default: 16 MiB ([`DEFAULT_MAX_HEADER_LEN`]).
    pub max_header_len: u64,
    /// Memory-map files (default). `false` reads a private copy into memory instead, for inputs
    /// that another process may truncate while they are read (see `format::bytes`).
    pub mmap: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { max_header_len: DEFAULT_MAX_HEADER_LEN, mmap: true }
    }
}

impl OpenOptions {
    /// Longest header text accepted, in bytes; a longer one is refused before anything is
    /// allocated for it. Default: 16 MiB ([`DEFAULT_MAX_HEADER_LEN`]).
    pub fn with_max_header_len(mut self, bytes: u64) -> Self {
        self.max_header_len = bytes;
        self
    }

    /// Memory-map files (`true`, the default), or read a private copy into memory (`false`:
    /// for inputs another process may truncate while they are read).
    pub fn with_mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }
}

/// How an array's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A `.npy` file: memory-mapped, or read into memory when it is 64 KiB or smaller.
    NpyFile,
    /// An `.npz` member stored without compression (`np.savez`), read from the archive's map.
    ZipStored,
    /// An `.npz` member compressed with deflate (`np.savez_compressed`), inflated as a stream.
    ZipDeflated,
}

/// What `npyq schema` shows of one array (a `.npy` file or an `.npz` member).
#[derive(Debug, Clone)]
pub struct ArrayInfo {
    /// The file stem or the member name (without `.npy`).
    pub name: String,
    pub header: NpyHeader,
    pub storage: Storage,
    /// Offset of the data in the file: in a `.npy` file or (absolute) in the archive for a
    /// stored member; for a deflated member, inside the member's inflated stream.
    pub data_offset: u64,
    /// Names of the table columns this array provides, and whether each is zero-copy.
    pub columns: Vec<(String, bool)>,
}

/// A table as its headers describe it, read without touching the data
/// ([`NpyTable::read_summary`]).
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub schema: SchemaRef,
    /// Rows of the table.
    pub num_rows: u64,
    /// How each array is stored (one for a `.npy`, one per member of an `.npz`).
    pub storage: Vec<Storage>,
    /// Whether the first array has a record dtype (its fields are the columns).
    pub is_record: bool,
}

/// A table over one `.npy` file, one `.npz` archive, or one `.npz` member.
///
/// Opening reads headers only (an `.npz` member's header is inflated, nothing more); the data
/// are touched by the [`NpyReader`], and only for the columns it projects.
pub struct NpyTable {
    path: PathBuf,
    arrays: Vec<Arc<NpyArray>>,
    columns: Vec<Column>,
    schema: SchemaRef,
    num_rows: u64,
}

/// One table column: a region of each row of one array.
#[derive(Clone)]
struct Column {
    /// Index into `NpyTable::arrays`.
    array: usize,
    /// The dtype of the column's item (a record field, or the whole row).
    dtype: DType,
    /// Byte offset of the item inside the row.
    offset: usize,
    /// For a record array with more than one axis: the column is this record field, taken out
    /// of each item of the decoded row (nested FixedSizeLists of the record struct).
    record_field: Option<usize>,
    field: FieldRef,
}

impl NpyTable {
    /// Open a `.npy` (record fields or the array itself as columns) or an `.npz` (one column
    /// per member; first-axis lengths must agree) by extension.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let path = path.as_ref();
        if is_npz(path) {
            Self::open_npz(path, options)
        } else {
            Self::open_npy(path, options)
        }
    }

    /// A table over the bytes of a `.npy` or `.npz` file held in memory, as if they were the
    /// file `name`: its extension says which format, its stem names a plain array's column, and
    /// errors name it. Nothing is copied.
    pub fn from_bytes(name: impl AsRef<Path>, bytes: impl Into<Buffer>, options: &OpenOptions) -> Result<Self> {
        let path = name.as_ref();
        if is_npz(path) {
            Self::npz_from_buffer(path, bytes.into(), None, options)
        } else {
            Self::npy_from_buffer(path, bytes.into(), None, options)
        }
    }

    fn open_npy(path: &Path, options: &OpenOptions) -> Result<Self> {
        let (buffer, guard) = open_file(path, options.mmap)?;
        Self::npy_from_buffer(path, buffer, guard, options)
    }

    fn npy_from_buffer(path: &Path, buffer: Buffer, guard: Option<Arc<LengthGuard>>, options: &OpenOptions) -> Result<Self> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let location = Location { file: Some(path.to_path_buf()), ..Location::default() };
        let array = NpyArray::from_mapped(name, location, Storage::NpyFile, buffer, guard, options.max_header_len)?;
        Self::from_arrays(path, vec![array], false)
    }

    fn open_npz(path: &Path, options: &OpenOptions) -> Result<Self> {
        let (buffer, guard) = open_file(path, options.mmap)?;
        Self::npz_from_buffer(path, buffer, guard, options)
    }

    fn npz_from_buffer(path: &Path, buffer: Buffer, guard: Option<Arc<LengthGuard>>, options: &OpenOptions) -> Result<Self> {
        let members = list_members(&buffer).in_file(path)?;
        let mut arrays = Vec::new();
        for entry in &members {
            let Some(name) = entry.array_name() else { continue };
            let location = Location { file: Some(path.to_path_buf()), member: Some(name.to_string()), column: None };
            arrays.push(NpyArray::from_member(name.to_string(), location, &buffer, guard.clone(), entry, options.max_header_len)?);
        }
        // `np.savez(path)` with no arrays: numpy opens it, a table of no columns and no rows.
        let lengths: Vec<(String, u64)> = arrays.iter().map(|a| (a.name.clone(), a.num_rows())).collect();
        if lengths.iter().any(|(_, n)| *n != lengths[0].1) {
            return Err(ErrorKind::LengthMismatch { lengths }).in_file(path);
        }
        Self::from_arrays(path, arrays, true)
    }

    /// One member of an `.npz` as its own table (its record fields, or itself, as columns).
    pub fn open_npz_member(path: impl AsRef<Path>, member: &str, options: &OpenOptions) -> Result<Self> {
        let path = path.as_ref();
        let (buffer, guard) = open_file(path, options.mmap)?;
        let members = list_members(&buffer).in_file(path)?;
        let entry = members.iter().find(|e| e.array_name() == Some(member) || e.raw_name == member);
        let Some(entry) = entry else {
            let available = members.iter().filter_map(|e| e.array_name().map(str::to_string)).collect();
            return Err(ErrorKind::NoSuchMember { name: member.to_string(), available }).in_file(path);
        };
        let Some(name) = entry.array_name() else {
            return Err(ErrorKind::NotAnNpyMember).in_member(member).in_file(path);
        };
        let location = Location { file: Some(path.to_path_buf()), member: Some(name.to_string()), column: None };
        let array = NpyArray::from_member(name.to_string(), location, &buffer, guard, entry, options.max_header_len)?;
        Self::from_arrays(path, vec![array], false)
    }

    /// What the headers say of the table that [`NpyTable::open_with`] (or, with `member`,
    /// [`NpyTable::open_npz_member`]) would open, with the same checks of header and data size
    /// against the file. A `.npy` file is opened once and only its header read (no map, for
    /// answers that need no data: schemas, row counts); an `.npz` is opened as a table.
    pub fn read_summary(path: impl AsRef<Path>, member: Option<&str>, options: &OpenOptions) -> Result<TableSummary> {
        Self::read_summary_of_len(path, None, member, options)
    }

    /// [`NpyTable::read_summary`] of a file whose length the caller knows (from a directory
    /// listing, say): a `.npy` then costs an open and one read, not an `fstat` as well. The data
    /// size is checked against `len`.
    pub fn read_summary_of_len(path: impl AsRef<Path>, len: Option<u64>, member: Option<&str>, options: &OpenOptions) -> Result<TableSummary> {
        let path = path.as_ref();
        if member.is_none() && !is_npz(path) {
            return Self::read_npy_summary(path, len, options);
        }
        let table = match member {
            None => Self::open_with(path, options)?,
            Some(member) => Self::open_npz_member(path, member, options)?,
        };
        Ok(TableSummary {
            schema: table.schema(),
            num_rows: table.num_rows(),
            storage: table.arrays.iter().map(|a| a.storage).collect(),
            is_record: table.arrays.first().is_some_and(|a| matches!(a.header.dtype, DType::Record(_))),
        })
    }

    fn read_npy_summary(path: &Path, len: Option<u64>, options: &OpenOptions) -> Result<TableSummary> {
        let mut file = std::fs::File::open(path).in_file(path)?;
        let file_len = match len {
            Some(len) => len,
            None => file.metadata().in_file(path)?.len(),
        };
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let location = Location { file: Some(path.to_path_buf()), ..Location::default() };
        let at = |kind: ErrorKind| NpyError { location: location.clone(), kind };
        let header = read_header(&mut file, options.max_header_len).map_err(at)?;
        header.row_len().map_err(at)?;
        let data_len = header.data_len().map_err(at)?;
        let available = file_len.saturating_sub(header.data_offset);
        if data_len > available {
            return Err(at(ErrorKind::DataSize { needed: data_len, available }));
        }
        let columns = plan_columns(0, &name, &location, &header, false)?;
        // The same schema `open` gives, record metadata included (see `record_metadata`).
        let fields = columns.into_iter().map(|c| c.field).collect::<Vec<_>>();
        let schema = Arc::new(Schema::new_with_metadata(fields, record_metadata(&header)));
        let is_record = matches!(header.dtype, DType::Record(_));
        Ok(TableSummary { schema, num_rows: header.num_rows(), storage: vec![Storage::NpyFile], is_record })
    }

    /// Names of the `.npy` members of an `.npz` archive, in archive order, without `.npy`.
    pub fn npz_member_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
        let path = path.as_ref();
        let (buffer, _guard) = open_file(path, true)?;
        let members = list_members(&buffer).in_file(path)?;
        Ok(members.iter().filter_map(|e| e.array_name().map(str::to_string)).collect())
    }

    /// `member_columns`: each array is one column (an archive's members), rather than its
    /// record fields being columns.
    pub(crate) fn from_arrays(path: &Path, arrays: Vec<NpyArray>, member_columns: bool) -> Result<Self> {
        let mut columns = Vec::new();
        for (index, array) in arrays.iter().enumerate() {
            columns.extend(plan_columns(index, &array.name, &array.location, &array.header, member_columns)?);
        }
        let fields = columns.iter().map(|c| c.field.clone()).collect::<Vec<_>>();
        let schema = match arrays.as_slice() {
            [array] if !member_columns => Schema::new_with_metadata(fields, record_metadata(&array.header)),
            _ => Schema::new(fields),
        };
        let schema = Arc::new(schema);
        let num_rows = arrays.first().map(|a| a.num_rows()).unwrap_or(0);
        Ok(NpyTable { path: path.to_path_buf(), arrays: arrays.into_iter().map(Arc::new).collect(), columns, schema, num_rows })
    }

    /// For each column, the index of the array it is read from.
    pub(crate) fn column_arrays(&self) -> Vec<usize> {
        self.columns.iter().map(|c| c.array).collect()
    }

    /// Give the table `schema` (same columns and types: only names and metadata may differ).
    pub(crate) fn replace_schema(&mut self, schema: SchemaRef) {
        self.schema = schema;
    }

    /// The path this table was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows of the table, from the headers alone.
    pub fn num_rows(&self) -> u64 {
        self.num_rows
    }

    /// The arrays behind the table, in column order.
    pub fn arrays(&self) -> Vec<ArrayInfo> {
        self.arrays
            .iter()
            .enumerate()
            .map(|(index, array)| ArrayInfo {
                name: array.name.clone(),
                header: array.header.clone(),
                storage: array.storage,
                data_offset: array.file_offset + array.header.data_offset,
                columns: self
                    .columns
                    .iter()
                    .filter(|c| c.array == index)
                    .map(|c| (c.field.name().clone(), is_zero_copy(array, c)))
                    .collect(),
            })
            .collect()
    }

    /// A reader over this table; nothing is read until batches are pulled.
    pub fn reader(&self) -> ReaderBuilder<'_> {
        ReaderBuilder::with_source(Source::Table(self))
    }
}

/// For a table whose columns are the fields of one structured array: the array's `numpy.descr`,
/// `numpy.shape` (and `numpy.fortran_order`), which the columns alone cannot say (one field,
/// padding, offsets, more than one dimension; see `super::schema::SHAPE_KEY`). Empty for
/// other arrays.
fn record_metadata(header: &NpyHeader) -> std::collections::HashMap<String, String> {
    let mut metadata = std::collections::HashMap::new();
    if matches!(header.dtype, DType::Record(_)) {
        metadata.insert(DESCR_KEY.to_string(), header.descr.clone());
        metadata.insert(SHAPE_KEY.to_string(), shape_metadata(&header.shape));
        if header.fortran_order && header.shape.len() > 1 {
            metadata.insert(FORTRAN_ORDER_KEY.to_string(), "true".to_string());
        }
    }
    metadata
}

fn is_npz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The columns an array provides: its record fields (unless the array is itself one column,
/// as an archive's member is), or one column holding the whole row. The fields of a record
/// array with more than one axis are FixedSizeLists over the extra axes, as a plain array's
/// column is.
fn plan_columns(index: usize, name: &str, location: &Location, header: &NpyHeader, member_column: bool) -> Result<Vec<Column>> {
    let fortran = header.fortran_order && header.shape.len() > 1;
    let at = |column: &str| {
        let location = Location { column: Some(column.to_string()), ..location.clone() };
        move |kind: ErrorKind| NpyError { location, kind }
    };
    let inner: Vec<usize> = header.inner_shape().iter().map(|&d| d as usize).collect();
    let with_inner = |dtype: &DType| {
        if inner.is_empty() {
            dtype.clone()
        } else {
            DType::SubArray { base: Box::new(dtype.clone()), shape: inner.clone() }
        }
    };
    let row_dtype = with_inner(&header.dtype);
    match &header.dtype {
        DType::Record(record) if !member_column => record
            .fields
            .iter()
            .enumerate()
            .map(|(position, f)| {
                let field = arrow_field(&f.name, &with_inner(&f.dtype), &f.dtype.descr(), fortran).map_err(at(&f.name))?;
                let column = if inner.is_empty() {
                    Column { array: index, dtype: f.dtype.clone(), offset: f.offset, record_field: None, field: Arc::new(field) }
                } else {
                    Column { array: index, dtype: row_dtype.clone(), offset: 0, record_field: Some(position), field: Arc::new(field) }
                };
                Ok(column)
            })
            .collect(),
        _ => {
            let mut field = arrow_field(name, &row_dtype, &header.descr, fortran).map_err(at(name))?;
            if header.shape.is_empty() {
                // A 0-d array is one row: only the metadata says it had no axis at all.
                field.metadata_mut().insert(SHAPE_KEY.to_string(), shape_metadata(&header.shape));
            }
            Ok(vec![Column { array: index, dtype: row_dtype, offset: 0, record_field: None, field: Arc::new(field) }])
        }
    }
}

/// Field `index` of the structs inside nested FixedSizeLists, with the same nesting, built with
/// the item fields of `target` (the column's type). No values are copied.
fn record_field_of(array: &ArrayRef, index: usize, target: &DataType) -> Result<ArrayRef> {
    match (array.data_type(), target) {
        (DataType::FixedSizeList(_, size), DataType::FixedSizeList(item, _)) => {
            let list = array.as_fixed_size_list();
            let values = record_field_of(list.values(), index, item.data_type())?;
            Ok(Arc::new(FixedSizeListArray::try_new(item.clone(), *size, values, list.nulls().cloned())?))
        }
        (DataType::Struct(_), _) => Ok(array.as_struct().column(index).clone()),
        (found, _) => Err(ErrorKind::InvalidArgument(format!("record field {index} of a {found} column")).into()),
    }
}

/// Whether the reader hands this column to Arrow without copying: mapped, C-order, and what
/// `decode::is_zero_copy` says of the column's bytes over the whole array.
fn is_zero_copy(array: &NpyArray, column: &Column) -> bool {
    let ArrayData::Mapped { npy, .. } = &array.data else { return false };
    let Ok(rows) = usize::try_from(array.num_rows()) else { return false };
    let start = array.header.data_offset as usize + column.offset;
    let view = ByteView { buffer: npy.clone(), start, stride: array.row_len, rows, first_row: 0 };
    !array.is_fortran() && decode::is_zero_copy(&column.dtype, &view)
}

/// Builds an [`NpyReader`] (arrow-csv style: consuming `with_*` setters), over a table opened
/// already ([`NpyTable::reader`]: its schema can be looked at first, and one opened table can
/// serve many readers) or over a file it opens itself ([`ReaderBuilder::new`]).
pub struct ReaderBuilder<'a> {
    source: Source<'a>,
    /// Only for a builder made by `new`: which `.npz` member, and how to open the file.
    member: Option<String>,
    open: Option<OpenOptions>,
    batch_size: usize,
    batch_bytes: usize,
    zero_copy_batch_bytes: Option<usize>,
    inflate_in_memory_bytes: u64,
    projection: Option<Vec<usize>>,
    rows: Option<Range<u64>>,
    row_number: Option<(String, i64)>,
}

/// What a [`ReaderBuilder`] reads.
enum Source<'a> {
    Table(&'a NpyTable),
    File(PathBuf),
}

impl ReaderBuilder<'static> {
    /// A reader of the `.npy` or `.npz` file at `path` (by its extension), opened by
    /// [`build`](Self::build): a `.npy` file's record fields, or the array itself, are the
    /// columns; an `.npz` archive has one column per member (see [`NpyTable::open`]).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self::with_source(Source::File(path.as_ref().to_path_buf()))
    }

    /// Read only this member of the `.npz` archive, its record fields (or itself) as the columns,
    /// as [`NpyTable::open_npz_member`] does. Default: every member, one column each.
    pub fn with_member(mut self, name: impl Into<String>) -> Self {
        self.member = Some(name.into());
        self
    }

    /// How the file is opened (header length cap, memory map or copy). Default:
    /// [`OpenOptions::default`].
    pub fn with_open_options(mut self, options: OpenOptions) -> Self {
        self.open = Some(options);
        self
    }
}

impl<'a> ReaderBuilder<'a> {
    fn with_source(source: Source<'a>) -> Self {
        ReaderBuilder {
            source,
            member: None,
            open: None,
            batch_size: 65536,
            batch_bytes: 16 << 20,
            zero_copy_batch_bytes: None,
            inflate_in_memory_bytes: DEFAULT_INFLATE_IN_MEMORY_BYTES,
            projection: None,
            rows: None,
            row_number: None,
        }
    }

    /// Most rows in one batch. Default 65,536.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }
    /// Most bytes of array data behind one batch (wide rows get fewer rows per batch; at least
    /// one). Default 16 MiB.
    pub fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.max(1);
        self
    }
    /// When every projected column is zero-copy (its batches are slices of the map, costing
    /// nothing per row, only per batch), batches of up to this many bytes of array data even
    /// beyond `with_batch_size` rows. Default: off.
    pub fn with_zero_copy_batch_bytes(mut self, bytes: usize) -> Self {
        self.zero_copy_batch_bytes = Some(bytes.max(1));
        self
    }
    /// Deflated `.npz` members read are inflated whole into memory, each in one call (about
    /// 1.5× as fast as inflating a stream, and several members on several cores), as long as
    /// their inflated sizes add up to at most this many bytes and the rows read reach the
    /// table's end; other members are inflated as streams, batch by batch, in bounded memory
    /// (0: all of them). Default [`DEFAULT_INFLATE_IN_MEMORY_BYTES`].
    pub fn with_inflate_in_memory_bytes(mut self, bytes: u64) -> Self {
        self.inflate_in_memory_bytes = bytes;
        self
    }
    /// Only these columns (indices into [`NpyTable::schema`]), in this order. Default: all.
    pub fn with_projection(mut self, columns: Vec<usize>) -> Self {
        self.projection = Some(columns);
        self
    }
    /// Only these rows (clamped to the table). Default: all.
    pub fn with_row_range(mut self, rows: Range<u64>) -> Self {
        self.rows = Some(rows);
        self
    }
    /// Append an Int64 column `name` holding each row's position plus `offset` (for `_row`
    /// over a table of several files). Default: none.
    pub fn with_row_number(mut self, name: impl Into<String>, offset: i64) -> Self {
        self.row_number = Some((name.into(), offset));
        self
    }

    /// The reader. A builder made by [`new`](Self::new) opens its file here, reading headers
    /// only; the reader owns what it reads from, so it outlives the builder and any table.
    pub fn build(self) -> Result<NpyReader> {
        let opened;
        let table = match &self.source {
            Source::Table(table) => {
                if self.member.is_some() || self.open.is_some() {
                    return Err(NpyError::from(ErrorKind::InvalidArgument(
                        "with_member and with_open_options apply to a builder made by ReaderBuilder::new, not to an opened table".into(),
                    ))
                    .in_file(&table.path));
                }
                *table
            }
            Source::File(path) => {
                let options = self.open.clone().unwrap_or_default();
                opened = match &self.member {
                    Some(member) => NpyTable::open_npz_member(path, member, &options)?,
                    None => NpyTable::open_with(path, &options)?,
                };
                &opened
            }
        };
        let projection: Vec<usize> = self.projection.unwrap_or_else(|| (0..table.columns.len()).collect());
        let mut parts: Vec<Part> = Vec::new();
        let mut order = Vec::with_capacity(projection.len());
        let mut fields: Vec<FieldRef> = Vec::with_capacity(projection.len() + 1);
        for &index in &projection {
            let column = table.columns.get(index).ok_or_else(|| {
                NpyError::from(ErrorKind::InvalidArgument(format!("column index {index} out of range ({} columns)", table.columns.len())))
                    .in_file(&table.path)
            })?;
            let part = match parts.iter().position(|p| p.array_index == column.array) {
                Some(part) => part,
                None => {
                    let array = table.arrays[column.array].clone();
                    parts.push(Part { array_index: column.array, array, reader: None, inflate_in_memory: false, columns: Vec::new() });
                    parts.len() - 1
                }
            };
            parts[part].columns.push(column.clone());
            order.push((part, parts[part].columns.len() - 1));
            fields.push(column.field.clone());
        }
        if let Some((name, _)) = &self.row_number {
            fields.push(Arc::new(Field::new(name, DataType::Int64, false)));
        }
        let range = self.rows.unwrap_or(0..table.num_rows);
        let start = range.start.min(table.num_rows);
        let end = range.end.clamp(start, table.num_rows);
        if let Some((name, offset)) = &self.row_number {
            // Every row number must fit an Int64: checked once here, so batches need not.
            if i64::try_from(end).ok().and_then(|end| offset.checked_add(end)).is_none() {
                return Err(NpyError::from(ErrorKind::InvalidArgument(format!(
                    "row numbers '{name}' from {offset} over {end} rows overflow Int64"
                )))
                .in_file(&table.path));
            }
        }
        // Deflated members in memory while their sizes fit the budget, in column order; only
        // when the rows read reach the table's end (a stream, like the whole buffer, starts
        // at the member's start, but it stops at the last row read: `LIMIT 10` inflates a
        // few kilobytes, not the member).
        let mut in_memory_budget = if end == table.num_rows { self.inflate_in_memory_bytes } else { 0 };
        for part in &mut parts {
            if let Some(size) = part.array.inflated_size() {
                if size <= in_memory_budget {
                    in_memory_budget -= size;
                    part.inflate_in_memory = true;
                }
            }
        }
        let bytes_per_row: usize = parts.iter().map(|p| p.array.row_len).sum::<usize>().max(1);
        let mut rows_per_batch = self.batch_size.min((self.batch_bytes / bytes_per_row).max(1));
        if let Some(bytes) = self.zero_copy_batch_bytes {
            let all_zero_copy = parts.iter().all(|p| p.columns.iter().all(|c| is_zero_copy(&p.array, c)));
            if !parts.is_empty() && all_zero_copy {
                rows_per_batch = rows_per_batch.max((bytes / bytes_per_row).max(1));
            }
        }
        Ok(NpyReader {
            schema: Arc::new(Schema::new(fields)),
            parts,
            order,
            next_row: start,
            end_row: end,
            rows_per_batch,
            row_number_offset: self.row_number.map(|(_, offset)| offset),
            finished: false,
        })
    }
}

/// The columns read from one array, and that array's row reader (made at the first batch).
struct Part {
    array_index: usize,
    array: Arc<NpyArray>,
    reader: Option<RowReader>,
    /// A deflated member inflated whole into memory rather than as a stream.
    inflate_in_memory: bool,
    columns: Vec<Column>,
}

impl Part {
    fn open_reader(&self, first: u64, end: u64) -> Result<RowReader> {
        self.array.row_reader(first, end, self.inflate_in_memory).map_err(|e| located(e, &self.array, None))
    }

    /// Rows `first..first + count` of the projected columns; `end` is where the reader stops.
    fn read(&mut self, first: u64, count: usize, end: u64) -> Result<Vec<ArrayRef>> {
        let array = &self.array;
        let reader = match self.reader.take() {
            Some(reader) => reader,
            None => self.open_reader(first, end)?,
        };
        let reader = self.reader.insert(reader);
        let rows = reader.rows(first, count, array.row_len, array.num_rows()).map_err(|e| located(e, array, None))?;
        // The fields of a multi-axis record array share one decode of the row per batch.
        let mut whole_rows: Option<ArrayRef> = None;
        let mut arrays = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let at = |e: NpyError| located(e, array, Some(column.field.name()));
            let view = ByteView { start: rows.start + column.offset, ..rows.clone() };
            let decoded = match column.record_field {
                None => decode(&column.dtype, &view).map_err(|kind| at(kind.into()))?,
                Some(index) => {
                    let whole = match &whole_rows {
                        Some(whole) => whole.clone(),
                        None => whole_rows.insert(decode(&column.dtype, &view).map_err(|kind| at(kind.into()))?).clone(),
                    };
                    record_field_of(&whole, index, column.field.data_type()).map_err(at)?
                }
            };
            arrays.push(decoded);
        }
        Ok(arrays)
    }
}

fn located(mut e: NpyError, array: &NpyArray, column: Option<&str>) -> NpyError {
    if e.location.file.is_none() {
        e.location.file = array.location.file.clone();
    }
    if e.location.member.is_none() {
        e.location.member = array.location.member.clone();
    }
    if e.location.column.is_none() {
        e.location.column = column.map(str::to_string);
    }
    e
}

/// Lazily reads batches of a table: an `Iterator` of `RecordBatch` and a `RecordBatchReader`.
/// It owns what it reads from (maps, inflaters), so it is `'static` and `Send`. After an
/// error it yields nothing more.
pub struct NpyReader {
    schema: SchemaRef,
    parts: Vec<Part>,
    /// For each output column: (part, column within the part).
    order: Vec<(usize, usize)>,
    next_row: u64,
    end_row: u64,
    rows_per_batch: usize,
    row_number_offset: Option<i64>,
    finished: bool,
}

impl NpyReader {
    /// Rows each batch holds (the last may hold fewer).
    pub fn rows_per_batch(&self) -> usize {
        self.rows_per_batch
    }

    /// Before the first batch, when several deflated members are to be inflated in memory:
    /// inflate them at once, one thread each (inflating is the whole cost of reading them).
    fn inflate_members_in_parallel(&mut self, first: u64) -> Result<()> {
        let waiting = self.parts.iter().filter(|p| p.reader.is_none() && p.inflate_in_memory).count();
        if waiting < 2 {
            return Ok(());
        }
        let end = self.end_row;
        std::thread::scope(|scope| {
            let opening: Vec<_> = self
                .parts
                .iter_mut()
                .filter(|p| p.reader.is_none() && p.inflate_in_memory)
                // A member whose thread cannot be started is opened at its first batch, here.
                .filter_map(|part| {
                    let open = move || part.open_reader(first, end).map(|reader| part.reader = Some(reader));
                    std::thread::Builder::new().spawn_scoped(scope, open).ok()
                })
                .collect();
            opening.into_iter().try_for_each(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        })
    }

    fn next_batch(&mut self) -> Result<RecordBatch> {
        let first = self.next_row;
        let count = (self.end_row - first).min(self.rows_per_batch as u64) as usize;
        self.inflate_members_in_parallel(first)?;
        let mut per_part = Vec::with_capacity(self.parts.len());
        for part in &mut self.parts {
            per_part.push(part.read(first, count, self.end_row)?);
        }
        let mut columns: Vec<ArrayRef> = self.order.iter().map(|&(part, column)| per_part[part][column].clone()).collect();
        if let Some(offset) = self.row_number_offset {
            let start = offset + first as i64;
            columns.push(Arc::new(Int64Array::from_iter_values(start..start + count as i64)));
        }
        self.next_row += count as u64;
        let options = RecordBatchOptions::new().with_row_count(Some(count));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?)
    }
}

impl Iterator for NpyReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished || self.next_row >= self.end_row {
            return None;
        }
        let batch = self.next_batch();
        if batch.is_err() {
            self.finished = true;
        }
        Some(batch.map_err(ArrowError::from))
    }
}

impl RecordBatchReader for NpyReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::AsArray;
    use crate::arrow::datatypes::{Float32Type, Int64Type};
    use std::io::Write;

    fn corpus(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/corpus/files").join(name)
    }

    fn read_all(table: &NpyTable, batch_size: usize) -> Vec<RecordBatch> {
        table.reader().with_batch_size(batch_size).build().unwrap().collect::<std::result::Result<_, _>>().unwrap()
    }

    /// The map's address range, to prove a column's values point into it.
    fn mapped_range(table: &NpyTable) -> Range<usize> {
        let ArrayData::Mapped { npy: buffer, .. } = &table.arrays[0].data else { panic!("not mapped") };
        buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len()
    }

    /// Header-only summaries say what opening says: the same schema and rows, or the same error.
    #[test]
    fn summary_agrees_with_opening_on_every_corpus_file() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
        let mut paths: Vec<PathBuf> = Vec::new();
        // The round-trip fixtures carry record metadata (`numpy.descr`/`numpy.shape` on the schema).
        for dir in [corpus(""), data.join("fixtures"), data.join("roundtrip")] {
            paths.extend(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()));
        }
        let mut checked = 0;
        for path in paths {
            if !path.extension().is_some_and(|e| e == "npy" || e == "npz") {
                continue;
            }
            let opened = NpyTable::open(&path);
            let summary = NpyTable::read_summary(&path, None, &OpenOptions::default());
            match (opened, summary) {
                (Ok(table), Ok(summary)) => {
                    assert_eq!(summary.schema, table.schema(), "{}", path.display());
                    assert_eq!(summary.num_rows, table.num_rows(), "{}", path.display());
                    let storage: Vec<Storage> = table.arrays().iter().map(|a| a.storage).collect();
                    assert_eq!(summary.storage, storage, "{}", path.display());
                    let record = table.arrays().first().is_some_and(|a| matches!(a.header.dtype, DType::Record(_)));
                    assert_eq!(summary.is_record, record, "{}", path.display());
                }
                (Err(opened), Err(summary)) => assert_eq!(summary.to_string(), opened.to_string()),
                (opened, summary) => panic!("{}: open {:?} but summary {:?}", path.display(), opened.err(), summary.err()),
            }
            checked += 1;
        }
        assert!(checked > 200, "only {checked} corpus and fixture files");
    }

    #[test]
    fn aligned_float32_is_handed_over_without_copying() {
        let table = NpyTable::open(corpus("float32.npy")).unwrap();
        assert!(table.arrays()[0].columns[0].1, "float32.npy should be zero-copy");
        let batch = &read_all(&table, 1024)[0];
        let values = batch.column(0).as_primitive::<Float32Type>().values().inner().as_ptr() as usize;
        assert!(mapped_range(&table).contains(&values), "values were copied");
    }

    #[test]
    fn zero_copy_columns_get_batches_by_bytes_others_by_rows() {
        let sizes = |file: &str| -> Vec<usize> {
            let table = NpyTable::open(corpus(file)).unwrap();
            let reader = table.reader().with_batch_size(1).with_zero_copy_batch_bytes(8).build().unwrap();
            reader.map(|b| b.unwrap().num_rows()).collect()
        };
        // float32.npy (7 values): zero-copy, 4 bytes a row -> 2 rows a batch, more than the 1 asked.
        assert_eq!(sizes("float32.npy"), vec![2, 2, 2, 1]);
        // Byte-swapped values are converted, so batches keep the row count asked for.
        assert_eq!(sizes("bigendian_i4.npy"), vec![1, 1, 1]);
        // Never fewer rows than asked: 12-byte zero-copy rows keep `with_batch_size`.
        assert_eq!(sizes("matrix_f32_5x3.npy"), vec![1; 5]);
    }

    #[test]
    fn fixed_size_list_values_point_into_the_map() {
        let table = NpyTable::open(corpus("matrix_f32_5x3.npy")).unwrap();
        assert!(table.arrays()[0].columns[0].1);
        let batch = &read_all(&table, 2)[1];
        let list = batch.column(0).as_fixed_size_list();
        let values = list.values().as_primitive::<Float32Type>().values().inner().as_ptr() as usize;
        assert!(mapped_range(&table).contains(&values));
    }

    #[test]
    fn converted_columns_are_not_flagged_zero_copy() {
        for file in ["bool.npy", "bigendian_i4.npy", "records.npy", "fortran_f64_4x3.npy", "datetime64_D.npy"] {
            let table = NpyTable::open(corpus(file)).unwrap();
            assert!(table.arrays()[0].columns.iter().all(|(_, zero_copy)| !zero_copy), "{file}");
        }
    }

    #[test]
    fn fortran_rows_are_gathered_in_c_order() {
        // np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 2, 2)): row i holds
        // i*4 .. i*4+3 in C order whatever the storage order.
        let table = NpyTable::open(corpus("fortran_i32_3x2x2.npy")).unwrap();
        let batches = table.reader().with_row_range(1..3).with_batch_size(1).build().unwrap();
        let mut rows = Vec::new();
        for batch in batches {
            let batch = batch.unwrap();
            let outer = batch.column(0).as_fixed_size_list();
            let inner = outer.values().as_fixed_size_list();
            let values = inner.values().as_primitive::<crate::arrow::datatypes::Int32Type>();
            rows.push(values.values().to_vec());
        }
        assert_eq!(rows, vec![vec![4, 5, 6, 7], vec![8, 9, 10, 11]]);
    }

    #[test]
    fn deflated_member_streams_batch_by_batch_equal_to_stored() {
        let stored = NpyTable::open(corpus("dataset.npz")).unwrap();
        let deflated = NpyTable::open(corpus("dataset_compressed.npz")).unwrap();
        assert_eq!(deflated.schema(), stored.schema());
        let a = read_all(&stored, 100);
        let b: Vec<RecordBatch> =
            deflated.reader().with_batch_size(4).with_inflate_in_memory_bytes(0).build().unwrap().collect::<std::result::Result<_, _>>().unwrap();
        assert_eq!(b.len(), 2, "6 rows in batches of 4");
        let b = crate::arrow::compute::concat_batches(&deflated.schema(), &b).unwrap();
        assert_eq!(a[0], b);
    }

    #[test]
    fn stored_member_is_read_despite_misalignment() {
        let table = NpyTable::open(corpus("dataset.npz")).unwrap();
        let infos = table.arrays();
        assert_eq!(infos[0].storage, Storage::ZipStored);
        // numpy's zip64 local headers leave the data misaligned; the reader must copy, not panic.
        let batch = &read_all(&table, 3)[0];
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.column(1).as_primitive::<Int64Type>().values().to_vec(), vec![0, 1, 1]);
    }

    #[test]
    fn projection_row_range_and_row_numbers() {
        let table = NpyTable::open(corpus("records.npy")).unwrap();
        let names: Vec<_> = table.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "label", "score", "tag"]);
        let mut reader = table.reader().with_projection(vec![2, 0]).with_row_range(1..10).with_row_number("_row", 100).build().unwrap();
        let batch = reader.next().unwrap().unwrap();
        assert!(reader.next().is_none());
        assert_eq!(batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["score", "id", "_row"]);
        assert_eq!(batch.column(0).as_primitive::<Float32Type>().values().to_vec(), vec![1.5, -1.0]);
        assert_eq!(batch.column(1).as_primitive::<Int64Type>().values().to_vec(), vec![2, 3]);
        assert_eq!(batch.column(2).as_primitive::<Int64Type>().values().to_vec(), vec![101, 102]);
    }

    #[test]
    fn empty_projection_still_counts_rows() {
        let table = NpyTable::open(corpus("batch_boundary_i64.npy")).unwrap();
        let rows: usize = table.reader().with_projection(vec![]).with_batch_size(7000).build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 20000);
    }

    #[test]
    fn truncation_while_mapped_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        std::fs::copy(corpus("batch_boundary_i64.npy"), &path).unwrap();
        let table = NpyTable::open(&path).unwrap();
        let mut reader = table.reader().with_batch_size(1000).build().unwrap();
        assert!(reader.next().unwrap().is_ok());
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(200).unwrap();
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("x.npy") && err.contains("changed while open"), "{err}");
        assert!(reader.next().is_none(), "a failed reader stops");
    }

    /// Budgets of [`ReaderBuilder::with_inflate_in_memory_bytes`] that take each path: every
    /// deflated member streamed, every member inflated in memory.
    const INFLATE_BUDGETS: [u64; 2] = [0, IN_MEMORY];
    /// A budget every corpus archive fits.
    const IN_MEMORY: u64 = 1 << 30;

    fn read_with_budget(path: &Path, budget: u64) -> Result<Vec<RecordBatch>> {
        let table = NpyTable::open(path)?;
        let reader = table.reader().with_batch_size(3).with_inflate_in_memory_bytes(budget).build()?;
        reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| ErrorKind::Arrow(e).into())
    }

    #[test]
    fn corrupt_deflated_data_is_an_error_naming_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npz");
        let mut bytes = std::fs::read(corpus("dataset_compressed.npz")).unwrap();
        // Flip bits in the middle of the first member's compressed data (past its header).
        let members = list_members(&crate::arrow::buffer::Buffer::from_vec(bytes.clone())).unwrap();
        let first = &members[0];
        let at = (first.data_start + first.compressed_size * 3 / 4) as usize;
        bytes[at] ^= 0x5a;
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        for budget in INFLATE_BUDGETS {
            let err = read_with_budget(&path, budget).err().expect("corruption must be detected").to_string();
            assert!(err.contains("bad.npz"), "budget {budget}: {err}");
        }
    }

    #[test]
    fn wrong_crc_of_a_deflated_member_is_an_error_in_memory_and_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad_crc.npz");
        let mut bytes = std::fs::read(corpus("dataset_compressed.npz")).unwrap();
        // The inflated data stay intact; only the CRC-32 the central directory records changes.
        let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").expect("a central directory entry");
        bytes[central + 16] ^= 0xff;
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        for budget in INFLATE_BUDGETS {
            let err = read_with_budget(&path, budget).err().expect("a wrong CRC must be detected").to_string();
            assert!(err.contains("bad_crc.npz") && err.contains("CRC-32 mismatch"), "budget {budget}: {err}");
        }
    }

    #[test]
    fn deflated_members_read_alike_in_memory_streamed_and_stored() {
        // The same arrays as numpy wrote them with np.savez (stored) and np.savez_compressed.
        let stored = read_with_budget(&corpus("dataset.npz"), 0).unwrap();
        let first_member_size = NpyTable::open(corpus("dataset_compressed.npz")).unwrap().arrays[0].inflated_size().unwrap();
        // All streamed, the first member alone in memory, all in memory (two threads).
        for budget in [0, first_member_size, IN_MEMORY] {
            let deflated = read_with_budget(&corpus("dataset_compressed.npz"), budget).unwrap();
            let rows: usize = deflated.iter().map(|b| b.num_rows()).sum();
            assert!(rows > 3, "several batches");
            assert_eq!(deflated, stored, "budget {budget}");
        }
    }

    #[test]
    fn only_reads_that_run_to_the_end_inflate_whole_members() {
        let table = NpyTable::open(corpus("dataset_compressed.npz")).unwrap();
        let in_memory = |reader: &NpyReader| reader.parts.iter().map(|p| p.inflate_in_memory).collect::<Vec<_>>();
        let whole = table.reader().build().unwrap();
        assert!(in_memory(&whole).iter().all(|&m| m), "default budget: the whole table in memory");
        let tail = table.reader().with_row_range(2..u64::MAX).build().unwrap();
        assert!(in_memory(&tail).iter().all(|&m| m), "rows to the end: in memory");
        // The first rows (a LIMIT) stream: they need the start of each member only.
        let head = table.reader().with_row_range(0..2).build().unwrap();
        assert!(in_memory(&head).iter().all(|&m| !m), "a prefix streams");
        let rows: usize = head.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 2);
    }

    /// A member large enough that its memory is faulted in on a helper thread while it is
    /// inflated: the values, in memory and streamed, and a wrong CRC still caught.
    #[test]
    fn a_large_deflated_member_reads_alike_in_memory_and_streamed() {
        use crate::arrow::array::Float32Array;
        use crate::{ArrayFileWriter, NpzCompression, WriteOptions};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.npz");
        // 3.5M float32: 14 MiB inflated, past `PREFAULT_MIN_BYTES`; not a whole number of pages.
        let rows = 3_500_003;
        let values = Float32Array::from_iter_values((0..rows).map(|i| (i % 1009) as f32 * 0.5));
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float32, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values.clone())]).unwrap();
        let mut writer = ArrayFileWriter::try_new(&path, schema, WriteOptions::default().with_compression(NpzCompression::Deflated)).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let size = NpyTable::open(&path).unwrap().arrays[0].inflated_size().unwrap();
        assert!(size >= super::super::array::PREFAULT_MIN_BYTES as u64, "{size}");
        for budget in INFLATE_BUDGETS {
            let batches = read_with_budget(&path, budget).unwrap();
            let read = crate::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
            assert_eq!(read.column(0).as_primitive::<Float32Type>(), &values, "budget {budget}");
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[central + 16] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_with_budget(&path, IN_MEMORY).err().expect("a wrong CRC must be detected").to_string();
        assert!(err.contains("big.npz") && err.contains("CRC-32 mismatch"), "{err}");
    }

    #[test]
    fn a_member_that_inflates_short_of_its_declared_size_is_an_error() {
        // Re-deflate the first member of the compressed corpus archive without its last row, but
        // keep the sizes and CRC the directory declares: the stream ends early.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.npz");
        let mut archive = zip::ZipArchive::new(std::fs::File::open(corpus("dataset_compressed.npz")).unwrap()).unwrap();
        let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for i in 0..archive.len() {
            let mut member = archive.by_index(i).unwrap();
            let name = member.name().unwrap().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut member, &mut data).unwrap();
            out.start_file(name, options).unwrap();
            out.write_all(&data).unwrap();
        }
        out.finish().unwrap();
        let original = std::fs::read(&path).unwrap();
        let members = list_members(&Buffer::from_vec(original.clone())).unwrap();
        let first = &members[0];
        // Declare one byte more than the member holds (both headers): the stream ends short.
        let mut bytes = original;
        let declared = (first.size + 1) as u32;
        let local = bytes.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
        let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[local + 22..local + 26].copy_from_slice(&declared.to_le_bytes());
        bytes[central + 24..central + 28].copy_from_slice(&declared.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        for budget in INFLATE_BUDGETS {
            let err = read_with_budget(&path, budget).err().expect("a short member must be detected").to_string();
            assert!(err.contains("short.npz"), "budget {budget}: {err}");
        }
    }

    #[test]
    fn length_mismatch_lists_the_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.npz");
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, source) in [("a.npy", "int8.npy"), ("b.npy", "float32.npy")] {
            zip.start_file(name, options).unwrap();
            zip.write_all(&std::fs::read(corpus(source)).unwrap()).unwrap();
        }
        zip.finish().unwrap();
        let err = NpyTable::open(&path).err().unwrap().to_string();
        assert!(err.contains("mixed.npz") && err.contains("a=5") && err.contains("b=7"), "{err}");
        // Each member still opens alone.
        assert_eq!(NpyTable::open_npz_member(&path, "b", &OpenOptions::default()).unwrap().num_rows(), 7);
    }
}
