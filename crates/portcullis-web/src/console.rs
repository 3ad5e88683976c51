//! The web console: a small single-page app over the admin REST API,
//! compiled into the binary (`assets/console/`). Nothing is fetched at run
//! time and there is no build step: the files are plain ES modules, served
//! from `/console/{hash}/…` (the hash of every file together, so a new
//! version is a new URL and a browser may keep them for good), and the
//! page at `/` and at each of the console's own paths.
//!
//! The console holds no power of its own: it signs in through
//! `POST /api/v1/session` and then calls the same REST endpoints (and so
//! the same service calls, with the same escalation rule) as any caller.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

/// Scripts and styles from this origin only, none inline and no `eval`;
/// the API on this origin only; no framing, no `<base>`, no form posts
/// elsewhere (the console's forms are handled by its scripts).
pub const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
);
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
/// The page names the assets' current hash: always asked again.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const FOREVER: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const DENY: HeaderValue = HeaderValue::from_static("DENY");

const PAGE: &str = include_str!("../assets/console/index.html");

struct Asset {
    name: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        [$(Asset { name: $name, body: include_bytes!(concat!("../assets/console/", $name)) }),*]
    };
}

/// Every file of `assets/console/` but the page (a test checks the list).
const ASSETS: [Asset; 15] = assets![
    "console.css",
    "favicon.svg",
    "main.js",
    "api.js",
    "dom.js",
    "dialog.js",
    "format.js",
    "layout.js",
    "router.js",
    "session.js",
    "pages/sign-in.js",
    "pages/clients.js",
    "pages/client.js",
    "pages/roles.js",
    "pages/users.js",
];

/// The console's own paths: each answers the page, which then shows the
/// screen the path names (a reload or a bookmark lands where it was).
pub const PATHS: [&str; 9] = [
    "/",
    "/sign-in",
    "/clients",
    "/clients/{client_id}",
    "/roles",
    "/roles/{role_id}",
    "/permissions",
    "/users",
    "/account",
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in &ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update((asset.body.len() as u64).to_le_bytes());
        hash.update(asset.body);
    }
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..9])
});

static RENDERED_PAGE: LazyLock<String> = LazyLock::new(|| PAGE.replace("{{version}}", &VERSION));

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut router = Router::new();
    for path in PATHS {
        router = router.route(path, get(page));
    }
    router.route("/console/{version}/{*file}", get(asset)).layer(CompressionLayer::new())
}

/// Headers every console answer carries.
fn hardened(content_type: HeaderValue, cache: HeaderValue) -> [(header::HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
        (header::REFERRER_POLICY, NO_REFERRER),
        (header::X_FRAME_OPTIONS, DENY),
        (header::CACHE_CONTROL, cache),
    ]
}

async fn page() -> Response {
    (hardened(HTML, NO_CACHE), RENDERED_PAGE.as_str()).into_response()
}

async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    // An old version's URL (a page loaded before an upgrade) is not served
    // the new files under it: the browser reloads the page instead.
    let Some(asset) = ASSETS.iter().find(|a| a.name == file).filter(|_| version == *VERSION) else {
        return crate::not_found().await.into_response();
    };
    (hardened(content_type(asset.name), FOREVER), asset.body).into_response()
}

fn content_type(name: &str) -> HeaderValue {
    HeaderValue::from_static(match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use axum::{
        body::{Body, to_bytes},
        http::{Request, StatusCode},
    };
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        router::<()>().with_state(())
    }

    async fn get_path(path: &str) -> Response {
        app().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap()
    }

    #[test]
    fn every_console_file_is_served() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/console");
        let mut on_disk = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let name = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                    if name != "index.html" {
                        on_disk.push(name);
                    }
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<_> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "ASSETS must list every file of assets/console");
    }

    #[tokio::test]
    async fn the_page_names_the_current_assets_and_forbids_inline_script_and_framing() {
        for path in ["/", "/clients", "/clients/0190d1b4-5b5a-7cc2-9b70-6bd1f0c1e4a1", "/account"] {
            let response = get_path(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains(&format!("/console/{}/main.js", *VERSION)), "{body}");
            assert!(!body.contains("{{"), "{body}");
        }
    }

    #[tokio::test]
    async fn assets_are_kept_for_good_under_their_version_only() {
        let response = get_path(&format!("/console/{}/main.js", *VERSION)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let response = get_path(&format!("/console/{}/pages/clients.js", *VERSION)).await;
        assert_eq!(response.status(), StatusCode::OK);
        for path in [
            "/console/0ld/main.js".to_owned(),
            format!("/console/{}/nothing.js", *VERSION),
            format!("/console/{}/../Cargo.toml", *VERSION),
            format!("/console/{}/index.html", *VERSION),
        ] {
            assert_eq!(get_path(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
