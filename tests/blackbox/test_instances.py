"""Several instances on one PostgreSQL database (docs/deployment.md).

Every change made through one instance holds at the other's very next request; a change feed
that is cut or stalled is noticed and never lets a cache serve a change older than the bound;
a transaction-pooling PgBouncer carries the queries; killing or restarting an instance under
load loses no acknowledged write and, with --shutdown-delay, drops no request.

PostgreSQL only: these tests are skipped on SQLite (one file, one machine).
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_SCOPES, VIEWER_SCOPES, _psql, _pg_admin_url, basic, token_request

ISSUER = "http://auth.fleet.test"
API = "/api/v1"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def pg(portcullis):
    if portcullis.backend != "postgres":
        pytest.skip("several instances share a PostgreSQL database")
    return portcullis


def api(server, method, path, token, **kw):
    return requests.request(method, server.url(API + path), headers={"Authorization": f"Bearer {token}"},
                            timeout=15, **kw)


def token_for(portcullis, server, client_id, secret, **data):
    r = token_request(server, {"grant_type": "client_credentials", **data}, auth=(client_id, secret))
    if r.status_code == 200:
        portcullis.remember(r.json()["access_token"])
    return r


def introspect(server, rs, token):
    r = requests.post(server.url("/oauth2/introspect"), data={"token": token},
                      headers={"Authorization": basic(rs["client_id"], rs["client_secret"])}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def admin_token(portcullis, server, admin):
    r = token_for(portcullis, server, admin["client_id"], admin["client_secret"])
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def two_instances(pg, *args):
    a = pg.start("--issuer", ISSUER, *args)
    b = pg.start("--issuer", ISSUER, *args)
    return a, b


def readyz(server):
    return requests.get(server.url("/readyz"), timeout=10).json()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_every_change_through_one_instance_holds_at_the_others_next_request(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    rs = pg.create_client(name="resource server", role="resource-server")
    at_a = admin_token(pg, a, admin)

    r = api(a, "POST", "/clients", at_a, json={"name": "worker", "role": "viewer"})
    assert r.status_code == 201, r.text
    worker, secret = r.json()["client"], r.json()["client_secret"]
    cid = worker["client_id"]
    pg.remember_client(cid, secret)

    def b_token(sec=None, **data):
        return token_for(pg, b, cid, sec or secret, **data)

    assert b_token().status_code == 200  # B has the client in its cache now

    # Disable and enable, many times over: B never answers from before the change.
    for _ in range(15):
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "disabled"}).status_code == 200
        assert b_token().status_code == 401, "B issued a token to a client A had disabled"
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "enabled"}).status_code == 200
        assert b_token().status_code == 200, "B refused a client A had enabled"

    # A new secret: the old one fails at B at once, the new one works.
    for _ in range(5):
        r = api(a, "POST", f"/clients/{cid}/secret", at_a)
        assert r.status_code == 200, r.text
        old, secret = secret, r.json()["client_secret"]
        pg.remember_client(cid, secret)
        assert b_token(old).status_code == 401
        assert b_token().status_code == 200

    # Its role, and then the role's permissions.
    r = api(a, "POST", "/roles", at_a, json={"name": "narrow", "permissions": ["clients:read"]})
    assert r.status_code == 201, r.text
    narrow = r.json()["id"]
    assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"role": "narrow"}).status_code == 200
    assert b_token().json()["scope"] == "clients:read"
    assert api(a, "PATCH", f"/roles/{narrow}", at_a, json={"permissions": ["clients:read", "roles:read"]}).status_code == 200
    assert set(b_token().json()["scope"].split()) == {"clients:read", "roles:read"}
    assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"role": "viewer"}).status_code == 200
    assert set(b_token().json()["scope"].split()) == VIEWER_SCOPES

    # Revocation of one token, then of all the client's tokens: B's introspection says so at once.
    tok = b_token().json()["access_token"]
    assert introspect(b, rs, tok)["active"] is True
    r = requests.post(a.url("/oauth2/revoke"), data={"token": tok}, auth=(cid, secret), timeout=10)
    assert r.status_code == 200, r.text
    assert introspect(b, rs, tok)["active"] is False
    tok = b_token().json()["access_token"]
    assert introspect(b, rs, tok)["active"] is True
    assert api(a, "POST", f"/clients/{cid}/revoke-tokens", at_a).status_code in (200, 204)
    assert introspect(b, rs, tok)["active"] is False
    time.sleep(1.1)  # tokens carry whole seconds: the next one must be issued after the revocation's second

    # Key rotation: B signs with the new key at once; key revocation: B refuses its tokens.
    import jwt as pyjwt

    tok = b_token().json()["access_token"]
    old_kid = pyjwt.get_unverified_header(tok)["kid"]
    r = api(a, "POST", "/keys/rotate", at_a)
    assert r.status_code == 200, r.text
    new_kid = r.json()["kid"]
    assert pyjwt.get_unverified_header(b_token().json()["access_token"])["kid"] == new_kid
    assert introspect(b, rs, tok)["active"] is True
    r = api(a, "POST", f"/keys/{old_kid}/revoke", at_a)
    assert r.status_code == 200, r.text
    assert introspect(b, rs, tok)["active"] is False
    kids = {k["kid"] for k in requests.get(b.url("/.well-known/jwks.json"), timeout=10).json()["keys"]}
    assert old_kid not in kids and new_kid in kids
    at_a = admin_token(pg, a, admin)  # ours was signed with the revoked key too

    # A user's personal access token: rotation, then the user's disabling.
    r = api(a, "POST", "/users", at_a, json={"email": "ops@example.com", "name": "Ops", "roles": ["viewer"],
                                             "password": PASSWORD})
    assert r.status_code == 201, r.text
    user_id = r.json()["user"]["user_id"]
    with requests.Session() as console:
        r = console.post(a.url(API + "/session"), json={"email": "ops@example.com", "password": PASSWORD}, timeout=15)
        assert r.status_code == 200, r.text
        csrf = console.get(a.url(API + "/me"), timeout=10).json()["csrf_token"]
        first = console.post(a.url(API + "/me/token"), headers={"X-CSRF-Token": csrf}, timeout=10).json()["token"]
        pg.remember(first)
        assert api(b, "GET", "/clients", first).status_code == 200
        second = console.post(a.url(API + "/me/token"), headers={"X-CSRF-Token": csrf}, timeout=10).json()["token"]
        pg.remember(second)
    assert api(b, "GET", "/clients", first).status_code == 401, "B took a personal token A had replaced"
    assert api(b, "GET", "/clients", second).status_code == 200
    assert api(a, "PATCH", f"/users/{user_id}", at_a, json={"status": "disabled"}).status_code == 200
    assert api(b, "GET", "/clients", second).status_code == 401, "B took the token of a user A had disabled"

    # Deletion.
    assert api(a, "DELETE", f"/clients/{cid}", at_a).status_code == 204
    assert b_token().status_code == 401


def listener_pids(admin_url, database):
    out = subprocess.run(
        ["psql", admin_url, "-qAtc",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND application_name = 'portcullis-watch'"],
        check=True, capture_output=True, text=True, timeout=30).stdout.split()
    return [int(p) for p in out]


def test_a_terminated_change_feed_is_noticed_and_no_change_is_missed(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    worker = pg.create_client(name="worker", role="viewer")
    at_a = admin_token(pg, a, admin)
    cid, secret = worker["client_id"], worker["client_secret"]
    database = pg.database_url.rsplit("/", 1)[1]
    wait_for(lambda: len(listener_pids(_pg_admin_url(), database)) == 2, 10, "both instances listen")
    for round_ in range(3):
        assert token_for(pg, b, cid, secret).status_code == 200
        for pid in listener_pids(_pg_admin_url(), database):
            _psql(_pg_admin_url(), f"SELECT pg_terminate_backend({pid})")
        # A change made while B's feed is down (or reconnecting) holds at B's next request.
        status = "disabled" if round_ % 2 == 0 else "enabled"
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": status}).status_code == 200
        expected = 401 if status == "disabled" else 200
        assert token_for(pg, b, cid, secret).status_code == expected
        if status == "disabled":
            assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "enabled"}).status_code == 200
        # The feed comes back by itself, fresh again.
        wait_for(lambda: (readyz(b).get("change_feed_staleness_ms") or 10**9) < 2000, 10, "B's feed is fresh again")
    assert "lost the PostgreSQL change listener" in Path(b.log_path).read_text(errors="replace")


class PausableProxy:
    """A TCP proxy to PostgreSQL that can stop forwarding (a network pause) without closing."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.paused = threading.Event()
        self.down = threading.Event()  # every connection closed, new ones refused at once
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            self._carry(client, upstream)

    def _carry(self, client, upstream):
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        pair = {client: upstream, upstream: client}
        while not self.stopped.is_set():
            if self.down.is_set():
                for x in pair:
                    x.close()
                return
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            ready, _, _ = select.select(list(pair), [], [], 0.05)
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for x in pair:
                        x.close()
                    return
                pair[s].sendall(data)

    def close(self):
        self.stopped.set()
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass


def test_a_stalled_change_feed_never_serves_a_change_older_than_the_bound(pg):
    proxy = PausableProxy()
    try:
        a = pg.start("--issuer", ISSUER)
        listen_url = pg.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert listen_url != pg.database_url
        b = pg.start("--issuer", ISSUER, "--database-listen-url", listen_url)
        admin = pg.create_client(name="admin", role="admin")
        worker = pg.create_client(name="worker", role="viewer")
        at_a = admin_token(pg, a, admin)
        cid, secret = worker["client_id"], worker["client_secret"]
        wait_for(lambda: (readyz(b).get("change_feed_staleness_ms") or 10**9) < 2000, 10, "B's feed is fresh")
        assert token_for(pg, b, cid, secret).status_code == 200

        proxy.paused.set()  # B's LISTEN connection hears nothing more, and nothing tells it so
        changed = time.monotonic()
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "disabled"}).status_code == 200
        while token_for(pg, b, cid, secret).status_code == 200:
            assert time.monotonic() - changed < 2.5, "B served a change older than the 2 s bound"
            time.sleep(0.02)
        honoured = time.monotonic() - changed
        assert honoured <= 2.5
        # B knows its feed is down (not fresh) within a second or two more, and says so.
        wait_for(lambda: readyz(b).get("change_feed_staleness_ms") is None, 3, "B reports its feed is unknown")
        # While stale, B still answers every change at once (its caches are bypassed).
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "enabled"}).status_code == 200
        assert token_for(pg, b, cid, secret).status_code == 200

        proxy.paused.clear()  # the network is back: B reconnects and is fresh again
        wait_for(lambda: (readyz(b).get("change_feed_staleness_ms") or 10**9) < 2000, 15, "B's feed is fresh again")
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "disabled"}).status_code == 200
        assert token_for(pg, b, cid, secret).status_code == 401
        log = Path(b.log_path).read_text(errors="replace")
        assert "received no heartbeat within the staleness bound" in log
    finally:
        proxy.close()


class SlowProxy(PausableProxy):
    """A TCP proxy to PostgreSQL that delivers every byte `delay` seconds late, both ways: a
    slow network, or a listener that a busy machine gets round to late."""

    def __init__(self, delay: float, target=("127.0.0.1", 5432)):
        self.delay = delay
        super().__init__(target)

    def _carry(self, client, upstream):
        for source, sink in ((client, upstream), (upstream, client)):
            late: queue.Queue = queue.Queue()
            threading.Thread(target=self._read, args=(source, late), daemon=True).start()
            threading.Thread(target=self._write, args=(sink, late), daemon=True).start()

    def _read(self, source, late):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            late.put((time.monotonic() + self.delay, data))
            if not data:
                return

    def _write(self, sink, late):
        while True:
            due, data = late.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return


def test_a_change_holds_at_the_next_request_of_an_instance_whose_feed_lags(pg):
    # B's change feed is slow (every byte 50 ms late), well within the staleness bound: B
    # counts itself fresh. A answers a change only once B has its notification too.
    proxy = SlowProxy(0.05)
    try:
        a = pg.start("--issuer", ISSUER)
        b = pg.start("--issuer", ISSUER, "--database-listen-url",
                     pg.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
        admin = pg.create_client(name="admin", role="admin")
        worker = pg.create_client(name="worker", role="viewer")
        at_a = admin_token(pg, a, admin)
        cid, secret = worker["client_id"], worker["client_secret"]
        wait_for(lambda: (readyz(b).get("change_feed_staleness_ms") or 10**9) < 2000, 10, "B's feed is fresh")
        for _ in range(3):
            assert token_for(pg, b, cid, secret).status_code == 200  # B holds the client in its cache
            assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "disabled"}).status_code == 200
            assert token_for(pg, b, cid, secret).status_code == 401, "B issued a token to a client A had disabled"
            assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "enabled"}).status_code == 200
            assert token_for(pg, b, cid, secret).status_code == 200, "B refused a client A had enabled"
    finally:
        proxy.close()


def test_writes_do_not_wait_for_an_instance_that_stopped_cleanly(pg):
    # A write waits for every other serving instance to acknowledge it, at most the
    # staleness bound (10 s here). An instance that stops cleanly says so: the next write
    # on the other one is answered at once, not after the bound.
    a, b = two_instances(pg, "--max-staleness", "10s")
    admin = pg.create_client(name="admin", role="admin")
    worker = pg.create_client(name="worker", role="viewer")
    at_a = admin_token(pg, a, admin)
    cid = worker["client_id"]
    wait_for(lambda: all((readyz(s).get("change_feed_staleness_ms") or 10**9) < 5000 for s in (a, b)), 15,
             "both feeds are fresh")

    def timed_write(status):
        began = time.monotonic()
        assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": status}).status_code == 200
        return time.monotonic() - began

    assert timed_write("disabled") < 5, "B acknowledges while it serves"
    assert b.stop() == 0
    assert "stopped: requests finished" in b.log_path.read_text(errors="replace")
    # Without B's goodbye, A would wait the whole bound (B was heard within it).
    assert timed_write("enabled") < 5, "A waited for the instance that had stopped"
    assert timed_write("disabled") < 5


def instance_names(database_url: str) -> set[str]:
    """The instance names in the heartbeats on the change feed (anyone who may LISTEN sees them)."""
    import re

    heard = subprocess.run(["psql", database_url, "-qAt"], capture_output=True, text=True, timeout=30,
                           input="LISTEN portcullis_changes;\nSELECT pg_sleep(1.2);\nSELECT 1;\n")
    return set(re.findall(r'payload "hb ([0-9a-f]{32}) ', heard.stdout + heard.stderr))


def test_a_flood_and_forged_notifications_on_the_change_feed_change_nothing(pg):
    # Anyone who may connect to the database may NOTIFY on the channel: a flood makes caches
    # miss, and malformed heartbeats or acknowledgements (with the instances' real names, but
    # not from the future: see watch.rs) are ignored; neither stops an instance.
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    worker = pg.create_client(name="worker", role="viewer")
    at_a = admin_token(pg, a, admin)
    cid, secret = worker["client_id"], worker["client_secret"]
    wait_for(lambda: all((readyz(s).get("change_feed_staleness_ms") or 10**9) < 2000 for s in (a, b)), 10,
             "both feeds are fresh")
    names = instance_names(pg.database_url)
    assert len(names) == 2, names
    forged = []
    for name in names:
        forged += [f"hb {name} -1", f"hb {name} x", f"hb {name} 99999999999999999999999", f"hb {name} +5 settle",
                   f"hb {name.upper()} 5", f"hb  {name} 5", f"hb {name} " + "9" * 7900, f"ack {name} 1",
                   f"ack {name} x {name}", f"ack {name} -1 {'0' * 32}", "ack " + "a" * 7990]
        forged += [f"hb {other} 1 settle" for other in names if other != name]
    forged += ["hb", "hb " + "y" * 7990, "ack", "ack "]
    sql = "".join(f"SELECT pg_notify('portcullis_changes', $forged${p}$forged$);\n" for p in forged)
    flood = subprocess.Popen(["psql", pg.database_url, "-qAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    flood.stdin.write(sql + "SELECT count(pg_notify('portcullis_changes', 'flood ' || g)) "
                            "FROM generate_series(1, 100000) AS g;\n" + sql)
    flood.stdin.close()
    while flood.poll() is None:
        assert token_for(pg, b, cid, secret).status_code == 200
    assert flood.returncode == 0, flood.stderr.read()
    assert api(a, "PATCH", f"/clients/{cid}", at_a, json={"status": "disabled"}).status_code == 200
    assert token_for(pg, b, cid, secret).status_code == 401
    assert api(b, "PATCH", f"/clients/{cid}", at_a, json={"status": "enabled"}).status_code == 200
    assert token_for(pg, a, cid, secret).status_code == 200
    for server in (a, b):
        assert server.proc.poll() is None
        wait_for(lambda: (readyz(server).get("change_feed_staleness_ms") or 10**9) < 2000, 5, "the feed is fresh")


PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pgbouncer(pg):
    """Debian's PgBouncer in transaction-pooling mode in front of the test database."""
    if not os.path.exists(PGBOUNCER):
        pytest.fail("pgbouncer is not installed (scripts/test installs Debian's pgbouncer)")
    database = pg.database_url.rsplit("/", 1)[1]
    # Not under pytest's tmp_path: PgBouncer runs as `postgres` when we are root, and
    # pytest's directories are root's alone.
    workdir = Path(tempfile.mkdtemp(prefix="portcullis-pgbouncer-"))
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    (workdir / "userlist.txt").write_text('"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(f"""[databases]
{database} = host=127.0.0.1 port=5432 dbname={database} user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir}/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
ignore_startup_parameters = extra_float_digits,options,application_name
""")
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(workdir, "postgres")
        for f in workdir.iterdir():
            shutil.chown(f, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                                        capture_output=True).returncode == 0, 10, "pgbouncer accepts connections")
        yield pg.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}"), workdir / "pgbouncer.log"
    finally:
        pg.stop_all()  # before their database goes away
        proc.terminate()
        proc.wait(timeout=10)
        pg.logs.append(workdir / "pgbouncer.log")  # read at teardown for leaked secrets
        if not os.environ.get("PORTCULLIS_KEEP_PGBOUNCER"):
            shutil.rmtree(workdir, ignore_errors=True)


def test_through_a_transaction_pooling_pgbouncer(pg, pgbouncer):
    pooled_url, pgbouncer_log = pgbouncer
    direct = pg.database_url
    # Queries through PgBouncer (4 server connections for everything), LISTEN and migrations direct.
    pg.env["PORTCULLIS_DATABASE_URL"] = pooled_url
    pg.env["PORTCULLIS_DATABASE_LISTEN_URL"] = direct
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")  # the CLI through the pooler too
    rs = pg.create_client(name="resource server", role="resource-server")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}

    # Many writers and readers at once on both instances: statements must never land on a
    # server connection that does not know them.
    failures: list[str] = []
    made: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(server, n):
        for i in range(n):
            r = api(server, "POST", "/clients", at[server], json={"name": f"w{threading.get_ident()}-{i}", "role": "viewer"})
            if r.status_code != 201:
                failures.append(f"create {r.status_code} {r.text[:200]}")
                continue
            cid, secret = r.json()["client"]["client_id"], r.json()["client_secret"]
            pg.remember_client(cid, secret)
            with lock:
                made.append((cid, secret))
            for other in (a, b):
                t = token_for(pg, other, cid, secret)
                if t.status_code != 200:
                    failures.append(f"token {t.status_code} {t.text[:200]}")
                    continue
                if not introspect(other, rs, t.json()["access_token"])["active"]:
                    failures.append("introspection said inactive")
            for path in ("/clients?limit=50", f"/clients/{cid}", f"/clients/{cid}/events", "/roles", "/users"):
                g = api(server, "GET", path, at[server])
                if g.status_code != 200:
                    failures.append(f"GET {path} {g.status_code} {g.text[:200]}")
            p = api(server, "PATCH", f"/clients/{cid}", at[server], json={"status": "disabled"})
            if p.status_code != 200:
                failures.append(f"PATCH {p.status_code} {p.text[:200]}")
            other = b if server is a else a
            if token_for(pg, other, cid, secret).status_code != 401:
                failures.append("the other instance issued a token to a disabled client")

    threads = [threading.Thread(target=work, args=(s, 6)) for s in (a, b, a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert len(made) == 36
    listed = api(a, "GET", "/clients?limit=200", at[a]).json()
    assert {c for c, _ in made} <= {c["client_id"] for c in listed["items"]}
    for server in (a, b):
        assert readyz(server)["status"] == "ready"
        assert readyz(server)["change_feed_staleness_ms"] is not None
    for log in pg.logs:
        text = Path(log).read_text(errors="replace")
        assert "prepared statement" not in text, f"{log}: {text[-2000:]}"


def refused(error: requests.ConnectionError) -> bool:
    """The connection was never made: a load balancer tries the next target."""
    import urllib3

    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def test_killing_one_instance_mid_load_loses_no_acknowledged_write(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    acknowledged: dict[str, str] = {}
    b_failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(server, tag):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = api(server, "POST", "/clients", at[server], json={"name": f"{tag}-{i}", "role": "viewer"})
            except requests.ConnectionError:
                if server is b:
                    b_failures.append("connection error at B")
                time.sleep(0.05)
                continue
            if r.status_code == 201:
                cid, secret = r.json()["client"]["client_id"], r.json()["client_secret"]
                pg.remember_client(cid, secret)
                with lock:
                    acknowledged[cid] = secret
            elif server is b:
                b_failures.append(f"B answered {r.status_code}: {r.text[:200]}")

    threads = [threading.Thread(target=writer, args=(s, f"{n}-{i}")) for i, (s, n) in
               enumerate([(a, "a"), (a, "a"), (b, "b"), (b, "b")])]
    for t in threads:
        t.start()
    time.sleep(1.5)
    a.kill9()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    assert not b_failures, b_failures[:5]
    assert len(acknowledged) > 20
    for cid, secret in acknowledged.items():
        r = token_for(pg, b, cid, secret)
        assert r.status_code == 200, f"an acknowledged client ({cid}) is missing or its secret fails: {r.text}"
    # A comes back on the same database and serves them too.
    again = pg.start("--issuer", ISSUER)
    cid, secret = next(iter(acknowledged.items()))
    assert token_for(pg, again, cid, secret).status_code == 200


def test_a_rolling_restart_under_load_drops_no_request(pg):
    delay = "1s"
    a, b = two_instances(pg, "--shutdown-delay", delay)
    client = pg.create_client(name="load", role="viewer")
    ports = {"a": a.port, "b": b.port}
    ready: dict[str, bool] = {"a": True, "b": True}
    stop = threading.Event()
    counts = {"ok": 0, "retried": 0}
    failures: list[str] = []
    lock = threading.Lock()

    def health_checker():
        # What a load balancer does: a target is in rotation while /readyz answers 200.
        with requests.Session() as s:
            while not stop.is_set():
                for name, port in ports.items():
                    try:
                        ok = s.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
                    except requests.RequestException:
                        ok = False
                    ready[name] = ok
                time.sleep(0.1)

    def load():
        session = requests.Session()  # keep-alive, like a load balancer's upstream connections
        turn = 0
        while not stop.is_set():
            targets = [n for n in ("a", "b") if ready[n]] or ["a", "b"]
            turn += 1
            name = targets[turn % len(targets)]
            try:
                r = session.post(f"http://127.0.0.1:{ports[name]}/oauth2/token",
                                 data={"grant_type": "client_credentials"},
                                 headers={"Authorization": basic(client["client_id"], client["client_secret"])},
                                 timeout=10)
            except requests.ConnectionError as e:
                if refused(e):
                    with lock:
                        counts["retried"] += 1
                    continue
                with lock:
                    failures.append(f"{name}: {e!r}")
                continue
            with lock:
                if r.status_code == 200:
                    counts["ok"] += 1
                    pg.remember(r.json()["access_token"])
                else:
                    failures.append(f"{name}: {r.status_code} {r.text[:200]}")

    checker = threading.Thread(target=health_checker)
    workers = [threading.Thread(target=load) for _ in range(6)]
    checker.start()
    for w in workers:
        w.start()
    try:
        time.sleep(1)
        servers = {"a": a, "b": b}
        for name in ("a", "b"):
            assert servers[name].stop(signal.SIGTERM, timeout=40) == 0
            servers[name] = pg.start("--issuer", ISSUER, "--shutdown-delay", delay, "--listen",
                                     f"127.0.0.1:{ports[name]}")
            wait_for(lambda: ready[name], 5, f"{name} back in rotation")
            time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join()
        checker.join()
    assert not failures, f"{len(failures)} requests failed (of {counts['ok']} served): {failures[:5]}"
    assert counts["ok"] > 200


def test_a_lost_database_answers_503_and_recovers(pg):
    proxy = PausableProxy()
    try:
        via_proxy = pg.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        pg.env["PORTCULLIS_DATABASE_URL"] = via_proxy
        server = pg.start("--issuer", ISSUER)
        admin = pg.create_client(name="admin", role="admin")
        token = admin_token(pg, server, admin)
        assert api(server, "GET", "/clients", token).status_code == 200

        proxy.down.set()  # the database is gone (a failover, a restart)
        # Within the staleness bound the caches are bypassed: then every answer is a clear 503.
        def refused():
            r = token_for(pg, server, admin["client_id"], admin["client_secret"])
            return r.status_code == 503
        wait_for(refused, 5, "the token endpoint answers 503")
        r = token_for(pg, server, admin["client_id"], admin["client_secret"])
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable", r.text
        assert r.headers["Retry-After"] == "1" and r.headers["Cache-Control"] == "no-store"
        r = api(server, "GET", "/clients", token)
        assert r.status_code == 503 and r.json()["type"].endswith(":unavailable"), r.text
        assert requests.get(server.url("/readyz"), timeout=15).status_code == 503

        proxy.down.clear()  # back
        wait_for(lambda: token_for(pg, server, admin["client_id"], admin["client_secret"]).status_code == 200,
                 15, "the token endpoint answers again")
        assert api(server, "GET", "/clients", token).status_code == 200
        wait_for(lambda: (readyz(server).get("change_feed_staleness_ms") or 10**9) < 2000, 15, "fresh again")
    finally:
        proxy.close()
