//! `RoleStore`: built-in permissions and roles, and reading roles back.

use portcullis_domain::{
    ADMIN_ROLE_ID, Permission, PermissionName, Role, RoleId, RoleName, VIEWER_ROLE_ID, builtin_permissions,
    builtin_roles,
};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{normalized, sample_client, with_builtins};
use crate::{StoreError, Stores};

fn perm(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

fn sorted(mut permissions: Vec<Permission>) -> Vec<Permission> {
    permissions.sort_by(|a, b| a.name.cmp(&b.name));
    permissions
}

pub async fn empty_store_has_no_roles_or_permissions(stores: &Stores) {
    assert!(stores.roles.list_permissions().await.unwrap().is_empty());
    assert!(stores.roles.list_roles().await.unwrap().is_empty());
    assert_eq!(stores.roles.get_role(ADMIN_ROLE_ID).await.unwrap(), None);
}

pub async fn sync_builtins_stores_builtin_permissions_and_roles(stores: &Stores) {
    with_builtins(stores).await;
    assert_eq!(stores.roles.list_permissions().await.unwrap(), sorted(builtin_permissions()));
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
}

pub async fn sync_builtins_is_idempotent(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("admin client");
    client.role_id = Some(ADMIN_ROLE_ID);
    stores.clients.insert_client(&client, &[]).await.unwrap();
    with_builtins(stores).await;
    with_builtins(stores).await;
    assert_eq!(stores.roles.list_permissions().await.unwrap(), sorted(builtin_permissions()));
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client));
}

/// What a later release might ship: one permission gone, one new, changed
/// descriptions and permission sets.
fn next_release() -> (Vec<Permission>, Vec<Role>) {
    let mut permissions = builtin_permissions();
    permissions.retain(|p| p.name.as_str() != "users:write");
    permissions[0].description = "List and read API clients and their events".to_owned();
    permissions.push(Permission {
        name: perm("audit:read"),
        description: "Read the audit log".to_owned(),
        builtin: true,
    });
    let mut roles = builtin_roles();
    roles[0].description = "Everything".to_owned();
    roles[0].permissions = permissions.iter().map(|p| p.name.clone()).collect();
    roles[1].permissions = vec![perm("clients:read"), perm("audit:read")];
    (permissions, roles)
}

pub async fn sync_builtins_makes_builtins_exactly_the_given_set(stores: &Stores) {
    with_builtins(stores).await;
    let (permissions, roles) = next_release();
    stores.roles.sync_builtins(&permissions, &roles).await.unwrap();

    let stored = stores.roles.list_permissions().await.unwrap();
    let builtin: Vec<Permission> = stored.iter().filter(|p| p.builtin).cloned().collect();
    assert_eq!(builtin, sorted(permissions));
    // A permission no longer built in is kept as an ordinary one: operators'
    // roles may hold it, and deleting it is their call.
    let dropped: Vec<&Permission> = stored.iter().filter(|p| !p.builtin).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].name.as_str(), "users:write");
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(roles));

    // Going back is just as exact.
    with_builtins(stores).await;
    assert_eq!(stores.roles.list_permissions().await.unwrap().len(), builtin_permissions().len() + 1);
    assert!(stores.roles.list_permissions().await.unwrap().iter().any(|p| p.name.as_str() == "audit:read"));
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
}

pub async fn sync_builtins_keeps_a_dropped_role_that_clients_hold(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("viewer client");
    client.role_id = Some(VIEWER_ROLE_ID);
    stores.clients.insert_client(&client, &[]).await.unwrap();

    let only_admin: Vec<Role> = builtin_roles().into_iter().filter(|r| r.id == ADMIN_ROLE_ID).collect();
    stores.roles.sync_builtins(&builtin_permissions(), &only_admin).await.unwrap();
    let viewer = stores.roles.get_role(VIEWER_ROLE_ID).await.unwrap().expect("the viewer role is kept");
    let mut expected = builtin_role(VIEWER_ROLE_ID);
    expected.builtin = false;
    assert_eq!(viewer, expected, "kept as an ordinary role with its permissions");
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client));

    with_builtins(stores).await;
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
}

pub async fn sync_builtins_is_all_or_nothing(stores: &Stores) {
    let (mut permissions, mut roles) = next_release();
    roles[1].permissions.push(perm("nowhere:defined"));
    let err = stores.roles.sync_builtins(&permissions, &roles).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role_permission_missing")), "{err:?}");
    assert!(stores.roles.list_permissions().await.unwrap().is_empty(), "rolled back");
    assert!(stores.roles.list_roles().await.unwrap().is_empty(), "rolled back");

    with_builtins(stores).await;
    permissions[0].description = "must not be stored".to_owned();
    roles[0].description = "must not be stored either".to_owned();
    assert!(stores.roles.sync_builtins(&permissions, &roles).await.is_err());
    assert_eq!(stores.roles.list_permissions().await.unwrap(), sorted(builtin_permissions()));
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(builtin_roles()));
}

pub async fn role_without_permissions_is_listed(stores: &Stores) {
    let mut roles = builtin_roles();
    let empty = Role {
        id: RoleId::generate(),
        name: RoleName::parse("nobody").unwrap(),
        description: String::new(),
        permissions: Vec::new(),
        builtin: true,
        version: 1,
    };
    roles.push(empty.clone());
    stores.roles.sync_builtins(&builtin_permissions(), &roles).await.unwrap();
    assert_eq!(stores.roles.get_role(empty.id).await.unwrap(), Some(empty.clone()));
    assert_eq!(stores.roles.get_role_by_name(&empty.name).await.unwrap(), Some(empty));
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(roles));
}

pub async fn get_role_by_id_and_by_name(stores: &Stores) {
    with_builtins(stores).await;
    let (admin, viewer) = (builtin_role(ADMIN_ROLE_ID), builtin_role(VIEWER_ROLE_ID));
    assert_eq!(stores.roles.get_role(ADMIN_ROLE_ID).await.unwrap().as_ref(), Some(&admin));
    assert_eq!(stores.roles.get_role(VIEWER_ROLE_ID).await.unwrap().as_ref(), Some(&viewer));
    let by_name = stores.roles.get_role_by_name(&RoleName::parse("viewer").unwrap()).await.unwrap();
    assert_eq!(by_name.as_ref(), Some(&viewer));
    assert_eq!(stores.roles.get_role(RoleId::generate()).await.unwrap(), None);
    assert_eq!(stores.roles.get_role_by_name(&RoleName::parse("admins").unwrap()).await.unwrap(), None);
    assert_eq!(stores.roles.get_role_by_name(&RoleName::parse("admi").unwrap()).await.unwrap(), None);
}

/// The built-in role with this id, as `get_role` returns it (permissions by name).
fn builtin_role(id: RoleId) -> Role {
    normalized(builtin_roles()).into_iter().find(|r| r.id == id).expect("a built-in role")
}
