//! The command line: `serve`, `migrate`, `clients …`.

mod clients;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::{EnvFilter, fmt, fmt::writer::BoxMakeWriter};

use crate::{
    config::{GlobalConfig, LogFormat, ServeConfig},
    startup,
};

#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about = "A self-hosted authorization server for machine clients")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage console users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the admin API's OpenAPI 3.1 document (as served at /api/v1/openapi.json).
    Openapi,
    /// Print the GraphQL schema in SDL (the API served at /graphql).
    GraphqlSchema,
    /// Manage API clients on the configured database (also while a server runs on it).
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
}

/// How many formatted lines may wait for the log thread before a request
/// that logs waits for it (lines are never dropped).
const LOG_QUEUE_LINES: usize = 16_384;

/// Sets up logging to stderr. For `serve` (`buffered`), lines are handed to
/// a thread of their own that writes them in batches through a buffer and
/// flushes whenever it has caught up: a request never waits on a `write`
/// to a file or a pipe, and a burst of requests costs one write per batch,
/// not one per line. The returned guard flushes what is queued when it is
/// dropped, at the end of `run`. Other commands write lines as they come,
/// so that they interleave with the command's own output.
fn init_tracing(
    global: &GlobalConfig,
    buffered: bool,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let mut filter = EnvFilter::try_new(&global.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // PostgreSQL's notices ("relation … already exists, skipping", and the
    // nesting warnings behind a transaction pooler) are not for operators;
    // `PORTCULLIS_LOG=sqlx::postgres::notice=warn,…` shows them.
    if !global.log.contains("sqlx::postgres::notice")
        && let Ok(quiet) = "sqlx::postgres::notice=error".parse()
    {
        filter = filter.add_directive(quiet);
    }
    // Logs go to stderr: stdout is for command output (e.g. `--json`).
    // Colours only for a person at a terminal, never into files or journals.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = if buffered {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .buffered_lines_limit(LOG_QUEUE_LINES)
            .thread_name("portcullis-log")
            .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
        (BoxMakeWriter::new(writer), Some(guard))
    } else {
        (BoxMakeWriter::new(std::io::stderr), None)
    };
    let builder = fmt().with_env_filter(filter).with_ansi(ansi).with_writer(writer);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

pub async fn run(cli: Cli) -> ExitCode {
    let log_flush = init_tracing(&cli.global, matches!(cli.command, Command::Serve(_)));
    startup::install_panic_hook();
    let result = match cli.command {
        Command::Serve(serve) => serve_until_stopped(&cli.global, &serve).await,
        Command::Migrate => startup::open_stores(&cli.global, false).await.map(|_| {
            tracing::info!("migrations applied");
        }),
        Command::Clients(command) => clients::run(&cli.global, command).await,
        Command::Keys(KeysCommand::Rotate) => rotate_keys(&cli.global).await,
        Command::Keys(KeysCommand::Revoke { kid }) => revoke_key(&cli.global, &kid).await,
        Command::Users(command) => users::run(&cli.global, command).await,
        Command::Openapi => {
            print_stdout(&portcullis_web::api::openapi_json());
            Ok(())
        }
        Command::GraphqlSchema => {
            print_stdout(&portcullis_web::graphql::sdl());
            Ok(())
        }
    };
    // Queued log lines come out before the error line below.
    drop(log_flush);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rotate the signing keys: the pre-published next key signs new tokens
    /// from now on (also on a running server) and a new next key is
    /// published; old public keys stay published until their tokens expire.
    Rotate,
    /// Withdraw a (compromised) signing key at once: it leaves the JWKS and
    /// every token it signed stops validating here; if it was signing, the
    /// next key takes over.
    Revoke {
        /// The key's id (`kid`), as in the JWKS and in tokens' headers.
        kid: String,
    },
}

async fn rotate_keys(global: &GlobalConfig) -> anyhow::Result<()> {
    let service = startup::open_cli_service(global).await?;
    let kid = service.rotate_signing_key(&portcullis_service::Caller::cli()).await?;
    print_stdout(&format!("New signing key {kid}: new tokens use it from now on."));
    Ok(())
}

async fn revoke_key(global: &GlobalConfig, kid: &str) -> anyhow::Result<()> {
    let service = startup::open_cli_service(global).await?;
    let state = match service.revoke_signing_key(&portcullis_service::Caller::cli(), kid).await {
        Err(portcullis_service::ServiceError::KeyNotFound) => anyhow::bail!("no signing key with kid {kid}"),
        other => other?,
    };
    print_stdout(&format!(
        "Revoked signing key {kid} (it was {}): the tokens it signed are no longer valid here.",
        state.as_str()
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_stdout(text: &str) {
    println!("{text}");
}

async fn serve_until_stopped(global: &GlobalConfig, serve: &ServeConfig) -> anyhow::Result<()> {
    let app = startup::build(global, serve).await?;
    let settings = portcullis_service::BackgroundSettings {
        event_retention: serve.event_retention,
        ..Default::default()
    };
    let background = app.service().spawn_background(settings);
    let service = app.service().clone();
    let served = app.run_until_stopped(startup::shutdown_signal()).await;
    // No request will be answered from this instance's caches any more:
    // the others need not wait for it to see their writes.
    service.leave_change_feed().await;
    // Requests are done: write the last-used times still in memory.
    background.shutdown().await;
    served?;
    // The last line of a clean stop (supervisors and tests look for it);
    // the log thread writes it before the process exits.
    tracing::info!("stopped: requests finished, last-used times and events written");
    Ok(())
}
