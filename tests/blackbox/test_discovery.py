"""Authorization server metadata (RFC 8414) and the JWKS."""

from urllib.parse import urlsplit

import requests

from conftest import ADMIN_SCOPES


def test_discovery_document_follows_rfc8414(server):
    r = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    meta = r.json()
    assert meta["issuer"] == server.base_url
    issuer = urlsplit(meta["issuer"])
    assert issuer.scheme in ("http", "https") and not issuer.query and not issuer.fragment
    for field in ("token_endpoint", "jwks_uri"):
        u = urlsplit(meta[field])
        assert u.scheme in ("http", "https") and u.netloc, f"{field} is not absolute: {meta[field]}"
        assert meta[field].startswith(meta["issuer"]), field
    assert meta["token_endpoint"] == server.token_url
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert ADMIN_SCOPES <= set(meta["scopes_supported"])
    for name, value in meta.items():
        assert value != [], f"{name} is an empty array (RFC 8414 §3.2: omit it)"
    assert "response_types_supported" not in meta or meta["response_types_supported"]


def test_discovery_is_identical_at_the_openid_configuration_path(server):
    a = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)
    b = requests.get(server.url("/.well-known/openid-configuration"), timeout=10)
    assert b.status_code == 200
    assert a.json() == b.json()


def test_configured_issuer_is_used_everywhere(portcullis):
    server = portcullis.start("--issuer", "https://auth.example.com/")
    meta = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10).json()
    assert meta["issuer"] == "https://auth.example.com"
    assert meta["token_endpoint"] == "https://auth.example.com/oauth2/token"
    assert meta["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"


def test_jwks_publishes_only_public_ed25519_keys(server):
    r = requests.get(server.url("/.well-known/jwks.json"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    keys = r.json()["keys"]
    assert keys
    for k in keys:
        assert k["kty"] == "OKP" and k["crv"] == "Ed25519"
        assert k["kid"] and k["x"]
        assert "d" not in k
        assert k.get("use", "sig") == "sig"
        assert k.get("alg", "EdDSA") == "EdDSA"
    assert len({k["kid"] for k in keys}) == len(keys)


def test_health_endpoints_answer(server):
    assert requests.get(server.url("/healthz"), timeout=10).status_code == 200
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    r = requests.get(server.url("/no/such/path"), timeout=10)
    assert r.status_code == 404
