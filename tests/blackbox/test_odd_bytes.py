"""Issue 11 §3: a secret-length string holding a multi-byte character is refused with a
clear 4xx wherever a secret or a personal access token is read, never a 500."""

import requests

from conftest import FORM, basic, get_token

UNKNOWN_ID = "6f1c2a3e-9b7d-4c1e-8f00-123456789abc"


def odd(prefix: str) -> str:
    # 54 bytes like a real secret, with "é" straddling the byte where the checksum starts.
    text = prefix + "a" * 42 + "é" + "b" * 6
    assert len(text.encode()) == 54
    return text


def test_multi_byte_secrets_get_a_4xx_never_a_500(portcullis, server, admin_client):
    token_url = server.url("/oauth2/token")
    for client_id in (admin_client["client_id"], UNKNOWN_ID):
        # client_secret_post
        r = requests.post(token_url, data={"grant_type": "client_credentials", "client_id": client_id,
                                           "client_secret": odd("pcs_")}, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
        # client_secret_basic
        r = requests.post(token_url, data="grant_type=client_credentials",
                          headers={"Content-Type": FORM, "Authorization": basic(client_id, odd("pcs_"))}, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
    # a pat_ bearer at the admin API: the header is sent as raw UTF-8 bytes
    bearer = ("Bearer " + odd("pat_")).encode()
    r = requests.get(server.url("/api/v1/clients"), headers={"Authorization": bearer}, timeout=10)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    # at introspection, as the caller's bearer and as the token asked about
    r = requests.post(server.url("/oauth2/introspect"), data={"token": "x"},
                      headers={"Authorization": bearer}, timeout=10)
    assert 400 <= r.status_code < 500, r.text
    for token in (odd("pat_"), odd("pcs_")):
        r = requests.post(server.url("/oauth2/introspect"), data={"token": token},
                          auth=(admin_client["client_id"], admin_client["client_secret"]), timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"active": False}
    # the real secret still works
    get_token(portcullis, server, admin_client)
