"""Black-box harness: runs the real `portcullis` binary on a random port.

Environment:
  PORTCULLIS_BIN            the binary (default: target/debug/portcullis under the repo root)
  PORTCULLIS_TEST_DATABASE  `sqlite` (default) or a PostgreSQL admin URL; with a URL the
                            suite runs against PostgreSQL only
  PORTCULLIS_TEST_PG_URL    a PostgreSQL admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres;
                            when set, every test runs on SQLite *and* on PostgreSQL

Each test gets a fresh database (a temp SQLite file, or a throw-away PostgreSQL database
`portcullis_bb_<random>` created and dropped with psql) and a temp master key file. Everything
the server and the CLI write to stderr/stdout goes to a log file; at teardown the server is
stopped with SIGTERM and the logs are searched for every client secret and access token the
test saw (see `Portcullis.remember`): none may appear.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets as pysecrets
import signal
import subprocess
import time
import warnings
import zlib
from pathlib import Path

import jwt
import pytest
import requests
import urllib3

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("PORTCULLIS_BIN", "target/debug/portcullis"))
if not BIN.is_absolute():
    BIN = REPO_ROOT / BIN

LISTENING = re.compile(r"listening on (https?)://(127\.0\.0\.1|\[::\]):(\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
START_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0

ADMIN_SCOPES = {
    "clients:read",
    "clients:write",
    "clients:secrets",
    "roles:read",
    "roles:write",
    "users:read",
    "users:write",
    "events:read",
    "tokens:issue",
    "tokens:introspect",
    "keys:write",
}
VIEWER_SCOPES = {"clients:read", "roles:read", "users:read", "events:read"}
RESOURCE_SERVER_SCOPES = {"tokens:introspect"}

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_RE = re.compile(r"^pcs_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$")


def pytest_configure(config):
    if not BIN.is_file():
        raise pytest.UsageError(f"{BIN} does not exist: run `cargo build -p portcullis` or set PORTCULLIS_BIN")


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(width, "0")


def secret_checksum(prefix_and_body: str) -> str:
    """The 6-digit base62 CRC-32 that ends a `pcs_` secret."""
    return _base62(zlib.crc32(prefix_and_body.encode()), 6)


def well_formed_secret() -> str:
    """A secret with the right shape and checksum that no client has."""
    head = "pcs_" + _base62(int.from_bytes(pysecrets.token_bytes(32), "big"), 43)
    return f"{head}_{secret_checksum(head)}"


def _pg_admin_url() -> str | None:
    db = os.environ.get("PORTCULLIS_TEST_DATABASE", "sqlite")
    if db.startswith(("postgres://", "postgresql://")):
        return db
    return os.environ.get("PORTCULLIS_TEST_PG_URL") or None


def _backends() -> list[str]:
    db = os.environ.get("PORTCULLIS_TEST_DATABASE", "sqlite")
    if db.startswith(("postgres://", "postgresql://")):
        return ["postgres"]
    if db != "sqlite":
        raise pytest.UsageError(f"PORTCULLIS_TEST_DATABASE must be `sqlite` or a postgres:// URL, not {db!r}")
    return ["sqlite", "postgres"] if _pg_admin_url() else ["sqlite"]


def _with_database(url: str, name: str) -> str:
    """`url` with its path replaced by `/name` (query kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, timeout=60)


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path, scheme: str = "http"):
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.scheme = scheme
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        self.token_url = f"{self.base_url}/oauth2/token"

    def url(self, path: str) -> str:
        return self.base_url + path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"server did not stop within {timeout}s of signal {sig}")
        return self.proc.returncode

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


class Portcullis:
    """One deployment: a database, a master key, servers started on it and the CLI."""

    def __init__(self, backend: str, workdir: Path, database_url: str):
        self.backend = backend
        self.workdir = workdir
        self.database_url = database_url
        self.master_key_file = workdir / "master.key"
        self.logs: list[Path] = []
        self.servers: list[Server] = []
        self.seen: set[str] = set()
        self.env = {
            **os.environ,
            "PORTCULLIS_DATABASE_URL": database_url,
            "PORTCULLIS_MASTER_KEY_FILE": str(self.master_key_file),
            "PORTCULLIS_LOG": os.environ.get("PORTCULLIS_TEST_LOG", "debug"),
            "NO_COLOR": "1",
            # No limit on failed authentications: tests of bad input fail on
            # purpose, many times a second; test_throttle.py sets its own.
            "PORTCULLIS_AUTH_FAILURES_PER_IP": "0",
            "PORTCULLIS_AUTH_FAILURES_PER_ACCOUNT": "0",
        }
        for var in ("PORTCULLIS_MASTER_KEY", "PORTCULLIS_LISTEN", "PORTCULLIS_ISSUER", "PORTCULLIS_AUDIENCE"):
            self.env.pop(var, None)

    # --- what must never be logged -------------------------------------------------------
    def remember(self, *values: str | None) -> None:
        """Registers secrets/tokens that must never show up in a log."""
        for v in values:
            if not v:
                continue
            self.seen.add(v)
            if SECRET_RE.match(v):
                self.seen.add(v[4:47])  # the random body alone
            if v.count(".") == 2 and len(v) > 40:
                self.seen.add(v.rsplit(".", 1)[1])  # a JWT's signature alone

    def remember_client(self, client_id: str, secret: str) -> None:
        self.remember(secret)
        self.seen.add(base64.b64encode(f"{client_id}:{secret}".encode()).decode())

    def log_text(self) -> str:
        return "".join(ANSI.sub("", p.read_text(errors="replace")) for p in self.logs if p.exists())

    def assert_nothing_leaked(self) -> None:
        text = self.log_text()
        leaked = sorted(v for v in self.seen if v in text)
        assert not leaked, f"{len(leaked)} secret(s)/token(s) appear in the logs ({', '.join(str(p) for p in self.logs)})"

    # --- the server -----------------------------------------------------------------------
    def start(self, *args: str) -> Server:
        log_path = self.workdir / f"server-{len(self.servers) + 1}.log"
        self.logs.append(log_path)
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [str(BIN), "serve", *([] if "--listen" in args else ["--listen", "127.0.0.1:0"]), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        port = None
        while port is None:
            m = LISTENING.search(ANSI.sub("", log_path.read_text(errors="replace")))
            if m:
                scheme, port = m.group(1), int(m.group(3))
                break
            if proc.poll() is not None:
                raise AssertionError(f"portcullis serve exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"no `listening on` line within {START_TIMEOUT}s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.02)
        server = Server(proc, port, log_path, scheme)
        self.servers.append(server)
        while True:
            try:
                # Readiness only: the TLS tests check the certificate themselves.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    ready = requests.get(server.url("/healthz"), timeout=2, verify=scheme == "http").status_code == 200
                if ready:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"/healthz never answered 200:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        return server

    def stop_all(self) -> None:
        errors = []
        for s in self.servers:
            try:
                s.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "; ".join(errors)

    # --- the CLI --------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `portcullis ARGS` on this deployment's database; stderr goes to a log."""
        log_path = self.workdir / f"cli-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        with open(log_path, "wb") as err:
            proc = subprocess.run(
                [str(BIN), *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.workdir,
                timeout=CLI_TIMEOUT,
            )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`portcullis {' '.join(args)}` exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        return proc

    def cli_json(self, *args: str):
        out = self.cli(*args, "--json").stdout.decode()
        return json.loads(out)

    def create_client(self, name: str = "test client", role: str | None = "admin", ttl: int | None = None, description: str | None = None) -> dict:
        args = ["clients", "create", "--name", name]
        if role:
            args += ["--role", role]
        if ttl is not None:
            args += ["--token-ttl", str(ttl)]
        if description is not None:
            args += ["--description", description]
        client = self.cli_json(*args)
        self.remember_client(client["client_id"], client["client_secret"])
        return client

    def regenerate_secret(self, client_id: str) -> dict:
        client = self.cli_json("clients", "regenerate-secret", client_id)
        self.remember_client(client["client_id"], client["client_secret"])
        return client


@pytest.fixture(params=_backends())
def portcullis(request, tmp_path):
    """A fresh deployment (database + master key file); no server yet."""
    backend = request.param
    dbname = None
    if backend == "sqlite":
        database_url = f"sqlite:{tmp_path / 'portcullis.db'}"
    else:
        admin = _pg_admin_url()
        dbname = f"portcullis_bb_{pysecrets.token_hex(6)}"
        _psql(admin, f'CREATE DATABASE "{dbname}"')
        database_url = _with_database(admin, dbname)
    pc = Portcullis(backend, tmp_path, database_url)
    try:
        yield pc
        pc.stop_all()
        pc.assert_nothing_leaked()
    finally:
        for s in pc.servers:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(timeout=10)
        if dbname:
            _psql(_pg_admin_url(), f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture
def server(portcullis) -> Server:
    """`portcullis serve --listen 127.0.0.1:0` on the fresh deployment, up and healthy."""
    return portcullis.start()


@pytest.fixture
def admin_client(portcullis, server) -> dict:
    return portcullis.create_client(name="admin client", role="admin")


# --- request helpers ----------------------------------------------------------------------

def basic(client_id: str, secret: str, urlencode: bool = True) -> str:
    from urllib.parse import quote_plus

    if urlencode:
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


FORM = "application/x-www-form-urlencoded"


def token_request(server: Server, body: bytes | str | dict | None = None, *, auth: tuple[str, str] | None = None,
                  headers: dict | None = None, params: dict | None = None, method: str = "POST") -> requests.Response:
    h = {"Content-Type": FORM}
    if auth:
        h["Authorization"] = basic(*auth)
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    if body is None:
        body = {"grant_type": "client_credentials"}
    return requests.request(method, server.token_url, data=body, headers=h, params=params, timeout=10)


def get_token(portcullis: Portcullis, server: Server, client: dict, **data) -> dict:
    """A client_credentials token with client_secret_basic; asserts success."""
    r = token_request(server, {"grant_type": "client_credentials", **data}, auth=(client["client_id"], client["client_secret"]))
    assert r.status_code == 200, r.text
    body = r.json()
    portcullis.remember(body["access_token"])
    return body


def discover(server) -> dict:
    r = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def verify(token: str, meta: dict, audience: str) -> dict:
    """Verifies like a resource server would: keys from the discovered jwks_uri."""
    jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False)
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=meta["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
    )
