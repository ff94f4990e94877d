//! [`SessionContextNpyExt`]: numpy files on a `SessionContext`, in the style of
//! `register_parquet` / `read_parquet`.
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! use datafusion::prelude::SessionContext;
//! use datafusion_npy::datasource::{NpyFormatOptions, SessionContextNpyExt};
//!
//! let ctx = SessionContext::new();
//! ctx.register_npy_dir("sql-examples/data")?;          // x.npy -> x, ds.npz -> ds and ds.<member>
//! ctx.sql("SELECT count(*) FROM readings").await?.show().await?;
//! let df = ctx.read_npy("sql-examples/data/embeddings.npy", NpyFormatOptions::default()).await?;
//! # let _ = df; Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::config::{ConfigExtension, ConfigOptions};
use datafusion::common::extensions_options;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::FunctionRegistry;

use super::catalog::NpyDirCatalog;
use super::header_cache::HeaderCache;
use crate::engine::row_order::KeepRowOrderRule;
use super::file_format::{listing_table, NpyFormatFactory, NpyFormatOptions, NpyTableFactory};
use super::parquet_types::ParquetStorableTypes;
use super::positional_join::PositionalJoinRule;
use super::widening_sum::{widening_avg_udaf, widening_sum_udaf};

extensions_options! {
    /// Session options of the NPY format, set with `SET npy.<name> = <value>` (or
    /// `SessionConfig::with_option_extension`). [`SessionContextNpyExt::register_npy_format`]
    /// adds them to a session with their defaults.
    pub struct NpySessionOptions {
        /// Keep rows in `_row` order: a query over one numpy table whose operators keep rows in
        /// order (projection, filter, `LIMIT`, positional join) yields its rows in `_row` order
        /// while every partition scans (`crate::engine::row_order`). `false` lets partitions
        /// interleave as they finish, which saves the ordered merge (DuckDB's
        /// `preserve_insertion_order`).
        pub preserve_row_order: bool, default = true
        /// Query rows `knn(...)` holds in memory per pass over the corpus
        /// (`crate::engine::vector::knn`): each block streams the corpus once.
        pub knn_query_block: usize, default = 256
    }
}

impl ConfigExtension for NpySessionOptions {
    const PREFIX: &'static str = "npy";
}

impl NpySessionOptions {
    /// `npy.preserve_row_order` of a session (its default if the options were never added).
    pub fn preserve_row_order(config: &ConfigOptions) -> bool {
        config.extensions.get::<NpySessionOptions>().is_none_or(|o| o.preserve_row_order)
    }
}

/// Numpy files on a [`SessionContext`].
#[async_trait]
pub trait SessionContextNpyExt {
    /// Make `STORED AS NPY` (and `NPZ`) known to `CREATE EXTERNAL TABLE` and `COPY`, and the
    /// extensions `.npy`/`.npz` to `COPY ... TO 'file'`. Also plans joins on `_row` between
    /// numpy scans by position ([`PositionalJoinRule`]), and replaces `sum`/`avg` by versions
    /// that add `Float32` values as `f64` without first casting the column
    /// ([`widening_sum_udaf`]; same results and types), makes `COPY ... STORED AS PARQUET`
    /// write second-precision timestamps as milliseconds, as pyarrow does
    /// ([`ParquetStorableTypes`]), installs the vector functions with native kernels
    /// ([`crate::engine::vector`]: DuckDB's `array_cosine_distance` & co., and DataFusion's
    /// `cosine_distance`, `inner_product`, `array_distance` and `emb[i]` without casting
    /// `FixedSizeList` columns; the `knn(...)` table function), keeps rows in `_row` order
    /// ([`KeepRowOrderRule`], option `npy.preserve_row_order` of [`NpySessionOptions`]), and puts a [`HeaderCache`] in the session's config (if it has
    /// none), which every numpy table of the session reads headers through. Idempotent; the
    /// other methods call it.
    fn register_npy_format(&self) -> Result<()>;

    /// Serve a directory (or one `.npy`/`.npz` file, or a remote prefix such as
    /// `s3://bucket/prefix/`) as tables: `x.npy` → `x`, `ds.npz` → `ds` and schema `ds` (one
    /// table per member), a sub-directory of files → one table. Re-listed on every query. May
    /// be called for several directories (the first to give a name wins). A remote prefix's
    /// store is built from the environment (`AWS_*`, ...) unless one is registered for it.
    fn register_npy_dir(&self, dir: impl AsRef<Path> + Send) -> Result<()>;

    /// Register a `.npy`/`.npz` file or a directory of them (path or URL) as table `name`.
    async fn register_npy(&self, name: &str, path: &str, options: NpyFormatOptions) -> Result<()>;

    /// A `DataFrame` over a `.npy`/`.npz` file or a directory of them (path or URL).
    async fn read_npy(&self, path: &str, options: NpyFormatOptions) -> Result<DataFrame>;
}

#[async_trait]
impl SessionContextNpyExt for SessionContext {
    fn register_npy_format(&self) -> Result<()> {
        let state = self.state_ref();
        let mut state = state.write();
        // DataFusion appends added rules at the end; this one must run before distribution is
        // enforced, so the rule list is rebuilt with it in place (once).
        if let Some(rules) = PositionalJoinRule::insert_into(state.physical_optimizers()) {
            *state = SessionStateBuilder::new_from_existing(state.clone()).with_physical_optimizer_rules(rules).build();
        }
        // Parquet written by `COPY` holds what pyarrow would write (no second-precision timestamps).
        if !state.analyzer().rules.iter().any(|rule| rule.name() == ParquetStorableTypes::NAME) {
            state.add_analyzer_rule(Arc::new(ParquetStorableTypes));
        }
        if let Some(rules) = KeepRowOrderRule::insert_into(state.physical_optimizers()) {
            *state = SessionStateBuilder::new_from_existing(state.clone()).with_physical_optimizer_rules(rules).build();
        }
        if state.config_options().extensions.get::<NpySessionOptions>().is_none() {
            state.config_mut().options_mut().extensions.insert(NpySessionOptions::default());
        }
        // `sum`/`avg` of Float32 columns without a materialised cast to Float64 (same results).
        state.register_udaf(Arc::new(widening_sum_udaf()))?;
        state.register_udaf(Arc::new(widening_avg_udaf()))?;
        crate::engine::vector::register_vector_functions(&mut *state)?;
        state.register_udtf("knn", Arc::new(crate::engine::vector::knn::KnnFunction));
        // One header cache for the session: its catalog, tables, formats and scans share it.
        let headers = match HeaderCache::of_session(state.config()) {
            Some(headers) => headers,
            None => {
                let headers = Arc::new(HeaderCache::new());
                state.config_mut().set_extension(Arc::clone(&headers));
                headers
            }
        };
        state.register_file_format(Arc::new(NpyFormatFactory::new().with_header_cache(Arc::clone(&headers))), true)?;
        state.register_file_format(Arc::new(NpyFormatFactory::npz().with_header_cache(headers)), true)?;
        state.table_factories_mut().insert("NPY".to_string(), Arc::new(NpyTableFactory));
        state.table_factories_mut().insert("NPZ".to_string(), Arc::new(NpyTableFactory));
        Ok(())
    }

    fn register_npy_dir(&self, dir: impl AsRef<Path> + Send) -> Result<()> {
        self.register_npy_format()?;
        let (catalog_name, schema_name) = {
            let options = self.copied_config();
            let catalog = &options.options().catalog;
            (catalog.default_catalog.clone(), catalog.default_schema.clone())
        };
        let current = self
            .catalog(&catalog_name)
            .ok_or_else(|| DataFusionError::Plan(format!("no default catalog '{catalog_name}'")))?;
        if let Some(ours) = current.downcast_ref::<NpyDirCatalog>() {
            return ours.add_root(dir.as_ref());
        }
        // A bare state for listing and schema inference: same object stores and caches, and no
        // reference back to this context's catalogs.
        let state = SessionStateBuilder::new().with_config(self.copied_config()).with_runtime_env(self.runtime_env()).build();
        let catalog = NpyDirCatalog::new(current, schema_name, state)?;
        catalog.add_root(dir.as_ref())?;
        self.register_catalog(catalog_name, Arc::new(catalog));
        Ok(())
    }

    async fn register_npy(&self, name: &str, path: &str, options: NpyFormatOptions) -> Result<()> {
        self.register_npy_format()?;
        super::object_stores::ensure_object_store(&self.runtime_env(), path, &Default::default())?;
        let url = ListingTableUrl::parse(path)?;
        let table = listing_table(&self.state(), url, options, &[]).await?;
        self.register_table(name, table)?;
        Ok(())
    }

    async fn read_npy(&self, path: &str, options: NpyFormatOptions) -> Result<DataFrame> {
        self.register_npy_format()?;
        super::object_stores::ensure_object_store(&self.runtime_env(), path, &Default::default())?;
        let url = ListingTableUrl::parse(path)?;
        let table = listing_table(&self.state(), url, options, &[]).await?;
        self.read_table(table)
    }
}
