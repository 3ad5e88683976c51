"""POST /api/v1/clients/bulk over HTTP: enable, disable or delete many clients at once, what happened
to each, the token endpoint seeing it at once, one change event per client changed, permissions, and
bad input that changes nothing. Also `portcullis clients disable A B` against a running server."""

import time
import uuid

import requests

from conftest import get_token, token_request

BULK = "/api/v1/clients/bulk"


# --- helpers ----------------------------------------------------------------------------------

def bulk(server, token: str | None, body=None, **kw) -> requests.Response:
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        kw["json"] = body
    return requests.post(server.url(BULK), headers=headers, timeout=30, **kw)


def bulk_ok(server, token: str, action: str, ids: list[str]) -> dict:
    r = bulk(server, token, {"action": action, "client_ids": ids})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"action", "results", "summary"}, body
    assert body["action"] == action
    assert set(body["summary"]) == {"done", "not_found", "already_in_state"}, body
    for item in body["results"]:
        assert set(item) == {"client_id", "result"}, item
    return body


def results(body: dict) -> list[tuple[str, str]]:
    return [(r["client_id"], r["result"]) for r in body["results"]]


def assert_problem(r: requests.Response, status: int, kind: str, field: str | None = None) -> dict:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/problem+json", r.headers
    p = r.json()
    assert p["type"] == f"urn:portcullis:problem:{kind}", p
    assert p["status"] == status, p
    assert isinstance(p["title"], str) and p["title"], p
    assert isinstance(p["detail"], str) and p["detail"], p
    assert p.get("field") == field, p
    return p


def admin_token(portcullis, server, client: dict, scope: str | None = None) -> str:
    extra = {"scope": scope} if scope else {}
    return get_token(portcullis, server, client, **extra)["access_token"]


def statuses(server, token: str) -> dict[str, str]:
    """Every client's status, by id."""
    out, cursor = {}, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = requests.get(server.url("/api/v1/clients"), params=params, headers={"Authorization": f"Bearer {token}"},
                         timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        out.update({c["client_id"]: c["status"] for c in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def create_clients(portcullis, server, token: str, n: int, role: str | None = None) -> list[dict]:
    """`n` clients made over the API, with their secrets."""
    made = []
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        for i in range(n):
            body = {"name": f"bulk {i}", **({"role": role} if role else {})}
            r = http.post(server.url("/api/v1/clients"), json=body, timeout=10)
            assert r.status_code == 201, r.text
            created = r.json()
            portcullis.remember_client(created["client"]["client_id"], created["client_secret"])
            made.append({"client_id": created["client"]["client_id"], "client_secret": created["client_secret"]})
    return made


def token_status(server, client: dict) -> tuple[int, str | None]:
    r = token_request(server, auth=(client["client_id"], client["client_secret"]))
    return r.status_code, (r.json().get("error") if r.status_code != 200 else None)


def change_events(server, token: str, kind: str, want: int, within: float = 5.0) -> list[dict]:
    """The change events of `kind`, oldest first, once at least `want` are written (every 200 ms)."""
    deadline = time.monotonic() + within
    while True:
        events, cursor = [], None
        while True:
            params = {"kind": kind, "limit": 200, **({"cursor": cursor} if cursor else {})}
            r = requests.get(server.url("/api/v1/events"), params=params,
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 200, r.text
            page = r.json()
            events += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        if len(events) >= want or time.monotonic() > deadline:
            return list(reversed(events))
        time.sleep(0.1)


# --- what happens to each client ---------------------------------------------------------------

def test_each_client_is_reported_once_in_the_order_given(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    a, b, off = (c["client_id"] for c in create_clients(portcullis, server, token, 3))
    assert bulk_ok(server, token, "disable", [off])["summary"]["done"] == 1
    unknown = str(uuid.uuid4())

    body = bulk_ok(server, token, "disable", [a, unknown, off, b, a, a.upper(), unknown])
    assert results(body) == [(a, "done"), (unknown, "not_found"), (off, "already_in_state"), (b, "done")]
    assert body["summary"] == {"done": 2, "not_found": 1, "already_in_state": 1}
    now = statuses(server, token)
    assert (now[a], now[b], now[off], now[admin_client["client_id"]]) == ("disabled", "disabled", "disabled", "enabled")

    body = bulk_ok(server, token, "enable", [b, admin_client["client_id"]])
    assert results(body) == [(b, "done"), (admin_client["client_id"], "already_in_state")]

    body = bulk_ok(server, token, "delete", [off, unknown, b])
    assert results(body) == [(off, "done"), (unknown, "not_found"), (b, "done")]
    assert body["summary"] == {"done": 2, "not_found": 1, "already_in_state": 0}
    now = statuses(server, token)
    assert off not in now and b not in now and now[a] == "disabled"


def test_the_token_endpoint_sees_a_bulk_disable_at_once(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    clients = create_clients(portcullis, server, token, 3, role="viewer")
    their_tokens = [get_token(portcullis, server, c)["access_token"] for c in clients]
    for t in their_tokens:  # warm the server's caches
        assert requests.get(server.url("/api/v1/clients"), headers={"Authorization": f"Bearer {t}"},
                            timeout=10).status_code == 200

    bulk_ok(server, token, "disable", [c["client_id"] for c in clients[:2]])
    for c, t in zip(clients[:2], their_tokens[:2]):
        assert token_status(server, c) == (401, "invalid_client")
        r = requests.get(server.url("/api/v1/clients"), headers={"Authorization": f"Bearer {t}"}, timeout=10)
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], r.text
    assert token_status(server, clients[2]) == (200, None), "not listed"

    bulk_ok(server, token, "enable", [c["client_id"] for c in clients[:2]])
    assert token_status(server, clients[0]) == (200, None), "the same secret works again"

    bulk_ok(server, token, "delete", [clients[0]["client_id"]])
    assert token_status(server, clients[0]) == (401, "invalid_client")


def test_each_client_changed_gets_one_change_event_naming_the_caller(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    a, b, c = (x["client_id"] for x in create_clients(portcullis, server, token, 3))
    unknown = str(uuid.uuid4())
    bulk_ok(server, token, "disable", [c, a, unknown])
    bulk_ok(server, token, "disable", [a, b])  # a: already disabled
    bulk_ok(server, token, "delete", [b, unknown])

    actor = f"client:{admin_client['client_id']}"
    disabled = change_events(server, token, "client.disabled", 3)
    assert [(e["client_id"], e["actor"]) for e in disabled] == [(c, actor), (a, actor), (b, actor)]
    deleted = change_events(server, token, "client.deleted", 1)
    assert [(e["client_id"], e["actor"]) for e in deleted] == [(b, actor)]
    detail = requests.get(server.url(f"/api/v1/events/{disabled[0]['event_id']}"),
                          headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert detail["details"] == {"status": {"from": "enabled", "to": "disabled"}}, detail
    assert detail["method"] is None and detail["status"] is None, "a change, not a request"
    time.sleep(0.5)  # anything else would have been written by now
    assert len(change_events(server, token, "client.disabled", 3)) == 3, "none for not_found or already_in_state"
    assert change_events(server, token, "client.enabled", 0) == []


def test_a_thousand_ids_are_accepted_and_a_thousand_and_one_refused(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    made = create_clients(portcullis, server, token, 1000)
    ids = [c["client_id"] for c in made]

    for action in ("enable", "disable", "delete"):
        p = assert_problem(bulk(server, token, {"action": action, "client_ids": ids + [str(uuid.uuid4())]}),
                           400, "invalid-field", "client_ids")
        assert "1000" in p["detail"], p
    assert set(statuses(server, token).values()) == {"enabled"}, "nothing changed"

    body = bulk_ok(server, token, "disable", list(reversed(ids)))
    assert results(body) == [(i, "done") for i in reversed(ids)]
    assert body["summary"] == {"done": 1000, "not_found": 0, "already_in_state": 0}
    for c in (made[0], made[500], made[999]):
        assert token_status(server, c) == (401, "invalid_client")
    body = bulk_ok(server, token, "delete", ids)
    assert body["summary"]["done"] == 1000
    assert list(statuses(server, token)) == [admin_client["client_id"]]


# --- who may ---------------------------------------------------------------------------------

def test_bulk_needs_clients_write(portcullis, server, admin_client):
    target = portcullis.create_client(name="target", role=None)
    viewer = portcullis.create_client(name="viewer", role="viewer")
    body = {"action": "delete", "client_ids": [target["client_id"]]}

    r = bulk(server, None, body)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="portcullis"'
    r = bulk(server, "not-a-token", body)
    assert_problem(r, 401, "unauthorized")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]

    for token in (admin_token(portcullis, server, viewer),
                  admin_token(portcullis, server, admin_client, scope="clients:read")):
        r = bulk(server, token, body)
        p = assert_problem(r, 403, "insufficient-scope")
        assert p["required_permission"] == "clients:write"
        assert r.headers["WWW-Authenticate"] == \
            'Bearer realm="portcullis", error="insufficient_scope", scope="clients:write"'
        # the permission is checked before the body is looked at
        assert_problem(bulk(server, token, data="{not json", headers={"Content-Type": "application/json"}),
                       403, "insufficient-scope")
    token = admin_token(portcullis, server, admin_client, scope="clients:read clients:write")
    assert statuses(server, token)[target["client_id"]] == "enabled", "nothing changed"
    assert results(bulk_ok(server, token, "delete", [target["client_id"]])) == [(target["client_id"], "done")]


# --- bad input ---------------------------------------------------------------------------------

def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    target = create_clients(portcullis, server, token, 1)[0]["client_id"]
    before = statuses(server, token)
    cases = [
        ({"action": "explode", "client_ids": [target]}, "invalid-field", "action"),
        ({"action": "DELETE", "client_ids": [target]}, "invalid-field", "action"),
        ({"action": None, "client_ids": [target]}, "invalid-field", "action"),
        ({"action": ["delete"], "client_ids": [target]}, "invalid-field", "action"),
        ({"client_ids": [target]}, "invalid-field", "action"),
        ({"action": "delete"}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": []}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": None}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": target}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": {"0": target}}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": [str(uuid.uuid4()) for _ in range(1001)]}, "invalid-field", "client_ids"),
        ({"action": "delete", "client_ids": [target, "not-a-uuid"]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target, target.replace("-", "")]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target, f" {target}"]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target, ""]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target, 42]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target, None]}, "invalid-field", "client_ids[1]"),
        ({"action": "delete", "client_ids": [target], "dry_run": True}, "invalid-field", "dry_run"),
        ([{"action": "delete", "client_ids": [target]}], "malformed-body", None),
        ("delete", "malformed-body", None),
    ]
    for body, kind, field in cases:
        assert_problem(bulk(server, token, body), 400, kind, field)

    json_type = {"Content-Type": "application/json"}
    delete_target = '{"action": "delete", "client_ids": ["%s"]}' % target
    assert_problem(bulk(server, token, data="{not json", headers=json_type), 400, "malformed-body")
    assert_problem(bulk(server, token, data=delete_target + " []", headers=json_type), 400, "malformed-body")
    assert_problem(bulk(server, token, data=delete_target, headers={"Content-Type": "text/plain"}),
                   415, "unsupported-media-type")
    assert_problem(bulk(server, token, data={"action": "delete", "client_ids": target}), 415,
                   "unsupported-media-type")
    padded = '{"action": "delete", "client_ids": ["%s"], "pad": "%s"}' % (target, "x" * 70_000)
    assert_problem(bulk(server, token, data=padded, headers=json_type), 413, "payload-too-large")
    assert_problem(bulk(server, token), 400, "invalid-field", "action")

    assert statuses(server, token) == before, "nothing changed"
    time.sleep(0.5)  # a change event would have been written by now
    assert change_events(server, token, "client.deleted", 0) == []
    r = requests.get(server.url(BULK), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 405, r.text


# --- the CLI --------------------------------------------------------------------------------------

def test_cli_disables_several_clients_and_a_running_server_refuses_them(portcullis, server, admin_client):
    a = portcullis.create_client(name="a", role=None)
    b = portcullis.create_client(name="b", role=None)
    get_token(portcullis, server, a)
    get_token(portcullis, server, b)

    out = portcullis.cli("clients", "disable", a["client_id"], b["client_id"]).stdout.decode()
    assert out.splitlines() == [f"Disabled client {a['client_id']} (a)", f"Disabled client {b['client_id']} (b)"]
    # SQLite: the very next request; PostgreSQL: once the NOTIFY from the CLI's commit arrives.
    deadline = time.monotonic() + (0 if portcullis.backend == "sqlite" else 2.0)
    while True:
        seen = [token_status(server, c) for c in (a, b)]
        if seen == [(401, "invalid_client")] * 2 or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert seen == [(401, "invalid_client")] * 2

    unknown = str(uuid.uuid4())
    proc = portcullis.cli("clients", "delete", a["client_id"], unknown, check=False)
    assert proc.returncode != 0
    assert f"no client with id {unknown}" in portcullis.log_text()
    assert [c["client_id"] for c in portcullis.cli_json("clients", "list")] == \
        [b["client_id"], admin_client["client_id"]], "a was deleted all the same"
