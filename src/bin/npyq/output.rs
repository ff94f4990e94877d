//! The outputs `npyq convert` writes, chosen by the output's extension, and the rule that an
//! output is complete or absent: every writer writes into a temporary file in the output's
//! directory, which is renamed into place only after the writer finished without error. On an
//! error (or a panic) the temporary file is removed; a process killed outright (Ctrl-C) may
//! leave the hidden temporary file, but never a partial file under the output's name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::json::writer::LineDelimited;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use datafusion::parquet::basic::{Compression, GzipLevel, LogicalType, Type as PhysicalType, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnDescriptor;
use datafusion_npy::{ArrayFileWriter, NpzCompression, WriteOptions};

use crate::csv_flatten::CsvFlattener;
use crate::input::from_arrow;

/// The output formats, by extension.
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
}

/// A destination for batches. `finish` completes the output and moves it into place.
pub trait BatchSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// Check the output's extension and `--compression` before any input is read.
pub fn check(path: &Path, compression: Option<&str>) -> anyhow::Result<()> {
    match OutputFormat::from_path(path)? {
        OutputFormat::Parquet => parquet_compression(compression).map(drop),
        OutputFormat::ArrowFile | OutputFormat::ArrowStream => ipc_options(compression).map(drop),
        OutputFormat::Npz => npz_compression(compression).map(drop),
        OutputFormat::Csv => no_compression(compression, "csv"),
        OutputFormat::Json => no_compression(compression, "json"),
        OutputFormat::Npy => no_compression(compression, "npy"),
    }
}

/// Create the writer for `path` (format from its extension), writing batches of `schema`.
/// `compression` is the user's `--compression`, checked against the format.
pub fn create(
    path: &Path,
    schema: SchemaRef,
    compression: Option<&str>,
) -> anyhow::Result<Box<dyn BatchSink>> {
    let format = OutputFormat::from_path(path)?;
    let sink: Box<dyn BatchSink> = match format {
        OutputFormat::Npy => {
            no_compression(compression, "npy")?;
            Box::new(ArraySink::try_new(path, schema, NpzCompression::Stored)?)
        }
        OutputFormat::Npz => Box::new(ArraySink::try_new(path, schema, npz_compression(compression)?)?),
        OutputFormat::Parquet => Box::new(ParquetSink::try_new(
            PendingFile::new(path)?,
            schema,
            parquet_compression(compression)?,
        )?),
        OutputFormat::ArrowFile => {
            let options = ipc_options(compression)?;
            Box::new(IpcSink::try_new(PendingFile::new(path)?, &schema, options, true)?)
        }
        OutputFormat::ArrowStream => {
            let options = ipc_options(compression)?;
            Box::new(IpcSink::try_new(PendingFile::new(path)?, &schema, options, false)?)
        }
        OutputFormat::Csv => {
            no_compression(compression, "csv")?;
            Box::new(CsvSink::try_new(PendingFile::new(path)?, &schema)?)
        }
        OutputFormat::Json => {
            no_compression(compression, "json")?;
            Box::new(JsonSink::new(PendingFile::new(path)?)?)
        }
    };
    Ok(sink)
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

    /// A buffered handle on the temporary file.
    fn writer(&self) -> anyhow::Result<BufWriter<File>> {
        let file =
            File::create(&self.temp).with_context(|| format!("{}: cannot write", self.target.display()))?;
        // Small enough that the large buffers writers emit (IPC bodies, Parquet pages) bypass
        // it and go to the file without a second copy; large enough to batch small writes.
        Ok(BufWriter::with_capacity(64 << 10, file))
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

/// Flush a buffered file, surfacing the write error a `Drop` would swallow.
fn close(writer: BufWriter<File>, target: &Path) -> anyhow::Result<()> {
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("{}: write failed", target.display()))?;
    drop(file);
    Ok(())
}

fn output_error(target: &Path) -> impl Fn(anyhow::Error) -> anyhow::Error + '_ {
    move |e| e.context(target.display().to_string())
}

// --- Parquet -------------------------------------------------------------------------------

/// Rows in a Parquet row group at most; large groups compress and scan best.
const ROW_GROUP_ROWS: usize = 1 << 20;
/// Encoded bytes in a row group at most, so wide rows (embeddings) keep memory bounded.
const ROW_GROUP_BYTES: usize = 128 << 20;

struct ParquetSink {
    writer: ArrowWriter<BufWriter<File>>,
    pending: PendingFile,
}

impl ParquetSink {
    fn try_new(pending: PendingFile, schema: SchemaRef, compression: Compression) -> anyhow::Result<Self> {
        let properties = parquet_properties(&schema, compression)?;
        let writer = ArrowWriter::try_new(pending.writer()?, schema, Some(properties))
            .map_err(anyhow::Error::new)
            .map_err(output_error(&pending.target))?;
        Ok(ParquetSink { writer, pending })
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

impl BatchSink for ParquetSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch).map_err(anyhow::Error::new).map_err(output_error(&self.pending.target))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let ParquetSink { writer, pending } = *self;
        let file = writer.into_inner().map_err(anyhow::Error::new).map_err(output_error(&pending.target))?;
        close(file, &pending.target)?;
        pending.commit()
    }
}

// --- Arrow IPC -----------------------------------------------------------------------------

/// The Arrow IPC file (`.arrow`) or stream (`.arrows`) writer: the same calls on either.
enum IpcWriter {
    File(FileWriter<BufWriter<File>>),
    Stream(StreamWriter<BufWriter<File>>),
}

struct IpcSink {
    writer: IpcWriter,
    pending: PendingFile,
}

impl IpcSink {
    fn try_new(pending: PendingFile, schema: &Schema, options: IpcWriteOptions, file: bool) -> anyhow::Result<Self> {
        let out = pending.writer()?;
        let writer = if file {
            FileWriter::try_new_with_options(out, schema, options).map(IpcWriter::File)
        } else {
            StreamWriter::try_new_with_options(out, schema, options).map(IpcWriter::Stream)
        };
        let writer = writer.map_err(from_arrow).map_err(output_error(&pending.target))?;
        Ok(IpcSink { writer, pending })
    }
}

impl BatchSink for IpcSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let written = match &mut self.writer {
            IpcWriter::File(w) => w.write(batch),
            IpcWriter::Stream(w) => w.write(batch),
        };
        written.map_err(from_arrow).map_err(output_error(&self.pending.target))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let IpcSink { writer, pending } = *self;
        let file = match writer {
            IpcWriter::File(w) => w.into_inner(),
            IpcWriter::Stream(w) => w.into_inner(),
        };
        let file = file.map_err(from_arrow).map_err(output_error(&pending.target))?;
        close(file, &pending.target)?;
        pending.commit()
    }
}

// --- CSV -----------------------------------------------------------------------------------

/// CSV with a header row; struct columns become `parent.child` columns and list columns JSON
/// array text (see [`CsvFlattener`]).
struct CsvSink {
    writer: datafusion::arrow::csv::Writer<BufWriter<File>>,
    flattener: CsvFlattener,
    pending: PendingFile,
}

impl CsvSink {
    fn try_new(pending: PendingFile, schema: &SchemaRef) -> anyhow::Result<Self> {
        let flattener = CsvFlattener::new(schema);
        let mut writer =
            datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(pending.writer()?);
        // The header row, even when no rows follow.
        writer
            .write(&RecordBatch::new_empty(flattener.schema()))
            .map_err(from_arrow)
            .map_err(output_error(&pending.target))?;
        Ok(CsvSink { writer, flattener, pending })
    }
}

impl BatchSink for CsvSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let flat = self.flattener.flatten(batch).map_err(output_error(&self.pending.target))?;
        self.writer.write(&flat).map_err(from_arrow).map_err(output_error(&self.pending.target))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let CsvSink { writer, pending, .. } = *self;
        close(writer.into_inner(), &pending.target)?;
        pending.commit()
    }
}

// --- newline-delimited JSON ----------------------------------------------------------------

/// One JSON object per line; nulls written as `null` so every line has every key.
struct JsonSink {
    writer: datafusion::arrow::json::Writer<BufWriter<File>, LineDelimited>,
    pending: PendingFile,
}

impl JsonSink {
    fn new(pending: PendingFile) -> anyhow::Result<Self> {
        let writer = datafusion::arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(pending.writer()?);
        Ok(JsonSink { writer, pending })
    }
}

impl BatchSink for JsonSink {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch).map_err(from_arrow).map_err(output_error(&self.pending.target))
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let JsonSink { mut writer, pending } = *self;
        writer.finish().map_err(from_arrow).map_err(output_error(&pending.target))?;
        close(writer.into_inner(), &pending.target)?;
        pending.commit()
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
