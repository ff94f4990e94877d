//! Scale-out: the same SQL over a set of `datafusion-distributed` workers (crate
//! `datafusion-distributed` 4, DataFusion 55). The coordinator plans with the engine's
//! distributed planner; workers execute stages and stream Arrow batches over Flight. No
//! scheduler of ours: this module only teaches the engine about this crate.
//!
//! - [`NpyCodec`]: this crate's plan nodes on the wire (see [`codec`]).
//! - [`FixedWorkers`]: a `WorkerResolver` over a fixed list of worker URLs.
//! - [`with_workers`] / [`distribute`]: a session that plans over those workers.
//! - [`worker`] / [`serve_worker`]: a worker with the NPY format, the widening aggregates, the
//!   vector functions and the codec installed.
//!
//! Two of our nodes are kept on one task ([`keep_on_one_task`]): the positional join zips its
//! two inputs by position and collects its build side once, so a task holding part of either
//! side would pair the wrong rows; the row-order merge needs every partition of its input.
//! `knn`'s [`KnnExec`] is kept on one task too: it searches every query against the whole
//! corpus, so a task holding a share of the corpus (the engine deals scans out by byte range)
//! would return its share's nearest rows as everyone's. Correctness first: a query with any of
//! them runs its stage on one task (scans below a network boundary, e.g. under an aggregate,
//! still spread).

pub mod codec;

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion::datasource::physical_plan::FileGroup;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion_distributed::{
    display_plan_ascii, DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt, DistributedGetterExt,
    DistributedLeafExec, RouteTasksEvent, RouteTasksEventResponse, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    SessionStateBuilderExt, Worker, WorkerPlanRewriteEvent, WorkerPlanRewriteEventResponse, WorkerQueryContext, WorkerResolver,
};
use datafusion::logical_expr::LogicalPlan;
use url::Url;

pub use codec::NpyCodec;

use crate::datasource::object_stores::EnvObjectStoreRegistry;
use crate::datasource::positional_join::PositionalJoinExec;
use crate::datasource::source::{NpySource, Splittable};
use crate::datasource::SessionContextNpyExt;
use crate::engine::row_order::RowOrderMergeExec;
use crate::engine::vector::knn::KnnExec;

/// Workers at fixed URLs (`http://host:port`).
#[derive(Debug, Clone)]
pub struct FixedWorkers(Vec<Url>);

impl FixedWorkers {
    pub fn new(urls: Vec<Url>) -> Self {
        FixedWorkers(urls)
    }

    /// Parse `host:port` or `http://host:port` items, comma-separated (the CLI's `--workers`).
    pub fn parse(list: &str) -> Result<Self> {
        let mut urls = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let text = if item.contains("://") { item.to_string() } else { format!("http://{item}") };
            let url = Url::parse(&text).map_err(|e| DataFusionError::Configuration(format!("worker '{item}': not a URL: {e}")))?;
            if url.port_or_known_default().is_none() || url.host_str().is_none() {
                return Err(DataFusionError::Configuration(format!("worker '{item}': needs a host and a port")));
            }
            urls.push(url);
        }
        if urls.is_empty() {
            return Err(DataFusionError::Configuration("no worker URL given".into()));
        }
        Ok(FixedWorkers(urls))
    }

    pub fn urls(&self) -> &[Url] {
        &self.0
    }

    /// The workers that do not accept a connection within `timeout` now. A worker dying
    /// mid-query surfaces in the engine as a broken HTTP/2 stream that names no worker; the
    /// CLI asks this to name it.
    pub async fn unreachable(&self, timeout: std::time::Duration) -> Vec<Url> {
        // The broken stream can reach the coordinator while the dying process is still closing
        // its sockets (its listener may outlive its connections by a moment): look again a few
        // times before concluding that every worker is up.
        for _ in 0..5 {
            let down = self.unreachable_now(timeout).await;
            if !down.is_empty() {
                return down;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Vec::new()
    }

    async fn unreachable_now(&self, timeout: std::time::Duration) -> Vec<Url> {
        let mut down = Vec::new();
        for url in &self.0 {
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                down.push(url.clone());
                continue;
            };
            let connect = tokio::net::TcpStream::connect((host, port));
            if !matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_))) {
                down.push(url.clone());
            }
        }
        down
    }
}

impl WorkerResolver for FixedWorkers {
    fn get_urls(&self) -> Result<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// `builder` planning over `workers` with the distributed planner, with this crate's codec and
/// task rules. The session must also have the NPY format (`register_npy_format`); see
/// [`distribute`] for a `SessionContext`.
pub fn with_workers(builder: SessionStateBuilder, workers: FixedWorkers) -> SessionStateBuilder {
    builder
        .with_distributed_worker_resolver(workers)
        .with_distributed_planner()
        .with_distributed_user_codec(NpyCodec)
        .with_distributed_desired_task_count_handler(keep_on_one_task)
        .with_distributed_scale_up_leaf_node_handler(one_task_leaf_as_planned)
        .with_distributed_scale_up_leaf_node_handler(split_unsplittable_scan)
        .with_distributed_route_tasks_handler(task_i_on_worker_i)
}

/// Task `i` of a stage runs on worker `i % n` of the list (the engine's default starts at a
/// random worker): which worker ran what can be read off `EXPLAIN ANALYZE VERBOSE`'s per-task
/// metrics. Single-task stages are left to the engine (it may keep them on the coordinator).
pub fn task_i_on_worker_i(ev: RouteTasksEvent) -> Option<Result<RouteTasksEventResponse>> {
    if ev.task_count < 2 {
        return None;
    }
    let urls = match ev.task_ctx.session_config().get_distributed_worker_resolver().and_then(|r| r.get_urls()) {
        Ok(urls) if !urls.is_empty() => urls,
        Ok(_) => return Some(Err(DataFusionError::Execution("no worker to run on".into()))),
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(RouteTasksEventResponse::new((0..ev.task_count).map(|i| urls[i % urls.len()].clone()).collect())))
}

/// For a session planning over workers, the text of `EXPLAIN query` (not `ANALYZE`) as the
/// engine will run it: stages, tasks and what each task scans (`display_plan_ascii`), with
/// the worker of each task. DataFusion's own `EXPLAIN` renders the plan before the distributed
/// planner runs. `None` for other statements and for sessions without workers.
pub async fn explain_distributed(state: &SessionState, plan: &LogicalPlan) -> Result<Option<String>> {
    let LogicalPlan::Explain(explain) = plan else {
        return Ok(None);
    };
    let Ok(resolver) = state.config().get_distributed_worker_resolver() else {
        return Ok(None);
    };
    let physical = state.create_physical_plan(&explain.plan).await?;
    let mut text = display_plan_ascii(physical.as_ref(), false);
    let urls = resolver.get_urls()?;
    text.push_str("Stages of several tasks run task i on worker i mod n of:");
    for (i, url) in urls.iter().enumerate() {
        text.push_str(&format!(" [{i}] {url}"));
    }
    text.push('\n');
    Ok(Some(text))
}

/// Make `ctx` plan its queries over `workers` (and register the NPY format if it was not).
pub fn distribute(ctx: &SessionContext, workers: FixedWorkers) -> Result<()> {
    ctx.register_npy_format()?;
    let state = ctx.state_ref();
    let mut state = state.write();
    *state = with_workers(SessionStateBuilder::new_from_existing(state.clone()), workers).build();
    Ok(())
}

/// A stage holding a positional join, a row-order merge or a `knn` runs on one task (module
/// docs).
pub fn keep_on_one_task(ev: DesiredTaskCountEvent) -> Option<Result<DesiredTaskCountEventResponse>> {
    let plan = ev.plan.as_ref();
    (plan.is::<PositionalJoinExec>() || plan.is::<RowOrderMergeExec>() || plan.is::<KnnExec>())
        .then(|| Ok(DesiredTaskCountEventResponse::maximum(1)))
}

/// A leaf of a stage that runs on one task stays as planned: there is nothing to deal out, and
/// the engine's per-task wrapper (`DistributedLeafExec`) hides its scan from
/// `reset_plan_states`, which `KnnExec` relies on to scan its corpus afresh for every query
/// block (through the wrapper, a file scan's shared file queue stays empty after the first
/// block, so later blocks would find no neighbours).
pub fn one_task_leaf_as_planned(ev: ScaleUpLeafNodeEvent) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    (ev.task_count <= 1).then(|| Ok(ScaleUpLeafNodeEventResponse::new(Arc::clone(ev.plan))))
}

/// A scan with a file that must not be cut into byte ranges (a deflated `.npz`: every range
/// would inflate from the member's start) is dealt out by whole files; other scans are left to
/// the engine, which cuts files into byte ranges (each read as exactly its rows).
pub fn split_unsplittable_scan(ev: ScaleUpLeafNodeEvent) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let exec = ev.plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<datafusion::datasource::physical_plan::FileScanConfig>()?;
    config.file_source().downcast_ref::<NpySource>()?;
    let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter().cloned()).collect();
    if files.iter().all(|f| f.extension::<Splittable>().is_none_or(|s| s.0)) {
        return None;
    }
    let partitions = ev.plan.output_partitioning().partition_count().max(1);
    let tasks = ev.task_count.max(1);
    let mut groups: Vec<Vec<_>> = vec![Vec::new(); partitions * tasks];
    let count = groups.len();
    for (i, file) in files.into_iter().enumerate() {
        groups[i % count].push(file);
    }
    // Group g goes to task g % tasks (as the engine's own split): every task gets `partitions`.
    let mut variants = vec![config.clone(); tasks];
    for v in variants.iter_mut() {
        v.file_groups.clear();
    }
    for (g, files) in groups.into_iter().enumerate() {
        variants[g % tasks].file_groups.push(FileGroup::new(files));
    }
    let variants = variants.into_iter().map(|c| DataSourceExec::from_data_source(c) as Arc<dyn ExecutionPlan>);
    Some(DistributedLeafExec::try_new(Arc::clone(ev.plan), variants).map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))))
}

/// The session a worker runs each stage in: the engine's, plus the NPY format, the widening
/// aggregates, the vector functions and [`NpyCodec`].
pub async fn worker_session(ctx: WorkerQueryContext) -> Result<SessionState> {
    let state = ctx.builder.with_distributed_user_codec(NpyCodec).build();
    let session = SessionContext::new_with_state(state);
    session.register_npy_format()?;
    Ok(session.state())
}

/// [`worker_session`], whose scans start their errors with `origin` (`worker HOST:PORT`): an
/// error reading a file or object on this worker reaches the coordinator naming it.
async fn named_worker_session(ctx: WorkerQueryContext, origin: Arc<str>) -> Result<SessionState> {
    let mut state = worker_session(ctx).await?;
    state.config_mut().set_distributed_worker_plan_rewrite_handler(move |ev: WorkerPlanRewriteEvent| {
        name_scans(ev.plan, &origin).map(WorkerPlanRewriteEventResponse::new)
    });
    Ok(state)
}

/// `plan` with every NPY scan's errors starting with `origin` (same nodes, same shape).
fn name_scans(plan: Arc<dyn ExecutionPlan>, origin: &Arc<str>) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder};
    plan.transform_up(|node| {
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else { return Ok(Transformed::no(node)) };
        let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else { return Ok(Transformed::no(node)) };
        let Some(source) = config.file_source().downcast_ref::<NpySource>() else { return Ok(Transformed::no(node)) };
        let named = source.clone().with_error_origin(Arc::clone(origin));
        let config = FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(named)).build();
        Ok(Transformed::yes(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>))
    })
    .map(|t| t.data)
}

/// A worker for this crate's plans (serve it with [`serve_worker`] or mount
/// `worker(name)?.into_worker_server()` on a tonic server). Its sessions share one object store
/// registry that builds the store of a remote URL (`s3://bucket/...`) from the worker's own
/// environment when a plan first names it ([`EnvObjectStoreRegistry`]): the coordinator's
/// stores and credentials do not travel with the plan.
/// `name` (its address, as `HOST:PORT`) starts the errors of its scans, so that the
/// coordinator's error says which worker failed to read what.
pub fn worker(name: &str) -> Result<Worker> {
    let stores = Arc::new(EnvObjectStoreRegistry::default());
    let runtime = RuntimeEnvBuilder::new().with_object_store_registry(stores).build_arc()?;
    let origin: Arc<str> = format!("worker {name}").into();
    let sessions = move |ctx: WorkerQueryContext| named_worker_session(ctx, Arc::clone(&origin));
    Ok(Worker::from_session_builder(sessions).with_runtime_env(runtime))
}

/// Serve [`worker`] on `listener` until `shutdown` completes.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let name = listener.local_addr().map_err(|e| DataFusionError::External(Box::new(e)))?.to_string();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(worker(&name)?.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Bind `addr` for a worker (port 0: any free port; the bound address is returned).
pub async fn bind_worker(addr: &str) -> Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DataFusionError::Configuration(format!("worker: cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok((listener, local))
}
