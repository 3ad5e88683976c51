//! Concurrent changes of one role or one user never undo each other: every
//! change the store acknowledged is kept (permission and role sets
//! included), a version precondition refuses a stale write, and a change
//! commits with its events or not at all.

use std::sync::{Arc, Mutex};

use portcullis_domain::{
    ADMIN_ROLE_ID, Event, PasswordHash, PermissionName, RESOURCE_SERVER_ROLE_ID, Role, RoleName, User,
    UserName, UserStatus, VIEWER_ROLE_ID,
};

use super::{bare_event, operator_permission, operator_role, sample_user, seconds_from_now, with_builtins};
use crate::{Deletion, RolePatch, Stores, Update, UserPatch};

/// Rounds of each writer.
const ROUNDS: usize = 20;
/// Editors of one role's permission set, each toggling its own permission.
const EDITORS: usize = 3;

fn toggled(editor: usize) -> PermissionName {
    PermissionName::parse(&format!("race:p{editor}")).unwrap()
}

/// Editors each toggle their own permission in a role's set by
/// read-modify-write with a version precondition (retrying when refused),
/// while a renamer and a describer change the role without one; afterwards
/// the set holds exactly each editor's last acknowledged choice, the name
/// and description are the last acknowledged, and the version counts every
/// change.
pub async fn racing_changes_of_a_role_keep_every_acknowledged_one(stores: &Stores) {
    with_builtins(stores).await;
    for editor in 0..EDITORS {
        stores.roles.insert_permission(&operator_permission(toggled(editor).as_str()), &[]).await.unwrap();
    }
    let role = operator_role("raced", &["clients:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let changes = Arc::new(Mutex::new(0_u64));
    let mut editors = Vec::new();
    for editor in 0..EDITORS {
        let (stores, changes, id) = (stores.clone(), changes.clone(), role.id);
        editors.push(tokio::spawn(async move {
            let mut holds = false;
            for _ in 0..ROUNDS {
                loop {
                    let current = stores.roles.get_role(id).await.unwrap().unwrap();
                    let mut permissions = current.permissions.clone();
                    if holds {
                        permissions.retain(|p| *p != toggled(editor));
                    } else {
                        permissions.push(toggled(editor));
                    }
                    let patch = RolePatch { permissions: Some(permissions), ..Default::default() };
                    let done =
                        stores.roles.update_role(id, &patch, Some(current.version), &|_, _| Vec::new());
                    match done.await.unwrap() {
                        Update::Changed { .. } => {
                            *changes.lock().unwrap() += 1;
                            holds = !holds;
                            break;
                        }
                        Update::Stale(_) => tokio::task::yield_now().await,
                        other => panic!("{other:?}"),
                    }
                }
            }
            (editor, holds)
        }));
    }
    let mut others = Vec::new();
    for writer in 0..2 {
        let (stores, changes, id) = (stores.clone(), changes.clone(), role.id);
        others.push(tokio::spawn(async move {
            let mut last = None;
            for round in 0..ROUNDS {
                let patch = if writer == 0 {
                    RolePatch {
                        name: Some(RoleName::parse(&format!("renamed-{round}")).unwrap()),
                        ..Default::default()
                    }
                } else {
                    RolePatch { description: Some(format!("described {round}")), ..Default::default() }
                };
                let done = stores.roles.update_role(id, &patch, None, &|_, _| Vec::new()).await.unwrap();
                if let Update::Changed { after, .. } = done {
                    *changes.lock().unwrap() += 1;
                    last = Some(after);
                }
                tokio::task::yield_now().await;
            }
            last
        }));
    }
    let mut want: Vec<PermissionName> = vec![PermissionName::parse("clients:read").unwrap()];
    for task in editors {
        let (editor, holds) = task.await.unwrap();
        if holds {
            want.push(toggled(editor));
        }
    }
    want.sort();
    let renamed = others.remove(0).await.unwrap().unwrap();
    let described = others.remove(0).await.unwrap().unwrap();
    let stored = stores.roles.get_role(role.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions, want, "every editor's last acknowledged choice is kept");
    assert_eq!(stored.name.as_str(), "renamed-19", "the last acknowledged name");
    assert_eq!(renamed.name, stored.name);
    assert_eq!(stored.description, described.description, "the last acknowledged description");
    assert_eq!(stored.version, 1 + *changes.lock().unwrap(), "the version counts every change");
}

/// Role changes, renames, status changes and password changes race on one
/// user; afterwards it holds the last acknowledged value of each, and a
/// version that counts every change.
pub async fn racing_changes_of_a_user_keep_every_acknowledged_one(stores: &Stores) {
    with_builtins(stores).await;
    let mut user = sample_user("raced@example.com");
    user.roles = vec![VIEWER_ROLE_ID];
    stores.users.insert_user(&user, &[]).await.unwrap();
    let choices = [
        vec![ADMIN_ROLE_ID],
        vec![VIEWER_ROLE_ID, RESOURCE_SERVER_ROLE_ID],
        vec![RESOURCE_SERVER_ROLE_ID],
        vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID],
    ];
    let acked: Arc<Mutex<Vec<(u64, UserPatch)>>> = Arc::default();
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let (stores, acked, id, choices) = (stores.clone(), acked.clone(), user.id, choices.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let patch = match writer {
                    0 => UserPatch {
                        roles: Some(choices[round % choices.len()].clone()),
                        ..Default::default()
                    },
                    1 => UserPatch {
                        name: Some(UserName::parse(&format!("Renamed {round}")).unwrap()),
                        ..Default::default()
                    },
                    2 => UserPatch {
                        status: Some(if round % 2 == 0 { UserStatus::Disabled } else { UserStatus::Enabled }),
                        ..Default::default()
                    },
                    _ => UserPatch {
                        password_hash: Some(PasswordHash::from_phc(format!(
                            "$argon2id$v=19$m=19456,t=2,p=1${round}"
                        ))),
                        ..Default::default()
                    },
                };
                let done =
                    stores.users.update_user(id, &patch, None, seconds_from_now(0), &|_, _| Vec::new());
                if let Update::Changed { after, .. } = done.await.unwrap() {
                    acked.lock().unwrap().push((after.version, patch));
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = stores.users.get_user(user.id).await.unwrap().unwrap();
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_by_key(|(version, _)| *version);
    let versions: Vec<u64> = acked.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (2..2 + acked.len() as u64).collect();
    assert_eq!(versions, expected, "each acknowledged change has its own next version");
    assert_eq!(stored.version, 1 + acked.len() as u64, "the version counts every change");
    let want = acked.iter().fold(user.clone(), |u, (_, patch)| patch.apply(&u));
    assert_eq!(stored.roles, want.roles, "the last acknowledged roles");
    assert_eq!(stored.name, want.name, "the last acknowledged name");
    assert_eq!(stored.status, want.status, "the last acknowledged status");
    assert!(stored.password_hash == want.password_hash, "the last acknowledged password");
}

/// Writers replace one role's permission set and one user's role set
/// without a version precondition, at once: each acknowledged change was
/// planned on what the change before it left (its `before` is that
/// change's `after`), and the stored set is the last acknowledged one,
/// never a mix of two writers' sets. (On PostgreSQL a writer that waited
/// for another's lock must read the set again after taking it: its first
/// snapshot predates the other's commit.)
pub async fn racing_replacements_of_a_set_keep_the_last_acknowledged_one(stores: &Stores) {
    with_builtins(stores).await;
    let sets = [
        &["clients:read", "roles:read"][..],
        &["users:read"],
        &["clients:read", "events:read"],
        &["roles:read", "users:read", "events:read"],
    ];
    let set = |i: usize| -> Vec<PermissionName> {
        sets[i % sets.len()].iter().map(|p| PermissionName::parse(p).unwrap()).collect()
    };
    let role = operator_role("replaced", &["clients:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let role_sets = [
        vec![ADMIN_ROLE_ID],
        vec![VIEWER_ROLE_ID, RESOURCE_SERVER_ROLE_ID],
        vec![RESOURCE_SERVER_ROLE_ID],
        vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID],
    ];
    let mut user = sample_user("replaced@example.com");
    user.roles = vec![VIEWER_ROLE_ID];
    stores.users.insert_user(&user, &[]).await.unwrap();

    let roles_acked: Arc<Mutex<Vec<(Role, Role)>>> = Arc::default();
    let users_acked: Arc<Mutex<Vec<(User, User)>>> = Arc::default();
    let mut tasks = Vec::new();
    for writer in 0..EDITORS {
        let (role_writer, acked, id) = (stores.clone(), roles_acked.clone(), role.id);
        let mine: Vec<_> = (0..ROUNDS).map(|round| set(writer + round)).collect();
        tasks.push(tokio::spawn(async move {
            for permissions in mine {
                let patch = RolePatch { permissions: Some(permissions), ..Default::default() };
                if let Update::Changed { before, after } =
                    role_writer.roles.update_role(id, &patch, None, &|_, _| Vec::new()).await.unwrap()
                {
                    acked.lock().unwrap().push((before, after));
                }
            }
        }));
        let (user_writer, acked, id, role_sets) =
            (stores.clone(), users_acked.clone(), user.id, role_sets.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let roles = role_sets[(writer + round) % role_sets.len()].clone();
                let patch = UserPatch { roles: Some(roles), ..Default::default() };
                let at = seconds_from_now(0);
                if let Update::Changed { before, after } =
                    user_writer.users.update_user(id, &patch, None, at, &|_, _| Vec::new()).await.unwrap()
                {
                    acked.lock().unwrap().push((before, after));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let mut acked = roles_acked.lock().unwrap().clone();
    acked.sort_by_key(|(_, after)| after.version);
    let mut previous = stores.roles.get_role(role.id).await.unwrap().unwrap();
    previous.permissions = vec![PermissionName::parse("clients:read").unwrap()];
    for (before, after) in &acked {
        assert_eq!(before.permissions, previous.permissions, "planned on the set the change before left");
        previous = after.clone();
    }
    let stored = stores.roles.get_role(role.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions, previous.permissions, "the last acknowledged permission set");
    assert_eq!(stored.version, 1 + acked.len() as u64);

    let mut acked = users_acked.lock().unwrap().clone();
    acked.sort_by_key(|(_, after)| after.version);
    let mut previous = user.roles.clone();
    for (before, after) in &acked {
        assert_eq!(before.roles, previous, "planned on the roles the change before left");
        previous = after.roles.clone();
    }
    let stored = stores.users.get_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.roles, previous, "the last acknowledged roles");
    assert_eq!(stored.version, 1 + acked.len() as u64);
}

/// A version precondition that names another version refuses the write
/// (update or delete) of a role or user and changes nothing.
pub async fn a_stale_version_changes_no_role_or_user(stores: &Stores) {
    with_builtins(stores).await;
    let role = operator_role("edited", &["clients:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let rename = RolePatch { name: Some(RoleName::parse("first").unwrap()), ..Default::default() };
    let done = stores.roles.update_role(role.id, &rename, Some(1), &|_, _| Vec::new()).await.unwrap();
    let Update::Changed { after, .. } = done else { panic!("version 1 is current") };
    assert_eq!(after.version, 2);
    let second = RolePatch { permissions: Some(Vec::new()), ..Default::default() };
    let stale = stores.roles.update_role(role.id, &second, Some(1), &|_, _| Vec::new()).await.unwrap();
    assert_eq!(stale, Update::Stale(after.clone()));
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(after.clone()), "nothing written");
    let stale = stores.roles.delete_role(role.id, Some(1), &|_| Vec::new()).await.unwrap();
    assert_eq!(stale, Deletion::Stale(after.clone()));
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(after), "not deleted");
    assert!(stores.roles.delete_role(role.id, Some(2), &|_| Vec::new()).await.unwrap().is_deleted());

    let mut user = sample_user("edited@example.com");
    user.roles = vec![VIEWER_ROLE_ID];
    stores.users.insert_user(&user, &[]).await.unwrap();
    let disable = UserPatch { status: Some(UserStatus::Disabled), ..Default::default() };
    let at = seconds_from_now(0);
    let done = stores.users.update_user(user.id, &disable, Some(1), at, &|_, _| Vec::new()).await.unwrap();
    let Update::Changed { after, .. } = done else { panic!("version 1 is current") };
    assert_eq!(after.version, 2);
    let promote = UserPatch { roles: Some(vec![ADMIN_ROLE_ID]), ..Default::default() };
    let stale = stores.users.update_user(user.id, &promote, Some(1), at, &|_, _| Vec::new()).await.unwrap();
    assert_eq!(stale, Update::Stale(after.clone()));
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(after.clone()), "nothing written");
    let stale = stores.users.delete_user(user.id, Some(1), &|_| Vec::new()).await.unwrap();
    assert_eq!(stale, Deletion::Stale(after.clone()));
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(after), "not deleted");
    assert!(stores.users.delete_user(user.id, Some(2), &|_| Vec::new()).await.unwrap().is_deleted());
}

/// A role's or user's change and its events commit together: when the
/// events cannot be inserted (one reuses a stored event's id), the insert,
/// update or delete is undone too; when they can, both are stored.
pub async fn a_role_or_user_change_commits_with_its_events_or_not_at_all(stores: &Stores) {
    with_builtins(stores).await;
    let taken = bare_event("taken", seconds_from_now(0));
    stores.events.insert_events(std::slice::from_ref(&taken)).await.unwrap();
    let clash = Event { kind: "role.created".into(), ..taken.clone() };

    let role = operator_role("audited", &["clients:read"]);
    assert!(stores.roles.insert_role(&role, std::slice::from_ref(&clash)).await.is_err());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), None, "insert undone");
    let created = bare_event("role.created", seconds_from_now(0));
    stores.roles.insert_role(&role, std::slice::from_ref(&created)).await.unwrap();
    assert_eq!(stores.events.get_event(created.id).await.unwrap(), Some(created));
    let stored_role = stores.roles.get_role(role.id).await.unwrap().unwrap();
    let failing = |_: &Role, _: &Role| vec![taken.clone()];
    let patch = RolePatch {
        name: Some(RoleName::parse("renamed").unwrap()),
        permissions: Some(vec![PermissionName::parse("clients:write").unwrap()]),
        ..Default::default()
    };
    assert!(stores.roles.update_role(role.id, &patch, None, &failing).await.is_err());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(stored_role.clone()), "update undone");
    let failing_delete = |_: &Role| vec![taken.clone()];
    assert!(stores.roles.delete_role(role.id, None, &failing_delete).await.is_err());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(stored_role), "delete undone");
    let updated = bare_event("role.updated", seconds_from_now(0));
    let recorded = |_: &Role, _: &Role| vec![updated.clone()];
    assert!(matches!(
        stores.roles.update_role(role.id, &patch, None, &recorded).await.unwrap(),
        Update::Changed { .. }
    ));
    assert_eq!(stores.events.get_event(updated.id).await.unwrap(), Some(updated));

    let mut user = sample_user("audited@example.com");
    user.roles = vec![VIEWER_ROLE_ID];
    let clash = Event { kind: "user.created".into(), ..taken.clone() };
    assert!(stores.users.insert_user(&user, std::slice::from_ref(&clash)).await.is_err());
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), None, "insert undone");
    stores.users.insert_user(&user, &[]).await.unwrap();
    let failing = |_: &User, _: &User| vec![taken.clone()];
    let patch = UserPatch {
        status: Some(UserStatus::Disabled),
        roles: Some(vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID]),
        ..Default::default()
    };
    let at = seconds_from_now(0);
    assert!(stores.users.update_user(user.id, &patch, None, at, &failing).await.is_err());
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user.clone()), "update undone");
    let failing_delete = |_: &User| vec![taken.clone()];
    assert!(stores.users.delete_user(user.id, None, &failing_delete).await.is_err());
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user.clone()), "delete undone");
    let deleted = bare_event("user.deleted", seconds_from_now(0));
    let recorded = |_: &User| vec![deleted.clone()];
    assert!(stores.users.delete_user(user.id, None, &recorded).await.unwrap().is_deleted());
    assert_eq!(stores.events.get_event(deleted.id).await.unwrap(), Some(deleted));
}

/// Permissions and personal tokens likewise: a failed event insert undoes
/// the insert, description change, deletion, token replacement or token
/// deletion; a cascading deletion moves the version of each role it leaves
/// and hands the event those roles, as found in its transaction.
pub async fn a_permission_or_token_change_commits_with_its_events_or_not_at_all(stores: &Stores) {
    use crate::conformance::sample_personal_token;
    use portcullis_domain::Permission;
    with_builtins(stores).await;
    let taken = bare_event("taken", seconds_from_now(0));
    stores.events.insert_events(std::slice::from_ref(&taken)).await.unwrap();
    let fail = std::slice::from_ref(&taken);

    let permission = operator_permission("audit:p");
    assert!(stores.roles.insert_permission(&permission, fail).await.is_err());
    assert!(stores.roles.list_permissions().await.unwrap().iter().all(|p| p.name != permission.name));
    stores.roles.insert_permission(&permission, &[]).await.unwrap();
    let failing = |_: &Permission, _: &Permission| vec![taken.clone()];
    assert!(stores.roles.update_permission_description(&permission.name, "new", &failing).await.is_err());
    let stored = stores.roles.list_permissions().await.unwrap();
    assert!(stored.contains(&permission), "description change undone");

    let role = operator_role("holder", &["audit:p", "clients:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    assert!(stores.roles.delete_permission(&permission.name, true, &|_| vec![taken.clone()]).await.is_err());
    assert_eq!(
        stores.roles.get_role(role.id).await.unwrap().unwrap().permissions.len(),
        2,
        "deletion undone"
    );
    let deleted = bare_event("permission.deleted", seconds_from_now(0));
    let seen: Arc<Mutex<Vec<RoleName>>> = Arc::default();
    let events = |roles: &[RoleName]| {
        seen.lock().unwrap().extend_from_slice(roles);
        vec![deleted.clone()]
    };
    assert!(stores.roles.delete_permission(&permission.name, true, &events).await.unwrap());
    assert_eq!(*seen.lock().unwrap(), vec![role.name.clone()], "the roles it was removed from");
    assert_eq!(stores.events.get_event(deleted.id).await.unwrap(), Some(deleted));
    let after = stores.roles.get_role(role.id).await.unwrap().unwrap();
    assert_eq!((after.permissions.len(), after.version), (1, 2), "the role it left has a new version");

    let user = sample_user("tokens@example.com");
    stores.users.insert_user(&user, &[]).await.unwrap();
    let first = sample_personal_token(user.id);
    assert!(stores.users.replace_personal_token(&first, fail).await.is_err());
    assert_eq!(stores.users.get_user_personal_token(user.id).await.unwrap(), None, "replacement undone");
    let rotated = bare_event("user.personal_token_rotated", seconds_from_now(0));
    stores.users.replace_personal_token(&first, std::slice::from_ref(&rotated)).await.unwrap();
    assert_eq!(stores.events.get_event(rotated.id).await.unwrap(), Some(rotated));
    assert!(stores.users.delete_user_personal_token(user.id, fail).await.is_err());
    assert_eq!(stores.users.get_user_personal_token(user.id).await.unwrap(), Some(first), "deletion undone");
    let revoked = bare_event("user.personal_token_revoked", seconds_from_now(0));
    assert!(stores.users.delete_user_personal_token(user.id, std::slice::from_ref(&revoked)).await.unwrap());
    assert_eq!(stores.events.get_event(revoked.id).await.unwrap(), Some(revoked.clone()));
    let again = bare_event("user.personal_token_revoked", seconds_from_now(0));
    assert!(!stores.users.delete_user_personal_token(user.id, std::slice::from_ref(&again)).await.unwrap());
    assert_eq!(stores.events.get_event(again.id).await.unwrap(), None, "no event when nothing was deleted");
}
