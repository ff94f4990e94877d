//! `npyq sql`: SQL over directories of `.npy`/`.npz` files.
//!
//! With a query (or `--file F.sql`, several statements allowed) it runs the statements and
//! writes the results; without one it opens the interactive shell (`sql_shell.rs`). Every
//! `--dir` is served as tables by `SessionContextNpyExt::register_npy_dir`, and `STORED AS NPY`
//! works in `CREATE EXTERNAL TABLE` and `COPY`. Results are written as they arrive (the table
//! format, which needs every row to size its columns, excepted).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
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

#[path = "sql_shell.rs"]
mod sql_shell;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// A directory (or file) to serve as tables; may be repeated
    #[arg(long = "dir")]
    pub dirs: Vec<PathBuf>,
    /// Output format
    #[arg(long, default_value = "table")]
    pub format: String,
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
    /// The query (an interactive shell opens without one)
    pub query: Option<String>,
}

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Parquet,
    Arrow,
}

impl OutputFormat {
    fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "table" => OutputFormat::Table,
            "csv" => OutputFormat::Csv,
            "json" | "ndjson" => OutputFormat::Json,
            "parquet" => OutputFormat::Parquet,
            "arrow" | "ipc" => OutputFormat::Arrow,
            other => bail!("unknown --format '{other}' (table, csv, json, parquet, arrow)"),
        })
    }

    fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Parquet | OutputFormat::Arrow)
    }
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let format = OutputFormat::parse(&args.format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let ctx = session(&args.dirs, !args.any_order)?;
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
        run_sql(&ctx, &sql, &mut out).await?;
        out.finish()
    })
}

/// A session with the NPY format and every `--dir` registered (rows in `_row` order unless
/// `keep_row_order` is false).
fn session(dirs: &[PathBuf], keep_row_order: bool) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_format()?;
    if !keep_row_order {
        ctx.state_ref().write().config_mut().options_mut().set("npy.preserve_row_order", "false")?;
    }
    for dir in dirs {
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
    }
    Ok(())
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
/// file or standard output.
pub struct ResultWriter {
    format: OutputFormat,
    sink: Box<dyn Write + Send>,
    results: usize,
}

impl ResultWriter {
    /// Results in `format` to `output` (standard output when `None`).
    pub fn new(format: OutputFormat, output: Option<&Path>) -> anyhow::Result<Self> {
        let sink: Box<dyn Write + Send> = match output {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => {
                if format.is_binary() && std::io::stdout().is_terminal() {
                    bail!("--format {format:?} is binary: give --output FILE or redirect standard output");
                }
                Box::new(BufWriter::new(std::io::stdout()))
            }
        };
        Ok(ResultWriter { format, sink, results: 0 })
    }

    /// Write one result.
    pub async fn write_stream(&mut self, schema: SchemaRef, mut stream: SendableRecordBatchStream) -> anyhow::Result<()> {
        use datafusion::arrow::{csv, ipc, json};
        self.results += 1;
        if self.format.is_binary() && self.results > 1 {
            bail!("--format {:?} writes one result, but several statements return rows", self.format);
        }
        let sink = &mut self.sink;
        match self.format {
            OutputFormat::Table => {
                let mut batches = Vec::new();
                while let Some(batch) = stream.next().await {
                    batches.push(batch.map_err(plain_error)?);
                }
                writeln!(sink, "{}", pretty_format_batches_with_schema(schema, &batches)?)?;
            }
            OutputFormat::Csv => {
                let mut writer = csv::WriterBuilder::new().with_header(true).build(sink);
                while let Some(batch) = stream.next().await {
                    writer.write(&batch.map_err(plain_error)?)?;
                }
            }
            OutputFormat::Json => {
                let mut writer = json::LineDelimitedWriter::new(sink);
                while let Some(batch) = stream.next().await {
                    writer.write(&batch.map_err(plain_error)?)?;
                }
                writer.finish()?;
            }
            OutputFormat::Parquet => {
                let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(sink, schema, None)?;
                while let Some(batch) = stream.next().await {
                    writer.write(&batch.map_err(plain_error)?)?;
                }
                writer.close()?;
            }
            OutputFormat::Arrow => {
                let mut writer = ipc::writer::FileWriter::try_new(sink, &schema)?;
                while let Some(batch) = stream.next().await {
                    writer.write(&batch.map_err(plain_error)?)?;
                }
                writer.finish()?;
            }
        }
        Ok(())
    }

    /// Write a result already in memory (the shell's `\d`).
    pub async fn write_batches(&mut self, batch: RecordBatch) -> anyhow::Result<()> {
        let schema = batch.schema();
        let stream = MemoryStream::try_new(vec![batch], schema.clone(), None)?;
        self.write_stream(schema, Box::pin(stream)).await
    }

    /// Flush what was written.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.sink.flush()?;
        Ok(())
    }
}
