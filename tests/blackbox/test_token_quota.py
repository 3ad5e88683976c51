"""The optional quota on tokens per client (issue 13 §3,
`PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR`): a client that asks for a token per
call is refused with 429 once it has had its quota, with one event, and no
one else is touched."""

import time

import requests

from conftest import get_token, token_request, well_formed_secret

QUOTA = 3


def events_of(server, token: str, client_id: str, **params) -> list[dict]:
    r = requests.get(server.url(f"/api/v1/clients/{client_id}/events"), params=params,
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_client_past_its_quota_gets_429_once_recorded_and_others_keep_working(portcullis):
    portcullis.env["PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR"] = str(QUOTA)
    admin = portcullis.create_client(name="operator", role="admin")
    greedy = portcullis.create_client(name="never-caches", role="viewer")
    guessed = portcullis.create_client(name="guessed-at", role="viewer")
    server = portcullis.start()
    admin_token = get_token(portcullis, server, admin)["access_token"]

    issued = [get_token(portcullis, server, greedy)["access_token"] for _ in range(QUOTA)]
    refusals = [token_request(server, auth=(greedy["client_id"], greedy["client_secret"])) for _ in range(3)]
    for r in refusals:
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "temporarily_unavailable"
        assert "keep each token until it expires" in r.json()["error_description"]
        # One more every hour / 3: within 20 minutes.
        assert 1 <= int(r.headers["Retry-After"]) <= 20 * 60
        assert r.headers["Cache-Control"] == "no-store"
        assert "access_token" not in r.text

    # The tokens it has keep working.
    for t in issued:
        r = requests.post(server.url("/oauth2/introspect"), data={"token": t},
                          headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
        assert r.json()["active"] is True, r.text

    # Wrong secrets sent with a client's id spend nothing of its quota.
    for _ in range(10):
        assert token_request(server, auth=(guessed["client_id"], well_formed_secret())).status_code == 401
    for _ in range(QUOTA):
        get_token(portcullis, server, guessed)

    # An operator may still issue it a token through the admin API (not the token endpoint).
    r = requests.post(server.url(f"/api/v1/clients/{greedy['client_id']}/token"),
                      headers={"Authorization": f"Bearer {admin_token}"}, json={}, timeout=10)
    assert r.status_code == 200, r.text
    portcullis.remember(r.json()["access_token"])

    # One event for the moment it ran out, not one per refusal; the 429s are in its request log.
    deadline = time.monotonic() + 10
    while True:
        exceeded = events_of(server, admin_token, greedy["client_id"], kind="client.token_quota_exceeded")
        refused = [e for e in events_of(server, admin_token, greedy["client_id"], kind="token.request")
                   if e["status"] == 429]
        if (exceeded and len(refused) == 3) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(exceeded) == 1, exceeded
    assert exceeded[0]["status"] == 429
    r = requests.get(server.url(f"/api/v1/events/{exceeded[0]['event_id']}"),
                     headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    assert r.status_code == 200, r.text
    details = r.json()["details"]
    assert details["per_hour"] == QUOTA and 1 <= details["retry_after_seconds"] <= 20 * 60, details
    assert len(refused) == 3
    assert events_of(server, admin_token, guessed["client_id"], kind="client.token_quota_exceeded") == []


def test_without_the_setting_there_is_no_quota(portcullis, server):
    client = portcullis.create_client(name="busy", role="viewer")
    for _ in range(40):
        get_token(portcullis, server, client)
