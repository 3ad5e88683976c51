"""Bad input at the token endpoint: the right RFC 6749 §5.2 error, never a 5xx."""

import base64
import socket
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import requests

from conftest import FORM, basic, get_token, token_request, well_formed_secret

UNKNOWN_ID = "6f1c2a3e-9b7d-4c1e-8f00-123456789abc"
GRANT = "grant_type=client_credentials"


def b64(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def assert_oauth_error(r: requests.Response, status: int, error: str):
    assert r.status_code < 500, f"{r.status_code}: {r.text}"
    assert r.status_code == status, f"expected {status} {error}, got {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["error"] == error, body
    # RFC 6749 §5.2: error and error_description use only %x20-21 / %x23-5B / %x5D-7E
    for field in ("error", "error_description"):
        if field in body:
            assert all(c == " " or c == "!" or "#" <= c <= "[" or "]" <= c <= "~" for c in body[field]), body
    assert "access_token" not in body
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    if status == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), r.headers


# Each case: (id, function(client) -> request kwargs for token_request, status, error).
# `c` is a real admin client: (client_id, client_secret).
CASES = [
    ("wrong content type (JSON)", lambda c: dict(body='{"grant_type":"client_credentials"}', auth=c,
                                                 headers={"Content-Type": "application/json"}), 400, "invalid_request"),
    ("no content type", lambda c: dict(body=GRANT, auth=c, headers={"Content-Type": None}), 400, "invalid_request"),
    ("non-UTF-8 charset", lambda c: dict(body=GRANT, auth=c, headers={"Content-Type": FORM + "; charset=ISO-8859-1"}),
     400, "invalid_request"),
    ("missing grant_type", lambda c: dict(body="scope=clients:read", auth=c), 400, "invalid_request"),
    ("empty grant_type", lambda c: dict(body="grant_type=", auth=c), 400, "invalid_request"),
    ("password grant", lambda c: dict(body="grant_type=password&username=a&password=b", auth=c), 400,
     "unsupported_grant_type"),
    ("authorization_code grant", lambda c: dict(body="grant_type=authorization_code&code=x", auth=c), 400,
     "unsupported_grant_type"),
    ("repeated grant_type", lambda c: dict(body=GRANT + "&" + GRANT, auth=c), 400, "invalid_request"),
    ("repeated scope", lambda c: dict(body=GRANT + "&scope=clients:read&scope=roles:read", auth=c), 400,
     "invalid_request"),
    ("both auth methods", lambda c: dict(body={"grant_type": "client_credentials", "client_id": c[0],
                                               "client_secret": c[1]}, auth=c), 400, "invalid_request"),
    ("body client_id differs from Basic", lambda c: dict(body={"grant_type": "client_credentials",
                                                               "client_id": UNKNOWN_ID}, auth=c), 400,
     "invalid_request"),
    ("credentials in the query string", lambda c: dict(body=GRANT, params={"client_id": c[0], "client_secret": c[1]}),
     400, "invalid_request"),
    ("secret in the query, Basic in the header", lambda c: dict(body=GRANT, auth=c, params={"client_secret": c[1]}),
     400, "invalid_request"),
    ("Basic not base64", lambda c: dict(body=GRANT, headers={"Authorization": "Basic !!!not*base64"}), 400,
     "invalid_request"),
    ("Basic without a colon", lambda c: dict(body=GRANT, headers={"Authorization": b64(c[0].encode())}), 400,
     "invalid_request"),
    ("%%% in Basic credentials", lambda c: dict(body=GRANT, headers={"Authorization": b64(b"%%%:" + c[1].encode())}),
     400, "invalid_request"),
    ("%%% in the Basic secret", lambda c: dict(body=GRANT, headers={"Authorization": b64(c[0].encode() + b":%%%")}),
     400, "invalid_request"),
    ("Basic with invalid UTF-8", lambda c: dict(body=GRANT, headers={"Authorization": b64(b"\xff\xfe:\xff")}), 400,
     "invalid_request"),
    ("%FF in the body", lambda c: dict(body=GRANT + "&scope=%FF", auth=c), 400, "invalid_request"),
    ("raw 0xFF byte in the body", lambda c: dict(body=GRANT.encode() + b"&scope=\xff", auth=c), 400,
     "invalid_request"),
    ("bad percent escape in the body", lambda c: dict(body=GRANT + "&scope=%G1", auth=c), 400, "invalid_request"),
    ("body over 16 KiB", lambda c: dict(body=GRANT + "&pad=" + "a" * (16 * 1024), auth=c), 413, "invalid_request"),
    ("unknown client id", lambda c: dict(body=GRANT, auth=(UNKNOWN_ID, well_formed_secret())), 401,
     "invalid_client"),
    ("client id that is no UUID", lambda c: dict(body=GRANT, auth=("my-client", c[1])), 401, "invalid_client"),
    ("well-formed wrong secret", lambda c: dict(body=GRANT, auth=(c[0], well_formed_secret())), 401,
     "invalid_client"),
    ("malformed secret", lambda c: dict(body=GRANT, auth=(c[0], "hunter2")), 401, "invalid_client"),
    ("secret with a bad checksum", lambda c: dict(body=GRANT, auth=(c[0], c[1][:-1] + ("A" if c[1][-1] != "A" else "B"))),
     401, "invalid_client"),
    ("empty secret", lambda c: dict(body=GRANT, auth=(c[0], "")), 401, "invalid_client"),
    ("wrong secret via client_secret_post", lambda c: dict(body={"grant_type": "client_credentials", "client_id": c[0],
                                                                 "client_secret": well_formed_secret()}), 401,
     "invalid_client"),
    ("no credentials at all", lambda c: dict(body=GRANT), 401, "invalid_client"),
    ("Bearer instead of Basic", lambda c: dict(body=GRANT, headers={"Authorization": "Bearer abc.def.ghi"}), 401,
     "invalid_client"),
]


@pytest.mark.parametrize("make,status,error", [pytest.param(m, s, e, id=i) for i, m, s, e in CASES])
def test_bad_token_request_gets_the_right_error(portcullis, server, admin_client, make, status, error):
    creds = (admin_client["client_id"], admin_client["client_secret"])
    kwargs = make(creds)
    body = kwargs.get("body")
    for v in [*(body.values() if isinstance(body, dict) else []), *(kwargs.get("auth") or ())]:
        if v.startswith("pcs_"):
            portcullis.remember(v)
    assert_oauth_error(token_request(server, **kwargs), status, error)
    # nothing stored was changed by the bad request
    get_token(portcullis, server, admin_client)


def test_get_on_the_token_endpoint_is_405_with_an_oauth_error(server):
    r = requests.get(server.token_url, params={"grant_type": "client_credentials"}, timeout=10)
    assert r.status_code == 405, r.text
    assert "POST" in r.headers.get("Allow", ""), r.headers
    assert_oauth_error(r, 405, "invalid_request")


def test_every_401_names_the_basic_scheme(portcullis, server, admin_client):
    for kwargs in (
        dict(auth=(admin_client["client_id"], well_formed_secret())),
        dict(),
        dict(body={"grant_type": "client_credentials", "client_id": UNKNOWN_ID, "client_secret": well_formed_secret()}),
    ):
        r = token_request(server, **kwargs)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_duplicate_authorization_headers_are_refused(portcullis, server, admin_client):
    """Sent over a raw socket: HTTP libraries merge or refuse duplicate headers."""
    u = urlsplit(server.token_url)
    auth = basic(admin_client["client_id"], admin_client["client_secret"])
    request = (
        f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: {FORM}\r\n"
        f"Authorization: {auth}\r\nAuthorization: {auth}\r\n"
        f"Content-Length: {len(GRANT)}\r\nConnection: close\r\n\r\n{GRANT}"
    ).encode()
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status == 400, data
    assert b'"invalid_request"' in body
    assert b"access_token" not in body


def test_body_of_exactly_16_kib_is_accepted(portcullis, server, admin_client):
    prefix = GRANT + "&pad="
    body = prefix + "a" * (16 * 1024 - len(prefix))
    assert len(body) == 16 * 1024
    r = token_request(server, body, auth=(admin_client["client_id"], admin_client["client_secret"]))
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])


@pytest.mark.parametrize("client_id,secret", [
    ("id+ % : £ €", "s+ % : £ €"),
    ("a:b", "pcs_x"),
    ("£€", well_formed_secret()),
])
def test_urlencoded_special_characters_in_basic_are_decoded(server, client_id, secret):
    """RFC 6749 §2.3.1: urlencoded before base64; they decode fine and match no client → 401, not 400."""
    r = token_request(server, auth=(client_id, secret))
    assert_oauth_error(r, 401, "invalid_client")


def test_basic_credentials_without_urlencoding_still_work(portcullis, server, admin_client):
    """What authlib and requests-oauthlib send: `id:secret` base64'd as is."""
    r = token_request(server, headers={"Authorization": b64(f"{admin_client['client_id']}:{admin_client['client_secret']}".encode())})
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])


def test_fully_percent_encoded_real_credentials_work(portcullis, server, admin_client):
    every = lambda s: "".join(f"%{b:02X}" for b in s.encode())  # noqa: E731
    raw = f"{every(admin_client['client_id'])}:{every(admin_client['client_secret'])}"
    portcullis.remember(base64.b64encode(raw.encode()).decode())
    r = token_request(server, headers={"Authorization": b64(raw.encode())})
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])
    # ... and quote_plus/quote of real credentials is a no-op that works too
    assert quote_plus(admin_client["client_secret"]) == quote(admin_client["client_secret"]) == admin_client["client_secret"]
    get_token(portcullis, server, admin_client)


def test_lowercase_basic_scheme_and_missing_padding_are_accepted(portcullis, server, admin_client):
    raw = base64.b64encode(f"{admin_client['client_id']}:{admin_client['client_secret']}".encode()).decode()
    r = token_request(server, headers={"Authorization": "basic " + raw.rstrip("=")})
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])
