//! `npyq convert INPUT OUTPUT`: batches flow one at a time from the input's reader
//! ([`crate::input`]) to the output's writer ([`crate::output`]); nothing collects the table.
//! The output appears only when everything succeeded.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{input, output};

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A .npy, .npz, or a directory of them (also .parquet, .arrow, .arrows)
    pub input: PathBuf,
    /// The output; its extension chooses the format
    pub output: PathBuf,
    /// Convert only this member of an .npz
    #[arg(long)]
    pub member: Option<String>,
    /// Compression: for .parquet snappy (default), zstd, gzip, lz4, none; for .arrow/.arrows none
    /// (default), lz4, zstd; for .npz stored (default) or deflate
    #[arg(long)]
    pub compression: Option<String>,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    // Check the output's format and options before reading anything.
    output::check(&args.output, args.compression.as_deref())?;
    let input = input::open(&args.input, args.member.as_deref()).map_err(|e| naming(e, &args.input))?;
    // A remote output (s3://...) is written to a local staging file, then uploaded whole.
    let remote_output = datafusion_npy::datasource::object_stores::is_remote(&args.output.to_string_lossy());
    let staging = if remote_output { Some(tempfile::Builder::new().prefix("npyq-convert-").tempdir()?) } else { None };
    let local_output = match &staging {
        Some(dir) => dir.path().join(args.output.file_name().unwrap_or_else(|| std::ffi::OsStr::new("output"))),
        None => args.output.clone(),
    };
    let mut sink = output::create(&local_output, input.schema.clone(), args.compression.as_deref())?;
    let progress = progress_bar(input.total_rows);
    let copied = copy(input.batches, sink.as_mut(), &progress, &args.input);
    // Clear the bar before an error message, or before returning to the prompt.
    progress.finish_and_clear();
    copied?;
    sink.finish()?;
    if staging.is_some() {
        let url = args.output.to_string_lossy().into_owned();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let env = datafusion::execution::runtime_env::RuntimeEnv::default();
        runtime.block_on(datafusion_npy::datasource::remote::upload_to_url(&env, &local_output, &url))?;
    }
    Ok(())
}

/// Pull each batch from the input and hand it to the output.
fn copy(
    batches: input::Batches,
    sink: &mut dyn output::BatchSink,
    progress: &ProgressBar,
    input: &Path,
) -> anyhow::Result<()> {
    for batch in batches {
        let batch = batch.map_err(|e| naming(e, input))?;
        sink.write(&batch)?;
        progress.inc(batch.num_rows() as u64);
    }
    Ok(())
}

/// Make sure an input error names the input (library errors usually do already).
fn naming(e: anyhow::Error, input: &Path) -> anyhow::Error {
    let shown = input.display().to_string();
    if format!("{e:#}").contains(&shown) {
        e
    } else {
        e.context(shown)
    }
}

/// A row counter on stderr, only when a person is watching it (stderr is a terminal).
fn progress_bar(total_rows: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total_rows {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} rows, {elapsed} elapsed, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {human_pos} rows, {elapsed} elapsed")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}
