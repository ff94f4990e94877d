//! `npyq worker --listen HOST:PORT`: a long-running datafusion-distributed worker with the NPY
//! format installed (`datafusion_npy::distributed::worker`). It reads data through the same
//! paths and URLs as the coordinator, so they must name the same files on every machine (a
//! shared filesystem mounted at the same path, or an object store).

use anyhow::Context;
use std::io::Write;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Address to serve on; port 0 picks a free port. The bound address is printed as the
    /// first line of standard output (`listening on 127.0.0.1:PORT`).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: String,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let (listener, addr) = datafusion_npy::distributed::bind_worker(&args.listen).await?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
        // Runs until the process is stopped (the service has no shutdown request).
        datafusion_npy::distributed::serve_worker(listener, std::future::pending()).await?;
        Ok(())
    })
}
