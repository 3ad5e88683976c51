//! `RoleStore`: operators' roles, who holds them, and deleting them.

use portcullis_domain::{
    ADMIN_ROLE_ID, ClientId, PermissionName, Role, RoleId, RoleName, UserId, VIEWER_ROLE_ID,
    builtin_permissions, builtin_roles,
};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{normalized, operator_permission, operator_role, sample_client, sample_user, with_builtins};
use crate::{RoleHolders, StoreError, Stores};

/// Builtins plus `invoices:read` and `invoices:write`.
async fn with_invoices(stores: &Stores) {
    with_builtins(stores).await;
    stores.roles.insert_permission(&operator_permission("invoices:read"), &[]).await.unwrap();
    stores.roles.insert_permission(&operator_permission("invoices:write"), &[]).await.unwrap();
}

/// As `get_role` returns it: permissions by name, without duplicates.
fn as_stored(mut role: Role) -> Role {
    role.permissions.sort();
    role.permissions.dedup();
    role
}

pub async fn insert_role_then_get(stores: &Stores) {
    with_invoices(stores).await;
    // Out of order, one listed twice, one built-in permission.
    let role =
        operator_role("accounting", &["invoices:write", "clients:read", "invoices:read", "invoices:write"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let expected = as_stored(role.clone());
    assert_eq!(
        expected.permissions.iter().map(PermissionName::as_str).collect::<Vec<_>>(),
        ["clients:read", "invoices:read", "invoices:write"]
    );
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(stores.roles.get_role_by_name(&role.name).await.unwrap(), Some(expected.clone()));

    // Without permissions, and claiming to be built in: it is an operator's.
    let empty = Role { builtin: true, ..operator_role("nobody", &[]) };
    stores.roles.insert_role(&empty, &[]).await.unwrap();
    let stored_empty = Role { builtin: false, ..empty.clone() };
    assert_eq!(stores.roles.get_role(empty.id).await.unwrap(), Some(stored_empty.clone()));

    let mut all = builtin_roles();
    all.extend([expected, stored_empty]);
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(all));
}

pub async fn duplicate_role_name_or_id_is_a_conflict(stores: &Stores) {
    with_invoices(stores).await;
    let first = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&first, &[]).await.unwrap();

    let same_name = operator_role("accounting", &["invoices:write"]);
    let err = stores.roles.insert_role(&same_name, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_name_unique")), "{err:?}");
    assert_eq!(stores.roles.get_role(same_name.id).await.unwrap(), None, "nothing of it is stored");

    let builtin_name = operator_role("admin", &[]);
    let err = stores.roles.insert_role(&builtin_name, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_name_unique")), "{err:?}");

    let same_id = Role { id: first.id, ..operator_role("bookkeeping", &["invoices:write"]) };
    let err = stores.roles.insert_role(&same_id, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_id_unique")), "{err:?}");
    assert_eq!(stores.roles.get_role_by_name(&same_id.name).await.unwrap(), None);

    assert_eq!(stores.roles.get_role(first.id).await.unwrap(), Some(first));
    assert_eq!(stores.roles.list_roles().await.unwrap().len(), builtin_roles().len() + 1);
}

pub async fn role_with_unknown_permission_is_a_conflict(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read", "nowhere:defined"]);
    let err = stores.roles.insert_role(&role, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_permission_missing")), "{err:?}");
    // All or nothing: neither the role nor its known permission is stored.
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), None);
    assert_eq!(stores.roles.get_role_by_name(&role.name).await.unwrap(), None);
    assert!(stores.roles.roles_using_permission(&role.permissions[0]).await.unwrap().is_empty());
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));

    // And the name is free for a valid one.
    let valid = Role { id: RoleId::generate(), ..operator_role("accounting", &["invoices:read"]) };
    stores.roles.insert_role(&valid, &[]).await.unwrap();
    assert_eq!(stores.roles.get_role(valid.id).await.unwrap(), Some(valid));
}

pub async fn update_role_replaces_name_description_and_permissions(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["clients:read", "invoices:read"]);
    let bystander = operator_role("auditors", &["invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    stores.roles.insert_role(&bystander, &[]).await.unwrap();
    let mut client = sample_client("holds it");
    client.role_id = Some(role.id);
    stores.clients.insert_client(&client, &[]).await.unwrap();

    // One kept, one dropped, one added; a new name and description.
    let mut changed = role.clone();
    changed.name = RoleName::parse("bookkeeping").unwrap();
    changed.description = "now described differently".to_owned();
    changed.permissions = vec![PermissionName::parse("invoices:write").unwrap(), role.permissions[1].clone()];
    assert!(super::put_role(&*stores.roles, &changed).await.unwrap());
    let expected = as_stored(Role { version: 2, ..changed.clone() });
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(stores.roles.get_role_by_name(&changed.name).await.unwrap(), Some(expected.clone()));
    assert_eq!(stores.roles.get_role_by_name(&role.name).await.unwrap(), None, "the old name is free");
    assert_eq!(stores.roles.get_role(bystander.id).await.unwrap(), Some(bystander.clone()));
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client), "its holders keep it");

    // To no permissions at all; `builtin` is not something an update writes.
    let emptied = Role { permissions: Vec::new(), builtin: true, ..changed };
    assert!(super::put_role(&*stores.roles, &emptied).await.unwrap());
    let stored = stores.roles.get_role(role.id).await.unwrap().unwrap();
    assert_eq!(stored, Role { builtin: false, version: 3, ..emptied });
    // The old name can be taken by another role now.
    let reuse = operator_role("accounting", &[]);
    stores.roles.insert_role(&reuse, &[]).await.unwrap();
    assert_eq!(stores.roles.get_role(bystander.id).await.unwrap(), Some(bystander));
}

pub async fn update_role_conflicts_change_nothing(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read"]);
    let other = operator_role("auditors", &["invoices:write"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    stores.roles.insert_role(&other, &[]).await.unwrap();

    let taken = Role { name: other.name.clone(), permissions: Vec::new(), ..role.clone() };
    let err = super::put_role(&*stores.roles, &taken).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_name_unique")), "{err:?}");
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(role.clone()), "nothing changed");

    let mut unknown = role.clone();
    unknown.description = "must not be stored".to_owned();
    unknown.permissions = vec![PermissionName::parse("nowhere:defined").unwrap()];
    let err = super::put_role(&*stores.roles, &unknown).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_permission_missing")), "{err:?}");
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(role), "nothing changed");
    assert_eq!(stores.roles.get_role(other.id).await.unwrap(), Some(other));
}

pub async fn update_unknown_role_returns_false(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read"]);
    assert!(!super::put_role(&*stores.roles, &role).await.unwrap());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), None, "update must not insert");
    assert!(stores.roles.roles_using_permission(&role.permissions[0]).await.unwrap().is_empty());
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
}

pub async fn role_holders_lists_clients_and_users_by_id(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    assert_eq!(stores.roles.role_holders(role.id).await.unwrap(), RoleHolders::default(), "held by nobody");

    let mut clients: Vec<ClientId> = Vec::new();
    for i in 0..4 {
        let mut c = sample_client(&format!("client {i}"));
        c.role_id = Some(if i == 3 { ADMIN_ROLE_ID } else { role.id });
        stores.clients.insert_client(&c, &[]).await.unwrap();
        if i != 3 {
            clients.push(c.id);
        }
    }
    let mut users: Vec<UserId> = Vec::new();
    for i in 0..4 {
        let mut u = sample_user(&format!("user{i}@example.com"));
        u.roles = match i {
            0 => vec![role.id],
            1 => vec![VIEWER_ROLE_ID, role.id],
            2 => vec![role.id, ADMIN_ROLE_ID],
            _ => vec![VIEWER_ROLE_ID],
        };
        stores.users.insert_user(&u, &[]).await.unwrap();
        if i != 3 {
            users.push(u.id);
        }
    }
    clients.sort();
    users.sort();
    let holders = stores.roles.role_holders(role.id).await.unwrap();
    assert_eq!(holders, RoleHolders { clients: clients.clone(), users: users.clone() });

    let viewer = stores.roles.role_holders(VIEWER_ROLE_ID).await.unwrap();
    assert!(viewer.clients.is_empty());
    assert_eq!(viewer.users.len(), 2);
    assert_eq!(stores.roles.role_holders(RoleId::generate()).await.unwrap(), RoleHolders::default());

    // Holders come and go.
    assert!(stores.clients.delete_client(clients[0], None, NO_DELETE_EVENTS).await.unwrap().is_deleted());
    assert!(super::drop_user(&*stores.users, users[1]).await.unwrap());
    let holders = stores.roles.role_holders(role.id).await.unwrap();
    assert_eq!(holders.clients, clients[1..]);
    assert_eq!(holders.users, [users[0], users[2]]);
}

pub async fn delete_role_held_by_a_client_is_a_conflict(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let mut client = sample_client("holds it");
    client.role_id = Some(role.id);
    stores.clients.insert_client(&client, &[]).await.unwrap();

    let err = super::drop_role(&*stores.roles, role.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_in_use")), "{err:?}");
    assert_eq!(
        stores.roles.get_role(role.id).await.unwrap(),
        Some(role.clone()),
        "still there, permissions too"
    );
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()));

    // A built-in role held by a client: the same rule.
    let mut admin_client = sample_client("admin");
    admin_client.role_id = Some(ADMIN_ROLE_ID);
    stores.clients.insert_client(&admin_client, &[]).await.unwrap();
    let err = super::drop_role(&*stores.roles, ADMIN_ROLE_ID).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_in_use")), "{err:?}");

    // Once the client lets go, it goes.
    client.role_id = None;
    assert!(put_client(&*stores.clients, &client).await.unwrap());
    assert!(super::drop_role(&*stores.roles, role.id).await.unwrap());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), None);
}

pub async fn delete_role_held_by_a_user_is_a_conflict(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let mut user = sample_user("ada@example.com");
    user.roles = vec![role.id, VIEWER_ROLE_ID];
    user.roles.sort();
    stores.users.insert_user(&user, &[]).await.unwrap();

    let err = super::drop_role(&*stores.roles, role.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_in_use")), "{err:?}");
    assert_eq!(
        stores.roles.get_role(role.id).await.unwrap(),
        Some(role.clone()),
        "still there, permissions too"
    );
    assert_eq!(
        stores.users.get_user(user.id).await.unwrap(),
        Some(user.clone()),
        "the user keeps both roles"
    );

    user.roles = vec![VIEWER_ROLE_ID];
    assert!(super::put_user(&*stores.users, &user).await.unwrap());
    user.version += 1;
    assert!(super::drop_role(&*stores.roles, role.id).await.unwrap());
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), None);
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user));
}

pub async fn delete_free_role_removes_only_it(stores: &Stores) {
    with_invoices(stores).await;
    let doomed = operator_role("accounting", &["invoices:read", "invoices:write"]);
    let kept = operator_role("auditors", &["invoices:read"]);
    stores.roles.insert_role(&doomed, &[]).await.unwrap();
    stores.roles.insert_role(&kept, &[]).await.unwrap();

    assert!(super::drop_role(&*stores.roles, doomed.id).await.unwrap());
    assert_eq!(stores.roles.get_role(doomed.id).await.unwrap(), None);
    assert_eq!(stores.roles.get_role_by_name(&doomed.name).await.unwrap(), None);
    assert_eq!(stores.roles.get_role(kept.id).await.unwrap(), Some(kept.clone()));
    // Its permissions stay; only the role held them.
    let write = PermissionName::parse("invoices:write").unwrap();
    assert!(stores.roles.roles_using_permission(&write).await.unwrap().is_empty());
    assert_eq!(stores.roles.list_permissions().await.unwrap().len(), builtin_permissions().len() + 2);
    assert!(
        stores.roles.delete_permission(&write, false, &|_| Vec::new()).await.unwrap(),
        "no longer in use"
    );

    assert!(!super::drop_role(&*stores.roles, doomed.id).await.unwrap(), "a second delete finds nothing");
    assert!(!super::drop_role(&*stores.roles, RoleId::generate()).await.unwrap());
    // The name is free again.
    let again = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&again, &[]).await.unwrap();
    assert_eq!(stores.roles.get_role(again.id).await.unwrap(), Some(again));
}

pub async fn sync_builtins_leaves_operators_roles_and_users_alone(stores: &Stores) {
    with_invoices(stores).await;
    let role = operator_role("accounting", &["clients:read", "invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();
    let mut user = sample_user("ada@example.com");
    user.roles = vec![ADMIN_ROLE_ID, role.id];
    user.roles.sort();
    stores.users.insert_user(&user, &[]).await.unwrap();

    // The next start, and one with the viewer role no longer built in.
    with_builtins(stores).await;
    let only_admin: Vec<Role> = builtin_roles().into_iter().filter(|r| r.id == ADMIN_ROLE_ID).collect();
    stores.roles.sync_builtins(&builtin_permissions(), &only_admin).await.unwrap();
    with_builtins(stores).await;

    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(role));
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user));
    let permissions = stores.roles.list_permissions().await.unwrap();
    assert_eq!(permissions.len(), builtin_permissions().len() + 2);
    assert!(permissions.iter().filter(|p| p.name.as_str().starts_with("invoices:")).all(|p| !p.builtin));
    let mut expected = builtin_roles();
    expected
        .push(stores.roles.get_role_by_name(&RoleName::parse("accounting").unwrap()).await.unwrap().unwrap());
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(expected));
}
