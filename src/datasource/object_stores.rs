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
//! A process that cannot know its URLs in advance (a distributed worker: the coordinator's plan
//! names them) uses [`EnvObjectStoreRegistry`], which builds the store of a URL the first time
//! a scan asks for it, from the process's environment.
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

/// A session's object store registry that builds the store of a remote URL (`s3://bucket/...`)
/// from the process's environment the first time it is asked for, as [`ensure_object_store`]
/// would, and keeps it for later requests. Stores registered explicitly win. For processes that
/// receive plans naming URLs they were never told about (a distributed worker).
#[derive(Debug, Default)]
pub struct EnvObjectStoreRegistry {
    known: datafusion::execution::object_store::DefaultObjectStoreRegistry,
    /// Held while a store is built, so that concurrent scans of one bucket build one client.
    building: std::sync::Mutex<()>,
}

impl datafusion::execution::object_store::ObjectStoreRegistry for EnvObjectStoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        if url.scheme() == "file" || url.scheme().len() <= 1 {
            return self.known.get_store(url);
        }
        let _building = self.building.lock().map_err(|_| DataFusionError::Internal("poisoned lock".into()))?;
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let store = build_store(url, &HashMap::new())?;
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
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
    fn the_env_registry_builds_a_store_once_per_bucket_and_keeps_registered_ones() {
        use datafusion::execution::object_store::ObjectStoreRegistry;
        let registry = EnvObjectStoreRegistry::default();
        let bucket = Url::parse("s3://bucket/").unwrap();
        let built = registry.get_store(&bucket).unwrap();
        assert!(Arc::ptr_eq(&built, &registry.get_store(&bucket).unwrap()), "built again");
        assert!(!Arc::ptr_eq(&built, &registry.get_store(&Url::parse("s3://other/").unwrap()).unwrap()));
        let mine: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        registry.register_store(&Url::parse("s3://mine/").unwrap(), Arc::clone(&mine));
        assert!(Arc::ptr_eq(&mine, &registry.get_store(&Url::parse("s3://mine/").unwrap()).unwrap()));
        let e = registry.get_store(&Url::parse("ftp://host/").unwrap()).unwrap_err().to_string();
        assert!(e.contains("ftp://host/") && e.contains("scheme 'ftp'"), "{e}");
        assert!(registry.get_store(&Url::parse("file:///").unwrap()).is_ok(), "the local store is there");
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
