"""Two writers racing on one record through two instances on one PostgreSQL database.

Each round starts the writers at once (a barrier) on instances A and B; afterwards the stored
record is what some order of the acknowledged changes gives (never a mix, never a lost update),
its version counts every change, an `If-Match` lets exactly one of two editors through, and
both instances honour the result at their very next request.

PostgreSQL only: these tests are skipped on SQLite (one file, one machine).
"""

from __future__ import annotations

import threading

import requests

from test_instances import admin_token, api, pg, token_for, two_instances  # noqa: F401 (pg is a fixture)

ROUNDS = 8


def at_once(*calls):
    """Runs the calls in threads released together; returns their answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[requests.Response | None] = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        answers[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def new_client(pg, server, token, name, role="viewer"):
    r = api(server, "POST", "/clients", token, json={"name": name, "role": role})
    assert r.status_code == 201, r.text
    client, secret = r.json()["client"], r.json()["client_secret"]
    pg.remember_client(client["client_id"], secret)
    return client["client_id"], secret


def test_racing_permission_sets_of_a_role_leave_one_writers_set_on_both_instances(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    r = api(a, "POST", "/roles", at[a], json={"name": "raced", "permissions": ["clients:read"]})
    assert r.status_code == 201, r.text
    role = r.json()["id"]
    cid, secret = new_client(pg, a, at[a], "holder", role="raced")
    from_a, from_b = {"clients:read", "roles:read"}, {"users:read"}
    for _ in range(ROUNDS):
        answers = at_once(
            lambda: api(a, "PATCH", f"/roles/{role}", at[a], json={"permissions": sorted(from_a)}),
            lambda: api(b, "PATCH", f"/roles/{role}", at[b], json={"permissions": sorted(from_b)}),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        stored = set(api(a, "GET", f"/roles/{role}", at[a]).json()["permissions"])
        assert stored in (from_a, from_b), f"a mix of both writers' sets: {sorted(stored)}"
        for server in (a, b):
            assert set(token_for(pg, server, cid, secret).json()["scope"].split()) == stored
        r = api(b, "PATCH", f"/roles/{role}", at[b], json={"permissions": ["clients:read"]})
        assert r.status_code == 200, r.text


def test_racing_role_sets_of_a_user_leave_one_writers_set(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    r = api(a, "POST", "/users", at[a], json={"email": "raced@example.com", "name": "Raced", "roles": ["viewer"]})
    assert r.status_code == 201, r.text
    user = r.json()["user"]["user_id"]
    from_a, from_b = {"admin", "resource-server"}, {"viewer"}
    for _ in range(ROUNDS):
        api(a, "PATCH", f"/users/{user}", at[a], json={"roles": ["resource-server"]})
        answers = at_once(
            lambda: api(a, "PATCH", f"/users/{user}", at[a], json={"roles": sorted(from_a)}),
            lambda: api(b, "PATCH", f"/users/{user}", at[b], json={"roles": sorted(from_b)}),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        for server in (a, b):
            stored = set(api(server, "GET", f"/users/{user}", at[server]).json()["roles"])
            assert stored in (from_a, from_b), f"a mix of both writers' sets: {sorted(stored)}"


def test_a_secret_regenerated_on_one_instance_while_the_other_disables_and_reroles_loses_nothing(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    for round_ in range(ROUNDS):
        cid, first = new_client(pg, a, at[a], f"raced {round_}")
        for server in (a, b):  # both instances hold it in their caches
            assert token_for(pg, server, cid, first).status_code == 200
        regenerated, disabled, reroled = at_once(
            lambda: api(a, "POST", f"/clients/{cid}/secret", at[a]),
            lambda: api(b, "PATCH", f"/clients/{cid}", at[b], json={"status": "disabled"}),
            lambda: api(b, "PATCH", f"/clients/{cid}", at[b], json={"role": "resource-server"}),
        )
        for r in (regenerated, disabled, reroled):
            assert r.status_code == 200, r.text
        second = regenerated.json()["client_secret"]
        pg.remember_client(cid, second)
        r = api(a, "GET", f"/clients/{cid}", at[a])
        assert r.json()["status"] == "disabled" and r.json()["role"] == "resource-server", r.text
        assert r.headers["ETag"] == '"4"', "the version counts each of the three changes"
        for server in (a, b):
            assert token_for(pg, server, cid, first).status_code == 401, "the old secret still works"
            assert token_for(pg, server, cid, second).status_code == 401, "a disabled client got a token"
        assert api(b, "PATCH", f"/clients/{cid}", at[b], json={"status": "enabled"}).status_code == 200
        for server in (a, b):
            r = token_for(pg, server, cid, second)
            assert r.status_code == 200 and r.json()["scope"] == "tokens:introspect", r.text
            assert token_for(pg, server, cid, first).status_code == 401


def test_two_editors_with_one_if_match_on_two_instances_let_exactly_one_through(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    for round_ in range(ROUNDS):
        cid, _ = new_client(pg, a, at[a], f"edited {round_}")
        etag = api(b, "GET", f"/clients/{cid}", at[b]).headers["ETag"]

        def rename(server, name):
            return lambda: requests.patch(server.url(f"/api/v1/clients/{cid}"), json={"name": name}, timeout=15,
                                          headers={"Authorization": f"Bearer {at[server]}", "If-Match": etag})

        answers = at_once(rename(a, "from A"), rename(b, "from B"))
        assert sorted(r.status_code for r in answers) == [200, 412], [r.text for r in answers]
        winner = "from A" if answers[0].status_code == 200 else "from B"
        for server in (a, b):
            r = api(server, "GET", f"/clients/{cid}", at[server])
            assert r.json()["name"] == winner and r.headers["ETag"] == '"2"', r.text


def test_a_delete_racing_a_regeneration_leaves_no_working_secret(pg):
    a, b = two_instances(pg)
    admin = pg.create_client(name="admin", role="admin")
    at = {s: admin_token(pg, s, admin) for s in (a, b)}
    for round_ in range(ROUNDS):
        cid, first = new_client(pg, a, at[a], f"deleted {round_}")
        regenerated, deleted = at_once(
            lambda: api(a, "POST", f"/clients/{cid}/secret", at[a]),
            lambda: api(b, "DELETE", f"/clients/{cid}", at[b]),
        )
        assert deleted.status_code == 204, deleted.text
        assert regenerated.status_code in (200, 404), regenerated.text
        secrets = [first]
        if regenerated.status_code == 200:
            secrets.append(regenerated.json()["client_secret"])
            pg.remember_client(cid, secrets[-1])
        for server in (a, b):
            assert api(server, "GET", f"/clients/{cid}", at[server]).status_code == 404
            for secret in secrets:
                assert token_for(pg, server, cid, secret).status_code == 401
