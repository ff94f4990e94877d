//! Arrow streams (`read`, `sql`), `convert` and `schema`.
//!
//! A stream is handed to Python through the Arrow PyCapsule interface (`__arrow_c_stream__`):
//! pyarrow, DuckDB, Polars and others import the `ArrowArrayStream` and pull batches from it. The
//! batches of `read` are the library's, so a column the reader maps without copying reaches
//! pyarrow as a buffer inside the memory map.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use datafusion::arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ffi::FFI_ArrowSchema;
use datafusion::arrow::ffi_stream::FFI_ArrowArrayStream;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use datafusion_npy::datasource::{NpyFormatOptions, SessionContextNpyExt, ROW_COLUMN};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{self, plain, NpyError};
use crate::{input, output};

/// The one runtime of the module: queries of `sql`, remote reads, and the scans of tables handed
/// to datafusion-python (whose own tokio is a different copy of the library, so our code cannot
/// spawn on it).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("datafusion-npy")
            .enable_all()
            .build()
            .expect("starting the tokio runtime of datafusion_npy")
    })
}

/// Record batches for Python: `__arrow_c_stream__` hands them over once.
#[pyclass(module = "datafusion_npy", frozen)]
pub struct NpyStream {
    schema: SchemaRef,
    reader: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
}

impl NpyStream {
    fn new(reader: Box<dyn RecordBatchReader + Send>) -> Self {
        NpyStream { schema: reader.schema(), reader: Mutex::new(Some(reader)) }
    }
}

#[pymethods]
impl NpyStream {
    /// The Arrow C stream of the batches (consumed: a second call raises `NpyError`).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The protocol lets a producer ignore a requested schema it does not match; the
        // consumer casts if it must.
        let _ = requested_schema;
        let reader = self
            .reader
            .lock()
            .map_err(|_| NpyError::new_err("stream lock poisoned"))?
            .take()
            .ok_or_else(|| NpyError::new_err("this stream was consumed already (read() or sql() again for another)"))?;
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), c"arrow_array_stream")
    }

    /// The Arrow C schema of the batches (`pyarrow.schema(stream)`).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        format!("NpyStream(columns={names:?})")
    }
}

fn schema_capsule<'py>(py: Python<'py>, schema: &SchemaRef) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref()).map_err(|e| NpyError::new_err(e.to_string()))?;
    PyCapsule::new_with_value(py, ffi, c"arrow_schema")
}

/// What `schema(path)` returns: the Arrow schema (`__arrow_c_schema__`) and the row count.
#[pyclass(module = "datafusion_npy", frozen)]
pub struct NpySchema {
    schema: SchemaRef,
    #[pyo3(get)]
    num_rows: u64,
    text: String,
}

#[pymethods]
impl NpySchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    /// Column names, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!("NpySchema(columns={:?}, num_rows={})", self.names(), self.num_rows)
    }
}

fn is_url(path: &str) -> bool {
    path.contains("://")
}

/// `read()`: a local file through the library's reader (memory-mapped, zero-copy where the bytes
/// allow), a URL through a DataFusion scan.
pub fn read(path: &str, columns: Option<Vec<String>>, member: Option<String>) -> anyhow::Result<NpyStream> {
    if is_url(path) {
        return read_url(path, columns, member);
    }
    let file = Path::new(path);
    let table = if file.is_dir() {
        bail!("{path}: a directory; read one .npy/.npz file, or query the directory with sql(..., dirs=[...])")
    } else {
        match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("npy") if member.is_some() => bail!("{path}: member= applies only to .npz files"),
            // The CLI's wording, with the CLI's option named as this function's argument.
            Some("npy" | "npz") => input::open_table(file, member.as_deref()).map_err(|e| {
                let line = errors::one_line(&e);
                match line.contains("--member NAME") {
                    true => anyhow::anyhow!("{}", line.replace("convert one with --member NAME", "read one with member=NAME")),
                    false => e,
                }
            })?,
            _ => bail!("{path}: not a .npy or .npz file"),
        }
    };
    let schema = table.schema();
    let mut reader = table.reader();
    if let Some(columns) = &columns {
        reader = reader.with_projection(projection(path, &schema, columns)?);
    }
    // Zero-copy columns cost nothing per row: one batch (per 2^31 rows or so) keeps a whole
    // column contiguous, so `to_numpy()` of it needs no concatenation (no copy).
    let reader = reader.with_zero_copy_batch_bytes(usize::MAX / 2).build().map_err(|e| e.in_file(file))?;
    Ok(NpyStream::new(Box::new(reader)))
}

fn projection(path: &str, schema: &SchemaRef, columns: &[String]) -> anyhow::Result<Vec<usize>> {
    columns
        .iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                anyhow::anyhow!("{path}: no column '{name}' (columns: {})", known.join(", "))
            })
        })
        .collect()
}

/// A URL through DataFusion's object stores: the table's columns (without `_row`), streamed.
fn read_url(url: &str, columns: Option<Vec<String>>, member: Option<String>) -> anyhow::Result<NpyStream> {
    let rt = runtime();
    let stream = rt.block_on(async {
        let ctx = SessionContext::new();
        let options = NpyFormatOptions { member, ..Default::default() };
        // `read_npy` builds the URL's store from the environment (AWS_*, ...) as the CLI does;
        // an unknown scheme is a one-line error naming the URL.
        let frame = ctx.read_npy(url, options).await.map_err(plain)?;
        let names: Vec<String> = match columns {
            Some(columns) => {
                let schema = frame.schema().inner().clone();
                projection(url, &schema, &columns)?;
                columns
            }
            None => frame.schema().fields().iter().map(|f| f.name().clone()).filter(|n| n != ROW_COLUMN).collect(),
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let frame = frame.select_columns(&names).map_err(plain)?;
        frame.execute_stream().await.map_err(plain).with_context(|| url.to_string())
    })?;
    Ok(NpyStream::new(Box::new(BlockingStream { stream })))
}

/// An async DataFusion stream pulled batch by batch on the module's runtime.
struct BlockingStream {
    stream: SendableRecordBatchStream,
}

impl Iterator for BlockingStream {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        runtime()
            .block_on(self.stream.next())
            // The CLI's one-line message, not DataFusion's nested one.
            .map(|batch| batch.map_err(|e| ArrowError::ExternalError(plain(e).into())))
    }
}

impl RecordBatchReader for BlockingStream {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}

/// `sql()`: the CLI's session (every `dirs` entry served as tables), every statement run in
/// order; the result of the last one that returns columns. The statements run with the GIL
/// released and Ctrl-C checked every 50 ms (it raises `KeyboardInterrupt` and cancels the query)
/// until the result's first batch is ready: an aggregate, a sort or a join has done its work by
/// then. The rest of a result that streams (a scan, a filter) is produced as the consumer pulls
/// it, so a large result is never held whole.
pub fn sql(py: Python<'_>, query: &str, dirs: &[PathBuf]) -> PyResult<NpyStream> {
    let query = query.to_string();
    let dirs = dirs.to_vec();
    let mut task = runtime().spawn(async move { run_sql(&query, &dirs).await });
    loop {
        let waited = py.detach(|| runtime().block_on(async { tokio::time::timeout(Duration::from_millis(50), &mut task).await }));
        match waited {
            Ok(Ok(result)) => {
                let reader: Box<dyn RecordBatchReader + Send> = match result.map_err(errors::to_py)? {
                    SqlResult::Collected(schema, batches) => {
                        Box::new(RecordBatchIterator::new(batches.into_iter().map(Ok), schema))
                    }
                    SqlResult::Streaming { first, stream } => Box::new(FirstThenRest { first, rest: BlockingStream { stream } }),
                };
                return Ok(NpyStream::new(reader));
            }
            Ok(Err(join_error)) => return Err(NpyError::new_err(format!("the query failed: {join_error}"))),
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}

/// What `run_sql` hands back: the last statement's result still streaming (with its first batch
/// already produced), or an earlier statement's result, collected because statements after it
/// had to run.
enum SqlResult {
    Collected(SchemaRef, Vec<RecordBatch>),
    Streaming { first: Option<RecordBatch>, stream: SendableRecordBatchStream },
}

async fn run_sql(sql: &str, dirs: &[PathBuf]) -> anyhow::Result<SqlResult> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    ctx.register_npy_format()?;
    for dir in dirs {
        ctx.register_npy_dir(dir).map_err(plain).with_context(|| format!("dirs: {}", dir.display()))?;
    }
    let statements = DFParser::parse_sql(sql).map_err(|e| plain(e.into()))?;
    let count = statements.len();
    let mut last = SqlResult::Collected(Arc::new(Schema::empty()), Vec::new());
    for (index, statement) in statements.into_iter().enumerate() {
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(plain)?;
        let frame = ctx.execute_logical_plan(plan).await.map_err(plain)?;
        let schema = frame.schema().inner().clone();
        let mut stream = frame.execute_stream().await.map_err(plain)?;
        if index + 1 == count && !schema.fields().is_empty() {
            let first = stream.next().await.transpose().map_err(plain)?;
            return Ok(SqlResult::Streaming { first, stream });
        }
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.map_err(plain)?);
        }
        if !schema.fields().is_empty() {
            last = SqlResult::Collected(schema, batches);
        }
    }
    Ok(last)
}

/// The first batch `run_sql` waited for, then the rest of the stream.
struct FirstThenRest {
    first: Option<RecordBatch>,
    rest: BlockingStream,
}

impl Iterator for FirstThenRest {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.first.take() {
            Some(batch) => Some(Ok(batch)),
            None => self.rest.next(),
        }
    }
}

impl RecordBatchReader for FirstThenRest {
    fn schema(&self) -> SchemaRef {
        self.rest.schema()
    }
}

/// `convert()`: `npyq convert` (the same reader, writers and checks), without the progress bar.
pub fn convert(src: &Path, dst: &Path, member: Option<&str>, compression: Option<&str>) -> anyhow::Result<()> {
    output::check(dst, compression)?;
    let opened = input::open(src, member).map_err(|e| naming(e, src))?;
    let mut sink = output::create(dst, opened.schema.clone(), compression)?;
    for batch in opened.batches {
        let batch = batch.map_err(|e| naming(e, src))?;
        sink.write(&batch)?;
    }
    sink.finish()
}

/// An input error names the input (as the CLI's `convert` makes sure).
fn naming(e: anyhow::Error, input: &Path) -> anyhow::Error {
    let shown = input.display().to_string();
    if format!("{e:#}").contains(&shown) {
        e
    } else {
        e.context(shown)
    }
}

/// `schema()`: a file's Arrow schema and rows from its headers only; `str()` of it is what
/// `npyq schema` prints.
pub fn schema(path: &str) -> anyhow::Result<NpySchema> {
    let file = Path::new(path);
    let text = crate::schema_text::describe(file)?;
    let table = input::open_table(file, None)?;
    Ok(NpySchema { schema: table.schema(), num_rows: table.num_rows(), text })
}
