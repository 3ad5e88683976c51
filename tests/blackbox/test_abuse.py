"""Abuse resistance (issue 13) against the real binary: what a caller
without credentials can make the server spend."""

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

PASSWORD = "correct horse battery staple orbit"


def sign_in(server, email: str, password: str) -> requests.Response:
    return requests.post(server.url("/api/v1/session"), json={"email": email, "password": password}, timeout=120)


def flood(server, n: int) -> list[requests.Response]:
    """`n` wrong sign-ins sent at the same moment."""
    start = threading.Barrier(n)

    def one(i: int) -> requests.Response:
        start.wait()
        return sign_in(server, f"nobody{i}@example.com", f"wrong password number {i}")

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def peak_rss_mib(server) -> float:
    with open(f"/proc/{server.proc.pid}/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def with_admin(portcullis) -> None:
    portcullis.env["PORTCULLIS_ADMIN_EMAIL"] = "admin@example.com"
    portcullis.env["PORTCULLIS_ADMIN_PASSWORD"] = PASSWORD
    portcullis.remember(PASSWORD)


def test_a_sign_in_flood_beyond_the_password_queue_is_answered_busy(portcullis):
    with_admin(portcullis)
    portcullis.env["PORTCULLIS_PASSWORD_CONCURRENCY"] = "1"
    portcullis.env["PORTCULLIS_PASSWORD_QUEUE"] = "2"
    server = portcullis.start()
    answers = flood(server, 24)
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {401, 503}, statuses
    assert statuses.count(401) >= 3 and statuses.count(503) >= 1, statuses
    for busy in (r for r in answers if r.status_code == 503):
        assert busy.headers["Retry-After"] == "1"
        assert busy.headers["Cache-Control"] == "no-store"
        assert busy.headers["Content-Type"] == "application/problem+json"
        assert busy.json()["type"] == "urn:portcullis:problem:busy"
    # Once the flood is over, the right password signs in.
    assert sign_in(server, "admin@example.com", PASSWORD).status_code == 200


def test_peak_memory_stays_bounded_under_300_concurrent_wrong_sign_ins(portcullis):
    with_admin(portcullis)
    server = portcullis.start()
    answers = flood(server, 300)
    statuses = {r.status_code for r in answers}
    assert statuses <= {401, 503}, statuses
    peak = peak_rss_mib(server)
    assert peak < 150, f"peak RSS {peak:.0f} MiB under 300 concurrent wrong sign-ins"
    assert sign_in(server, "admin@example.com", PASSWORD).status_code == 200
