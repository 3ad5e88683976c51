//! The one suite every storage backend passes.
//!
//! A backend's `tests/conformance.rs` provides an async `fresh()` returning
//! `(Stores, guard)` on an empty, migrated database and invokes
//! [`conformance_suite!`](crate::conformance_suite); each case below becomes
//! one `#[tokio::test]` there. Cases panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::TimeDelta;
use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, Description, Role, SecretHash, Timestamp, TokenTtl,
    builtin_permissions, builtin_roles, now,
};

use crate::Stores;

mod changes;
mod clients;
mod keys;
mod last_used;
mod listing;
mod roles;
mod secrets;
mod tokens;

pub use changes::*;
pub use clients::*;
pub use keys::*;
pub use last_used::*;
pub use listing::*;
pub use roles::*;
pub use secrets::*;
pub use tokens::*;

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh
/// database from `$fresh().await` (which returns `(Stores, guard)`).
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@cases $fresh;
            // clients
            insert_then_get_returns_the_same_client,
            client_without_optional_fields_round_trips,
            longest_and_non_ascii_values_round_trip,
            get_unknown_client_is_none,
            update_writes_every_mutable_field,
            update_unknown_client_returns_false,
            delete_removes_only_that_client,
            delete_unknown_client_returns_false,
            duplicate_client_id_is_a_conflict,
            unknown_role_is_a_conflict,
            tokens_valid_after_round_trips_and_updates,
            // last-used times
            record_last_used_sets_the_time_of_every_listed_client,
            record_last_used_never_moves_backwards,
            record_last_used_skips_unknown_ids,
            record_last_used_changes_no_other_field,
            // listing clients
            list_of_empty_store_is_empty,
            list_pages_newest_first_without_gaps_or_duplicates,
            list_respects_the_limit,
            list_filters_by_status,
            list_filters_by_name_case_insensitively,
            name_filter_matches_wildcards_literally,
            filters_combine_with_each_other_and_the_cursor,
            // roles and permissions
            empty_store_has_no_roles_or_permissions,
            sync_builtins_stores_builtin_permissions_and_roles,
            sync_builtins_is_idempotent,
            sync_builtins_makes_builtins_exactly_the_given_set,
            sync_builtins_keeps_a_dropped_role_that_clients_hold,
            sync_builtins_is_all_or_nothing,
            role_without_permissions_is_listed,
            get_role_by_id_and_by_name,
            // signing keys
            signing_keys_are_listed_newest_first,
            duplicate_kid_is_a_conflict,
            delete_signing_key_removes_only_that_key,
            // revoked tokens
            is_token_revoked_only_for_revoked_tokens,
            revoking_a_token_again_changes_nothing,
            revocations_need_no_stored_client,
            purge_removes_only_expired_revocations,
            purge_deletes_at_most_the_limit,
            // server secrets
            server_secret_round_trips,
            first_server_secret_wins,
            racing_first_server_secrets_agree,
            // change watch and health
            generation_changes_after_every_write,
            ping_succeeds,
        );
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (stores, _guard) = $fresh().await;
                $crate::conformance::$case(&stores).await;
            }
        )*
    };
}

/// A valid client with the given name, created now, without a role.
pub fn sample_client(name: &str) -> ApiClient {
    client_created_at(name, now())
}

/// A valid client with the given name and creation time, without a role.
pub fn client_created_at(name: &str, at: Timestamp) -> ApiClient {
    ApiClient {
        id: ClientId::generate(),
        name: ClientName::parse(name).unwrap(),
        description: Some(Description::parse("a client for tests").unwrap()),
        status: ClientStatus::Enabled,
        role_id: None,
        token_ttl: TokenTtl::DEFAULT,
        secret_hash: SecretHash::from_bytes(rand_bytes()),
        created_at: at,
        updated_at: at,
        last_used_at: None,
        tokens_valid_after: None,
    }
}

fn rand_bytes() -> [u8; 32] {
    *uuid::Uuid::new_v4().as_bytes().repeat(2).first_chunk::<32>().unwrap()
}

/// `now()` shifted by whole seconds (negative: earlier), keeping microseconds.
fn seconds_from_now(secs: i64) -> Timestamp {
    now() + TimeDelta::seconds(secs)
}

async fn with_builtins(stores: &Stores) {
    stores.roles.sync_builtins(&builtin_permissions(), &builtin_roles()).await.unwrap();
}

/// Roles as `list_roles` returns them: by name, permissions by name.
fn normalized(mut roles: Vec<Role>) -> Vec<Role> {
    for r in &mut roles {
        r.permissions.sort();
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    roles
}
