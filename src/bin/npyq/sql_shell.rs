//! The interactive shell of `npyq sql`: statements end with `;` (they may span lines),
//! `\d` lists tables, `\d NAME` shows a table's columns, `\q` quits. History is kept in
//! `~/.npyq_history`. An error is printed and the shell goes on.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use super::{run_sql, ResultFormat, ResultWriter};
use crate::one_line;

const HELP: &str = "Statements end with ';'. Commands: \\d (tables), \\d NAME (columns), \\q (quit), \\? (help).";

pub async fn run(ctx: &SessionContext, format: ResultFormat) -> anyhow::Result<()> {
    let format = if format.is_printable() { format } else { ResultFormat::Table };
    let mut editor = DefaultEditor::new()?;
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    if std::io::stdin().is_terminal() {
        println!("npyq sql: {HELP}");
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "npyq> " } else { "   -> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match command(ctx, trimmed, format).await {
                Ok(Flow::Quit) => break,
                Ok(Flow::Continue) => {}
                Err(e) => eprintln!("error: {}", one_line(&e)),
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(sql.trim());
        let run = async {
            let mut out = ResultWriter::new(format, None)?;
            let result = run_sql(ctx, &sql, &mut out).await;
            out.finish()?;
            result
        };
        if let Err(e) = run.await {
            eprintln!("error: {}", one_line(&e));
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

enum Flow {
    Continue,
    Quit,
}

async fn command(ctx: &SessionContext, line: &str, format: ResultFormat) -> anyhow::Result<Flow> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("\\q"), _) => return Ok(Flow::Quit),
        (Some("\\d"), None) => show(list_tables(ctx)?, format).await?,
        (Some("\\d"), Some(name)) => show(describe(ctx, name).await?, format).await?,
        (Some("\\?"), _) => println!("{HELP}"),
        (Some(other), _) => anyhow::bail!("unknown command {other} ({HELP})"),
        (None, _) => {}
    }
    Ok(Flow::Continue)
}

async fn show(batch: RecordBatch, format: ResultFormat) -> anyhow::Result<()> {
    let mut out = ResultWriter::new(format, None)?;
    out.write_batches(batch).await?;
    out.finish()
}

/// Every table of every schema of every catalog, but `information_schema`.
fn list_tables(ctx: &SessionContext) -> anyhow::Result<RecordBatch> {
    let (mut schemas, mut tables) = (Vec::new(), Vec::new());
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            if schema_name == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else { continue };
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                schemas.push(schema_name.clone());
                tables.push(name);
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![Field::new("schema", DataType::Utf8, false), Field::new("table", DataType::Utf8, false)]));
    let columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(schemas)), Arc::new(StringArray::from(tables))];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A table's columns: name, type, nullable.
async fn describe(ctx: &SessionContext, name: &str) -> anyhow::Result<RecordBatch> {
    let frame = ctx.table(name).await?;
    let fields = frame.schema().fields();
    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    let types: Vec<String> = fields.iter().map(|f| f.data_type().to_string()).collect();
    let nullable: Vec<bool> = fields.iter().map(|f| f.is_nullable()).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
    ]));
    let columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(names)), Arc::new(StringArray::from(types)), Arc::new(BooleanArray::from(nullable))];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".npyq_history"))
}

