"""The server's log, as an operator's collector reads it.

`serve` hands its log lines to a thread of its own that writes them in
batches (the request never waits on the write): these tests check that no
line is lost or held back by that, and that JSON logs stay one object a line
with the request's id.
"""

from __future__ import annotations

import base64
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ISSUED = re.compile(r"access token issued.*jti[=:]\"?([0-9A-Za-z_-]+)")


def jti_of(answer: requests.Response) -> str:
    payload = answer.json()["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def start(portcullis, **env):
    portcullis.env.update(PORTCULLIS_LOG="info", **env)
    return portcullis.start()


def mint(server, client) -> requests.Response:
    return requests.post(server.token_url, auth=(client["client_id"], client["client_secret"]),
                         data={"grant_type": "client_credentials"}, timeout=30)


def test_every_line_queued_before_sigterm_is_written(portcullis):
    server = start(portcullis)
    client = portcullis.create_client("logged", role="admin")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: mint(server, client), range(400)))
    assert all(a.status_code == 200 for a in answers)
    # Stop at once: lines still queued for the log thread must be written
    # before the process exits.
    assert server.stop() == 0
    lines = server.log_path.read_text(errors="replace").splitlines()
    assert "stopped: requests finished" in lines[-1], lines[-3:]
    issued = set(ISSUED.findall(server.log_path.read_text(errors="replace")))
    jtis = {jti_of(a) for a in answers}
    assert jtis <= issued, f"{len(jtis - issued)} of {len(jtis)} issued tokens have no log line"


def test_a_line_is_written_while_the_server_runs(portcullis):
    server = start(portcullis)
    client = portcullis.create_client("prompt", role="admin")
    answer = mint(server, client)
    assert answer.status_code == 200
    jti = jti_of(answer)
    deadline = time.monotonic() + 2
    while jti not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the token's log line was not written within 2 s of its answer"
        time.sleep(0.02)


def test_json_logs_are_one_object_a_line_with_the_request_id(portcullis):
    server = start(portcullis, PORTCULLIS_LOG_FORMAT="json")
    client = portcullis.create_client("json-logged", role="admin")
    answer = requests.post(server.token_url, auth=(client["client_id"], client["client_secret"]),
                           data={"grant_type": "client_credentials"}, headers={"X-Request-Id": "req-logs-0001"},
                           timeout=30)
    assert answer.status_code == 200
    assert server.stop() == 0
    lines = [line for line in server.log_path.read_text(errors="replace").splitlines() if line.strip()]
    objects = [json.loads(line) for line in lines]  # every line parses
    issued = [o for o in objects if o.get("fields", {}).get("message") == "access token issued"]
    assert len(issued) == 1, issued
    spans = issued[0].get("spans", []) + [issued[0].get("span", {})]
    assert any(s.get("request_id") == "req-logs-0001" for s in spans), issued[0]
