//! Deleting in bounded batches: each batch is one short statement, so a
//! large purge never holds the database for long, and other work runs
//! between batches.

use std::{future::Future, time::Duration};

use crate::Result;

/// Calls `purge(limit)` until it deletes fewer than `limit` rows, pausing
/// `pause` between batches (yielding when zero). Returns the total.
pub(crate) async fn purge_in_batches<F, Fut>(limit: u32, pause: Duration, mut purge: F) -> Result<u64>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = portcullis_store::Result<u64>>,
{
    let mut total = 0;
    loop {
        let purged = purge(limit).await?;
        total += purged;
        if purged < u64::from(limit) {
            return Ok(total);
        }
        if pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_at_the_first_short_batch_and_adds_up() {
        let mut left = 2_500u64;
        let mut calls = 0;
        let total = purge_in_batches(1000, Duration::ZERO, |limit| {
            calls += 1;
            let n = left.min(u64::from(limit));
            left -= n;
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!((total, calls), (2_500, 3));
    }
}
