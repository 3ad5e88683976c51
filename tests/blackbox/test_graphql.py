"""GraphQL at POST /graphql as a developer meets it, through a third-party client library (`gql`, with its
requests transport): the schema fetched by standard introspection and documents validated locally; a client
created over GraphQL getting a token from /oauth2/token (authlib) that verifies against the JWKS (PyJWT) and
calling GraphQL with it; cursor pagination; bulk enable, disable and delete; permissions; no secret in the
schema beyond the five fields that hand one out, and none in the stored events; hostile documents refused
quickly by the depth, cost and size limits, with the server answering afterwards."""

import json
import re
import time
import uuid

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
    get_named_type,
    lexicographic_sort_schema,
    print_schema,
)

from conftest import ADMIN_SCOPES, REPO_ROOT, SECRET_RE, VIEWER_SCOPES, discover, get_token, secret_checksum, \
    token_request, verify

GRAPHQL = "/graphql"
QUICK = 3.0  # seconds: what "answered at once" means for a hostile document, even on a debug build


# --- helpers ----------------------------------------------------------------------------------

def gql_client(server, token: str | None = None, *, fetch_schema: bool = True, headers: dict | None = None,
               cookies=None) -> Client:
    """How a developer would set it up: bearer token in a header, the schema fetched by introspection."""
    h = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    transport = RequestsHTTPTransport(url=server.url(GRAPHQL), headers=h, cookies=cookies, timeout=30, retries=0)
    return Client(transport=transport, fetch_schema_from_transport=fetch_schema)


def req(document: str, **variables) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables or None)


def refused(session, document: str, **variables) -> list[dict]:
    """The GraphQL errors of a document the server refuses; it answers no data: `data` is null, or each
    field asked for is (a refused field is null, GraphQL spec "Handling Field Errors")."""
    with pytest.raises(TransportQueryError) as e:
        session.execute(req(document, **variables))
    assert e.value.errors, e.value
    assert not e.value.data or all(v is None for v in e.value.data.values()), e.value.data
    return e.value.errors


def admin_token(portcullis, server, client: dict, scope: str | None = None) -> str:
    return get_token(portcullis, server, client, **({"scope": scope} if scope else {}))["access_token"]


def post(server, token: str | None, body=None, *, data: str | bytes | None = None,
         headers: dict | None = None) -> tuple[requests.Response, float]:
    """A raw POST /graphql and how long the answer took."""
    h = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    started = time.monotonic()
    r = requests.post(server.url(GRAPHQL), json=body, data=data, headers=h, timeout=30)
    return r, time.monotonic() - started


def only_error(r: requests.Response, status: int = 200) -> dict:
    """The single GraphQL error of an answer that has no data."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.headers["Cache-Control"] == "no-store", r.headers
    body = r.json()
    assert body.get("data") is None, body
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert isinstance(error["message"], str) and error["message"], error
    return error


CREATE_CLIENT = """
mutation Create($input: CreateClientInput!) {
  createClient(input: $input) {
    client { id name description status role accessTokenTtlSeconds createdAt lastUsedAt }
    clientSecret
  }
}"""

BULK_FIELDS = "action results { clientId result } summary { done notFound alreadyInState }"
SET_ENABLED = "mutation($ids: [ID!]!, $on: Boolean!) { setClientsEnabled(clientIds: $ids, enabled: $on) { %s } }" \
    % BULK_FIELDS
DELETE = "mutation($ids: [ID!]!) { deleteClients(clientIds: $ids) { %s } }" % BULK_FIELDS
STATUSES = "{ clients(first: 200) { pageInfo { hasNextPage } edges { node { id status } } } }"


def create_clients(portcullis, session, n: int, role: str | None = None, prefix: str = "gql") -> list[dict]:
    """`n` clients made with `createClient`, oldest first, with their secrets."""
    made = []
    for i in range(n):
        payload = session.execute(req(CREATE_CLIENT, input={"name": f"{prefix} {i}", "role": role}))["createClient"]
        client = {"client_id": payload["client"]["id"], "client_secret": payload["clientSecret"]}
        portcullis.remember_client(client["client_id"], client["client_secret"])
        made.append(client)
    return made


def statuses(session) -> dict[str, str]:
    """Every client's status, by id, newest first."""
    page = session.execute(req(STATUSES))["clients"]
    assert page["pageInfo"]["hasNextPage"] is False
    return {e["node"]["id"]: e["node"]["status"] for e in page["edges"]}


def results(payload: dict) -> list[tuple[str, str]]:
    return [(r["clientId"], r["result"]) for r in payload["results"]]


def token_status(server, client: dict) -> tuple[int, str | None]:
    r = token_request(server, auth=(client["client_id"], client["client_secret"]))
    return r.status_code, (r.json().get("error") if r.status_code != 200 else None)


# --- the client library ------------------------------------------------------------------------

def test_gql_fetches_the_schema_by_introspection_and_validates_documents_locally(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    client = gql_client(server, token)
    with client as session:
        # The standard introspection query (graphql-core's, as gql sends it) fits the depth and cost limits.
        schema = client.schema
        assert schema is not None and schema.query_type.name == "Query" and schema.mutation_type.name == "Mutation"
        assert schema.subscription_type is None
        assert {"clients", "client", "events", "me"} <= set(schema.query_type.fields)

        # What is served is what docs/schema.graphql says.
        committed = build_schema((REPO_ROOT / "docs" / "schema.graphql").read_text())
        assert print_schema(lexicographic_sort_schema(schema)) == print_schema(lexicographic_sort_schema(committed))

        me = session.execute(req("{ me { kind permissions client { id name } user { id } } }"))["me"]
        assert me["kind"] == "CLIENT"
        assert set(me["permissions"]) == ADMIN_SCOPES
        assert me["client"] == {"id": admin_client["client_id"], "name": "admin client"}
        assert me["user"] is None

        # Refused by the client library itself, with graphql-core's words, before anything is sent.
        for document, words in [("{ me { nope } }", "Cannot query field 'nope' on type 'Me'."),
                                ("{ clients(first: \"two\") { nodes { id } } }", "Int cannot represent"),
                                ("mutation { createClient(input: {}) { clientSecret } }", "field 'name'")]:
            with pytest.raises(GraphQLError) as e:
                session.execute(req(document))
            assert not isinstance(e.value, TransportQueryError)
            assert words in e.value.message, e.value.message


# --- a client made over GraphQL, its token, and GraphQL with that token ------------------------

def test_a_client_created_over_graphql_gets_a_token_with_authlib_and_calls_graphql_with_it(
        portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    with gql_client(server, token) as admin:
        payload = admin.execute(req(CREATE_CLIENT, input={
            "name": "made over graphql", "description": "by test_graphql", "role": "viewer",
            "accessTokenTtlSeconds": 600}))["createClient"]
    made, secret = payload["client"], payload["clientSecret"]
    portcullis.remember_client(made["id"], secret)
    assert SECRET_RE.match(secret), "secret is not pcs_<43 base62>_<6 base62>"
    assert secret[-6:] == secret_checksum(secret[:-7])
    assert uuid.UUID(made["id"])
    assert (made["name"], made["description"], made["status"], made["role"], made["accessTokenTtlSeconds"]) == \
        ("made over graphql", "by test_graphql", "ENABLED", "viewer", 600)
    assert made["lastUsedAt"] is None

    meta = discover(server)
    oauth = OAuth2Session(made["id"], secret, token_endpoint_auth_method="client_secret_basic")
    issued = oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    portcullis.remember(issued["access_token"])
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 600
    assert set(issued["scope"].split()) == VIEWER_SCOPES
    claims = verify(issued["access_token"], meta, meta["issuer"])
    assert claims["client_id"] == claims["sub"] == made["id"]
    assert set(claims["scope"].split()) == VIEWER_SCOPES

    with gql_client(server, issued["access_token"]) as mine:
        me = mine.execute(req("{ me { kind permissions client { id name role } } }"))["me"]
        assert me["kind"] == "CLIENT"
        assert set(me["permissions"]) == VIEWER_SCOPES
        assert me["client"] == {"id": made["id"], "name": "made over graphql", "role": "viewer"}
        # A viewer reads clients: itself and the admin client, newest first.
        listed = mine.execute(req("{ clients { nodes { id } } }"))["clients"]["nodes"]
        assert [c["id"] for c in listed] == [made["id"], admin_client["client_id"]]


# --- pagination ---------------------------------------------------------------------------------

PAGE = """
query Page($after: String) {
  clients(first: 2, after: $after) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name } }
  }
}"""


def test_clients_pages_of_two_walk_every_client_once_newest_first(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    with gql_client(server, token) as session:
        made = create_clients(portcullis, session, 5, prefix="page")
        expected = [c["client_id"] for c in reversed(made)] + [admin_client["client_id"]]

        seen, pages, after = [], [], None
        while True:
            page = session.execute(req(PAGE, after=after))["clients"]
            pages.append(page)
            assert len(pages) <= 10, "pagination does not end"
            seen += [e["node"]["id"] for e in page["edges"]]
            assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
            if not page["pageInfo"]["hasNextPage"]:
                break
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            after = page["pageInfo"]["endCursor"]

        assert seen == expected, "every client once, newest first"
        assert [len(p["edges"]) for p in pages] == [2, 2, 2]
        assert [e["node"]["name"] for e in pages[0]["edges"]] == ["page 4", "page 3"]

        for first in (0, -1, 201):
            errors = refused(session, "query($n: Int) { clients(first: $n) { nodes { id } } }", n=first)
            assert errors[0]["extensions"]["code"] == "INVALID_FIELD", errors
            assert errors[0]["extensions"]["field"] == "first", errors
        errors = refused(session, PAGE, after="not a cursor")
        assert errors[0]["extensions"]["status"] == 400 and errors[0]["path"] == ["clients"], errors


def test_a_bad_cursor_names_the_after_argument(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    with gql_client(server, token) as session:
        for document in ("query($a: String) { clients(after: $a) { nodes { id } } }",
                         "query($a: String) { events(after: $a) { nodes { id } } }"):
            errors = refused(session, document, a="not a cursor")
            assert errors[0]["extensions"]["field"] == "after", errors


# --- bulk ------------------------------------------------------------------------------------------

def test_bulk_reports_each_listed_id_and_the_token_endpoint_sees_it(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    meta = discover(server)
    with gql_client(server, token) as session:
        a, b, off = create_clients(portcullis, session, 3, role="viewer", prefix="bulk")
        a_id, b_id, off_id, admin_id = a["client_id"], b["client_id"], off["client_id"], admin_client["client_id"]
        assert results(session.execute(req(SET_ENABLED, ids=[off_id], on=False))["setClientsEnabled"]) == \
            [(off_id, "DONE")]
        assert token_status(server, a) == (200, None)
        unknown = str(uuid.uuid4())

        payload = session.execute(req(SET_ENABLED, ids=[a_id, unknown, off_id, b_id, a_id], on=False))
        payload = payload["setClientsEnabled"]
        assert payload["action"] == "DISABLE"
        assert results(payload) == [(a_id, "DONE"), (unknown, "NOT_FOUND"), (off_id, "ALREADY_IN_STATE"),
                                    (b_id, "DONE")]
        assert payload["summary"] == {"done": 2, "notFound": 1, "alreadyInState": 1}
        assert statuses(session) == {off_id: "DISABLED", b_id: "DISABLED", a_id: "DISABLED", admin_id: "ENABLED"}

        # A client library asking for a token for a disabled client is told invalid_client.
        for c in (a, b):
            with pytest.raises(OAuthError) as e:
                OAuth2Session(c["client_id"], c["client_secret"]).fetch_token(
                    meta["token_endpoint"], grant_type="client_credentials")
            assert e.value.error == "invalid_client"
            assert token_status(server, c) == (401, "invalid_client")

        payload = session.execute(req(SET_ENABLED, ids=[a_id, admin_id], on=True))["setClientsEnabled"]
        assert payload["action"] == "ENABLE"
        assert results(payload) == [(a_id, "DONE"), (admin_id, "ALREADY_IN_STATE")]
        assert payload["summary"] == {"done": 1, "notFound": 0, "alreadyInState": 1}
        assert token_status(server, a) == (200, None), "the same secret works again"

        payload = session.execute(req(DELETE, ids=[off_id, unknown, b_id]))["deleteClients"]
        assert payload["action"] == "DELETE"
        assert results(payload) == [(off_id, "DONE"), (unknown, "NOT_FOUND"), (b_id, "DONE")]
        assert payload["summary"] == {"done": 2, "notFound": 1, "alreadyInState": 0}
        assert statuses(session) == {a_id: "ENABLED", admin_id: "ENABLED"}
        assert token_status(server, b) == (401, "invalid_client")


def test_a_malformed_id_in_a_bulk_list_names_its_index_and_changes_nothing(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    with gql_client(server, token) as session:
        a, b = (c["client_id"] for c in create_clients(portcullis, session, 2, prefix="target"))
        before = statuses(session)
        assert set(before.values()) == {"ENABLED"}
        for bad in ("not-a-uuid", a.replace("-", ""), f" {a}", "", "42"):
            for name, document, variables in [("setClientsEnabled", SET_ENABLED, {"ids": [b, bad, a], "on": False}),
                                              ("deleteClients", DELETE, {"ids": [b, bad, a]})]:
                errors = refused(session, document, **variables)
                assert len(errors) == 1, errors
                ext = errors[0]["extensions"]
                assert (ext["code"], ext["field"], ext["status"]) == ("INVALID_FIELD", "clientIds[1]", 400), errors
                assert errors[0]["path"] == [name], errors
                assert errors[0]["message"].startswith("clientIds[1]"), errors
        too_many = [str(uuid.uuid4()) for _ in range(1000)] + [a]
        errors = refused(session, DELETE, ids=too_many)
        assert (errors[0]["extensions"]["code"], errors[0]["extensions"]["field"]) == ("INVALID_FIELD", "clientIds")
        assert "1000" in errors[0]["message"] or "1,000" in errors[0]["message"], errors
        assert statuses(session) == before, "nothing changed"


# --- permissions -------------------------------------------------------------------------------

def test_a_viewer_reads_clients_but_may_not_create_one(portcullis, server, admin_client):
    viewer = portcullis.create_client(name="viewer", role="viewer")
    narrowed = admin_token(portcullis, server, admin_client, scope="clients:read")
    for token in (admin_token(portcullis, server, viewer), narrowed):
        with gql_client(server, token) as session:
            page = session.execute(req("{ clients { edges { node { id name status } } } }"))["clients"]
            assert {e["node"]["id"] for e in page["edges"]} == {viewer["client_id"], admin_client["client_id"]}
            errors = refused(session, CREATE_CLIENT, input={"name": "not allowed"})
            assert len(errors) == 1, errors
            ext = errors[0]["extensions"]
            assert ext["code"] == "INSUFFICIENT_SCOPE", errors
            assert ext["requiredPermission"] == "clients:write", errors
            assert ext["status"] == 403, errors
            assert errors[0]["path"] == ["createClient"], errors
            errors = refused(session, "mutation($id: ID!) { regenerateClientSecret(id: $id) { clientSecret } }",
                             id=admin_client["client_id"])
            assert errors[0]["extensions"]["requiredPermission"] == "clients:secrets", errors
    with gql_client(server, admin_token(portcullis, server, admin_client)) as session:
        assert set(statuses(session)) == {viewer["client_id"], admin_client["client_id"]}, "nothing was created"


def test_without_a_valid_token_graphql_answers_401_with_a_bearer_challenge(portcullis, server, admin_client):
    r, _ = post(server, None, {"query": "{ me { kind } }"})
    error = only_error(r, 401)
    assert error["extensions"]["code"] == "UNAUTHORIZED", error
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="portcullis"'

    r, _ = post(server, "not-a-token", {"query": "{ me { kind } }"})
    assert only_error(r, 401)["extensions"]["code"] == "UNAUTHORIZED"
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]

    # The client library gets the same answer to its first request, the introspection query.
    with pytest.raises(TransportQueryError) as e:
        with gql_client(server, None):
            pass
    assert e.value.errors[0]["extensions"]["code"] == "UNAUTHORIZED", e.value.errors

    # Credentials are checked before the body is looked at.
    r, _ = post(server, None, data="{not json", headers={"Content-Type": "application/json"})
    assert only_error(r, 401)["extensions"]["code"] == "UNAUTHORIZED"


# --- secrets ---------------------------------------------------------------------------------------

HASHLIKE = re.compile(r"hash", re.I)
# The last word of a camel-case name that says its value is a credential.
CREDENTIAL_WORD = re.compile(r"(?:^|(?<=[a-z0-9]))(?:secret|password|passphrase|token|key|credentials?|jwt|pat)$",
                             re.I)
SECRET_FIELDS = {
    "CreateClientPayload.clientSecret",
    "RegenerateClientSecretPayload.clientSecret",
    "CreateUserPayload.password",
    "RotatePersonalAccessTokenPayload.token",
    "AccessToken.accessToken",
}


def test_no_field_is_named_like_a_hash_and_only_five_hand_out_a_secret(portcullis, server, admin_client):
    client = gql_client(server, admin_token(portcullis, server, admin_client))
    with client:
        schema = client.schema
    names, carriers = [], set()
    for type_name, t in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        names.append(type_name)
        if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in t.fields.items():
                names.append(f"{type_name}.{field_name}")
                names += [f"{type_name}.{field_name}({arg})" for arg in getattr(field, "args", {})]
                output = isinstance(t, (GraphQLObjectType, GraphQLInterfaceType))
                if output and get_named_type(field.type).name == "String" and CREDENTIAL_WORD.search(field_name):
                    carriers.add(f"{type_name}.{field_name}")
    assert len(names) > 200, "the introspected schema is suspiciously small"
    assert [n for n in names if HASHLIKE.search(n)] == []
    assert carriers == SECRET_FIELDS
    # What is known of a personal access token, without the token.
    assert set(schema.type_map["PersonalAccessToken"].fields) == {"hint", "createdAt", "lastUsedAt"}


def recorded_graphql_events(session, want: dict[str, int], within: float = 10.0) -> list[dict]:
    """Every stored event (written every 200 ms), once the GraphQL requests naming each key of `want` number
    at least its value."""
    document = """
    query($after: String) {
      events(first: 50, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id kind path status clientId userId actor requestBody responseBody details }
      }
    }"""
    deadline = time.monotonic() + within
    while True:
        events, after = [], None
        while True:
            page = session.execute(req(document, after=after))["events"]
            events += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        graphql = [e for e in events if e["path"] == GRAPHQL]
        counts = {k: sum(k in (e["requestBody"] or "") for e in graphql) for k in want}
        if all(counts[k] >= n for k, n in want.items()):
            return events
        assert time.monotonic() < deadline, f"events not written within {within}s: {counts}"
        time.sleep(0.2)


def marker(secret: str) -> str:
    return f"{secret[:4]}…{secret[-4:]}"


def test_secrets_sent_or_answered_over_graphql_are_not_in_the_stored_events(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    password = f"Quartz-harbor-{uuid.uuid4().hex[:12]}-velvet"
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    portcullis.remember(password)
    with gql_client(server, token, fetch_schema=False) as admin:
        # The password as a literal in the document's text, not a variable.
        document = 'mutation { createUser(input: {email: "%s", name: "Ops", roles: ["admin"], password: "%s"}) ' \
                   '{ user { id email status } password } }' % (email, password)
        created_user = admin.execute(req(document))["createUser"]
        assert created_user["password"] is None, "a password that was given is not handed back"
        assert created_user["user"]["email"] == email and created_user["user"]["status"] == "ENABLED"

        payload = admin.execute(req(CREATE_CLIENT, input={"name": "secret holder", "role": "viewer"}))["createClient"]
        client_id, first_secret = payload["client"]["id"], payload["clientSecret"]
        portcullis.remember_client(client_id, first_secret)
        regenerated = admin.execute(req("mutation($id: ID!) { regenerateClientSecret(id: $id) "
                                        "{ client { id } clientSecret } }", id=client_id))["regenerateClientSecret"]
        second_secret = regenerated["clientSecret"]
        portcullis.remember_client(client_id, second_secret)
        assert regenerated["client"]["id"] == client_id and second_secret != first_secret
        assert token_status(server, {"client_id": client_id, "client_secret": first_secret}) == (401, "invalid_client")
        assert token_status(server, {"client_id": client_id, "client_secret": second_secret}) == (200, None)

        issued = admin.execute(req("mutation($id: ID!) { issueAccessToken(clientId: $id) "
                                   "{ accessToken tokenType expiresIn scope } }", id=client_id))["issueAccessToken"]
        portcullis.remember(issued["accessToken"])
        meta = discover(server)
        assert verify(issued["accessToken"], meta, meta["issuer"])["client_id"] == client_id

    # The user signs in, makes a personal access token over GraphQL with the session, then rotates it with itself.
    with requests.Session() as browser:
        r = browser.post(server.url("/api/v1/session"), json={"email": email, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        with gql_client(server, None, fetch_schema=False, cookies=browser.cookies,
                        headers={"X-CSRF-Token": csrf}) as signed_in:
            rotated = signed_in.execute(req("mutation { rotatePersonalAccessToken { token "
                                            "personalAccessToken { hint } } }"))["rotatePersonalAccessToken"]
    first_pat = rotated["token"]
    portcullis.remember(first_pat)
    assert first_pat.startswith("pat_") and rotated["personalAccessToken"]["hint"] == f"pat_…{first_pat[-4:]}"
    with gql_client(server, first_pat, fetch_schema=False) as by_pat:
        second_pat = by_pat.execute(req("mutation { rotatePersonalAccessToken { token } }"))[
            "rotatePersonalAccessToken"]["token"]
    portcullis.remember(second_pat)
    assert second_pat.startswith("pat_") and second_pat != first_pat
    r, _ = post(server, first_pat, {"query": "{ me { kind } }"})
    assert only_error(r, 401)["extensions"]["code"] == "UNAUTHORIZED", "the first token stopped working"
    with gql_client(server, second_pat) as by_pat:
        me = by_pat.execute(req("{ me { kind user { email } personalAccessToken { hint } } }"))["me"]
    assert me == {"kind": "USER", "user": {"email": email}, "personalAccessToken": {"hint": f"pat_…{second_pat[-4:]}"}}

    with gql_client(server, token, fetch_schema=False) as admin:
        events = recorded_graphql_events(admin, {"createUser": 1, "createClient": 1, "regenerateClientSecret": 1,
                                                 "issueAccessToken": 1, "rotatePersonalAccessToken": 2})
        # Each GraphQL event also as the REST API shows it.
        stored = [e for e in events if e["path"] == GRAPHQL]
        rest = []
        for e in stored:
            r = requests.get(server.url(f"/api/v1/events/{e['id']}"), headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
            assert r.status_code == 200, r.text
            rest.append(r.json())

    dump = json.dumps(events, ensure_ascii=False) + json.dumps(rest, ensure_ascii=False)
    secrets = {"password": password, "first client secret": first_secret, "second client secret": second_secret,
               "issued access token": issued["accessToken"], "first PAT": first_pat, "second PAT": second_pat}
    assert [name for name, value in secrets.items() if value in dump] == []
    leaked = sorted(v for v in portcullis.seen if v in dump)
    assert not leaked, f"{len(leaked)} remembered secret(s)/token(s) are in the stored events"

    # The events were recorded with their bodies, each of our credentials down to a marker; a mutation whose own name
    # ends like a credential's (`regenerateClientSecret`, `issueAccessToken`, `rotatePersonalAccessToken`) has its
    # whole answer replaced by one.
    def body_of(mutation: str, side: str) -> str:
        bodies = [e[side] for e in stored if mutation in (e["requestBody"] or "")]
        assert bodies and all(bodies), f"no {side} stored for {mutation}"
        return "\n".join(bodies)

    # A password is not one of our formats: nothing of it is kept (issue 11 §4).
    assert marker(password) not in body_of("createUser", "requestBody")
    assert 'password: \\"[redacted]\\"' in body_of("createUser", "requestBody")
    assert marker(first_secret) in body_of("createClient", "responseBody")
    for mutation, values in [("regenerateClientSecret", [second_secret]), ("issueAccessToken", [issued["accessToken"]]),
                             ("rotatePersonalAccessToken", [first_pat, second_pat])]:
        body = body_of(mutation, "responseBody")
        # Found by value and replaced by its marker; the rest of the answer is kept.
        assert all(marker(v) in body for v in values), body
    by_user = [e for e in stored if "rotatePersonalAccessToken" in e["requestBody"]]
    assert {e["userId"] for e in by_user} == {created_user["user"]["id"]}
    assert {e["kind"] for e in events} >= {"admin.request", "user.created", "client.created",
                                           "client.secret_regenerated"}


def test_a_password_in_a_variable_named_otherwise_is_not_stored(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    password = f"Lantern-orbit-{uuid.uuid4().hex[:12]}-meadow"
    portcullis.remember(password)
    with gql_client(server, token) as admin:
        user = admin.execute(req("mutation($pw: String, $email: String!) { createUser(input: {email: $email, "
                                 "name: \"Var\", roles: [\"viewer\"], password: $pw}) { user { id } } }",
                                 pw=password, email=f"var-{uuid.uuid4().hex[:8]}@example.com"))["createUser"]["user"]
        assert user["id"]
        events = recorded_graphql_events(admin, {"createUser": 1})
    stored = [e["requestBody"] for e in events if "createUser" in (e["requestBody"] or "")]
    assert stored and all(password not in body for body in stored), stored


def test_a_generated_password_under_an_alias_is_not_stored(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    with gql_client(server, token) as admin:
        payload = admin.execute(req("mutation($email: String!) { createUser(input: {email: $email, name: \"Alias\", "
                                    "roles: [\"viewer\"]}) { user { id } pw: password } }",
                                    email=f"alias-{uuid.uuid4().hex[:8]}@example.com"))["createUser"]
        generated = payload["pw"]
        assert generated and len(generated) >= 12
        portcullis.remember(generated)
        events = recorded_graphql_events(admin, {"createUser": 1})
    stored = [e["responseBody"] for e in events if "createUser" in (e["requestBody"] or "")]
    assert stored and all(generated not in (body or "") for body in stored), stored


# --- hostile documents -----------------------------------------------------------------------------

def nested(levels: int) -> str:
    return '{ __type(name: "Query") { ' + "ofType { " * levels + "name" + " }" * levels + " } }"


def fragment_doubling(levels: int, leaf: str) -> str:
    """`F<n>` spreads `F<n-1>` twice: 2^levels copies of `leaf` once expanded."""
    frags = [f"fragment F0 on Query {{ {leaf} }}"]
    frags += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)]
    return "query { ...F%d } %s" % (levels, " ".join(frags))


def test_hostile_documents_are_refused_at_once_by_the_limits(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    portcullis.create_client(name="one more", role=None)
    cases = [
        ("20 levels of ofType", nested(20), "QUERY_TOO_DEEP", 15),
        # Past 40 open brackets the document is refused before it is parsed (limit 40, not 15).
        ("40 levels of fields", "{" + "a{" * 40 + "b" + "}" * 40 + "}", "QUERY_TOO_DEEP", 40),
        ("3,000 aliases of me { permissions }",
         "{" + "".join(f"a{i}:me{{permissions}}" for i in range(3000)) + "}", "QUERY_TOO_COMPLEX", 5000),
        ("200 clients with 200 events each",
         "{ clients(first: 200) { edges { node { events(first: 200) { edges { node { id } } } } } } }",
         "QUERY_TOO_COMPLEX", 5000),
        ("fragments doubling 12 times over me", fragment_doubling(12, "me { permissions }"), "QUERY_TOO_COMPLEX",
         5000),
        ("fragments spreading each other", "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
         None, None),
    ]
    for name, document, code, limit in cases:
        assert len(document.encode()) < 64 * 1024, name
        r, took = post(server, token, {"query": document})
        assert took < QUICK, f"{name}: answered in {took:.1f}s"
        error = only_error(r)
        if code is None:  # refused before it runs; the code depends on which check sees it first
            assert error["extensions"]["code"] in {"GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_DEEP"}, (name, error)
        else:
            assert error["extensions"]["code"] == code, (name, error)
        if limit is not None:
            assert error["extensions"]["limit"] == limit, (name, error)

    # Just inside the limits: the deepest introspection gql sends (13), a page of 200 clients with a dozen fields.
    r, _ = post(server, token, {"query": nested(13)})
    assert r.status_code == 200 and r.json() == {"data": {"__type": {"ofType": None}}}, r.text
    fields = "id name description status role accessTokenTtlSeconds createdAt lastUsedAt"
    r, _ = post(server, token, {"query": "{ clients(first: 200) { edges { cursor node { %s } } } }" % fields})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert len(r.json()["data"]["clients"]["edges"]) == 2

    # 60 KB of one alias repeated: fields that merge, so the answer is one field, and quick.
    document = "{" + " a:__typename" * 4600 + "}"
    assert 58_000 < len(document) < 64 * 1024
    r, took = post(server, token, {"query": document})
    assert took < QUICK, f"answered in {took:.1f}s"
    assert r.status_code == 200 and r.json() == {"data": {"a": "Query"}}, r.text[:500]

    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    with gql_client(server, token) as session:
        assert session.execute(req("{ me { kind } }")) == {"me": {"kind": "CLIENT"}}


def test_bodies_that_are_not_a_graphql_request_get_a_graphql_shaped_error(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("a body over 64 KiB", {"query": "{ me { kind } }", "variables": {"pad": "x" * 70_000}}, None, None,
         413, "PAYLOAD_TOO_LARGE"),
        ("10,000 aliases of __typename (130 KB)", {"query": "{" + " a:__typename" * 10_000 + "}"}, None, None,
         413, "PAYLOAD_TOO_LARGE"),
        ("broken JSON", None, "{not json", json_type, 400, "MALFORMED_BODY"),
        ("JSON nested 5,000 deep", None,
         '{"query": "{ me { kind } }", "variables": {"v": ' + "[" * 5000 + "]" * 5000 + "}}", json_type,
         400, "MALFORMED_BODY"),
        ("an array", [{"query": "{ me { kind } }"}], None, None, 400, "MALFORMED_BODY"),
        ("no query", {"variables": {}}, None, None, 400, "INVALID_FIELD"),
        ("an unknown member", {"query": "{ me { kind } }", "persisted": True}, None, None, 400, "INVALID_FIELD"),
        ("variables not an object", {"query": "{ me { kind } }", "variables": [1]}, None, None, 400, "INVALID_FIELD"),
        ("text/plain", None, '{"query": "{ me { kind } }"}', {"Content-Type": "text/plain"}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
    ]
    for name, body, data, headers, status, code in cases:
        r, took = post(server, token, body, data=data, headers=headers)
        assert took < QUICK, f"{name}: answered in {took:.1f}s"
        error = only_error(r, status)
        assert error["extensions"]["code"] == code, (name, error)
        assert error["extensions"]["status"] == status, (name, error)

    for name, document, code in [
            ("a syntax error", "{ me { kind ", "GRAPHQL_PARSE_FAILED"),
            ("no operation", "", "GRAPHQL_PARSE_FAILED"),
            ("an unknown field", "{ me { nope } }", "GRAPHQL_VALIDATION_FAILED"),
            ("two anonymous operations", "{ me { kind } } { me { kind } }", "GRAPHQL_VALIDATION_FAILED"),
            ("an alias for two fields", "{ me { kind } me: clients { nodes { id } } }", "GRAPHQL_VALIDATION_FAILED")]:
        r, took = post(server, token, {"query": document})
        assert took < QUICK, f"{name}: answered in {took:.1f}s"
        error = only_error(r)
        assert error["extensions"]["code"] == code, (name, error)
    # A subscription, which this schema has none of: refused (the same error comes twice).
    r, _ = post(server, token, {"query": "subscription { me { kind } }"})
    assert r.status_code == 200 and r.json()["data"] is None, r.text
    assert {e["extensions"]["code"] for e in r.json()["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}, r.text

    r, _ = post(server, token, {"query": "query($n: Int!) { clients(first: $n) { nodes { id } } }",
                                "variables": {"n": "two"}})
    assert r.status_code == 200 and r.json()["data"] is None, r.text
    assert {e["extensions"]["code"] for e in r.json()["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}, r.text

    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    r, _ = post(server, token, {"query": "{ me { kind } }"})
    assert r.status_code == 200 and r.json() == {"data": {"me": {"kind": "CLIENT"}}}, r.text


def test_nesting_far_past_the_limit_is_also_query_too_deep(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    for document in (nested(100), "{" + "a{" * 1000 + "b" + "}" * 1000 + "}"):
        r, took = post(server, token, {"query": document})
        assert took < QUICK, f"answered in {took:.1f}s"
        error = only_error(r)
        # Refused by the depth limit (15) or, past 40 open brackets, before parsing (40).
        assert error["extensions"]["code"] == "QUERY_TOO_DEEP" and error["extensions"].get("limit") in (15, 40), error


def test_a_refused_nullable_field_is_null_and_its_siblings_are_kept(portcullis, server, admin_client):
    token = admin_token(portcullis, server, admin_client)
    for document, data in [("{ me { kind personalAccessToken { hint } } }",
                             {"me": {"kind": "CLIENT", "personalAccessToken": None}}),
                           ("{ me { personalAccessToken { hint } } }", {"me": {"personalAccessToken": None}})]:
        r, _ = post(server, token, {"query": document})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_A_USER"], body
        assert body["errors"][0]["path"] == ["me", "personalAccessToken"], body
        assert body["data"] == data, body


def test_deeply_nested_values_are_refused_and_the_server_survives(portcullis, server):
    nobody = portcullis.create_client(name="no permissions at all", role=None)
    token = get_token(portcullis, server, nobody)["access_token"]
    documents = [("{ me(x: " + "[" * n + "]" * n + ") { kind } }", f"a list {n} deep")
                 for n in (1600, 2400, 3200, 4800)]
    documents += [("{ me(x: " + "{a:" * n + "1" + "}" * n + ") { kind } }", f"an object {n} deep")
                  for n in (1200, 1600, 2400, 3200, 4800)]
    documents += [("query($v: Int = " + "{a:" * 3200 + "1" + "}" * 3200 + ") { me { kind } }", "a default value"),
                  ("{ me @skip(if: " + "[" * 3200 + "]" * 3200 + ") { kind } }", "a directive's argument")]
    for document, name in documents:
        try:
            r, took = post(server, token, {"query": document})
        except requests.ConnectionError:
            server.proc.wait(timeout=10)
            tail = server.log_path.read_text(errors="replace").splitlines()[-2:]
            raise AssertionError(f"{name} ({len(document)} bytes): the server died: {tail}")
        assert took < QUICK, f"{name}: answered in {took:.1f}s"
        assert only_error(r)["extensions"]["code"] == "QUERY_TOO_DEEP", name
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
