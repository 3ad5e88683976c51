"""Crash durability (issue 13 §8): writes under load, `kill -9` at a random moment, checks.

One *round*: start `portcullis serve` on the deployment (a fresh port, the same database and
master key, a fixed issuer so that tokens outlive the port), check everything the previous
round was told, then let worker threads make changes over HTTP with an admin client's token
until the server is killed with SIGKILL after a random delay. The workers write into a ledger
only what got a success answer; an operation that got no answer is *in flight* (it may or may
not have happened: the check accepts either outcome for it, and nothing else), one whose
connection was refused was *never sent* (it must not have happened).

Each worker owns its clients (no two workers touch one client), so every client has a single
history: its operations are made one after the other, and at most one of them, the last, is
without an answer when the server dies. Its *version* (the `ETag`: 1 at creation, one more per
change) says whether that operation happened; every other effect must agree with it.

The check after each restart (`CrashLoop.check`):

* the bootstrap admin (made with the CLI before the first start, never changed) still gets a
  token, and the previous round's admin token still introspects as active (the signing key
  survived);
* the custom role exists with its permissions;
* every acknowledged client exists (unless its deletion was in flight, then either), at the
  version the ledger expects (or one more when an operation was in flight), with its last
  acknowledged role (or the in-flight one, exactly when the version moved);
* no other client exists but the bootstrap admin and those whose creation was in flight (found
  by their unique names, at version 1 with the role asked for; they join the ledger with an
  unknown secret until a later regeneration);
* an acknowledged deletion holds: 404, secret refused, tokens inactive;
* the last acknowledged secret gets a token whose scope is exactly its role's permissions,
  unless a regeneration was in flight and the version says it happened: then that secret must
  fail (the new one is unknown, counted as such), and the client's secret stays unknown until a
  later acknowledged regeneration;
* every earlier secret (the last few of each client) is refused with 401 `invalid_client`;
* every acknowledged token (the last few of each client) introspects as inactive if it was
  answered before an acknowledged (or happened) revoke-tokens was sent, and as active if it was
  issued in a later second than every such revoke's answer (a revocation covers tokens issued
  in its own second, so in between either is accepted);
* the change events of the round (`GET /api/v1/events?kind=…&since=…&until=…`, by the admin
  client) are exactly one per acknowledged change and per in-flight change that happened, none
  for anything else, each by the admin client.

Any unexpected answer during the round (a 500, a 412 on a version the ledger holds, a 401 for
the current secret) is a failure too. On PostgreSQL the check waits for the killed server's
sessions to end first. `scripted_round` runs chosen operations instead of the workers (the
test that proves the check fails on a database that lost them).
"""

from __future__ import annotations

import base64
import json
import math
import random
import subprocess
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests
import urllib3

from conftest import Portcullis, Server, _with_database

ISSUER = "http://portcullis-crash.test"
CUSTOM_ROLE = "crash-auditor"
CUSTOM_PERMISSIONS = ["clients:read", "tokens:introspect"]
ROLES = ("viewer", "resource-server", CUSTOM_ROLE)
TIMEOUT = 10.0

ACKED, IN_FLIGHT, UNSENT, FAILED = "acknowledged", "in flight", "never sent", "failed"
EVENT_KIND = {
    "create": "client.created",
    "role": "client.updated",
    "regenerate": "client.secret_regenerated",
    "revoke": "client.tokens_revoked",
    "delete": "client.deleted",
}
OP_KINDS = ("create", "role", "regenerate", "token", "revoke", "delete")


class CrashLoopFailure(AssertionError):
    def __init__(self, text: str, failures: list[str]):
        super().__init__(text)
        self.failures = failures


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def never_sent(exc: BaseException) -> bool:
    """True when the connection was refused or never made: the server saw nothing."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


@dataclass
class Token:
    jwt: str
    iat: int
    exp: int
    answered: float  # when its answer arrived (time.time())


@dataclass
class Revoke:
    sent: float
    answered: float  # for an in-flight revoke that happened: the kill


@dataclass
class Op:
    kind: str
    worker: int
    round: int
    sent: float
    client_id: str | None = None
    name: str | None = None  # create
    role: str | None = None  # create, role
    outcome: str = IN_FLIGHT
    answered: float | None = None
    happened: bool | None = None  # resolved by the check for ops without a success answer
    note: str = ""


@dataclass
class ClientRecord:
    client_id: str
    name: str
    owner: int
    role: str
    version: int
    secret: str | None  # the last acknowledged one; None while unknown
    old_secrets: list[str] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    revokes: list[Revoke] = field(default_factory=list)
    deleted: bool = False  # an acknowledged deletion, checked once then dropped
    pending: Op | None = None


@dataclass
class Totals:
    kills: int = 0
    rounds_checked: int = 0
    sent: Counter = field(default_factory=Counter)
    acked: Counter = field(default_factory=Counter)
    in_flight: Counter = field(default_factory=Counter)
    in_flight_happened: Counter = field(default_factory=Counter)
    in_flight_not_happened: Counter = field(default_factory=Counter)
    never_sent: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    checks: Counter = field(default_factory=Counter)
    regenerations_lost_secret: int = 0  # in-flight regenerations that happened: new secret unknown
    tokens_undecided: int = 0  # tokens issued in a revocation's second: active or not, both accepted
    waits_for_sessions: int = 0  # kills after which PostgreSQL still had the dead server's sessions

    def summary(self) -> str:
        def total(c: Counter) -> int:
            return sum(c.values())

        def kinds(c: Counter) -> str:
            return ", ".join(f"{k} {c[k]}" for k in OP_KINDS if c[k]) or "none"

        return "\n".join(
            [
                f"kills: {self.kills}, rounds checked: {self.rounds_checked}",
                f"operations sent: {total(self.sent)} ({kinds(self.sent)})",
                f"acknowledged: {total(self.acked)} ({kinds(self.acked)})",
                f"in flight at a kill: {total(self.in_flight)} ({kinds(self.in_flight)}); "
                f"found done {total(self.in_flight_happened)}, not done {total(self.in_flight_not_happened)}, "
                f"undecidable {self.in_flight['token']} (token requests)",
                f"  of which regenerations that took effect, new secret never seen: {self.regenerations_lost_secret}",
                f"never sent (connection refused): {total(self.never_sent)}",
                f"failed answers: {total(self.failed)}",
                *([f"kills after which PostgreSQL still ran the dead server's sessions: {self.waits_for_sessions}"]
                  if self.waits_for_sessions else []),
                f"checks passed: {total(self.checks)} ("
                + ", ".join(f"{k} {v}" for k, v in sorted(self.checks.items()))
                + ")",
                f"tokens not judged (issued in the second of a revocation, which may cover them): {self.tokens_undecided}",
            ]
        )


class CrashLoop:
    def __init__(self, pc: Portcullis, *, seed: int | None = None, workers: int = 4, clients_per_worker: int = 4,
                 min_delay: float = 0.0, max_delay: float = 0.8, keep_secrets: int = 4, keep_tokens: int = 4, on_server_gone=None):
        self.pc = pc
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.rng = random.Random(self.seed)
        self.workers = workers
        self.clients_per_worker = clients_per_worker
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.keep_secrets = keep_secrets
        self.keep_tokens = keep_tokens
        self.on_server_gone = on_server_gone  # called with each server after it died (the soak's log check)
        self.tag = f"{self.seed:08x}"
        self.clients: dict[str, ClientRecord] = {}
        self.ops: list[Op] = []  # the current round's
        self.lock = threading.Lock()
        self.totals = Totals()
        self.round = 0
        self.round_started = 0.0
        self.round_killed = 0.0
        self.admin: dict | None = None
        self.admin_token: str | None = None
        self.role_permissions: dict[str, set[str]] = {}
        self.server: Server | None = None
        self.errors: list[str] = []  # unexpected answers during the round

    # --- setup, rounds -------------------------------------------------------------------
    def setup(self) -> None:
        """The bootstrap admin (CLI, before any server) and the custom role."""
        self.admin = self.pc.create_client(name=f"crash admin {self.tag}", role="admin")
        self.server = self._start()
        self.admin_token = self._admin_token(requests.Session(), [])
        r = requests.post(self.server.url("/api/v1/roles"), json={"name": CUSTOM_ROLE, "permissions": CUSTOM_PERMISSIONS},
                          headers=self._auth(), timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        r = requests.get(self.server.url("/api/v1/roles"), headers=self._auth(), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        self.role_permissions = {role["name"]: set(role["permissions"]) for role in r.json()["items"]}
        assert all(role in self.role_permissions for role in ROLES), self.role_permissions

    def _start(self) -> Server:
        return self.pc.start("--issuer", ISSUER)

    def _auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def run(self, kills: int, progress=None) -> Totals:
        """`kills` rounds, each ended by SIGKILL and checked after a restart; then a final stop."""
        if self.admin is None:
            self.setup()
        for _ in range(kills):
            self.one_round()
            if progress:
                progress(self)
        self.restart_and_check()
        self.server.stop()
        if self.on_server_gone:
            self.on_server_gone(self.server)
        return self.totals

    def one_round(self) -> None:
        """(Re)start and check unless running already; load; SIGKILL after a random delay."""
        stop = self._begin_round()
        threads = [threading.Thread(target=self._worker, args=(w, stop), daemon=True) for w in range(self.workers)]
        for t in threads:
            t.start()
        time.sleep(self.rng.uniform(self.min_delay, self.max_delay))
        self._kill(stop)
        for t in threads:
            t.join(timeout=TIMEOUT + 5)
            assert not t.is_alive(), "a worker did not stop after the kill"
        self._after_kill()

    def scripted_round(self, script) -> None:
        """A round of chosen operations, `script(loop)` calling `loop.act(…)`, then SIGKILL."""
        stop = self._begin_round()
        self._script = (requests.Session(), random.Random(self.seed), iter(range(1, 1 << 30)))
        script(self)
        self._kill(stop)
        self._after_kill()

    def act(self, kind: str, client: ClientRecord | None = None) -> Op:
        """One operation of a scripted round (as worker 0); it must be acknowledged."""
        session, rng, counter = self._script
        assert self._do(session, rng, 0, next(counter), kind, client), self.errors
        return self.ops[-1]

    def _begin_round(self) -> threading.Event:
        if self.server is None or self.server.proc.poll() is not None:
            self.restart_and_check()
        self.round += 1
        self.ops = []
        self.errors = []
        self.round_started = time.time()
        return threading.Event()

    def _kill(self, stop: threading.Event) -> None:
        self.server.kill9()
        self.round_killed = time.time()
        self.totals.kills += 1
        stop.set()

    def _after_kill(self) -> None:
        self._wait_for_old_sessions()
        if self.on_server_gone:
            self.on_server_gone(self.server)

    def _wait_for_old_sessions(self) -> None:
        """On PostgreSQL, waits until the killed server's sessions have ended.

        A COMMIT the server sent just before it died is still carried out by its PostgreSQL
        backend, which notices the closed socket only afterwards: checking before then could
        find an in-flight change not done that is done a moment later.
        """
        if self.pc.backend != "postgres":
            return
        from urllib.parse import urlsplit

        db = urlsplit(self.pc.database_url).path.lstrip("/")
        sql = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"
        maintenance = _with_database(self.pc.database_url, "postgres")
        deadline = time.monotonic() + 30
        waited = False
        while True:
            out = subprocess.run(["psql", maintenance, "-qAtc", sql], capture_output=True, text=True, timeout=30, check=True)
            if out.stdout.strip() == "0":
                break
            assert time.monotonic() < deadline, f"the killed server's PostgreSQL sessions did not end: {out.stdout}"
            waited = True
            time.sleep(0.01)
        if waited:
            self.totals.waits_for_sessions += 1

    def restart_and_check(self) -> None:
        self.server = self._start()
        self.check()

    # --- the workers ---------------------------------------------------------------------
    def _worker(self, w: int, stop: threading.Event) -> None:
        rng = random.Random(f"{self.seed}/{self.round}/{w}")
        session = requests.Session()
        n = 0
        try:
            while not stop.is_set():
                with self.lock:
                    mine = [c for c in self.clients.values() if c.owner == w and not c.deleted]
                kind, client = self._choose(rng, mine)
                n += 1
                if not self._do(session, rng, w, n, kind, client):
                    return
        except Exception:  # a bug of the driver, or an answer it cannot read: the round fails
            with self.lock:
                self.errors.append(f"round {self.round}: worker {w} stopped:\n{traceback.format_exc()}")

    def _choose(self, rng: random.Random, mine: list[ClientRecord]) -> tuple[str, ClientRecord | None]:
        if len(mine) < 2 or (len(mine) < self.clients_per_worker and rng.random() < 0.15):
            return "create", None
        c = rng.choice(mine)
        if c.secret is None:
            choices = [("regenerate", 4), ("role", 1), ("revoke", 1), ("delete", 1)]
        else:
            choices = [("token", 5), ("regenerate", 3), ("role", 3), ("revoke", 2), ("delete", 1)]
        kinds, weights = zip(*choices)
        return rng.choices(kinds, weights)[0], c

    def _do(self, s: requests.Session, rng: random.Random, w: int, n: int, kind: str, c: ClientRecord | None) -> bool:
        """One operation; False when the worker must stop (no answer, or an unexpected one)."""
        url = self.server.url
        op = Op(kind, w, self.round, time.time(), client_id=c.client_id if c else None)
        if kind == "create":
            op.name, op.role = f"crash {self.tag} r{self.round} w{w} n{n}", rng.choice(ROLES)
        elif kind == "role":
            op.role = rng.choice([r for r in ROLES if r != c.role])
        if c is not None:
            c.pending = op
        with self.lock:
            self.ops.append(op)
            self.totals.sent[kind] += 1
        try:
            if kind == "create":
                r = s.post(url("/api/v1/clients"), json={"name": op.name, "role": op.role}, headers=self._auth(), timeout=TIMEOUT)
            elif kind == "role":
                r = s.patch(url(f"/api/v1/clients/{c.client_id}"), json={"role": op.role},
                            headers={**self._auth(), "If-Match": f'"{c.version}"'}, timeout=TIMEOUT)
            elif kind == "regenerate":
                r = s.post(url(f"/api/v1/clients/{c.client_id}/secret"), headers=self._auth(), timeout=TIMEOUT)
            elif kind == "revoke":
                r = s.post(url(f"/api/v1/clients/{c.client_id}/revoke-tokens"), headers=self._auth(), timeout=TIMEOUT)
            elif kind == "delete":
                r = s.delete(url(f"/api/v1/clients/{c.client_id}"), headers={**self._auth(), "If-Match": f'"{c.version}"'},
                             timeout=TIMEOUT)
            else:
                self.pc.remember_client(c.client_id, c.secret)
                r = s.post(url("/oauth2/token"), data={"grant_type": "client_credentials"}, auth=(c.client_id, c.secret),
                           timeout=TIMEOUT)
        except requests.RequestException as e:
            op.outcome = UNSENT if never_sent(e) else IN_FLIGHT
            op.note = type(e).__name__
            with self.lock:
                (self.totals.never_sent if op.outcome == UNSENT else self.totals.in_flight)[kind] += 1
            return False
        op.answered = time.time()
        expected = {"create": 201, "delete": 204}.get(kind, 200)
        if r.status_code != expected:
            op.outcome = FAILED
            op.note = f"{r.status_code} {r.text[:300]}"
            with self.lock:
                self.totals.failed[kind] += 1
                self.errors.append(f"round {self.round}: {kind} {op.client_id or op.name} answered {op.note}")
            return False
        body = r.json() if r.content else None
        problem = None
        if kind == "create":
            cid = body["client"]["client_id"]
            self.pc.remember_client(cid, body["client_secret"])
            if body["client"]["role"] != op.role:
                problem = f"create answered role {body['client']['role']!r}, asked {op.role!r}"
            op.client_id = cid
            with self.lock:
                self.clients[cid] = ClientRecord(cid, op.name, w, op.role, 1, body["client_secret"])
        elif kind == "role":
            if r.headers.get("ETag") != f'"{c.version + 1}"' or body["role"] != op.role:
                problem = f"PATCH role answered ETag {r.headers.get('ETag')} role {body['role']!r}, expected \"{c.version + 1}\" {op.role!r}"
            c.role, c.version = op.role, c.version + 1
        elif kind == "regenerate":
            self.pc.remember_client(c.client_id, body["client_secret"])
            if c.secret:
                c.old_secrets = (c.old_secrets + [c.secret])[-self.keep_secrets:]
            c.secret, c.version = body["client_secret"], c.version + 1
        elif kind == "revoke":
            c.revokes.append(Revoke(op.sent, op.answered))
            c.version += 1
        elif kind == "delete":
            c.deleted = True
        else:
            token = body["access_token"]
            self.pc.remember(token)
            cl = claims(token)
            c.tokens = (c.tokens + [Token(token, cl["iat"], cl["exp"], op.answered)])[-self.keep_tokens:]
            if set(body.get("scope", "").split()) != self.role_permissions[c.role]:
                problem = f"token scope {body.get('scope')!r} is not role {c.role}'s"
        if c is not None:
            c.pending = None
        op.outcome = ACKED
        with self.lock:
            self.totals.acked[kind] += 1
            if problem:
                self.errors.append(f"round {self.round}: {kind} {op.client_id}: {problem}")
        return problem is None

    # --- the check -----------------------------------------------------------------------
    def _admin_token(self, s: requests.Session, fail: list[str]) -> str | None:
        self.pc.remember_client(self.admin["client_id"], self.admin["client_secret"])
        r = s.post(self.server.token_url, data={"grant_type": "client_credentials"},
                   auth=(self.admin["client_id"], self.admin["client_secret"]), timeout=TIMEOUT)
        if r.status_code != 200:
            fail.append(f"the bootstrap admin's secret got {r.status_code} {r.text[:200]}")
            return None
        token = r.json()["access_token"]
        self.pc.remember(token)
        return token

    def check(self) -> None:
        """Checks the round that was just killed against the restarted server; raises on any failure."""
        fail: list[str] = list(self.errors)
        self.errors = []
        ok = self.totals.checks
        s = requests.Session()
        previous_admin_token = self.admin_token
        self.admin_token = self._admin_token(s, fail)
        if self.admin_token is None:
            raise CrashLoopFailure(self._failure_text(fail), fail)
        ok["bootstrap admin"] += 1
        if previous_admin_token:
            if self._active(s, previous_admin_token) is not True:
                fail.append("the previous round's admin token is no longer active")
            else:
                ok["admin token kept"] += 1
        r = s.get(self.server.url("/api/v1/roles"), headers=self._auth(), timeout=TIMEOUT)
        roles = {x["name"]: set(x["permissions"]) for x in r.json()["items"]} if r.status_code == 200 else {}
        if roles.get(CUSTOM_ROLE) != set(CUSTOM_PERMISSIONS):
            fail.append(f"the custom role is {roles.get(CUSTOM_ROLE)} (GET /roles {r.status_code})")
        else:
            ok["custom role"] += 1

        listing = self._all_clients(s, fail)
        known = set(self.clients) | {self.admin["client_id"]}
        # creations without an answer: present (once, by name) or absent; never sent: absent
        unclaimed = {c["client_id"]: c for cid, c in listing.items() if cid not in known}
        by_name: dict[str, list[dict]] = {}
        for c in unclaimed.values():
            by_name.setdefault(c["name"], []).append(c)
        for op in self.ops:
            if op.kind != "create" or op.outcome == ACKED:
                continue
            found = by_name.pop(op.name, [])
            op.happened = bool(found)
            if len(found) > 1:
                fail.append(f"{len(found)} clients named {op.name!r} from one creation")
            if found and op.outcome == UNSENT:
                fail.append(f"a creation that was never sent happened: {op.name!r}")
            if found:
                c = found[0]
                op.client_id = c["client_id"]
                del unclaimed[c["client_id"]]
                if c["role"] != op.role:
                    fail.append(f"in-flight creation {op.name!r} has role {c['role']!r}, asked {op.role!r}")
                self.clients[op.client_id] = ClientRecord(op.client_id, op.name, op.worker, op.role, 1, None)
                known.add(op.client_id)
        for c in unclaimed.values():
            fail.append(f"client {c['client_id']} ({c['name']!r}) exists but nobody was told it was created")

        with ThreadPoolExecutor(4) as pool:
            for extra in pool.map(lambda rec: self._check_client(rec, listing), list(self.clients.values())):
                fail.extend(extra)
        self._check_events(s, fail)
        self._tally_in_flight()
        for cid in [cid for cid, c in self.clients.items() if c.deleted]:
            del self.clients[cid]
        if self.round:
            self.totals.rounds_checked += 1
        if fail:
            raise CrashLoopFailure(self._failure_text(fail), fail)

    def _failure_text(self, fail: list[str]) -> str:
        lines = [f"crash loop (seed {self.seed}, {self.pc.backend}, {self.pc.workdir}) after kill {self.round}:"]
        lines += [f"  - {f}" for f in fail[:60]]
        if len(fail) > 60:
            lines.append(f"  … and {len(fail) - 60} more")
        lines.append("the round's operations:")
        lines += [f"  {o.kind} {o.client_id or o.name} {o.outcome} {o.note}".rstrip() for o in self.ops
                  if o.outcome != ACKED or o.kind != "token"][:200]
        return "\n".join(lines)

    def _all_clients(self, s: requests.Session, fail: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            r = s.get(self.server.url("/api/v1/clients"), params=params, headers=self._auth(), timeout=TIMEOUT)
            if r.status_code != 200:
                fail.append(f"GET /api/v1/clients answered {r.status_code} {r.text[:200]}")
                return out
            body = r.json()
            out.update({c["client_id"]: c for c in body["items"]})
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def _token(self, s: requests.Session, cid: str, secret: str) -> requests.Response:
        self.pc.remember_client(cid, secret)
        return s.post(self.server.token_url, data={"grant_type": "client_credentials"}, auth=(cid, secret), timeout=TIMEOUT)

    def _active(self, s: requests.Session, token: str) -> bool | None:
        self.pc.remember(token)
        r = s.post(self.server.url("/oauth2/introspect"), data={"token": token}, headers=self._auth(), timeout=TIMEOUT)
        return r.json().get("active") if r.status_code == 200 else None

    def _refused(self, s: requests.Session, cid: str, secret: str) -> bool:
        r = self._token(s, cid, secret)
        return r.status_code == 401 and r.headers.get("Content-Type", "").startswith("application/json") \
            and r.json().get("error") == "invalid_client"

    def _check_client(self, c: ClientRecord, listing: dict[str, dict]) -> list[str]:
        fail: list[str] = []
        ok = Counter()
        s = requests.Session()
        p = c.pending
        if p is not None and p.kind == "token":
            p = None  # a token request changes nothing stored
        cid = c.client_id
        gone = cid not in listing
        if c.deleted or gone:
            if not c.deleted:
                if p is not None and p.kind == "delete":
                    p.happened = True
                    if p.outcome == UNSENT:
                        fail.append(f"{cid}: a deletion that was never sent happened")
                else:
                    fail.append(f"{cid} ({c.name!r}): acknowledged client missing (version {c.version}, role {c.role})")
                    c.deleted = True
                    return fail
            elif not gone:
                fail.append(f"{cid}: acknowledged deletion undone, the client is listed")
            c.deleted = True
            r = s.get(self.server.url(f"/api/v1/clients/{cid}"), headers=self._auth(), timeout=TIMEOUT)
            if r.status_code != 404:
                fail.append(f"{cid}: deleted client answers GET with {r.status_code}")
            for secret in [x for x in [c.secret, *c.old_secrets] if x]:
                if not self._refused(s, cid, secret):
                    fail.append(f"{cid}: a deleted client's secret is not refused")
                else:
                    ok["deleted client's secret refused"] += 1
            for t in c.tokens:
                if self._active(s, t.jwt) is not False:
                    fail.append(f"{cid}: a deleted client's token is not inactive")
                else:
                    ok["deleted client's token inactive"] += 1
            ok["deletion kept"] += 1
            self._merge(ok)
            return fail

        r = s.get(self.server.url(f"/api/v1/clients/{cid}"), headers=self._auth(), timeout=TIMEOUT)
        if r.status_code != 200:
            fail.append(f"{cid}: GET answered {r.status_code} {r.text[:200]}")
            return fail
        role, etag = r.json()["role"], r.headers.get("ETag", "")
        version = int(etag.strip('"')) if etag.strip('"').isdigit() else -1
        happened = None
        if p is not None and p.kind == "delete":
            happened = False
            if version != c.version:
                fail.append(f"{cid}: version {version} after a deletion that did not happen, expected {c.version}")
        elif p is not None:
            if version == c.version + 1:
                happened = True
            elif version == c.version:
                happened = False
            else:
                fail.append(f"{cid}: version {version}, expected {c.version} (or {c.version + 1}: {p.kind} {p.outcome})")
            if happened and p.outcome == UNSENT:
                fail.append(f"{cid}: a {p.kind} that was never sent happened")
        elif version != c.version:
            fail.append(f"{cid}: version {version}, expected {c.version} (acknowledged history lost or invented)")
        else:
            ok["version"] += 1
        if p is not None:
            p.happened = happened
        expected_role = p.role if (p is not None and p.kind == "role" and happened) else c.role
        if role != expected_role:
            what = f", in-flight {p.kind} {'happened' if happened else 'did not happen'}" if p else ""
            fail.append(f"{cid}: role {role!r}, expected {expected_role!r}{what}")
        else:
            ok["role"] += 1
        c.role = role if role in ROLES else c.role
        if happened:
            c.version += 1
            if p.kind == "regenerate":
                if c.secret:
                    c.old_secrets = (c.old_secrets + [c.secret])[-self.keep_secrets:]
                c.secret = None
                with self.lock:
                    self.totals.regenerations_lost_secret += 1
            elif p.kind == "revoke":
                c.revokes.append(Revoke(p.sent, self.round_killed))
        # the current secret, then every earlier one
        if c.secret:
            r = self._token(s, cid, c.secret)
            if r.status_code != 200:
                fail.append(f"{cid}: the last acknowledged secret got {r.status_code} {r.text[:200]}")
            else:
                body = r.json()
                self.pc.remember(body["access_token"])
                if set(body.get("scope", "").split()) != self.role_permissions.get(c.role):
                    fail.append(f"{cid}: token scope {body.get('scope')!r} is not role {c.role}'s")
                else:
                    ok["last secret works, scope of its role"] += 1
                cl = claims(body["access_token"])
                c.tokens = (c.tokens + [Token(body["access_token"], cl["iat"], cl["exp"], time.time())])[-self.keep_tokens:]
        for old in c.old_secrets:
            if not self._refused(s, cid, old):
                fail.append(f"{cid}: an earlier secret is not refused with 401 invalid_client")
            else:
                ok["earlier secret refused"] += 1
        # tokens
        now = time.time()
        c.tokens = [t for t in c.tokens if t.exp > now + 30]
        for t in c.tokens:
            must_be_inactive = any(rv.sent > t.answered for rv in c.revokes)
            must_be_active = all(t.iat > math.floor(rv.answered) for rv in c.revokes)
            if not (must_be_active or must_be_inactive):
                with self.lock:
                    self.totals.tokens_undecided += 1
                continue
            active = self._active(s, t.jwt)
            if active is None:
                fail.append(f"{cid}: introspection failed")
            elif must_be_inactive and active:
                fail.append(f"{cid}: a token answered before a revoke-tokens was sent is still active (iat {t.iat})")
            elif must_be_active and not active:
                fail.append(f"{cid}: a token issued after every revoke-tokens is inactive (iat {t.iat})")
            else:
                ok["token revoked" if must_be_inactive else "token active"] += 1
        # a revocation that decides nothing about any token kept, nor about one issued from now on
        # (its second is over), is no longer needed
        c.revokes = [rv for rv in c.revokes if rv.answered > time.time() - 2
                     or any(rv.sent > t.answered or t.iat <= math.floor(rv.answered) for t in c.tokens)]
        c.pending = None
        self._merge(ok)
        return fail

    def _merge(self, ok: Counter) -> None:
        with self.lock:
            self.totals.checks.update(ok)

    def _check_events(self, s: requests.Session, fail: list[str]) -> None:
        if not self.round:
            return
        expected: Counter = Counter()
        for op in self.ops:
            if op.kind in EVENT_KIND and (op.outcome == ACKED or op.happened):
                expected[(op.client_id, EVENT_KIND[op.kind])] += 1
        actual: Counter = Counter()
        actor = f"client:{self.admin['client_id']}"
        for kind in EVENT_KIND.values():
            cursor = None
            while True:
                params = {"kind": kind, "since": utc(self.round_started), "until": utc(self.round_killed), "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                r = s.get(self.server.url("/api/v1/events"), params=params, headers=self._auth(), timeout=TIMEOUT)
                if r.status_code != 200:
                    fail.append(f"GET /api/v1/events?kind={kind} answered {r.status_code} {r.text[:200]}")
                    break
                body = r.json()
                for e in body["items"]:
                    actual[(e["client_id"], kind)] += 1
                    if e.get("actor") != actor:
                        fail.append(f"{kind} event of {e['client_id']} by {e.get('actor')}, expected {actor}")
                cursor = body.get("next_cursor")
                if not cursor:
                    break
        for key in sorted(set(expected) | set(actual), key=str):
            if expected[key] != actual[key]:
                fail.append(f"{key[0]}: {actual[key]} {key[1]} event(s) in round {self.round}, expected {expected[key]}")
            else:
                self.totals.checks["change events"] += expected[key]

    def _tally_in_flight(self) -> None:
        for op in self.ops:
            if op.outcome == IN_FLIGHT and op.kind != "token":
                if op.happened:
                    self.totals.in_flight_happened[op.kind] += 1
                elif op.happened is False:
                    self.totals.in_flight_not_happened[op.kind] += 1
