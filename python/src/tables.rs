//! Tables and catalogs for a stock datafusion-python `SessionContext`, through `datafusion-ffi`
//! (the `__datafusion_table_provider__` / `__datafusion_catalog_provider__` PyCapsule protocols of
//! PyPI `datafusion` 55). The providers are the library's own: the table of `listing_table`
//! (projection, limit, `_row` filters, statistics) and the directory catalog. They run in
//! this module's DataFusion and on its runtime; only the FFI structs cross.

use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::Arc;

use anyhow::Context;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, TableProvider};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_ffi::catalog_provider::FFI_CatalogProvider;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use datafusion_npy::datasource::file_format::listing_table;
use datafusion_npy::datasource::{Extension, NpyDirCatalog, NpyFormatOptions, SessionContextNpyExt};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{self, plain};
use crate::stream::runtime;

/// The logical extension codec of the session asking for a provider: the session object itself
/// (`register_table` passes it) or the codec capsule (`register_catalog_provider` passes that).
fn session_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let attr = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(attr)? { session.getattr(attr)?.call0()? } else { session.clone() };
    let capsule = capsule.cast::<PyCapsule>()?;
    let data: NonNull<FFI_LogicalExtensionCodec> =
        capsule.pointer_checked(Some(c"datafusion_logical_extension_codec"))?.cast();
    // SAFETY: the capsule's name says what it holds, and the capsule is alive while we clone.
    Ok(unsafe { data.as_ref() }.clone())
}

/// `NpyTable(path, member=None, files=None)`: a `.npy`/`.npz` file, or a directory of them, as one
/// table for `SessionContext.register_table`.
#[pyclass(module = "datafusion_npy", frozen)]
pub struct NpyTable {
    provider: Arc<dyn TableProvider>,
}

#[pymethods]
impl NpyTable {
    #[new]
    #[pyo3(signature = (path, member = None, files = None))]
    fn new(py: Python<'_>, path: String, member: Option<String>, files: Option<String>) -> PyResult<Self> {
        let provider = py
            .detach(|| {
                let files = match files.as_deref().map(|f| f.trim_start_matches('.').to_ascii_lowercase()) {
                    None => None,
                    Some(f) if f == "npy" => Some(Extension::Npy),
                    Some(f) if f == "npz" => Some(Extension::Npz),
                    Some(other) => anyhow::bail!("files='{other}': give 'npy' or 'npz'"),
                };
                if !path.contains("://") && !std::path::Path::new(&path).exists() {
                    // An io::Error, so that Python gets an NpyIOError (an OSError).
                    let missing = std::io::Error::new(std::io::ErrorKind::NotFound, format!("{path}: no such file or directory"));
                    return Err(anyhow::Error::new(missing));
                }
                let options = NpyFormatOptions { member, files, ..Default::default() };
                runtime().block_on(async {
                    // A session of our own for listing and schema inference; scans use the
                    // session of the query (datafusion-python's, through the FFI).
                    let ctx = SessionContext::new();
                    ctx.register_npy_format().map_err(plain)?;
                    let url = ListingTableUrl::parse(&path).map_err(plain)?;
                    let table = listing_table(&ctx.state(), url, options, &[]).await.map_err(plain)?;
                    anyhow::Ok(table as Arc<dyn TableProvider>)
                })
            })
            .map_err(errors::to_py)?;
        Ok(NpyTable { provider })
    }

    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        // Filters are offered to the provider, which takes the `_row` ranges it can answer.
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            Arc::clone(&self.provider),
            true,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    /// Column names (with `_row`, the row position).
    #[getter]
    fn names(&self) -> Vec<String> {
        self.provider.schema().fields().iter().map(|f| f.name().clone()).collect()
    }
}

/// `NpyCatalog(dirs)`: directories of `.npy`/`.npz` files as a catalog for
/// `SessionContext.register_catalog_provider` (tables in schema `public`, an `.npz`'s members in
/// a schema of its name), re-listed on every query as in `npyq sql --dir`.
#[pyclass(module = "datafusion_npy", frozen)]
pub struct NpyCatalog {
    catalog: Arc<NpyDirCatalog>,
}

#[pymethods]
impl NpyCatalog {
    #[new]
    #[pyo3(signature = (dirs, schema = "public".to_string()))]
    fn new(py: Python<'_>, dirs: Bound<'_, PyAny>, schema: String) -> PyResult<Self> {
        let dirs: Vec<PathBuf> = match dirs.extract::<PathBuf>() {
            Ok(one) => vec![one],
            Err(_) => dirs.extract()?,
        };
        let catalog = py
            .detach(|| {
                let ctx = SessionContext::new();
                ctx.register_npy_format().map_err(plain)?;
                let state = SessionStateBuilder::new()
                    .with_config(ctx.copied_config())
                    .with_runtime_env(ctx.runtime_env())
                    .build();
                let catalog = NpyDirCatalog::new(Arc::new(MemoryCatalogProvider::new()), schema, state).map_err(plain)?;
                for dir in &dirs {
                    catalog.add_root(dir).map_err(plain).with_context(|| format!("dirs: {}", dir.display()))?;
                }
                anyhow::Ok(Arc::new(catalog))
            })
            .map_err(errors::to_py)?;
        Ok(NpyCatalog { catalog })
    }

    fn __datafusion_catalog_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let provider = Arc::clone(&self.catalog) as Arc<dyn CatalogProvider>;
        let ffi = FFI_CatalogProvider::new_with_ffi_codec(provider, Some(runtime().handle().clone()), codec);
        PyCapsule::new_with_value(py, ffi, c"datafusion_catalog_provider")
    }

    /// The schemas the catalog serves now.
    fn schema_names(&self) -> Vec<String> {
        self.catalog.schema_names()
    }
}

/// One of the library's vector functions (`array_cosine_distance`, `l2_norm`, ...) for a stock
/// datafusion-python session: `ctx.register_udf(datafusion.udf(f))`, through `FFI_ScalarUDF`.
#[pyclass(module = "datafusion_npy", frozen)]
pub struct NpyScalarUDF {
    udf: Arc<datafusion::logical_expr::ScalarUDF>,
}

#[pymethods]
impl NpyScalarUDF {
    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = datafusion_ffi::udf::FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_scalar_udf")
    }

    /// The function's SQL name.
    #[getter]
    fn name(&self) -> String {
        self.udf.name().to_string()
    }

    fn __repr__(&self) -> String {
        format!("NpyScalarUDF({})", self.udf.name())
    }
}

/// The vector functions (their aliases travel with them through the FFI).
#[pyfunction]
pub fn vector_udfs() -> Vec<NpyScalarUDF> {
    datafusion_npy::engine::vector::vector_udfs().into_iter().map(|udf| NpyScalarUDF { udf: Arc::new(udf) }).collect()
}
