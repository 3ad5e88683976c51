//! `RoleStore`: operators' permissions.

use portcullis_domain::{Permission, PermissionName, RoleName, builtin_permissions};

use super::{normalized, operator_permission, operator_role, with_builtins};
use crate::{StoreError, Stores};

fn perm(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

fn names(permissions: &[Permission]) -> Vec<&str> {
    permissions.iter().map(|p| p.name.as_str()).collect()
}

fn role_names(names: &[&str]) -> Vec<RoleName> {
    names.iter().map(|n| RoleName::parse(n).unwrap()).collect()
}

async fn stored_permission(stores: &Stores, name: &str) -> Option<Permission> {
    stores.roles.list_permissions().await.unwrap().into_iter().find(|p| p.name.as_str() == name)
}

pub async fn insert_permission_then_list(stores: &Stores) {
    with_builtins(stores).await;
    let invoices = operator_permission("invoices:read");
    let billing = operator_permission("billing-v2:export.csv");
    stores.roles.insert_permission(&invoices, &[]).await.unwrap();
    stores.roles.insert_permission(&billing, &[]).await.unwrap();
    // Whatever the argument says, an inserted permission is an operator's.
    let claims_builtin = Permission { builtin: true, ..operator_permission("audit:read") };
    stores.roles.insert_permission(&claims_builtin, &[]).await.unwrap();

    let listed = stores.roles.list_permissions().await.unwrap();
    let builtin = builtin_permissions();
    let mut expected = names(&builtin);
    expected.extend(["invoices:read", "billing-v2:export.csv", "audit:read"]);
    expected.sort_unstable();
    assert_eq!(names(&listed), expected, "ordered by name");
    assert_eq!(stored_permission(stores, "invoices:read").await, Some(invoices));
    assert_eq!(stored_permission(stores, "billing-v2:export.csv").await, Some(billing));
    let audit = stored_permission(stores, "audit:read").await.unwrap();
    assert_eq!(audit, Permission { builtin: false, ..claims_builtin });
}

pub async fn duplicate_permission_is_a_conflict(stores: &Stores) {
    with_builtins(stores).await;
    let first = operator_permission("invoices:read");
    stores.roles.insert_permission(&first, &[]).await.unwrap();
    let again = Permission { description: "another description".to_owned(), ..first.clone() };
    let err = stores.roles.insert_permission(&again, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("permission_name_unique")), "{err:?}");
    assert_eq!(stored_permission(stores, "invoices:read").await, Some(first));

    // A built-in one's name is taken too, and the built-in one is unchanged.
    let err = stores.roles.insert_permission(&operator_permission("clients:read"), &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("permission_name_unique")), "{err:?}");
    let builtin = builtin_permissions().into_iter().find(|p| p.name.as_str() == "clients:read");
    assert_eq!(stored_permission(stores, "clients:read").await, builtin);
}

pub async fn update_permission_description_changes_only_it(stores: &Stores) {
    with_builtins(stores).await;
    let invoices = operator_permission("invoices:read");
    let bystander = operator_permission("invoices:write");
    stores.roles.insert_permission(&invoices, &[]).await.unwrap();
    stores.roles.insert_permission(&bystander, &[]).await.unwrap();
    let role = operator_role("accounting", &["invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();

    let description = "Read invoices, 'quoted' and ünïcode\nover two lines";
    assert!(
        stores
            .roles
            .update_permission_description(&invoices.name, description, &|_, _| Vec::new())
            .await
            .unwrap()
            .found()
    );
    let expected = Permission { description: description.to_owned(), ..invoices };
    assert_eq!(stored_permission(stores, "invoices:read").await, Some(expected));
    assert_eq!(stored_permission(stores, "invoices:write").await, Some(bystander));
    assert!(
        stores
            .roles
            .update_permission_description(&perm("invoices:read"), "", &|_, _| Vec::new())
            .await
            .unwrap()
            .found()
    );
    assert_eq!(stored_permission(stores, "invoices:read").await.unwrap().description, "");
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(role), "roles holding it are unchanged");

    assert!(
        !stores
            .roles
            .update_permission_description(&perm("nowhere:defined"), "x", &|_, _| Vec::new())
            .await
            .unwrap()
            .found()
    );
    assert_eq!(stored_permission(stores, "nowhere:defined").await, None, "update must not insert");
}

pub async fn roles_using_permission_lists_them_by_name(stores: &Stores) {
    with_builtins(stores).await;
    stores.roles.insert_permission(&operator_permission("invoices:read"), &[]).await.unwrap();
    stores.roles.insert_permission(&operator_permission("invoices:write"), &[]).await.unwrap();
    for role in [
        operator_role("zeta", &["invoices:read", "invoices:write"]),
        operator_role("alpha", &["invoices:read"]),
        operator_role("writers", &["invoices:write"]),
        operator_role("middle", &["clients:read", "invoices:read"]),
    ] {
        stores.roles.insert_role(&role, &[]).await.unwrap();
    }
    let cases: &[(&str, &[&str])] = &[
        ("invoices:read", &["alpha", "middle", "zeta"]),
        ("invoices:write", &["writers", "zeta"]),
        ("clients:read", &["admin", "middle", "viewer"]),
        ("keys:write", &["admin"]),
        ("tokens:introspect", &["admin", "resource-server"]),
        ("nowhere:defined", &[]),
    ];
    for (permission, expected) in cases {
        let using = stores.roles.roles_using_permission(&perm(permission)).await.unwrap();
        assert_eq!(using, role_names(expected), "{permission}");
    }
}

pub async fn delete_unused_permission(stores: &Stores) {
    with_builtins(stores).await;
    let doomed = operator_permission("invoices:read");
    let kept = operator_permission("invoices:write");
    stores.roles.insert_permission(&doomed, &[]).await.unwrap();
    stores.roles.insert_permission(&kept, &[]).await.unwrap();
    assert!(stores.roles.delete_permission(&doomed.name, false, &|_| Vec::new()).await.unwrap());
    assert_eq!(stored_permission(stores, "invoices:read").await, None);
    assert_eq!(stored_permission(stores, "invoices:write").await, Some(kept.clone()));
    assert!(
        !stores.roles.delete_permission(&doomed.name, false, &|_| Vec::new()).await.unwrap(),
        "a second delete finds nothing"
    );
    assert!(
        !stores.roles.delete_permission(&doomed.name, true, &|_| Vec::new()).await.unwrap(),
        "with cascade too"
    );

    // With cascade, an unused permission goes just the same.
    assert!(stores.roles.delete_permission(&kept.name, true, &|_| Vec::new()).await.unwrap());
    assert_eq!(stored_permission(stores, "invoices:write").await, None);
    assert_eq!(stores.roles.list_permissions().await.unwrap().len(), builtin_permissions().len());
    // And the name can be used again.
    stores.roles.insert_permission(&doomed, &[]).await.unwrap();
    assert_eq!(stored_permission(stores, "invoices:read").await, Some(doomed));
}

pub async fn delete_permission_in_use_is_a_conflict_without_cascade(stores: &Stores) {
    with_builtins(stores).await;
    let invoices = operator_permission("invoices:read");
    stores.roles.insert_permission(&invoices, &[]).await.unwrap();
    let role = operator_role("accounting", &["clients:read", "invoices:read"]);
    stores.roles.insert_role(&role, &[]).await.unwrap();

    let err = stores.roles.delete_permission(&invoices.name, false, &|_| Vec::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("permission_in_use")), "{err:?}");
    assert_eq!(stored_permission(stores, "invoices:read").await, Some(invoices.clone()), "still there");
    assert_eq!(stores.roles.get_role(role.id).await.unwrap(), Some(role.clone()), "still held");

    // A built-in role's permission is in use just the same.
    let err = stores.roles.delete_permission(&perm("keys:write"), false, &|_| Vec::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("permission_in_use")), "{err:?}");

    // Once no role holds it, it goes.
    let mut without = role.clone();
    without.permissions.retain(|p| p.as_str() != "invoices:read");
    assert!(super::put_role(&*stores.roles, &without).await.unwrap());
    assert!(stores.roles.delete_permission(&invoices.name, false, &|_| Vec::new()).await.unwrap());
    assert_eq!(stored_permission(stores, "invoices:read").await, None);
}

pub async fn delete_permission_with_cascade_removes_it_from_every_role(stores: &Stores) {
    with_builtins(stores).await;
    let invoices = operator_permission("invoices:read");
    stores.roles.insert_permission(&invoices, &[]).await.unwrap();
    stores.roles.insert_permission(&operator_permission("invoices:write"), &[]).await.unwrap();
    let both = operator_role("accounting", &["invoices:read", "invoices:write"]);
    let only = operator_role("auditors", &["invoices:read"]);
    let other = operator_role("writers", &["invoices:write"]);
    for r in [&both, &only, &other] {
        stores.roles.insert_role(r, &[]).await.unwrap();
    }
    let before = stores.roles.list_roles().await.unwrap();

    assert!(stores.roles.delete_permission(&invoices.name, true, &|_| Vec::new()).await.unwrap());
    assert_eq!(stored_permission(stores, "invoices:read").await, None);
    assert!(stores.roles.roles_using_permission(&invoices.name).await.unwrap().is_empty());
    // Every role is still there, less that one permission; the roles it
    // left have a new version, the others keep theirs.
    let mut expected = before;
    for r in &mut expected {
        if r.permissions.iter().any(|p| p.as_str() == "invoices:read") {
            r.version += 1;
        }
        r.permissions.retain(|p| p.as_str() != "invoices:read");
    }
    assert_eq!(stores.roles.list_roles().await.unwrap(), normalized(expected));
    let emptied = stores.roles.get_role(only.id).await.unwrap().unwrap();
    assert!(emptied.permissions.is_empty(), "a role can end up with no permission");
    assert_eq!(stores.roles.get_role(other.id).await.unwrap(), Some(other));
}
