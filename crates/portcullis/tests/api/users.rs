//! Console users, sessions with CSRF, `/me`, and personal access tokens.

use portcullis_testkit::{Backend, PASSWORD, TestApp, spawn_app, spawn_app_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(token) = auth {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<Browser, (u16, Value)> {
    let response = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let set_cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    if status != 200 {
        return Err((status, body));
    }
    let set_cookie = set_cookie.unwrap();
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && set_cookie.contains("Path=/")
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Ok(Browser { cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() })
}

async fn with_cookie(
    app: &TestApp,
    b: &Browser,
    method: Method,
    path: &str,
    csrf: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).header("cookie", &b.cookie);
    if csrf {
        req = req.header("x-csrf-token", &b.csrf);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

on_both_backends!(
    users_lifecycle_over_the_admin_api,
    sessions_need_csrf_for_changes_and_end_when_disabled,
    odd_cookie_headers_find_the_session_or_get_a_401,
    personal_access_token_rotation_leaves_exactly_one,
);

async fn users_lifecycle_over_the_admin_api(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let (s, created) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(&admin),
        Some(json!({"email": "Ada@Example.com", "name": "Ada", "roles": ["viewer"]})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["user"]["email"], "ada@example.com");
    assert_eq!(created["user"]["roles"], json!(["viewer"]));
    let generated = created["password"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 20);
    assert!(!created.to_string().contains("argon2"), "never the hash");
    let id = created["user"]["user_id"].as_str().unwrap().to_owned();
    assert!(sign_in(&app, "ada@example.com", &generated).await.is_ok(), "the generated password works");

    let (s, dup) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(&admin),
        Some(json!({"email": "ada@example.com", "name": "A", "roles": ["viewer"]})),
    )
    .await;
    assert_eq!(s, 409, "{dup}");
    for (body, field) in [
        (json!({"email": "nope", "name": "A", "roles": ["viewer"]}), "email"),
        (json!({"email": "b@example.com", "name": "A", "roles": []}), "roles"),
        (json!({"email": "b@example.com", "name": "A", "roles": ["nosuch"]}), "role"),
        (
            json!({"email": "b@example.com", "name": "A", "roles": ["viewer"], "password": "short"}),
            "password",
        ),
        (
            json!({"email": "b@example.com", "name": "A", "roles": ["viewer"], "password": "password1234"}),
            "password",
        ),
        (json!({"email": "b@example.com", "name": "A", "roles": ["viewer"], "admin": true}), "admin"),
    ] {
        let (s, p) = call(&app, Method::POST, "/api/v1/users", Some(&admin), Some(body.clone())).await;
        assert_eq!((s, p["field"].as_str()), (400, Some(field)), "{body}: {p}");
        assert!(!p.to_string().contains("password1234"), "the password is never echoed");
    }

    let (s, listed) = call(&app, Method::GET, "/api/v1/users?q=ADA", Some(&admin), None).await;
    assert_eq!((s, listed["items"].as_array().unwrap().len()), (200, 1));
    let (s, patched) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"name": "Ada L.", "roles": ["viewer", "admin"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!((patched["name"].as_str(), &patched["roles"]), (Some("Ada L."), &json!(["admin", "viewer"])));
    let (s, _) = call(&app, Method::DELETE, &format!("/api/v1/users/{id}"), Some(&admin), None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&app, Method::GET, &format!("/api/v1/users/{id}"), Some(&admin), None).await;
    assert_eq!(s, 404);

    let viewer = {
        let (view, secret) = app.create_client(Some("viewer")).await;
        let body: Value =
            app.token_basic(&view.client.id.to_string(), secret.expose(), None).await.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    assert_eq!(call(&app, Method::GET, "/api/v1/users", Some(&viewer), None).await.0, 200);
    assert_eq!(call(&app, Method::POST, "/api/v1/users", Some(&viewer), Some(json!({}))).await.0, 403);
}

async fn sessions_need_csrf_for_changes_and_end_when_disabled(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let id = app.create_user("grace@example.com", &["admin"]).await.user.id.to_string();

    // A wrong e-mail and a wrong password get the same answer.
    let wrong_password = sign_in(&app, "grace@example.com", "not the password at all").await.err().unwrap();
    let wrong_email = sign_in(&app, "nobody@example.com", PASSWORD).await.err().unwrap();
    assert_eq!(wrong_password, wrong_email);
    assert_eq!(wrong_password.0, 401);

    let b = sign_in(&app, "Grace@example.com", PASSWORD).await.unwrap();
    let (s, me) = with_cookie(&app, &b, Method::GET, "/api/v1/me", false, None).await;
    assert_eq!(
        (s, me["kind"].as_str(), me["user"]["email"].as_str()),
        (200, Some("user"), Some("grace@example.com"))
    );
    assert!(me["permissions"].as_array().unwrap().contains(&json!("clients:write")));

    let create = json!({"name": "made in the console"});
    let (s, p) = with_cookie(&app, &b, Method::POST, "/api/v1/clients", false, Some(create.clone())).await;
    assert_eq!((s, p["type"].as_str()), (403, Some("urn:portcullis:problem:csrf")));
    let (s, _) = with_cookie(&app, &b, Method::POST, "/api/v1/clients", true, Some(create)).await;
    assert_eq!(s, 201, "with the CSRF token");

    // Disabling the user ends its session at once.
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(with_cookie(&app, &b, Method::GET, "/api/v1/me", false, None).await.0, 401);
    assert!(sign_in(&app, "grace@example.com", PASSWORD).await.is_err(), "a disabled user cannot sign in");
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"status": "enabled"})),
    )
    .await;

    let b = sign_in(&app, "grace@example.com", PASSWORD).await.unwrap();
    let (s, _) = with_cookie(&app, &b, Method::DELETE, "/api/v1/session", true, None).await;
    assert_eq!(s, 204);
    assert_eq!(with_cookie(&app, &b, Method::GET, "/api/v1/me", false, None).await.0, 401, "signed out");
}

/// `Cookie` headers as browsers, proxies and attackers write them: the
/// session is found among other cookies however they are spaced, quoted or
/// split over headers; a header it cannot be told from (twice, a different
/// case, bytes that are not UTF-8 in it) gets a 401, never a 500.
async fn odd_cookie_headers_find_the_session_or_get_a_401(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.create_user("ada@example.com", &["viewer"]).await;
    let b = sign_in(&app, "ada@example.com", PASSWORD).await.unwrap();
    let (name, value) = b.cookie.split_once('=').unwrap();
    let me = |headers: Vec<Vec<u8>>| {
        let mut req = app.http.get(app.url("/api/v1/me"));
        for h in headers {
            req = req.header("cookie", reqwest::header::HeaderValue::from_bytes(&h).unwrap());
        }
        async move {
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response.headers().get("www-authenticate").is_some();
            (status, challenge, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let one = |text: String| vec![text.into_bytes()];
    let found = [
        one(format!("theme=dark; {name}={value}; lang=en")),
        one(format!("theme=dark;{name}={value};lang=en")),
        one(format!("  theme=dark ;   {name} = {value}   ; ")),
        one(format!("theme=dark;;; ;{name}={value}")),
        one(format!("{name}=\"{value}\"")),
        one(format!("junk; =nameless; {name}={value}")),
        vec![b"theme=dark".to_vec(), format!("{name}={value}").into_bytes()],
        vec![[&b"theme=\xff\xfe; "[..], format!("{name}={value}").as_bytes()].concat()],
    ];
    for headers in found {
        let (status, _, body) = me(headers.clone()).await;
        assert_eq!((status, body["user"]["email"].as_str()), (200, Some("ada@example.com")), "{headers:?}");
    }
    let mut broken = value.as_bytes().to_vec();
    broken.insert(4, 0xff);
    let refused = [
        one(format!("{name}={value}; {name}={value}")),
        one(format!("{name}={value}; {name}=another")),
        vec![format!("{name}=another").into_bytes(), format!("{name}={value}").into_bytes()],
        vec![[format!("{name}=").as_bytes(), &broken[..]].concat()],
        one(format!("{}={value}", name.to_uppercase())),
        one(format!("{name}=")),
        one(name.to_owned()),
        vec![b"\xff\xfe\xfd".to_vec()],
    ];
    for headers in refused {
        let (status, challenge, body) = me(headers.clone()).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (401, Some("urn:portcullis:problem:unauthorized")),
            "{headers:?}"
        );
        assert!(challenge, "{headers:?}");
    }
    let (_, _, body) = me(one(format!("{name}={value}; {name}=another"))).await;
    assert!(body["detail"].as_str().unwrap().contains("more than once"), "{body}");

    // The session is as it was, and signing out clears the same cookie.
    assert_eq!(with_cookie(&app, &b, Method::GET, "/api/v1/me", false, None).await.0, 200);
    let response = app
        .http
        .delete(app.url("/api/v1/session"))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with(&format!("{name}=;")), "{cleared}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=0", "Expires="] {
        assert!(cleared.contains(attribute), "{attribute} in {cleared}");
    }
    assert_eq!(with_cookie(&app, &b, Method::GET, "/api/v1/me", false, None).await.0, 401);
}

async fn personal_access_token_rotation_leaves_exactly_one(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let id = app.create_user("linus@example.com", &["viewer"]).await.user.id.to_string();
    let b = sign_in(&app, "linus@example.com", PASSWORD).await.unwrap();
    assert_eq!(with_cookie(&app, &b, Method::GET, "/api/v1/me/token", false, None).await.0, 404);

    let (s, first) = with_cookie(&app, &b, Method::POST, "/api/v1/me/token", true, None).await;
    assert_eq!(s, 201, "{first}");
    let first_token = first["token"].as_str().unwrap().to_owned();
    assert!(first_token.starts_with("pat_"));
    assert!(first["hint"].as_str().unwrap().starts_with("pat_…"));
    let (s, meta) = with_cookie(&app, &b, Method::GET, "/api/v1/me/token", false, None).await;
    assert_eq!(s, 200);
    assert!(meta.get("token").is_none(), "metadata only");
    assert_eq!(meta["hint"], first["hint"]);

    let (s, me) = call(&app, Method::GET, "/api/v1/me", Some(&first_token), None).await;
    assert_eq!((s, me["kind"].as_str()), (200, Some("user")));
    assert_eq!(call(&app, Method::GET, "/api/v1/clients", Some(&first_token), None).await.0, 200);
    assert_eq!(
        call(&app, Method::POST, "/api/v1/clients", Some(&first_token), Some(json!({"name": "x"}))).await.0,
        403
    );

    // Revoke and regenerate in one step: exactly one valid token.
    let (_, second) = call(&app, Method::POST, "/api/v1/me/token", Some(&first_token), None).await;
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&first_token), None).await.0, 401);
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&second_token), None).await.0, 200);

    // Introspection of a personal access token: for callers with tokens:introspect.
    let introspect = |caller: (String, String), token: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/oauth2/introspect"))
                .header("authorization", portcullis_testkit::basic(&caller.0, &caller.1))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let (rs, rs_secret) = app.create_client(Some("resource-server")).await;
    let rs = (rs.client.id.to_string(), rs_secret.expose().to_owned());
    let (plain, plain_secret) = app.create_client(None).await;
    let plain = (plain.client.id.to_string(), plain_secret.expose().to_owned());
    let seen = introspect(rs.clone(), second_token.clone()).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["sub"].as_str(), seen["username"].as_str()),
        (Some(true), Some(id.as_str()), Some("linus@example.com"))
    );
    assert_eq!(seen["scope"], "clients:read events:read roles:read users:read");
    assert_eq!(introspect(plain, second_token.clone()).await, json!({"active": false}));
    assert_eq!(
        introspect(rs.clone(), first_token.clone()).await,
        json!({"active": false}),
        "the replaced token"
    );

    // It acts with the user's current permissions.
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"roles": ["admin"]})),
    )
    .await;
    assert_eq!(
        call(&app, Method::POST, "/api/v1/clients", Some(&second_token), Some(json!({"name": "x"}))).await.0,
        201
    );
    // A disabled user's token fails at once.
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&second_token), None).await.0, 401);
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        Some(json!({"status": "enabled"})),
    )
    .await;
    assert_eq!(call(&app, Method::DELETE, "/api/v1/me/token", Some(&second_token), None).await.0, 204);
    assert_eq!(
        call(&app, Method::GET, "/api/v1/me", Some(&second_token), None).await.0,
        401,
        "revoked without replacement"
    );
    for malformed in ["pat_nope", "pat_", &format!("{second_token}x")] {
        assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(malformed), None).await.0, 401);
    }
}

#[tokio::test]
async fn clients_have_no_personal_access_token() {
    let app = spawn_app().await;
    let admin = app.bearer("admin", None).await;
    let (s, p) = call(&app, Method::POST, "/api/v1/me/token", Some(&admin), None).await;
    assert_eq!((s, p["type"].as_str()), (403, Some("urn:portcullis:problem:not-a-user")));
    let (s, me) = call(&app, Method::GET, "/api/v1/me", Some(&admin), None).await;
    assert_eq!((s, me["kind"].as_str()), (200, Some("client")));
}

on_both_backends!(an_admin_revokes_another_users_personal_access_token);

async fn an_admin_revokes_another_users_personal_access_token(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let viewer = app.bearer("viewer", None).await;
    let (token, id) = app.user_token("leaky@example.com", &["viewer"]).await;
    let path = format!("/api/v1/users/{id}/token");
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&token), None).await.0, 200);

    let (s, p) = call(&app, Method::DELETE, &path, Some(&viewer), None).await;
    assert_eq!((s, p["required_permission"].as_str()), (403, Some("users:write")), "{p}");
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&token), None).await.0, 200, "still valid");

    let since = portcullis_domain::now();
    assert_eq!(call(&app, Method::DELETE, &path, Some(&admin), None).await.0, 204);
    assert_eq!(call(&app, Method::GET, "/api/v1/me", Some(&token), None).await.0, 401, "revoked at once");
    let (s, p) = call(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!((s, p["type"].as_str()), (404, Some("urn:portcullis:problem:not-found")), "none left");
    let unknown = format!("/api/v1/users/{}/token", uuid::Uuid::new_v4());
    assert_eq!(call(&app, Method::DELETE, &unknown, Some(&admin), None).await.0, 404, "no such user");

    app.service.flush_events().await.unwrap();
    let events = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            portcullis_service::events::ListEvents {
                kind: Some("user.personal_token_revoked".into()),
                since: Some(since),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1, "one change event");
    assert_eq!(events.items[0].user_id.map(|u| u.to_string()), Some(id));
    assert!(events.items[0].actor.as_deref().is_some_and(|a| a.starts_with("client:")), "names the admin");
}
