//! `npyq sql`: SQL over directories of `.npy`/`.npz` files.
//!
//! With a query (or `--file F.sql`, several statements allowed) it runs the statements and
//! writes the results; without one it opens the interactive shell (`sql_shell.rs`). Every
//! `--dir` is served as tables by `SessionContextNpyExt::register_npy_dir`, and `STORED AS NPY`
//! works in `CREATE EXTERNAL TABLE` and `COPY`. Results are written as they arrive (the table
//! format, which needs every row to size its columns, excepted).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use futures::StreamExt;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use datafusion_npy::datasource::SessionContextNpyExt;
use datafusion_npy::NpyError;

use crate::output;

#[path = "sql_shell.rs"]
mod sql_shell;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// A directory (or file) to serve as tables; may be repeated
    #[arg(long = "dir")]
    pub dirs: Vec<PathBuf>,
    /// Output format: table, csv, json, parquet, arrow (IPC file), arrows (IPC stream); without
    /// it, the --output file's extension chooses (else table)
    #[arg(long)]
    pub format: Option<String>,
    /// Write results here instead of standard output
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Read the SQL from this file
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Let rows come in whatever order the partitions finish instead of `_row` order (faster
    /// for large outputs; same as `SET npy.preserve_row_order = false`)
    #[arg(long)]
    pub any_order: bool,
    /// Run over these datafusion-distributed workers (`npyq worker`), comma-separated
    /// `host:port` or `http://host:port`; they must see the data at the same paths
    #[arg(long)]
    pub workers: Option<String>,
    /// The query (an interactive shell opens without one)
    pub query: Option<String>,
}

/// How results are written: Arrow's pretty table, or one of the CLI's output formats (the same
/// writers and settings as `npyq convert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    Table,
    Written(output::OutputFormat),
}

impl ResultFormat {
    /// `--format NAME`; without one, the `--output` file's extension, else the table.
    fn choose(name: Option<&str>, output: Option<&Path>) -> anyhow::Result<Self> {
        match (name, output) {
            (Some(name), _) if name.eq_ignore_ascii_case("table") => Ok(ResultFormat::Table),
            (Some(name), _) => output::OutputFormat::from_name(name)
                .map(ResultFormat::Written)
                .ok_or_else(|| anyhow::anyhow!("unknown --format '{name}' (table, csv, json, parquet, arrow, arrows)")),
            (None, Some(path)) if path.extension().is_some() => match output::OutputFormat::from_path(path)? {
                output::OutputFormat::Npy | output::OutputFormat::Npz => {
                    bail!("{}: write .npy/.npz with COPY (query) TO '...' STORED AS NPY", path.display())
                }
                format => Ok(ResultFormat::Written(format)),
            },
            (None, _) => Ok(ResultFormat::Table),
        }
    }

    /// Whether a terminal can show it.
    pub fn is_printable(self) -> bool {
        match self {
            ResultFormat::Table => true,
            ResultFormat::Written(format) => !format.is_binary(),
        }
    }
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let format = ResultFormat::choose(args.format.as_deref(), args.output.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let ctx = session(&args.dirs, !args.any_order).await?;
        let workers = match &args.workers {
            Some(list) => {
                let workers = datafusion_npy::distributed::FixedWorkers::parse(list).context("--workers")?;
                datafusion_npy::distributed::distribute(&ctx, workers.clone())?;
                Some(workers)
            }
            None => None,
        };
        let sql = match (&args.query, &args.file) {
            (Some(_), Some(_)) => bail!("give a query or --file, not both"),
            (Some(query), None) => query.clone(),
            (None, Some(file)) => {
                std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
            }
            (None, None) => {
                if args.output.is_some() {
                    bail!("--output needs a query or --file");
                }
                return sql_shell::run(&ctx, format).await;
            }
        };
        let mut out = ResultWriter::new(format, args.output.as_deref())?;
        let result = run_sql(&ctx, &sql, &mut out).await;
        if let (Err(e), Some(workers)) = (&result, &workers) {
            // A worker that died mid-query breaks a stream without being named: say which.
            let down = workers.unreachable(std::time::Duration::from_secs(2)).await;
            if !down.is_empty() {
                let names: Vec<String> = down.iter().map(|u| u.to_string()).collect();
                bail!("worker {} unreachable: {}", names.join(", "), crate::one_line(e));
            }
        }
        result?;
        out.finish()
    })
}

/// A session with the NPY format and every `--dir` registered (rows in `_row` order unless
/// `keep_row_order` is false).
async fn session(dirs: &[PathBuf], keep_row_order: bool) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_format()?;
    if !keep_row_order {
        ctx.state_ref().write().config_mut().options_mut().set("npy.preserve_row_order", "false")?;
    }
    for dir in dirs {
        // A directory, or a remote prefix (s3://bucket/prefix/ and the like, read by range).
        ctx.register_npy_dir(dir).with_context(|| format!("--dir {}", dir.display()))?;
    }
    Ok(ctx)
}

/// Run every statement of `sql` in order, writing the results of those that return columns.
pub async fn run_sql(ctx: &SessionContext, sql: &str, out: &mut ResultWriter) -> anyhow::Result<()> {
    let statements = DFParser::parse_sql(sql).map_err(plain_error)?;
    for statement in statements {
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(plain_error)?;
        // Over workers, EXPLAIN shows the stages and tasks the engine runs (DataFusion's own
        // EXPLAIN renders the plan before distribution).
        if let Some(text) = datafusion_npy::distributed::explain_distributed(&state, &plan).await.map_err(plain_error)? {
            let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter([(
                "distributed_plan",
                std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![text])) as datafusion::arrow::array::ArrayRef,
            )])?;
            out.write_batches(batch).await?;
            continue;
        }
        let frame = ctx.execute_logical_plan(plan).await.map_err(plain_error)?;
        let schema = frame.schema().inner().clone();
        let mut stream = frame.execute_stream().await.map_err(plain_error)?;
        if schema.fields().is_empty() {
            while let Some(batch) = stream.next().await {
                batch.map_err(plain_error)?;
            }
        } else {
            out.write_stream(schema, stream).await?;
        }
        release_free_memory();
    }
    Ok(())
}

/// Hands the heap's free pages back to the system after a statement. A statement over many
/// files frees megabytes that its blocking-pool threads allocated, in heaps of their own (glibc
/// arenas) which the next statement's threads may not reuse: without this, a second `count(*)`
/// over 100,000 shards in one session peaked 6 MB above the first. About a millisecond.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only gives free memory of glibc's heaps back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A file's error as the crate words it (`data/x.npy: not an .npy file ...`), without the
/// `External error: ` / `Arrow error: ` wrappers DataFusion adds on the way up; a syntax error
/// as the parser words it.
fn plain_error(e: DataFusionError) -> anyhow::Error {
    if let DataFusionError::SQL(parse_error, _) = &e {
        return anyhow::anyhow!("{parse_error}");
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(current) = cause {
        if let Some(npy) = current.downcast_ref::<NpyError>() {
            return anyhow::anyhow!("{npy}");
        }
        cause = current.source();
    }
    e.into()
}

/// Writes results as they come (batch by batch; the table format needs all rows first) to a
/// file or standard output. A file is complete or absent: it appears under its name only when
/// every statement succeeded ([`output::Destination`]).
pub struct ResultWriter {
    format: ResultFormat,
    /// `None` after a failed result: the output is abandoned.
    destination: Option<output::Destination>,
    /// The output file, to name it in errors.
    path: Option<PathBuf>,
    results: usize,
}

impl ResultWriter {
    /// Results in `format` to `output` (standard output when `None`).
    pub fn new(format: ResultFormat, output: Option<&Path>) -> anyhow::Result<Self> {
        let destination = match output {
            Some(path) => output::Destination::file(path)?,
            None => {
                if !format.is_printable() && std::io::stdout().is_terminal() {
                    bail!("this --format is binary: give --output FILE or redirect standard output");
                }
                output::Destination::stdout()
            }
        };
        Ok(ResultWriter { format, destination: Some(destination), path: output.map(Path::to_path_buf), results: 0 })
    }

    /// Write one result.
    pub async fn write_stream(&mut self, schema: SchemaRef, stream: SendableRecordBatchStream) -> anyhow::Result<()> {
        self.results += 1;
        if let ResultFormat::Written(format) = self.format {
            if format.is_binary() && self.results > 1 {
                bail!("--format {format:?} writes one result, but several statements return rows");
            }
        }
        let destination = self.destination.take().context("the output was abandoned after an error")?;
        let written = write_result(self.format, destination, schema, stream).await;
        match (written, &self.path) {
            (Ok(destination), _) => {
                self.destination = Some(destination);
                Ok(())
            }
            (Err(e), Some(path)) if !format!("{e:#}").contains(&path.display().to_string()) => {
                Err(e.context(path.display().to_string()))
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Write a result already in memory (the shell's `\d`).
    pub async fn write_batches(&mut self, batch: RecordBatch) -> anyhow::Result<()> {
        let schema = batch.schema();
        let stream = MemoryStream::try_new(vec![batch], schema.clone(), None)?;
        self.write_stream(schema, Box::pin(stream)).await
    }

    /// Flush what was written; an output file moves into place.
    pub fn finish(mut self) -> anyhow::Result<()> {
        match self.destination.take() {
            Some(destination) => destination.commit(),
            None => Ok(()),
        }
    }
}

/// One result onto `destination`, handed back for the next.
async fn write_result(
    format: ResultFormat,
    mut destination: output::Destination,
    schema: SchemaRef,
    mut stream: SendableRecordBatchStream,
) -> anyhow::Result<output::Destination> {
    match format {
        ResultFormat::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch.map_err(plain_error)?);
            }
            writeln!(destination, "{}", pretty_format_batches_with_schema(schema, &batches)?)?;
            Ok(destination)
        }
        ResultFormat::Written(format) => {
            let mut sink = output::stream_sink(format, destination, schema, None)?;
            while let Some(batch) = stream.next().await {
                sink.write(&batch.map_err(plain_error)?)?;
            }
            sink.finish()
        }
    }
}
