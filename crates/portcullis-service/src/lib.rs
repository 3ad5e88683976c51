//! The Portcullis service layer. Every rule lives here; the web API, the
//! CLI and (later) GraphQL and the console are thin adapters over
//! [`Service`].

use std::sync::{Arc, RwLock};

use portcullis_domain::{Permission, Role, builtin_permissions, builtin_roles};
use portcullis_store::Stores;
use rand::{RngCore, rngs::OsRng};
use zeroize::Zeroizing;

mod access;
mod audit;
mod authz;
mod background;
mod batches;
mod bulk;
mod cache;
mod clients;
pub mod crypto;
mod error;
pub mod events;
pub mod jwt;
pub mod keys;
mod metrics;
mod paging;
pub mod passwords;
mod personal_tokens;
pub mod quota;
mod revocation;
mod role_book;
mod roles;
mod sessions;
mod token;
mod usage;
mod users;
mod verified;

/// Entry points for the fuzz targets in `fuzz/` (docs/fuzzing.md); not an API.
#[doc(hidden)]
pub mod fuzzing {
    use ed25519_dalek::SigningKey;

    use crate::keys::{KeySet, thumbprint};

    /// The key set a server with these keys verifies tokens against:
    /// `current` signs, and it and every key in `others` are published,
    /// each under its thumbprint as `kid`.
    pub fn key_set(current: &[u8; 32], others: &[[u8; 32]]) -> KeySet {
        let signing = SigningKey::from_bytes(current);
        let published = std::iter::once(current)
            .chain(others)
            .map(|seed| {
                let public = SigningKey::from_bytes(seed).verifying_key();
                (thumbprint(&public), public)
            })
            .collect();
        KeySet::new(thumbprint(&signing.verifying_key()), signing, published)
    }
}

pub use access::{ActiveToken, Introspected, TokenRejected};
pub use audit::{Actor, ChangeKind, SessionKind};
pub use authz::{Caller, Operation};
pub use background::{Background, BackgroundSettings};
pub use bulk::{BulkAction, BulkItem, BulkResult, BulkSummary};
pub use clients::{ClientPage, ClientUpdate, ClientView, ListClients, NewClient};
pub use crypto::MasterKey;
pub use error::{Result, ServiceError};
pub use metrics::{
    AuthFailure, CacheCounts, DEFAULT_CLIENT_LABELS, DecisionCounts, PasswordWorkCounts, ServiceMetrics,
};
pub use paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageItem, page_size};
pub use personal_tokens::PersonalTokenInfo;
pub use portcullis_store::{KeyState, stats};
pub use revocation::RevokeError;
pub use role_book::RoleBook;
pub use roles::{NewRole, PermissionGroup, RoleUpdate, group_by_category};
pub use sessions::{
    ActiveUser, Origin, SESSION_ABSOLUTE, SESSION_IDLE, SessionTimeouts, SignInError, SignedIn,
};
pub use token::{GrantError, IssuedToken, TOKEN_QUOTA_EXCEEDED};
pub use users::{ListUsers, NewUser, UserPage, UserUpdate, UserView};
pub use verified::{Limits as VerifiedTokenLimits, VerifiedTokenStats};

use crate::{
    audit::change_event,
    cache::{Cache, Generation},
    crypto::SecretHasher,
    keys::KeySet,
    usage::LastUsed,
};

/// A signing key as the admin API lists it: never its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub algorithm: String,
    pub state: KeyState,
    pub created_at: portcullis_domain::Timestamp,
    pub activated_at: Option<portcullis_domain::Timestamp>,
    pub replaced_at: Option<portcullis_domain::Timestamp>,
}

/// The name under which the client-secret HMAC key is stored (sealed).
pub const SECRET_HASH_KEY: &str = "client_secret_hmac_key";

/// Settings the rules depend on.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The `iss` of every token and the metadata's `issuer` (RFC 8414 §2).
    pub issuer: String,
    /// The default `aud` of every token (RFC 9068 §3).
    pub audience: String,
    /// When a console session ends (`PORTCULLIS_SESSION_IDLE_TIMEOUT`,
    /// `PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT`).
    pub sessions: SessionTimeouts,
    /// How much argon2 work runs and waits at once.
    pub passwords: passwords::PasswordLimits,
    /// Tokens a client may get from the token endpoint per hour
    /// (`PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR`); 0: no quota.
    pub tokens_per_client_per_hour: u32,
    /// Clients whose issued tokens `/metrics` counts under their own id
    /// (`PORTCULLIS_METRICS_CLIENT_LABELS`); the rest are counted together.
    pub metrics_client_labels: usize,
}

impl ServiceConfig {
    /// Issuer and audience, with the default session timeouts.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            sessions: SessionTimeouts::default(),
            passwords: passwords::PasswordLimits::default(),
            tokens_per_client_per_hour: 0,
            metrics_client_labels: usize::from(DEFAULT_CLIENT_LABELS),
        }
    }
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
    /// Console passwords' argon2 work, bounded.
    passwords: passwords::PasswordWork,
    /// The key set and the cache generation it was loaded at.
    keys: RwLock<(Option<Generation>, Arc<KeySet>)>,
    master: MasterKey,
    last_used: LastUsed,
    events: events::EventQueue,
    /// The token endpoint's quota per client, if one is set.
    token_quota: Option<quota::TokenQuota>,
    /// Tokens whose signature verified (introspection, bearer tokens).
    verified: verified::VerifiedTokens,
    /// What `/metrics` reads of the service.
    counters: metrics::Counters,
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
        let keys = RwLock::new((None, keys));
        let inner = Inner {
            stores,
            passwords: passwords::PasswordWork::new(config.passwords),
            token_quota: quota::TokenQuota::new(config.tokens_per_client_per_hour),
            counters: metrics::Counters::new(config.metrics_client_labels),
            config,
            cache,
            hasher,
            keys,
            master: master.clone(),
            last_used: LastUsed::default(),
            events: events::EventQueue::new(events::QUEUE_CAPACITY),
            verified: verified::VerifiedTokens::new(verified::Limits::DEFAULT),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The key set as last loaded (active key and published keys). See
    /// [`Service::current_keys`] for one that follows rotations elsewhere.
    pub fn keys(&self) -> Arc<KeySet> {
        self.inner.keys.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// The key set, reloaded first if anything changed since it was loaded
    /// (a rotation by the CLI or another instance).
    pub async fn current_keys(&self) -> Result<Arc<KeySet>> {
        let generation = self.inner.cache.generation()?;
        self.keys_at(generation).await
    }

    pub(crate) async fn keys_at(&self, generation: Generation) -> Result<Arc<KeySet>> {
        {
            let held = self.inner.keys.read().unwrap_or_else(|e| e.into_inner());
            if held.0 == Some(generation) {
                return Ok(held.1.clone());
            }
        }
        let fresh = keys::load(self.inner.stores.keys.as_ref(), &self.inner.master).await?;
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = (Some(generation), fresh.clone());
        Ok(fresh)
    }

    /// Drops from the JWKS (and the database) every key no unexpired token
    /// can have been signed with. Returns the kids dropped.
    pub async fn retire_signing_keys(&self) -> Result<Vec<String>> {
        let stored = self.inner.stores.keys.list_signing_keys().await?;
        let mut retire = Vec::new();
        for kid in keys::retirable(&stored, portcullis_domain::now()) {
            // Every instance of a fleet runs this: a key a peer deleted
            // first is not this instance's to report.
            if self.inner.stores.keys.delete_signing_key(&kid).await? {
                tracing::info!(kid, "retired a signing key: every token it signed has expired");
                retire.push(kid);
            }
        }
        if !retire.is_empty() {
            self.inner.cache.invalidate();
        }
        Ok(retire)
    }

    /// Rotates the signing keys: the pre-published next key (already in
    /// every JWKS fetched since it was made) becomes current and signs new
    /// tokens on every instance at its next request; a fresh next key is
    /// published; the replaced key stays published until every token it
    /// signed has expired (see `retire_signing_keys`). Atomic in the store:
    /// two racing rotations are two rotations, never zero or two current
    /// keys. Returns the new current key's kid.
    pub async fn rotate_signing_key(&self, caller: &Caller) -> Result<String> {
        caller.may(crate::Operation::RotateSigningKey)?;
        let actor = &caller.actor;
        let inner = &self.inner;
        for _ in 0..3 {
            let stored = keys::ensure(inner.stores.keys.as_ref(), &inner.master).await?;
            let current = stored.iter().find(|k| k.state == KeyState::Current);
            let next = stored.iter().find(|k| k.state == KeyState::Next);
            let (Some(current), Some(_)) = (current, next) else { continue };
            let new_next = keys::new_key(&inner.master, KeyState::Next)?;
            // The event names the key the store made current, in the
            // rotation's transaction: a rotation that lost a race has none.
            let events = |kid: &str| {
                let details = serde_json::json!({ "kid": kid });
                vec![change_event(actor, ChangeKind::KeyRotated, audit::Subject::None, Some(details))]
            };
            let rotated = inner
                .stores
                .keys
                .rotate_signing_keys(&current.kid, &new_next, portcullis_domain::now(), &events)
                .await?;
            if let Some(kid) = rotated {
                inner.cache.invalidate();
                tracing::info!(kid, next = new_next.kid, "rotated the signing keys");
                return Ok(kid);
            }
            // Another rotation won the race: rotate again from what it left.
        }
        Err(ServiceError::Conflict("signing_key_rotation"))
    }

    /// Withdraws a (compromised) key at once: it leaves the JWKS and every
    /// token it signed stops validating here at the next request on every
    /// instance. A revoked current key is replaced by the next one, and a
    /// fresh next key is published. Returns the state the key had.
    pub async fn revoke_signing_key(&self, caller: &Caller, kid: &str) -> Result<KeyState> {
        caller.may(crate::Operation::RevokeSigningKey)?;
        let actor = &caller.actor;
        let inner = &self.inner;
        let new_next = keys::new_key(&inner.master, KeyState::Next)?;
        let events = |state: KeyState| {
            let details = serde_json::json!({ "kid": kid, "state": state.as_str() });
            vec![change_event(actor, ChangeKind::KeyRevoked, audit::Subject::None, Some(details))]
        };
        let state = inner
            .stores
            .keys
            .revoke_signing_key(kid, &new_next, portcullis_domain::now(), &events)
            .await?
            .ok_or(ServiceError::KeyNotFound)?;
        inner.cache.invalidate();
        tracing::warn!(
            kid,
            state = state.as_str(),
            "revoked a signing key: the tokens it signed are no longer valid"
        );
        Ok(state)
    }

    /// Every stored key, newest first, without its private half.
    pub async fn signing_keys(&self, caller: &Caller) -> Result<Vec<SigningKeyInfo>> {
        caller.may(crate::Operation::ReadSigningKeys)?;
        let stored = self.inner.stores.keys.list_signing_keys().await?;
        Ok(stored
            .into_iter()
            .map(|k| SigningKeyInfo {
                kid: k.kid,
                algorithm: k.algorithm,
                state: k.state,
                created_at: k.created_at,
                activated_at: k.activated_at,
                replaced_at: k.replaced_at,
            })
            .collect())
    }

    /// Every permission a token may carry, for the metadata's `scopes_supported`.
    pub async fn permissions(&self) -> Result<Vec<Permission>> {
        Ok(self.inner.stores.roles.list_permissions().await?)
    }

    /// Every role and permission as stored now, from the cache (two store
    /// calls after any change, none otherwise): what a page's role names
    /// and permissions are read from, never a read per row.
    pub(crate) async fn role_book(&self) -> Result<Arc<RoleBook>> {
        let generation = self.inner.cache.generation()?;
        self.inner.cache.role_book(generation, self.inner.stores.roles.as_ref()).await
    }

    pub async fn roles(&self, caller: &Caller) -> Result<Vec<Role>> {
        caller.may(Operation::ReadRoles)?;
        Ok(self.inner.stores.roles.list_roles().await?)
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.inner.stores.health.ping().await?)
    }

    /// How far behind this instance's caches may be on changes made
    /// elsewhere (`None`: not known, so the caches are bypassed). Zero on
    /// SQLite, which is asked on every read.
    pub fn change_feed_staleness(&self) -> Option<std::time::Duration> {
        self.inner.stores.changes.staleness()
    }

    /// This instance has stopped answering requests: other instances on
    /// the same database stop waiting for it to acknowledge their writes.
    pub async fn leave_change_feed(&self) {
        self.inner.stores.changes.leave().await;
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
