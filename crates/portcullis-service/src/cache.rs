//! The hot path's memory: clients and roles, invalidated by generation;
//! and the [`RoleBook`] pages of clients and users are shown with.
//!
//! Every lookup first asks the store's [`ChangeWatch`] for its generation
//! (for SQLite `PRAGMA data_version`, for PostgreSQL a counter fed by
//! LISTEN/NOTIFY). If it moved, everything cached is dropped: a change
//! committed by the CLI on the same SQLite file is honoured on the very next
//! request; one committed by another PostgreSQL instance as soon as its
//! notification arrives (milliseconds). This process's own changes hold at
//! once on both ([`Cache::invalidate`]).
//! Entries are filled only under the generation read *before* the database
//! read, so a fill that raced a change is dropped by the next lookup.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use portcullis_domain::{ApiClient, ClientId, Role, RoleId};
use portcullis_store::{ChangeWatch, ClientStore, RoleStore, TokenStore};
use uuid::Uuid;

use crate::{Result, RoleBook};

/// Beyond this many entries the cache starts over, so that a stream of
/// unknown client ids cannot grow it without bound.
const MAX_ENTRIES: usize = 100_000;

/// The store's generation and this process's own change counter.
pub type Generation = (u64, u64);

struct Generational<K, V> {
    generation: Generation,
    entries: HashMap<K, Option<Arc<V>>>,
}

struct Map<K, V>(RwLock<Generational<K, V>>);

impl<K: Eq + Hash + Copy, V> Map<K, V> {
    fn new() -> Self {
        Self(RwLock::new(Generational { generation: (u64::MAX, u64::MAX), entries: HashMap::new() }))
    }

    /// `Some(found)` on a hit at this generation (found may be `None`: a
    /// remembered miss).
    fn get(&self, generation: Generation, key: &K) -> Option<Option<Arc<V>>> {
        let state = self.0.read().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            return None;
        }
        state.entries.get(key).cloned()
    }

    fn put(&self, generation: Generation, key: K, value: Option<Arc<V>>) {
        let mut state = self.0.write().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation || state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
            state.generation = generation;
        }
        state.entries.insert(key, value);
    }
}

pub struct Cache {
    changes: Arc<dyn ChangeWatch>,
    local: AtomicU64,
    clients: Map<ClientId, ApiClient>,
    roles: Map<RoleId, Role>,
    /// Revoked token ids (`Some`) and ids known not to be (`None`).
    revoked: Map<Uuid, ()>,
    /// Every role and permission, and the generation they were read at. An
    /// async lock, held while they are read: the resolvers of a GraphQL page
    /// asking at once wait for one read instead of each making its own.
    book: tokio::sync::Mutex<Option<(Generation, Arc<RoleBook>)>>,
    /// Hits and misses of each lookup, for `/metrics`.
    pub stats: CacheStats,
}

impl Cache {
    pub fn new(changes: Arc<dyn ChangeWatch>) -> Self {
        Self {
            changes,
            local: AtomicU64::new(0),
            clients: Map::new(),
            roles: Map::new(),
            revoked: Map::new(),
            book: tokio::sync::Mutex::new(None),
            stats: CacheStats::default(),
        }
    }

    pub fn generation(&self) -> Result<Generation> {
        Ok((self.changes.generation()?, self.local.load(Ordering::Acquire)))
    }

    pub async fn client(
        &self,
        generation: Generation,
        store: &dyn ClientStore,
        id: ClientId,
    ) -> Result<Option<Arc<ApiClient>>> {
        if let Some(hit) = self.clients.get(generation, &id) {
            self.stats.clients.hit();
            return Ok(hit);
        }
        self.stats.clients.miss();
        let found = store.get_client(id).await?.map(Arc::new);
        self.clients.put(generation, id, found.clone());
        Ok(found)
    }

    pub async fn role(
        &self,
        generation: Generation,
        store: &dyn RoleStore,
        id: RoleId,
    ) -> Result<Option<Arc<Role>>> {
        if let Some(hit) = self.roles.get(generation, &id) {
            self.stats.roles.hit();
            return Ok(hit);
        }
        self.stats.roles.miss();
        let found = store.get_role(id).await?.map(Arc::new);
        self.roles.put(generation, id, found.clone());
        Ok(found)
    }

    pub async fn role_book(&self, generation: Generation, store: &dyn RoleStore) -> Result<Arc<RoleBook>> {
        let mut held = self.book.lock().await;
        if let Some((_, book)) = held.as_ref().filter(|(at, _)| *at == generation) {
            self.stats.role_book.hit();
            return Ok(book.clone());
        }
        self.stats.role_book.miss();
        let book = Arc::new(RoleBook::new(store.list_roles().await?, store.list_permissions().await?));
        *held = Some((generation, book.clone()));
        Ok(book)
    }

    pub async fn is_revoked(
        &self,
        generation: Generation,
        store: &dyn TokenStore,
        jti: Uuid,
    ) -> Result<bool> {
        if let Some(hit) = self.revoked.get(generation, &jti) {
            self.stats.revoked.hit();
            return Ok(hit.is_some());
        }
        self.stats.revoked.miss();
        let revoked = store.is_token_revoked(jti).await?;
        self.revoked.put(generation, jti, revoked.then(|| Arc::new(())));
        Ok(revoked)
    }

    /// Called after this process changes anything cached, so that the change
    /// holds at once, even before the store's generation reports it
    /// (PostgreSQL NOTIFY is asynchronous).
    pub fn invalidate(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
    }
}

/// Lookups answered from memory (hits) and those that read the store
/// (misses: not cached yet, or dropped by a change).
#[derive(Debug, Default)]
pub struct Lookups {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Lookups {
    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Hits and misses since start.
    pub fn read(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

/// The lookups of each of the [`Cache`]'s parts.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub clients: Lookups,
    pub roles: Lookups,
    pub revoked: Lookups,
    pub role_book: Lookups,
}
