"""What events keep and whom they show it to (issue 11 §4), against the real binary: credentials sent
percent-encoded are redacted after decoding, passwords and GraphQL default values are not kept, an admin
call's bodies are shown only to a reader holding the permission that call needed, and failed
authentications as a client that does not exist are counted in /metrics instead of stored."""

import json
import time
import uuid

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import FORM, basic, get_token


def encodings(text: str) -> list[str]:
    """As is, fully percent-encoded (upper- and lower-case hex), and with only its first byte encoded."""
    upper = "".join(f"%{b:02X}" for b in text.encode())
    lower = "".join(f"%{b:02x}" for b in text.encode())
    return [text, upper, lower, f"%{text.encode()[0]:02X}{text[1:]}"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def all_events(server, token: str, ready) -> list[dict]:
    """Every stored event with its bodies, once `ready(listed events)` holds (events are written in batches)."""
    deadline = time.monotonic() + 10
    while True:
        r = requests.get(server.url("/api/v1/events"), params={"limit": 200}, headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if ready(items) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    details = []
    for item in items:
        r = requests.get(server.url(f"/api/v1/events/{item['event_id']}"), headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        details.append(r.json())
    return details


def post_form(server, path: str, body: str, authorization: str | None = None) -> requests.Response:
    headers = {"Content-Type": FORM}
    if authorization:
        headers["Authorization"] = authorization
    return requests.post(server.url(path), data=body.encode(), headers=headers, timeout=10)


def unknown_client_failures(server) -> float:
    r = requests.get(server.url("/metrics"), timeout=10)
    assert r.status_code == 200, r.text
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == "portcullis_auth_failures_total" and s.labels == {"reason": "unknown_client"}:
                return s.value
    raise AssertionError(r.text)


def test_percent_encoded_credentials_are_never_stored(portcullis, server, admin_client):
    rs = portcullis.create_client(name="resource server", role="resource-server")
    cid, secret = rs["client_id"], rs["client_secret"]
    tokens = []
    for n, encoded in enumerate(encodings(secret)):
        name = "client%5Fsecret" if n % 2 == 0 else "%63lient_secret"
        r = post_form(server, "/oauth2/token", f"grant_type=client_credentials&client_id={cid}&{name}={encoded}")
        assert r.status_code == 200, r.text
        tokens.append(r.json()["access_token"])
        portcullis.remember(tokens[-1])
    for n, token in enumerate(tokens):
        r = post_form(server, "/oauth2/introspect", f"%74oken={encodings(token)[n % 4]}", basic(cid, secret))
        assert r.status_code == 200 and r.json()["active"] is True, r.text
    r = post_form(server, "/oauth2/revoke",
                  f"%74oken={encodings(tokens[1])[1]}&client_id={cid}&client%5Fsecret={encodings(secret)[2]}")
    assert r.status_code == 200, r.text

    reader = get_token(portcullis, server, admin_client, scope="events:read")["access_token"]
    requests_of = lambda items: [e for e in items if e["client_id"] == cid and e["kind"] != "client.created"]
    events = all_events(server, reader, lambda items: len(requests_of(items)) >= 9)
    mine = requests_of(events)
    assert sorted(e["kind"] for e in mine) == ["introspection"] * 4 + ["revocation"] + ["token.request"] * 4, mine
    stored = str(events)
    for credential in [secret, *tokens]:
        for encoded in encodings(credential):
            assert encoded not in stored, f"a credential reached the events as {encoded}"
    token_request = next(e for e in mine if e["kind"] == "token.request")
    assert token_request["request_body"] == (
        f"grant_type=client_credentials&client_id={cid}&client_secret=pcs_…{secret[-4:]}")


def test_passwords_and_graphql_defaults_are_not_stored(portcullis, server, admin_client):
    admin = get_token(portcullis, server, admin_client)["access_token"]
    password = "correct horse battery staple"
    r = requests.post(server.url("/api/v1/users"), headers=bearer(admin), timeout=10,
                      json={"email": "p@example.com", "name": "P", "roles": ["viewer"], "password": password})
    assert r.status_code == 201, r.text
    default = "lantern orbit meadow river"
    query = ('mutation($p: String = "%s") { createUser(input: {email: "d@example.com", name: "D", '
             'roles: ["viewer"], password: $p}) { user { id } } }' % default)
    r = requests.post(server.url("/graphql"), headers=bearer(admin), json={"query": query}, timeout=10)
    assert r.status_code == 200 and "errors" not in r.json(), r.text

    events = all_events(server, admin, lambda items: any(e["path"] == "/graphql" for e in items))
    stored = str(events)
    for clear in [password, default]:
        assert clear not in stored and clear[:4] not in stored, stored
    rest = next(e for e in events if e["path"] == "/api/v1/users" and e["method"] == "POST")
    assert '"password":"[redacted]"' in rest["request_body"], rest
    graphql = next(e for e in events if e["path"] == "/graphql")
    assert 'String = \\"[redacted]\\"' in graphql["request_body"], graphql


def test_admin_bodies_need_the_permission_the_call_needed(portcullis, server, admin_client):
    admin = get_token(portcullis, server, admin_client)["access_token"]
    r = requests.post(server.url("/api/v1/users"), headers=bearer(admin), timeout=10,
                      json={"email": "private@example.com", "name": "P", "roles": ["viewer"]})
    assert r.status_code == 201, r.text
    r = requests.get(server.url("/api/v1/users"), headers=bearer(admin), timeout=10)
    assert "private@example.com" in r.text
    events_only = get_token(portcullis, server, admin_client, scope="events:read")["access_token"]
    users_reader = get_token(portcullis, server, admin_client, scope="events:read users:read")["access_token"]

    listed = all_events(server, admin, lambda items: any(e["path"] == "/api/v1/users" and e["method"] == "GET"
                                                          for e in items))
    call = next(e for e in listed if e["path"] == "/api/v1/users" and e["method"] == "GET")
    token_call = next(e for e in listed if e["path"] == "/oauth2/token")

    def read(token: str, event: dict) -> dict:
        r = requests.get(server.url(f"/api/v1/events/{event['event_id']}"), headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    hidden = read(events_only, call)
    assert hidden["bodies_hidden"] == "requires users:read", hidden
    assert hidden["required_permissions"] == ["users:read"]
    assert hidden["request_body"] is None and hidden["response_body"] is None
    assert "private@example.com" not in str(hidden)
    shown_token_call = read(events_only, token_call)
    assert shown_token_call["bodies_hidden"] is None and "access_token" in shown_token_call["response_body"]
    shown = read(users_reader, call)
    assert shown["bodies_hidden"] is None and "private@example.com" in shown["response_body"], shown
    # The same through GraphQL.
    query = "{ event(id: \"%s\") { responseBody bodiesHidden requiredPermissions } }" % call["event_id"]
    r = requests.post(server.url("/graphql"), headers=bearer(events_only), json={"query": query}, timeout=10)
    assert r.json()["data"]["event"] == {"responseBody": None, "bodiesHidden": "requires users:read",
                                         "requiredPermissions": ["users:read"]}, r.text


def test_change_details_need_the_permission_that_reads_their_subject(portcullis, server, admin_client):
    admin = get_token(portcullis, server, admin_client)["access_token"]
    r = requests.post(server.url("/api/v1/users"), headers=bearer(admin), timeout=10,
                      json={"email": "quiet@example.com", "name": "Q", "roles": ["viewer"]})
    assert r.status_code == 201, r.text
    events_only = get_token(portcullis, server, admin_client, scope="events:read")["access_token"]
    users_reader = get_token(portcullis, server, admin_client, scope="events:read users:read")["access_token"]
    r = requests.get(server.url("/api/v1/events?kind=user.created"), headers=bearer(admin), timeout=10)
    created = r.json()["items"][0]  # newest first: this user's
    path = server.url(f"/api/v1/events/{created['event_id']}")

    hidden = requests.get(path, headers=bearer(events_only), timeout=10).json()
    assert hidden["kind"] == "user.created" and hidden["details"] is None, hidden
    assert hidden["bodies_hidden"] == "requires users:read" and hidden["required_permissions"] == ["users:read"]
    assert "quiet@example.com" not in json.dumps(hidden)
    shown = requests.get(path, headers=bearer(users_reader), timeout=10).json()
    assert shown["bodies_hidden"] is None and shown["details"]["email"] == "quiet@example.com", shown
    query = "{ event(id: \"%s\") { details bodiesHidden } }" % created["event_id"]
    r = requests.post(server.url("/graphql"), headers=bearer(events_only), json={"query": query}, timeout=10)
    assert r.json()["data"]["event"] == {"details": None, "bodiesHidden": "requires users:read"}, r.text


def test_unknown_client_failures_are_counted_not_stored(portcullis, server, admin_client):
    viewer = portcullis.create_client(name="viewer", role="viewer")
    unknown = str(uuid.uuid4())
    before = unknown_client_failures(server)
    padding = "x" * 8000
    r = post_form(server, "/oauth2/token",
                  f"grant_type=client_credentials&client_id={unknown}&client_secret={viewer['client_secret']}&pad={padding}")
    assert r.status_code == 401
    r = post_form(server, "/oauth2/token", f"grant_type=client_credentials&pad={padding}",
                  basic(unknown, viewer["client_secret"]))
    assert r.status_code == 401
    assert unknown_client_failures(server) == before + 2
    # A real client's failure is stored, short.
    r = post_form(server, "/oauth2/token", f"grant_type=client_credentials&pad={padding}",
                  basic(viewer["client_id"], "pcs_wrong"))
    assert r.status_code == 401
    assert unknown_client_failures(server) == before + 2

    reader = get_token(portcullis, server, admin_client, scope="events:read")["access_token"]
    events = all_events(server, reader, lambda items: any(e["status"] == 401 for e in items))
    assert unknown not in str(events)
    failures = [e for e in events if e["status"] == 401]
    assert len(failures) == 1 and failures[0]["client_id"] == viewer["client_id"], failures
    assert len(failures[0]["request_body"]) <= 1024 + len("…[truncated]")
    assert set(json.loads(failures[0]["response_body"])) <= {"error", "error_description"}
