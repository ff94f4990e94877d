//! Writing `.npy` / `.npz` (SPEC §7): the inverse of `super::schema`, streamed in bounded memory.
//!
//! One column becomes a plain array (a FixedSizeList column adds dimensions: shape `(N, a, b)`;
//! a struct column becomes a structured array of its fields); several columns become a
//! structured array in a `.npy`, or one member each (`<column>.npy`) in an `.npz`. The types
//! are in [`dtype_map`], the bytes in [`encode`], the header in [`header`].
//!
//! # Streaming with an unknown row count and unknown string widths
//!
//! Each array being written (the `.npy`, or each `.npz` member) is an [`ArrayOutput`], in one of
//! two states, chosen from the schema:
//!
//! - **Direct**: every width is known from the types. Items are encoded batch by batch straight
//!   into a file that starts with the header for 0 rows. numpy's header reserves room for the
//!   first axis to grow to 21 digits, so at `finish` the header with the real row count is
//!   written over it in place: same length, same bytes as `np.save`.
//! - **Spilled**: the output has a string or binary column, whose `U<n>`/`S<n>` width is the
//!   longest value, known only at the end. Its batches are spilled unchanged to an Arrow IPC
//!   stream in a temporary file while the widths are measured; at `finish` the header is
//!   written with the final widths and rows, and the spill is read back one batch at a time
//!   and encoded. Two sequential passes over a temporary file; memory stays at about one batch.
//!
//! `.npz` members must be written one after another, so each member is a temporary `.npy`
//! (direct) or spill while rows stream in; `finish` copies or encodes them into the archive in
//! column order (stored like `np.savez` or deflated like `np.savez_compressed`, zip64 like
//! numpy's `force_zip64`).
//!
//! All temporary files live in the output's directory (where the space for the result must be
//! anyway). The result is written under a hidden temporary name there and renamed into place
//! by `finish`: the output is complete or absent. Dropping the writer, or an error, leaves
//! nothing behind.

mod dtype_map;
mod encode;
mod header;

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use tempfile::NamedTempFile;

use crate::error::{ErrorKind, NpyError, Result, ResultExt};
use crate::format::dtype::DType;
use dtype_map::{check_field_names, measure_widths, numpy_dtype, record, variable_leaves};
use encode::{encode, Context};

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
    /// Nulls in columns whose numpy type has no missing value. Default: [`NullPolicy::Error`].
    pub nulls: NullPolicy,
}

impl WriteOptions {
    /// Set how `.npz` members are stored (default: stored).
    pub fn with_compression(mut self, compression: NpzCompression) -> Self {
        self.compression = compression;
        self
    }
    /// Set what nulls without a numpy form become (default: an error).
    pub fn with_nulls(mut self, nulls: NullPolicy) -> Self {
        self.nulls = nulls;
        self
    }
}

/// `.npy` or `.npz`, from the output path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Npy,
    Npz,
}

/// A streaming writer of `.npy` (one column → a plain array, several → a structured array) or
/// `.npz` (one member per column), chosen by the output path's extension. The output appears
/// at `path` only when [`ArrayFileWriter::finish`] succeeds.
///
/// ```no_run
/// # use datafusion_npy::{ArrayFileWriter, WriteOptions};
/// # fn demo(batches: Vec<datafusion::arrow::record_batch::RecordBatch>) -> datafusion_npy::Result<()> {
/// let mut writer = ArrayFileWriter::try_new("out.npy", batches[0].schema(), WriteOptions::default())?;
/// for batch in &batches {
///     writer.write(batch)?;
/// }
/// writer.finish()
/// # }
/// ```
pub struct ArrayFileWriter {
    path: PathBuf,
    dir: PathBuf,
    container: Container,
    schema: SchemaRef,
    options: WriteOptions,
    outputs: Vec<ArrayOutput>,
    rows: u64,
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
        let container = container_of(path)?;
        if schema.fields().is_empty() {
            return Err(unwritable("a table without columns", "a numpy array needs at least one column"));
        }
        check_field_names("", schema.fields())?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let groups: Vec<Vec<usize>> = match container {
            Container::Npy => vec![(0..schema.fields().len()).collect()],
            Container::Npz => (0..schema.fields().len()).map(|i| vec![i]).collect(),
        };
        let outputs = groups
            .into_iter()
            .map(|columns| ArrayOutput::create(&schema, columns, container, path, &dir))
            .collect::<Result<Vec<_>>>()?;
        Ok(ArrayFileWriter { path: path.to_path_buf(), dir, container, schema, options, outputs, rows: 0 })
    }

    /// Append a batch. Its columns must have the schema's types.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let path = self.path.clone();
        self.write_batch(batch).in_file(path)
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.check_batch(batch)?;
        for output in &mut self.outputs {
            output.write(batch, self.rows, &self.options)?;
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
        self.finish_inner().in_file(path)
    }

    fn finish_inner(self) -> Result<()> {
        let ArrayFileWriter { path, dir, container, options, outputs, rows, .. } = self;
        match container {
            Container::Npy => {
                let [output] = <[ArrayOutput; 1]>::try_from(outputs).map_err(|_| internal("one output for .npy"))?;
                let result = output.finish_npy(rows, &dir, &path, &options)?;
                persist(result, &path)
            }
            Container::Npz => {
                let archive = temp_file_in(&dir, &path)?;
                let mut zip = zip::ZipWriter::new(BufWriter::new(archive));
                for output in outputs {
                    output.finish_npz_member(rows, &mut zip, &options)?;
                }
                let mut buffered = zip.finish().map_err(zip_error)?;
                buffered.flush()?;
                let archive = buffered.into_inner().map_err(|e| e.into_error())?;
                persist(archive, &path)
            }
        }
    }
}

/// One array being written: the `.npy`, or one `.npz` member.
struct ArrayOutput {
    /// Member name (the column's name); unused for `.npy`.
    name: String,
    /// Indices of the columns it holds.
    columns: Vec<usize>,
    /// The schema of those columns.
    schema: SchemaRef,
    state: OutputState,
}

enum OutputState {
    /// Item type known: items are written straight after a header to be patched.
    Direct { npy: NpyFile, item: DType },
    /// String widths unknown: batches spilled to an IPC stream, widths measured.
    Spilled { spill: StreamWriter<BufWriter<File>>, widths: Vec<usize> },
}

impl ArrayOutput {
    fn create(schema: &Schema, columns: Vec<usize>, container: Container, path: &Path, dir: &Path) -> Result<Self> {
        // Nullable at the top: a null in a column declared non-nullable gets the encoder's
        // message (or NaN/NaT), not Arrow's.
        let fields: Fields = columns.iter().map(|&i| Arc::new(schema.field(i).clone().with_nullable(true))).collect();
        let schema = Arc::new(Schema::new(fields));
        let name = schema.field(0).name().clone();
        let unknown_widths: usize = schema.fields().iter().map(|f| variable_leaves(f.data_type())).sum();
        // Map the types now so that an unwritable column fails before any row is read.
        let item = item_dtype(schema.fields(), &mut std::iter::repeat(1))?;
        let state = if unknown_widths == 0 {
            let file = match container {
                // The .npy itself, renamed into place at the end.
                Container::Npy => FileOrTemp::Named(temp_file_in(dir, path)?),
                Container::Npz => FileOrTemp::Anonymous(tempfile::tempfile_in(dir)?),
            };
            let (base, inner_shape) = split_sub_array(&item);
            OutputState::Direct { npy: NpyFile::start(file, &base.descr(), inner_shape)?, item }
        } else {
            let spill = StreamWriter::try_new(BufWriter::new(tempfile::tempfile_in(dir)?), &schema)?;
            OutputState::Spilled { spill, widths: vec![0; unknown_widths] }
        };
        Ok(ArrayOutput { name, columns, schema, state })
    }

    fn write(&mut self, batch: &RecordBatch, first_row: u64, options: &WriteOptions) -> Result<()> {
        let columns = self.columns.iter().map(|&i| Arc::clone(batch.column(i))).collect();
        let same_layout = RecordBatchOptions::new().with_match_field_names(false);
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &same_layout)?;
        match &mut self.state {
            OutputState::Direct { npy, item } => {
                let bytes = encode_rows(&batch, item, first_row, options)?;
                npy.file.write_all(&bytes)?;
            }
            OutputState::Spilled { spill, widths } => {
                let mut next = 0;
                for column in batch.columns() {
                    measure_widths(plain(column)?.as_ref(), widths, &mut next);
                }
                spill.write(&batch)?;
            }
        }
        Ok(())
    }

    /// The finished `.npy`, still under its temporary name.
    fn finish_npy(self, rows: u64, dir: &Path, path: &Path, options: &WriteOptions) -> Result<NamedTempFile> {
        match self.state {
            OutputState::Direct { npy, .. } => match npy.finish(rows)? {
                FileOrTemp::Named(file) => Ok(file),
                FileOrTemp::Anonymous(_) => Err(internal("a .npy written to an anonymous file")),
            },
            OutputState::Spilled { spill, widths } => {
                let mut out = temp_file_in(dir, path)?;
                {
                    let mut writer = BufWriter::new(out.as_file_mut());
                    replay(spill, &self.schema, &widths, rows, options, &mut writer)?;
                    writer.flush()?;
                }
                Ok(out)
            }
        }
    }

    fn finish_npz_member<W: Write + Seek>(
        self,
        rows: u64,
        zip: &mut zip::ZipWriter<W>,
        options: &WriteOptions,
    ) -> Result<()> {
        let method = match options.compression {
            NpzCompression::Stored => zip::CompressionMethod::Stored,
            NpzCompression::Deflated => zip::CompressionMethod::Deflated,
        };
        // numpy opens every member with `force_zip64=True`.
        let member_options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
        let member = format!("{}.npy", self.name);
        zip.start_file(member.as_str(), member_options).map_err(zip_error)?;
        let result = match self.state {
            OutputState::Direct { npy, .. } => {
                let mut file = npy.finish(rows)?.into_file();
                file.seek(SeekFrom::Start(0))?;
                std::io::copy(&mut BufReader::new(file), zip).map(|_| ())?;
                Ok(())
            }
            OutputState::Spilled { spill, widths } => replay(spill, &self.schema, &widths, rows, options, zip),
        };
        result.in_member(&self.name)
    }
}

/// Second pass over a spill: header with the final widths and row count, then the items.
fn replay(
    spill: StreamWriter<BufWriter<File>>,
    schema: &SchemaRef,
    widths: &[usize],
    rows: u64,
    options: &WriteOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let mut file = spill.into_inner()?.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    let item = item_dtype(schema.fields(), &mut widths.iter().copied())?;
    let (base, inner_shape) = split_sub_array(&item);
    out.write_all(&npy_header(&base.descr(), &full_shape(rows, inner_shape))?)?;
    let mut first_row = 0;
    for batch in StreamReader::try_new(BufReader::new(file), None)? {
        let batch = batch?;
        out.write_all(&encode_rows(&batch, &item, first_row, options)?)?;
        first_row += batch.num_rows() as u64;
    }
    if first_row != rows {
        return Err(internal("the spill holds fewer rows than were written"));
    }
    Ok(())
}

/// The item type of an array holding `fields`: one column's own type (so a struct column
/// becomes a record of its fields), or a record of the columns. Built directly from the
/// columns when there are several, so two columns `real`, `imag` stay two fields.
fn item_dtype(fields: &Fields, widths: &mut dyn Iterator<Item = usize>) -> Result<DType> {
    match &fields[..] {
        [only] => numpy_dtype(only.name(), only.data_type(), widths),
        _ => Ok(DType::Record(record("", fields, widths)?)),
    }
}

/// A top-level sub-array is not an item type but extra dimensions of the array.
fn split_sub_array(item: &DType) -> (&DType, &[usize]) {
    match item {
        DType::SubArray { base, shape } => (base, shape),
        other => (other, &[]),
    }
}

fn full_shape(rows: u64, inner: &[usize]) -> Vec<u64> {
    std::iter::once(rows).chain(inner.iter().map(|&d| d as u64)).collect()
}

/// The bytes of one batch's rows for an array of `item`s.
fn encode_rows(batch: &RecordBatch, item: &DType, first_row: u64, options: &WriteOptions) -> Result<Vec<u8>> {
    let (array, column): (ArrayRef, String) = match batch.columns() {
        [only] => (plain(only)?, batch.schema_ref().field(0).name().clone()),
        columns => {
            let columns = columns.iter().map(plain).collect::<Result<Vec<_>>>()?;
            let fields: Fields =
                batch.schema_ref().fields().iter().zip(&columns).map(|(f, c)| field_like(f, c)).collect();
            (Arc::new(StructArray::try_new(fields, columns, None)?), String::new())
        }
    };
    let ctx = Context { column, first_row, items_per_row: 1, nulls: &options.nulls };
    let mut out = Vec::with_capacity(array.len() * item.itemsize());
    encode(array.as_ref(), None, item, &ctx, &mut out)?;
    Ok(out)
}

/// A dictionary column as its values (numpy has no dictionary encoding).
fn plain(column: &ArrayRef) -> Result<ArrayRef> {
    match column.data_type() {
        DataType::Dictionary(_, values) => Ok(datafusion::arrow::compute::cast(column, values)?),
        _ => Ok(Arc::clone(column)),
    }
}

fn field_like(field: &FieldRef, column: &ArrayRef) -> FieldRef {
    Arc::new(Field::new(field.name(), column.data_type().clone(), true))
}

/// A `.npy` being written straight through, its header to be patched with the row count.
struct NpyFile {
    file: BufWriter<FileOrTemp>,
    descr: String,
    inner_shape: Vec<usize>,
    header_len: usize,
}

impl NpyFile {
    fn start(file: FileOrTemp, descr: &str, inner_shape: &[usize]) -> Result<Self> {
        let header = npy_header(descr, &full_shape(0, inner_shape))?;
        let mut file = BufWriter::new(file);
        file.write_all(&header)?;
        Ok(NpyFile { file, descr: descr.to_string(), inner_shape: inner_shape.to_vec(), header_len: header.len() })
    }

    /// Write the header for `rows` over the one for 0 rows (numpy's growth room makes them the
    /// same length).
    fn finish(self, rows: u64) -> Result<FileOrTemp> {
        let header = npy_header(&self.descr, &full_shape(rows, &self.inner_shape))?;
        if header.len() != self.header_len {
            return Err(internal("the final header does not fit the room reserved for it"));
        }
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        let file_mut = file.as_file_mut();
        file_mut.seek(SeekFrom::Start(0))?;
        file_mut.write_all(&header)?;
        file_mut.flush()?;
        Ok(file)
    }
}

/// The result's temporary file (renamed at the end) or an anonymous spill.
enum FileOrTemp {
    Named(NamedTempFile),
    Anonymous(File),
}

impl FileOrTemp {
    fn as_file_mut(&mut self) -> &mut File {
        match self {
            FileOrTemp::Named(named) => named.as_file_mut(),
            FileOrTemp::Anonymous(file) => file,
        }
    }
    fn into_file(self) -> File {
        match self {
            FileOrTemp::Named(named) => named.into_file(),
            FileOrTemp::Anonymous(file) => file,
        }
    }
}

impl Write for FileOrTemp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.as_file_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.as_file_mut().flush()
    }
}

fn container_of(path: &Path) -> Result<Container> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("npy") => Ok(Container::Npy),
        Some("npz") => Ok(Container::Npz),
        _ => Err(ErrorKind::InvalidArgument("the output must end in .npy or .npz".into()).into()),
    }
}

/// A hidden temporary file beside `path`: `.<name>.<random>.partial`, never taken for a `.npy`.
fn temp_file_in(dir: &Path, path: &Path) -> Result<NamedTempFile> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".partial").tempfile_in(dir)?)
}

fn persist(file: NamedTempFile, path: &Path) -> Result<()> {
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn unwritable(what: &str, reason: &str) -> NpyError {
    ErrorKind::Unwritable { what: what.into(), reason: reason.into() }.into()
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
