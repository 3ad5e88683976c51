"""Token introspection (RFC 7662) and revocation (RFC 7009), driven by authlib where it fits."""

import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import (
    RESOURCE_SERVER_SCOPES,
    VIEWER_SCOPES,
    discover,
    get_token,
    verify,
    well_formed_secret,
)

UNKNOWN_ID = "6f1c2a3e-9b7d-4c1e-8f00-123456789abc"
INACTIVE = {"active": False}
METHODS = ["client_secret_basic", "client_secret_post"]


# --- helpers --------------------------------------------------------------------------------

def creds(client: dict) -> tuple[str, str]:
    return client["client_id"], client["client_secret"]


def post_form(url: str, data: dict, *, client: dict | None = None, method: str = "client_secret_basic",
              bearer: str | None = None, headers: dict | None = None) -> requests.Response:
    """A form POST authenticated with client_secret_basic / client_secret_post / a bearer token / nothing."""
    data = dict(data)
    h = dict(headers or {})
    auth = None
    if client is not None:
        if method == "client_secret_basic":
            auth = creds(client)
        else:
            data.update(client_id=client["client_id"], client_secret=client["client_secret"])
    if bearer is not None:
        h["Authorization"] = f"Bearer {bearer}"
    return requests.post(url, data=data, auth=auth, headers=h, timeout=10)


def introspect(server, token: str, **kw) -> requests.Response:
    return post_form(server.url("/oauth2/introspect"), {"token": token}, **kw)


def revoke(server, token: str, **kw) -> requests.Response:
    return post_form(server.url("/oauth2/revoke"), {"token": token}, **kw)


def assert_inactive(r: requests.Response):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == INACTIVE, "an inactive answer must be exactly {\"active\": false}: " + r.text


def assert_active(r: requests.Response, owner: dict) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("active") is True, body
    assert body["client_id"] == owner["client_id"], body
    return body


def assert_oauth_error(r: requests.Response, status: int, error: str):
    assert r.status_code == status, f"expected {status} {error}, got {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.json()["error"] == error, r.text
    assert "active" not in r.json()


def admin_api_status(server, token: str) -> int:
    return requests.get(server.url("/api/v1/clients"), headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def forge_with_unknown_key(token: str) -> str:
    """The same header (kid included) and claims, signed by an Ed25519 key the server never had."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers={"kid": header["kid"], "typ": header["typ"]})


def tamper(token: str) -> str:
    head, payload, sig = token.split(".")
    return f"{head}.{payload}.{('A' if sig[0] != 'A' else 'B')}{sig[1:]}"


# --- discovery ------------------------------------------------------------------------------

def test_discovery_lists_introspection_and_revocation_endpoints(server):
    meta = discover(server)
    assert meta["introspection_endpoint"] == server.url("/oauth2/introspect")
    assert meta["revocation_endpoint"] == server.url("/oauth2/revoke")
    assert set(meta["introspection_endpoint_auth_methods_supported"]) == set(METHODS)
    assert set(meta["revocation_endpoint_auth_methods_supported"]) == set(METHODS)


# --- introspection: active answers ------------------------------------------------------------

def test_authlib_introspects_its_own_token_with_every_claim(portcullis, server):
    client = portcullis.create_client(name="introspecting", role="viewer")
    meta = discover(server)
    for method in METHODS:
        session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method=method)
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
        portcullis.remember(token)

        r = session.introspect_token(meta["introspection_endpoint"], token=token)
        body = assert_active(r, client)
        assert r.headers["Content-Type"].startswith("application/json")
        assert set(body) == {"active", "scope", "client_id", "token_type", "exp", "iat", "nbf", "sub", "aud", "iss",
                             "jti"}, method
        claims = verify(token, meta, meta["issuer"])
        assert set(body["scope"].split()) == VIEWER_SCOPES
        assert body["token_type"] == "Bearer"
        for name in ("exp", "iat", "nbf", "sub", "iss", "jti", "client_id"):
            assert body[name] == claims[name], (method, name)
        assert body["aud"] == claims["aud"] or [body["aud"]] == claims["aud"] or body["aud"] == [claims["aud"]]
        assert body["sub"] == client["client_id"]
        assert body["iss"] == meta["issuer"]
        assert body["exp"] > time.time()


def test_introspection_omits_scope_for_a_token_without_one(portcullis, server):
    client = portcullis.create_client(name="no role", role=None)
    token = get_token(portcullis, server, client)["access_token"]
    body = assert_active(introspect(server, token, client=client), client)
    assert "scope" not in body, body


def test_callers_with_introspect_permission_may_introspect_any_token(portcullis, server):
    rs = portcullis.create_client(name="orders api", role="resource-server")
    viewer = portcullis.create_client(name="caller", role="viewer")
    admin = portcullis.create_client(name="admin", role="admin")
    meta = discover(server)
    tokens = {c["client_id"]: get_token(portcullis, server, c) for c in (rs, viewer, admin)}
    assert set(tokens[rs["client_id"]]["scope"].split()) == RESOURCE_SERVER_SCOPES
    for method in METHODS:
        session = OAuth2Session(rs["client_id"], rs["client_secret"], token_endpoint_auth_method=method)
        for owner in (viewer, admin):
            token = tokens[owner["client_id"]]["access_token"]
            body = assert_active(session.introspect_token(meta["introspection_endpoint"], token=token), owner)
            assert body["sub"] == owner["client_id"]
    viewer_token = tokens[viewer["client_id"]]["access_token"]
    # a resource server's access token works as the caller's credential too
    body = assert_active(introspect(server, viewer_token, bearer=tokens[rs["client_id"]]["access_token"]), viewer)
    assert set(body["scope"].split()) == VIEWER_SCOPES
    # admin has every permission, tokens:introspect included
    assert_active(introspect(server, viewer_token, client=admin), viewer)
    assert_active(introspect(server, viewer_token, bearer=tokens[admin["client_id"]]["access_token"]), viewer)


def test_client_without_introspect_permission_sees_only_its_own_tokens(portcullis, server):
    a = portcullis.create_client(name="a", role="viewer")
    b = portcullis.create_client(name="b", role="viewer")
    token_a = get_token(portcullis, server, a)["access_token"]
    token_b = get_token(portcullis, server, b)["access_token"]
    assert_active(introspect(server, token_a, client=a), a)
    assert_inactive(introspect(server, token_b, client=a))
    assert_inactive(introspect(server, token_b, client=a, method="client_secret_post"))
    # ... also when a presents its own access token instead of its secret
    assert_active(introspect(server, token_a, bearer=token_a), a)
    assert_inactive(introspect(server, token_b, bearer=token_a))


def test_bearer_token_narrowed_below_introspect_sees_only_its_own_client(portcullis, server, admin_client):
    """A bearer caller's permissions are its token's scope, not its role's."""
    viewer = portcullis.create_client(name="caller", role="viewer")
    other = get_token(portcullis, server, viewer)["access_token"]
    narrow = get_token(portcullis, server, admin_client, scope="clients:read")["access_token"]
    assert_inactive(introspect(server, other, bearer=narrow))
    assert_active(introspect(server, narrow, bearer=narrow), admin_client)


def test_any_token_type_hint_is_only_a_hint(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    for hint in ("refresh_token", "access_token", "id_token", "no-such-type"):
        r = post_form(server.url("/oauth2/introspect"), {"token": token, "token_type_hint": hint}, client=admin_client)
        assert r.status_code == 200, f"{hint}: {r.status_code} {r.text}"
        assert_active(r, admin_client)


# --- introspection: inactive answers ----------------------------------------------------------

def test_token_that_fails_verification_is_exactly_active_false(portcullis, server):
    rs = portcullis.create_client(name="orders api", role="resource-server")
    owner = portcullis.create_client(name="owner", role="viewer")
    token = get_token(portcullis, server, owner)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    cases = {
        "not a JWT": "not-a-jwt",
        "three garbage segments": "abc.def.ghi",
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        "tampered signature": tamper(token),
        "signed by an unknown key": forge_with_unknown_key(token),
    }
    for name, subject in cases.items():
        for method in METHODS:
            r = introspect(server, subject, client=rs, method=method)
            assert r.status_code == 200 and r.json() == INACTIVE, f"{name} ({method}): {r.status_code} {r.text}"
        assert admin_api_status(server, subject) == 401, name
    assert_active(introspect(server, token, client=rs), owner)


def _revoked(pc, server, owner, token):
    r = revoke(server, token, client=owner)
    assert r.status_code == 200, r.text


def _client_disabled(pc, server, owner, token):
    pc.cli("clients", "disable", owner["client_id"])


def _client_deleted(pc, server, owner, token):
    pc.cli("clients", "delete", owner["client_id"])


@pytest.mark.parametrize("make", [_revoked, _client_disabled, _client_deleted],
                         ids=lambda f: f.__name__.strip("_").replace("_", " "))
def test_valid_token_becomes_exactly_active_false(portcullis, server, make):
    rs = portcullis.create_client(name="orders api", role="resource-server")
    owner = portcullis.create_client(name="owner", role="viewer")
    token = get_token(portcullis, server, owner)["access_token"]
    assert_active(introspect(server, token, client=rs), owner)
    make(portcullis, server, owner, token)
    assert_inactive(introspect(server, token, client=rs))
    assert_inactive(introspect(server, token, client=rs, method="client_secret_post"))
    # the admin API refuses what introspection calls inactive
    assert admin_api_status(server, token) == 401


# --- introspection: errors ----------------------------------------------------------------------

def test_introspection_without_token_parameter_is_invalid_request(portcullis, server):
    rs = portcullis.create_client(name="orders api", role="resource-server")
    url = server.url("/oauth2/introspect")
    assert_oauth_error(post_form(url, {}, client=rs), 400, "invalid_request")
    assert_oauth_error(post_form(url, {"token_type_hint": "access_token"}, client=rs, method="client_secret_post"),
                       400, "invalid_request")
    rs_token = get_token(portcullis, server, rs)["access_token"]
    assert_oauth_error(post_form(url, {}, bearer=rs_token), 400, "invalid_request")


def test_introspection_by_an_unauthenticated_caller_is_invalid_client(portcullis, server):
    rs = portcullis.create_client(name="orders api", role="resource-server")
    disabled = portcullis.create_client(name="disabled", role="resource-server")
    token = get_token(portcullis, server, rs)["access_token"]
    disabled_token = get_token(portcullis, server, disabled)["access_token"]
    portcullis.cli("clients", "disable", disabled["client_id"])
    wrong = {"client_id": rs["client_id"], "client_secret": well_formed_secret()}
    portcullis.remember(wrong["client_secret"])
    unknown = {"client_id": UNKNOWN_ID, "client_secret": well_formed_secret()}
    portcullis.remember(unknown["client_secret"])
    cases = {
        "no credentials": dict(),
        "wrong secret (basic)": dict(client=wrong),
        "wrong secret (post)": dict(client=wrong, method="client_secret_post"),
        "unknown client": dict(client=unknown),
        "malformed secret": dict(client={"client_id": rs["client_id"], "client_secret": "hunter2"}),
        "disabled client's secret": dict(client=disabled),
        "garbage bearer": dict(bearer="not-a-token"),
        "tampered bearer": dict(bearer=tamper(token)),
        "bearer signed by an unknown key": dict(bearer=forge_with_unknown_key(token)),
        "disabled client's bearer": dict(bearer=disabled_token),
    }
    for name, kw in cases.items():
        r = introspect(server, token, **kw)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        # A caller that chose Bearer gets Bearer's error and challenge (RFC 6750 §3.1).
        expected = "invalid_token" if "bearer" in kw else "invalid_client"
        assert r.json()["error"] == expected, f"{name}: {r.text}"
        challenge = r.headers.get("WWW-Authenticate", "")
        if "bearer" in kw:
            assert challenge == 'Bearer realm="portcullis", error="invalid_token"', f"{name}: {challenge}"
        else:
            assert challenge.startswith("Basic"), f"{name}: {challenge}"
        assert "active" not in r.json(), name


# --- revocation -----------------------------------------------------------------------------------

def test_authlib_revokes_its_own_token_which_then_stops_working(portcullis, server, admin_client):
    meta = discover(server)
    for method, hint in (("client_secret_basic", "access_token"), ("client_secret_post", "refresh_token")):
        session = OAuth2Session(admin_client["client_id"], admin_client["client_secret"],
                                token_endpoint_auth_method=method, revocation_endpoint_auth_method=method)
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
        other = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
        portcullis.remember(token, other)
        assert admin_api_status(server, token) == 200

        # a wrong token_type_hint does not stop the revocation (RFC 7009 §2.1)
        r = session.revoke_token(meta["revocation_endpoint"], token=token, token_type_hint=hint)
        assert r.status_code == 200, f"{method}: {r.status_code} {r.text}"
        assert r.content == b""

        assert_inactive(session.introspect_token(meta["introspection_endpoint"], token=token))
        assert admin_api_status(server, token) == 401
        # still a well-signed JWT: only the server knows it is revoked
        assert verify(token, meta, meta["issuer"])["sub"] == admin_client["client_id"]
        # the client's other tokens and its secret are untouched
        assert_active(session.introspect_token(meta["introspection_endpoint"], token=other), admin_client)
        assert admin_api_status(server, other) == 200
        get_token(portcullis, server, admin_client)
        # revoking again is fine
        assert session.revoke_token(meta["revocation_endpoint"], token=token).status_code == 200


def test_revoking_an_unknown_or_malformed_token_succeeds(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    for junk in ("not-a-token", "abc.def.ghi", tamper(token), forge_with_unknown_key(token)):
        r = revoke(server, junk, client=admin_client)
        assert r.status_code == 200, f"{junk}: {r.status_code} {r.text}"
    assert_active(introspect(server, token, client=admin_client), admin_client)


def test_revoking_another_clients_token_is_unauthorized_client(portcullis, server):
    owner = portcullis.create_client(name="owner", role="viewer")
    token = get_token(portcullis, server, owner)["access_token"]
    for role in ("viewer", "resource-server", "admin"):
        caller = portcullis.create_client(name=f"caller {role}", role=role)
        for method in METHODS:
            assert_oauth_error(revoke(server, token, client=caller, method=method), 400, "unauthorized_client")
    assert_active(introspect(server, token, client=owner), owner)


def test_revocation_errors(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    url = server.url("/oauth2/revoke")
    assert_oauth_error(post_form(url, {}, client=admin_client), 400, "invalid_request")
    assert_oauth_error(post_form(url, {}, client=admin_client, method="client_secret_post"), 400, "invalid_request")
    wrong = {"client_id": admin_client["client_id"], "client_secret": well_formed_secret()}
    portcullis.remember(wrong["client_secret"])
    for name, kw in {
        "no credentials": dict(),
        "wrong secret (basic)": dict(client=wrong),
        "wrong secret (post)": dict(client=wrong, method="client_secret_post"),
        "a bearer token instead of client credentials": dict(bearer=token),
    }.items():
        r = revoke(server, token, **kw)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        assert r.json()["error"] == "invalid_client", f"{name}: {r.text}"
    # none of the refused requests revoked anything
    assert_active(introspect(server, token, client=admin_client), admin_client)


# --- revocations are stored, not just cached ---------------------------------------------------------

ISSUER = "https://auth.example.test"


def test_revocation_survives_kill_9(portcullis):
    owner = portcullis.create_client(name="owner", role="admin")
    server = portcullis.start("--issuer", ISSUER)
    token = get_token(portcullis, server, owner)["access_token"]
    kept = get_token(portcullis, server, owner)["access_token"]
    assert revoke(server, token, client=owner).status_code == 200

    server.kill9()
    again = portcullis.start("--issuer", ISSUER)
    assert_inactive(introspect(again, token, client=owner))
    assert admin_api_status(again, token) == 401
    assert_active(introspect(again, kept, client=owner), owner)


def eventually_inactive(server, token: str, caller: dict, within: float = 2.0):
    """Another instance learns of a change through the database's change feed (for PostgreSQL
    LISTEN/NOTIFY, which arrives a few milliseconds after the commit): RFC 7009 §2.2 allows such a
    propagation delay between servers, so wait for it, briefly."""
    deadline = time.monotonic() + within
    while (r := introspect(server, token, client=caller)).json() != INACTIVE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert_inactive(r)


def test_revocation_on_one_server_is_seen_by_another_on_the_same_database(portcullis):
    owner = portcullis.create_client(name="owner", role="admin")
    a = portcullis.start("--issuer", ISSUER)
    b = portcullis.start("--issuer", ISSUER)
    token = get_token(portcullis, a, owner)["access_token"]
    assert_active(introspect(b, token, client=owner), owner)
    assert admin_api_status(b, token) == 200  # b has now seen (and may have cached) the token
    assert revoke(a, token, client=owner).status_code == 200
    eventually_inactive(b, token, owner)
    assert admin_api_status(b, token) == 401

    # the same for every token of a client, revoked through a's admin API
    target = portcullis.create_client(name="target", role="viewer")
    target_token = get_token(portcullis, b, target)["access_token"]
    assert admin_api_status(b, target_token) == 200
    admin_token = get_token(portcullis, a, owner)["access_token"]
    r = requests.post(a.url(f"/api/v1/clients/{target['client_id']}/revoke-tokens"),
                      headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    assert r.status_code == 200, r.text
    eventually_inactive(b, target_token, owner)
    assert admin_api_status(b, target_token) == 401
