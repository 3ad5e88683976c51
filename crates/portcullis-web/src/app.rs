//! The running server: a bound listener and the router, served until a
//! shutdown signal, finishing the requests in flight.

use std::{future::Future, io, net::SocketAddr};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::{AppState, router};

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Takes a listener already bound, so that the caller can learn the port
    /// (and build the issuer from it) before the service starts.
    pub fn new(listener: TcpListener, state: AppState) -> Self {
        Self { listener, state }
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
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(
            listener,
            router(self.state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
