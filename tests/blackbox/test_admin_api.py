"""The admin REST API under /api/v1: bearer auth, permissions, problem+json errors, client lifecycle,
token revocation per client, signing-key rotation and last-used times."""

import re
import time
from datetime import datetime, timezone

import jwt
import pytest
import requests

from conftest import (
    ADMIN_SCOPES,
    SECRET_RE,
    VIEWER_SCOPES,
    _backends,
    basic,
    discover,
    get_token,
    token_request,
    verify,
    well_formed_secret,
)

API = "/api/v1"
UNKNOWN_ID = "6f1c2a3e-9b7d-4c1e-8f00-123456789abc"
ISSUER = "https://auth.example.test"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
CLIENT_FIELDS = {"client_id", "name", "description", "status", "role", "access_token_ttl_seconds", "created_at",
                 "last_used_at"}


# --- helpers ----------------------------------------------------------------------------------

def api(server, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, server.url(API + path), headers=headers, timeout=10, **kw)


def ok(r: requests.Response, status: int = 200):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    return r.json() if r.content else None


def assert_problem(r: requests.Response, status: int, kind: str | None = None, field: str | None = None) -> dict:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/problem+json", r.headers
    p = r.json()
    assert p["status"] == status, p
    assert p["type"].startswith("urn:portcullis:problem:"), p
    if kind is not None:
        assert p["type"] == f"urn:portcullis:problem:{kind}", p
    assert isinstance(p["title"], str) and p["title"], p
    assert isinstance(p["detail"], str) and p["detail"], p
    if field is not None:
        assert p.get("field") == field, p
    return p


def parse_time(value: str) -> float:
    assert RFC3339_UTC.match(value), f"not RFC 3339 UTC with Z: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


def assert_client_shape(c: dict):
    assert set(c) == CLIENT_FIELDS, c
    assert c["status"] in ("enabled", "disabled")
    parse_time(c["created_at"])
    if c["last_used_at"] is not None:
        parse_time(c["last_used_at"])


def access_token(portcullis, server, client, **data) -> str:
    return get_token(portcullis, server, client, **data)["access_token"]


def create_via_api(portcullis, server, token: str, **body) -> dict:
    created = ok(api(server, "POST", "/clients", token, json=body), 201)
    portcullis.remember_client(created["client"]["client_id"], created["client_secret"])
    return created


def list_all(server, token: str, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        page = ok(api(server, "GET", "/clients", token, params=q))
        assert set(page) == {"items", "next_cursor"}, page
        items += page["items"]
        cursor = page["next_cursor"]
        pages += 1
        assert pages < 50, "pagination does not end"
        if cursor is None:
            return items


# --- authentication and permissions --------------------------------------------------------------

def test_missing_or_invalid_bearer_token_is_401_with_a_bearer_challenge(portcullis, server, admin_client):
    r = api(server, "GET", "/clients")
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="portcullis"'
    token = access_token(portcullis, server, admin_client)
    head, payload, sig = token.split(".")
    for name, value in {
        "Basic client credentials": basic(admin_client["client_id"], admin_client["client_secret"]),
        "empty Bearer": "Bearer",
        "garbage token": "Bearer not-a-token",
        "tampered token": f"Bearer {head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}",
        "a client secret as the token": f"Bearer {admin_client['client_secret']}",
    }.items():
        r = api(server, "GET", "/clients", headers={"Authorization": value})
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        assert_problem(r, 401)
        assert r.headers.get("WWW-Authenticate", "").startswith('Bearer realm="portcullis"'), f"{name}: {r.headers}"
    ok(api(server, "GET", "/clients", token))


def test_missing_permission_is_403_insufficient_scope(portcullis, server, admin_client):
    viewer = portcullis.create_client(name="viewer", role="viewer")
    rs = portcullis.create_client(name="resource server", role="resource-server")
    viewer_token = access_token(portcullis, server, viewer)
    rs_token = access_token(portcullis, server, rs)
    narrow = access_token(portcullis, server, admin_client, scope="clients:read")

    ok(api(server, "GET", "/clients", viewer_token))
    ok(api(server, "GET", "/clients", narrow))
    for token, method, path, body in [
        (viewer_token, "POST", "/clients", {"name": "nope"}),
        (viewer_token, "PATCH", f"/clients/{viewer['client_id']}", {"name": "renamed"}),
        (viewer_token, "POST", f"/clients/{viewer['client_id']}/secret", None),
        (viewer_token, "POST", "/keys/rotate", None),
        (viewer_token, "DELETE", f"/clients/{rs['client_id']}", None),
        (narrow, "POST", "/clients", {"name": "nope"}),
        (narrow, "POST", f"/clients/{viewer['client_id']}/token", {}),
        (rs_token, "GET", "/clients", None),
        (rs_token, "GET", f"/clients/{rs['client_id']}", None),
    ]:
        r = api(server, method, path, token, json=body)
        assert_problem(r, 403, "insufficient-scope")
    # nothing was changed
    listed = {c["client_id"]: c for c in portcullis.cli_json("clients", "list")}
    assert len(listed) == 3 and listed[viewer["client_id"]]["name"] == "viewer"
    get_token(portcullis, server, viewer)


def test_openapi_document_is_served_without_authentication(server):
    r = requests.get(server.url("/api/v1/openapi.json"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"]), doc["openapi"]
    assert {"/api/v1/clients", "/api/v1/clients/{client_id}", "/api/v1/keys/rotate"} <= set(doc["paths"])


# --- client lifecycle -----------------------------------------------------------------------------

def test_client_lifecycle_over_the_api(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    before = time.time()
    created = create_via_api(portcullis, server, token, name="billing", description="nightly billing job",
                             role="viewer", access_token_ttl_seconds=600)
    assert set(created) == {"client", "client_secret"}
    assert SECRET_RE.match(created["client_secret"])
    c = created["client"]
    assert_client_shape(c)
    cid = c["client_id"]
    assert (c["name"], c["description"], c["status"], c["role"], c["access_token_ttl_seconds"]) == \
        ("billing", "nightly billing job", "enabled", "viewer", 600)
    assert before - 2 <= parse_time(c["created_at"]) <= time.time() + 2
    assert c["last_used_at"] is None

    # the new credentials work at the token endpoint, and the CLI sees the client
    issued = get_token(portcullis, server, {"client_id": cid, "client_secret": created["client_secret"]})
    assert issued["expires_in"] == 600 and set(issued["scope"].split()) == VIEWER_SCOPES
    assert cid in {x["client_id"] for x in portcullis.cli_json("clients", "list")}

    got = ok(api(server, "GET", f"/clients/{cid}", token))
    assert {k: got[k] for k in CLIENT_FIELDS - {"last_used_at"}} == {k: c[k] for k in CLIENT_FIELDS - {"last_used_at"}}
    assert "client_secret" not in got

    # defaults: no description, no role, one hour
    minimal = create_via_api(portcullis, server, token, name="minimal")["client"]
    assert (minimal["description"], minimal["role"], minimal["access_token_ttl_seconds"]) == (None, None, 3600)

    patched = ok(api(server, "PATCH", f"/clients/{cid}", token,
                     json={"name": "billing v2", "role": "admin", "access_token_ttl_seconds": 120}))
    assert (patched["name"], patched["description"], patched["role"], patched["access_token_ttl_seconds"]) == \
        ("billing v2", "nightly billing job", "admin", 120)
    issued = get_token(portcullis, server, {"client_id": cid, "client_secret": created["client_secret"]})
    assert issued["expires_in"] == 120 and set(issued["scope"].split()) == ADMIN_SCOPES

    cleared = ok(api(server, "PATCH", f"/clients/{cid}", token, json={"description": None, "role": None}))
    assert (cleared["name"], cleared["description"], cleared["role"]) == ("billing v2", None, None)

    assert ok(api(server, "PATCH", f"/clients/{cid}", token, json={"status": "disabled"}))["status"] == "disabled"
    r = token_request(server, auth=(cid, created["client_secret"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert ok(api(server, "PATCH", f"/clients/{cid}", token, json={"status": "enabled"}))["status"] == "enabled"
    get_token(portcullis, server, {"client_id": cid, "client_secret": created["client_secret"]})

    r = api(server, "DELETE", f"/clients/{cid}", token)
    assert r.status_code in (200, 204), r.text
    assert_problem(api(server, "GET", f"/clients/{cid}", token), 404)
    assert_problem(api(server, "DELETE", f"/clients/{cid}", token), 404)
    assert_problem(api(server, "PATCH", f"/clients/{cid}", token, json={"name": "ghost"}), 404)
    r = token_request(server, auth=(cid, created["client_secret"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert cid not in {x["client_id"] for x in portcullis.cli_json("clients", "list")}


def test_unknown_or_malformed_client_id_is_a_problem(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    for method, suffix, body in [("GET", "", None), ("PATCH", "", {"name": "x"}), ("DELETE", "", None),
                                 ("POST", "/secret", None), ("POST", "/token", {}), ("POST", "/revoke-tokens", None)]:
        assert_problem(api(server, method, f"/clients/{UNKNOWN_ID}{suffix}", token, json=body), 404)
        r = api(server, method, f"/clients/not-a-uuid{suffix}", token, json=body)
        assert r.status_code in (400, 404), r.text
        assert_problem(r, r.status_code)


def test_invalid_create_request_names_the_field(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    for name, body, field in [
        ("missing name", {}, "name"),
        ("empty name", {"name": ""}, "name"),
        ("name too long", {"name": "x" * 201}, "name"),
        ("name not a string", {"name": 42}, "name"),
        ("description too long", {"name": "ok", "description": "x" * 2001}, "description"),
        ("unknown role", {"name": "ok", "role": "no-such-role"}, "role"),
        ("ttl too short", {"name": "ok", "access_token_ttl_seconds": 59}, "access_token_ttl_seconds"),
        ("ttl too long", {"name": "ok", "access_token_ttl_seconds": 86401}, "access_token_ttl_seconds"),
        ("ttl a string", {"name": "ok", "access_token_ttl_seconds": "600"}, "access_token_ttl_seconds"),
        ("unknown field", {"name": "ok", "colour": "red"}, "colour"),
    ]:
        r = api(server, "POST", "/clients", token, json=body)
        assert r.status_code == 400 and r.json().get("field") == field, f"{name}: {r.status_code} {r.text}"
        assert_problem(r, 400, field=field)
    assert [c["client_id"] for c in portcullis.cli_json("clients", "list")] == [admin_client["client_id"]]


def test_malformed_bodies_are_problems_and_change_nothing(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    cid = admin_client["client_id"]
    for name, kw in {
        "broken JSON": dict(data=b'{"name": ', headers={"Content-Type": "application/json"}),
        "a JSON array": dict(data=b'["x"]', headers={"Content-Type": "application/json"}),
        "form-encoded": dict(data={"name": "x"}),
        "text/plain": dict(data=b'{"name": "x"}', headers={"Content-Type": "text/plain"}),
    }.items():
        r = api(server, "POST", "/clients", token, **kw)
        assert r.status_code in (400, 415), f"{name}: {r.status_code} {r.text}"
        assert_problem(r, r.status_code)
    for body, field in [({"name": None}, "name"), ({"status": "paused"}, "status"),
                        ({"access_token_ttl_seconds": 10}, "access_token_ttl_seconds"),
                        ({"role": "no-such-role"}, "role"), ({"client_id": UNKNOWN_ID}, "client_id")]:
        assert_problem(api(server, "PATCH", f"/clients/{cid}", token, json=body), 400, field=field)
    [only] = portcullis.cli_json("clients", "list")
    assert (only["name"], only["status"], only["role"]) == ("admin client", "enabled", "admin")


def test_list_filters_by_status_and_name_and_pages_without_gaps(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    ids = {}
    for name in ("Alpha one", "alpha two", "ALPHA three", "beta four", "beta five", "50% off", "under_score", "ÄRGER"):
        ids[name] = create_via_api(portcullis, server, token, name=name, role="viewer")["client"]["client_id"]
    ok(api(server, "PATCH", f"/clients/{ids['beta five']}", token, json={"status": "disabled"}))
    everyone = set(ids.values()) | {admin_client["client_id"]}

    first = ok(api(server, "GET", "/clients", token, params={"limit": 2}))
    assert len(first["items"]) == 2 and first["next_cursor"]
    paged = list_all(server, token, limit=2)
    assert [c["client_id"] for c in paged].count(paged[0]["client_id"]) == 1
    assert len(paged) == len(everyone) and {c["client_id"] for c in paged} == everyone
    for c in paged:
        assert_client_shape(c)
        assert "client_secret" not in c
    assert {c["client_id"] for c in list_all(server, token)} == everyone

    assert {c["client_id"] for c in list_all(server, token, status="disabled")} == {ids["beta five"]}
    assert {c["client_id"] for c in list_all(server, token, status="enabled", limit=1)} == everyone - {ids["beta five"]}
    assert {c["client_id"] for c in list_all(server, token, q="alpha", limit=2)} == \
        {ids["Alpha one"], ids["alpha two"], ids["ALPHA three"]}
    assert {c["client_id"] for c in list_all(server, token, q="BETA", status="enabled")} == {ids["beta four"]}
    assert list_all(server, token, q="no such name") == []
    # q is a plain substring: LIKE wildcards match only themselves; case folding is not ASCII-only
    assert {c["name"] for c in list_all(server, token, q="%")} == {"50% off"}
    assert {c["name"] for c in list_all(server, token, q="_")} == {"under_score"}
    assert {c["name"] for c in list_all(server, token, q="ärger")} == {"ÄRGER"}

    assert_problem(api(server, "GET", "/clients", token, params={"cursor": "not-a-cursor"}), 400)
    assert_problem(api(server, "GET", "/clients", token, params={"status": "paused"}), 400)


def test_regenerated_secret_replaces_the_old_one(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    target = portcullis.create_client(name="target", role="viewer")
    fresh = ok(api(server, "POST", f"/clients/{target['client_id']}/secret", token))
    assert set(fresh) == {"client_id", "client_secret"}
    portcullis.remember_client(fresh["client_id"], fresh["client_secret"])
    assert fresh["client_id"] == target["client_id"]
    assert SECRET_RE.match(fresh["client_secret"]) and fresh["client_secret"] != target["client_secret"]
    r = token_request(server, auth=(target["client_id"], target["client_secret"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    get_token(portcullis, server, fresh)


def test_api_issues_a_token_for_a_client(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    target = portcullis.create_client(name="target", role="viewer", ttl=300)
    meta = discover(server)

    r = api(server, "POST", f"/clients/{target['client_id']}/token", token, json={"scope": "clients:read"})
    issued = ok(r)
    portcullis.remember(issued["access_token"])
    assert (issued["token_type"], issued["expires_in"], issued["scope"]) == ("Bearer", 300, "clients:read")
    claims = verify(issued["access_token"], meta, meta["issuer"])
    assert claims["sub"] == claims["client_id"] == target["client_id"]
    assert claims["scope"] == "clients:read"
    ok(api(server, "GET", "/clients", issued["access_token"]))

    full = ok(api(server, "POST", f"/clients/{target['client_id']}/token", token))
    portcullis.remember(full["access_token"])
    assert set(full["scope"].split()) == VIEWER_SCOPES

    r = api(server, "POST", f"/clients/{target['client_id']}/token", token, json={"scope": "clients:write"})
    assert r.status_code == 400, r.text
    assert "access_token" not in r.text
    assert_problem(r, 400)


# --- revoking every token of a client ---------------------------------------------------------------

def test_revoke_tokens_revokes_current_tokens_and_later_tokens_work(portcullis, server, admin_client):
    token = access_token(portcullis, server, admin_client)
    rs = portcullis.create_client(name="orders api", role="resource-server")
    target = portcullis.create_client(name="target", role="viewer")
    by_secret = access_token(portcullis, server, target)
    by_api = ok(api(server, "POST", f"/clients/{target['client_id']}/token", token))["access_token"]
    portcullis.remember(by_api)
    for t in (by_secret, by_api):
        ok(api(server, "GET", "/clients", t))

    c = ok(api(server, "POST", f"/clients/{target['client_id']}/revoke-tokens", token))
    assert c["client_id"] == target["client_id"] and c["status"] == "enabled"

    for t in (by_secret, by_api):
        assert_problem(api(server, "GET", "/clients", t), 401)
        r = requests.post(server.url("/oauth2/introspect"), data={"token": t}, auth=(rs["client_id"], rs["client_secret"]),
                          timeout=10)
        assert r.status_code == 200 and r.json() == {"active": False}, r.text
    # other clients' tokens are untouched
    ok(api(server, "GET", "/clients", token))

    time.sleep(1.1)  # revocation covers tokens issued up to and including its second
    later = access_token(portcullis, server, target)
    ok(api(server, "GET", "/clients", later))
    r = requests.post(server.url("/oauth2/introspect"), data={"token": later}, auth=(rs["client_id"], rs["client_secret"]),
                      timeout=10)
    assert r.status_code == 200 and r.json()["active"] is True, r.text


# --- signing keys ------------------------------------------------------------------------------------

def local_meta(server) -> dict:
    """The server's metadata with its endpoints on the real address (the issuer may be configured)."""
    return dict(discover(server), jwks_uri=server.url("/.well-known/jwks.json"),
                introspection_endpoint=server.url("/oauth2/introspect"))


def jwks_kids(meta) -> set[str]:
    return {k["kid"] for k in requests.get(meta["jwks_uri"], timeout=10).json()["keys"]}


def assert_rotated(portcullis, server, client, old_token: str, new_kid: str):
    meta = local_meta(server)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert new_kid != old_kid
    fresh = access_token(portcullis, server, client)
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid, "the next token is not signed with the new key"
    assert {old_kid, new_kid} <= jwks_kids(meta)
    # tokens signed with the old key still verify with the published keys, and are still active
    assert verify(old_token, meta, meta["issuer"])["sub"] == client["client_id"]
    assert verify(fresh, meta, meta["issuer"])["sub"] == client["client_id"]
    r = requests.post(meta["introspection_endpoint"], data={"token": old_token},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    ok(api(server, "GET", "/clients", old_token))
    ok(api(server, "GET", "/clients", fresh))


def test_key_rotation_over_the_api(portcullis, admin_client):
    server = portcullis.start("--issuer", ISSUER)
    token = access_token(portcullis, server, admin_client)
    rotated = ok(api(server, "POST", "/keys/rotate", token))
    assert set(rotated) == {"kid"}
    assert_rotated(portcullis, server, admin_client, token, rotated["kid"])

    # after a restart the new key is still the signing key and the old one still published
    assert server.stop() == 0
    again = portcullis.start("--issuer", ISSUER)
    assert jwt.get_unverified_header(access_token(portcullis, again, admin_client))["kid"] == rotated["kid"]
    assert {jwt.get_unverified_header(token)["kid"], rotated["kid"]} <= jwks_kids(local_meta(again))
    ok(api(again, "GET", "/clients", token))


def test_cli_key_rotation_reaches_the_running_server(portcullis, server, admin_client):
    meta = discover(server)
    token = access_token(portcullis, server, admin_client)
    kids = jwks_kids(meta)
    # the key that signs after the rotation is published before it (issue 11 §5)
    pre_published = kids - {jwt.get_unverified_header(token)["kid"]}
    assert len(pre_published) == 1, kids
    portcullis.cli("keys", "rotate")
    # The server learns of the CLI's commit through the database's change feed (for PostgreSQL
    # LISTEN/NOTIFY, a few milliseconds later): wait until it publishes the new key ...
    deadline = time.monotonic() + 2
    while not (new := jwks_kids(meta) - kids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(new) == 1, f"JWKS before {kids}, after {jwks_kids(meta)}"
    # ... after which its very next token is signed with the key published before the rotation
    assert_rotated(portcullis, server, admin_client, token, pre_published.pop())


# --- last_used_at ------------------------------------------------------------------------------------

def last_used(portcullis, client_id: str):
    return {c["client_id"]: c for c in portcullis.cli_json("clients", "list")}[client_id]["last_used_at"]


def test_last_used_at_is_written_at_graceful_shutdown(portcullis):
    used = portcullis.create_client(name="used", role="admin")
    idle = portcullis.create_client(name="idle", role="viewer")
    rs = portcullis.create_client(name="resource server", role="resource-server")
    server = portcullis.start()
    assert last_used(portcullis, used["client_id"]) is None

    at = time.time()
    token = get_token(portcullis, server, used)["access_token"]
    # authenticating at the introspection endpoint is a use too
    r = requests.post(server.url("/oauth2/introspect"), data={"token": token}, auth=(rs["client_id"], rs["client_secret"]),
                      timeout=10)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    bad = well_formed_secret()
    portcullis.remember(bad)
    assert token_request(server, auth=(idle["client_id"], bad)).status_code == 401
    assert server.stop() == 0

    stamp = last_used(portcullis, used["client_id"])
    assert stamp is not None, "last_used_at was not written at shutdown"
    assert at - 2 <= parse_time(stamp) <= time.time() + 1, stamp
    assert last_used(portcullis, idle["client_id"]) is None, "a failed authentication counted as a use"
    introspected = last_used(portcullis, rs["client_id"])
    assert introspected is not None and at - 2 <= parse_time(introspected) <= time.time() + 1, introspected

    again = portcullis.start()
    token = access_token(portcullis, again, used)
    shown = ok(api(again, "GET", f"/clients/{used['client_id']}", token))["last_used_at"]
    assert shown is not None and parse_time(shown) >= parse_time(stamp)
    assert ok(api(again, "GET", f"/clients/{idle['client_id']}", token))["last_used_at"] is None


# Waiting for the 5 s timer is most of this suite's run time; the timer does not depend on the
# store, and the store's write of last-used times runs on every backend in the shutdown test above.
@pytest.mark.parametrize("portcullis", _backends()[:1], indirect=True)
def test_last_used_at_is_flushed_periodically_while_serving(portcullis, server, admin_client):
    target = portcullis.create_client(name="target", role="viewer")
    at = time.time()
    get_token(portcullis, server, target)
    deadline = time.monotonic() + 8
    while (stamp := last_used(portcullis, target["client_id"])) is None:
        assert time.monotonic() < deadline, "last_used_at not written within 8 s while the server runs"
        time.sleep(0.5)
    assert server.proc.poll() is None
    assert at - 2 <= parse_time(stamp) <= time.time() + 1, stamp
    token = access_token(portcullis, server, admin_client)
    shown = ok(api(server, "GET", f"/clients/{target['client_id']}", token))["last_used_at"]
    assert shown is not None and abs(parse_time(shown) - parse_time(stamp)) <= 1, (shown, stamp)
    listed = {c["client_id"]: c for c in list_all(server, token)}
    assert listed[target["client_id"]]["last_used_at"] is not None
