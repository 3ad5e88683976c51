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
