//! The client lifecycle through the service layer, seen at the token endpoint.

use portcullis_domain::{ClientName, ClientStatus, Description, RoleName, TokenTtl};
use portcullis_service::{Caller, ClientUpdate, ListClients, NewClient, ServiceError};
use portcullis_testkit::{Backend, spawn_app_on};

use crate::token::verify;

on_both_backends!(
    create_get_update_and_delete,
    list_pages_newest_first_without_gaps,
    disabled_client_is_refused_and_enabling_restores_the_old_secret,
    regenerated_secret_invalidates_the_old_one_but_not_issued_tokens,
    deleted_client_is_refused,
    unknown_role_is_refused_and_nothing_is_stored,
);

async fn create_get_update_and_delete(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (created, secret) = app
        .service
        .create_client(
            &Caller::system(),
            NewClient {
                name: ClientName::parse("Nightly export").unwrap(),
                description: Some(Description::parse("exports invoices").unwrap()),
                role: Some(RoleName::parse("viewer").unwrap()),
                token_ttl: TokenTtl::from_secs(900).unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(secret.expose().starts_with("pcs_"));
    assert_eq!(created.role.as_ref().map(|r| r.as_str()), Some("viewer"));
    assert_eq!(created.client.status, ClientStatus::Enabled);
    let id = created.client.id;
    assert_eq!(app.service.get_client(&Caller::system(), id).await.unwrap(), created);

    let updated = app
        .service
        .update_client(
            &Caller::system(),
            id,
            ClientUpdate {
                name: Some(ClientName::parse("Nightly export v2").unwrap()),
                description: Some(None),
                role: Some(Some(RoleName::parse("admin").unwrap())),
                token_ttl: Some(TokenTtl::from_secs(120).unwrap()),
                status: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.client.name.as_str(), "Nightly export v2");
    assert_eq!(updated.client.description, None);
    assert_eq!(updated.role.as_ref().map(|r| r.as_str()), Some("admin"));
    assert_eq!(updated.client.token_ttl.as_secs(), 120);
    assert_eq!(updated.client.secret_hash, created.client.secret_hash, "an update keeps the secret");
    assert_eq!(app.service.get_client(&Caller::system(), id).await.unwrap(), updated);

    app.service.delete_client(&Caller::system(), id).await.unwrap();
    assert!(matches!(app.service.get_client(&Caller::system(), id).await, Err(ServiceError::ClientNotFound)));
    assert!(matches!(
        app.service.delete_client(&Caller::system(), id).await,
        Err(ServiceError::ClientNotFound)
    ));
}

async fn list_pages_newest_first_without_gaps(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(app.create_client(None).await.0.client.id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .service
            .list_clients(&Caller::system(), ListClients { cursor, limit: Some(3), ..Default::default() })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|v| v.client.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = app
        .service
        .list_clients(&Caller::system(), ListClients { cursor: Some("garbage".into()), ..Default::default() })
        .await;
    assert!(matches!(bad, Err(ServiceError::InvalidCursor)));
}

async fn disabled_client_is_refused_and_enabling_restores_the_old_secret(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);

    app.service.set_client_status(&Caller::system(), view.client.id, ClientStatus::Disabled).await.unwrap();
    let refused = app.token_basic(&id, secret.expose(), None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");

    app.service.set_client_status(&Caller::system(), view.client.id, ClientStatus::Enabled).await.unwrap();
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
}

async fn regenerated_secret_invalidates_the_old_one_but_not_issued_tokens(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, old) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    let before: serde_json::Value = app.token_basic(&id, old.expose(), None).await.json().await.unwrap();

    let (_, new) = app.service.regenerate_client_secret(&Caller::system(), view.client.id).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(app.token_basic(&id, old.expose(), None).await.status(), 401);
    assert_eq!(app.token_basic(&id, new.expose(), None).await.status(), 200);
    // The token issued before still verifies against the published keys.
    verify(&app, before["access_token"].as_str().unwrap()).await;
}

async fn deleted_client_is_refused(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(None).await;
    let id = view.client.id.to_string();
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
    app.service.delete_client(&Caller::system(), view.client.id).await.unwrap();
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 401);
}

async fn unknown_role_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let result = app
        .service
        .create_client(
            &Caller::system(),
            NewClient {
                name: ClientName::parse("x").unwrap(),
                description: None,
                role: Some(RoleName::parse("nosuchrole").unwrap()),
                token_ttl: TokenTtl::DEFAULT,
            },
        )
        .await;
    assert!(matches!(result, Err(ServiceError::RoleNotFound(_))));
    let page = app.service.list_clients(&Caller::system(), ListClients::default()).await.unwrap();
    assert!(page.items.is_empty());
}
