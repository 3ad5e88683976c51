"""Schemathesis hooks for test_api_fuzz.py, loaded by the schemathesis CLI (`hooks = "fuzz_hooks"`).

It runs in the CLI's process, not pytest's: what it needs comes in a JSON file named by
PORTCULLIS_FUZZ_STATE (the token endpoint, the caller's client id and secret, every secret and
token the test has seen so far, and the file to append what it sees to):

* `CallerToken` authenticates every request with the caller's client_credentials token;
* `before_call` points a request that would delete, disable, change,
  re-secret or revoke the tokens of the caller's own client at a client that does not exist;
* `after_call`: a revoked signing key takes the caller's token with
  it, so the caller gets a new one;
* `no_stray_secrets` (a check): no answer holds a client secret, personal access token, access
  token or generated password except the one answer meant to hand it out, and none handed out
  before, anywhere. Whatever it sees handed out is appended to the remember file, which the test
  hands to `Portcullis.remember` (so the log check looks for it too).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid

import requests
import schemathesis

API = "/api/v1"
STATE = json.loads(open(os.environ["PORTCULLIS_FUZZ_STATE"]).read())

# A client id that no deployment has: what a request aimed at the caller's own client is aimed at instead.
STAND_IN = "00000000-0000-4000-8000-00000000f022"

CLIENT_SECRET = re.compile(r"pcs_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}")
PERSONAL_TOKEN = re.compile(r"pat_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
SHAPES = {"client secret": CLIENT_SECRET, "personal access token": PERSONAL_TOKEN, "access token": JWT}

# The only answers (2xx) meant to hand a secret out, and the JSON field that holds it.
HANDED_OUT = {
    ("POST", f"{API}/clients", "client secret"): "client_secret",
    ("POST", f"{API}/clients/{{client_id}}/secret", "client secret"): "client_secret",
    ("POST", f"{API}/me/token", "personal access token"): "token",
    ("POST", f"{API}/clients/{{client_id}}/token", "access token"): "access_token",
}
# POST /users without a password answers the one it generated as `password` (24 base62 characters,
# no shape to search for: it is looked for as a known value afterwards).
GENERATED_PASSWORD = ("POST", f"{API}/users", "password")

_lock = threading.Lock()
_seen: set[str] = set(STATE["seen"])
_token = {"value": STATE["token"]}


def _variants(value: str) -> set[str]:
    """The value and the parts of it that are secret on their own (as conftest's `remember`)."""
    out = {value}
    if CLIENT_SECRET.fullmatch(value) or PERSONAL_TOKEN.fullmatch(value):
        out.add(value[4:47])
    if value.count(".") == 2 and len(value) > 40:
        out.add(value.rsplit(".", 1)[1])
    return out


def _remember(value: str) -> None:
    with _lock:
        _seen.update(_variants(value))
        with open(STATE["remember_file"], "a") as f:
            f.write(value + "\n")


def _hints(values) -> str:
    """Enough of each value to tell which it was, never the value itself."""
    return ", ".join(f"{v[:4]}…{v[-4:]}" for v in sorted(set(values)))


def _same_client(value, client_id: str) -> bool:
    """Whether `value` names `client_id` in any spelling the server reads as a UUID."""
    try:
        return uuid.UUID(str(value).strip()) == uuid.UUID(client_id)
    except ValueError:
        return False


# --- the caller ---------------------------------------------------------------------------------

@schemathesis.auth(refresh_interval=None)
class CallerToken:
    """The caller's current token (no caching: it changes after a key revocation)."""

    def get(self, case, ctx):
        return _token["value"]

    def set(self, case, data, ctx):
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    """Deleting, disabling, re-roling or re-secreting the caller's own client, or revoking its tokens,
    is answered correctly by the server, but every later request of the run would then be a 401 that
    tells nothing. Such a request is aimed at a client that does not exist instead; the same
    operations on every other client (those the fuzzer creates included) run as generated."""
    own = STATE["client_id"]
    path = case.path_parameters
    if case.method.upper() != "GET" and isinstance(path, dict) and "client_id" in path and _same_client(path["client_id"], own):
        path["client_id"] = STAND_IN
    if case.operation.path == f"{API}/clients/bulk" and isinstance(case.body, dict):
        ids = case.body.get("client_ids")
        if isinstance(ids, list) and any(_same_client(i, own) for i in ids):
            case.body = {**case.body, "client_ids": [STAND_IN if _same_client(i, own) else i for i in ids]}


@schemathesis.hook
def after_call(context, case, response):
    """A revoked signing key revokes every token it signed, perhaps the caller's: get a new token."""
    if case.operation.path == f"{API}/keys/{{kid}}/revoke" and 200 <= response.status_code < 300:
        r = requests.post(STATE["token_url"], data={"grant_type": "client_credentials"},
                          auth=(STATE["client_id"], STATE["client_secret"]), timeout=30)
        r.raise_for_status()
        token = r.json()["access_token"]
        _remember(token)
        _token["value"] = token


# --- the check ----------------------------------------------------------------------------------

def _json_field(body: str, field: str):
    try:
        value = json.loads(body).get(field)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


@schemathesis.check
def no_stray_secrets(ctx, response, case):
    """No answer holds a secret it was not meant to hand out, nor one handed out earlier."""
    body = response.content.decode("utf-8", errors="replace")
    headers = "\n".join(f"{k}: {v}" for k, vs in response.headers.items() for v in vs)
    text = headers + "\n" + body
    # What the request itself carried in its URL or body (never its Authorization) may come back.
    sent = response.request
    sent_body = sent.body.decode("utf-8", "replace") if isinstance(sent.body, bytes) else str(sent.body or "")
    sent_text = (sent.url or "") + "\n" + sent_body
    method, path = case.operation.method.upper(), case.operation.path
    ok = 200 <= response.status_code < 300
    fresh: list[str] = []
    problems: list[str] = []
    for shape, pattern in SHAPES.items():
        found = [m for m in pattern.findall(text) if m not in sent_text]
        field = HANDED_OUT.get((method, path, shape)) if ok else None
        if field is not None:
            handed = _json_field(body, field)
            if handed is not None:
                fresh.append(handed)
                # Once, in its field; not in a header, not twice.
                found = [m for m in found if m != handed or body.count(m) > 1 or m in headers]
        if found:
            problems.append(f"{len(found)} {shape}(s) in an answer not meant to hand one out ({_hints(found)})")
    if ok and (method, path) == GENERATED_PASSWORD[:2]:
        password = _json_field(body, GENERATED_PASSWORD[2])
        if password is not None:
            fresh.append(password)
    with _lock:
        again = sorted(v for v in _seen if v in text and v not in sent_text)
    if again:
        problems.append(f"{len(again)} secret(s) or token(s) handed out earlier appear again ({_hints(again)})")
    for value in fresh:
        _remember(value)
    assert not problems, "; ".join(problems)
