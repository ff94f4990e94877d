//! `npyq`: SQL over `.npy`/`.npz`, conversion, and schema inspection. One file per subcommand.

mod convert;
mod csv_flatten;
mod input;
mod output;
mod parquet_writer;
mod schema;
mod sql;
mod text_form;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "npyq", version, about = "Query and convert NumPy .npy/.npz files with SQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL over directories of .npy/.npz files (an interactive shell without a query)
    Sql(sql::SqlArgs),
    /// Convert .npy/.npz (or Parquet/Arrow) to .parquet, .arrow, .arrows, .csv, .json, .npy, .npz
    Convert(convert::ConvertArgs),
    /// Show the Arrow schema and the numpy facts of a file's arrays
    Schema {
        /// A .npy or .npz file
        path: PathBuf,
    },
    /// Serve as a datafusion-distributed worker for `npyq sql --workers`
    Worker(worker::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sql(args) => sql::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Schema { path } => schema::run(&path),
        Command::Worker(args) => worker::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, never a backtrace: the error chain joined with ": ".
            eprintln!("npyq: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, without repeating a cause already in the message.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.replace('\n', " ")
}
