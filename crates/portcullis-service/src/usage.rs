//! Last-used times, coalesced: the hot path notes a use in memory; a
//! background task writes the batch every few seconds and on shutdown. So a
//! request never waits on a write, and a busy client costs one write per
//! interval, not one per request.

use std::{collections::HashMap, sync::Mutex};

use portcullis_domain::{ClientId, Timestamp, UserId, now};

use crate::{Result, Service};

#[derive(Default)]
pub(crate) struct LastUsed {
    pending: Mutex<HashMap<ClientId, Timestamp>>,
    personal_tokens: Mutex<HashMap<UserId, Timestamp>>,
}

impl LastUsed {
    pub(crate) fn note(&self, id: ClientId, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = pending.entry(id).or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }

    pub(crate) fn note_personal_token(&self, user: UserId, at: Timestamp) {
        let mut pending = self.personal_tokens.lock().unwrap_or_else(|e| e.into_inner());
        let slot = pending.entry(user).or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }

    fn take_personal_tokens(&self) -> Vec<(UserId, Timestamp)> {
        std::mem::take(&mut *self.personal_tokens.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect()
    }

    fn take(&self) -> Vec<(ClientId, Timestamp)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect()
    }
}

impl Service {
    /// Records a successful authentication of a client, in memory.
    pub fn note_client_used(&self, id: ClientId) {
        self.inner.last_used.note(id, now());
    }

    /// Writes the noted uses; returns how many clients were written. On a
    /// failed write the uses are kept for the next attempt.
    pub async fn flush_last_used(&self) -> Result<usize> {
        let tokens = self.inner.last_used.take_personal_tokens();
        if !tokens.is_empty()
            && let Err(e) = self.inner.stores.users.record_personal_token_used(&tokens).await
        {
            for (id, at) in tokens {
                self.inner.last_used.note_personal_token(id, at);
            }
            return Err(e.into());
        }
        let batch = self.inner.last_used.take();
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.inner.stores.clients.record_last_used(&batch).await {
            for (id, at) in batch {
                self.inner.last_used.note(id, at);
            }
            return Err(e.into());
        }
        Ok(batch.len())
    }
}
