"""Concurrent changes of one client never undo each other (issue 11, section 2).

Against the real binary: one thread regenerates a client's secret again and
again while others rename it and disable/enable it until it is done. Before targeted updates,
a rename that had read the client before a regeneration wrote the old secret
hash back, so an *old* secret worked and the last one was refused; and a
disable racing renames came back enabled.
"""

import threading

import requests

from conftest import get_token, token_request

ROUNDS = 25


def test_only_the_last_regenerated_secret_works_after_racing_changes(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    target = portcullis.create_client(name="raced", role=None)
    path = server.url(f"/api/v1/clients/{target['client_id']}")
    secrets: list[str] = []
    statuses: list[str] = []
    errors: list[str] = []

    def regenerate():
        for _ in range(ROUNDS):
            r = requests.post(f"{path}/secret", headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"secret: {r.status_code} {r.text}")
                continue
            secrets.append(r.json()["client_secret"])
            portcullis.remember(secrets[-1])
        done.set()

    done = threading.Event()

    def rename(n: int):
        i = 0
        while not done.is_set():
            i += 1
            r = requests.patch(path, json={"name": f"renamed {n}.{i}"}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"rename: {r.status_code} {r.text}")

    def toggle():
        i = 0
        while not done.is_set():
            i += 1
            status = "disabled" if i % 2 == 0 else "enabled"
            r = requests.patch(path, json={"status": status}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"status: {r.status_code} {r.text}")
                continue
            statuses.append(status)
        # The last acknowledged change of the status: disabled.
        r = requests.patch(path, json={"status": "disabled"}, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        statuses.append("disabled")

    threads = [threading.Thread(target=regenerate), threading.Thread(target=toggle)]
    threads += [threading.Thread(target=rename, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(secrets) == ROUNDS

    stored = requests.get(path, headers=auth, timeout=10).json()
    assert stored["status"] == statuses[-1] == "disabled", "a disable racing renames stays disabled"

    r = requests.patch(path, json={"status": "enabled"}, headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    last = token_request(server, auth=(target["client_id"], secrets[-1]))
    assert last.status_code == 200, f"the last returned secret works: {last.text}"
    for old in [target["client_secret"], *secrets[:-1]]:
        r = token_request(server, auth=(target["client_id"], old))
        assert r.status_code == 401, "an earlier secret must not work"


def _race(path: str, auth: dict, writers: list, last: dict, errors: list) -> None:
    """Runs each writer (a function of `done`) in its own thread until the
    first one returns; `last` collects each field's last acknowledged value."""
    done = threading.Event()
    threads = [threading.Thread(target=w, args=(done,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_a_user_keeps_every_acknowledged_change_under_racing_edits(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(
        server.url("/api/v1/users"),
        json={"email": "raced@example.com", "name": "Raced", "roles": ["viewer"]},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    portcullis.remember(r.json().get("password"))
    path = server.url(f"/api/v1/users/{r.json()['user']['user_id']}")
    last: dict = {}
    errors: list[str] = []
    choices = [["admin"], ["resource-server", "viewer"], ["viewer"]]

    def roles(done: threading.Event):
        for i in range(ROUNDS):
            r = requests.patch(path, json={"roles": choices[i % len(choices)]}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"roles: {r.status_code} {r.text}")
                continue
            last["roles"] = sorted(choices[i % len(choices)])
        done.set()

    def rename(done: threading.Event):
        i = 0
        while not done.is_set():
            i += 1
            r = requests.patch(path, json={"name": f"Renamed {i}"}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"rename: {r.status_code} {r.text}")

    def toggle(done: threading.Event):
        i = 0
        while not done.is_set():
            i += 1
            status = "disabled" if i % 2 == 0 else "enabled"
            r = requests.patch(path, json={"status": status}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"status: {r.status_code} {r.text}")
        r = requests.patch(path, json={"status": "disabled"}, headers=auth, timeout=30)
        assert r.status_code == 200, r.text

    _race(path, auth, [roles, rename, rename, toggle], last, errors)
    stored = requests.get(path, headers=auth, timeout=10)
    assert stored.status_code == 200
    body = stored.json()
    assert body["status"] == "disabled", "a disable racing renames and role changes stays disabled"
    assert sorted(body["roles"]) == last["roles"], "the last acknowledged roles are the stored ones"
    # Every acknowledged change moved the version on: the ETag is a strong version.
    assert stored.headers["ETag"].strip('"').isdigit()


def test_a_role_keeps_every_acknowledged_permission_set_under_racing_renames(portcullis, server, admin_client):
    token = get_token(portcullis, server, admin_client)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(
        server.url("/api/v1/roles"),
        json={"name": "raced", "permissions": ["clients:read"]},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    path = server.url(f"/api/v1/roles/{r.json()['id']}")
    last: dict = {}
    errors: list[str] = []
    sets = [["clients:read"], ["clients:read", "keys:write"], ["events:read"]]

    def permissions(done: threading.Event):
        for i in range(ROUNDS):
            chosen = sets[i % len(sets)]
            r = requests.patch(path, json={"permissions": chosen}, headers=auth, timeout=30)
            if r.status_code != 200:
                errors.append(f"permissions: {r.status_code} {r.text}")
                continue
            last["permissions"] = sorted(chosen)
        done.set()

    def rename(done: threading.Event):
        i = 0
        while not done.is_set():
            i += 1
            r = requests.patch(path, json={"name": f"raced-{i}", "description": f"d {i}"}, headers=auth, timeout=30)
            if r.status_code not in (200, 409):  # 409: another renamer took the name first
                errors.append(f"rename: {r.status_code} {r.text}")

    _race(path, auth, [permissions, rename, rename], last, errors)
    body = requests.get(path, headers=auth, timeout=10).json()
    assert sorted(body["permissions"]) == last["permissions"], "no rename brought back an earlier permission set"
