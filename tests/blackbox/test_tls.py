"""Native TLS (issue 13 §9): `--tls-cert` / `--tls-key`, a real client that
verifies the certificate, HSTS, SIGHUP reloading the pair, bad files
refused at start, and a handshake that stalls closed."""

import datetime
import ipaddress
import signal
import socket
import ssl
import subprocess
import time
import warnings

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conftest import BIN, VIEWER_SCOPES


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))


class Authority:
    """A throw-away certificate authority, written to `<dir>/<name>-ca.pem`."""

    def __init__(self, directory, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(f"Portcullis test CA {name}")
        cert = _validity(x509.CertificateBuilder()).subject_name(self.name).issuer_name(self.name)
        cert = cert.public_key(self.key.public_key()).serial_number(x509.random_serial_number())
        cert = cert.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        self.cert = cert.sign(self.key, hashes.SHA256())
        self.path = directory / f"{name}-ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cert_path, key_path, key=None, key_format=serialization.PrivateFormat.PKCS8) -> x509.Certificate:
        """A server certificate for 127.0.0.1 and localhost, with its key."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        cert = _validity(x509.CertificateBuilder()).subject_name(_name("127.0.0.1")).issuer_name(self.name)
        cert = cert.public_key(key.public_key()).serial_number(x509.random_serial_number())
        cert = cert.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        cert = cert.sign(self.key, hashes.SHA256())
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()))
        return cert


@pytest.fixture
def pki(tmp_path):
    ca = Authority(tmp_path, "first")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    ca.issue(cert, key)
    return ca, cert, key


def _served_certificate(port: int) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_a_verifying_client_gets_a_token_over_https_and_every_answer_has_hsts(portcullis, pki):
    ca, cert, key = pki
    client = portcullis.create_client(name="over-tls", role="viewer")
    portcullis.env.update(PORTCULLIS_ADMIN_EMAIL="admin@example.com", PORTCULLIS_ADMIN_PASSWORD="correct horse battery")
    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(key))
    assert server.base_url.startswith("https://")

    meta = requests.get(server.url("/.well-known/oauth-authorization-server"), verify=str(ca.path), timeout=10).json()
    assert meta["issuer"] == server.base_url
    assert meta["token_endpoint"] == f"{server.base_url}/oauth2/token"

    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_basic")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials", verify=str(ca.path))
    portcullis.remember(token["access_token"])
    assert set(token["scope"].split()) == VIEWER_SCOPES

    # PyJWT fetches the keys over https, verifying against the same authority.
    jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False, ssl_context=ssl.create_default_context(cafile=str(ca.path)))
    claims = jwt.decode(token["access_token"], jwks.get_signing_key_from_jwt(token["access_token"]),
                        algorithms=["EdDSA"], audience=meta["issuer"], issuer=meta["issuer"])
    assert claims["sub"] == client["client_id"]

    for path in ("/healthz", "/oauth2/token", "/no-such-page", "/api/v1/clients"):
        r = requests.get(server.url(path), verify=str(ca.path), timeout=10)
        assert r.headers.get("Strict-Transport-Security") == "max-age=31536000", path
    # The console's session cookie is __Host- prefixed and Secure over https.
    r = requests.post(server.url("/api/v1/session"), json={"email": "admin@example.com", "password": "correct horse battery"},
                      verify=str(ca.path), timeout=10)
    assert r.status_code == 200, r.text
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-portcullis_session=") and "; Secure" in cookie, cookie
    portcullis.remember(cookie.split(";", 1)[0].split("=", 1)[1])

    # A client that does not trust the authority is refused the handshake.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url("/healthz"), timeout=10)
    # Plain http to the https port gets no answer.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)


def test_plain_http_sends_no_hsts(portcullis, server):
    r = requests.get(server.url("/healthz"), timeout=10)
    assert r.status_code == 200
    assert "Strict-Transport-Security" not in r.headers


def test_tls_1_1_is_refused(portcullis, pki):
    ca, cert, key = pki
    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(key))
    context = ssl.create_default_context(cafile=str(ca.path))
    with warnings.catch_warnings():  # deprecated, which is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_sighup_reloads_the_pair_and_a_bad_pair_keeps_the_current_one(portcullis, pki, tmp_path):
    first, cert, key = pki
    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(key))
    before = _served_certificate(server.port)
    # A keep-alive connection opened before the reload.
    kept = requests.Session()
    assert kept.get(server.url("/healthz"), verify=str(first.path), timeout=10).status_code == 200

    # Renewed by another authority, with an RSA key in PKCS#1 this time.
    second = Authority(tmp_path, "second")
    renewed = second.issue(cert, key, key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                           key_format=serialization.PrivateFormat.TraditionalOpenSSL)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while _served_certificate(server.port) != renewed:
        assert time.monotonic() < deadline, "SIGHUP did not load the new certificate"
        time.sleep(0.05)
    assert before != renewed
    assert requests.get(server.url("/healthz"), verify=str(second.path), timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url("/healthz"), verify=str(first.path), timeout=10)
    # The connection made before goes on with the certificate it was made with.
    assert kept.get(server.url("/healthz"), verify=str(first.path), timeout=10).status_code == 200

    # A key that does not fit the certificate: logged, and the renewed pair stays.
    third = Authority(tmp_path, "third")
    third.issue(cert, tmp_path / "unused.key")
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "kept the current TLS certificate" not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the failed reload was not logged"
        time.sleep(0.05)
    assert _served_certificate(server.port) == renewed
    assert requests.get(server.url("/healthz"), verify=str(second.path), timeout=10).status_code == 200
    assert "PRIVATE KEY" not in server.log_path.read_text(errors="replace")


def _serve_fails(portcullis, *args: str) -> str:
    proc = subprocess.run([str(BIN), "serve", "--listen", "127.0.0.1:0", *args], env=portcullis.env,
                          capture_output=True, timeout=30, cwd=portcullis.workdir)
    assert proc.returncode != 0, proc.stdout.decode(errors="replace")
    return (proc.stdout + proc.stderr).decode(errors="replace")


def test_tls_files_that_cannot_be_used_stop_the_start_with_a_clear_error(portcullis, pki, tmp_path):
    ca, cert, key = pki
    missing = tmp_path / "missing.key"
    out = _serve_fails(portcullis, "--tls-cert", str(cert), "--tls-key", str(missing))
    assert "could not read the TLS private key" in out and str(missing) in out

    other = tmp_path / "other.key"
    Authority(tmp_path, "other").issue(tmp_path / "other.pem", other)
    out = _serve_fails(portcullis, "--tls-cert", str(cert), "--tls-key", str(other))
    assert "does not fit the certificate" in out
    assert "PRIVATE KEY" not in out

    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    out = _serve_fails(portcullis, "--tls-cert", str(empty), "--tls-key", str(key))
    assert "holds no certificate" in out

    out = _serve_fails(portcullis, "--tls-cert", str(cert))
    assert "--tls-key" in out
    out = _serve_fails(portcullis, "--tls-cert", str(cert), "--tls-key", str(key), "--issuer", "http://auth.example.com")
    assert "must be https://" in out


def test_a_stalled_handshake_is_closed_by_the_header_read_timeout(portcullis, pki):
    ca, cert, key = pki
    portcullis.env["PORTCULLIS_HEADER_READ_TIMEOUT"] = "1s"
    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(key))
    for opening in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):  # nothing; half a ClientHello
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(opening)
            started = time.monotonic()
            assert raw.recv(1024) == b""
            assert time.monotonic() - started < 5
    # And the server still answers.
    assert requests.get(server.url("/healthz"), verify=str(ca.path), timeout=10).status_code == 200


def _byte_list(text: bytes) -> str:
    """How a Debug-printed byte vector would show `text`."""
    return ", ".join(str(b) for b in text)


def test_a_key_that_lost_its_newlines_is_refused_without_its_bytes(portcullis, pki, tmp_path):
    """(attack review) A key whose newlines were collapsed into spaces (`echo $KEY > key.pem`) made the PEM
    parser's error quote the whole key, at start and in the log of a SIGHUP reload."""
    ca, cert, key = pki
    flat = tmp_path / "flat.key"
    flat.write_bytes(key.read_bytes().replace(b"\n", b" "))
    body = b"".join(key.read_bytes().splitlines()[1:-1])
    chunks = [body[i:i + 24].decode() for i in range(0, len(body) - 24, 24)]
    out = _serve_fails(portcullis, "--tls-cert", str(cert), "--tls-key", str(flat))
    assert "could not read the TLS private key" in out and "newlines" in out, out
    assert not [c for c in chunks if c in out], out
    assert _byte_list(body[:16]) not in out and _byte_list(b"-----END") not in out, out

    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(key))
    key.write_bytes(flat.read_bytes())
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "kept the current TLS certificate" not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the failed reload was not logged"
        time.sleep(0.05)
    log = server.log_path.read_text(errors="replace")
    assert not [c for c in chunks if c in log]
    assert _byte_list(body[:16]) not in log and _byte_list(b"-----END") not in log
    assert requests.get(server.url("/healthz"), verify=str(ca.path), timeout=10).status_code == 200


def test_a_reload_from_a_fifo_or_a_device_neither_blocks_the_server_nor_is_used(portcullis, pki, tmp_path):
    """(attack review) SIGHUP with the key path a FIFO nobody writes to stopped the whole server; /dev/zero
    grew its memory until it aborted."""
    import os
    ca, cert, key = pki
    link = tmp_path / "server-link.key"
    link.symlink_to(key)
    server = portcullis.start("--tls-cert", str(cert), "--tls-key", str(link))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, "/dev/zero"):
        link.unlink()
        link.symlink_to(target)
        before = server.log_path.read_text(errors="replace").count("kept the current TLS certificate")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while server.log_path.read_text(errors="replace").count("kept the current TLS certificate") == before:
            assert time.monotonic() < deadline, f"the reload from {target} was not refused"
            assert requests.get(server.url("/healthz"), verify=str(ca.path), timeout=5).status_code == 200
            time.sleep(0.05)
        assert "not a regular file" in server.log_path.read_text(errors="replace")
        assert requests.get(server.url("/healthz"), verify=str(ca.path), timeout=5).status_code == 200
