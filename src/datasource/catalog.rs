//! A directory as a catalog (SPEC §5).
//!
//! [`NpyDirCatalog`] wraps the session's default catalog and adds, for every registered
//! directory (or file):
//!
//! | on disk | tables |
//! |---|---|
//! | `x.npy` | table `x` in the default schema |
//! | `ds.npz` | table `ds` (one column per member) and schema `ds` with a table per member |
//! | `parts/` holding `.npy` or `.npz` files (`key=value/` levels allowed) | table `parts` |
//!
//! Names are listed, and tables built (through [`listing_table`]: an
//! [`super::NpyFilesTable`], or a `ListingTable` for `key=value` directories), each time a
//! query names them; the list-files cache entry of the table is dropped first, so files added
//! since the last query are seen. Only headers are kept between queries, in the session's
//! [`super::HeaderCache`], and used only while a file's size and modification time are unchanged. When two entries give the same
//! name, the first wins: earlier registered directories first, then natural order of the file
//! names (`x/` before `x.npy` before `x.npz`). Tables registered by other means (`CREATE
//! EXTERNAL TABLE`, `register_table`) win over directory entries.
//!
//! A broken file only breaks the tables it belongs to: its error names it, the others work.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::TableType;
use datafusion::execution::cache::TableScopedPath;
use datafusion::execution::session_state::SessionState;

use super::file_format::{listing_table, NpyFormatOptions};
use super::local::df_err;
use super::natural::natural_cmp;
use crate::format::table::{NpyTable, OpenOptions};

/// The session's default catalog plus the tables and schemas of registered directories.
pub struct NpyDirCatalog {
    inner: Arc<dyn CatalogProvider>,
    default_schema: String,
    dirs: Arc<DirTables>,
}

impl fmt::Debug for NpyDirCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NpyDirCatalog").field("roots", &self.dirs.roots()).finish()
    }
}

impl NpyDirCatalog {
    /// Wrap `inner` (whose schema `default_schema` gets the directory tables). `state` is used
    /// to list files and infer schemas when a table is built (its runtime's object stores and
    /// caches are the session's).
    pub fn new(inner: Arc<dyn CatalogProvider>, default_schema: impl Into<String>, state: SessionState) -> Result<Self> {
        let default_schema = default_schema.into();
        if inner.schema(&default_schema).is_none() {
            inner.register_schema(&default_schema, Arc::new(MemorySchemaProvider::new()))?;
        }
        let dirs = Arc::new(DirTables { roots: RwLock::new(Vec::new()), state, open: OpenOptions::default() });
        Ok(NpyDirCatalog { inner, default_schema, dirs })
    }

    /// Serve the files in `path` (a directory, or one `.npy`/`.npz` file) as tables too.
    pub fn add_root(&self, path: impl Into<PathBuf>) -> Result<()> {
        let path = path.into();
        if !path.exists() {
            return Err(DataFusionError::Plan(format!("{}: no such file or directory", path.display())));
        }
        let mut roots = self.dirs.roots.write().map_err(|_| DataFusionError::Internal("poisoned lock".into()))?;
        if !roots.contains(&path) {
            roots.push(path);
        }
        Ok(())
    }

    /// The directories and files served, in registration order.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.dirs.roots()
    }
}

impl CatalogProvider for NpyDirCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        for entry in self.dirs.entries() {
            if entry.kind == EntryKind::Npz && !names.contains(&entry.name) {
                names.push(entry.name);
            }
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == self.default_schema {
            let fallback = self.inner.schema(name)?;
            return Some(Arc::new(NpyDirSchema { fallback, dirs: Arc::clone(&self.dirs) }));
        }
        if let Some(schema) = self.inner.schema(name) {
            return Some(schema);
        }
        let entry = self.dirs.find(name).filter(|e| e.kind == EntryKind::Npz)?;
        Some(Arc::new(NpzMemberSchema { path: entry.path, dirs: Arc::clone(&self.dirs) }))
    }

    fn register_schema(&self, name: &str, schema: Arc<dyn SchemaProvider>) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(&self, name: &str, cascade: bool) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// What the registered roots hold, read afresh on every call.
struct DirTables {
    roots: RwLock<Vec<PathBuf>>,
    state: SessionState,
    open: OpenOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Npy,
    Npz,
    Dir,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    path: PathBuf,
    kind: EntryKind,
}

impl DirTables {
    fn roots(&self) -> Vec<PathBuf> {
        self.roots.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every table-giving entry of every root; a name appears once (the first wins).
    fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        for root in self.roots() {
            let found = if root.is_dir() { dir_entries(&root) } else { entry_for(&root).into_iter().collect() };
            for entry in found {
                if !entries.iter().any(|e| e.name == entry.name) {
                    entries.push(entry);
                }
            }
        }
        entries
    }

    /// The entry named `name`; else the only one whose name equals it ignoring case (SQL
    /// folds unquoted identifiers to lower case, so `SELECT * FROM train` finds `Train.npy`).
    fn find(&self, name: &str) -> Option<Entry> {
        let entries = self.entries();
        if let Some(exact) = entries.iter().find(|e| e.name == name) {
            return Some(exact.clone());
        }
        let mut folded = entries.into_iter().filter(|e| e.name.eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// A fresh table over `path`: listing cache entry dropped, schema read from the headers.
    async fn build(&self, path: &Path, options: NpyFormatOptions) -> Result<Arc<dyn TableProvider>> {
        let url = ListingTableUrl::parse(path.to_string_lossy())?;
        if let Some(cache) = self.state.runtime_env().cache_manager.get_list_files_cache() {
            let _ = cache.remove(&TableScopedPath { table: None, path: url.prefix().clone() });
        }
        let table = listing_table(&self.state, url, options, &[]).await?;
        Ok(table)
    }

    fn options(&self, member: Option<&str>) -> NpyFormatOptions {
        NpyFormatOptions { member: member.map(str::to_string), open: self.open.clone(), ..Default::default() }
    }
}

/// The entries of one directory, in natural order of their names; hidden (`.x`, `_x`) skipped.
fn dir_entries(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    paths.iter().filter_map(|p| entry_for(p)).collect()
}

fn entry_for(path: &Path) -> Option<Entry> {
    let file_name = path.file_name()?.to_string_lossy().into_owned();
    if file_name.starts_with('.') || file_name.starts_with('_') {
        return None;
    }
    let (name, kind) = if path.is_dir() {
        if !holds_arrays(path, 8) {
            return None;
        }
        (file_name, EntryKind::Dir)
    } else if let Some(stem) = file_name.strip_suffix(".npy") {
        (stem.to_string(), EntryKind::Npy)
    } else if let Some(stem) = file_name.strip_suffix(".npz") {
        (stem.to_string(), EntryKind::Npz)
    } else {
        return None;
    };
    Some(Entry { name, path: path.to_path_buf(), kind })
}

/// Whether a directory holds a `.npy`/`.npz` file, at most `depth` levels down.
fn holds_arrays(dir: &Path, depth: usize) -> bool {
    let Ok(read) = std::fs::read_dir(dir) else { return false };
    read.filter_map(|e| e.ok().map(|e| e.path())).any(|p| {
        if p.is_dir() {
            depth > 0 && holds_arrays(&p, depth - 1)
        } else {
            p.extension().is_some_and(|e| e == "npy" || e == "npz")
        }
    })
}

/// The default schema: its own tables, then the directories' tables.
struct NpyDirSchema {
    fallback: Arc<dyn SchemaProvider>,
    dirs: Arc<DirTables>,
}

impl fmt::Debug for NpyDirSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NpyDirSchema").field("roots", &self.dirs.roots()).finish()
    }
}

#[async_trait]
impl SchemaProvider for NpyDirSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.fallback.table_names();
        for entry in self.dirs.entries() {
            if !names.contains(&entry.name) {
                names.push(entry.name);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.fallback.table(name).await? {
            return Ok(Some(table));
        }
        let Some(entry) = self.dirs.find(name) else { return Ok(None) };
        Ok(Some(self.dirs.build(&entry.path, self.dirs.options(None)).await?))
    }

    /// Without building the table: listing tables must not fail because one file is broken.
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(kind) = self.fallback.table_type(name).await? {
            return Ok(Some(kind));
        }
        Ok(self.dirs.find(name).map(|_| TableType::Base))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        self.fallback.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.fallback.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.fallback.table_exist(name) || self.dirs.find(name).is_some()
    }
}

/// Schema `ds` of `ds.npz`: one table per member.
struct NpzMemberSchema {
    path: PathBuf,
    dirs: Arc<DirTables>,
}

impl fmt::Debug for NpzMemberSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NpzMemberSchema").field("path", &self.path).finish()
    }
}

impl NpzMemberSchema {
    fn members(&self) -> Vec<String> {
        NpyTable::npz_member_names(&self.path).unwrap_or_default()
    }
}

#[async_trait]
impl SchemaProvider for NpzMemberSchema {
    fn table_names(&self) -> Vec<String> {
        self.members()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let members = NpyTable::npz_member_names(&self.path).map_err(df_err)?;
        if !members.iter().any(|m| m == name) {
            return Ok(None);
        }
        Ok(Some(self.dirs.build(&self.path, self.dirs.options(Some(name))).await?))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.members().iter().any(|m| m == name)
    }
}
