//! The CLI's one output layer: every file and stream `npyq convert` and `npyq sql` write, with
//! the same settings whichever command the batches come from (Parquet compression, dictionary
//! and statistics choices and the types pyarrow writes, JSON with every key, CSV with structs,
//! lists and bytes flattened to text), and the rule that an output is complete or absent.
//!
//! Complete or absent: a file is written into a temporary file in the output's directory, which
//! is renamed into place only after the writer finished without error. On an error (or a panic)
//! the temporary file is removed; a process killed outright (Ctrl-C) may leave the hidden
//! temporary file, but never a partial file under the output's name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::json::writer::LineDelimited;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::basic::{Compression, GzipLevel, LogicalType, Type as PhysicalType, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnDescriptor;
use datafusion_npy::datasource::parquet_types::{cast_to_schema, parquet_storable_schema};
use datafusion_npy::{ArrayFileWriter, NpzCompression, WriteOptions};

use crate::csv_flatten::CsvFlattener;
use crate::input::from_arrow;
use crate::parquet_writer::ParallelParquetWriter;
use crate::text_form;

/// The output formats, by extension (`convert`, `sql --output`) or by name (`sql --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Parquet,
    ArrowFile,
    ArrowStream,
    Csv,
    Json,
    Npy,
    Npz,
}

const SUPPORTED_OUTPUTS: &str = ".parquet, .arrow, .arrows, .csv, .json, .npy, .npz";

impl OutputFormat {
    pub fn from_path(path: &Path) -> anyhow::Result<Self> {
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        Ok(match extension.as_deref() {
            Some("parquet") => OutputFormat::Parquet,
            Some("arrow") => OutputFormat::ArrowFile,
            Some("arrows") => OutputFormat::ArrowStream,
            Some("csv") => OutputFormat::Csv,
            Some("json" | "ndjson" | "jsonl") => OutputFormat::Json,
            Some("npy") => OutputFormat::Npy,
            Some("npz") => OutputFormat::Npz,
            Some(other) => bail!(
                "{}: unknown output extension '.{other}' (supported: {SUPPORTED_OUTPUTS})",
                path.display()
            ),
            None => bail!(
                "{}: the output needs an extension to choose its format (supported: {SUPPORTED_OUTPUTS})",
                path.display()
            ),
        })
    }

    /// The formats `npyq sql --format` names (besides `table`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "csv" => OutputFormat::Csv,
            "json" | "ndjson" => OutputFormat::Json,
            "parquet" => OutputFormat::Parquet,
            "arrow" | "ipc" => OutputFormat::ArrowFile,
            "arrows" => OutputFormat::ArrowStream,
            _ => return None,
        })
    }

    /// Bytes no terminal should be sent.
    pub fn is_binary(self) -> bool {
        !matches!(self, OutputFormat::Csv | OutputFormat::Json)
    }
}

/// A destination for batches. `finish` completes the output and moves it into place.
pub trait BatchSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// Check the output's extension and `--compression` before any input is read.
pub fn check(path: &Path, compression: Option<&str>) -> anyhow::Result<()> {
    match OutputFormat::from_path(path)? {
        OutputFormat::Npz => npz_compression(compression).map(drop),
        OutputFormat::Npy => no_compression(compression, "npy"),
        format => check_stream_options(format, compression),
    }
}

/// Create the writer for `path` (format from its extension), writing batches of `schema`.
/// `compression` is the user's `--compression`, checked against the format.
pub fn create(
    path: &Path,
    schema: SchemaRef,
    compression: Option<&str>,
) -> anyhow::Result<Box<dyn BatchSink>> {
    let sink: Box<dyn BatchSink> = match OutputFormat::from_path(path)? {
        OutputFormat::Npy => {
            no_compression(compression, "npy")?;
            Box::new(ArraySink::try_new(path, schema, NpzCompression::Stored)?)
        }
        OutputFormat::Npz => Box::new(ArraySink::try_new(path, schema, npz_compression(compression)?)?),
        format => {
            check_stream_options(format, compression)?;
            let destination = Destination::file(path)?;
            let sink = stream_sink(format, destination, schema, compression).map_err(output_error(path))?;
            Box::new(FileSink { sink, target: path.to_path_buf() })
        }
    };
    Ok(sink)
}

/// A writer of one format onto a byte stream. `finish` completes the format (a Parquet
/// footer, an IPC end marker) and hands the stream back, so that another result can follow
/// on standard output.
pub trait StreamSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<W>;
}

/// The writer of `format` onto `out`, for batches of `schema`.
pub fn stream_sink<W: Write + Send + 'static>(
    format: OutputFormat,
    out: W,
    schema: SchemaRef,
    compression: Option<&str>,
) -> anyhow::Result<Box<dyn StreamSink<W>>> {
    Ok(match format {
        OutputFormat::Parquet => Box::new(ParquetSink::try_new(out, schema, parquet_compression(compression)?)?),
        OutputFormat::ArrowFile => Box::new(IpcSink::try_new(out, &schema, ipc_options(compression)?, true)?),
        OutputFormat::ArrowStream => Box::new(IpcSink::try_new(out, &schema, ipc_options(compression)?, false)?),
        OutputFormat::Csv => {
            no_compression(compression, "csv")?;
            Box::new(CsvSink::try_new(out, &schema)?)
        }
        OutputFormat::Json => {
            no_compression(compression, "json")?;
            Box::new(JsonSink::new(out))
        }
        OutputFormat::Npy | OutputFormat::Npz => {
            bail!("{format:?} is written to a file (npyq convert, or COPY ... STORED AS NPY), not to a stream")
        }
    })
}

fn check_stream_options(format: OutputFormat, compression: Option<&str>) -> anyhow::Result<()> {
    match format {
        OutputFormat::Parquet => parquet_compression(compression).map(drop),
        OutputFormat::ArrowFile | OutputFormat::ArrowStream => ipc_options(compression).map(drop),
        OutputFormat::Csv => no_compression(compression, "csv"),
        OutputFormat::Json => no_compression(compression, "json"),
        OutputFormat::Npy => no_compression(compression, "npy"),
        OutputFormat::Npz => npz_compression(compression).map(drop),
    }
}

/// A stream writer onto a file that appears when it is finished.
struct FileSink {
    sink: Box<dyn StreamSink<Destination>>,
    target: PathBuf,
}

impl BatchSink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.sink.write(batch).map_err(output_error(&self.target))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let FileSink { sink, target } = *self;
        sink.finish().map_err(output_error(&target))?.commit()
    }
}

// --- compression options -----------------------------------------------------------------

fn parquet_compression(name: Option<&str>) -> anyhow::Result<Compression> {
    Ok(match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("snappy") => Compression::SNAPPY,
        Some("zstd") => Compression::ZSTD(ZstdLevel::try_new(3)?),
        Some("gzip") => Compression::GZIP(GzipLevel::default()),
        Some("lz4") => Compression::LZ4_RAW,
        Some("none" | "uncompressed") => Compression::UNCOMPRESSED,
        Some(other) => {
            bail!("unknown --compression '{other}' for .parquet (choose snappy, zstd, gzip, lz4 or none)")
        }
    })
}

fn ipc_options(name: Option<&str>) -> anyhow::Result<IpcWriteOptions> {
    let compression = match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("none" | "uncompressed") => None,
        Some("lz4") => Some(CompressionType::LZ4_FRAME),
        Some("zstd") => Some(CompressionType::ZSTD),
        Some(other) => bail!("unknown --compression '{other}' for Arrow IPC (choose none, lz4 or zstd)"),
    };
    Ok(IpcWriteOptions::default().try_with_compression(compression)?)
}

fn npz_compression(name: Option<&str>) -> anyhow::Result<NpzCompression> {
    Ok(match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("stored" | "none") => NpzCompression::Stored,
        Some("deflate" | "deflated") => NpzCompression::Deflated,
        Some(other) => bail!("unknown --compression '{other}' for .npz (choose stored or deflate)"),
    })
}

fn no_compression(name: Option<&str>, format: &str) -> anyhow::Result<()> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("none") => Ok(()),
        Some(other) => bail!("--compression '{other}' does not apply to .{format} output"),
    }
}

// --- complete or absent --------------------------------------------------------------------

/// Where an output's bytes go: a file that appears under its name only once [`commit`]ted
/// (removed if dropped before), or standard output.
///
/// [`commit`]: Destination::commit
pub struct Destination {
    out: BufWriter<Box<dyn Write + Send>>,
    pending: Option<PendingFile>,
}

impl Destination {
    /// A temporary file beside `target`, renamed to `target` by [`Destination::commit`].
    pub fn file(target: &Path) -> anyhow::Result<Self> {
        let pending = PendingFile::new(target)?;
        let file = File::create(&pending.temp).with_context(|| format!("{}: cannot write", target.display()))?;
        Ok(Destination { out: buffered(Box::new(file)), pending: Some(pending) })
    }

    pub fn stdout() -> Self {
        Destination { out: buffered(Box::new(std::io::stdout())), pending: None }
    }

    /// Flush everything written and, for a file, move it into place.
    pub fn commit(self) -> anyhow::Result<()> {
        let Destination { out, pending } = self;
        let name = || pending.as_ref().map_or("standard output".to_string(), |p| p.target.display().to_string());
        // `into_inner` flushes, surfacing the write error a `Drop` would swallow.
        let mut inner = out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("{}: write failed", name()))?;
        inner.flush().with_context(|| format!("{}: write failed", name()))?;
        drop(inner);
        match pending {
            Some(pending) => pending.commit(),
            None => Ok(()),
        }
    }
}

impl Write for Destination {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Small enough that the large buffers writers emit (IPC bodies, Parquet pages) bypass it and
/// go to the file without a second copy; large enough to batch small writes.
fn buffered(out: Box<dyn Write + Send>) -> BufWriter<Box<dyn Write + Send>> {
    BufWriter::with_capacity(64 << 10, out)
}

/// A temporary file beside the final output; removed when dropped unless committed.
struct PendingFile {
    temp: tempfile::TempPath,
    target: PathBuf,
}

impl PendingFile {
    /// Create `.<name>.<random>.partial` in the output's directory (the same file system, so
    /// the final rename is atomic; hidden, and named as the library's `.npy` writer names its own).
    fn new(target: &Path) -> anyhow::Result<Self> {
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temp = datafusion_npy::format::writer::temp_file_in(dir, target)
            .with_context(|| format!("{}: cannot create a file in {}", target.display(), dir.display()))?;
        Ok(PendingFile { temp: temp.into_temp_path(), target: target.to_path_buf() })
    }

    /// Move the finished file into place.
    fn commit(self) -> anyhow::Result<()> {
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("{}: cannot rename into place", target.display()))
    }
}

fn output_error(target: &Path) -> impl Fn(anyhow::Error) -> anyhow::Error + '_ {
    move |e| e.context(target.display().to_string())
}

// --- Parquet -------------------------------------------------------------------------------

/// Rows in a Parquet row group at most; large groups compress and scan best.
const ROW_GROUP_ROWS: usize = 1 << 20;
/// Encoded bytes in a row group at most, so wide rows (embeddings) keep memory bounded.
const ROW_GROUP_BYTES: usize = 128 << 20;

/// Parquet as pyarrow writes it for the types Parquet lacks (second-precision timestamps become
/// milliseconds: see `datafusion_npy::datasource::parquet_types`), with [`parquet_properties`].
struct ParquetSink<W: Write + Send> {
    writer: ParallelParquetWriter<W>,
    /// The schema written, when some columns must be cast to it first.
    storable: Option<SchemaRef>,
}

impl<W: Write + Send> ParquetSink<W> {
    fn try_new(out: W, schema: SchemaRef, compression: Compression) -> anyhow::Result<Self> {
        let storable = parquet_storable_schema(&schema);
        let written = storable.clone().unwrap_or(schema);
        let properties = parquet_properties(&written, compression)?;
        let writer = ParallelParquetWriter::try_new(out, written, properties, ROW_GROUP_ROWS, ROW_GROUP_BYTES)?;
        Ok(ParquetSink { writer, storable })
    }
}

/// Writer settings for numeric arrays: dictionary encoding off for floating-point columns
/// (measured values rarely repeat, so the dictionary costs time and then gets abandoned), and
/// only per-row-group statistics for values inside lists (a min/max over every element of an
/// embedding column prunes nothing, and page indexes for them only add bytes).
pub fn parquet_properties(schema: &Schema, compression: Compression) -> anyhow::Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES));
    let parquet_schema = ArrowSchemaConverter::new().convert(schema)?;
    for column in parquet_schema.columns() {
        if is_floating_point(column) {
            builder = builder.set_column_dictionary_enabled(column.path().clone(), false);
        }
        if column.max_rep_level() > 0 {
            builder = builder.set_column_statistics_enabled(column.path().clone(), EnabledStatistics::Chunk);
        }
    }
    Ok(builder.build())
}

fn is_floating_point(column: &ColumnDescriptor) -> bool {
    matches!(column.physical_type(), PhysicalType::FLOAT | PhysicalType::DOUBLE)
        || matches!(column.logical_type_ref(), Some(LogicalType::Float16))
}

impl<W: Write + Send> StreamSink<W> for ParquetSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        match &self.storable {
            Some(schema) => self.writer.write(&cast_to_schema(batch, schema).map_err(from_arrow)?)?,
            None => self.writer.write(batch)?,
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> anyhow::Result<W> {
        self.writer.finish()
    }
}

// --- Arrow IPC -----------------------------------------------------------------------------

/// The Arrow IPC file (`.arrow`) or stream (`.arrows`) writer: the same calls on either.
enum IpcSink<W: Write> {
    File(FileWriter<W>),
    Stream(StreamWriter<W>),
}

impl<W: Write> IpcSink<W> {
    fn try_new(out: W, schema: &Schema, options: IpcWriteOptions, file: bool) -> anyhow::Result<Self> {
        let writer = if file {
            FileWriter::try_new_with_options(out, schema, options).map(IpcSink::File)
        } else {
            StreamWriter::try_new_with_options(out, schema, options).map(IpcSink::Stream)
        };
        writer.map_err(from_arrow)
    }
}

impl<W: Write> StreamSink<W> for IpcSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let written = match self {
            IpcSink::File(w) => w.write(batch),
            IpcSink::Stream(w) => w.write(batch),
        };
        written.map_err(from_arrow)
    }
    fn finish(self: Box<Self>) -> anyhow::Result<W> {
        let out = match *self {
            IpcSink::File(w) => w.into_inner(),
            IpcSink::Stream(w) => w.into_inner(),
        };
        out.map_err(from_arrow)
    }
}

// --- CSV -----------------------------------------------------------------------------------

/// CSV with a header row; struct columns become `parent.child` columns, list columns JSON
/// array text and bytes `\x` text (see [`CsvFlattener`]).
struct CsvSink<W: Write> {
    writer: csv::Writer<W>,
    flattener: CsvFlattener,
}

impl<W: Write> CsvSink<W> {
    fn try_new(out: W, schema: &SchemaRef) -> anyhow::Result<Self> {
        let flattener = CsvFlattener::new(schema);
        let mut writer = csv::WriterBuilder::new().with_header(true).build(out);
        // The header row, even when no rows follow.
        writer.write(&RecordBatch::new_empty(flattener.schema())).map_err(from_arrow)?;
        Ok(CsvSink { writer, flattener })
    }
}

impl<W: Write> StreamSink<W> for CsvSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let flat = self.flattener.flatten(batch)?;
        self.writer.write(&flat).map_err(from_arrow)
    }
    fn finish(self: Box<Self>) -> anyhow::Result<W> {
        Ok(self.writer.into_inner())
    }
}

// --- newline-delimited JSON ----------------------------------------------------------------

/// One JSON object per line, as [`text_form::json_writer`] sets it up.
struct JsonSink<W: Write> {
    writer: datafusion::arrow::json::Writer<W, LineDelimited>,
}

impl<W: Write> JsonSink<W> {
    fn new(out: W) -> Self {
        JsonSink { writer: text_form::json_writer().build::<_, LineDelimited>(out) }
    }
}

impl<W: Write> StreamSink<W> for JsonSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch).map_err(from_arrow)
    }
    fn finish(self: Box<Self>) -> anyhow::Result<W> {
        let JsonSink { mut writer } = *self;
        writer.finish().map_err(from_arrow)?;
        Ok(writer.into_inner())
    }
}

// --- .npy / .npz ---------------------------------------------------------------------------

/// The library's streaming `.npy`/`.npz` writer. It keeps the same promise as [`PendingFile`]
/// (a hidden temporary file beside the output, renamed into place by `finish`, removed if
/// dropped), so it is pointed at the output itself.
struct ArraySink {
    writer: ArrayFileWriter,
    target: PathBuf,
}

impl ArraySink {
    fn try_new(target: &Path, schema: SchemaRef, compression: NpzCompression) -> anyhow::Result<Self> {
        let writer = ArrayFileWriter::try_new(target, schema, WriteOptions { compression })
            .map_err(|e| anyhow::Error::new(e.in_file(target)))?;
        Ok(ArraySink { writer, target: target.to_path_buf() })
    }
}

impl BatchSink for ArraySink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch).map_err(|e| anyhow::Error::new(e.in_file(&self.target)))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        self.writer.finish().map_err(|e| anyhow::Error::new(e.in_file(&self.target)))
    }
}
