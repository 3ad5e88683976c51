//! Last-used times, coalesced: the hot path notes a use in memory; a
//! background task writes the batch every few seconds and on shutdown. So a
//! request never waits on a write, and a busy client costs one write per
//! interval, not one per request.

use std::{collections::HashMap, hash::Hash, sync::Mutex};

use portcullis_domain::{ClientId, Timestamp, UserId, now};

use crate::{Result, Service};

/// The latest use of each key since the last flush.
pub(crate) struct Pending<K>(Mutex<HashMap<K, Timestamp>>);

impl<K> Default for Pending<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash + Copy> Pending<K> {
    pub(crate) fn note(&self, key: K, at: Timestamp) {
        let mut pending = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = pending.entry(key).or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }

    fn take(&self) -> Vec<(K, Timestamp)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect()
    }

    /// Puts back uses whose write failed, for the next attempt.
    fn restore(&self, batch: Vec<(K, Timestamp)>) {
        for (key, at) in batch {
            self.note(key, at);
        }
    }
}

#[derive(Default)]
pub(crate) struct LastUsed {
    pub(crate) clients: Pending<ClientId>,
    pub(crate) personal_tokens: Pending<UserId>,
}

impl Service {
    /// Records a successful authentication of a client, in memory.
    pub fn note_client_used(&self, id: ClientId) {
        self.inner.last_used.clients.note(id, now());
    }

    /// Writes the noted uses; returns how many clients were written. On a
    /// failed write the uses are kept for the next attempt.
    pub async fn flush_last_used(&self) -> Result<usize> {
        let last_used = &self.inner.last_used;
        let tokens = last_used.personal_tokens.take();
        if !tokens.is_empty()
            && let Err(e) = self.inner.stores.users.record_personal_token_used(&tokens).await
        {
            last_used.personal_tokens.restore(tokens);
            return Err(e.into());
        }
        let batch = last_used.clients.take();
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.inner.stores.clients.record_last_used(&batch).await {
            last_used.clients.restore(batch);
            return Err(e.into());
        }
        Ok(batch.len())
    }
}
