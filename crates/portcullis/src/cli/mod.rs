//! The command line: `serve`, `migrate`, `clients …`.

mod clients;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::{EnvFilter, fmt};

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

fn init_tracing(global: &GlobalConfig) {
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
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn run(cli: Cli) -> ExitCode {
    init_tracing(&cli.global);
    startup::install_panic_hook();
    let result = match cli.command {
        Command::Serve(serve) => serve_until_stopped(&cli.global, &serve).await,
        Command::Migrate => startup::open_stores(&cli.global).await.map(|_| {
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
    let served = app.run_until_stopped(startup::shutdown_signal()).await;
    // Requests are done: write the last-used times still in memory.
    background.shutdown().await;
    Ok(served?)
}
