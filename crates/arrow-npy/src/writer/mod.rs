//! Writing `.npy` / `.npz` (SPEC §7): the inverse of `super::schema`, streamed in bounded memory.
//!
//! One column becomes a plain array (a FixedSizeList column adds dimensions: shape `(N, a, b)`;
//! a struct column becomes a structured array of its fields); several columns become a
//! structured array in a `.npy`, or one member each (`<column>.npy`) in an `.npz`. The types
//! are in `dtype_map`, the bytes in `encode`, the header in `header`.
//!
//! # Streaming with an unknown row count and unknown string widths
//!
//! The row count is in the header, before the data, and is known only at the end; so are the
//! `U<n>`/`S<n>` widths of string and binary columns (the longest value). Memory stays at about
//! one batch whatever the size of the output:
//!
//! - **Fixed widths** (no string or binary column): items are encoded batch by batch straight
//!   after a header for 0 rows. numpy's header reserves room for the first axis to grow to 21
//!   digits, so `finish` writes the header with the real row count over it in place: same
//!   length, same bytes as `np.save`.
//! - **Strings** (module `spill`): batches are spilled unchanged to an Arrow IPC stream in a
//!   temporary file (UTF-8, more compact than UCS-4) while the widths are measured; `finish`
//!   writes the header with the final widths and rows, then reads the spill back one batch at a
//!   time and encodes it. Two sequential passes over a temporary file.
//!
//! `.npz` members must be written one after another (module `npz`): while rows stream in, the
//! fixed-width members' items go to one temporary file of chunks, and the string members'
//! batches to one spill; `finish` writes each member into the archive in column order (stored
//! like `np.savez` or deflated like `np.savez_compressed`, zip64 like numpy's `force_zip64`).
//! Two temporary files, whatever the number of columns.
//!
//! All temporary files live in the output's directory (where the space for the result must be
//! anyway). The result is written under a hidden temporary name there
//! (`.<name>.<random>.partial`) and renamed into place by `finish`: the output is complete or
//! absent. Dropping the writer, or an error, leaves nothing behind.

mod dtype_map;
mod encode;
mod header;
mod npy;
mod npz;
mod provenance;
mod spill;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arrow::array::{Array, ArrayData, ArrayRef, RecordBatch, RecordBatchOptions, RecordBatchWriter, StructArray};
use crate::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use crate::arrow::error::ArrowError;
use tempfile::NamedTempFile;

use crate::error::{ErrorKind, NpyError, Result, ResultExt};
use crate::dtype::DType;
use dtype_map::{check_field_names, numpy_dtype, record, variable_leaves};
use encode::{encode, scatter, Context, Part};

pub use header::npy_header;

/// How `.npz` members are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NpzCompression {
    /// `np.savez`: stored.
    #[default]
    Stored,
    /// `np.savez_compressed`: deflated.
    Deflated,
}

/// What to write for a null of a numpy type that has no missing value (bool, integers, `S`,
/// `U`, `V`). Floats always get NaN and datetimes/timedeltas NaT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NullPolicy {
    /// Fail, naming the column and the row. The default.
    #[default]
    Error,
    /// Zero bytes: `0`, `False`, `''`, `b''`.
    Zero,
}

/// Options for [`ArrayFileWriter`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// How `.npz` members are stored. Default: [`NpzCompression::Stored`]. Ignored for `.npy`.
    pub compression: NpzCompression,
}

impl WriteOptions {
    /// Set how `.npz` members are stored (default: stored).
    pub fn with_compression(mut self, compression: NpzCompression) -> Self {
        self.compression = compression;
        self
    }
}

/// What is being written: the `.npy`, or the `.npz` members.
enum Body {
    Npy(npy::NpyOutput),
    Npz(Box<npz::NpzOutput>),
}

/// A streaming writer of `.npy` (one column → a plain array, several → a structured array) or
/// `.npz` (one member per column), chosen by the output path's extension. The output appears
/// at `path` only when [`ArrayFileWriter::finish`] succeeds.
///
/// ```no_run
/// # use arrow_npy::{ArrayFileWriter, WriteOptions};
/// # fn demo(batches: Vec<arrow_array::RecordBatch>) -> arrow_npy::Result<()> {
/// let mut writer = ArrayFileWriter::try_new("out.npy", batches[0].schema(), WriteOptions::default())?;
/// for batch in &batches {
///     writer.write(batch)?;
/// }
/// writer.finish()
/// # }
/// ```
pub struct ArrayFileWriter {
    path: PathBuf,
    schema: SchemaRef,
    nulls: NullPolicy,
    body: Body,
    rows: u64,
    /// A write failed part-way: the temporary files may hold part of a batch.
    failed: bool,
}

impl ArrayFileWriter {
    /// Check that every column has a numpy form and prepare the temporary files. Fails with
    /// `ErrorKind::Unwritable` naming the column for a type numpy cannot hold, and with
    /// `ErrorKind::InvalidArgument` for a path not ending in `.npy`/`.npz`.
    pub fn try_new(path: impl AsRef<Path>, schema: SchemaRef, options: WriteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        Self::create(&path, schema, options).in_file(&path)
    }

    fn create(path: &Path, schema: SchemaRef, options: WriteOptions) -> Result<Self> {
        // Column names must be unique (as record fields, or as .npz members); whether one may
        // be '' is the record's business (`dtype_map::record`), and a lone column's name is
        // no field name at all.
        if schema.fields().len() > 1 {
            check_field_names("", schema.fields())?;
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let body = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("npy") => Body::Npy(npy::NpyOutput::create(&schema, path, &dir)?),
            Some("npz") => Body::Npz(Box::new(npz::NpzOutput::create(&schema, path, &dir, options.compression)?)),
            _ => return Err(ErrorKind::InvalidArgument("the output must end in .npy or .npz".into()).into()),
        };
        Ok(ArrayFileWriter {
            path: path.to_path_buf(),
            schema,
            nulls: NullPolicy::default(),
            body,
            rows: 0,
            failed: false,
        })
    }

    /// What nulls of types without a numpy missing value become (default:
    /// [`NullPolicy::Error`]). Floats always get NaN, datetimes NaT.
    pub fn with_nulls(mut self, nulls: NullPolicy) -> Self {
        self.nulls = nulls;
        self
    }

    /// Append a batch. Its columns must have the schema's types. After an error the writer
    /// refuses further batches and `finish`: drop it, and nothing is left behind.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.failed {
            return Err(earlier_failure()).in_file(&self.path);
        }
        let result = self.write_batch(batch);
        self.failed = result.is_err();
        result.in_file(&self.path)
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.check_batch(batch)?;
        match &mut self.body {
            Body::Npy(npy) => npy.write(batch, self.rows, self.nulls)?,
            Body::Npz(npz) => npz.write(batch, self.rows, self.nulls)?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let expected: Vec<&DataType> = self.schema.fields().iter().map(|f| f.data_type()).collect();
        let got: Vec<&DataType> = batch.schema_ref().fields().iter().map(|f| f.data_type()).collect();
        // Nested field names and nullability may differ (they do between DataFusion plans).
        let same = expected.len() == got.len() && expected.iter().zip(&got).all(|(e, g)| e.equals_datatype(g));
        if !same {
            return Err(ErrorKind::InvalidArgument(format!(
                "batch columns {got:?} do not match the writer's schema {expected:?}"
            ))
            .into());
        }
        Ok(())
    }

    /// Complete the file (patch the header's row count, rename into place).
    pub fn finish(self) -> Result<()> {
        let path = self.path.clone();
        if self.failed {
            return Err(earlier_failure()).in_file(path);
        }
        self.finish_inner().in_file(path)
    }

    fn finish_inner(self) -> Result<()> {
        let result = match self.body {
            Body::Npy(npy) => npy.finish(self.rows, self.nulls)?,
            Body::Npz(npz) => npz.finish(self.rows, self.nulls)?,
        };
        // Complete or absent is about this process failing: the rename is atomic. Like np.save
        // and the CLI's other writers, no fsync: durability across a power loss is the OS's
        // (an fsync here stalled conversions for seconds behind other disk writers).
        result.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The arrow-rs writer interface, for code generic over writers; `write` and `close` are
/// [`ArrayFileWriter::write`] and [`ArrayFileWriter::finish`], their errors as `ArrowError`.
impl RecordBatchWriter for ArrayFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        ArrayFileWriter::write(self, batch).map_err(ArrowError::from)
    }

    fn close(self) -> std::result::Result<(), ArrowError> {
        self.finish().map_err(ArrowError::from)
    }
}

/// The columns one array holds, with a schema that is nullable at the top (a null in a column
/// declared non-nullable then gets the encoder's message, or NaN/NaT, not Arrow's).
#[derive(Debug, Clone)]
struct OutputColumns {
    indices: Vec<usize>,
    schema: SchemaRef,
}

impl OutputColumns {
    /// The columns `indices` of `schema`; with `whole_array`, the schema's metadata too (it
    /// describes the array the columns are the fields of, see [`provenance::array_record`]).
    fn new(schema: &Schema, indices: Vec<usize>, whole_array: bool) -> Self {
        let fields: Fields = indices.iter().map(|&i| Arc::new(schema.field(i).clone().with_nullable(true))).collect();
        let metadata = if whole_array { schema.metadata().clone() } else { Default::default() };
        OutputColumns { indices, schema: Arc::new(Schema::new_with_metadata(fields, metadata)) }
    }

    /// These columns of `batch`, under this schema (nested names and nullability may differ).
    fn take(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = self.indices.iter().map(|&i| Arc::clone(batch.column(i))).collect();
        let same_layout =
            RecordBatchOptions::new().with_match_field_names(false).with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &same_layout)?)
    }

    /// The item type with every string width 1 (no width given): checks that each column has a
    /// numpy form.
    fn check_types(&self) -> Result<()> {
        item_for(&self.schema, &mut std::iter::empty()).map(|_| ())
    }

    fn has_strings(&self) -> bool {
        self.schema.fields().iter().any(|f| variable_leaves(f.data_type()) > 0)
    }
}

/// What the array holding some columns is: its item type and shape after the first axis, and
/// how the columns make its items.
#[derive(Debug, Clone)]
struct Item {
    /// The header's item type (never a sub-array: those are `dims`).
    dtype: DType,
    /// The array's dimensions after the first.
    dims: Vec<usize>,
    /// Written as a 0-d array (shape `()`) if exactly one row is written.
    zero_d: bool,
    /// The columns are the fields of the record `dtype` (else the one column is the item).
    columns_are_fields: bool,
}

/// The array holding the columns of `schema`: one column's own type (so a struct column
/// becomes a record of its fields, a FixedSizeList column extra dimensions), or a record of the
/// columns (built directly from them, so two columns `real`, `imag` stay two fields). The
/// reader's metadata is honoured where it fits (see [`provenance`]): a structured array of one
/// field or of several dimensions, a 0-d array, exact widths, padding and offsets.
fn item_for(schema: &Schema, widths: &mut dyn Iterator<Item = usize>) -> Result<Item> {
    // Each attempt below reads the widths from the start.
    let widths: Vec<usize> = widths.collect();
    let fields = schema.fields();
    if !schema.metadata().is_empty() {
        // Columns that make no record (a name used twice, say) make no record array either.
        let columns = record("", fields, &mut widths.iter().copied()).ok();
        if let Some(array) = columns.and_then(|columns| provenance::array_record(schema, &columns)) {
            let split = !array.dims.is_empty();
            return Ok(Item {
                dtype: DType::Record(array.record),
                dims: array.dims,
                zero_d: array.zero_d && !split,
                columns_are_fields: true,
            });
        }
    }
    match &fields[..] {
        [] => Err(unwritable("a table without columns", "a numpy array needs at least one column")),
        [only] => {
            let dtype = provenance::refine(only, numpy_dtype(only.name(), only.data_type(), &mut widths.iter().copied())?);
            let (dtype, dims) = match dtype {
                DType::SubArray { base, shape } => (*base, shape),
                other => (other, vec![]),
            };
            let zero_d = dims.is_empty() && provenance::is_zero_d(only);
            Ok(Item { dtype, dims, zero_d, columns_are_fields: false })
        }
        _ => Ok(Item {
            dtype: DType::Record(record("", fields, &mut widths.iter().copied())?),
            dims: vec![],
            zero_d: false,
            columns_are_fields: true,
        }),
    }
}

/// The header of an array of `rows` rows of `item`: shape `(rows, *dims)`, or `()`.
fn header_for(item: &Item, rows: u64) -> Result<Vec<u8>> {
    let shape: Vec<u64> = if item.zero_d && rows == 1 {
        vec![]
    } else {
        std::iter::once(rows).chain(item.dims.iter().map(|&d| d as u64)).collect()
    };
    npy_header(&item.dtype.descr(), &shape)
}

/// The bytes of one batch's rows for an array of `item`s.
fn encode_rows(batch: &RecordBatch, item: &Item, first_row: u64, nulls: NullPolicy) -> Result<Vec<u8>> {
    let elements: usize = item.dims.iter().product();
    let mut out = Vec::with_capacity(batch.num_rows() * elements * item.dtype.itemsize());
    if let (DType::Record(record), true, false) = (&item.dtype, item.columns_are_fields, item.dims.is_empty()) {
        // A record array of more than one axis: each column holds one field for every element
        // of the row; the items are the elements, each with all the fields.
        let mut parts = Vec::with_capacity(record.fields.len());
        for (field, column) in record.fields.iter().zip(batch.columns()) {
            let dtype = DType::SubArray { base: Box::new(field.dtype.clone()), shape: item.dims.clone() };
            let ctx = Context { column: field.name.clone(), first_row, items_per_row: 1, nulls };
            let mut bytes = Vec::with_capacity(batch.num_rows() * dtype.itemsize());
            encode(plain(column)?.as_ref(), None, &dtype, &ctx, &mut bytes)?;
            parts.push(Part { bytes, size: field.dtype.itemsize(), offset: field.offset });
        }
        scatter(&parts, batch.num_rows() * elements, record.itemsize, &mut out);
        return Ok(out);
    }
    let (array, column): (ArrayRef, String) = match batch.columns() {
        [only] if !item.columns_are_fields => (plain(only)?, batch.schema_ref().field(0).name().clone()),
        columns => {
            let columns = columns.iter().map(plain).collect::<Result<Vec<_>>>()?;
            let fields: Fields =
                batch.schema_ref().fields().iter().zip(&columns).map(|(f, c)| field_like(f, c)).collect();
            let structs = if columns.is_empty() {
                StructArray::new_empty_fields(batch.num_rows(), None)
            } else {
                StructArray::try_new(fields, columns, None)?
            };
            (Arc::new(structs), String::new())
        }
    };
    let dtype = match item.dims.as_slice() {
        [] => item.dtype.clone(),
        dims => DType::SubArray { base: Box::new(item.dtype.clone()), shape: dims.to_vec() },
    };
    let ctx = Context { column, first_row, items_per_row: 1, nulls };
    encode(array.as_ref(), None, &dtype, &ctx, &mut out)?;
    Ok(out)
}

/// Fail now rather than at `finish` on a null without a numpy form in a batch being spilled:
/// encode the batch with the widths measured so far (which fit it) and drop the bytes. Only
/// done for batches with nulls when nulls are errors; nothing else can fail.
fn check_spilled_nulls(batch: &RecordBatch, widths: Vec<usize>, first_row: u64, nulls: NullPolicy) -> Result<()> {
    fn has_nulls(data: &ArrayData) -> bool {
        data.null_count() > 0 || data.child_data().iter().any(has_nulls)
    }
    if nulls != NullPolicy::Error || !batch.columns().iter().any(|c| has_nulls(&c.to_data())) {
        return Ok(());
    }
    let item = item_for(batch.schema_ref(), &mut widths.into_iter())?;
    encode_rows(batch, &item, first_row, nulls).map(|_| ())
}

/// A dictionary column as its values (numpy has no dictionary encoding).
fn plain(column: &ArrayRef) -> Result<ArrayRef> {
    match column.data_type() {
        DataType::Dictionary(_, values) => Ok(crate::arrow::compute::cast(column, values)?),
        _ => Ok(Arc::clone(column)),
    }
}

fn field_like(field: &FieldRef, column: &ArrayRef) -> FieldRef {
    Arc::new(Field::new(field.name(), column.data_type().clone(), true))
}

/// A hidden temporary file beside `path`: `.<name>.<random>.partial`, never taken for a `.npy`.
/// A hidden temporary file `.<name>.<random>.partial` for the output `path`, in `dir` (the
/// output's directory: same file system, so the final rename is atomic). It gets the
/// permissions any new file gets (0666 less the umask): tempfile's default 0600 would survive
/// the rename. Removed when dropped unless persisted. The CLI uses it for every format.
pub fn temp_file_in(dir: &Path, path: &Path) -> Result<NamedTempFile> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    Ok(builder.tempfile_in(dir)?)
}

fn unwritable(what: &str, reason: &str) -> NpyError {
    ErrorKind::Unwritable { what: what.into(), reason: reason.into() }.into()
}

fn earlier_failure() -> NpyError {
    unwritable("the file", "an earlier batch could not be written")
}

fn internal(what: &str) -> NpyError {
    unwritable("the file", &format!("internal error: {what}"))
}

fn zip_error(e: zip::result::ZipError) -> NpyError {
    match e {
        zip::result::ZipError::Io(io) => io.into(),
        other => ErrorKind::Zip { message: other.to_string() }.into(),
    }
}
