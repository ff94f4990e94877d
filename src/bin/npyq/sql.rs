//! `npyq sql`: SQL over directories of `.npy`/`.npz` files.
//!
//! With a query (or `--file F.sql`, several statements allowed) it runs the statements and
//! writes the results; without one it opens the interactive shell (`sql_shell.rs`). Every
//! `--dir` is served as tables by `SessionContextNpyExt::register_npy_dir`, and `STORED AS NPY`
//! works in `CREATE EXTERNAL TABLE` and `COPY`.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::error::DataFusionError;
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

/// One statement's answer.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let format = OutputFormat::parse(&args.format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let ctx = session(&args.dirs)?;
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
        let results = run_sql(&ctx, &sql).await?;
        write_results(&results, format, args.output.as_deref())
    })
}

/// A session with the NPY format and every `--dir` registered.
fn session(dirs: &[PathBuf]) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_format()?;
    for dir in dirs {
        ctx.register_npy_dir(dir).with_context(|| format!("--dir {}", dir.display()))?;
    }
    Ok(ctx)
}

/// Run every statement of `sql` in order; the results of those that return columns.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    let statements = DFParser::parse_sql(sql)?;
    let mut results = Vec::new();
    for statement in statements {
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(plain_error)?;
        let frame = ctx.execute_logical_plan(plan).await.map_err(plain_error)?;
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await.map_err(plain_error)?;
        if !schema.fields().is_empty() {
            results.push(QueryResult { schema, batches });
        }
    }
    Ok(results)
}

/// A file's error as the crate words it (`data/x.npy: not an .npy file ...`), without the
/// `External error: ` / `Arrow error: ` wrappers DataFusion adds on the way up.
fn plain_error(e: DataFusionError) -> anyhow::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(current) = cause {
        if let Some(npy) = current.downcast_ref::<NpyError>() {
            return anyhow::anyhow!("{npy}");
        }
        cause = current.source();
    }
    e.into()
}

/// Write `results` as `format` to `output` (standard output when `None`).
pub fn write_results(results: &[QueryResult], format: OutputFormat, output: Option<&Path>) -> anyhow::Result<()> {
    if format.is_binary() && results.len() > 1 {
        bail!("--format {format:?} writes one result, but {} statements returned rows", results.len());
    }
    let mut sink: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => {
            if format.is_binary() && std::io::stdout().is_terminal() {
                bail!("--format {format:?} is binary: give --output FILE or redirect standard output");
            }
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        }
    };
    for result in results {
        write_result(result, format, &mut sink)?;
    }
    sink.flush()?;
    Ok(())
}

fn write_result(result: &QueryResult, format: OutputFormat, sink: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    use datafusion::arrow::{csv, ipc, json};
    match format {
        OutputFormat::Table => {
            writeln!(sink, "{}", pretty_format_batches_with_schema(result.schema.clone(), &result.batches)?)?;
        }
        OutputFormat::Csv => {
            let mut writer = csv::WriterBuilder::new().with_header(true).build(sink);
            for batch in &result.batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = json::LineDelimitedWriter::new(sink);
            for batch in &result.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        OutputFormat::Parquet => {
            let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(sink, result.schema.clone(), None)?;
            for batch in &result.batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
        OutputFormat::Arrow => {
            let mut writer = ipc::writer::FileWriter::try_new(sink, &result.schema)?;
            for batch in &result.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}
