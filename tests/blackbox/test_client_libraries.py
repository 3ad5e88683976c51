"""Third-party OAuth2 and JWT libraries work against Portcullis unmodified."""

import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from conftest import ADMIN_SCOPES, SECRET_RE, VIEWER_SCOPES, discover, secret_checksum, verify


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_succeeds_with_each_auth_method(portcullis, server, method):
    client = portcullis.create_client(name=f"authlib {method}", role="viewer")
    meta = discover(server)
    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method=method)
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    portcullis.remember(token["access_token"])
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert set(token["scope"].split()) == VIEWER_SCOPES
    assert "refresh_token" not in token
    claims = verify(token["access_token"], meta, meta["issuer"])
    assert claims["client_id"] == client["client_id"]


def test_created_client_has_documented_shape(portcullis, server):
    client = portcullis.create_client(name="shape", description="made by the black-box tests", ttl=120)
    assert SECRET_RE.match(client["client_secret"]), "secret is not pcs_<43 base62>_<6 base62>"
    assert client["client_secret"][-6:] == secret_checksum(client["client_secret"][:-7])
    assert client["name"] == "shape"
    assert client["status"] == "enabled"
    assert client["role"] == "admin"
    assert client["access_token_ttl_seconds"] == 120
    listed = portcullis.cli_json("clients", "list")
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    assert "client_secret" not in listed[0]
    assert client["client_secret"] not in portcullis.cli("clients", "list").stdout.decode()


def test_access_token_is_an_rfc9068_jwt_verifiable_with_the_published_keys(portcullis, server):
    client = portcullis.create_client(name="rfc9068", role="admin", ttl=600)
    meta = discover(server)
    before = int(time.time())
    first = portcullis_token = None
    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_basic")
    first = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    second = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    after = int(time.time())
    portcullis.remember(first["access_token"], second["access_token"])
    assert first["expires_in"] == 600

    header = jwt.get_unverified_header(first["access_token"])
    assert header["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert header["alg"] == "EdDSA"
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    assert header["kid"] in [k["kid"] for k in jwks["keys"]]
    for k in jwks["keys"]:
        assert "d" not in k, "JWKS publishes a private key"

    portcullis_token = verify(first["access_token"], meta, meta["issuer"])
    c = portcullis_token
    assert c["iss"] == meta["issuer"] == server.base_url
    assert c["sub"] == client["client_id"]
    assert c["client_id"] == client["client_id"]
    assert c["aud"] == meta["issuer"] or c["aud"] == [meta["issuer"]]
    assert before - 1 <= c["iat"] <= after + 1
    assert c["nbf"] <= c["iat"]
    assert c["exp"] - c["iat"] == 600
    assert set(c["scope"].split()) == ADMIN_SCOPES
    assert set(first["scope"].split()) == ADMIN_SCOPES
    other = verify(second["access_token"], meta, meta["issuer"])
    assert other["jti"] != c["jti"]
    assert first["access_token"] != second["access_token"]


def test_token_with_a_tampered_signature_does_not_verify(portcullis, server, admin_client):
    meta = discover(server)
    session = OAuth2Session(admin_client["client_id"], admin_client["client_secret"])
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
    portcullis.remember(token)
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{('A' if sig[0] != 'A' else 'B')}{sig[1:]}"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged, meta, meta["issuer"])


def test_configured_audience_goes_into_the_token(portcullis):
    server = portcullis.start("--audience", "https://api.example.com")
    client = portcullis.create_client(name="aud", role="viewer")
    meta = discover(server)
    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_post")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
    portcullis.remember(token)
    claims = verify(token, meta, "https://api.example.com")
    assert claims["iss"] == server.base_url
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, meta, server.base_url)


def test_scope_narrows_to_exactly_the_requested_permission(portcullis, server, admin_client):
    meta = discover(server)
    session = OAuth2Session(admin_client["client_id"], admin_client["client_secret"], scope="clients:read")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    portcullis.remember(token["access_token"])
    assert token["scope"] == "clients:read"
    assert verify(token["access_token"], meta, meta["issuer"])["scope"] == "clients:read"

    session = OAuth2Session(admin_client["client_id"], admin_client["client_secret"], scope="events:read clients:write")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    portcullis.remember(token["access_token"])
    assert set(token["scope"].split()) == {"events:read", "clients:write"}
    assert set(verify(token["access_token"], meta, meta["issuer"])["scope"].split()) == {"events:read", "clients:write"}


@pytest.mark.parametrize("scope", ["clients:write", "clients:read clients:secrets", "invoices:read", "not a scope!"])
def test_scope_outside_the_role_is_invalid_scope(portcullis, server, scope):
    client = portcullis.create_client(name="viewer", role="viewer")
    r = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_scope"
    assert r.headers["Cache-Control"] == "no-store"
    assert "access_token" not in r.json()


def test_client_without_a_role_gets_a_token_without_scope(portcullis, server):
    client = portcullis.create_client(name="no role", role=None)
    meta = discover(server)
    r = requests.post(server.token_url, data={"grant_type": "client_credentials"},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    portcullis.remember(body["access_token"])
    claims = verify(body["access_token"], meta, meta["issuer"])
    assert "scope" not in claims
    # RFC 6749 §3.3: scope = scope-token *( SP scope-token ); an empty string is not a scope.
    assert body.get("scope", None) != "", "token response carries an empty `scope` string"

    r = requests.post(server.token_url, data={"grant_type": "client_credentials", "scope": "clients:read"},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text


def test_empty_scope_counts_as_omitted_and_unknown_parameters_are_ignored(portcullis, server, admin_client):
    r = requests.post(server.token_url, data={"grant_type": "client_credentials", "scope": "", "resource_hint": "x"},
                      auth=(admin_client["client_id"], admin_client["client_secret"]), timeout=10)
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])
    assert set(r.json()["scope"].split()) == ADMIN_SCOPES


def test_successful_token_response_headers(portcullis, server, admin_client):
    r = requests.post(server.token_url, data={"grant_type": "client_credentials"},
                      auth=(admin_client["client_id"], admin_client["client_secret"]), timeout=10)
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Pragma"] == "no-cache"
    assert set(r.json()) <= {"access_token", "token_type", "expires_in", "scope"}
