//! Bad input at the token endpoint: each gets the RFC 6749 §5.2 error with
//! the right status, never a 5xx, and nothing stored changes.

use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_domain::ClientSecret;
use portcullis_service::Caller;
use portcullis_testkit::{Backend, TestApp, basic, spawn_app, spawn_app_on};
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";
const GRANT: &str = "grant_type=client_credentials";

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    query: &'static str,
    body: Vec<u8>,
    authorization: Option<String>,
    status: u16,
    error: &'static str,
}

async fn send(app: &TestApp, case: &Case) -> reqwest::Response {
    let mut req = app.http.post(app.url(&format!("/oauth2/token{}", case.query))).body(case.body.clone());
    if let Some(ct) = case.content_type {
        req = req.header("content-type", ct);
    }
    if let Some(auth) = &case.authorization {
        req = req.header("authorization", auth.as_str());
    }
    req.send().await.unwrap()
}

async fn assert_error(response: reqwest::Response, status: u16, error: &str, name: &str) {
    assert_eq!(response.status().as_u16(), status, "{name}: status");
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store", "{name}");
    assert_eq!(headers["pragma"], "no-cache", "{name}");
    if status == 401 {
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "{name}: {challenge}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{name}: {body}");
    assert!(body["error_description"].is_string(), "{name}");
}

fn cases(id: &str, secret: &str) -> Vec<Case> {
    let good = basic(id, secret);
    let case = |name, body: &str, authorization: Option<String>, status, error| Case {
        name,
        content_type: Some(FORM),
        query: "",
        body: body.as_bytes().to_vec(),
        authorization,
        status,
        error,
    };
    let other_secret = ClientSecret::generate();
    let mut cases = vec![
        case("missing grant_type", "scope=clients:read", Some(good.clone()), 400, "invalid_request"),
        case("empty grant_type", "grant_type=", Some(good.clone()), 400, "invalid_request"),
        case(
            "password grant",
            "grant_type=password&username=a&password=b",
            Some(good.clone()),
            400,
            "unsupported_grant_type",
        ),
        case(
            "authorization_code grant",
            "grant_type=authorization_code&code=x",
            Some(good.clone()),
            400,
            "unsupported_grant_type",
        ),
        case(
            "repeated grant_type",
            "grant_type=client_credentials&grant_type=client_credentials",
            Some(good.clone()),
            400,
            "invalid_request",
        ),
        case(
            "repeated scope",
            "grant_type=client_credentials&scope=clients:read&scope=roles:read",
            Some(good.clone()),
            400,
            "invalid_request",
        ),
        case(
            "two authentication methods",
            &format!("{GRANT}&client_id={id}&client_secret={secret}"),
            Some(good.clone()),
            400,
            "invalid_request",
        ),
        case(
            "client_id in body differs from header",
            &format!("{GRANT}&client_id={}", uuid::Uuid::new_v4()),
            Some(good.clone()),
            400,
            "invalid_request",
        ),
        case("secret without id", &format!("{GRANT}&client_secret={secret}"), None, 400, "invalid_request"),
        case("no credentials", GRANT, None, 401, "invalid_client"),
        case("id without secret", &format!("{GRANT}&client_id={id}"), None, 401, "invalid_client"),
        case("bearer instead of basic", GRANT, Some("Bearer abc".into()), 401, "invalid_client"),
        case("basic not base64", GRANT, Some("Basic !!!notbase64".into()), 400, "invalid_request"),
        case(
            "basic without colon",
            GRANT,
            Some(format!("Basic {}", STANDARD.encode("justanid"))),
            400,
            "invalid_request",
        ),
        case(
            "basic with %%%",
            GRANT,
            Some(format!("Basic {}", STANDARD.encode(format!("%%%:{secret}")))),
            400,
            "invalid_request",
        ),
        case(
            "basic with non-UTF-8",
            GRANT,
            Some(format!("Basic {}", STANDARD.encode(b"\xff\xfe:x"))),
            400,
            "invalid_request",
        ),
        case(
            "urlencoded special characters decode to an unknown client",
            GRANT,
            Some(basic("a+b % : £ €", "s+ % : £ €")),
            401,
            "invalid_client",
        ),
        case(
            "unknown client id",
            GRANT,
            Some(basic(&uuid::Uuid::new_v4().to_string(), secret)),
            401,
            "invalid_client",
        ),
        case("client id not a uuid", GRANT, Some(basic("crm", secret)), 401, "invalid_client"),
        case("malformed secret", GRANT, Some(basic(id, "hunter2")), 401, "invalid_client"),
        case("secret with a typo", GRANT, Some(basic(id, &typo(secret))), 401, "invalid_client"),
        case(
            "another well-formed secret",
            GRANT,
            Some(basic(id, other_secret.expose())),
            401,
            "invalid_client",
        ),
        case(
            "body with %FF",
            "grant_type=client_credentials&scope=%FF",
            Some(good.clone()),
            400,
            "invalid_request",
        ),
        case(
            "body with %%%",
            "grant_type=client_credentials&scope=%%%",
            Some(good.clone()),
            400,
            "invalid_request",
        ),
    ];
    cases.push(Case {
        name: "raw non-UTF-8 body",
        content_type: Some(FORM),
        query: "",
        body: b"grant_type=client_credentials&scope=\xff".to_vec(),
        authorization: Some(good.clone()),
        status: 400,
        error: "invalid_request",
    });
    cases.push(Case {
        name: "JSON body",
        content_type: Some("application/json"),
        query: "",
        body: br#"{"grant_type":"client_credentials"}"#.to_vec(),
        authorization: Some(good.clone()),
        status: 400,
        error: "invalid_request",
    });
    cases.push(Case {
        name: "no content type",
        content_type: None,
        query: "",
        body: GRANT.as_bytes().to_vec(),
        authorization: Some(good.clone()),
        status: 400,
        error: "invalid_request",
    });
    cases.push(Case {
        name: "latin1 charset",
        content_type: Some("application/x-www-form-urlencoded; charset=ISO-8859-1"),
        query: "",
        body: GRANT.as_bytes().to_vec(),
        authorization: Some(good.clone()),
        status: 400,
        error: "invalid_request",
    });
    cases.push(Case {
        name: "secret in the query string",
        content_type: Some(FORM),
        query: "?client_secret=x",
        body: format!("{GRANT}&client_id={id}&client_secret={secret}").into_bytes(),
        authorization: None,
        status: 400,
        error: "invalid_request",
    });
    cases.push(Case {
        name: "oversized body",
        content_type: Some(FORM),
        query: "",
        body: format!("{GRANT}&pad={}", "a".repeat(32 * 1024)).into_bytes(),
        authorization: Some(good),
        status: 413,
        error: "invalid_request",
    });
    cases
}

fn typo(secret: &str) -> String {
    let mut bytes = secret.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

on_both_backends!(bad_input_gets_the_rfc_error_and_changes_nothing);

async fn bad_input_gets_the_rfc_error_and_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    for case in cases(&id, secret.expose()) {
        assert_error(send(&app, &case).await, case.status, case.error, case.name).await;
    }
    // Nothing stored changed: the client is as it was and still works.
    assert_eq!(app.service.get_client(&Caller::system(), view.client.id).await.unwrap(), view);
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
}

#[tokio::test]
async fn token_endpoint_accepts_post_only() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(response, 405, "invalid_request", "GET").await;
    let put =
        app.http.put(app.url("/oauth2/token")).body("grant_type=client_credentials").send().await.unwrap();
    assert_error(put, 405, "invalid_request", "PUT").await;
}

#[tokio::test]
async fn urlencoded_real_credentials_still_authenticate() {
    // Secrets use only [A-Za-z0-9_], so encoding changes nothing; encoding
    // every byte (as some clients do) must work too.
    let app = spawn_app().await;
    let (view, secret) = app.create_client(None).await;
    let encode_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            encode_all(&view.client.id.to_string()),
            encode_all(secret.expose())
        ))
    );
    let response = app.post_token(GRANT, Some(&header)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = spawn_app().await;
    let (view, secret) = app.create_client(None).await;
    let response = app
        .post_token(
            &format!("{GRANT}&audience=x&foo=bar"),
            Some(&basic(&view.client.id.to_string(), secret.expose())),
        )
        .await;
    assert_eq!(response.status(), 200);
}
