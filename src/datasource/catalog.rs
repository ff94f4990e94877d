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
//!
//! A root may be a remote prefix (`s3://bucket/prefix/`): it is listed (one `LIST` request)
//! before each lookup of a table by name, and its objects' headers are read by range and kept
//! in the header cache like local files'. Lookups that cannot wait for a listing (the names of
//! the schemas and tables, `ds.<member>` schemas) use the last one.

use std::collections::{HashMap, HashSet};
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
use super::object_stores::{ensure_object_store, is_remote};
use super::remote::{head_url, npz_member_names, remote_error};
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
        let dirs = Arc::new(DirTables { roots: RwLock::new(Vec::new()), remote: RwLock::default(), remote_members: RwLock::default(), state, open: OpenOptions::default() });
        Ok(NpyDirCatalog { inner, default_schema, dirs })
    }

    /// Serve the files in `path` (a directory, or one `.npy`/`.npz` file, or a remote prefix
    /// `s3://bucket/prefix/` or object `s3://bucket/x.npy`) as tables too. A remote prefix's store is made from the
    /// environment if the session has none for it; the prefix is listed when a query names a
    /// table (see [`DirTables::refresh_remote`]).
    pub fn add_root(&self, path: impl Into<PathBuf>) -> Result<()> {
        let path = path.into();
        let text = path.to_string_lossy();
        if is_remote(&text) {
            // A prefix is kept with its `/`; one object (`s3://bucket/x.npy`) as it is.
            let url = if is_array_file(&text) { text.to_string() } else { format!("{}/", text.trim_end_matches('/')) };
            ensure_object_store(&self.dirs.state.runtime_env(), &url, &Default::default())?;
            let mut roots = self.dirs.roots.write().map_err(|_| poisoned())?;
            let root = PathBuf::from(url);
            if !roots.contains(&root) {
                roots.push(root);
            }
            return Ok(());
        }
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
        let mut seen: HashSet<String> = names.iter().cloned().collect();
        for entry in self.dirs.entries() {
            if entry.kind == EntryKind::Npz && seen.insert(entry.name.clone()) {
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
        if let Some(entry) = self.dirs.find(name).filter(|e| e.kind == EntryKind::Npz) {
            return Some(Arc::new(NpzMemberSchema { path: entry.path, dirs: Arc::clone(&self.dirs) }));
        }
        // This is asked without a way to wait for a listing. Before a remote prefix was first
        // listed, any other name may be an archive in it, which the schema's (async) table
        // lookup finds out (`SELECT * FROM ds.labels` as the session's first query); after,
        // the last listing says (each query naming a default-schema table lists again).
        self.dirs
            .unlisted_remote_roots()
            .then(|| Arc::new(RemoteNpzSchema { name: name.to_string(), dirs: Arc::clone(&self.dirs) }) as Arc<dyn SchemaProvider>)
    }

    fn register_schema(&self, name: &str, schema: Arc<dyn SchemaProvider>) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(&self, name: &str, cascade: bool) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// What the registered roots hold, read afresh on every call (remote prefixes: as last listed,
/// listed again before every table lookup).
struct DirTables {
    roots: RwLock<Vec<PathBuf>>,
    /// The entries of each remote root as last listed.
    remote: RwLock<HashMap<PathBuf, Vec<Entry>>>,
    /// The member names of each remote archive as last read.
    remote_members: RwLock<HashMap<PathBuf, Vec<String>>>,
    state: SessionState,
    open: OpenOptions,
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("poisoned lock".into())
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
        // By a set, not by scanning the list: a directory of 100,000 files took 26 s that way.
        let mut seen: HashSet<String> = HashSet::new();
        let remote = self.remote.read().map(|r| r.clone()).unwrap_or_default();
        for root in self.roots() {
            let found = if is_remote(&root.to_string_lossy()) {
                remote.get(&root).cloned().unwrap_or_default()
            } else if root.is_dir() {
                dir_entries(&root)
            } else {
                entry_for(&root).into_iter().collect()
            };
            for entry in found {
                if seen.insert(entry.name.clone()) {
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

    /// Whether a remote root was never listed yet.
    fn unlisted_remote_roots(&self) -> bool {
        let listed = self.remote.read().map(|r| r.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        self.roots().iter().any(|r| is_remote(&r.to_string_lossy()) && !listed.contains(r))
    }

    /// List every remote root again (one `LIST` request per root; headers stay cached by the
    /// session's header cache while objects are unchanged): `x.npy`, `ds.npz` and sub-prefixes,
    /// as a directory's entries (a sub-prefix without arrays fails when its table is built).
    async fn refresh_remote(&self) -> Result<()> {
        for root in self.roots() {
            let url = root.to_string_lossy().into_owned();
            if !is_remote(&url) {
                continue;
            }
            let listed = list_remote(&self.state, &url).await?;
            self.remote.write().map_err(|_| poisoned())?.insert(root, listed);
        }
        Ok(())
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

    /// The table of member `name` of the remote archive at `url`, `None` if it has no such
    /// member; its member names are kept for `table_names`.
    async fn remote_member_table(&self, url: &Path, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let text = url.to_string_lossy();
        let (store, meta) = head_url(&self.state.runtime_env(), &text).await?;
        let members = npz_member_names(store.as_ref(), &meta, &text, &self.open).await?;
        let found = members.iter().any(|m| m == name);
        self.remote_members.write().map_err(|_| poisoned())?.insert(url.to_path_buf(), members);
        if !found {
            return Ok(None);
        }
        Ok(Some(self.build(url, self.options(Some(name))).await?))
    }

    fn options(&self, member: Option<&str>) -> NpyFormatOptions {
        NpyFormatOptions { member: member.map(str::to_string), open: self.open.clone(), ..Default::default() }
    }
}

/// The entries of the remote prefix `url` (ending in `/`), in natural order of their names;
/// hidden (`.x`, `_x`) skipped.
async fn list_remote(state: &SessionState, url: &str) -> Result<Vec<Entry>> {
    if is_array_file(url) {
        // One object: its table (a missing object is named when the table is built).
        let path = PathBuf::from(url);
        return Ok(remote_object_entry(url).map(|(name, kind)| Entry { name, path, kind }).into_iter().collect());
    }
    let table_url = ListingTableUrl::parse(url)?;
    let store = state.runtime_env().object_store(table_url.object_store())?;
    let listed = store.list_with_delimiter(Some(table_url.prefix())).await.map_err(|e| remote_error(url, e))?;
    let mut entries: Vec<Entry> = Vec::new();
    for object in &listed.objects {
        let Some(file_name) = object.location.filename() else { continue };
        let Some((name, kind)) = remote_object_entry(file_name) else { continue };
        entries.push(Entry { name, path: PathBuf::from(format!("{url}{file_name}")), kind });
    }
    for dir in &listed.common_prefixes {
        let Some(dir_name) = dir.filename() else { continue };
        entries.push(Entry { name: dir_name.to_string(), path: PathBuf::from(format!("{url}{dir_name}/")), kind: EntryKind::Dir });
    }
    entries.retain(|e| !e.name.starts_with('.') && !e.name.starts_with('_'));
    entries.sort_by(|a, b| natural_cmp(&a.path.to_string_lossy(), &b.path.to_string_lossy()));
    Ok(entries)
}

/// Whether `location` names one `.npy`/`.npz` file or object (not a directory or prefix).
fn is_array_file(location: &str) -> bool {
    remote_object_entry(location).is_some()
}

/// The table name and kind of the object at `location` (`.../x.npy` → `x`), if it is an array.
fn remote_object_entry(location: &str) -> Option<(String, EntryKind)> {
    let file_name = location.rsplit('/').next()?;
    match file_name.rsplit_once('.')? {
        (stem, "npy") if !stem.is_empty() => Some((stem.to_string(), EntryKind::Npy)),
        (stem, "npz") if !stem.is_empty() => Some((stem.to_string(), EntryKind::Npz)),
        _ => None,
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
        let mut seen: HashSet<String> = names.iter().cloned().collect();
        for entry in self.dirs.entries() {
            if seen.insert(entry.name.clone()) {
                names.push(entry.name);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.fallback.table(name).await? {
            return Ok(Some(table));
        }
        self.dirs.refresh_remote().await?;
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
    /// The archive's members (a remote archive's: those of the last lookup, see
    /// [`DirTables::remote_members`]).
    fn members(&self) -> Vec<String> {
        if self.is_remote() {
            return self.dirs.remote_members.read().ok().and_then(|m| m.get(&self.path).cloned()).unwrap_or_default();
        }
        NpyTable::npz_member_names(&self.path).unwrap_or_default()
    }

    fn is_remote(&self) -> bool {
        is_remote(&self.path.to_string_lossy())
    }
}

#[async_trait]
impl SchemaProvider for NpzMemberSchema {
    fn table_names(&self) -> Vec<String> {
        self.members()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.is_remote() {
            return self.dirs.remote_member_table(&self.path, name).await;
        }
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

/// Schema `name` of a session with remote prefixes registered, before a first listing has
/// shown whether `name.npz` exists under one: its tables are the members of the archive `name` if a
/// fresh listing finds one, else none.
struct RemoteNpzSchema {
    name: String,
    dirs: Arc<DirTables>,
}

impl fmt::Debug for RemoteNpzSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteNpzSchema").field("name", &self.name).finish()
    }
}

#[async_trait]
impl SchemaProvider for RemoteNpzSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.dirs.refresh_remote().await?;
        let Some(entry) = self.dirs.find(&self.name).filter(|e| e.kind == EntryKind::Npz) else { return Ok(None) };
        self.dirs.remote_member_table(&entry.path, name).await
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}
