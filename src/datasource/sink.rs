//! `COPY (query) TO 'out.npy' | 'out.npz' STORED AS NPY`: a DataFusion `DataSink` that streams
//! batches into `crate::format::writer::ArrayFileWriter`.
//!
//! DataFusion's demuxer decides the files: one file when the target has an extension, otherwise
//! files in the target directory (several when the input is large or spread, one per
//! `key=value` directory when partitioned). Those are named `part-<n>.<ext>`, numbered per
//! directory in the order DataFusion opens them, so that a directory reads back in natural
//! order. The file type follows each file's extension (`.npy` or `.npz`).
//!
//! The `_row` column (the row position every table of this crate carries) is left out.
//!
//! Nothing appears unless the whole query succeeds: each file is written to a temporary name
//! by a blocking task, and finished (renamed into place) only after the input was read to its
//! end without error. A remote target (`s3://...`) is written to a local staging directory,
//! then uploaded by multipart upload (aborted on error), so its objects too appear whole or not
//! at all.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::runtime::SpawnedTask;
use datafusion::datasource::file_format::write::demux::DemuxedStreamReceiver;
use datafusion::datasource::physical_plan::{FileSink, FileSinkConfig};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::object_store::ObjectStore;
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use tokio::sync::mpsc::Receiver;

use super::local::df_err;
use super::ROW_COLUMN;
use crate::format::writer::{ArrayFileWriter, NpzCompression, NullPolicy, WriteOptions};


/// The body of `NpyFormat::create_writer_physical_plan` (same arguments), with default
/// [`WriteOptions`] (`.npz` members stored) and nulls without a numpy form an error.
pub async fn create_writer_physical_plan(
    input: Arc<dyn ExecutionPlan>,
    state: &dyn Session,
    conf: FileSinkConfig,
    order_requirements: Option<LexRequirement>,
) -> Result<Arc<dyn ExecutionPlan>> {
    create_writer_physical_plan_with_options(
        input,
        state,
        conf,
        order_requirements,
        WriteOptions::default(),
        NullPolicy::Error,
    )
    .await
}

/// As [`create_writer_physical_plan`], with options (e.g. from `OPTIONS ('compression' ...)`) and
/// what nulls of types without a numpy missing value become.
pub async fn create_writer_physical_plan_with_options(
    input: Arc<dyn ExecutionPlan>,
    _state: &dyn Session,
    conf: FileSinkConfig,
    order_requirements: Option<LexRequirement>,
    options: WriteOptions,
    nulls: NullPolicy,
) -> Result<Arc<dyn ExecutionPlan>> {
    let sink = Arc::new(NpySink::new(conf, options, nulls));
    Ok(Arc::new(DataSinkExec::new(input, sink, order_requirements)))
}

/// The writing options among `COPY ... OPTIONS (...)` (keys with or without `format.`):
/// `compression` = `stored` (default) | `deflated` for `.npz` members, and `nulls` = `error`
/// (default) | `zero` for nulls of types without a numpy missing value. Other keys are left to
/// the format.
pub fn write_options_from_map(options: &HashMap<String, String>) -> Result<(WriteOptions, NullPolicy)> {
    let mut write = WriteOptions::default();
    let mut nulls = NullPolicy::Error;
    for (key, value) in options {
        let value = value.to_ascii_lowercase();
        match (key.strip_prefix("format.").unwrap_or(key), value.as_str()) {
            ("compression" | "compress", "stored" | "none" | "false") => write.compression = NpzCompression::Stored,
            ("compression" | "compress", "deflated" | "deflate" | "true") => {
                write.compression = NpzCompression::Deflated
            }
            ("nulls", "error") => nulls = NullPolicy::Error,
            ("nulls", "zero" | "zeros") => nulls = NullPolicy::Zero,
            (key @ ("compression" | "compress" | "nulls"), _) => {
                return Err(DataFusionError::Configuration(format!(
                    "NPY option {key}: unknown value '{value}' (compression: stored|deflated; nulls: error|zero)"
                )))
            }
            _ => {}
        }
    }
    Ok((write, nulls))
}

/// Writes a query's result as `.npy`/`.npz` files.
pub struct NpySink {
    config: FileSinkConfig,
    options: WriteOptions,
    nulls: NullPolicy,
}

impl NpySink {
    pub fn new(config: FileSinkConfig, options: WriteOptions, nulls: NullPolicy) -> Self {
        NpySink { config, options, nulls }
    }

    /// What a plan codec carries (`crate::distributed`).
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn wire_parts(&self) -> (&FileSinkConfig, &WriteOptions, NullPolicy) {
        (&self.config, &self.options, self.nulls)
    }

    /// Where a file the demuxer named goes on disk.
    /// `staging`: for a remote target, the local directory standing for the store's root.
    fn local_path(&self, demuxed: &datafusion::object_store::path::Path, namer: &mut PartNamer, staging: Option<&Path>) -> Result<PathBuf> {
        let Some(target) = self.config.table_paths.first() else {
            return datafusion::common::internal_err!("COPY TO without a target path");
        };
        let base = match staging {
            Some(root) => {
                let mut base = root.to_path_buf();
                base.extend(target.prefix().parts().map(|p| p.as_ref().to_string()));
                base
            }
            None => target
                .get_url()
                .to_file_path()
                .map_err(|_| DataFusionError::Plan(format!("not a local path: {}", target.as_str())))?,
        };
        if self.config.file_output_mode.single_file_output(target) {
            return Ok(base);
        }
        // Directory output: keep the demuxer's sub-directories (`key=value/`), rename the file.
        let mut dir = base;
        let parts: Vec<String> = demuxed
            .prefix_match(target.prefix())
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_default();
        if let Some((_file, subdirs)) = parts.split_last() {
            dir.extend(subdirs);
        }
        let ext = demuxed.extension().unwrap_or(&self.config.file_extension).to_string();
        Ok(namer.next_in(dir, &ext))
    }
}

/// `part-0.npy`, `part-1.npy`, ... per directory.
#[derive(Default)]
struct PartNamer {
    counts: HashMap<PathBuf, usize>,
}

impl PartNamer {
    fn next_in(&mut self, dir: PathBuf, ext: &str) -> PathBuf {
        let count = self.counts.entry(dir.clone()).or_default();
        let path = dir.join(format!("part-{count}.{ext}"));
        *count += 1;
        path
    }
}

impl fmt::Debug for NpySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NpySink").field("url", &self.config.original_url).finish()
    }
}

impl DisplayAs for NpySink {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "NpySink(url={})", self.config.original_url)
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "format: npy")?;
                write!(f, "file={}", self.config.original_url)
            }
        }
    }
}

#[async_trait]
impl DataSink for NpySink {
    fn schema(&self) -> &SchemaRef {
        self.config.output_schema()
    }

    async fn write_all(&self, data: SendableRecordBatchStream, context: &Arc<TaskContext>) -> Result<u64> {
        FileSink::write_all(self, data, context).await
    }
}

#[async_trait]
impl FileSink for NpySink {
    fn config(&self) -> &FileSinkConfig {
        &self.config
    }

    async fn spawn_writer_tasks_and_join(
        &self,
        _context: &Arc<TaskContext>,
        demux_task: SpawnedTask<Result<()>>,
        mut file_stream_rx: DemuxedStreamReceiver,
        object_store: Arc<dyn ObjectStore>,
    ) -> Result<u64> {
        let written = datafusion::datasource::file_format::write::get_writer_schema(&self.config);
        let mut namer = PartNamer::default();
        let mut tasks = Vec::new();
        // A remote target: files are written (and finished) in a local staging directory, then
        // uploaded; each object appears complete or not at all.
        let staging = match self.config.object_store_url.as_str() {
            "file:///" => None,
            _ => Some(tempfile::Builder::new().prefix("npyq-copy-").tempdir().map_err(DataFusionError::IoError)?),
        };
        while let Some((demuxed, rx)) = file_stream_rx.recv().await {
            let path = self.local_path(&demuxed, &mut namer, staging.as_ref().map(|d| d.path()))?;
            let (schema, keep) = without_row_column(&written);
            let (options, nulls) = (self.options.clone(), self.nulls);
            tasks.push(tokio::task::spawn_blocking(move || write_file(path, rx, schema, keep, options, nulls)));
        }
        // Every file's writer, complete but not yet in place.
        let mut writers = Vec::with_capacity(tasks.len());
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(done)) => writers.push(done),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(join) => {
                    first_error.get_or_insert(DataFusionError::External(Box::new(join)));
                }
            }
        }
        // A writer's own error explains a demuxer's "cannot send": report it first.
        let demuxed = demux_task.join_unwind().await.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)));
        if let Some(error) = first_error {
            return Err(error);
        }
        demuxed??;
        // The input was read to its end: now the files may appear.
        let rows = tokio::task::spawn_blocking(move || {
            let mut rows = 0;
            for (writer, count) in writers {
                writer.finish().map_err(df_err)?;
                rows += count;
            }
            Ok::<u64, DataFusionError>(rows)
        })
        .await
        .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))??;
        if let Some(staging) = staging {
            upload_dir(staging.path(), object_store.as_ref(), self.config.object_store_url.as_str()).await?;
        }
        Ok(rows)
    }
}

/// Upload every file under `root` to `store` (its path under `root` as the location), by
/// multipart upload streamed from the file; an upload that fails is aborted (no partial object).
async fn upload_dir(root: &Path, store: &dyn ObjectStore, store_url: &str) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(DataFusionError::IoError)? {
            let path = entry.map_err(DataFusionError::IoError)?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let relative = file.strip_prefix(root).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let location = datafusion::object_store::path::Path::from_iter(parts);
        let url = format!("{store_url}{location}");
        super::remote::upload_file(store, &file, &location, &url).await?;
    }
    Ok(())
}

/// The schema without `_row`, and the indices of the columns kept.
fn without_row_column(schema: &Schema) -> (SchemaRef, Vec<usize>) {
    let keep: Vec<usize> =
        schema.fields().iter().enumerate().filter(|(_, f)| f.name() != ROW_COLUMN).map(|(i, _)| i).collect();
    let fields: Vec<_> = keep.iter().map(|&i| Arc::clone(&schema.fields()[i])).collect();
    (Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), keep)
}

/// Write one file's batches (on a blocking thread); the writer is returned unfinished.
fn write_file(
    path: PathBuf,
    mut rx: Receiver<RecordBatch>,
    schema: SchemaRef,
    keep: Vec<usize>,
    options: WriteOptions,
    nulls: NullPolicy,
) -> Result<(ArrayFileWriter, u64)> {
    create_parent(&path)?;
    let mut writer = ArrayFileWriter::try_new(&path, schema, options).map_err(df_err)?.with_nulls(nulls);
    let mut rows = 0u64;
    while let Some(batch) = rx.blocking_recv() {
        let batch = batch.project(&keep)?;
        writer.write(&batch).map_err(df_err)?;
        rows += batch.num_rows() as u64;
    }
    Ok((writer, rows))
}

/// `COPY TO` creates missing directories, as DataFusion's local object store does.
fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(DataFusionError::IoError)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn the_row_column_is_left_out() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int8, false),
            Field::new(ROW_COLUMN, DataType::Int64, false),
            Field::new("b", DataType::Int8, false),
        ]);
        let (kept, keep) = without_row_column(&schema);
        assert_eq!(keep, [0, 2]);
        assert_eq!(kept.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn copy_options_choose_compression_and_nulls() {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (write, nulls) =
            write_options_from_map(&map(&[("format.compression", "Deflated"), ("member", "x")])).unwrap();
        assert_eq!((write.compression, nulls), (NpzCompression::Deflated, NullPolicy::Error));
        let (write, nulls) = write_options_from_map(&map(&[("nulls", "zero")])).unwrap();
        assert_eq!((write.compression, nulls), (NpzCompression::Stored, NullPolicy::Zero));
        assert!(write_options_from_map(&map(&[("compression", "zstd")])).unwrap_err().to_string().contains("zstd"));
    }

    #[test]
    fn parts_are_numbered_per_directory() {
        let mut namer = PartNamer::default();
        assert_eq!(namer.next_in("/o".into(), "npy"), PathBuf::from("/o/part-0.npy"));
        assert_eq!(namer.next_in("/o/k=1".into(), "npy"), PathBuf::from("/o/k=1/part-0.npy"));
        assert_eq!(namer.next_in("/o".into(), "npz"), PathBuf::from("/o/part-1.npz"));
    }
}
