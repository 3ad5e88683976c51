//! The running server: a bound listener and the router, served until a
//! shutdown signal, finishing the requests in flight.
//!
//! The accept loop is our own (hyper's HTTP/1.1 connection builder) because
//! a server facing callers without credentials needs what `axum::serve`
//! does not set:
//!
//! * a **header-read timeout**: a connection that has not sent a whole
//!   request head this long after it opened, or after its last answer (an
//!   idle keep-alive connection), is closed (slowloris);
//! * a **write timeout**: a connection whose answer makes no progress this
//!   long (a caller that does not read it) is closed;
//! * a **cap on open connections**: past it, new connections wait in the
//!   kernel's backlog until one closes, instead of the process running out
//!   of file descriptors.
//!
//! It speaks HTTP/1.1 only, in clear text or over native TLS
//! ([`crate::tls`]): HTTP/2 would need limits of its own (streams per
//! connection, each buffering a body; the connection preface read without a
//! deadline), and callers that want HTTP/2 get it from a proxy in front.
//! A TLS handshake must finish within the header-read timeout.
//!
//! Bodies get their own deadline and size limit per route ([`crate::guard`]).

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::Semaphore,
};
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

use crate::{AppState, router, tls::Tls};

/// How long connections may take, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must arrive whole within this long of the
    /// connection opening or its previous answer
    /// (`PORTCULLIS_HEADER_READ_TIMEOUT`).
    pub header_read_timeout: Duration,
    /// An answer that makes no progress this long (its caller does not
    /// read it) ends its connection (`PORTCULLIS_WRITE_TIMEOUT`).
    pub write_timeout: Duration,
    /// Connections open at once (`PORTCULLIS_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// After the shutdown signal, how long to go on serving while `/readyz`
    /// answers 503 `draining` and every answer says `Connection: close`,
    /// so that a load balancer takes this instance out of rotation before
    /// its listener closes (`PORTCULLIS_SHUTDOWN_DELAY`).
    pub shutdown_delay: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(30),
            shutdown_delay: Duration::ZERO,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    tls: Option<Tls>,
}

impl Application {
    /// Takes a listener already bound, so that the caller can learn the port
    /// (and build the issuer from it) before the service starts.
    pub fn new(listener: TcpListener, state: AppState) -> Self {
        Self { listener, state, limits: ConnectionLimits::default(), tls: None }
    }

    /// Serves https with this certificate (and no http).
    pub fn with_tls(self, tls: Tls) -> Self {
        Self { tls: Some(tls), ..self }
    }

    pub fn with_limits(self, limits: ConnectionLimits) -> Self {
        Self { limits, ..self }
    }

    pub fn service(&self) -> &portcullis_service::Service {
        &self.state.service
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let Self { listener, state, limits, tls } = self;
        let draining = state.draining.clone();
        let metrics = state.metrics.clone();
        let app: Router = router(state);
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        metrics.connections.set_max(limits.max_connections.max(1));
        let graceful = GracefulShutdown::new();
        let shutdown = {
            let draining = draining.clone();
            async move {
                shutdown.await;
                draining.store(true, std::sync::atomic::Ordering::Release);
                if !limits.shutdown_delay.is_zero() {
                    tracing::info!(
                        delay_ms = limits.shutdown_delay.as_millis(),
                        "draining: /readyz answers 503 and connections close after their answer; \
                         the listener closes after the delay"
                    );
                    tokio::time::sleep(limits.shutdown_delay).await;
                }
            }
        };
        tokio::pin!(shutdown);
        loop {
            let permit = match open.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    metrics.connections.limit_reached();
                    tokio::select! {
                        permit = open.clone().acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                        () = &mut shutdown => break,
                    }
                }
            };
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as
                        // `axum::serve` does, rather than spin or stop.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            let draining = draining.clone();
            let app = app
                .clone()
                .map_request(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request
                })
                .map_response(move |mut response: axum::response::Response| {
                    if draining.load(std::sync::atomic::Ordering::Acquire) {
                        response.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                    }
                    response
                });
            let mut io = TimeoutStream::new(tcp);
            io.set_write_timeout(Some(limits.write_timeout));
            let io = Box::pin(io);
            let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _open = metrics.connections.opened();
                match tls {
                    None => serve(&builder, watcher, io, app).await,
                    Some(tls) => {
                        let handshake = tls.acceptor().accept(io);
                        match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                            Ok(Ok(stream)) => serve(&builder, watcher, stream, app).await,
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                }
                drop(permit);
            });
        }
        drop(listener);
        if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
            tracing::warn!("shutdown: requests still in flight after the grace period were dropped");
        }
        Ok(())
    }
}

/// One connection, served until it ends or shutdown has let its last
/// request finish.
async fn serve<IO, S>(builder: &http1::Builder, watcher: Watcher, io: IO, app: S)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
