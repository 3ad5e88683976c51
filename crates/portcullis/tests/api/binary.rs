//! Black-box: the real `portcullis` binary, its CLI and its server, on a
//! random port over a temporary SQLite database.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use portcullis_testkit::basic;
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn command(&self) -> Command {
        self.command_with(&[])
    }

    fn command_with(&self, vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PORTCULLIS_DATABASE_URL", format!("sqlite:{}/portcullis.db", self.dir.path().display()))
            .env("PORTCULLIS_LOG", "info")
            .envs(vars.iter().copied())
            .kill_on_drop(true);
        cmd
    }

    async fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command().args(args).output().await.unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    }

    async fn cli_json(&self, args: &[&str]) -> Value {
        let (ok, stdout, stderr) = self.cli(args).await;
        assert!(ok, "{args:?} failed: {stderr}");
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"))
    }

    async fn serve(&self) -> Server {
        self.serve_with(&[]).await
    }

    async fn serve_with(&self, vars: &[(&str, &str)]) -> Server {
        let mut child = self
            .command_with(vars)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(at) = line.find("listening on http://") {
                        let rest = &line[at + "listening on ".len()..];
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or(rest).to_owned());
                    }
                    log.lock().unwrap().push_str(&line);
                    log.lock().unwrap().push('\n');
                }
            });
        }
        let address = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("server did not start: {}", log.lock().unwrap()))
            .unwrap();
        Server { child, address, log, http: reqwest::Client::new() }
    }
}

struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Server {
    async fn token(&self, id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth2/token", self.address))
            .header("authorization", basic(id, secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
    }

    /// SIGTERM, wait for a clean exit, and return everything it logged.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap();
        Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.log.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn cli_changes_are_honoured_by_a_running_server_on_the_next_request() {
    let env = Env::new();
    let created =
        env.cli_json(&["clients", "create", "--name", "CRM sync", "--role", "viewer", "--json"]).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pcs_"));
    assert_eq!(created["role"], "viewer");

    let server = env.serve().await;
    let response = server.token(&id, &secret).await;
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    assert!(env.cli(&["clients", "disable", &id]).await.0);
    assert_eq!(server.token(&id, &secret).await.status(), 401, "disable is honoured at once");
    assert!(env.cli(&["clients", "enable", &id]).await.0);
    assert_eq!(server.token(&id, &secret).await.status(), 200, "enable restores the same secret");

    let regenerated = env.cli_json(&["clients", "regenerate-secret", &id, "--json"]).await;
    let new_secret = regenerated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(server.token(&id, &secret).await.status(), 401, "old secret refused at once");
    assert_eq!(server.token(&id, &new_secret).await.status(), 200);

    let listed = env.cli_json(&["clients", "list", "--json"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("pcs_"), "list never shows secrets");

    assert!(env.cli(&["clients", "delete", &id]).await.0);
    assert_eq!(server.token(&id, &new_secret).await.status(), 401);

    let log = server.stop().await;
    assert!(log.contains("listening on"), "{log}");
    for needle in [&secret, &new_secret, &token] {
        assert!(!log.contains(needle.as_str()), "a secret or token reached the log");
    }
}

#[tokio::test]
async fn cli_enables_disables_and_deletes_several_clients_at_once() {
    let env = Env::new();
    let mut clients = Vec::new();
    for name in ["a", "b"] {
        let created = env.cli_json(&["clients", "create", "--name", name, "--json"]).await;
        clients.push((
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        ));
    }
    let (a, b) = (&clients[0].0, &clients[1].0);
    let server = env.serve().await;
    assert_eq!(server.token(a, &clients[0].1).await.status(), 200);

    let (ok, stdout, stderr) = env.cli(&["clients", "disable", a, b, a]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout, format!("Disabled client {a} (a)\nDisabled client {b} (b)\n"));
    for (id, secret) in &clients {
        assert_eq!(server.token(id, secret).await.status(), 401, "disable is honoured at once");
    }

    // An unknown id: the others are changed, the command fails naming it.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (ok, stdout, stderr) = env.cli(&["clients", "enable", a, &unknown, b]).await;
    assert!(!ok);
    assert_eq!(stdout, format!("Enabled client {a} (a)\nEnabled client {b} (b)\n"));
    assert!(stderr.contains(&format!("no client with id {unknown}")), "{stderr}");
    assert_eq!(server.token(a, &clients[0].1).await.status(), 200);
    let (ok, stdout, _) = env.cli(&["clients", "enable", b]).await;
    assert!(ok);
    assert_eq!(stdout, format!("Client {b} (b) is enabled already\n"));

    // A malformed id refuses the whole command before anything changes.
    let (ok, _, stderr) = env.cli(&["clients", "delete", a, "not-a-uuid"]).await;
    assert!(!ok);
    assert!(stderr.contains("`not-a-uuid` is not a client id"), "{stderr}");
    assert_eq!(server.token(a, &clients[0].1).await.status(), 200, "not deleted");
    let (ok, _, stderr) = env.cli(&["clients", "delete"]).await;
    assert!(!ok, "at least one id");
    assert!(stderr.contains("<ID>"), "{stderr}");

    let (ok, stdout, _) = env.cli(&["clients", "delete", a, b]).await;
    assert!(ok);
    assert_eq!(stdout, format!("Deleted client {a} (a)\nDeleted client {b} (b)\n"));
    assert_eq!(server.token(b, &clients[1].1).await.status(), 401);
    assert_eq!(env.cli_json(&["clients", "list", "--json"]).await, serde_json::json!([]));
    server.stop().await;
}

#[tokio::test]
async fn human_output_says_the_secret_is_shown_once() {
    let env = Env::new();
    let (ok, stdout, _) = env.cli(&["clients", "create", "--name", "Billing"]).await;
    assert!(ok);
    assert!(stdout.contains("shown only this once"), "{stdout}");
    assert!(stdout.contains("pcs_"));
    let (ok, stdout, _) = env.cli(&["clients", "list"]).await;
    assert!(ok);
    assert!(stdout.contains("Billing") && !stdout.contains("pcs_"), "{stdout}");
}

#[tokio::test]
async fn cli_refuses_bad_input_with_a_clear_message() {
    let env = Env::new();
    let (ok, _, stderr) = env.cli(&["clients", "create", "--name", "x", "--token-ttl", "5"]).await;
    assert!(!ok);
    assert!(stderr.contains("--token-ttl") && stderr.contains("60"), "{stderr}");
    let (ok, _, stderr) = env.cli(&["clients", "create", "--name", "x", "--role", "nosuch"]).await;
    assert!(!ok);
    assert!(stderr.contains("nosuch"), "{stderr}");
    let (ok, _, stderr) = env.cli(&["clients", "disable", "not-a-uuid"]).await;
    assert!(!ok);
    assert!(stderr.contains("not a client id"), "{stderr}");
    let (ok, _, stderr) = env.cli(&["clients", "disable", &uuid::Uuid::new_v4().to_string()]).await;
    assert!(!ok);
    assert!(stderr.contains("no client"), "{stderr}");
    let (ok, _, stderr) = env
        .command()
        .env("PORTCULLIS_DATABASE_URL", "mysql://x")
        .args(["migrate"])
        .output()
        .await
        .map(|o| (o.status.success(), String::new(), String::from_utf8(o.stderr).unwrap()))
        .unwrap();
    assert!(!ok);
    assert!(stderr.contains("PORTCULLIS_DATABASE_URL"), "{stderr}");
}

#[tokio::test]
async fn master_key_file_is_private_and_required_once_data_is_sealed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    assert!(env.cli(&["migrate"]).await.0);
    assert!(env.cli(&["clients", "list"]).await.0);
    let key = env.dir.path().join("master.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::remove_file(&key).unwrap();
    let (ok, _, stderr) = env.cli(&["clients", "list"]).await;
    assert!(!ok, "a missing key must not be silently replaced");
    assert!(stderr.contains("master key"), "{stderr}");
}

#[tokio::test]
async fn sqlite_files_and_their_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let data = env.dir.path().join("data");
    let url = format!("sqlite:{}/nested/portcullis.db", data.display());
    let server = env.serve_with(&[("PORTCULLIS_DATABASE_URL", &url)]).await;
    // While the server runs, the WAL and shared-memory files exist too.
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data.clone()), 0o700, "data/");
    assert_eq!(mode(data.join("nested")), 0o700, "data/nested/");
    for file in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm", "master.key"] {
        assert_eq!(mode(data.join("nested").join(file)), 0o600, "{file}");
    }
    drop(server);
}

fn kid_of(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn cli_key_rotation_is_used_by_a_running_server_and_last_use_is_flushed_at_shutdown() {
    let env = Env::new();
    let created = env.cli_json(&["clients", "create", "--name", "rotating", "--json"]).await;
    let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    assert_eq!(created["last_used_at"], Value::Null);
    let server = env.serve().await;
    let first: Value = server.token(id, secret).await.json().await.unwrap();
    let old_kid = kid_of(first["access_token"].as_str().unwrap());

    let (ok, stdout, stderr) = env.cli(&["keys", "rotate"]).await;
    assert!(ok, "{stderr}");
    let second: Value = server.token(id, secret).await.json().await.unwrap();
    let new_kid = kid_of(second["access_token"].as_str().unwrap());
    assert_ne!(new_kid, old_kid, "the next token uses the new key");
    assert!(stdout.contains(&new_kid), "{stdout}");
    let jwks: Value = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");

    // Graceful shutdown writes the last-used time still in memory.
    server.stop().await;
    let listed = env.cli_json(&["clients", "list", "--json"]).await;
    assert!(listed[0]["last_used_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");
}

#[tokio::test]
async fn cli_key_revocation_withdraws_the_key_from_a_running_server() {
    let env = Env::new();
    let created =
        env.cli_json(&["clients", "create", "--name", "revoking", "--role", "admin", "--json"]).await;
    let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let server = env.serve().await;
    let first: Value = server.token(id, secret).await.json().await.unwrap();
    let token = first["access_token"].as_str().unwrap().to_owned();
    let kid = kid_of(&token);
    let jwks = |server: &Server| {
        let request = server.http.get(format!("{}/.well-known/jwks.json", server.address));
        async move {
            let jwks: Value = request.send().await.unwrap().json().await.unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(jwks(&server).await.contains(&kid));
    let clients = |token: &str| {
        server.http.get(format!("{}/api/v1/clients", server.address)).bearer_auth(token.to_owned()).send()
    };
    assert_eq!(clients(&token).await.unwrap().status(), 200);

    let (ok, _, stderr) = env.cli(&["keys", "revoke", "no-such-kid"]).await;
    assert!(!ok && stderr.contains("no signing key"), "{stderr}");
    let (ok, stdout, stderr) = env.cli(&["keys", "revoke", &kid]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&kid) && stdout.contains("current"), "{stdout}");
    // The running server sees it on its next request.
    assert!(!jwks(&server).await.contains(&kid));
    assert_eq!(clients(&token).await.unwrap().status(), 401);
    let second: Value = server.token(id, secret).await.json().await.unwrap();
    let new_token = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(kid_of(&new_token), kid);
    assert_eq!(clients(&new_token).await.unwrap().status(), 200);
    let log = server.stop().await;
    assert!(!log.contains(secret) && !log.contains(&token));
}

#[tokio::test]
async fn the_first_administrator_comes_from_the_cli_or_the_environment() {
    let env = Env::new();
    let (ok, stdout, stderr) = env.cli(&["users", "create-admin", "--email", "Root@Example.com"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("root@example.com") && stdout.contains("shown only this once"), "{stdout}");
    let password = stdout.lines().find_map(|l| l.trim().strip_prefix("password: ")).unwrap().to_owned();
    let (ok, _, stderr) = env.cli(&["users", "create-admin", "--email", "second@example.com"]).await;
    assert!(!ok && stderr.contains("there are users already"), "{stderr}");

    let server = env.serve().await;
    let signed_in = server
        .http
        .post(format!("{}/api/v1/session", server.address))
        .json(&serde_json::json!({"email": "root@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let log = server.stop().await;
    assert!(!log.contains(&password), "the password never reaches the log");

    // From the environment, on a first start with no users.
    let env = Env::new();
    let mut cmd = env.command();
    cmd.env("PORTCULLIS_ADMIN_EMAIL", "ops@example.com")
        .env("PORTCULLIS_ADMIN_PASSWORD", "tangerine submarine orbit lantern");
    let mut child = cmd.args(["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    while let Ok(Some(line)) = lines.next_line().await {
        assert!(!line.contains("tangerine"), "the password never reaches the log");
        if let Some(at) = line.find("listening on http://") {
            address = line[at + "listening on ".len()..].split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("the server started");
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/session"))
        .json(
            &serde_json::json!({"email": "ops@example.com", "password": "tangerine submarine orbit lantern"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Its audit event names the server itself (written in the background).
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut created = Value::Null;
    for _ in 0..40 {
        created = reqwest::Client::new()
            .get(format!("{address}/api/v1/events?kind=user.created"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if created["items"].as_array().is_some_and(|items| !items.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(created["items"][0]["actor"], "system", "{created}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_host_prefixed_and_secure() {
    let env = Env::new();
    let mut cmd = env.command();
    cmd.env("PORTCULLIS_ISSUER", "https://auth.example.com")
        .env("PORTCULLIS_ADMIN_EMAIL", "ops@example.com")
        .env("PORTCULLIS_ADMIN_PASSWORD", "tangerine submarine orbit lantern");
    let mut child = cmd.args(["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(at) = line.find("listening on http://") {
            address = line[at + "listening on ".len()..].split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("the server started");
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/session"))
        .json(
            &serde_json::json!({"email": "ops@example.com", "password": "tangerine submarine orbit lantern"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-portcullis_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "__Host- cookies have no Domain");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn session_timeouts_are_settings_and_an_ended_session_says_so() {
    let env = Env::new();
    let password = "tangerine submarine orbit lantern";
    let server = env
        .serve_with(&[
            ("PORTCULLIS_ADMIN_EMAIL", "ops@example.com"),
            ("PORTCULLIS_ADMIN_PASSWORD", password),
            ("PORTCULLIS_SESSION_IDLE_TIMEOUT", "1s"),
            ("PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT", "1h30m"),
        ])
        .await;
    let response = server
        .http
        .post(format!("{}/api/v1/session", server.address))
        .json(&serde_json::json!({"email": "ops@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("; Max-Age=5400"), "the cookie lasts the absolute timeout: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let me = || server.http.get(format!("{}/api/v1/me", server.address)).header("cookie", &cookie).send();
    assert_eq!(me().await.unwrap().status(), 200);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = me().await.unwrap();
    assert_eq!(response.status(), 401, "idle for longer than 1 s");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], "the session has ended: sign in again", "{problem}");
    // Without a cookie, the usual answer.
    let response = server.http.get(format!("{}/api/v1/me", server.address)).send().await.unwrap();
    let problem: Value = response.json().await.unwrap();
    assert_ne!(problem["detail"], "the session has ended: sign in again", "{problem}");
    server.stop().await;

    for (setting, value) in [
        ("PORTCULLIS_SESSION_IDLE_TIMEOUT", "0s"),
        ("PORTCULLIS_SESSION_IDLE_TIMEOUT", "soon"),
        ("PORTCULLIS_SESSION_ABSOLUTE_TIMEOUT", "500d"),
    ] {
        let out = env
            .command_with(&[(setting, value)])
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{setting}={value} must stop the start");
        assert!(stderr.contains(setting), "the error names {setting}: {stderr}");
    }
}

#[tokio::test]
async fn create_admin_reads_a_password_from_stdin_and_checks_it() {
    use tokio::io::AsyncWriteExt;
    let env = Env::new();
    let run = |password: &'static str| {
        let mut cmd = env.command();
        cmd.args(["users", "create-admin", "--email", "root@example.com", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        async move {
            let mut child = cmd.spawn().unwrap();
            child.stdin.take().unwrap().write_all(password.as_bytes()).await.unwrap();
            let out = child.wait_with_output().await.unwrap();
            (
                out.status.success(),
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        }
    };
    let (ok, _, stderr) = run("password1234\n").await;
    assert!(!ok && stderr.contains("too common"), "{stderr}");
    assert!(!stderr.contains("password1234"), "the password is never echoed");
    let (ok, stdout, stderr) = run("tangerine submarine orbit lantern\n").await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("root@example.com") && !stdout.contains("password:"), "{stdout}");
}

#[tokio::test]
async fn requests_are_recorded_unless_turned_off() {
    // None: the default.
    for (setting, expected) in [(None, 2), (Some("off"), 0), (Some("on"), 2)] {
        let env = Env::new();
        let created =
            env.cli_json(&["clients", "create", "--name", "watcher", "--role", "admin", "--json"]).await;
        let (id, secret) =
            (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
        let server = match setting {
            Some(setting) => env.serve_with(&[("PORTCULLIS_EVENTS", setting)]).await,
            None => env.serve_with(&[]).await,
        };
        let token: Value = server.token(id, secret).await.json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let events_of = || async {
            server
                .http
                .get(format!("{}/api/v1/clients/{id}/events", server.address))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        events_of().await;
        // Written within 200 ms; allow more on a busy machine.
        let mut found = 0;
        let tries = if expected == 0 { 3 } else { 20 };
        for _ in 0..tries {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // Request events only: changes (the CLI's `client.created`) are always recorded.
            found = events_of().await["items"]
                .as_array()
                .map_or(0, |items| items.iter().filter(|e| e["method"].is_string()).count());
            if found >= expected && expected > 0 {
                break;
            }
        }
        let log = server.stop().await;
        assert!(found >= expected && (expected > 0 || found == 0), "events {setting:?}: found {found}");
        assert!(!log.contains(secret) && !log.contains(&token));
    }
}

impl Server {
    async fn get(&self, token: &str, path: &str) -> Value {
        let response =
            self.http.get(format!("{}{path}", self.address)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// Every event listed at `path`, each as `GET /api/v1/events/{id}` shows
    /// it, once `ready` holds for the list (the server writes events in the
    /// background, every 200 ms).
    async fn events_when(&self, token: &str, path: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut items = Vec::new();
        for _ in 0..40 {
            items = self.get(token, path).await["items"].as_array().unwrap().clone();
            if ready(&items) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(ready(&items), "{path}: {items:?}");
        let mut detailed = Vec::new();
        for item in &items {
            detailed.push(
                self.get(token, &format!("/api/v1/events/{}", item["event_id"].as_str().unwrap())).await,
            );
        }
        detailed
    }
}

#[tokio::test]
async fn cli_changes_are_audited_as_cli_and_kept_with_request_events_off() {
    let env = Env::new();
    let admin = env.cli_json(&["clients", "create", "--name", "auditor", "--role", "admin", "--json"]).await;
    let (admin_id, admin_secret) =
        (admin["client_id"].as_str().unwrap(), admin["client_secret"].as_str().unwrap());
    let target = env.cli_json(&["clients", "create", "--name", "CRM sync", "--json"]).await;
    let (id, first_secret) =
        (target["client_id"].as_str().unwrap(), target["client_secret"].as_str().unwrap());
    assert!(env.cli(&["clients", "disable", id]).await.0);
    assert!(env.cli(&["clients", "disable", id]).await.0, "already disabled: no change");
    assert!(env.cli(&["clients", "enable", id]).await.0);
    let regenerated = env.cli_json(&["clients", "regenerate-secret", id, "--json"]).await;
    let second_secret = regenerated["client_secret"].as_str().unwrap();
    let (ok, stdout, _) = env.cli(&["users", "create-admin", "--email", "root@example.com"]).await;
    assert!(ok);
    let password = stdout.lines().find_map(|l| l.trim().strip_prefix("password: ")).unwrap().to_owned();
    assert!(env.cli(&["keys", "rotate"]).await.0);
    assert!(env.cli(&["clients", "delete", id]).await.0);
    assert!(!env.cli(&["clients", "delete", id]).await.0, "a failed command records nothing");

    // Request events off: change events are recorded all the same.
    let server = env.serve_with(&[("PORTCULLIS_EVENTS", "off")]).await;
    let token: Value = server.token(admin_id, admin_secret).await.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let events = server.events_when(&token, "/api/v1/events?limit=200", |items| items.len() >= 8).await;
    let kinds: Vec<&str> = events.iter().rev().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "client.created",
            "client.created",
            "client.disabled",
            "client.enabled",
            "client.secret_regenerated",
            "user.created",
            "key.rotated",
            "client.deleted"
        ],
        "only change events: requests are not recorded"
    );
    assert!(events.iter().all(|e| e["actor"] == "cli"), "{events:?}");
    for e in events.iter().filter(|e| e["kind"] != "user.created" && e["kind"] != "key.rotated") {
        let expected = if e["details"]["name"] == "auditor" { admin_id } else { id };
        assert_eq!(e["client_id"], expected, "{e}");
    }
    let user = events.iter().find(|e| e["kind"] == "user.created").unwrap();
    assert_eq!(
        user["details"],
        serde_json::json!({"email": "root@example.com", "name": "root", "roles": ["admin"]})
    );
    assert!(user["user_id"].is_string());
    let key = events.iter().find(|e| e["kind"] == "key.rotated").unwrap();
    assert!(key["details"]["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");

    // A change over the API, requests still off.
    let renamed = server
        .http
        .patch(format!("{}/api/v1/clients/{admin_id}", server.address))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "auditor 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let updated =
        server.events_when(&token, "/api/v1/events?kind=client.updated", |items| items.len() == 1).await;
    assert_eq!(updated[0]["actor"], format!("client:{admin_id}"));
    assert_eq!(updated[0]["details"], serde_json::json!({"name": {"from": "auditor", "to": "auditor 2"}}));

    let stored = format!("{events:?}{updated:?}");
    for secret in [admin_secret, first_secret, second_secret, &password, &token] {
        assert!(!stored.contains(secret), "a secret, token or password reached the events");
    }
    let log = server.stop().await;
    assert!(!log.contains(&password) && !log.contains(second_secret));
    // Nor anywhere in the database files, events included.
    for file in std::fs::read_dir(env.dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        for secret in [admin_secret, first_secret, second_secret, &password, &token] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret is stored");
        }
    }
}
