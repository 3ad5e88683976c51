//! The Portcullis service layer. Every rule lives here; the web API, the
//! CLI and (later) GraphQL and the console are thin adapters over
//! [`Service`].

use std::sync::{Arc, RwLock};

use portcullis_domain::{Permission, Role, builtin_permissions, builtin_roles};
use portcullis_store::Stores;
use rand::{RngCore, rngs::OsRng};
use zeroize::Zeroizing;

mod access;
mod cache;
mod clients;
pub mod crypto;
mod error;
pub mod jwt;
pub mod keys;
mod token;

pub use access::{ActiveToken, TokenRejected};
pub use clients::{
    ClientPage, ClientUpdate, ClientView, DEFAULT_PAGE_SIZE, ListClients, MAX_PAGE_SIZE, NewClient,
};
pub use crypto::MasterKey;
pub use error::{Result, ServiceError};
pub use token::{GrantError, IssuedToken};

use crate::{cache::Cache, crypto::SecretHasher, keys::KeySet};

/// The name under which the client-secret HMAC key is stored (sealed).
pub const SECRET_HASH_KEY: &str = "client_secret_hmac_key";

/// Settings the rules depend on.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The `iss` of every token and the metadata's `issuer` (RFC 8414 §2).
    pub issuer: String,
    /// The default `aud` of every token (RFC 9068 §3).
    pub audience: String,
}

/// The service layer, cheap to clone: adapters hold one each.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    config: ServiceConfig,
    cache: Cache,
    hasher: SecretHasher,
    keys: RwLock<Arc<KeySet>>,
}

impl Service {
    /// Prepares a migrated database for use: syncs the built-in permissions
    /// and roles, opens (or creates) the secret-hashing key and the signing
    /// keys under `master`.
    pub async fn start(stores: Stores, config: ServiceConfig, master: &MasterKey) -> Result<Self> {
        stores.roles.sync_builtins(&builtin_permissions(), &builtin_roles()).await?;
        let hasher = SecretHasher::new(&open_or_create_secret(&stores, master, SECRET_HASH_KEY).await?);
        let keys = keys::load(stores.keys.as_ref(), master).await?;
        let cache = Cache::new(stores.changes.clone());
        Ok(Self { inner: Arc::new(Inner { stores, config, cache, hasher, keys: RwLock::new(keys) }) })
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The current key set (active key and published keys).
    pub fn keys(&self) -> Arc<KeySet> {
        self.inner.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every permission a token may carry, for the metadata's `scopes_supported`.
    pub async fn permissions(&self) -> Result<Vec<Permission>> {
        Ok(self.inner.stores.roles.list_permissions().await?)
    }

    pub async fn roles(&self) -> Result<Vec<Role>> {
        Ok(self.inner.stores.roles.list_roles().await?)
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.inner.stores.health.ping().await?)
    }
}

/// True when the database already holds secrets sealed under some master
/// key, i.e. when generating a new master key would lock us out.
pub async fn has_sealed_secrets(stores: &Stores) -> Result<bool> {
    Ok(stores.secrets.get_server_secret(SECRET_HASH_KEY).await?.is_some())
}

async fn open_or_create_secret(
    stores: &Stores,
    master: &MasterKey,
    name: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let purpose = format!("server-secret:{name}");
    let sealed = match stores.secrets.get_server_secret(name).await? {
        Some(sealed) => sealed,
        None => {
            let mut fresh = Zeroizing::new(vec![0u8; 32]);
            OsRng.fill_bytes(&mut fresh);
            let sealed = master.seal(&purpose, &fresh)?;
            stores.secrets.insert_server_secret_if_absent(name, &sealed).await?
        }
    };
    Ok(master.open(&purpose, &sealed)?)
}
