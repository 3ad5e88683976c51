//! `GET /metrics` as an operator's Prometheus reads it (docs/metrics.md):
//! each family moves when what it counts happens, labels are route
//! templates and bounded values, never a path, a name, an e-mail or a
//! credential.

use std::collections::BTreeMap;

use portcullis_domain::{ClientName, ClientStatus, TokenTtl};
use portcullis_service::{Caller, NewClient};
use portcullis_testkit::{Backend, PASSWORD, TestApp, basic, spawn_app_on};
use serde_json::json;

on_both_backends!(
    a_token_counts_for_its_client,
    failed_authentications_are_counted_by_reason,
    requests_are_counted_by_route_template_never_by_path,
    latency_histograms_add_up,
    caches_count_hits_and_misses,
    the_pool_and_the_limits_are_reported,
    nothing_secret_or_personal_is_exported,
);

/// One sample of the scrape: its labels, in order of name.
type Labels = BTreeMap<String, String>;

struct Scrape {
    text: String,
    samples: Vec<(String, Labels, f64)>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include `labels`; there
    /// must be exactly one.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self.matching(name, labels).map(|(_, v)| v).collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?} in\n{}", self.text);
        found[0]
    }

    /// Like [`Scrape::value`], 0 when there is no such sample yet.
    fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, v)| v).next().unwrap_or(0.0)
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = (&'a Labels, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |(n, l, _)| {
                n == name && labels.iter().all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, l, v)| (l, *v))
    }
}

/// `GET /metrics`, unauthenticated, parsed (label values here hold no
/// quote or backslash, which the parser does not unescape).
async fn scrape(app: &TestApp) -> Scrape {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').unwrap();
                    let labels = rest
                        .split("\",")
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").unwrap();
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), Labels::new()),
            };
            let value = if value == "+Inf" { f64::INFINITY } else { value.parse().unwrap() };
            (name, labels, value)
        })
        .collect();
    Scrape { text, samples }
}

const FAILURES: &str = "portcullis_auth_failures_total";

fn failures(s: &Scrape, reason: &str) -> f64 {
    s.value(FAILURES, &[("reason", reason)])
}

async fn post_form(app: &TestApp, path: &str, body: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    req.send().await.unwrap()
}

async fn get_with(app: &TestApp, path: &str, authorization: &str) -> reqwest::Response {
    app.http.get(app.url(path)).header("authorization", authorization).send().await.unwrap()
}

async fn a_token_counts_for_its_client(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    let (other, _) = app.create_client(None).await;
    let issued =
        |s: &Scrape, id: &str| s.value_or_zero("portcullis_tokens_issued_total", &[("client_id", id)]);
    let before = scrape(&app).await;
    assert_eq!(issued(&before, &id), 0.0);
    assert!(before.value("portcullis_tokens_issued_total", &[("client_id", "other")]) >= 0.0);
    for _ in 0..2 {
        assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
    }
    // The admin API's "Generate access token" counts too.
    let admin = app.bearer("admin", None).await;
    let made = app
        .http
        .post(app.url(&format!("/api/v1/clients/{id}/token")))
        .header("authorization", format!("Bearer {admin}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200, "{}", made.text().await.unwrap());
    // A refused request issues nothing.
    assert_eq!(app.token_basic(&id, secret.expose(), Some("clients:write")).await.status(), 400);

    let after = scrape(&app).await;
    assert_eq!(issued(&after, &id), 3.0);
    assert_eq!(issued(&after, &other.client.id.to_string()), 0.0, "a client without tokens");
    assert_eq!(
        after.value("portcullis_tokens_issued_total", &[("client_id", "other")]),
        before.value("portcullis_tokens_issued_total", &[("client_id", "other")]),
        "past the bound only"
    );
}

async fn failed_authentications_are_counted_by_reason(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let id = view.client.id.to_string();
    let (disabled, disabled_secret) = app.create_client(None).await;
    app.service
        .set_client_status(&Caller::system(), disabled.client.id, ClientStatus::Disabled)
        .await
        .unwrap();
    app.create_user("ada@example.com", &["viewer"]).await;
    let before = scrape(&app).await;

    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.token_basic(&id, "pcs_not-a-secret", None).await.status(), 401); // malformed
    assert_eq!(app.token_basic("not-a-uuid", secret.expose(), None).await.status(), 401); // malformed
    assert_eq!(
        post_form(&app, "/oauth2/token", "grant_type=client_credentials", Some("Basic !!!")).await.status(),
        400
    ); // malformed
    let wrong = portcullis_domain::ClientSecret::generate();
    assert_eq!(app.token_basic(&id, wrong.expose(), None).await.status(), 401);
    assert_eq!(app.token_basic(&unknown, secret.expose(), None).await.status(), 401);
    let r = post_form(&app, "/oauth2/introspect", "token=x", Some(&basic(&unknown, secret.expose()))).await;
    assert_eq!(r.status(), 401);
    let disabled_id = disabled.client.id.to_string();
    assert_eq!(app.token_basic(&disabled_id, disabled_secret.expose(), None).await.status(), 401);
    // Bearer tokens at the admin API.
    let (_, _, token) = app.client_with_token(Some("viewer"), None).await;
    assert_eq!(get_with(&app, "/api/v1/clients", "Bearer not.a.jwt").await.status(), 401);
    assert_eq!(get_with(&app, "/api/v1/clients", "Basic abc").await.status(), 401); // malformed
    let pat = format!("pat_{}", "0".repeat(43));
    assert_eq!(get_with(&app, "/api/v1/clients", &format!("Bearer {pat}_000000")).await.status(), 401);
    let (revoked_client, _, revoked) = app.client_with_token(Some("viewer"), None).await;
    app.service.revoke_client_tokens(&Caller::system(), revoked_client.parse().unwrap()).await.unwrap();
    assert_eq!(get_with(&app, "/api/v1/clients", &format!("Bearer {revoked}")).await.status(), 401);
    assert_eq!(get_with(&app, "/api/v1/clients", &format!("Bearer {token}")).await.status(), 200);
    // Console sign-ins and sessions.
    let sign_in = |email: &str, password: &str| {
        app.http.post(app.url("/api/v1/session")).json(&json!({"email": email, "password": password})).send()
    };
    assert_eq!(sign_in("ada@example.com", "not the password at all").await.unwrap().status(), 401);
    assert_eq!(sign_in("nobody@example.com", PASSWORD).await.unwrap().status(), 401);
    assert_eq!(sign_in("ada@example.com", PASSWORD).await.unwrap().status(), 200);
    let r =
        app.http.get(app.url("/api/v1/me")).header("cookie", "portcullis_session=gone").send().await.unwrap();
    assert_eq!(r.status(), 401);

    let after = scrape(&app).await;
    let moved = |reason: &str| failures(&after, reason) - failures(&before, reason);
    assert_eq!(moved("malformed_credentials"), 4.0);
    assert_eq!(moved("wrong_secret"), 1.0);
    assert_eq!(moved("unknown_client"), 2.0);
    assert_eq!(moved("disabled_client"), 1.0);
    assert_eq!(moved("invalid_token"), 1.0);
    assert_eq!(moved("invalid_personal_token"), 1.0);
    assert_eq!(moved("revoked_token"), 1.0);
    assert_eq!(moved("failed_sign_in"), 2.0, "unknown e-mail and wrong password alike");
    assert_eq!(moved("ended_session"), 1.0);
    assert_eq!(moved("expired_token") + moved("inactive_client_token"), 0.0);
}

async fn requests_are_counted_by_route_template_never_by_path(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = format!("Bearer {}", app.bearer("admin", None).await);
    let (view, _) = app.create_client(None).await;
    let id = view.client.id.to_string();
    let requests = |s: &Scrape, route: &str, method: &str, status: &str| {
        s.value_or_zero(
            "portcullis_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    let before = scrape(&app).await;
    let nowhere = format!("/nowhere/{}", uuid::Uuid::new_v4());
    for _ in 0..2 {
        assert_eq!(app.http.get(app.url(&nowhere)).send().await.unwrap().status(), 404);
    }
    assert_eq!(get_with(&app, &format!("/api/v1/clients/{id}"), &admin).await.status(), 200);
    let missing = uuid::Uuid::new_v4();
    assert_eq!(get_with(&app, &format!("/api/v1/clients/{missing}"), &admin).await.status(), 404);
    assert_eq!(app.http.get(app.url("/oauth2/token")).send().await.unwrap().status(), 405);

    let after = scrape(&app).await;
    assert_eq!(
        requests(&after, "unmatched", "GET", "404") - requests(&before, "unmatched", "GET", "404"),
        2.0
    );
    let route = "/api/v1/clients/{client_id}";
    assert_eq!(requests(&after, route, "GET", "200"), 1.0);
    assert_eq!(requests(&after, route, "GET", "404"), 1.0);
    assert_eq!(requests(&after, "/oauth2/token", "GET", "405"), 1.0);
    assert!(requests(&after, "/oauth2/token", "POST", "200") >= 1.0, "the admin's own token");
    assert!(requests(&after, "/metrics", "GET", "200") >= 1.0, "the scrape before");
    for path in [nowhere.as_str(), &id, &missing.to_string()] {
        assert!(!after.text.contains(path), "{path} is in the scrape");
    }
    let routes: std::collections::BTreeSet<&str> = after
        .matching("portcullis_http_requests_total", &[])
        .map(|(labels, _)| labels["route"].as_str())
        .collect();
    assert!(routes.iter().all(|r| *r == "unmatched" || r.starts_with('/')), "{routes:?}");
}

async fn latency_histograms_add_up(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(None).await;
    let id = view.client.id.to_string();
    for _ in 0..5 {
        assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
    }
    let s = scrape(&app).await;
    let labels = [("route", "/oauth2/token"), ("method", "POST")];
    let name = "portcullis_http_request_duration_seconds";
    let mut buckets: Vec<(f64, f64)> = s
        .matching(&format!("{name}_bucket"), &labels)
        .map(|(l, v)| (if l["le"] == "+Inf" { f64::INFINITY } else { l["le"].parse().unwrap() }, v))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.first().unwrap().0, 0.0005);
    assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative: {buckets:?}");
    let count = s.value(&format!("{name}_count"), &labels);
    assert_eq!(count, buckets.last().unwrap().1, "_count is the +Inf bucket");
    assert_eq!(
        count,
        s.value(
            "portcullis_http_requests_total",
            &[("route", "/oauth2/token"), ("method", "POST"), ("status", "200")]
        )
    );
    assert!(count >= 5.0);
    let sum = s.value(&format!("{name}_sum"), &labels);
    // In seconds: a sum in nanoseconds or microseconds would be thousands
    // of times larger.
    assert!(sum > 0.0 && sum < count * 60.0, "{sum}");
}

async fn caches_count_hits_and_misses(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    let lookups = |s: &Scrape, cache: &str, result: &str| {
        s.value("portcullis_cache_lookups_total", &[("cache", cache), ("result", result)])
    };
    let moved = |before: &Scrape, after: &Scrape, cache: &str, result: &str| {
        lookups(after, cache, result) - lookups(before, cache, result)
    };
    // The first token after the client was made reads the database; later
    // ones are answered from memory. (On PostgreSQL the change's NOTIFY,
    // arriving after the write, empties the caches once more: so repeat
    // until a hit, as a client would.)
    let before = scrape(&app).await;
    let mut tokens = 0.0;
    let mut after = loop {
        assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
        tokens += 1.0;
        let after = scrape(&app).await;
        let hit = ["clients", "roles"].iter().all(|c| moved(&before, &after, c, "hit") >= 1.0);
        if hit || tokens >= 50.0 {
            break after;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for cache in ["clients", "roles"] {
        let (hits, misses) = (moved(&before, &after, cache, "hit"), moved(&before, &after, cache, "miss"));
        assert!(misses >= 1.0 && hits >= 1.0, "{cache}: {hits} hits, {misses} misses");
        assert_eq!(hits + misses, tokens, "{cache}: one lookup per token");
    }
    // Introspection reads the revoked tokens; a page of clients the role book.
    let (_, _, admin) = app.client_with_token(Some("admin"), None).await;
    let (_, _, token) = app.client_with_token(None, None).await;
    let before = scrape(&app).await;
    for _ in 0..50 {
        let r = app
            .http
            .post(app.url("/oauth2/introspect"))
            .header("authorization", format!("Bearer {admin}"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = get_with(&app, "/api/v1/clients", &format!("Bearer {admin}")).await;
        assert_eq!(r.status(), 200);
        after = scrape(&app).await;
        if ["revoked_tokens", "role_book"].iter().all(|c| moved(&before, &after, c, "hit") >= 1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for cache in ["revoked_tokens", "role_book"] {
        let (hits, misses) = (moved(&before, &after, cache, "hit"), moved(&before, &after, cache, "miss"));
        assert!(hits >= 1.0 && misses >= 1.0, "{cache}: {hits} hits, {misses} misses");
    }
}

async fn the_pool_and_the_limits_are_reported(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let pool = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let admin = format!("Bearer {}", app.bearer("admin", None).await);
    app.create_user("ada@example.com", &["viewer"]).await;
    let acquired = |s: &Scrape| s.value("portcullis_db_acquire_duration_seconds_count", &[("pool", pool)]);
    let before = scrape(&app).await;
    assert_eq!(get_with(&app, "/api/v1/clients", &admin).await.status(), 200);
    let signed_in = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let after = scrape(&app).await;
    assert!(acquired(&after) > acquired(&before), "listing clients reads the database");
    let max = after.value("portcullis_db_connections_max", &[("pool", pool)]);
    let in_use = after.value("portcullis_db_connections", &[("pool", pool), ("state", "in_use")]);
    let idle = after.value("portcullis_db_connections", &[("pool", pool), ("state", "idle")]);
    assert!(max >= 1.0 && in_use + idle <= max, "{in_use} + {idle} of {max}");
    assert_eq!(after.value("portcullis_db_acquire_failures_total", &[("pool", pool)]), 0.0);
    let work = |s: &Scrape, decision: &str| {
        s.value(
            "portcullis_rate_limit_decisions_total",
            &[("limit", "password_work"), ("decision", decision)],
        )
    };
    assert_eq!(work(&after, "allowed") - work(&before, "allowed"), 1.0, "one sign-in, one hash");
    assert_eq!(work(&after, "refused"), 0.0);
    // The test app has no limit on failures and no token quota: they decide nothing.
    assert_eq!(
        after.matching("portcullis_rate_limit_decisions_total", &[("limit", "token_quota")]).count(),
        0
    );
    assert!(after.value("portcullis_connections_open", &[]) >= 1.0, "this scrape's own");
    assert_eq!(after.value("portcullis_connections_max", &[]), 512.0);
    assert!(after.value("portcullis_connections_accepted_total", &[]) >= 1.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(after.value("portcullis_build_info", &[("version", version)]), 1.0);
    if cfg!(target_os = "linux") {
        assert!(after.value("process_resident_memory_bytes", &[]) > 0.0);
        assert!(after.value("process_start_time_seconds", &[]) > 1.6e9);
    }
}

async fn nothing_secret_or_personal_is_exported(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app
        .service
        .create_client(
            &Caller::system(),
            NewClient {
                name: ClientName::parse("Canary Integration Name").unwrap(),
                description: None,
                role: None,
                token_ttl: TokenTtl::DEFAULT,
            },
        )
        .await
        .unwrap();
    let id = view.client.id.to_string();
    let token: serde_json::Value = app.token_basic(&id, secret.expose(), None).await.json().await.unwrap();
    let user = app.create_user("canary.person@example.com", &["viewer"]).await;
    let (_, pat) =
        app.service.rotate_personal_token(&portcullis_service::Actor::System, user.user.id).await.unwrap();
    assert_eq!(get_with(&app, "/api/v1/me", &format!("Bearer {}", pat.expose())).await.status(), 200);
    let sign_in = json!({"email": "canary.person@example.com", "password": "a wrong canary password"});
    assert_eq!(app.http.post(app.url("/api/v1/session")).json(&sign_in).send().await.unwrap().status(), 401);
    let text = scrape(&app).await.text;
    for kept_out in [
        secret.expose(),
        token["access_token"].as_str().unwrap(),
        pat.expose(),
        "Canary Integration Name",
        "canary.person",
        "a wrong canary password",
        &user.user.id.to_string(),
    ] {
        assert!(!text.contains(kept_out), "{kept_out} is in the scrape");
    }
    assert!(text.contains(&format!("client_id=\"{id}\"")), "client ids are labels, not secrets");
}
