//! `portcullis clients …`: the client lifecycle from a shell, on the
//! configured database. A running server sees every change on its next
//! request (see the cache in the service layer).
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Subcommand;
use portcullis_domain::{ClientId, ClientName, ClientSecret, ClientStatus, Description, RoleName, TokenTtl};
use portcullis_service::{Actor, ClientView, ListClients, NewClient, Service};
use portcullis_web::api::clients::ClientResponse;
use serde_json::json;

use crate::{config::GlobalConfig, startup};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client and print its id and one-time secret.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Role name, e.g. `admin` or `viewer`.
        #[arg(long)]
        role: Option<String>,
        /// Access-token lifetime in seconds (60 to 86400; default 3600).
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// List every client, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a client: every authentication fails until it is enabled again.
    Disable { id: String },
    /// Enable a disabled client; its secret is unchanged.
    Enable { id: String },
    /// Delete a client for good.
    Delete { id: String },
    /// Replace a client's secret; the old one stops working at once.
    RegenerateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(global: &GlobalConfig, command: ClientsCommand) -> anyhow::Result<()> {
    let service = startup::open_cli_service(global).await?;
    let done = execute(&service, command).await;
    done.and(super::write_change_events(&service).await)
}

async fn execute(service: &Service, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Create { name, description, role, token_ttl, json } => {
            let new = NewClient {
                name: ClientName::parse(&name).context("--name")?,
                description: description
                    .as_deref()
                    .map(Description::parse)
                    .transpose()
                    .context("--description")?,
                role: role.as_deref().map(RoleName::parse).transpose().context("--role")?,
                token_ttl: token_ttl
                    .map(TokenTtl::from_secs)
                    .transpose()
                    .context("--token-ttl")?
                    .unwrap_or_default(),
            };
            let (view, secret) = service.create_client(&Actor::Cli, new).await?;
            print_credentials("Created", &view, &secret, json);
        }
        ClientsCommand::List { json } => list(service, json).await?,
        ClientsCommand::Disable { id } => {
            let view = service.set_client_status(&Actor::Cli, parse_id(&id)?, ClientStatus::Disabled).await?;
            println!("Disabled client {} ({})", view.client.id, view.client.name);
        }
        ClientsCommand::Enable { id } => {
            let view = service.set_client_status(&Actor::Cli, parse_id(&id)?, ClientStatus::Enabled).await?;
            println!("Enabled client {} ({})", view.client.id, view.client.name);
        }
        ClientsCommand::Delete { id } => {
            let id = parse_id(&id)?;
            service.delete_client(&Actor::Cli, id).await?;
            println!("Deleted client {id}");
        }
        ClientsCommand::RegenerateSecret { id, json } => {
            let (view, secret) = service.regenerate_client_secret(&Actor::Cli, parse_id(&id)?).await?;
            print_credentials("Regenerated the secret of", &view, &secret, json);
        }
    }
    Ok(())
}

fn parse_id(id: &str) -> anyhow::Result<ClientId> {
    id.parse().with_context(|| format!("`{id}` is not a client id (a UUID)"))
}

/// The same shape as the admin API's client object.
fn client_json(view: &ClientView) -> serde_json::Value {
    serde_json::to_value(ClientResponse::from(view)).unwrap_or_default()
}

fn print_credentials(verb: &str, view: &ClientView, secret: &ClientSecret, json: bool) {
    let c = &view.client;
    if json {
        let mut out = client_json(view);
        out["client_secret"] = json!(secret.expose());
        println!("{out}");
        return;
    }
    println!("{verb} client \"{}\"", c.name);
    println!();
    println!("  client_id:      {}", c.id);
    println!("  client_secret:  {}", secret.expose());
    println!("  role:           {}", view.role.as_ref().map_or("(none)", |r| r.as_str()));
    println!("  token lifetime: {} s", c.token_ttl.as_secs());
    println!();
    println!("The client secret is shown only this once: store it now. Portcullis keeps only a hash of it.");
}

async fn list(service: &Service, json: bool) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            service.list_clients(ListClients { cursor, limit: Some(200), ..Default::default() }).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(all.iter().map(client_json).collect()));
        return Ok(());
    }
    if all.is_empty() {
        println!("No clients yet. Create one with `portcullis clients create --name NAME`.");
        return Ok(());
    }
    println!("{:<36}  {:<8}  {:<10}  {:>7}  NAME", "CLIENT ID", "STATUS", "ROLE", "TTL(s)");
    for v in &all {
        let c = &v.client;
        println!(
            "{:<36}  {:<8}  {:<10}  {:>7}  {}",
            c.id,
            c.status,
            v.role.as_ref().map_or("-", |r| r.as_str()),
            c.token_ttl.as_secs(),
            c.name
        );
    }
    Ok(())
}
