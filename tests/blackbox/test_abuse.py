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


# --- connections and bodies ------------------------------------------------------------

import json
import os
import socket
import time


def exchange(server, data: bytes, wait: float = 20.0) -> tuple[bytes, float]:
    """Sends `data` on a new connection, then reads until the server closes
    it; returns what came back and how long the server took to close."""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(wait)
        start = time.monotonic()
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"the server kept the connection open for {wait} s; got {got[:200]!r}")
            if not chunk:
                break
            got += chunk
        return got, time.monotonic() - start


def answer(raw: bytes) -> tuple[int, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, json.loads(body) if body else {}


def form_head(path: str, length: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: portcullis\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def json_head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: portcullis\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def test_a_half_sent_head_and_an_idle_connection_are_closed_after_the_header_read_timeout(portcullis):
    portcullis.env["PORTCULLIS_HEADER_READ_TIMEOUT"] = "2s"
    server = portcullis.start()
    # Slowloris: a request head that never ends.
    _, took = exchange(server, b"POST /oauth2/token HTTP/1.1\r\nHost: portcullis\r\nX-Slow: 1\r\n")
    assert 1.5 < took < 8, took
    # Nothing at all.
    _, took = exchange(server, b"")
    assert 1.5 < took < 8, took
    # A keep-alive connection after its answer.
    got, took = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
    assert 1.5 < took < 8, took


def test_a_stalled_body_is_answered_408_in_the_endpoints_own_shape(portcullis):
    portcullis.env["PORTCULLIS_BODY_READ_TIMEOUT"] = "2s"
    server = portcullis.start()
    # The body never arrives whole: no credentials are needed to try this.
    got, took = exchange(server, form_head("/oauth2/token", 100) + b"grant_type=client_")
    status, headers, body = answer(got)
    assert status == 408 and 1.5 < took < 8, (status, took)
    assert body["error"] == "invalid_request" and headers["cache-control"] == "no-store", (headers, body)
    got, _ = exchange(server, json_head("/api/v1/clients", 100) + b'{"name": ')
    status, headers, body = answer(got)
    assert status == 408 and headers["content-type"] == "application/problem+json", (headers, body)
    assert body["type"] == "urn:portcullis:problem:request-timeout" and headers["cache-control"] == "no-store"
    got, _ = exchange(server, json_head("/graphql", 100) + b'{"query": ')
    status, headers, body = answer(got)
    assert status == 408 and body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT", body


def test_a_body_past_the_routes_limit_is_refused_before_it_is_read(portcullis, server):
    # Declared too large: refused at once, without sending a byte of it.
    for head, shape in [
        (form_head("/oauth2/token", 16 * 1024 + 1), "oauth"),
        (form_head("/oauth2/introspect", 16 * 1024 + 1), "oauth"),
        (json_head("/api/v1/clients", 64 * 1024 + 1), "problem"),
        (json_head("/graphql", 64 * 1024 + 1), "graphql"),
    ]:
        got, took = exchange(server, head)
        status, headers, body = answer(got)
        assert status == 413 and took < 2 and headers["cache-control"] == "no-store", (head, status, took)
        if shape == "oauth":
            assert body["error"] == "invalid_request", body
        elif shape == "problem":
            assert body["type"] == "urn:portcullis:problem:payload-too-large", body
        else:
            assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE", body
    # Chunked, growing past the limit as it arrives.
    chunk = b"a" * 4096
    head = (b"POST /oauth2/token HTTP/1.1\r\nHost: portcullis\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    got, _ = exchange(server, head + (b"1000\r\n" + chunk + b"\r\n") * 5 + b"0\r\n\r\n")
    assert answer(got)[0] == 413
    # Within the limit, the endpoint decides as ever.
    got, _ = exchange(server, form_head("/oauth2/token", 24, "Connection: close\r\n") + b"grant_type=nothing_known")
    assert answer(got)[0] == 400


def open_fds(server) -> int:
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def test_open_connections_are_capped(portcullis):
    portcullis.env["PORTCULLIS_MAX_CONNECTIONS"] = "20"
    portcullis.env["PORTCULLIS_HEADER_READ_TIMEOUT"] = "3s"
    server = portcullis.start()
    baseline = open_fds(server)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(60)]
    try:
        time.sleep(1)
        held = open_fds(server) - baseline
        assert held <= 20, f"{held} connections held past the cap of 20"
        # The idle ones end at the header-read timeout, and a real request
        # gets its turn.
        r = requests.get(server.url("/healthz"), timeout=60)
        assert r.status_code == 200
    finally:
        for s in idle:
            s.close()


def held_open_after(server, first: bytes, seconds: float) -> bool:
    """Whether a connection that sent only `first` is still open after `seconds`."""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(first)
        s.settimeout(seconds)
        try:
            while s.recv(65536):
                pass
            return False
        except socket.timeout:
            return True
        except ConnectionResetError:
            return False


def test_a_connection_that_sends_one_byte_or_an_http2_preface_is_closed_too(portcullis):
    portcullis.env["PORTCULLIS_HEADER_READ_TIMEOUT"] = "2s"
    server = portcullis.start()
    for first in [b"P", b"PRI * HTTP/2.0\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"GET / HTTP/1.1\r\n"]:
        assert not held_open_after(server, first, 8), first


def test_an_answer_nobody_reads_does_not_hold_its_connection(portcullis):
    portcullis.env["PORTCULLIS_WRITE_TIMEOUT"] = "2s"
    server = portcullis.start()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.connect(("127.0.0.1", server.port))
        # The GraphiQL page's script: megabytes, never read.
        s.sendall(b"GET /graphql/assets/graphiql-3.8.3.min.js HTTP/1.1\r\nHost: portcullis\r\n\r\n")
        time.sleep(8)
        s.settimeout(5)
        closed = False
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
        except (socket.timeout, ConnectionResetError) as e:
            closed = isinstance(e, ConnectionResetError)
        assert closed, "the server still holds a connection whose answer nobody reads"
