"""Request events as an operator meets them: recorded by default, readable through the admin API with the
credentials redacted, and counted in /metrics (parsed with the Prometheus project's own client library)."""

import time

import requests
from authlib.integrations.requests_client import OAuth2Session
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import get_token, well_formed_secret


def scrape(server) -> dict[str, float]:
    r = requests.get(server.url("/metrics"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    return {s.name: s.value for family in text_string_to_metric_families(r.text) for s in family.samples}


def events_of(server, token: str, client_id: str, **params) -> list[dict]:
    r = requests.get(server.url(f"/api/v1/clients/{client_id}/events"), params=params,
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_token_requests_are_recorded_redacted_and_counted(portcullis, server, admin_client):
    # A client library's token request, then a failed one with a wrong secret.
    session = OAuth2Session(admin_client["client_id"], admin_client["client_secret"], scope="events:read")
    token = session.fetch_token(server.url("/oauth2/token"), grant_type="client_credentials")
    portcullis.remember(token["access_token"])
    wrong = requests.post(server.url("/oauth2/token"), data={"grant_type": "client_credentials"},
                          auth=(admin_client["client_id"], well_formed_secret()), timeout=10)
    assert wrong.status_code == 401

    deadline = time.monotonic() + 10
    while True:
        events = events_of(server, token["access_token"], admin_client["client_id"], kind="token.request")
        if len(events) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [e["status"] for e in events] == [401, 200], events  # newest first
    ok = requests.get(server.url(f"/api/v1/events/{events[1]['event_id']}"),
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert ok.status_code == 200, ok.text
    detail = ok.json()
    assert detail["method"] == "POST" and detail["path"] == "/oauth2/token"
    # The access token in the stored response keeps only its first and last four characters.
    access = token["access_token"]
    assert f"{access[:4]}…{access[-4:]}" in detail["response_body"]
    assert access not in str(detail) and admin_client["client_secret"] not in str(detail)

    metrics = scrape(server)
    assert metrics["portcullis_events_written_total"] >= 2
    assert metrics["portcullis_events_dropped_total"] == 0
    assert metrics["portcullis_events_queue_capacity"] > 0


def test_events_can_be_turned_off_and_metrics_still_answer(portcullis, admin_client):
    quiet = portcullis.start("--events", "off")
    token = get_token(portcullis, quiet, admin_client, scope="events:read")
    time.sleep(0.6)  # three flush intervals
    assert events_of(quiet, token["access_token"], admin_client["client_id"], kind="token.request") == []
    assert scrape(quiet)["portcullis_events_dropped_total"] == 0
