//! Every setting in one place: flags with environment variables, checked at
//! start-up with errors that name the setting.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use axum::http::Uri;
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::{Args, ValueEnum};
use portcullis_service::MasterKey;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Args)]
pub struct GlobalConfig {
    /// Where Portcullis keeps its data: `sqlite:PATH` (embedded, the default)
    /// or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "PORTCULLIS_DATABASE_URL", default_value = "sqlite:data/portcullis.db", global = true)]
    pub database_url: String,

    /// PostgreSQL only: a direct connection to the database (not through a
    /// pooler), for LISTEN (the change feed), its heartbeats and migrations. Give it when
    /// PORTCULLIS_DATABASE_URL points at a transaction-pooling PgBouncer:
    /// queries are then made safe for such a pooler. See docs/deployment.md.
    #[arg(long, env = "PORTCULLIS_DATABASE_LISTEN_URL", hide_env_values = true, global = true)]
    pub database_listen_url: Option<String>,

    /// PostgreSQL only: the oldest change another instance made that this
    /// one's caches may still miss. Past it without word from the change
    /// feed (LISTEN/NOTIFY), caches are bypassed until the feed is back.
    /// Between 1s and 60s; `2s` (the default).
    #[arg(long, env = "PORTCULLIS_MAX_STALENESS", default_value = "2s", global = true, value_parser = parse_max_staleness)]
    pub max_staleness: std::time::Duration,

    /// PostgreSQL only: connections in this instance's query pool (each
    /// instance has its own, plus two for the change feed). `10` (the default).
    #[arg(long, env = "PORTCULLIS_DATABASE_POOL_SIZE", default_value_t = 10, global = true, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,

    /// The master key (base64 of 32 bytes) that seals signing keys and
    /// server secrets at rest. Overrides --master-key-file.
    #[arg(long, env = "PORTCULLIS_MASTER_KEY", hide_env_values = true, global = true, value_parser = secret)]
    pub master_key: Option<SecretString>,

    /// File holding the master key; generated (mode 0600) on first start.
    /// Default: `master.key` beside the SQLite file, or `data/master.key`.
    #[arg(long, env = "PORTCULLIS_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,

    /// Log filter, e.g. `info` or `portcullis=debug,info`.
    #[arg(long, env = "PORTCULLIS_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format.
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The issuer identifier (RFC 8414 §2): an http(s) URL without query or
    /// fragment. Default: `http://` + the listen address (`https://` with
    /// `--tls-cert`).
    #[arg(long, env = "PORTCULLIS_ISSUER")]
    pub issuer: Option<String>,

    /// Serve https (TLS 1.3 and 1.2, rustls) with this certificate chain,
    /// PEM: the server's certificate first, then its intermediates. Needs
    /// `--tls-key`. Both files are read again on SIGHUP.
    #[arg(long, env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of `--tls-cert`, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// The default `aud` of access tokens (RFC 9068 §3). Default: the issuer.
    #[arg(long, env = "PORTCULLIS_AUDIENCE")]
    pub audience: Option<String>,

    /// Proxies whose `X-Forwarded-For` is believed for the source IP of
    /// events, comma-separated IP addresses. Nobody else's is.
    #[arg(long, env = "PORTCULLIS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Record one event per request made as a client or a user (`off`
    /// saves their cost at the highest loads: see docs/performance.md).
    /// Changes are recorded either way.
    #[arg(long, env = "PORTCULLIS_EVENTS", value_enum, default_value_t = Toggle::On)]
    pub events: Toggle,

    /// How long events are kept: `7d` (the default), `36h`, `90m` or seconds.
    #[arg(long, env = "PORTCULLIS_EVENT_RETENTION", default_value = "7d", value_parser = parse_retention)]
    pub event_retention: std::time::Duration,

    /// A console session ends after this long without a request: `30m`
    /// (the default), `1h`, `90s`, …
    #[arg(long, env = "PORTCULLIS_SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_session_idle)]
    pub session_idle_timeout: std::time::Duration,

    /// A console session ends this long after sign-in, whatever the
    /// activity (also the session cookie's Max-Age): `12h` (the default),
    /// `8h`, `1d`, …
    #[arg(long, env = "PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT", default_value = "12h", value_parser = parse_session_absolute)]
    pub session_absolute_timeout: std::time::Duration,

    /// On a first start (no users yet), create this administrator.
    #[arg(long, env = "PORTCULLIS_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// The first administrator's password (with PORTCULLIS_ADMIN_EMAIL).
    #[arg(long, env = "PORTCULLIS_ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub admin_password: Option<SecretString>,

    /// A connection must send a whole request head within this long of
    /// opening, or of its previous answer (idle keep-alive connections end
    /// after it too): `10s` (the default), `5s`, …
    #[arg(long, env = "PORTCULLIS_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_io_timeout)]
    pub header_read_timeout: std::time::Duration,

    /// A request body must arrive whole within this long: else 408 and the
    /// connection closes. `10s` (the default).
    #[arg(long, env = "PORTCULLIS_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_io_timeout)]
    pub body_read_timeout: std::time::Duration,

    /// An answer that makes no progress this long (its caller does not read
    /// it) ends its connection. `30s` (the default).
    #[arg(long, env = "PORTCULLIS_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_io_timeout)]
    pub write_timeout: std::time::Duration,

    /// On SIGTERM, go on serving this long while `/readyz` answers 503
    /// `draining` and answers close their connections, so that a load
    /// balancer stops sending before the listener closes: longer than its
    /// health-check interval × failures to mark a target down. `0s` (the
    /// default): close at once.
    #[arg(long, env = "PORTCULLIS_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_shutdown_delay)]
    pub shutdown_delay: std::time::Duration,

    /// After the listener closes, how long requests in flight may take to
    /// finish before they are dropped. `30s` (the default).
    #[arg(long, env = "PORTCULLIS_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_shutdown_delay)]
    pub shutdown_grace: std::time::Duration,

    /// Connections open at once; more wait in the kernel's backlog until one
    /// closes. Keep it under the process's file descriptor limit
    /// (`ulimit -n`) less what the database needs.
    #[arg(long, env = "PORTCULLIS_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Failed authentications allowed per source address per minute (also
    /// the burst), at every endpoint that authenticates; past it, 429 with
    /// `Retry-After` before any secret is checked. 0: no limit.
    #[arg(long, env = "PORTCULLIS_AUTH_FAILURES_PER_IP", default_value_t = 30)]
    pub auth_failures_per_ip: u32,

    /// Failed authentications allowed per client id or sign-in e-mail per
    /// minute; past it, addresses that are failing themselves get 429 for
    /// that account (clean addresses keep working). 0: no limit.
    #[arg(long, env = "PORTCULLIS_AUTH_FAILURES_PER_ACCOUNT", default_value_t = 10)]
    pub auth_failures_per_account: u32,

    /// Tokens each client may get from the token endpoint per hour (also
    /// the burst: then one more every hour / N); past it 429 with
    /// `Retry-After` and, once an hour per client, a
    /// `client.token_quota_exceeded` event. For clients that ask for a new
    /// token per call instead of caching one. 0: no quota. Per instance.
    #[arg(long, env = "PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR", default_value_t = 0)]
    pub tokens_per_client_per_hour: u32,

    /// Password hashes (argon2id, 19 MiB and ~15 ms of a core each) computed
    /// at once, for sign-ins and password changes. Default: the cores.
    #[arg(long, env = "PORTCULLIS_PASSWORD_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub password_concurrency: Option<u16>,

    /// Password hashes that may wait for one of those; beyond them a
    /// sign-in answers 503 with `Retry-After: 1` at once. Default: 4 per
    /// core.
    #[arg(long, env = "PORTCULLIS_PASSWORD_QUEUE", value_parser = clap::value_parser!(u16).range(0..=4096))]
    pub password_queue: Option<u16>,

    /// Clients whose issued tokens `/metrics` counts under their own
    /// `client_id` label: the first N clients to get a token since start;
    /// tokens of every other client are counted as `client_id="other"`.
    /// Bounds the series Prometheus stores. 0: every token as `other`.
    #[arg(long, env = "PORTCULLIS_METRICS_CLIENT_LABELS", default_value_t = portcullis_service::DEFAULT_CLIENT_LABELS, value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub metrics_client_labels: u16,
}

impl ServeConfig {
    /// The argon2 bounds: the settings, or the defaults for this machine.
    pub fn password_limits(&self) -> portcullis_service::passwords::PasswordLimits {
        let default = portcullis_service::passwords::PasswordLimits::default();
        let concurrency = self.password_concurrency.map_or(default.concurrency, usize::from);
        let queue = match (self.password_queue, self.password_concurrency) {
            (Some(queue), _) => usize::from(queue),
            (None, Some(_)) => 4 * concurrency,
            (None, None) => default.queue,
        };
        portcullis_service::passwords::PasswordLimits { concurrency, queue }
    }
}

/// A secret setting (the master key, a password): kept as a
/// [`SecretString`], whose `Debug` never shows it, until it is used.
fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// A duration: a number and a unit (`d`, `h`, `m`, `s`), several of them
/// in a row (`1h30m`), or a bare number of seconds (`3600`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration like 7d, 12h, 30m, 1h30m or 90s");
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(std::time::Duration::from_secs).map_err(|_| bad());
    }
    let mut seconds: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest[digits..].chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(format!("`{text}`: each number needs a unit, d, h, m or s")),
        };
        seconds = seconds.saturating_add(n.saturating_mul(unit));
        rest = &rest[digits + 1..];
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// `PORTCULLIS_SHUTDOWN_DELAY` and `PORTCULLIS_SHUTDOWN_GRACE`: at most ten minutes.
pub fn parse_shutdown_delay(text: &str) -> Result<std::time::Duration, String> {
    let delay = parse_duration(text)?;
    if delay.as_secs() > 600 {
        return Err(format!("`{text}`: at most 10m"));
    }
    Ok(delay)
}

/// `PORTCULLIS_MAX_STALENESS`: between one second and a minute.
pub fn parse_max_staleness(text: &str) -> Result<std::time::Duration, String> {
    let bound = parse_duration(text)?;
    if !(1..=60).contains(&bound.as_secs()) {
        return Err(format!("`{text}`: the staleness bound must be between 1s and 60s"));
    }
    Ok(bound)
}

/// How long events are kept: at least one minute.
pub fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    let retention = parse_duration(text)?;
    if retention.as_secs() < 60 {
        return Err("event retention must be at least one minute".to_owned());
    }
    Ok(retention)
}

/// Browsers keep a cookie at most 400 days (RFC 6265bis §5.6.1), and a
/// session cannot outlive its cookie.
const SESSION_TIMEOUT_MAX: std::time::Duration = std::time::Duration::from_secs(400 * 86_400);

fn parse_session_timeout(setting: &str, text: &str) -> Result<std::time::Duration, String> {
    let timeout = parse_duration(text).map_err(|e| format!("{setting}: {e}"))?;
    if timeout.as_secs() < 1 {
        return Err(format!("{setting} must be at least one second (1s)"));
    }
    if timeout > SESSION_TIMEOUT_MAX {
        return Err(format!("{setting} must be at most 400 days (the longest a browser keeps a cookie)"));
    }
    Ok(timeout)
}

/// `PORTCULLIS_SESSION_IDLE_TIMEOUT`: between one second and 400 days.
pub fn parse_session_idle(text: &str) -> Result<std::time::Duration, String> {
    parse_session_timeout("PORTCULLIS_SESSION_IDLE_TIMEOUT / --session-idle-timeout", text)
}

/// A connection or body timeout: between one second and ten minutes.
pub fn parse_io_timeout(text: &str) -> Result<std::time::Duration, String> {
    let timeout = parse_duration(text)?;
    if !(1..=600).contains(&timeout.as_secs()) {
        return Err(format!("`{text}`: a read timeout must be between 1s and 10m"));
    }
    Ok(timeout)
}

/// `PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT`: between one second and 400 days.
pub fn parse_session_absolute(text: &str) -> Result<std::time::Duration, String> {
    parse_session_timeout("PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT / --session-absolute-timeout", text)
}

/// Checks an issuer per RFC 8414 §2: `https` (or `http` for local use),
/// a host, no query, no fragment. Returns it without a trailing slash.
pub fn validate_issuer(issuer: &str) -> anyhow::Result<String> {
    let context = || format!("PORTCULLIS_ISSUER / --issuer `{issuer}` is not a valid issuer URL");
    if issuer.contains('#') {
        bail!("{}: it must not have a fragment", context());
    }
    let uri: Uri = issuer.parse().with_context(context)?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => bail!("{}: it must start with https:// (or http:// for local use)", context()),
    }
    if uri.host().is_none_or(str::is_empty) {
        bail!("{}: it must name a host", context());
    }
    if uri.query().is_some() {
        bail!("{}: it must not have a query", context());
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

impl GlobalConfig {
    fn master_key_path(&self) -> PathBuf {
        if let Some(path) = &self.master_key_file {
            return path.clone();
        }
        let sqlite_path =
            self.database_url.strip_prefix("sqlite://").or_else(|| self.database_url.strip_prefix("sqlite:"));
        match sqlite_path.map(|p| PathBuf::from(p.split('?').next().unwrap_or(p))) {
            Some(db) => {
                db.parent().map(|d| d.join("master.key")).unwrap_or_else(|| PathBuf::from("master.key"))
            }
            None => PathBuf::from("data/master.key"),
        }
    }

    /// The master key: from the environment, else from its file, else (only
    /// when the database holds nothing sealed yet) a new one written to the
    /// file with mode 0600.
    pub fn load_master_key(&self, may_generate: bool) -> anyhow::Result<MasterKey> {
        if let Some(encoded) = &self.master_key {
            let bytes = STANDARD
                .decode(encoded.expose_secret().trim())
                .context("PORTCULLIS_MASTER_KEY must be base64 (e.g. from `openssl rand -base64 32`)")?;
            return MasterKey::from_bytes(&bytes)
                .context("PORTCULLIS_MASTER_KEY must decode to exactly 32 bytes");
        }
        let path = self.master_key_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .with_context(|| format!("master key file {} must hold base64", path.display()))?;
                MasterKey::from_bytes(&bytes)
                    .with_context(|| format!("master key file {} must hold exactly 32 bytes", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_generate => write_new_master_key(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "master key file {} is missing, and the database holds data sealed under a master key: \
                 give the key with PORTCULLIS_MASTER_KEY or --master-key-file",
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("could not read master key file {}", path.display())),
        }
    }
}

fn write_new_master_key(path: &std::path::Path) -> anyhow::Result<MasterKey> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(dir).with_context(|| format!("could not create directory {}", dir.display()))?;
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file =
        options.open(path).with_context(|| format!("could not create master key file {}", path.display()))?;
    writeln!(file, "{}", STANDARD.encode(key.as_bytes()))?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), "generated a new master key: back this file up, without it the stored keys cannot be opened");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_durations() {
        assert_eq!(parse_retention("7d"), Ok(std::time::Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_retention("36h"), Ok(std::time::Duration::from_secs(36 * 3600)));
        assert_eq!(parse_retention("90m"), Ok(std::time::Duration::from_secs(5400)));
        assert_eq!(parse_retention("3600"), Ok(std::time::Duration::from_secs(3600)));
        for bad in ["", "d", "7w", "-1d", "30s", "x"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_units_in_a_row() {
        let secs = |n| Ok(std::time::Duration::from_secs(n));
        assert_eq!(parse_duration("5s"), secs(5));
        assert_eq!(parse_duration(" 30m "), secs(1800));
        assert_eq!(parse_duration("12h"), secs(43_200));
        assert_eq!(parse_duration("1h30m"), secs(5400));
        assert_eq!(parse_duration("1d2h3m4s"), secs(93_784));
        assert_eq!(parse_duration("90"), secs(90));
        for bad in ["", "h", "1h30", "1 h", "1w", "-5s", "5S", "1.5h", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_timeouts_are_checked_and_name_their_setting() {
        assert_eq!(parse_session_idle("3s"), Ok(std::time::Duration::from_secs(3)));
        assert_eq!(parse_session_absolute("12h"), Ok(std::time::Duration::from_secs(43_200)));
        assert_eq!(parse_session_absolute("400d"), Ok(SESSION_TIMEOUT_MAX));
        for bad in ["0s", "0", "401d", "soon", "30x"] {
            let idle = parse_session_idle(bad).unwrap_err();
            assert!(idle.contains("PORTCULLIS_SESSION_IDLE_TIMEOUT"), "{idle}");
            let absolute = parse_session_absolute(bad).unwrap_err();
            assert!(absolute.contains("PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT"), "{absolute}");
        }
    }

    #[test]
    fn secret_settings_never_show_in_debug() {
        use clap::Parser;
        let key = "c2VjcmV0LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZyE=";
        let password = "correct horse battery staple 42";
        let cli = crate::cli::Cli::try_parse_from([
            "portcullis",
            "--master-key",
            key,
            "serve",
            "--admin-email",
            "admin@example.com",
            "--admin-password",
            password,
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains(key) && !shown.contains("c2VjcmV0"), "{shown}");
        assert!(!shown.contains(password) && !shown.contains("horse"), "{shown}");
        // Still there for whoever uses them.
        assert_eq!(
            cli.global.master_key.as_ref().map(|k| k.expose_secret().to_owned()),
            Some(key.to_owned())
        );
    }

    #[test]
    fn issuer_rules() {
        assert_eq!(validate_issuer("https://auth.example.com/").unwrap(), "https://auth.example.com");
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("https://auth.example.com/tenant").is_ok());
        for bad in ["auth.example.com", "ftp://x", "https://x?a=b", "https://x#f", "https://", ""] {
            assert!(validate_issuer(bad).is_err(), "{bad}");
        }
    }
}
