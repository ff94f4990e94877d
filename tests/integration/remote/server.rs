//! An S3-protocol server for tests and benches: `s3s-fs` serving a temporary directory over
//! HTTP on 127.0.0.1, in-process, counting every request and every byte of body it sends.
//! (Also compiled into `benches/remote` by path.)
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::SessionContextNpyExt;
use hyper::body::Incoming;
use hyper::service::Service;
use object_store::aws::AmazonS3Builder;

pub const ACCESS_KEY: &str = "npyq-test";
pub const SECRET_KEY: &str = "npyq-test-secret";
pub const BUCKET: &str = "data";

/// What the server has sent since the counters were last reset.
#[derive(Default)]
pub struct Counts {
    gets: AtomicU64,
    body_bytes: AtomicU64,
    requests: AtomicU64,
}

impl Counts {
    pub fn reset(&self) {
        self.gets.store(0, Ordering::SeqCst);
        self.body_bytes.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
    }
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }
}

/// The s3s service, counting what it answers to `GET`s (bytes as its `Content-Length` says).
#[derive(Clone)]
struct Counting {
    inner: s3s::service::S3Service,
    counts: Arc<Counts>,
}

impl Service<hyper::Request<Incoming>> for Counting {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let counts = Arc::clone(&self.counts);
        let is_get = req.method() == hyper::Method::GET;
        let response = Service::call(&self.inner, req);
        Box::pin(async move {
            let response = response.await?;
            counts.requests.fetch_add(1, Ordering::SeqCst);
            if is_get {
                counts.gets.fetch_add(1, Ordering::SeqCst);
                let length = response
                    .headers()
                    .get(hyper::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                counts.body_bytes.fetch_add(length, Ordering::SeqCst);
            }
            Ok(response)
        })
    }
}

/// An S3 server on loopback, on its own thread and runtime (so that blocking tests and child
/// processes can use it too); stopped when dropped.
pub struct S3Server {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
    _root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let counts = Arc::new(Counts::default());
        let mut builder = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = Counting { inner: builder.build(), counts: Arc::clone(&counts) };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((socket, _)) = accepted else { continue };
                            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone()).into_owned();
                            tokio::spawn(async move { let _ = connection.await; });
                        }
                        _ = &mut stopped => break,
                    }
                }
            });
            // Connections still open end with the runtime.
            runtime.shutdown_background();
        });
        S3Server { addr, counts, _root: root, stop: Some(stop), thread: Some(thread) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment a process needs to reach the server (the standard AWS variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// A client of the bucket, as a library user would build one.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(BUCKET)
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .build()
                .unwrap(),
        )
    }

    /// Upload local files (`from` → key `to`).
    pub async fn upload(&self, files: &[(&str, &str)]) {
        let store = self.store();
        for (from, to) in files {
            let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("{from}: {e}"));
            store.put(&Path::from(*to), PutPayload::from(bytes)).await.unwrap();
        }
    }

    /// A session whose `s3://data/` store is this server.
    pub fn session(&self) -> SessionContext {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let url = url::Url::parse(&format!("s3://{BUCKET}/")).unwrap();
        ctx.register_object_store(&url, self.store());
        ctx.register_npy_format().unwrap();
        ctx
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

