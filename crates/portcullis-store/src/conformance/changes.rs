//! `ChangeWatch` and `Health`.

use portcullis_domain::{
    ClientId, ClientName, ClientStatus, UserName, builtin_permissions, builtin_roles, now,
};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{
    operator_permission, operator_role, sample_client, sample_personal_token, sample_user, seconds_from_now,
};
use crate::{StoredSigningKey, Stores};

/// Runs `write` and checks that the generation moved.
async fn changes_generation<F: std::future::Future<Output = ()>>(stores: &Stores, what: &str, write: F) {
    let before = stores.changes.generation().unwrap();
    write.await;
    let after = stores.changes.generation().unwrap();
    assert_ne!(before, after, "generation unchanged after {what}");
}

pub async fn generation_changes_after_every_write(stores: &Stores) {
    let (permissions, roles) = (builtin_permissions(), builtin_roles());
    changes_generation(stores, "sync_builtins", async {
        stores.roles.sync_builtins(&permissions, &roles).await.unwrap();
    })
    .await;
    let mut client = sample_client("watched");
    changes_generation(stores, "insert_client", async {
        stores.clients.insert_client(&client, &[]).await.unwrap();
    })
    .await;
    client.name = ClientName::parse("renamed").unwrap();
    changes_generation(stores, "update_client", async {
        assert!(put_client(&*stores.clients, &client).await.unwrap());
    })
    .await;
    client.tokens_valid_after = Some(seconds_from_now(0));
    changes_generation(stores, "update_client (tokens valid after)", async {
        assert!(put_client(&*stores.clients, &client).await.unwrap());
    })
    .await;
    changes_generation(stores, "delete_client", async {
        assert!(stores.clients.delete_client(client.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted());
    })
    .await;
    let (a, b) = (sample_client("bulk a"), sample_client("bulk b"));
    stores.clients.insert_client(&a, &[]).await.unwrap();
    stores.clients.insert_client(&b, &[]).await.unwrap();
    changes_generation(stores, "set_clients_status", async {
        stores
            .clients
            .set_clients_status(&[a.id, b.id], ClientStatus::Disabled, now(), NO_EVENTS)
            .await
            .unwrap();
    })
    .await;
    changes_generation(stores, "set_clients_status (back)", async {
        stores.clients.set_clients_status(&[b.id], ClientStatus::Enabled, now(), NO_EVENTS).await.unwrap();
    })
    .await;
    changes_generation(stores, "delete_clients", async {
        stores.clients.delete_clients(&[a.id, b.id], NO_DELETE_EVENTS).await.unwrap();
    })
    .await;
    let key = StoredSigningKey {
        kid: "k1".to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: vec![1; 32],
        sealed_private_key: vec![2; 72],
        created_at: seconds_from_now(0),
        state: crate::KeyState::Previous,
        activated_at: None,
        replaced_at: None,
    };
    changes_generation(stores, "insert_signing_key", async {
        stores.keys.insert_signing_key(&key).await.unwrap();
    })
    .await;
    changes_generation(stores, "delete_signing_key", async {
        assert!(stores.keys.delete_signing_key("k1").await.unwrap());
    })
    .await;
    changes_generation(stores, "revoke_token", async {
        stores
            .tokens
            .revoke_token(uuid::Uuid::new_v4(), ClientId::generate(), seconds_from_now(60))
            .await
            .unwrap();
    })
    .await;
    changes_generation(stores, "insert_server_secret_if_absent", async {
        stores.secrets.insert_server_secret_if_absent("s", b"v").await.unwrap();
    })
    .await;
}

/// Everything a cache of users, roles and permissions depends on.
pub async fn generation_changes_after_every_user_and_role_write(stores: &Stores) {
    stores.roles.sync_builtins(&builtin_permissions(), &builtin_roles()).await.unwrap();
    let permission = operator_permission("invoices:read");
    changes_generation(stores, "insert_permission", async {
        stores.roles.insert_permission(&permission, &[]).await.unwrap();
    })
    .await;
    changes_generation(stores, "update_permission_description", async {
        assert!(
            stores
                .roles
                .update_permission_description(&permission.name, "new", &|_, _| Vec::new())
                .await
                .unwrap()
                .found()
        );
    })
    .await;
    let mut role = operator_role("accounting", &["invoices:read"]);
    changes_generation(stores, "insert_role", async {
        stores.roles.insert_role(&role, &[]).await.unwrap();
    })
    .await;
    role.permissions.clear();
    changes_generation(stores, "update_role", async {
        assert!(super::put_role(&*stores.roles, &role).await.unwrap());
    })
    .await;
    changes_generation(stores, "delete_permission", async {
        assert!(stores.roles.delete_permission(&permission.name, true, &|_| Vec::new()).await.unwrap());
    })
    .await;
    let mut user = sample_user("watched@example.com");
    user.roles = vec![role.id];
    changes_generation(stores, "insert_user", async {
        stores.users.insert_user(&user, &[]).await.unwrap();
    })
    .await;
    user.name = UserName::parse("Renamed").unwrap();
    user.roles.clear();
    changes_generation(stores, "update_user", async {
        assert!(super::put_user(&*stores.users, &user).await.unwrap());
    })
    .await;
    changes_generation(stores, "delete_role", async {
        assert!(super::drop_role(&*stores.roles, role.id).await.unwrap());
    })
    .await;
    changes_generation(stores, "replace_personal_token", async {
        stores.users.replace_personal_token(&sample_personal_token(user.id), &[]).await.unwrap();
    })
    .await;
    changes_generation(stores, "replace_personal_token (again)", async {
        stores.users.replace_personal_token(&sample_personal_token(user.id), &[]).await.unwrap();
    })
    .await;
    changes_generation(stores, "delete_user_personal_token", async {
        assert!(stores.users.delete_user_personal_token(user.id, &[]).await.unwrap());
    })
    .await;
    changes_generation(stores, "delete_user", async {
        assert!(super::drop_user(&*stores.users, user.id).await.unwrap());
    })
    .await;
}

pub async fn ping_succeeds(stores: &Stores) {
    stores.health.ping().await.unwrap();
    let _ = stores.changes.generation().unwrap();
}

/// The pool's figures add up; every connection a store call takes is
/// counted with its wait, also when more calls run at once than the pool
/// has connections; and none stays in use once the calls have returned.
pub async fn pool_reports_its_connections_and_every_acquisition(stores: &Stores) {
    let before = stores.health.pool();
    assert!(before.max >= 1, "{before:?}");
    assert!(before.idle <= before.open && before.open <= before.max, "{before:?}");
    stores.health.ping().await.unwrap();
    assert_eq!(stores.clients.get_client(ClientId::generate()).await.unwrap(), None);
    stores.clients.insert_client(&sample_client("pooled"), &[]).await.unwrap();
    let at_once = 2 * before.max as usize;
    futures_util::future::try_join_all((0..at_once).map(|_| stores.health.ping())).await.unwrap();

    let after = stores.health.pool();
    assert_eq!(after.name, before.name);
    assert_eq!(after.max, before.max);
    let counted = after.acquire_wait.count() - before.acquire_wait.count();
    assert!(counted >= 3 + at_once as u64, "{counted} acquisitions counted");
    assert_eq!(after.acquire_failures, before.acquire_failures);
    assert!(after.acquire_wait.sum_seconds > before.acquire_wait.sum_seconds);
    assert_eq!(after.acquire_wait.counts.len(), after.acquire_wait.bounds_seconds.len() + 1);
    assert!(after.acquire_wait.bounds_seconds.windows(2).all(|w| w[0] < w[1]));
    assert!(1 <= after.open && after.open <= after.max, "{after:?}");
    // A connection goes back to the pool as its call ends (sqlx may finish
    // that on a task of its own: give it a moment).
    for _ in 0..100 {
        if stores.health.pool().in_use() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("connections still in use after every call returned: {:?}", stores.health.pool());
}
