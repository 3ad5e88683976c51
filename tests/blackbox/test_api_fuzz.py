"""API fuzzing (issue 13 §7): schemathesis against /api/v1/openapi.json as the running binary serves it.

Every operation of the document is fuzzed twice, each time on a fresh deployment: with an `admin`
client's token and with a `viewer` client's token. The pinned schemathesis CLI runs its `examples`,
`coverage` (boundary values and negative cases, deterministic) and `fuzzing` phases (Hypothesis,
derandomized, a fixed seed, a bounded number of examples per operation, no shrinking), and every
answer must pass

* not_a_server_error             no 5xx;
* status_code_conformance        a status the operation documents;
* content_type_conformance       a Content-Type the operation documents for it;
* response_schema_conformance    a body that matches the documented schema;
* response_headers_conformance   the documented headers, matching their schemas;
* no_stray_secrets (ours)        no client secret (`pcs_…`), personal access token (`pat_…`), access
                                 token or generated password outside the one answer meant to hand
                                 it out (POST /clients, POST /clients/{id}/secret, POST /me/token,
                                 POST /clients/{id}/token, POST /users without a password), and
                                 none handed out before, anywhere.

Every secret, token and password seen handed out is remembered, so the `portcullis` fixture's
teardown also checks that none of them reached the server's log. Destructive operations run for
real (a throw-away deployment), except against the caller's own client: see fuzz_hooks.py.

The CLI rather than `schemathesis.pytest.from_fixture`: with pytest 9.2 the latter fails before
running anything (it sets `Node._nodeid`, which pytest 9.2 no longer has), and the CLI reports every
distinct failure of the run, not only the first of each operation.

Environment (the defaults are the short run of ./scripts/test; docs/testing.md has a long one):
  PORTCULLIS_FUZZ_EXAMPLES   fuzzing-phase examples per operation (default 100: about 4,000 requests per
                             token, a minute for both)
  PORTCULLIS_FUZZ_SEED       a seed: other random cases than the default derandomized ones
  PORTCULLIS_FUZZ_PHASES     schemathesis phases (default examples,coverage,fuzzing; not `stateful`:
                             schemathesis 4.32.5 infers links it then rejects itself, and stops)
  PORTCULLIS_FUZZ_BACKENDS   `all`: every backend the suite runs on; default only the first (SQLite)
  PORTCULLIS_FUZZ_SHRINK     `1`: shrink failing fuzzing examples (slower)
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import _backends, get_token

API = "/api/v1"
HERE = Path(__file__).resolve().parent
EXAMPLES = int(os.environ.get("PORTCULLIS_FUZZ_EXAMPLES", "100"))
SEED = os.environ.get("PORTCULLIS_FUZZ_SEED")
PHASES = os.environ.get("PORTCULLIS_FUZZ_PHASES", "examples,coverage,fuzzing")
BACKENDS = _backends() if os.environ.get("PORTCULLIS_FUZZ_BACKENDS") == "all" else _backends()[:1]
SHRINK = os.environ.get("PORTCULLIS_FUZZ_SHRINK") == "1"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "no_stray_secrets",  # fuzz_hooks.py
]
RUN_TIMEOUT = 600 + 10 * EXAMPLES


def _text(value, limit: int = 300) -> str:
    if isinstance(value, dict) and "$base64" in value:
        value = base64.b64decode(value["$base64"]).decode("utf-8", "replace")
    value = "" if value is None else str(value)
    return value if len(value) <= limit else value[:limit] + "…"


def failures_from_report(report_dir: Path) -> list[str]:
    """One line per distinct failure in the run's NDJSON report: operation, request, answer, check."""
    lines: dict[tuple, str] = {}
    for report in sorted(report_dir.glob("*.ndjson")):
        for raw in report.read_text().splitlines():
            finished = json.loads(raw).get("ScenarioFinished")
            if not finished or finished.get("status") != "failure":
                continue
            recorder = finished["recorder"]
            for case_id, checks in recorder.get("checks", {}).items():
                exchange = recorder.get("interactions", {}).get(case_id) or {}
                request, response = exchange.get("request") or {}, exchange.get("response") or {}
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    failure = check["failure_info"]["failure"]
                    status = response.get("status_code")
                    key = (recorder["label"], check["name"], status)
                    body = _text(request.get("body"), 200)
                    anonymous = "" if "authorization" in {h.lower() for h in request.get("headers", {})} else " (no Authorization)"
                    ctype = ",".join(response.get("headers", {}).get("content-type", []))
                    message = "; ".join(line.strip() for line in failure["message"].splitlines() if line.strip())
                    lines.setdefault(key, (
                        f"{recorder['label']}: {check['name']}: {failure['title']}: {message}\n"
                        f"    request: {request.get('method')} {request.get('uri')}{anonymous}{' ' + body if body else ''}\n"
                        f"    answer:  {status} {ctype} {_text(response.get('content'))}"
                    ))
    return list(lines.values())


def errors_section(output: str) -> str:
    """The ERRORS part of schemathesis's report (what it could not test), if any."""
    m = re.search(r"^=+ ERRORS =+$(.*?)^=+ \w", output, re.M | re.S)
    return m.group(1).strip() if m else ""


def schemathesis_config(path: Path) -> Path:
    """The run's schemathesis.toml: our hooks, and only the checks above."""
    lines = ['hooks = "fuzz_hooks"', "", "[checks]", "enabled = false", ""]
    for name in CHECKS:
        lines += [f"[checks.{name}]", "enabled = true", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("portcullis", BACKENDS, indirect=True)
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_api_fuzz(portcullis, server, role, tmp_path):
    caller = portcullis.create_client(name=f"fuzz {role}", role=role)
    token = get_token(portcullis, server, caller)["access_token"]
    remember_file = tmp_path / "remember.txt"
    remember_file.touch()
    state = tmp_path / "fuzz-state.json"
    state.write_text(json.dumps({
        "token_url": server.token_url,
        "client_id": caller["client_id"],
        "client_secret": caller["client_secret"],
        "token": token,
        "seen": sorted(portcullis.seen),
        "remember_file": str(remember_file),
    }))
    report_dir = tmp_path / "schemathesis-report"
    args = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(schemathesis_config(tmp_path / "schemathesis.toml")),
        "run", server.url(f"{API}/openapi.json"),
        "--phases", PHASES,
        "--max-examples", str(EXAMPLES),
        "--continue-on-failure",  # every distinct failure of an operation, not only its first
        "--workers", "1",
        "--request-timeout", "30",
        "--report", "ndjson",
        "--report-dir", str(report_dir),
        "--no-color",
    ]
    # Derandomized (the same cases every run, no example database) unless a seed is asked for.
    args += ["--seed", SEED, "--generation-database", "none"] if SEED else ["--generation-deterministic"]
    if not SHRINK:
        args.append("--no-shrink")
    env = {**os.environ, "PORTCULLIS_FUZZ_STATE": str(state), "PYTHONPATH": str(HERE), "NO_COLOR": "1"}
    try:
        proc = subprocess.run(args, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
    finally:
        portcullis.remember(*remember_file.read_text().split())
    output = proc.stdout.decode(errors="replace")
    (tmp_path / "schemathesis.out").write_text(output)
    if proc.returncode != 0:
        try:
            failures = failures_from_report(report_dir)
        except (OSError, ValueError, KeyError, TypeError):
            failures = []
        if not failures:  # not a failed check: a usage or schema error, or a crash
            pytest.fail(f"schemathesis ({role} token) exited with {proc.returncode}:\n{output}", pytrace=False)
        errors = errors_section(output)
        pytest.fail(f"schemathesis ({role} token): {len(failures)} distinct failure(s); the whole report, with a curl "
                    f"command for each, is {tmp_path / 'schemathesis.out'}\n\n" + "\n".join(failures)
                    + (f"\n\nand errors:\n{errors}" if errors else ""), pytrace=False)
    # It passed: then it must have tested every operation of the document.
    selected, tested = re.search(r"Selected: (\d+)/\d+", output), re.search(r"Tested: (\d+)", output)
    assert selected and tested and int(tested.group(1)) == int(selected.group(1)) > 0, output
