"""Every write a client was told succeeded survives `kill -9`."""

import requests

from conftest import discover, get_token, verify


def test_credentials_and_signing_key_survive_kill_9(portcullis):
    client = portcullis.create_client(name="durable", role="admin")
    server = portcullis.start()
    meta = discover(server)
    token = get_token(portcullis, server, client)["access_token"]
    kids = {k["kid"] for k in requests.get(meta["jwks_uri"], timeout=10).json()["keys"]}

    server.kill9()

    again = portcullis.start()
    # the restarted server has a new port, hence a new issuer: verify against its metadata
    meta2 = discover(again)
    token2 = get_token(portcullis, again, client)["access_token"]
    kids2 = {k["kid"] for k in requests.get(meta2["jwks_uri"], timeout=10).json()["keys"]}
    assert kids <= kids2, "the signing key did not survive the crash"
    # the token issued before the crash verifies with the keys published after it
    old = dict(meta2, issuer=meta["issuer"])
    assert verify(token, old, meta["issuer"])["sub"] == client["client_id"]
    assert verify(token2, meta2, meta2["issuer"])["sub"] == client["client_id"]


def test_secret_regenerated_while_serving_survives_kill_9(portcullis):
    client = portcullis.create_client(name="durable", role="viewer")
    server = portcullis.start()
    get_token(portcullis, server, client)
    fresh = portcullis.regenerate_secret(client["client_id"])
    get_token(portcullis, server, fresh)

    server.kill9()

    again = portcullis.start()
    get_token(portcullis, again, fresh)
    r = requests.post(again.token_url, data={"grant_type": "client_credentials"},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
