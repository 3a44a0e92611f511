//! The simulators' HTTP server. It serves each accepted connection itself
//! (rather than through `axum::serve`) so that a handler can reset its own
//! connection: the fault "reset" must look like a crashed upstream, an RST
//! with no answer, which no response a handler returns can produce.
//!
//! Each connection gets a [`ConnectionReset`] signal in its requests'
//! extensions. Firing it makes the connection task drop the connection, and
//! the stream, seeing the signal, sets `SO_LINGER` to zero before closing so
//! the kernel sends RST instead of FIN.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long shutdown waits for open connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept, so running out of descriptors does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The signal a handler fires to have its connection reset.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionReset(Arc<ResetSignal>);

#[derive(Debug, Default)]
struct ResetSignal {
    requested: AtomicBool,
    notify: Notify,
}

impl ConnectionReset {
    /// Asks for the connection to be reset.
    pub(crate) fn fire(&self) {
        self.0.requested.store(true, Ordering::Release);
        // `notify_one` keeps a permit when the connection task is not
        // waiting at this instant, so the request cannot be lost.
        self.0.notify.notify_one();
    }

    fn requested(&self) -> bool {
        self.0.requested.load(Ordering::Acquire)
    }

    async fn fired(&self) {
        self.0.notify.notified().await;
    }
}

/// A TCP stream that closes with RST when its connection was asked to reset.
#[derive(Debug)]
struct ResettableStream {
    inner: TcpStream,
    reset: ConnectionReset,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.requested() {
            // Zero linger turns the close that follows into an abortive one.
            if let Err(error) = self.inner.set_zero_linger() {
                tracing::debug!(%error, "simulator: could not arm the connection reset");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting and gives open connections [`DRAIN_TIMEOUT`] to finish.
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    accept_until(listener, shutdown, "simulator", move |stream, stop| {
        serve_connection(stream, router.clone(), stop)
    })
    .await
}

/// Accepts connections on `listener` and runs `connection` for each until
/// `shutdown` resolves; then stops accepting, tells open connections to
/// finish through the `watch` channel and gives them [`DRAIN_TIMEOUT`].
pub(crate) async fn accept_until<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    name: &'static str,
    connection: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop_sender, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(connection(stream, stop.clone()));
                }
                // Accept errors concern one connection or a passing shortage
                // of descriptors; the listener itself stays usable.
                Err(error) => {
                    tracing::warn!(%error, "{name}: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Receivers only see an error if every sender is gone, so ignoring the
    // result loses nothing: no receiver means no connection left.
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "{name}: closing connections still open after drain"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it ends, is reset by a
/// handler, or finishes its in-flight requests after shutdown.
async fn serve_connection(stream: TcpStream, router: Router, mut stop: watch::Receiver<bool>) {
    // Answers are small; waiting for Nagle would only add latency.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "simulator: could not set TCP_NODELAY");
    }
    let reset = ConnectionReset::default();
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        reset: reset.clone(),
    });
    let router = TowerToHyperService::new(router);
    let signal = reset.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(signal.clone());
        router.call(request)
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "simulator: connection ended with an error");
                }
                break;
            }
            // Returning drops the connection and its stream, which resets.
            () = reset.fired() => break,
            _ = stop.changed(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
