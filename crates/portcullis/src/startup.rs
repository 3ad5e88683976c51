//! Opening the database, the service and the server.

use anyhow::{Context, bail};
use portcullis_service::{Service, ServiceConfig, SessionTimeouts, has_sealed_secrets};
use portcullis_store::Stores;
use portcullis_store_postgres::{PgSettings, PgStore};
use portcullis_store_sqlite::SqliteStore;
use portcullis_web::{AppState, Application};
use tokio::net::TcpListener;

use crate::config::{GlobalConfig, ServeConfig, validate_issuer};

/// Connects to the configured database and applies pending migrations.
/// `serves`: for `portcullis serve`, whose caches answer requests (on
/// PostgreSQL it then acknowledges other instances' writes); not for a CLI
/// command.
pub async fn open_stores(global: &GlobalConfig, serves: bool) -> anyhow::Result<Stores> {
    let database_url = global.database_url.as_str();
    if database_url.starts_with("sqlite:") {
        if global.database_listen_url.is_some() {
            bail!("PORTCULLIS_DATABASE_LISTEN_URL is for PostgreSQL; the database is SQLite");
        }
        let store = SqliteStore::connect(database_url)
            .await
            .context("could not open the SQLite database (PORTCULLIS_DATABASE_URL)")?;
        store.migrate().await.context("could not apply the SQLite migrations")?;
        Ok(store.stores())
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let settings = PgSettings {
            url: database_url.to_owned(),
            listen_url: global.database_listen_url.clone(),
            max_staleness: global.max_staleness,
            pool_size: global.database_pool_size,
            serves,
        };
        let store = PgStore::connect_with(&settings)
            .await
            .context("could not connect to PostgreSQL (PORTCULLIS_DATABASE_URL)")?;
        store.migrate().await.context("could not apply the PostgreSQL migrations")?;
        Ok(store.stores())
    } else {
        bail!("PORTCULLIS_DATABASE_URL must start with `sqlite:` or `postgres://`")
    }
}

/// The service on the configured database, for the server and the CLI alike
/// (`serves`: see [`open_stores`]).
pub async fn open_service(
    global: &GlobalConfig,
    config: ServiceConfig,
    serves: bool,
) -> anyhow::Result<Service> {
    let stores = open_stores(global, serves).await?;
    let fresh = !has_sealed_secrets(&stores).await?;
    let master = global.load_master_key(fresh)?;
    Service::start(stores, config, &master)
        .await
        .context("could not open the stored keys (is the master key the right one?)")
}

/// The service for a CLI command on the configured database. The CLI
/// issues no tokens, so issuer and audience are placeholders.
pub async fn open_cli_service(global: &GlobalConfig) -> anyhow::Result<Service> {
    open_service(global, ServiceConfig::new("http://cli", "http://cli"), false).await
}

/// Binds, opens everything, and returns the server ready to run.
pub async fn build(global: &GlobalConfig, serve: &ServeConfig) -> anyhow::Result<Application> {
    let listener = TcpListener::bind(serve.listen)
        .await
        .with_context(|| format!("could not listen on {} (PORTCULLIS_LISTEN)", serve.listen))?;
    let bound = listener.local_addr()?;
    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => Some(
            portcullis_web::tls::Tls::load(portcullis_web::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .context("could not use --tls-cert / --tls-key (PORTCULLIS_TLS_CERT / PORTCULLIS_TLS_KEY)")?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = match &serve.issuer {
        Some(issuer) => validate_issuer(issuer)?,
        None => format!("{scheme}://{bound}"),
    };
    if tls.is_some() && !issuer.starts_with("https://") {
        bail!("PORTCULLIS_ISSUER / --issuer `{issuer}` must be https:// when serving TLS (--tls-cert)");
    }
    let audience = serve.audience.clone().unwrap_or_else(|| issuer.clone());
    let config = ServiceConfig {
        sessions: session_timeouts(serve)?,
        passwords: serve.password_limits(),
        tokens_per_client_per_hour: serve.tokens_per_client_per_hour,
        metrics_client_labels: usize::from(serve.metrics_client_labels),
        ..ServiceConfig::new(issuer.clone(), audience)
    };
    let service = open_service(global, config, true).await?;
    first_admin(&service, serve).await?;
    tracing::info!(address = %bound, %issuer, "listening on {scheme}://{bound}");
    let limits = portcullis_web::ConnectionLimits {
        header_read_timeout: serve.header_read_timeout,
        write_timeout: serve.write_timeout,
        max_connections: usize::try_from(serve.max_connections).unwrap_or(usize::MAX),
        shutdown_delay: serve.shutdown_delay,
        shutdown_grace: serve.shutdown_grace,
    };
    let app = Application::new(
        listener,
        AppState {
            trusted_proxies: serve.trusted_proxies.clone(),
            record_events: serve.events == crate::config::Toggle::On,
            body_read_timeout: serve.body_read_timeout,
            throttle: std::sync::Arc::new(portcullis_web::throttle::Throttle::new(
                portcullis_web::throttle::FailureLimits {
                    per_ip: serve.auth_failures_per_ip,
                    per_account: serve.auth_failures_per_account,
                },
            )),
            ..AppState::new(service)
        },
    )
    .with_limits(limits);
    Ok(match tls {
        Some(tls) => {
            tokio::spawn(reload_on_hangup(tls.clone()));
            app.with_tls(tls)
        }
        None => app,
    })
}

/// Reads the TLS certificate and key again on each SIGHUP; a pair that
/// cannot be used is logged and the current one kept.
async fn reload_on_hangup(tls: portcullis_web::tls::Tls) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate is read only at start");
            return;
        };
        while hangups.recv().await.is_some() {
            let files = tls.files().clone();
            let reloading = tls.clone();
            // Reading files may block (a slow disk, a FIFO): off the runtime's threads.
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(())) => tracing::info!(
                    cert = %files.cert.display(),
                    key = %files.key.display(),
                    "SIGHUP: reloaded the TLS certificate and key; new connections use them"
                ),
                Ok(Err(e)) => tracing::error!(error = %e, "SIGHUP: kept the current TLS certificate"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: the reload failed; kept the current TLS certificate")
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// The console's session timeouts, already checked by their parsers.
fn session_timeouts(serve: &ServeConfig) -> anyhow::Result<SessionTimeouts> {
    let delta = |d: std::time::Duration, setting: &str| {
        chrono::TimeDelta::from_std(d).with_context(|| format!("{setting} is too long"))
    };
    Ok(SessionTimeouts {
        idle: delta(serve.session_idle_timeout, "PORTCULLIS_SESSION_IDLE_TIMEOUT")?,
        absolute: delta(serve.session_absolute_timeout, "PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT")?,
    })
}

/// `PORTCULLIS_ADMIN_EMAIL` / `PORTCULLIS_ADMIN_PASSWORD`: the first
/// administrator, created only while there are no users.
async fn first_admin(service: &portcullis_service::Service, serve: &ServeConfig) -> anyhow::Result<()> {
    let Some(email) = &serve.admin_email else { return Ok(()) };
    let email = portcullis_domain::Email::parse(email).context("PORTCULLIS_ADMIN_EMAIL")?;
    let Some(password) = &serve.admin_password else {
        bail!(
            "PORTCULLIS_ADMIN_EMAIL needs PORTCULLIS_ADMIN_PASSWORD (or run `portcullis users create-admin`)"
        )
    };
    match service
        .create_first_admin(
            &portcullis_service::Caller::system(),
            email,
            Some(secrecy::ExposeSecret::expose_secret(password).into()),
        )
        .await
    {
        Ok((view, _)) => {
            tracing::info!(user_id = %view.user.id, "created the first administrator from PORTCULLIS_ADMIN_EMAIL");
            Ok(())
        }
        Err(portcullis_service::ServiceError::UsersExist) => Ok(()),
        Err(e) => Err(e).context(
            "could not create the first administrator (PORTCULLIS_ADMIN_EMAIL / PORTCULLIS_ADMIN_PASSWORD)",
        ),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Replaces the default panic hook, which prints the panic's message: that
/// message may quote what a caller sent (a secret, a token). The log gets
/// where it happened, never what it said. Handlers' panics are also
/// answered with a shaped 500 by the web layer.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(location = location.as_deref().unwrap_or("unknown"), "panicked (message withheld)");
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[allow(clippy::panic)]
    fn the_panic_hook_logs_where_never_what() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).finish();
        let previous = std::panic::take_hook();
        super::install_panic_hook();
        let result = tracing::subscriber::with_default(subscriber, || {
            std::panic::catch_unwind(|| panic!("caller sent pcs_a-secret-from-the-request"))
        });
        std::panic::set_hook(previous);
        assert!(result.is_err());
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("panicked (message withheld)"), "{text}");
        assert!(text.contains("startup.rs"), "the location is logged: {text}");
        assert!(!text.contains("pcs_a-secret"), "the message reached the log: {text}");
    }
}
