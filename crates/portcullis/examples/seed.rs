//! Fills a Portcullis database with many clients and events, for measuring
//! what operators with a big installation meet (`bench/scale`).
//!
//! Clients are written with `insert_client` (one transaction each, as the
//! admin API does; several at once on PostgreSQL), created over the last
//! year, named like real integrations (`billing-sync-000123`), with the
//! built-in roles; nobody knows their secrets. Events are request events of
//! those clients over the last seven days, written with `insert_events` in
//! the pipeline's batches, bodies as stored (already redacted).
//!
//! ```sh
//! cargo run --release -p portcullis --example seed -- \
//!   --database-url sqlite:/tmp/big/portcullis.db --clients 1000000 --events 10000000
//! ```
//!
//! Prints progress on stderr and, at the end, one line of JSON on stdout:
//! what was seeded and how long it took.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a tool's output is its point

use std::{sync::Arc, time::Instant};

use anyhow::{Context, bail};
use chrono::TimeDelta;
use clap::Parser;
use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, Description, Event, EventId, SecretHash, TokenTtl,
    builtin_permissions, builtin_roles, now,
};
use portcullis_store::{ClientStore, EventStore, RoleStore};
use portcullis_store_postgres::PgStore;
use portcullis_store_sqlite::SqliteStore;
use rand::{Rng, SeedableRng, rngs::StdRng};

#[derive(Debug, Parser)]
#[command(about = "Seeds a Portcullis database with many clients and events")]
struct Args {
    /// `sqlite:PATH` or `postgres://…`: migrated here if it is not yet.
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    clients: u64,
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// The random seed: the same seed makes the same names.
    #[arg(long, default_value_t = 14)]
    seed: u64,
}

const WORDS: [&str; 16] = [
    "billing",
    "crm",
    "reports",
    "ledger",
    "search",
    "mailer",
    "backup",
    "payments",
    "inventory",
    "analytics",
    "webhooks",
    "audit",
    "exports",
    "pricing",
    "shipping",
    "identity",
];
const KINDS: [&str; 8] = ["sync", "worker", "job", "api", "bridge", "importer", "agent", "cron"];
const TOKEN_FORM: &str = "grant_type=client_credentials&scope=clients%3Aread";
const TOKEN_ANSWER: &str =
    r#"{"access_token":"[redacted]","token_type":"Bearer","expires_in":3600,"scope":"clients:read"}"#;

/// The name of client `i`: e.g. `billing-sync-000123`, unique.
pub fn name_of(i: u64) -> String {
    let word = WORDS[(i % 16) as usize];
    let kind = KINDS[((i / 16) % 8) as usize];
    format!("{word}-{kind}-{i:06}")
}

mod bulk {
    //! Many clients in one transaction, in the columns and encodings each
    //! store uses (see `portcullis-store-sqlite/src/clients.rs` and
    //! `portcullis-store-postgres/src/clients.rs`).
    use portcullis_domain::ApiClient;
    use portcullis_store::search;
    use sqlx::{Connection, PgConnection, QueryBuilder, SqliteConnection};

    const COLUMNS: &str = "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, \
                           token_ttl_seconds, secret_hash, created_at, updated_at, version) ";

    pub async fn insert_clients(url: &str, clients: &[ApiClient]) -> anyhow::Result<()> {
        if url.starts_with("sqlite:") {
            let mut conn = SqliteConnection::connect(url).await?;
            let mut tx = conn.begin().await?;
            // SQLite allows 32,766 bound values a statement: 1,000 rows of 11.
            for chunk in clients.chunks(1_000) {
                let mut sql = QueryBuilder::new(COLUMNS);
                sql.push_values(chunk, |mut row, c| {
                    row.push_bind(c.id.to_string())
                        .push_bind(c.name.as_str().to_owned())
                        .push_bind(search::fold(c.name.as_str()))
                        .push_bind(c.description.as_ref().map(|d| d.as_str().to_owned()))
                        .push_bind(c.status.as_str())
                        .push_bind(c.role_id.map(|r| r.to_string()))
                        .push_bind(i64::from(c.token_ttl.as_secs()))
                        .push_bind(c.secret_hash.as_bytes().to_vec())
                        .push_bind(c.created_at.timestamp_micros())
                        .push_bind(c.updated_at.timestamp_micros())
                        .push_bind(1_i64);
                });
                sql.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            conn.close().await?;
        } else {
            let mut conn = PgConnection::connect(url).await?;
            let mut tx = conn.begin().await?;
            for chunk in clients.chunks(1_000) {
                let mut sql = QueryBuilder::new(COLUMNS);
                sql.push_values(chunk, |mut row, c| {
                    row.push_bind(c.id.as_uuid())
                        .push_bind(c.name.as_str().to_owned())
                        .push_bind(search::fold(c.name.as_str()))
                        .push_bind(c.description.as_ref().map(|d| d.as_str().to_owned()))
                        .push_bind(c.status.as_str())
                        .push_bind(c.role_id.map(|r| r.as_uuid()))
                        .push_bind(i32::try_from(c.token_ttl.as_secs()).unwrap_or(3600))
                        .push_bind(c.secret_hash.as_bytes().to_vec())
                        .push_bind(c.created_at)
                        .push_bind(c.updated_at)
                        .push_bind(1_i64);
                });
                sql.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            conn.close().await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (clients, events, roles): (Arc<dyn ClientStore>, Arc<dyn EventStore>, Arc<dyn RoleStore>) =
        if args.database_url.starts_with("sqlite:") {
            let store = SqliteStore::connect(&args.database_url).await.context("open SQLite")?;
            store.migrate().await?;
            (store.clone(), store.clone(), store)
        } else if args.database_url.starts_with("postgres") {
            let store = PgStore::connect(&args.database_url).await.context("connect to PostgreSQL")?;
            store.migrate().await?;
            (store.clone(), store.clone(), store)
        } else {
            bail!("--database-url: sqlite:PATH or postgres://…");
        };
    roles.sync_builtins(&builtin_permissions(), &builtin_roles()).await?;
    let role_ids: Vec<_> = roles.list_roles().await?.into_iter().map(|r| r.id).collect();
    let end = now();

    // Clients: created evenly over the last year, oldest first; written in
    // bulk (10,000 a transaction), with the rows exactly as the stores
    // write them: one transaction per client, as the API does, would take
    // an hour for a million with SQLite's fsync per commit.
    let began = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let year = TimeDelta::days(365).num_seconds();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..args.clients {
        let at = end - TimeDelta::seconds(year - (i as i64 * year / args.clients.max(1) as i64));
        batch.push(ApiClient {
            id: ClientId::from_uuid(uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()),
            name: ClientName::parse(&name_of(i))?,
            description: (i % 3 == 0).then(|| Description::parse("seeded by bench/scale")).transpose()?,
            status: if i % 50 == 0 { ClientStatus::Disabled } else { ClientStatus::Enabled },
            role_id: Some(role_ids[(i as usize) % role_ids.len()]),
            token_ttl: TokenTtl::DEFAULT,
            secret_hash: SecretHash::from_bytes(rng.r#gen()),
            created_at: at,
            updated_at: at,
            last_used_at: None,
            tokens_valid_after: None,
            version: 1,
        });
        if batch.len() == 10_000 || i + 1 == args.clients {
            bulk::insert_clients(&args.database_url, &batch).await?;
            batch.clear();
            if (i + 1) % 100_000 == 0 {
                eprintln!("  {} clients ({:.0} s)", i + 1, began.elapsed().as_secs_f64());
            }
        }
    }
    // One row through the store's own insert, so that it is checked to
    // read back what the bulk path wrote.
    let probe =
        clients.list_clients(&portcullis_store::ClientQuery { limit: 1, ..Default::default() }).await?;
    anyhow::ensure!(probe.len() == 1 || args.clients == 0, "the seeded clients do not read back");
    let clients_seconds = began.elapsed().as_secs_f64();
    eprintln!("{} clients in {clients_seconds:.0} s", args.clients);

    // Events: the request log of the last seven days, of the newest clients
    // (a client listed in the console is one whose log is looked at).
    // At most 1,000 of them, each with at least 5,100 events (more than 100 pages of 50).
    let owners = u32::try_from((args.events / 5_100).clamp(1, 1_000)).unwrap_or(1_000);
    let listed =
        clients.list_clients(&portcullis_store::ClientQuery { limit: owners, ..Default::default() }).await?;
    let owners: Vec<ClientId> = listed.iter().map(|c| c.id).collect();
    let began = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let span = TimeDelta::days(7).num_microseconds().unwrap_or(i64::MAX) as u128;
    let start = end - TimeDelta::days(7);
    let mut batch = Vec::with_capacity(portcullis_service::events::BATCH);
    for i in 0..args.events {
        let at =
            start + TimeDelta::microseconds((u128::from(i) * span / u128::from(args.events.max(1))) as i64);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
        let client = owners[rng.gen_range(0..owners.len().max(1))];
        batch.push(Event {
            id: EventId::from_uuid(
                uuid::Builder::from_unix_timestamp_millis(millis, &rng.r#gen()).into_uuid(),
            ),
            client_id: Some(client),
            actor: Some(format!("client:{client}")),
            method: Some("POST".to_owned()),
            path: Some("/oauth2/token".to_owned()),
            status: Some(if rng.gen_bool(0.97) { 200 } else { 401 }),
            latency_micros: Some(rng.gen_range(300..3_000)),
            source_ip: Some("192.0.2.7".to_owned()),
            user_agent: Some("python-requests/2.31.0".to_owned()),
            request_body: Some(TOKEN_FORM.to_owned()),
            response_body: Some(TOKEN_ANSWER.to_owned()),
            ..Event::new("token.request", at)
        });
        if batch.len() == portcullis_service::events::BATCH || i + 1 == args.events {
            events.insert_events(&batch).await?;
            batch.clear();
            if (i + 1) % 1_000_000 == 0 {
                eprintln!("  {} events ({:.0} s)", i + 1, began.elapsed().as_secs_f64());
            }
        }
    }
    let events_seconds = began.elapsed().as_secs_f64();
    eprintln!("{} events in {events_seconds:.0} s", args.events);
    println!(
        "{}",
        serde_json::json!({
            "clients": args.clients,
            "events": args.events,
            "clients_seconds": clients_seconds,
            "events_seconds": events_seconds,
            "event_owner_example": owners.first().map(ToString::to_string),
        })
    );
    Ok(())
}
