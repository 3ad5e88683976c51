//! Test helpers: a real Portcullis on `127.0.0.1:0` over a fresh database
//! (SQLite or PostgreSQL), and a few requests every test needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_domain::{ClientName, ClientSecret, Email, RoleName, TokenTtl, UserName};
use portcullis_service::{
    Actor, Caller, ClientView, MasterKey, NewClient, NewUser, Service, ServiceConfig, UserView,
};
use portcullis_store::{Stores, counting::Counting};
use portcullis_store_postgres::PgStore;
use portcullis_store_sqlite::SqliteStore;
use portcullis_web::{AppState, Application};
use tokio::{net::TcpListener, sync::oneshot};

/// The password of the users [`TestApp::create_user`] makes.
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps a test's database alive for as long as the test runs.
pub enum DatabaseGuard {
    Sqlite(tempfile::TempDir),
    Postgres(portcullis_store_postgres::testing::TestDatabase),
}

/// A fresh, migrated database of the given kind.
pub async fn fresh_stores(backend: Backend) -> (Stores, String, DatabaseGuard) {
    match backend {
        Backend::Sqlite => {
            let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
            let store = SqliteStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            (store.stores(), url, DatabaseGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            let (url, guard) = portcullis_store_postgres::testing::fresh_database().await;
            let store = PgStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            (store.stores(), url, DatabaseGuard::Postgres(guard))
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub address: String,
    pub service: Service,
    pub http: reqwest::Client,
    pub database_url: String,
    pub master_key: MasterKey,
    pub backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    _database: DatabaseGuard,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Backend::Sqlite).await
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    let (stores, database_url, guard) = fresh_stores(backend).await;
    serve(backend, stores, database_url, guard).await
}

/// [`spawn_app_on`], with the client, role, user and event stores behind a
/// [`Counting`] decorator: the test reads how many store calls its requests
/// made (start-up's are counted too: [`Counting::reset`] first).
pub async fn spawn_counting_app_on(backend: Backend) -> (TestApp, Arc<Counting>) {
    let (stores, database_url, guard) = fresh_stores(backend).await;
    let (stores, counting) = Counting::wrap(stores);
    (serve(backend, stores, database_url, guard).await, counting)
}

async fn serve(backend: Backend, stores: Stores, database_url: String, guard: DatabaseGuard) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let master_key = MasterKey::generate();
    let config = ServiceConfig::new(address.clone(), address.clone());
    let service = Service::start(stores, config, &master_key).await.unwrap();
    // No limit on failed authentications: tests of bad input fail on
    // purpose, many times a second (the limits have their own tests).
    let unlimited = portcullis_web::throttle::FailureLimits { per_ip: 0, per_account: 0 };
    let state = AppState {
        throttle: std::sync::Arc::new(portcullis_web::throttle::Throttle::new(unlimited)),
        ..AppState::new(service.clone())
    };
    let app = Application::new(listener, state);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        service,
        http: reqwest::Client::new(),
        database_url,
        master_key,
        backend,
        stop: Some(stop),
        _database: guard,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| -> String { form_urlencode(s) };
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

pub fn form_urlencode(s: &str) -> String {
    // A tiny encoder so tests do not depend on the server's decoder.
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a client through the service layer.
    pub async fn create_client(&self, role: Option<&str>) -> (ClientView, ClientSecret) {
        self.create_client_with(role, TokenTtl::DEFAULT).await
    }

    pub async fn create_client_with(&self, role: Option<&str>, ttl: TokenTtl) -> (ClientView, ClientSecret) {
        self.service
            .create_client(
                &Caller::system(),
                NewClient {
                    name: ClientName::parse("test client").unwrap(),
                    description: None,
                    role: role.map(|r| RoleName::parse(r).unwrap()),
                    token_ttl: ttl,
                },
            )
            .await
            .unwrap()
    }

    /// A fresh client with `role`: its id, its secret and an access token,
    /// narrowed to `scope` if given.
    pub async fn client_with_token(
        &self,
        role: Option<&str>,
        scope: Option<&str>,
    ) -> (String, String, String) {
        let (view, secret) = self.create_client(role).await;
        let id = view.client.id.to_string();
        let body: serde_json::Value =
            self.token_basic(&id, secret.expose(), scope).await.json().await.unwrap();
        (id, secret.expose().to_owned(), body["access_token"].as_str().unwrap().to_owned())
    }

    /// A bearer token of a fresh client with `role`, narrowed to `scope` if given.
    pub async fn bearer(&self, role: &str, scope: Option<&str>) -> String {
        self.client_with_token(Some(role), scope).await.2
    }

    /// Creates a console user with `roles` and the password [`PASSWORD`].
    pub async fn create_user(&self, email: &str, roles: &[&str]) -> UserView {
        let new = NewUser {
            email: Email::parse(email).unwrap(),
            name: UserName::parse("Test User").unwrap(),
            roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
            password: Some(PASSWORD.into()),
        };
        self.service.create_user(&Caller::system(), new).await.unwrap().0
    }

    /// A console user with `roles` and its personal access token: the
    /// token and the user's id.
    pub async fn user_token(&self, email: &str, roles: &[&str]) -> (String, String) {
        let user = self.create_user(email, roles).await;
        let (_, token) = self.service.rotate_personal_token(&Actor::System, user.user.id).await.unwrap();
        (token.expose().to_owned(), user.user.id.to_string())
    }

    /// `POST /oauth2/token` with Basic authentication.
    pub async fn token_basic(&self, id: &str, secret: &str, scope: Option<&str>) -> reqwest::Response {
        let mut body = "grant_type=client_credentials".to_owned();
        if let Some(scope) = scope {
            body.push_str("&scope=");
            body.push_str(&form_urlencode(scope));
        }
        self.post_token(&body, Some(&basic(id, secret))).await
    }

    /// `POST /oauth2/token` with a raw form body and an optional `Authorization` value.
    pub async fn post_token(&self, body: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(auth) = authorization {
            req = req.header("authorization", auth);
        }
        req.send().await.unwrap()
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        self.http.get(self.url(path)).send().await.unwrap().json().await.unwrap()
    }
}
