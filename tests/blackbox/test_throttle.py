"""Failed authentication is limited, success is not (issue 13 §3), against
the real binary. Many source addresses are played from one machine through
a trusted proxy's X-Forwarded-For."""

import time

import requests

from conftest import basic, get_token

PASSWORD = "correct horse battery staple orbit"


def limited(portcullis, per_ip: int, per_account: int):
    portcullis.env["PORTCULLIS_TRUSTED_PROXIES"] = "127.0.0.1"
    portcullis.env["PORTCULLIS_AUTH_FAILURES_PER_IP"] = str(per_ip)
    portcullis.env["PORTCULLIS_AUTH_FAILURES_PER_ACCOUNT"] = str(per_account)
    portcullis.env["PORTCULLIS_ADMIN_EMAIL"] = "admin@example.com"
    portcullis.env["PORTCULLIS_ADMIN_PASSWORD"] = PASSWORD
    portcullis.remember(PASSWORD)
    return portcullis.start()


def token(server, client: dict, secret: str, ip: str) -> requests.Response:
    return requests.post(server.token_url, data={"grant_type": "client_credentials"}, timeout=10,
                         headers={"Authorization": basic(client["client_id"], secret), "X-Forwarded-For": ip})


def sign_in(server, email: str, password: str, ip: str) -> requests.Response:
    return requests.post(server.url("/api/v1/session"), json={"email": email, "password": password}, timeout=30,
                         headers={"X-Forwarded-For": ip})


def assert_throttled(r: requests.Response, shape: str) -> None:
    assert r.status_code == 429, (r.status_code, r.text)
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["Cache-Control"] == "no-store"
    if shape == "oauth":
        assert r.json()["error"] == "temporarily_unavailable", r.text
    elif shape == "problem":
        assert r.json()["type"] == "urn:portcullis:problem:too-many-failures", r.text
    else:
        assert r.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_FAILURES", r.text


def test_an_address_that_keeps_failing_is_refused_before_its_secret_is_checked(portcullis):
    server = limited(portcullis, per_ip=5, per_account=0)
    client = portcullis.create_client(name="good", role="viewer")
    for _ in range(5):
        assert token(server, client, "pcs_wrong", "203.0.113.7").status_code == 401
    # Past the limit: refused before the secret is looked at, the right one too.
    assert_throttled(token(server, client, "pcs_wrong", "203.0.113.7"), "oauth")
    assert_throttled(token(server, client, client["client_secret"], "203.0.113.7"), "oauth")
    # The same address at the other endpoints that authenticate.
    r = requests.post(server.url("/oauth2/introspect"), data={"token": "x"}, timeout=10,
                      headers={"Authorization": basic(client["client_id"], client["client_secret"]),
                               "X-Forwarded-For": "203.0.113.7"})
    assert_throttled(r, "oauth")
    r = requests.get(server.url("/api/v1/clients"), timeout=10,
                     headers={"Authorization": "Bearer nonsense", "X-Forwarded-For": "203.0.113.7"})
    assert_throttled(r, "problem")
    r = requests.post(server.url("/graphql"), json={"query": "{ clients { nodes { id } } }"}, timeout=10,
                      headers={"Authorization": "Bearer nonsense", "X-Forwarded-For": "203.0.113.7"})
    assert_throttled(r, "graphql")
    # Another address, and the good client's own traffic, are not slowed.
    for _ in range(50):
        assert token(server, client, client["client_secret"], "198.51.100.1").status_code == 200
    assert token(server, client, "pcs_wrong", "198.51.100.2").status_code == 401
    # The decision is an event, and the refusals are counted.
    admin = portcullis.create_client(name="admin", role="admin")
    bearer = get_token(portcullis, server, admin)["access_token"]
    deadline = time.monotonic() + 10  # events are written in batches, every 200 ms
    while True:
        events = requests.get(server.url("/api/v1/events?kind=auth.throttled"), timeout=10,
                              headers={"Authorization": f"Bearer {bearer}"}).json()["items"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(e["source_ip"], e["path"], e["status"]) for e in events] == [("203.0.113.7", "/oauth2/token", 429)]
    metrics = requests.get(server.url("/metrics"), timeout=10).text
    assert "portcullis_auth_throttled_total 5" in metrics, metrics


def test_successful_authentication_is_never_counted(portcullis):
    server = limited(portcullis, per_ip=3, per_account=3)
    client = portcullis.create_client(name="busy", role="viewer")
    for _ in range(200):
        assert token(server, client, client["client_secret"], "203.0.113.9").status_code == 200
    for _ in range(20):
        assert sign_in(server, "admin@example.com", PASSWORD, "203.0.113.9").status_code == 200


def test_an_account_under_attack_still_works_from_a_clean_address(portcullis):
    server = limited(portcullis, per_ip=100, per_account=5)
    # Five guessers at five addresses put the admin's e-mail past its limit.
    guessers = [f"192.0.2.{n}" for n in range(1, 7)]
    for ip in guessers[:5]:
        assert sign_in(server, "Admin@Example.com", "not the password at all", ip).status_code == 401
    # A failing address is now refused for that account, whatever it sends;
    assert_throttled(sign_in(server, "admin@example.com", PASSWORD, guessers[0]), "problem")
    # a new guesser gets one try, then is held back too;
    assert sign_in(server, "admin@example.com", "another wrong guess", guessers[5]).status_code == 401
    assert_throttled(sign_in(server, "admin@example.com", "a third wrong guess", guessers[5]), "problem")
    # the administrator, from its own clean address, signs in.
    assert sign_in(server, "admin@example.com", PASSWORD, "198.51.100.20").status_code == 200
    # Another account is not affected at the failing addresses.
    assert sign_in(server, "someone@example.com", "wrong", guessers[0]).status_code == 401
    # Clients likewise, by client id.
    client = portcullis.create_client(name="target", role="viewer")
    for ip in guessers[:5]:
        assert token(server, client, "pcs_wrong", ip).status_code == 401
    assert_throttled(token(server, client, client["client_secret"], guessers[0]), "oauth")
    assert token(server, client, client["client_secret"], "198.51.100.21").status_code == 200


def test_a_good_client_is_not_locked_out_by_a_guesser_or_by_its_own_unauthenticated_calls(portcullis):
    server = limited(portcullis, per_ip=100, per_account=5)
    client = portcullis.create_client(name="good", role="viewer")
    # A guesser puts the client id past its limit, from its own address.
    for _ in range(20):
        token(server, client, "pcs_wrong", "203.0.113.66")
    # The good client's own address makes calls that are refused without
    # being guesses: no credentials at all, an expired token.
    good = "198.51.100.30"
    assert requests.get(server.url("/api/v1/me"), timeout=10, headers={"X-Forwarded-For": good}).status_code == 401
    r = requests.get(server.url("/api/v1/me"), timeout=10,
                     headers={"X-Forwarded-For": good, "Authorization": "Bearer an.expired.token"})
    assert r.status_code == 401
    # Its token request with the right secret still works.
    assert token(server, client, client["client_secret"], good).status_code == 200
    # So does the admin's sign-in after opening the console (GET /me, 401).
    assert sign_in(server, "admin@example.com", PASSWORD, good).status_code == 200


def test_concurrent_wrong_sign_ins_do_not_get_past_the_limit(portcullis):
    import threading
    from concurrent.futures import ThreadPoolExecutor
    server = limited(portcullis, per_ip=5, per_account=0)
    start = threading.Barrier(40)

    def one(i: int) -> int:
        start.wait()
        return sign_in(server, f"user{i}@example.com", "a wrong password here", "203.0.113.80").status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(one, range(40)))
    # Password checks made: 401s. At most the limit, plus what was already
    # being checked when it was reached (one per password slot).
    checked = statuses.count(401)
    assert set(statuses) <= {401, 429, 503}, statuses
    assert checked <= 5 + 2, statuses


def test_an_ipv4_proxy_on_a_dual_stack_listener_is_recognised(portcullis):
    portcullis.env["PORTCULLIS_TRUSTED_PROXIES"] = "127.0.0.1"
    portcullis.env["PORTCULLIS_AUTH_FAILURES_PER_IP"] = "3"
    server = portcullis.start("--listen", "[::]:0")
    client = portcullis.create_client(name="good", role="viewer")
    for n in range(10):
        # Each from its own address behind the proxy: none is past its limit.
        assert token(server, client, "pcs_wrong", f"203.0.113.{n + 1}").status_code == 401
    assert token(server, client, client["client_secret"], "198.51.100.99").status_code == 200
