"""No escalation (issue 11 §1), against the real binary: a caller holding one write permission cannot
reach admin through it, over REST or GraphQL; an admin still can."""

import requests

from conftest import get_token

API = "/api/v1"
ALL = sorted(["clients:read", "clients:write", "clients:secrets", "roles:read", "roles:write", "users:read",
              "users:write", "events:read", "tokens:issue", "tokens:introspect", "keys:write"])
PASSWORD = "correct horse battery staple"


def api(server, method, path, token, **kw):
    return requests.request(method, server.url(API + path), headers={"Authorization": f"Bearer {token}"},
                            timeout=10, **kw)


def graphql(server, token, query, variables=None):
    r = requests.post(server.url("/graphql"), headers={"Authorization": f"Bearer {token}"},
                      json={"query": query, "variables": variables or {}}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def escalation(r, missing):
    assert r.status_code == 403, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    p = r.json()
    assert p["type"] == "urn:portcullis:problem:escalation", p
    assert p["missing_permissions"] == missing, p
    for name in missing:
        assert name in p["detail"], p
    return p


def holding_only(portcullis, server, admin_token, permission):
    """A client whose role holds only `permission`, with its token."""
    role = "only-" + permission.replace(":", "-")
    r = api(server, "POST", "/roles", admin_token, json={"name": role, "permissions": [permission]})
    assert r.status_code == 201, r.text
    client = portcullis.create_client(name=role, role=role)
    return client, get_token(portcullis, server, client)["access_token"]


def but(permission):
    return [p for p in ALL if p != permission]


def test_one_write_permission_does_not_reach_admin(portcullis, server, admin_client):
    admin = get_token(portcullis, server, admin_client)["access_token"]
    target = portcullis.create_client(name="an admin client", role="admin")

    # clients:write: no admin client, no own promotion.
    me, token = holding_only(portcullis, server, admin, "clients:write")
    escalation(api(server, "POST", "/clients", token, json={"name": "evil", "role": "admin"}), but("clients:write"))
    escalation(api(server, "PATCH", f"/clients/{me['client_id']}", token, json={"role": "admin"}),
               but("clients:write"))
    body = graphql(server, token, 'mutation { createClient(input: {name: "evil", role: "admin"}) { clientSecret } }')
    assert body["errors"][0]["extensions"]["code"] == "ESCALATION", body
    assert body["errors"][0]["extensions"]["missingPermissions"] == but("clients:write"), body
    listed = api(server, "GET", "/clients?q=evil", admin).json()["items"]
    assert listed == [], "nothing was created"
    assert api(server, "GET", f"/clients/{me['client_id']}", admin).json()["role"] == "only-clients-write"

    # clients:secrets: no admin client's secret.
    _, token = holding_only(portcullis, server, admin, "clients:secrets")
    escalation(api(server, "POST", f"/clients/{target['client_id']}/secret", token), but("clients:secrets"))
    get_token(portcullis, server, target)  # its secret still works

    # tokens:issue: no admin token.
    _, token = holding_only(portcullis, server, admin, "tokens:issue")
    escalation(api(server, "POST", f"/clients/{target['client_id']}/token", token, json={}), but("tokens:issue"))

    # roles:write: no new permission for itself, no role with what it lacks.
    _, token = holding_only(portcullis, server, admin, "roles:write")
    own = next(r for r in api(server, "GET", "/roles", admin).json()["items"] if r["name"] == "only-roles-write")
    escalation(api(server, "PATCH", f"/roles/{own['id']}", token, json={"permissions": ["roles:write", "keys:write"]}),
               ["keys:write"])
    escalation(api(server, "POST", "/roles", token, json={"name": "mine", "permissions": ["keys:write"]}),
               ["keys:write"])
    assert api(server, "GET", f"/roles/{own['id']}", admin).json()["permissions"] == ["roles:write"]

    # users:write: no admin user with a chosen password.
    _, token = holding_only(portcullis, server, admin, "users:write")
    escalation(api(server, "POST", "/users", token,
                   json={"email": "mallory@example.com", "name": "Mallory", "roles": ["admin"], "password": PASSWORD}),
               but("users:write"))
    signin = requests.post(server.url(API + "/session"), json={"email": "mallory@example.com", "password": PASSWORD},
                           timeout=10)
    assert signin.status_code == 401, signin.text

    # An admin still does all of it.
    r = api(server, "POST", "/clients", admin, json={"name": "made by admin", "role": "admin"})
    assert r.status_code == 201, r.text
    portcullis.remember_client(r.json()["client"]["client_id"], r.json()["client_secret"])


def test_a_narrowed_token_holds_only_its_scope(portcullis, server, admin_client):
    narrow = get_token(portcullis, server, admin_client, scope="clients:write")["access_token"]
    escalation(api(server, "POST", "/clients", narrow, json={"name": "x", "role": "viewer"}),
               ["clients:read", "events:read", "roles:read", "users:read"])
    r = api(server, "POST", "/clients", narrow, json={"name": "no role"})
    assert r.status_code == 201, r.text
    portcullis.remember_client(r.json()["client"]["client_id"], r.json()["client_secret"])
