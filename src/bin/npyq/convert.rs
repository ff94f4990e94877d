//! `npyq convert INPUT OUTPUT`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A .npy, .npz, or a directory of them (also .parquet, .arrow)
    pub input: PathBuf,
    /// The output; its extension chooses the format
    pub output: PathBuf,
    /// Convert only this member of an .npz
    #[arg(long)]
    pub member: Option<String>,
    /// Compression: for .parquet snappy (default), zstd, gzip, lz4, none; for .npz stored (default) or deflate
    #[arg(long)]
    pub compression: Option<String>,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let _ = args;
    todo!("H5")
}
