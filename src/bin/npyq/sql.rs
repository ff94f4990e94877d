//! `npyq sql`.

use std::path::PathBuf;

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

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let _ = args;
    todo!("H6")
}
