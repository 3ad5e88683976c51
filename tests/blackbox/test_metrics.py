"""/metrics as an operator's Prometheus scrapes it (docs/metrics.md), from the real binary: every family
present and typed as documented, parsed with the Prometheus project's own parser (prometheus_client's strict
OpenMetrics parser; and `promtool check metrics` on the classic text format when Debian's `prometheus`
package is installed), histograms that add up, labels bounded, and no secret, name or e-mail anywhere."""

import math
import shutil
import subprocess
import uuid
from collections import defaultdict

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import basic, get_token, token_request, well_formed_secret

PASSWORD = "correct horse battery staple orbit"

# Every family docs/metrics.md lists, with its type (families as the parser names them: counters without _total).
FAMILIES = {
    "portcullis_build_info": "gauge",
    "portcullis_http_requests": "counter",
    "portcullis_http_request_duration_seconds": "histogram",
    "portcullis_auth_failures": "counter",
    "portcullis_auth_failures_limited": "counter",
    "portcullis_auth_throttled": "counter",
    "portcullis_tokens_issued": "counter",
    "portcullis_rate_limit_decisions": "counter",
    "portcullis_password_work_running": "gauge",
    "portcullis_password_work_waiting": "gauge",
    "portcullis_connections_open": "gauge",
    "portcullis_connections_max": "gauge",
    "portcullis_connections_accepted": "counter",
    "portcullis_connection_limit_reached": "counter",
    "portcullis_events_written": "counter",
    "portcullis_events_dropped": "counter",
    "portcullis_events_queued": "gauge",
    "portcullis_events_queue_capacity": "gauge",
    "portcullis_cache_lookups": "counter",
    "portcullis_db_connections": "gauge",
    "portcullis_db_connections_max": "gauge",
    "portcullis_db_acquire_duration_seconds": "histogram",
    "portcullis_db_acquire_failures": "counter",
    "portcullis_change_feed_up": "gauge",
    "process_cpu_seconds": "counter",
    "process_start_time_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_threads": "gauge",
}

AUTH_FAILURE_REASONS = {
    "malformed_credentials", "unknown_client", "wrong_secret", "disabled_client", "invalid_token", "expired_token",
    "revoked_token", "inactive_client_token", "invalid_personal_token", "failed_sign_in", "ended_session",
}


def scrape(server, accept: str | None = None) -> requests.Response:
    r = requests.get(server.url("/metrics"), headers={"Accept": accept} if accept else {}, timeout=10)
    assert r.status_code == 200, r.text
    return r


def parse(text: str) -> dict:
    """The families by name; the parser raises on anything OpenMetrics does not allow (histogram buckets out of
    order, a missing +Inf bucket, _count differing from it, a sample after # EOF, clashing names...)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families: dict, family: str, sample: str, **labels) -> float:
    found = [s.value for s in families[family].samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (family, sample, labels, found)
    return found[0]


def check_histograms(families: dict) -> int:
    """Every series of every histogram: cumulative buckets ending at +Inf, _count equal to it, _sum >= 0."""
    checked = 0
    for family in families.values():
        if family.type != "histogram":
            continue
        series = defaultdict(dict)
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                series[key].setdefault("buckets", []).append((float(s.labels["le"]), s.value))
            else:
                series[key][s.name.rsplit("_", 1)[1]] = s.value
        for key, parts in series.items():
            buckets = sorted(parts["buckets"])
            assert buckets[-1][0] == math.inf, (family.name, key)
            counts = [n for _, n in buckets]
            assert counts == sorted(counts), (family.name, key, buckets)
            assert parts["count"] == counts[-1], (family.name, key)
            assert parts["sum"] >= 0, (family.name, key)
            checked += 1
    return checked


def test_every_family_is_served_typed_well_formed_and_bounded(portcullis):
    portcullis.env.update({
        "PORTCULLIS_METRICS_CLIENT_LABELS": "1",
        "PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR": "3",
        "PORTCULLIS_TRUSTED_PROXIES": "127.0.0.1",
        "PORTCULLIS_AUTH_FAILURES_PER_IP": "3",
        "PORTCULLIS_AUTH_FAILURES_PER_ACCOUNT": "0",
        "PORTCULLIS_ADMIN_EMAIL": "metrics.canary@example.com",
        "PORTCULLIS_ADMIN_PASSWORD": PASSWORD,
    })
    portcullis.remember(PASSWORD)
    first = portcullis.create_client(name="Canary First Integration", role="admin", description="canary description")
    second = portcullis.create_client(name="Canary Second Integration", role="viewer")
    server = portcullis.start()

    # Tokens: the first client gets its own series (1 label allowed), the second is `other`; the quota refuses
    # the second's fourth.
    admin = get_token(portcullis, server, first)["access_token"]
    for _ in range(3):
        get_token(portcullis, server, second)
    assert token_request(server, auth=(second["client_id"], second["client_secret"])).status_code == 429
    # Failures, each from its own address so that the limit per address decides nothing yet.
    assert token_request(server, auth=(first["client_id"], well_formed_secret()),
                         headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 401
    assert token_request(server, auth=(str(uuid.uuid4()), well_formed_secret()),
                         headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 401
    r = requests.post(server.url("/api/v1/session"), json={"email": "metrics.canary@example.com", "password": "wrong " + PASSWORD},
                      headers={"X-Forwarded-For": "198.51.100.3"}, timeout=30)
    assert r.status_code == 401, r.text
    # One address past its limit: refused.
    for _ in range(3):
        assert token_request(server, auth=(first["client_id"], "pcs_wrong"), headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert token_request(server, auth=(first["client_id"], "pcs_wrong"), headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    # Routes: a client read by id, and paths no route matches.
    r = requests.get(server.url(f"/api/v1/clients/{second['client_id']}"), headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert r.status_code == 200, r.text
    nowhere = f"/no/such/{uuid.uuid4()}"
    for _ in range(2):
        assert requests.get(server.url(nowhere), timeout=10).status_code == 404

    response = scrape(server)
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    text = response.text
    families = parse(text)

    for name, kind in FAMILIES.items():
        assert name in families, f"{name} is missing"
        assert families[name].type == kind, (name, families[name].type)
        assert families[name].documentation, f"{name} has no help"
    # Served only while known: the change feed's staleness (PostgreSQL, while its heartbeats come back).
    optional = {"portcullis_change_feed_staleness_seconds": "gauge"}
    for name, kind in optional.items():
        assert name not in families or families[name].type == kind, name
    if portcullis.backend == "sqlite":
        assert families["portcullis_change_feed_staleness_seconds"].samples[0].value == 0
    unexpected = {n for n in families if n.startswith("portcullis_")} - set(FAMILIES) - set(optional)
    assert not unexpected, f"undocumented families: {unexpected}"
    assert check_histograms(families) >= 4
    for family in families.values():
        for s in family.samples:
            assert s.value >= 0, s

    # What the requests above did.
    assert value(families, "portcullis_tokens_issued", "portcullis_tokens_issued_total", client_id=first["client_id"]) == 1
    assert value(families, "portcullis_tokens_issued", "portcullis_tokens_issued_total", client_id="other") == 3
    assert {s.labels["client_id"] for s in families["portcullis_tokens_issued"].samples} == {first["client_id"], "other"}
    failures = {s.labels["reason"]: s.value for s in families["portcullis_auth_failures"].samples}
    assert set(failures) == AUTH_FAILURE_REASONS
    assert failures["wrong_secret"] == 1 and failures["unknown_client"] == 1 and failures["failed_sign_in"] == 1
    assert failures["malformed_credentials"] == 3, failures
    decisions = {(s.labels["limit"], s.labels["decision"]): s.value for s in families["portcullis_rate_limit_decisions"].samples}
    assert decisions[("token_quota", "allowed")] == 4 and decisions[("token_quota", "refused")] == 1, decisions
    assert decisions[("auth_failures_per_ip", "refused")] == 1, decisions
    assert decisions[("auth_failures_per_ip", "allowed")] >= 10, decisions
    assert decisions[("sign_ins_per_ip", "allowed")] == 1, decisions
    # The first administrator's password, hashed at start, and the sign-in's check.
    assert decisions[("password_work", "allowed")] == 2 and decisions[("password_work", "refused")] == 0, decisions
    assert ("auth_failures_per_account", "allowed") not in decisions, "that limit is off"
    assert value(families, "portcullis_auth_throttled", "portcullis_auth_throttled_total") == 1
    requests_by = {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
                   for s in families["portcullis_http_requests"].samples}
    assert requests_by[("unmatched", "GET", "404")] == 2
    assert requests_by[("/api/v1/clients/{client_id}", "GET", "200")] == 1
    assert requests_by[("/oauth2/token", "POST", "200")] == 4
    assert requests_by[("/oauth2/token", "POST", "429")] == 2
    assert all(route == "unmatched" or route.startswith("/") for route, _, _ in requests_by), requests_by
    assert value(families, "portcullis_http_request_duration_seconds", "portcullis_http_request_duration_seconds_count",
                 route="/oauth2/token", method="POST") == 11  # 4 × 200, 5 × 401, 2 × 429
    pool = portcullis.backend
    assert value(families, "portcullis_db_connections_max", "portcullis_db_connections_max", pool=pool) >= 1
    assert value(families, "portcullis_db_acquire_duration_seconds", "portcullis_db_acquire_duration_seconds_count", pool=pool) > 0
    assert value(families, "portcullis_build_info", "portcullis_build_info", version=portcullis.cli("--version").stdout.decode().split()[1]) == 1

    # Bounded labels only: no path as sent, and nothing secret or personal.
    for kept_out in [nowhere, second["client_id"], first["client_secret"], second["client_secret"], admin,
                     "Canary", "canary description", "metrics.canary", PASSWORD]:
        assert kept_out not in text, f"{kept_out!r} is in the scrape"


def test_the_classic_text_format_passes_promtool(portcullis, server, admin_client):
    get_token(portcullis, server, admin_client)
    assert requests.get(server.url("/nowhere"), timeout=10).status_code == 404
    r = scrape(server, accept="text/plain; version=0.0.4")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in r.text and "# TYPE portcullis_http_requests_total counter" in r.text
    # The same families, named as the classic parser names them.
    open_metrics = parse(scrape(server).text)
    classic_names = {line.split()[2] for line in r.text.splitlines() if line.startswith("# TYPE ")}
    assert classic_names == {f"{n}_total" if f.type == "counter" else n for n, f in open_metrics.items()}
    if shutil.which("promtool") is None:
        return  # Debian's `prometheus` package is not installed: the Python parser above is the check.
    checked = subprocess.run(["promtool", "check", "metrics"], input=r.text.encode(), capture_output=True, timeout=60)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
