//! The one suite every storage backend passes.
//!
//! A backend's `tests/conformance.rs` provides an async `fresh()` returning
//! `(Stores, guard)` on an empty, migrated database and invokes
//! [`conformance_suite!`](crate::conformance_suite); each case below becomes
//! one `#[tokio::test]` there. Cases panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::TimeDelta;
use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, Description, Email, PasswordHash, Permission,
    PermissionName, PersonalAccessToken, Role, RoleId, RoleName, SecretHash, Session, Timestamp, TokenTtl,
    User, UserId, UserName, UserStatus, builtin_permissions, builtin_roles, now,
};

use crate::{
    ChangeEvents, ClientPatch, ClientStore, DeleteEvents, RolePatch, RoleStore, Stores, UserPatch, UserStore,
};

/// For changes whose events a case does not look at.
pub const NO_EVENTS: ChangeEvents<'static, ApiClient> = &|_, _| Vec::new();
/// For deletions whose events a case does not look at.
pub const NO_DELETE_EVENTS: DeleteEvents<'static, ApiClient> = &|_| Vec::new();

/// The patch that gives a client every changeable field of `c`.
pub fn full_patch(c: &ApiClient) -> ClientPatch {
    ClientPatch {
        name: Some(c.name.clone()),
        description: Some(c.description.clone()),
        status: Some(c.status),
        role_id: Some(c.role_id),
        token_ttl: Some(c.token_ttl),
        secret_hash: Some(c.secret_hash),
        tokens_valid_after: c.tokens_valid_after,
    }
}

/// Gives the stored client every changeable field of `c` (at
/// `c.updated_at`, without events); `Ok(false)` when no such client.
pub async fn put_client(clients: &dyn ClientStore, c: &ApiClient) -> crate::Result<bool> {
    Ok(clients.update_client(c.id, &full_patch(c), None, c.updated_at, NO_EVENTS).await?.found())
}

/// Gives the stored role the name, description and permissions of `r`
/// (without events); `Ok(false)` when no such role.
pub async fn put_role(roles: &dyn RoleStore, r: &Role) -> crate::Result<bool> {
    let patch = RolePatch {
        name: Some(r.name.clone()),
        description: Some(r.description.clone()),
        permissions: Some(r.permissions.clone()),
    };
    Ok(roles.update_role(r.id, &patch, None, &|_, _| Vec::new()).await?.found())
}

/// Deletes the role (without events); `Ok(false)` when no such role.
pub async fn drop_role(roles: &dyn RoleStore, id: RoleId) -> crate::Result<bool> {
    Ok(roles.delete_role(id, None, &|_| Vec::new()).await?.is_deleted())
}

/// Gives the stored user the name, status, roles and password hash of `u`
/// (at `u.updated_at`, without events); `Ok(false)` when no such user.
pub async fn put_user(users: &dyn UserStore, u: &User) -> crate::Result<bool> {
    let patch = UserPatch {
        name: Some(u.name.clone()),
        status: Some(u.status),
        roles: Some(u.roles.clone()),
        password_hash: u.password_hash.clone(),
    };
    Ok(users.update_user(u.id, &patch, None, u.updated_at, &|_, _| Vec::new()).await?.found())
}

/// Deletes the user (without events); `Ok(false)` when no such user.
pub async fn drop_user(users: &dyn UserStore, id: UserId) -> crate::Result<bool> {
    Ok(users.delete_user(id, None, &|_| Vec::new()).await?.is_deleted())
}

mod bulk;
mod changes;
mod clients;
mod events;
mod keys;
mod last_used;
mod listing;
mod permissions;
mod personal_tokens;
mod races;
mod role_admin;
mod role_user_races;
mod roles;
mod secrets;
mod sessions;
mod tokens;
mod user_listing;
mod users;

pub use bulk::*;
pub use changes::*;
pub use clients::*;
pub use events::*;
pub use keys::*;
pub use last_used::*;
pub use listing::*;
pub use permissions::*;
pub use personal_tokens::*;
pub use races::*;
pub use role_admin::*;
pub use role_user_races::*;
pub use roles::*;
pub use secrets::*;
pub use sessions::*;
pub use tokens::*;
pub use user_listing::*;
pub use users::*;

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh
/// database from `$fresh().await` (which returns `(Stores, guard)`).
///
/// `$refuse` is what the traits cannot do: `$refuse(&guard, client_id).await`
/// makes the database refuse every update and delete of that client (a
/// trigger), so that the all-or-nothing cases can fail a change part-way.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path, refuse_client_writes = $refuse:path) => {
        #[tokio::test]
        async fn bulk_changes_are_all_or_nothing() {
            let (stores, guard) = $fresh().await;
            let guard = &guard;
            $crate::conformance::bulk_changes_are_all_or_nothing(&stores, |id| $refuse(guard, id)).await;
        }

        $crate::conformance_suite!(@cases $fresh;
            // bulk changes of clients
            bulk_status_reports_each_id_once_in_order,
            bulk_delete_reports_each_id_once_in_order,
            bulk_of_no_ids_changes_nothing,
            bulk_changes_a_thousand_clients,
            // clients
            insert_then_get_returns_the_same_client,
            client_without_optional_fields_round_trips,
            longest_and_non_ascii_values_round_trip,
            get_unknown_client_is_none,
            get_clients_answers_the_stored_ones_among_the_ids,
            update_writes_every_mutable_field,
            update_unknown_client_returns_false,
            delete_removes_only_that_client,
            delete_unknown_client_returns_false,
            duplicate_client_id_is_a_conflict,
            unknown_role_is_a_conflict,
            tokens_valid_after_round_trips_and_updates,
            // concurrent changes, versions, changes with their events
            racing_changes_of_a_client_keep_every_acknowledged_one,
            a_stale_version_changes_nothing,
            a_change_commits_with_its_events_or_not_at_all,
            racing_changes_of_a_role_keep_every_acknowledged_one,
            racing_changes_of_a_user_keep_every_acknowledged_one,
            racing_replacements_of_a_set_keep_the_last_acknowledged_one,
            a_stale_version_changes_no_role_or_user,
            a_role_or_user_change_commits_with_its_events_or_not_at_all,
            a_permission_or_token_change_commits_with_its_events_or_not_at_all,
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
            name_search_gives_the_same_clients_whichever_way_it_is_read,
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
            at_most_one_current_and_one_next_key,
            rotation_promotes_the_next_key_and_stores_a_new_one,
            rotation_without_a_next_key_changes_nothing,
            racing_rotations_leave_one_current_and_one_next_key,
            revoking_a_key_replaces_it_in_one_step,
            a_key_change_commits_with_its_events_or_not_at_all,
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
            // operators' permissions
            insert_permission_then_list,
            duplicate_permission_is_a_conflict,
            update_permission_description_changes_only_it,
            roles_using_permission_lists_them_by_name,
            delete_unused_permission,
            delete_permission_in_use_is_a_conflict_without_cascade,
            delete_permission_with_cascade_removes_it_from_every_role,
            // operators' roles
            insert_role_then_get,
            duplicate_role_name_or_id_is_a_conflict,
            role_with_unknown_permission_is_a_conflict,
            update_role_replaces_name_description_and_permissions,
            update_role_conflicts_change_nothing,
            update_unknown_role_returns_false,
            role_holders_lists_clients_and_users_by_id,
            delete_role_held_by_a_client_is_a_conflict,
            delete_role_held_by_a_user_is_a_conflict,
            delete_free_role_removes_only_it,
            sync_builtins_leaves_operators_roles_and_users_alone,
            // users
            insert_user_then_get_by_id_and_by_email,
            user_without_password_or_roles_round_trips,
            longest_and_non_ascii_user_values_round_trip,
            duplicate_user_email_or_id_is_a_conflict,
            unknown_user_role_is_a_conflict,
            update_user_writes_every_field_and_replaces_roles,
            update_unknown_user_returns_false,
            delete_user_cascades_roles_sessions_and_token,
            count_users_counts_every_user,
            // listing users
            list_users_of_empty_store_is_empty,
            list_users_pages_newest_first_without_gaps_or_duplicates,
            list_users_respects_the_limit,
            list_users_filters_by_status,
            list_users_filters_by_email_or_name_case_insensitively,
            user_text_filter_matches_wildcards_literally,
            user_filters_combine_with_each_other_and_the_cursor,
            // sessions
            insert_then_get_session,
            session_of_unknown_user_is_a_conflict,
            duplicate_session_is_a_conflict,
            touch_session_moves_last_seen_forward_only,
            delete_session_removes_only_that_session,
            delete_user_sessions_removes_only_that_users,
            purge_sessions_by_absolute_and_idle_time,
            purge_sessions_deletes_at_most_the_limit,
            // personal access tokens
            replace_personal_token_keeps_exactly_one,
            personal_token_of_unknown_user_is_a_conflict,
            personal_token_hash_of_another_user_is_a_conflict,
            get_personal_token_by_hash_and_by_user,
            delete_user_personal_token_removes_only_it,
            record_personal_token_used_never_moves_backwards,
            record_personal_token_used_changes_nothing_else,
            // events
            event_with_every_field_round_trips,
            event_without_optional_fields_round_trips,
            get_unknown_event_is_none,
            insert_events_stores_a_whole_batch,
            insert_events_is_all_or_nothing,
            list_events_pages_newest_first_without_gaps_or_duplicates,
            list_events_filters_each_alone,
            list_events_filters_combine_with_each_other_and_the_cursor,
            purge_events_deletes_only_older_ones_oldest_first,
            purge_events_in_batches_deletes_each_once,
            // change watch, health and the pool
            generation_changes_after_every_write,
            generation_changes_after_every_user_and_role_write,
            ping_succeeds,
            pool_reports_its_connections_and_every_acquisition,
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
        version: 1,
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

/// An operator's permission (`builtin: false`).
pub fn operator_permission(name: &str) -> Permission {
    Permission {
        name: PermissionName::parse(name).unwrap(),
        description: format!("operators' {name}"),
        builtin: false,
    }
}

/// An operator's role (`builtin: false`) with these permissions, in order.
pub fn operator_role(name: &str, permissions: &[&str]) -> Role {
    Role {
        id: RoleId::generate(),
        name: RoleName::parse(name).unwrap(),
        description: format!("the {name} role"),
        permissions: permissions.iter().map(|p| PermissionName::parse(p).unwrap()).collect(),
        builtin: false,
        version: 1,
    }
}

/// A valid enabled user with this e-mail, created now, with a password hash
/// and no roles.
pub fn sample_user(email: &str) -> User {
    user_created_at(email, "Ada Lovelace", now())
}

/// A valid enabled user with this e-mail, name and creation time, with a
/// password hash and no roles.
pub fn user_created_at(email: &str, name: &str, at: Timestamp) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: UserName::parse(name).unwrap(),
        status: UserStatus::Enabled,
        roles: Vec::new(),
        password_hash: Some(PasswordHash::from_phc(format!(
            "$argon2id$v=19$m=19456,t=2,p=1${}",
            uuid::Uuid::new_v4().simple()
        ))),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

/// A session of `user` that started a minute ago, was last seen now and ends
/// in a day.
pub fn sample_session(user: UserId) -> Session {
    Session {
        id_hash: SecretHash::from_bytes(rand_bytes()),
        user_id: user,
        created_at: seconds_from_now(-60),
        last_seen_at: now(),
        expires_at: seconds_from_now(86_400),
    }
}

/// A never-used personal access token of `user`, created now.
pub fn sample_personal_token(user: UserId) -> PersonalAccessToken {
    PersonalAccessToken {
        user_id: user,
        hash: SecretHash::from_bytes(rand_bytes()),
        hint: "pat_…x7Kq".to_owned(),
        created_at: now(),
        last_used_at: None,
    }
}

/// Role ids as users are read back with them: by id.
fn sorted_ids(mut ids: Vec<RoleId>) -> Vec<RoleId> {
    ids.sort();
    ids
}
