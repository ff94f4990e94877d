//! A TCP proxy on loopback between an S3 client and the test server that breaks connections
//! mid-response: once it has forwarded `cut_after` bytes of a connection's responses, it resets
//! the connection (RST, as a crashed server or a dropped network path would), at most `resets`
//! times; after that it forwards faithfully. For "a connection reset mid-scan" tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct ResettingProxy {
    pub addr: SocketAddr,
    /// Connections reset so far.
    pub resets_done: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ResettingProxy {
    /// Start forwarding to `upstream` on the current tokio runtime.
    pub async fn start(upstream: SocketAddr, cut_after: u64, resets: usize) -> ResettingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let budget = Arc::new(AtomicUsize::new(resets));
        let resets_done = Arc::new(AtomicUsize::new(0));
        let done = Arc::clone(&resets_done);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (budget, done) = (Arc::clone(&budget), Arc::clone(&done));
                tokio::spawn(async move {
                    // SO_LINGER 0: closing the socket sends RST, not FIN (a reset, not an end).
                    let _ = client.set_zero_linger();
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    forward(client, server, cut_after, budget, done).await;
                });
            }
        });
        ResettingProxy { addr, resets_done, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ResettingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, cut_after: u64, budget: Arc<AtomicUsize>, done: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let mut sent = 0u64;
    let mut buffer = vec![0u8; 16 << 10];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = cut_after.saturating_sub(sent);
        let cut = (n as u64) > allowed && budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_ok();
        if cut {
            // The bytes up to the cut, then a reset (both halves dropped, linger 0).
            let _ = client_write.write_all(&buffer[..allowed as usize]).await;
            let _ = client_write.flush().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            upstream.abort();
            let _ = upstream.await;
            drop(client_write);
            done.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        sent += n as u64;
    }
    let _ = client_write.shutdown().await;
    upstream.abort();
}
