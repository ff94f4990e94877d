//! The inputs `npyq convert` reads: `.npy`, `.npz` (all members or one), a directory of shards,
//! and, so that the conversion also runs backwards, `.parquet` and Arrow IPC files/streams.
//!
//! Every input becomes the same thing: a schema, a row total when the input knows it (for the
//! progress bar), and a lazy iterator of batches. Nothing is read before batches are pulled.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::reader::{FileReader, StreamReader};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion_npy::datasource::file_format::{directory_file_kind, Extension};
use datafusion_npy::datasource::natural::natural_cmp;
use datafusion_npy::format::dtype::DType;
use datafusion_npy::{ErrorKind, NpyError, NpyTable, OpenOptions};


/// Rows per batch for the inputs whose reader lets us choose (Parquet); the `.npy` reader's
/// own default (65,536 rows, at most 16 MiB) applies to numpy inputs.
const BATCH_ROWS: usize = 65_536;

/// Batches of an input, pulled lazily.
pub type Batches = Box<dyn Iterator<Item = anyhow::Result<RecordBatch>>>;

/// An opened input.
pub struct Input {
    pub schema: SchemaRef,
    /// Rows in total, when the input's metadata says so without reading data.
    pub total_rows: Option<u64>,
    pub batches: Batches,
}

/// What kind of input a path is.
enum InputKind {
    Npy,
    Npz,
    Directory,
    Parquet,
    IpcFile,
    IpcStream,
}

const SUPPORTED_INPUTS: &str = ".npy, .npz, a directory of .npy/.npz files, .parquet, .arrow, .arrows";

fn input_kind(path: &Path) -> anyhow::Result<InputKind> {
    if path.is_dir() {
        return Ok(InputKind::Directory);
    }
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    Ok(match extension.as_deref() {
        Some("npy") => InputKind::Npy,
        Some("npz") => InputKind::Npz,
        Some("parquet") => InputKind::Parquet,
        Some("arrow" | "feather" | "ipc") => InputKind::IpcFile,
        Some("arrows") => InputKind::IpcStream,
        _ => bail!("{}: unsupported input (supported: {SUPPORTED_INPUTS})", path.display()),
    })
}

/// Open `path` for reading; `member` selects one member of an `.npz` (or of every `.npz` shard).
pub fn open(path: &Path, member: Option<&str>) -> anyhow::Result<Input> {
    let shown = path.to_string_lossy();
    if datafusion_npy::datasource::object_stores::is_remote(&shown) {
        return open_remote(&shown, member);
    }
    let kind = input_kind(path)?;
    if member.is_some() && !matches!(kind, InputKind::Npz | InputKind::Directory) {
        bail!("{}: --member applies only to .npz input (or a directory of .npz files)", path.display());
    }
    match kind {
        InputKind::Npy | InputKind::Npz => {
            let table = open_table(path, member)?;
            Ok(Input {
                schema: table.schema(),
                total_rows: Some(table.num_rows()),
                batches: table_batches(&table, None)?,
            })
        }
        InputKind::Directory => open_shards(path, member),
        InputKind::Parquet => open_parquet(path),
        InputKind::IpcFile => open_ipc_file(path),
        InputKind::IpcStream => open_ipc_stream(path),
    }
}

/// A `.npy` or `.npz` file as a table (one member of the `.npz` when `member` is given).
pub fn open_table(path: &Path, member: Option<&str>) -> anyhow::Result<NpyTable> {
    let table = match member {
        Some(member) => NpyTable::open_npz_member(path, member, &OpenOptions::default()),
        None => NpyTable::open(path),
    };
    table.map_err(|e| match e.kind {
        ErrorKind::LengthMismatch { .. } => {
            anyhow::anyhow!("{} (convert one with --member NAME)", e.in_file(path))
        }
        _ => anyhow::Error::new(e.in_file(path)),
    })
}

/// The table's batches; with `schema`, each batch is re-labelled with it (same column types).
fn table_batches(table: &NpyTable, schema: Option<SchemaRef>) -> anyhow::Result<Batches> {
    let path = table.path().to_path_buf();
    let reader = table.reader().build().map_err(|e| anyhow::Error::new(e.in_file(&path)))?;
    Ok(Box::new(reader.map(move |batch| {
        let batch = batch.map_err(from_arrow)?;
        match &schema {
            Some(schema) => RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| anyhow::Error::new(e).context(path.display().to_string())),
            None => Ok(batch),
        }
    })))
}

/// An Arrow error as an `anyhow` error, unwrapping our own [`NpyError`] (which names the file,
/// member and column) from Arrow's `ExternalError` so the message reads cleanly.
pub fn from_arrow(e: ArrowError) -> anyhow::Error {
    match e {
        ArrowError::ExternalError(inner) => match inner.downcast::<NpyError>() {
            Ok(npy) => anyhow::Error::new(*npy),
            Err(other) => anyhow::anyhow!(other),
        },
        other => anyhow::Error::new(other),
    }
}

// --- a directory of shards ---------------------------------------------------------------

/// The `.npy` or `.npz` files directly inside `dir` (hidden files skipped), in natural order:
/// the one kind the directory holds, or the `.npz` files when a `member` of them is asked for
/// (the library's rule for a table's files, as SQL applies it).
pub fn shard_files(dir: &Path, member: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list directory", dir.display()))?
    {
        let path = entry.with_context(|| format!("{}: cannot list directory", dir.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with('.') && path.is_file() && shard_kind(&path).is_some() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Ok(files);
    }
    let count = |kind: Extension| files.iter().filter(|f| shard_kind(f) == Some(kind)).count();
    let chosen = member.map(|_| Extension::Npz);
    let kind = directory_file_kind(count(Extension::Npy), count(Extension::Npz), chosen)
        .map_err(|why| anyhow::anyhow!("{} {why}", dir.display()))?;
    files.retain(|f| shard_kind(f) == Some(kind));
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(files)
}

fn shard_kind(path: &Path) -> Option<Extension> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "npy" => Some(Extension::Npy),
        "npz" => Some(Extension::Npz),
        _ => None,
    }
}

/// All shards of `dir` as one table: the files in natural order, with one schema.
fn open_shards(dir: &Path, member: Option<&str>) -> anyhow::Result<Input> {
    let files = shard_files(dir, member)?;
    if files.is_empty() {
        let has_subdirectories =
            std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.path().is_dir());
        let note = if has_subdirectories { " (subdirectories are not read: convert each one)" } else { "" };
        bail!("{}: no .npy or .npz files in the directory{note}", dir.display());
    }
    let dir_name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "data".to_string());
    let tables = files.iter().map(|f| open_table(f, member)).collect::<anyhow::Result<Vec<_>>>()?;
    let schemas: Vec<SchemaRef> = tables.iter().map(|t| shard_schema(t, &dir_name)).collect();
    let schema = common_schema(&files, &schemas)?;
    let total_rows = tables.iter().map(NpyTable::num_rows).sum();
    let shard_schema = schema.clone();
    let batches =
        tables.into_iter().flat_map(move |table| match table_batches(&table, Some(shard_schema.clone())) {
            Ok(batches) => batches,
            Err(e) => Box::new(std::iter::once(Err(e))) as Batches,
        });
    Ok(Input { schema, total_rows: Some(total_rows), batches: Box::new(batches) })
}

/// A shard's schema, with a plain (non-record) `.npy` array's column named after the directory
/// rather than the file (SPEC §3), so that `part-1.npy` and `part-2.npy` agree.
fn shard_schema(table: &NpyTable, dir_name: &str) -> SchemaRef {
    let schema = table.schema();
    let arrays = table.arrays();
    let is_plain_npy = table.path().extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
        && arrays.len() == 1
        && !matches!(arrays[0].header.dtype, DType::Record(_))
        && schema.fields().len() == 1;
    if !is_plain_npy {
        return schema;
    }
    let field = schema.field(0).as_ref().clone().with_name(dir_name);
    Arc::new(Schema::new_with_metadata(vec![field], schema.metadata().clone()))
}

/// The schema all shards share: equal column names and types (field metadata such as the
/// original byte order may differ). A column is nullable when it is in any shard.
fn common_schema(files: &[PathBuf], schemas: &[SchemaRef]) -> anyhow::Result<SchemaRef> {
    let first = &schemas[0];
    let mut fields: Vec<Field> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (file, schema) in files.iter().zip(schemas).skip(1) {
        let same_columns = schema.fields().len() == fields.len()
            && schema
                .fields()
                .iter()
                .zip(&fields)
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same_columns {
            bail!(
                "{}: its columns ({}) differ from those of {} ({})",
                file.display(),
                describe_columns(schema),
                files[0].display(),
                describe_columns(first)
            );
        }
        for (field, other) in fields.iter_mut().zip(schema.fields()) {
            if other.is_nullable() && !field.is_nullable() {
                *field = field.clone().with_nullable(true);
            }
        }
    }
    Ok(Arc::new(Schema::new_with_metadata(fields, first.metadata().clone())))
}

fn describe_columns(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ")
}

// --- Parquet and Arrow IPC -----------------------------------------------------------------

fn open_file(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("{}: cannot open", path.display()))
}

fn open_parquet(path: &Path) -> anyhow::Result<Input> {
    let context = || path.display().to_string();
    let builder = ParquetRecordBatchReaderBuilder::try_new(open_file(path)?).with_context(context)?;
    let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).ok();
    // The reader's schema lacks the file's schema-level metadata (the numpy facts `.npy` output
    // honours, such as a record array's descr and shape): take it from the stored Arrow schema.
    let metadata = builder.schema().metadata().clone();
    let reader = builder.with_batch_size(BATCH_ROWS).build().with_context(context)?;
    let schema = Arc::new(Schema::new_with_metadata(reader.schema().fields().clone(), metadata));
    let name = context();
    let batches = reader.map(move |b| b.map_err(|e| from_arrow(e).context(name.clone())));
    Ok(Input { schema, total_rows, batches: Box::new(batches) })
}

fn open_ipc_file(path: &Path) -> anyhow::Result<Input> {
    let context = || path.display().to_string();
    let reader = FileReader::try_new(BufReader::new(open_file(path)?), None).with_context(context)?;
    let schema = reader.schema();
    let name = context();
    let batches = reader.map(move |b| b.map_err(|e| from_arrow(e).context(name.clone())));
    Ok(Input { schema, total_rows: None, batches: Box::new(batches) })
}

fn open_ipc_stream(path: &Path) -> anyhow::Result<Input> {
    let context = || path.display().to_string();
    let reader = StreamReader::try_new(BufReader::new(open_file(path)?), None).with_context(context)?;
    let schema = reader.schema();
    let name = context();
    let batches = reader.map(move |b| b.map_err(|e| from_arrow(e).context(name.clone())));
    Ok(Input { schema, total_rows: None, batches: Box::new(batches) })
}

/// A `.npy`/`.npz` object (or prefix of shards) of a remote store (`s3://...`), read through
/// the library's scan: by byte range, a few ranges in flight, in row order. The runtime lives
/// as long as the batches are pulled.
fn open_remote(url: &str, member: Option<&str>) -> anyhow::Result<Input> {
    use datafusion::prelude::SessionContext;
    use datafusion_npy::datasource::{NpyFormatOptions, SessionContextNpyExt, ROW_COLUMN};
    use futures::StreamExt;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let mut stream = runtime.block_on(async {
        let ctx = SessionContext::new();
        let options = NpyFormatOptions { member: member.map(str::to_string), ..NpyFormatOptions::default() };
        let frame = ctx.read_npy(url, options).await?;
        let columns: Vec<String> =
            frame.schema().fields().iter().map(|f| f.name().clone()).filter(|name| name != ROW_COLUMN).collect();
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        frame.select_columns(&columns)?.execute_stream().await
    })?;
    let schema = stream.schema();
    let batches = std::iter::from_fn(move || runtime.block_on(stream.next()).map(|b| b.map_err(anyhow::Error::from)));
    Ok(Input { schema, total_rows: None, batches: Box::new(batches) })
}
