//! From a URL to an object store on the session, the way `datafusion-cli` does it: `s3://`,
//! `gs://`, `az://`/`abfs(s)://`, `http(s)://` through `object_store`'s own builders, configured
//! from the standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, ...) and from table options (`'aws.endpoint' '...'`,
//! `'gcp.service_account_path'`, `'azure.account_name'`, as DataFusion's own keys are spelled).
//!
//! A store already registered for the URL's scheme and bucket is kept: a library user who
//! registered their own (`RuntimeEnv::register_object_store`) gets theirs. Local paths and
//! `file://` need nothing.
//!
//! Timeouts and retries are `object_store`'s own ([`ClientOptions`]'s defaults: 30 s per
//! request, 5 s to connect), with retries bounded here to [`MAX_RETRIES`] within
//! [`RETRY_TIMEOUT`], so a dead endpoint is an error within a minute, not a hang.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

/// Retries of one request at most (object_store's default is 10).
pub const MAX_RETRIES: usize = 3;
/// Time spent retrying one request at most (object_store's default is 3 minutes).
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `location` names an object in a remote store (a URL whose scheme is not `file`).
pub fn is_remote(location: &str) -> bool {
    Url::parse(location).is_ok_and(|url| url.scheme() != "file" && url.scheme().len() > 1)
}

/// Make sure the session can reach `location` (a path or URL): for a remote URL with no store
/// registered yet, build one from the environment and `options` (keys `aws.*`, `gcp.*`,
/// `azure.*`; others are ignored) and register it.
pub fn ensure_object_store(runtime: &RuntimeEnv, location: &str, options: &HashMap<String, String>) -> Result<()> {
    let Ok(url) = Url::parse(location) else { return Ok(()) };
    if url.scheme() == "file" || url.scheme().len() <= 1 {
        // A path (or a Windows drive letter, which parses as a one-letter scheme).
        return Ok(());
    }
    let has_options = options.keys().any(|k| ["aws.", "gcp.", "azure.", "s3.", "gs."].iter().any(|p| k.starts_with(p)));
    if !has_options && runtime.object_store(store_url(&url)?).is_ok() {
        return Ok(());
    }
    let store = build_store(&url, options)?;
    runtime.register_object_store(&url, store);
    Ok(())
}

/// The scheme and authority of `url`: what a session's store registry is keyed by.
fn store_url(url: &Url) -> Result<datafusion::execution::object_store::ObjectStoreUrl> {
    datafusion::execution::object_store::ObjectStoreUrl::parse(&url[..url::Position::BeforePath])
}

/// Option `key` with one of `prefixes`, without it.
fn scoped<'a>(options: &'a HashMap<String, String>, prefixes: &'a [&str]) -> impl Iterator<Item = (&'a str, &'a str)> {
    options.iter().filter_map(move |(k, v)| {
        let k = k.strip_prefix("format.").unwrap_or(k);
        prefixes.iter().find_map(|p| k.strip_prefix(p)).map(|k| (k, v.as_str()))
    })
}

fn retry() -> RetryConfig {
    RetryConfig { max_retries: MAX_RETRIES, retry_timeout: RETRY_TIMEOUT, ..RetryConfig::default() }
}

fn bad_option(url: &Url, key: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Configuration(format!("{url}: option '{key}': {e}"))
}

fn build_store(url: &Url, options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let failed = |e: object_store::Error| DataFusionError::Configuration(format!("{url}: {e}"));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env().with_url(url.as_str()).with_retry(retry());
            for (key, value) in scoped(options, &["aws.", "s3."]) {
                let key: AmazonS3ConfigKey = key.parse().map_err(|e| bad_option(url, key, e))?;
                builder = builder.with_config(key, value);
            }
            // `AWS_ENDPOINT_URL=http://...` (as the AWS tools take it) implies plain HTTP is meant.
            if builder.get_config_value(&AmazonS3ConfigKey::Endpoint).is_some_and(|e| e.starts_with("http://")) {
                builder = builder.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp), "true");
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        "gs" | "gcs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).with_retry(retry());
            for (key, value) in scoped(options, &["gcp.", "gs.", "gcs."]) {
                let key: GoogleConfigKey = key.parse().map_err(|e| bad_option(url, key, e))?;
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str()).with_retry(retry());
            for (key, value) in scoped(options, &["azure."]) {
                let key: AzureConfigKey = key.parse().map_err(|e| bad_option(url, key, e))?;
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        "http" | "https" => {
            let origin = &url[..url::Position::BeforePath];
            Arc::new(HttpBuilder::new().with_url(origin).with_retry(retry()).build().map_err(failed)?)
        }
        other => {
            return Err(DataFusionError::Configuration(format!(
                "{url}: no object store for scheme '{other}' (supported: s3://, gs://, az://, abfs://, http(s)://, or a local path)"
            )))
        }
    };
    Ok(store)
}

/// Register the tables of a remote prefix (`s3://bucket/prefix/`) on `ctx`, as
/// [`super::SessionContextNpyExt::register_npy_dir`] does for a directory (SPEC §5): `x.npy` →
/// `x`, `ds.npz` → table `ds` and schema `ds` (a table per member), a sub-prefix holding arrays
/// (`key=value` levels allowed) → one table.
/// The prefix is listed once, here (a directory is re-listed on every query); the headers of
/// its files are read concurrently, by range, and kept in the session's header cache.
pub async fn register_remote_dir(ctx: &datafusion::prelude::SessionContext, url: &str) -> Result<Vec<String>> {
    use super::SessionContextNpyExt;
    ensure_object_store(&ctx.runtime_env(), url, &HashMap::new())?;
    let parsed = Url::parse(url).map_err(|e| DataFusionError::Configuration(format!("{url}: {e}")))?;
    let store = ctx.runtime_env().object_store(store_url(&parsed)?)?;
    let prefix = object_store::path::Path::from_url_path(parsed.path()).map_err(|e| DataFusionError::Configuration(format!("{url}: {e}")))?;
    let listed = store.list_with_delimiter(Some(&prefix)).await.map_err(|e| super::remote::remote_error(url, e))?;
    let base = format!("{}/", url.trim_end_matches('/'));
    let mut tables: Vec<(String, String)> = Vec::new();
    for object in &listed.objects {
        let Some(name) = object.location.filename() else { continue };
        let Some((stem, extension)) = name.rsplit_once('.') else { continue };
        if extension.eq_ignore_ascii_case("npy") || extension.eq_ignore_ascii_case("npz") {
            tables.push((stem.to_string(), format!("{base}{name}")));
        }
    }
    for dir in &listed.common_prefixes {
        let Some(name) = dir.filename() else { continue };
        tables.push((name.to_string(), format!("{base}{name}/")));
    }
    // The first of equal names wins, in natural order (`x/` before `x.npy` before `x.npz`).
    tables.sort_by(|a, b| super::natural::natural_cmp(&a.1, &b.1));
    let mut registered = Vec::new();
    for (name, location) in tables {
        if registered.contains(&name) || ctx.table_exist(name.as_str())? {
            continue;
        }
        match ctx.register_npy(&name, &location, Default::default()).await {
            Ok(()) => registered.push(name),
            // A sub-prefix holding no arrays is no table (as a directory of other files is not).
            Err(_) if location.ends_with('/') => {}
            Err(e) => return Err(e),
        }
    }
    // Each `ds.npz` is also a schema `ds` holding a table per member (SPEC §5), as a local
    // directory's is: `SELECT ... FROM ds.labels JOIN ds.features ...`.
    for object in &listed.objects {
        let Some(name) = object.location.filename() else { continue };
        let Some((stem, extension)) = name.rsplit_once('.') else { continue };
        if !extension.eq_ignore_ascii_case("npz") {
            continue;
        }
        let npz_url = format!("{base}{name}");
        register_member_schema(ctx, &store, object, stem, &npz_url).await?;
    }
    Ok(registered)
}

/// Schema `stem` of the session's catalog with one table per member of the archive at
/// `npz_url` (its directory is known already: planning the archive's table read it).
async fn register_member_schema(
    ctx: &datafusion::prelude::SessionContext,
    store: &Arc<dyn ObjectStore>,
    object: &object_store::ObjectMeta,
    stem: &str,
    npz_url: &str,
) -> Result<()> {
    use crate::format::ErrorKind;
    let options = super::file_format::NpyFormatOptions::default();
    let members: Vec<String> = match super::remote::open_ranged_npz(store.as_ref(), object, npz_url, &options.open, None).await {
        Ok(npz) => npz.members().iter().filter_map(|m| m.member().array_name().map(str::to_string)).collect(),
        // Members of different lengths are no one table, but each is a table of the schema.
        Err(DataFusionError::External(e)) => match e.downcast_ref::<crate::format::NpyError>().map(|e| &e.kind) {
            Some(ErrorKind::LengthMismatch { lengths }) => lengths.iter().map(|(name, _)| name.clone()).collect(),
            _ => return Err(DataFusionError::External(e)),
        },
        Err(e) => return Err(e),
    };
    let catalog_name = ctx.copied_config().options().catalog.default_catalog.clone();
    let Some(catalog) = ctx.catalog(&catalog_name) else { return Ok(()) };
    if catalog.schema(stem).is_some() {
        // A schema of that name exists already (the default one, or another archive's).
        return Ok(());
    }
    catalog.register_schema(stem, Arc::new(datafusion::catalog::MemorySchemaProvider::new()))?;
    for member in members {
        let member_options = super::file_format::NpyFormatOptions { member: Some(member.clone()), ..Default::default() };
        let url = datafusion::datasource::listing::ListingTableUrl::parse(npz_url)?;
        let table = super::file_format::listing_table(&ctx.state(), url, member_options, &[]).await?;
        ctx.register_table(datafusion::common::TableReference::partial(stem, member.as_str()), table)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_need_no_store_and_unknown_schemes_are_named() {
        let runtime = RuntimeEnv::default();
        ensure_object_store(&runtime, "/tmp/x.npy", &HashMap::new()).unwrap();
        ensure_object_store(&runtime, "file:///tmp/x.npy", &HashMap::new()).unwrap();
        let e = ensure_object_store(&runtime, "ftp://host/x.npy", &HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("ftp://host/x.npy") && e.contains("scheme 'ftp'"), "{e}");
        assert!(is_remote("s3://b/x.npy") && !is_remote("/x.npy") && !is_remote("file:///x.npy"));
    }

    #[test]
    fn table_options_configure_the_store() {
        let runtime = RuntimeEnv::default();
        let options: HashMap<String, String> = [
            ("aws.endpoint", "http://127.0.0.1:1"),
            ("aws.access_key_id", "k"),
            ("aws.secret_access_key", "s"),
            ("aws.region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ensure_object_store(&runtime, "s3://bucket/x.npy", &options).unwrap();
        let url = Url::parse("s3://bucket/x.npy").unwrap();
        assert!(runtime.object_store(store_url(&url).unwrap()).is_ok());
        let bad: HashMap<String, String> = [("aws.no_such_key".to_string(), "1".to_string())].into();
        let e = ensure_object_store(&runtime, "s3://bucket/x.npy", &bad).unwrap_err().to_string();
        assert!(e.contains("aws.no_such_key") || e.contains("no_such_key"), "{e}");
    }
}
