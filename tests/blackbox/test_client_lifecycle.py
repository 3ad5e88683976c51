"""Changes made with the CLI on the database of a running server take effect on the next request."""

import requests

from conftest import discover, get_token, token_request, verify


def assert_invalid_client(r):
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.headers["Cache-Control"] == "no-store"


def test_disabled_client_is_refused_and_enabling_restores_the_same_secret(portcullis, server, admin_client):
    creds = (admin_client["client_id"], admin_client["client_secret"])
    get_token(portcullis, server, admin_client)

    portcullis.cli("clients", "disable", admin_client["client_id"])
    assert_invalid_client(token_request(server, auth=creds))
    # client_secret_post is refused the same way
    r = token_request(server, {"grant_type": "client_credentials", "client_id": creds[0], "client_secret": creds[1]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    listed = {c["client_id"]: c for c in portcullis.cli_json("clients", "list")}
    assert listed[admin_client["client_id"]]["status"] == "disabled"

    portcullis.cli("clients", "enable", admin_client["client_id"])
    get_token(portcullis, server, admin_client)


def test_regenerated_secret_replaces_the_old_one_at_once(portcullis, server, admin_client):
    meta = discover(server)
    before = get_token(portcullis, server, admin_client)["access_token"]

    fresh = portcullis.regenerate_secret(admin_client["client_id"])
    assert fresh["client_id"] == admin_client["client_id"]
    assert fresh["client_secret"] != admin_client["client_secret"]

    assert_invalid_client(token_request(server, auth=(admin_client["client_id"], admin_client["client_secret"])))
    get_token(portcullis, server, fresh)
    # tokens issued before the regeneration stay valid until they expire
    assert verify(before, meta, meta["issuer"])["sub"] == admin_client["client_id"]


def test_deleted_client_is_invalid_client(portcullis, server, admin_client):
    get_token(portcullis, server, admin_client)
    portcullis.cli("clients", "delete", admin_client["client_id"])
    assert_invalid_client(token_request(server, auth=(admin_client["client_id"], admin_client["client_secret"])))
    assert portcullis.cli_json("clients", "list") == []


def test_token_ttl_is_per_client(portcullis, server):
    short = portcullis.create_client(name="short", role="viewer", ttl=60)
    long = portcullis.create_client(name="long", role="viewer", ttl=86400)
    assert get_token(portcullis, server, short)["expires_in"] == 60
    assert get_token(portcullis, server, long)["expires_in"] == 86400


def test_cli_refuses_bad_input_without_touching_the_database(portcullis, server, admin_client):
    for args in (
        ["clients", "create", "--name", "x", "--token-ttl", "59"],
        ["clients", "create", "--name", "x", "--token-ttl", "86401"],
        ["clients", "create", "--name", ""],
        ["clients", "create", "--name", "x" * 201],
        ["clients", "create", "--name", "x", "--role", "no-such-role"],
        ["clients", "disable", "not-a-uuid"],
        ["clients", "delete", "00000000-0000-4000-8000-00000000abcd"],
    ):
        r = portcullis.cli(*args, check=False)
        assert r.returncode != 0, args
        assert r.returncode != 101, f"{args}: the CLI panicked"
    assert [c["client_id"] for c in portcullis.cli_json("clients", "list")] == [admin_client["client_id"]]
    get_token(portcullis, server, admin_client)


def test_sigterm_stops_the_server_cleanly(portcullis, server, admin_client):
    get_token(portcullis, server, admin_client)
    assert server.stop() == 0
    try:
        requests.get(server.url("/healthz"), timeout=2)
        raise AssertionError("server still answers after SIGTERM")
    except requests.ConnectionError:
        pass
