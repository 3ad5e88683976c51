//! `GET /graphql`: GraphiQL, the in-browser IDE of the GraphQL API, and
//! `GET /graphql/assets/{file}`: its scripts and stylesheet, compiled into the
//! binary. Nothing comes from a CDN: operators run Portcullis air-gapped, and
//! a page that handles admin tokens must not run scripts it does not pin.
//! Where the vendored files come from: `assets/graphiql/README.md`.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::compression::CompressionLayer;

const PAGE: &str = include_str!("../assets/graphiql/index.html");

/// Scripts from this origin only and none inline (the start-up code is
/// `start.js`); the API on this origin only; no framing, no `<base>`, no
/// form posts. `style-src 'unsafe-inline'`: React and CodeMirror set `style`
/// attributes (panes, resizing, cursors), and the page has a small `<style>`.
/// `data:` images and fonts: the GraphiQL stylesheet embeds its fonts and
/// icons as `data:` URLs.
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
);
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
/// The vendored files have their version in their name: a new version is a
/// new URL, so a browser may keep them for good.
const FOREVER: &str = "public, max-age=31536000, immutable";
/// `start.js` is ours and changes with Portcullis under the same name.
const REVALIDATE: &str = "no-cache";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 5] = [
    Asset {
        name: "graphiql-3.8.3.min.js",
        content_type: JAVASCRIPT,
        cache_control: FOREVER,
        body: include_bytes!("../assets/graphiql/graphiql-3.8.3.min.js"),
    },
    Asset {
        name: "graphiql-3.8.3.min.css",
        content_type: CSS,
        cache_control: FOREVER,
        body: include_bytes!("../assets/graphiql/graphiql-3.8.3.min.css"),
    },
    Asset {
        name: "react-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        cache_control: FOREVER,
        body: include_bytes!("../assets/graphiql/react-18.3.1.production.min.js"),
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        cache_control: FOREVER,
        body: include_bytes!("../assets/graphiql/react-dom-18.3.1.production.min.js"),
    },
    Asset {
        name: "start.js",
        content_type: JAVASCRIPT,
        cache_control: REVALIDATE,
        body: include_bytes!("../assets/graphiql/start.js"),
    },
];

/// `GET /graphql`: the GraphiQL page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
            (header::REFERRER_POLICY, NO_REFERRER),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`, gzip-compressed when the browser accepts it
/// (GraphiQL's script is 3.4 MiB, about 0.7 MiB compressed).
pub fn assets_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/graphql/assets/{file}", get(asset)).layer(CompressionLayer::new())
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return crate::not_found().await.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
            (header::CACHE_CONTROL, HeaderValue::from_static(asset.cache_control)),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode},
    };
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new().route("/graphql", get(page)).merge(assets_router()).with_state(())
    }

    async fn get_path(path: &str, accept_encoding: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(encoding) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        app().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    async fn body_bytes(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The values of the `src="…"` and `href="…"` attributes of the page.
    fn urls_in(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| html.split(attribute).skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[tokio::test]
    async fn page_has_a_strict_csp_and_the_security_headers() {
        let response = get_path("/graphql", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
        let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'none'; script-src 'self';"), "{csp}");
        assert!(csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-eval") && !csp.contains("http"), "{csp}");
        assert_eq!(header_of(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header_of(&response, header::REFERRER_POLICY), "no-referrer");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
    }

    #[tokio::test]
    async fn page_loads_only_same_origin_assets_and_no_inline_script() {
        let html = String::from_utf8(body_bytes(get_path("/graphql", None).await).await).unwrap();
        assert!(!html.contains("http:") && !html.contains("https:") && !html.contains("//"), "{html}");
        let urls = urls_in(&html);
        assert!(urls.len() >= 5, "{urls:?}");
        for url in urls.iter().filter(|u| **u != "data:,") {
            // Relative to the page at /graphql: /graphql/assets/…, under any prefix.
            assert!(url.starts_with("graphql/assets/"), "{url}");
        }
        // Every <script> has a src and no body.
        assert_eq!(html.matches("<script").count(), html.matches("<script src=\"graphql/assets/").count());
        assert_eq!(html.matches("<script").count(), html.matches("></script>").count());
        let start =
            String::from_utf8(body_bytes(get_path("/graphql/assets/start.js", None).await).await).unwrap();
        assert!(!start.contains("http:") && !start.contains("https:"), "{start}");
        assert!(start.contains("shouldPersistHeaders: false"), "{start}");
        assert!(start.contains("credentials: 'same-origin'"), "{start}");
    }

    #[tokio::test]
    async fn every_asset_of_the_page_is_served_with_its_content_type() {
        let html = String::from_utf8(body_bytes(get_path("/graphql", None).await).await).unwrap();
        let urls: Vec<&str> =
            urls_in(&html).into_iter().filter(|u| u.starts_with("graphql/assets/")).collect();
        assert_eq!(urls.len(), ASSETS.len(), "{urls:?}");
        for url in urls {
            let response = get_path(&format!("/{url}"), None).await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let expected = if url.ends_with(".css") { CSS } else { JAVASCRIPT };
            assert_eq!(header_of(&response, header::CONTENT_TYPE), expected, "{url}");
            assert_eq!(header_of(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{url}");
            let cache = if url.ends_with("/start.js") { REVALIDATE } else { FOREVER };
            assert_eq!(header_of(&response, header::CACHE_CONTROL), cache, "{url}");
            let name = url.trim_start_matches("graphql/assets/");
            let asset = ASSETS.iter().find(|a| a.name == name).unwrap();
            assert_eq!(body_bytes(response).await, asset.body, "{url}");
        }
    }

    #[tokio::test]
    async fn assets_are_gzipped_when_the_browser_accepts_it() {
        let response = get_path("/graphql/assets/graphiql-3.8.3.min.js", Some("gzip, deflate, br")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), JAVASCRIPT);
        let compressed = body_bytes(response).await;
        assert_eq!(compressed[..2], [0x1f, 0x8b]);
        assert!(compressed.len() < ASSETS[0].body.len() / 3, "{}", compressed.len());

        let response = get_path("/graphql/assets/graphiql-3.8.3.min.js", Some("identity")).await;
        assert_eq!(header_of(&response, header::CONTENT_ENCODING), "");
    }

    #[tokio::test]
    async fn unknown_assets_are_not_found() {
        for path in
            ["/graphql/assets/graphiql.min.js", "/graphql/assets/start.js.map", "/graphql/assets/..%2Flib.rs"]
        {
            let response = get_path(path, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
