//! `portcullis clients …`: the client lifecycle from a shell, on the
//! configured database. A running server sees every change on its next
//! request (see the cache in the service layer).
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Subcommand;
use portcullis_domain::{ClientId, ClientName, ClientSecret, Description, RoleName, TokenTtl};
use portcullis_service::{BulkAction, BulkResult, Caller, ClientView, ListClients, NewClient, Service};
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
    /// Disable clients: every authentication fails until they are enabled again.
    Disable {
        /// One or more client ids (up to 1,000), changed in one transaction.
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Enable disabled clients; their secrets are unchanged.
    Enable {
        /// One or more client ids (up to 1,000), changed in one transaction.
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Delete clients for good.
    Delete {
        /// One or more client ids (up to 1,000), deleted in one transaction.
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Replace a client's secret; the old one stops working at once.
    RegenerateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(global: &GlobalConfig, command: ClientsCommand) -> anyhow::Result<()> {
    let service = startup::open_cli_service(global).await?;
    // Every change writes its events in its own transaction: nothing is
    // left queued for a background writer this process does not have.
    execute(&service, command).await
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
            let (view, secret) = service.create_client(&Caller::cli(), new).await?;
            print_credentials("Created", &view, &secret, json);
        }
        ClientsCommand::List { json } => list(service, json).await?,
        ClientsCommand::Disable { ids } => bulk(service, BulkAction::Disable, &ids).await?,
        ClientsCommand::Enable { ids } => bulk(service, BulkAction::Enable, &ids).await?,
        ClientsCommand::Delete { ids } => bulk(service, BulkAction::Delete, &ids).await?,
        ClientsCommand::RegenerateSecret { id, json } => {
            let (view, secret) = service.regenerate_client_secret(&Caller::cli(), parse_id(&id)?).await?;
            print_credentials("Regenerated the secret of", &view, &secret, json);
        }
    }
    Ok(())
}

/// Enables, disables or deletes every listed client in one transaction (the
/// admin API's bulk action), printing what happened to each. Fails, after
/// changing the others, when an id names no client, as a typo should.
async fn bulk(service: &Service, action: BulkAction, ids: &[String]) -> anyhow::Result<()> {
    let ids = ids.iter().map(|id| parse_id(id)).collect::<anyhow::Result<Vec<ClientId>>>()?;
    let items = service.bulk_clients(&Caller::cli(), action, &ids).await?;
    let (done, already) = match action {
        BulkAction::Enable => ("Enabled", "enabled"),
        BulkAction::Disable => ("Disabled", "disabled"),
        BulkAction::Delete => ("Deleted", "deleted"),
    };
    let mut missing = Vec::new();
    for item in &items {
        let name = item.name.as_ref().map_or(String::new(), |n| format!(" ({n})"));
        match item.result {
            BulkResult::Done => println!("{done} client {}{name}", item.client_id),
            BulkResult::AlreadyInState => println!("Client {}{name} is {already} already", item.client_id),
            BulkResult::NotFound => missing.push(item.client_id.to_string()),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!("no client with id {}", missing.join(", "));
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
        let page = service
            .list_clients(&Caller::cli(), ListClients { cursor, limit: Some(200), ..Default::default() })
            .await?;
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
