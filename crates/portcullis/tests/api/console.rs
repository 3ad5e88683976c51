//! The web console as a browser meets it: the page at each of its paths,
//! its assets, and `/api/v1/me` telling a session (only) its CSRF token.

use portcullis_testkit::{Backend, PASSWORD, spawn_app, spawn_app_on};
use portcullis_web::console::PATHS;
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

/// A console path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{client_id}", "0190d1b4-5b5a-4cc2-9b70-6bd1f0c1e4a1").replace("{role_id}", "viewer")
}

fn header(response: &Response, name: header::HeaderName) -> &str {
    response.headers().get(&name).map_or("", |v| v.to_str().unwrap())
}

/// The headers every console answer carries, page or asset.
fn assert_hardened(response: &Response, what: &str) {
    let csp = header(response, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'self';"), "{what}: {csp}");
    assert!(csp.contains("style-src 'self';"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: no 'unsafe-inline' nor 'unsafe-eval': {csp}");
    assert_eq!(header(response, header::X_FRAME_OPTIONS), "DENY", "{what}");
    assert_eq!(header(response, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{what}");
    assert_eq!(header(response, header::REFERRER_POLICY), "no-referrer", "{what}");
}

/// The asset URLs the page names: `/console/{version}/…`.
fn asset_urls(page: &str) -> Vec<String> {
    page.split(['"', '\'']).filter(|s| s.starts_with("/console/")).map(str::to_owned).collect()
}

#[tokio::test]
async fn every_console_path_answers_the_page_with_a_strict_csp_and_no_caching() {
    let app = spawn_app().await;
    let mut pages = Vec::new();
    for path in PATHS {
        let url = app.url(&concrete(path));
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_hardened(&response, path);
        assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(header(&response, header::CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<!doctype html>") && body.contains("<html lang=\"en\">"), "{path}");
        assert!(
            !body.contains("{{") && !body.contains("<script>"),
            "{path}: no template left, no inline script"
        );
        pages.push(body);
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "one page for every path");
    let assets = asset_urls(&pages[0]);
    assert_eq!(assets.len(), 3, "favicon, style sheet and main.js: {assets:?}");
}

#[tokio::test]
async fn assets_are_immutable_under_the_current_version_only() {
    let app = spawn_app().await;
    let page = app.http.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let assets = asset_urls(&page);
    let main = assets.iter().find(|a| a.ends_with("/main.js")).expect("the page loads main.js");
    let version = main.trim_start_matches("/console/").trim_end_matches("/main.js").to_owned();
    assert!(!version.is_empty() && !version.contains('/'), "{main}");

    for asset in assets.iter().map(String::as_str).chain([
        format!("/console/{version}/pages/clients.js").as_str(),
        format!("/console/{version}/api.js").as_str(),
    ]) {
        let response = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_hardened(&response, asset);
        assert_eq!(
            header(&response, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        let expected = match asset.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(header(&response, header::CONTENT_TYPE), expected, "{asset}");
    }

    // Another version's URL (a page loaded before an upgrade) is not
    // answered with this version's files; nor is anything outside the list.
    let old = if version.starts_with('A') { "B" } else { "A" }.to_owned() + &version[1..];
    for path in [
        format!("/console/{old}/main.js"),
        format!("/console/{version}/nothing.js"),
        format!("/console/{version}/index.html"),
        format!("/console/{version}/%2e%2e/Cargo.toml"),
        format!("/console/{version}/"),
    ] {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, header::CACHE_CONTROL), "", "{path}: a 404 is not kept for good");
    }
}

#[tokio::test]
async fn paths_outside_the_console_still_answer_404_json() {
    let app = spawn_app().await;
    for path in ["/nothing", "/clients/a/b", "/console", "/console/main.js", "/sign-in/x", "/index.html"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, header::CONTENT_TYPE), "application/json", "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
}

on_both_backends!(me_gives_a_session_its_csrf_token_and_a_bearer_none);

async fn me_gives_a_session_its_csrf_token_and_a_bearer_none(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.create_user("ada@example.com", &["viewer"]).await;
    let response = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = header(&response, header::SET_COOKIE).split(';').next().unwrap().to_owned();
    let signed_in: Value = response.json().await.unwrap();
    let csrf = signed_in["csrf_token"].as_str().unwrap();

    let me: Value = app
        .http
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["csrf_token"], csrf, "the reloaded console gets the session's own token");

    let bearers = [app.bearer("admin", None).await, app.user_token("grace@example.com", &["admin"]).await.0];
    for token in bearers {
        let response = app.http.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let me: Value = response.json().await.unwrap();
        assert!(me.get("csrf_token").is_none(), "a bearer needs no CSRF token: {me}");
    }
}
