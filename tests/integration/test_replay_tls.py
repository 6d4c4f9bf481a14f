"""Replay against HTTPS targets with an internal CA: --ca, SSL_CERT_FILE, --insecure, mutual
TLS (--cert, --key), and TLS failures reported as TLS failures that name the certificate and
the option that fixes them; on both transports (HTTP/1.1 and --http2)."""

from __future__ import annotations

import datetime
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from tests.integration.conftest import (
    BIN,
    TlsUpstream,
    Upstream,
    _serve,
    default_routes,
    make_certificates,
    validate_report,
)

BOOK = {"id": 1, "title": "Dune", "price": 9.5}


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    """Two exchanges recorded from the staging service, as the upstreams answer them."""
    path = tmp_path / "staging.yaml"
    recorded = Response(
        200, "OK", (("Content-Type", "application/json"),), json.dumps(BOOK).encode()
    )
    write_cassette(
        path,
        [
            Exchange(str(i), Request("GET", "https://staging.internal/books/1", (), b""), recorded)
            for i in (1, 2)
        ],
        "2026-01-01T00:00:00Z",
    )
    return path


def replay(
    *args: str, env: dict[str, str] | None = None, command: str = "replay"
) -> subprocess.CompletedProcess[str]:
    """`apitape replay ARGS` with only the trust the test gives it: the environment's own
    SSL_CERT_FILE and SSL_CERT_DIR are left out unless `env` sets them."""
    environment = {
        k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    result = subprocess.run(
        [str(BIN / "apitape"), command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **(env or {})},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_an_untrusted_certificate_is_a_tls_failure_naming_it_and_the_fix(
    https_upstream: TlsUpstream, cassette: Path, tmp_path: Path, http2: bool
) -> None:
    report = tmp_path / "report.json"
    extra = ("--http2",) if http2 else ()
    result = replay(
        str(cassette), "--target", https_upstream.url, "--report-json", str(report), *extra
    )
    where = https_upstream.url.removeprefix("https://")
    assert result.returncode == 2, result.stdout + result.stderr
    message = (
        f"TLS: the certificate of {where} (CN=127.0.0.1, issued by CN=apitape test CA) is not "
        "trusted: unable to get local issuer certificate; give its CA (ca=PEM), or verify no "
        "certificate (insecure=True)"
    )
    assert message in result.stderr
    assert "operation not permitted" not in result.stdout + result.stderr
    assert "Check that the target is running" not in result.stderr
    validate_report(report)
    data = json.loads(report.read_text())
    assert data["interactions"][0]["error"] == message
    assert "TLS handshake" in data["interactions"][1]["error"]  # not sent after the first
    assert data["tls_verified"] is True
    assert https_upstream.hits == []  # no request got through


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_ca_makes_the_internal_certificate_trusted(
    https_upstream: TlsUpstream, cassette: Path, http2: bool
) -> None:
    extra = ("--http2",) if http2 else ()
    result = replay(
        str(cassette), "--target", https_upstream.url, "--ca", str(https_upstream.ca_pem), *extra
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 exchanges: 2 passed" in result.stdout
    assert len(https_upstream.hits) == 2


def test_ssl_cert_file_in_the_environment_is_honoured(
    https_upstream: TlsUpstream, cassette: Path
) -> None:
    result = replay(
        str(cassette),
        "--target",
        https_upstream.url,
        env={"SSL_CERT_FILE": str(https_upstream.ca_pem)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(https_upstream.hits) == 2


def test_ca_that_did_not_sign_it_says_so(
    https_upstream: TlsUpstream, cassette: Path, tmp_path: Path
) -> None:
    other_ca, _, _ = make_certificates(tmp_path / "other")
    result = replay(str(cassette), "--target", https_upstream.url, "--ca", str(other_ca))
    assert result.returncode == 2
    assert f"is not trusted by the CAs of {other_ca}: " in result.stderr
    assert "give the CA that signed it (ca=PEM), or verify no certificate" in result.stderr


def test_insecure_replays_and_the_report_says_verification_was_off(
    https_upstream: TlsUpstream, cassette: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    result = replay(
        str(cassette), "--target", https_upstream.url, "--insecure", "--report-json", str(report)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TLS certificates were not verified (--insecure)" in result.stdout
    validate_report(report)
    assert json.loads(report.read_text())["tls_verified"] is False


def test_learn_and_three_way_mode_take_the_same_options(
    https_upstream: TlsUpstream, cassette: Path, tmp_path: Path
) -> None:
    ca = str(https_upstream.ca_pem)
    noise = tmp_path / "noise.yaml"
    learned = replay(
        str(cassette),
        "--target",
        https_upstream.url,
        "--ca",
        ca,
        "--output",
        str(noise),
        command="learn",
    )
    assert learned.returncode == 0, learned.stderr
    assert noise.is_file()
    live = replay(
        str(cassette),
        "--baseline",
        https_upstream.url,
        "--candidate",
        https_upstream.url,
        "--ca",
        ca,
    )
    assert live.returncode == 0, live.stdout + live.stderr


def test_an_unusable_ca_file_is_a_usage_error(
    cassette: Path, tmp_path: Path, closed_port: int
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    target = f"https://127.0.0.1:{closed_port}"
    for path, says in ((not_pem, "cannot be used"), (tmp_path / "missing.pem", "cannot be read")):
        result = replay(str(cassette), "--target", target, "--ca", str(path))
        assert result.returncode == 2
        assert f"apitape: error: --ca {path}: {says}" in result.stderr


# Mutual TLS: an upstream that asks every client for a certificate its own CA signed.


@dataclass
class MutualTls:
    upstream: Upstream
    server_ca: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by a CA the upstream does not trust
    stranger_key: Path


def client_certificate(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a client certificate it signed: (ca, cert, key) PEM paths."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} client")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "client.pem", directory / "client-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(params=["tls1.3", "tls1.2"])
def mutual_tls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MutualTls]:
    server_ca, server_cert, server_key = make_certificates(tmp_path / "server")
    client_ca, client_cert, client_key = client_certificate(tmp_path / "client", "staging")
    _, stranger_cert, stranger_key = client_certificate(tmp_path / "stranger", "stranger")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(client_ca)
    if request.param == "tls1.2":  # the refusal comes in the handshake, not after it
        tls.maximum_version = ssl.TLSVersion.TLSv1_2
    state = Upstream(url="", routes=default_routes())
    stop_server = _serve(state, tls)
    yield MutualTls(state, server_ca, client_cert, client_key, stranger_cert, stranger_key)
    stop_server()


def test_mutual_tls_refuses_without_a_client_certificate(
    mutual_tls: MutualTls, cassette: Path
) -> None:
    url = mutual_tls.upstream.url
    result = replay(str(cassette), "--target", url, "--ca", str(mutual_tls.server_ca))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "TLS: " in result.stderr
    assert url.removeprefix("https://") in result.stderr
    assert "client certificate" in result.stderr
    assert "give one (client_cert=PEM, and client_key=PEM" in result.stderr
    assert mutual_tls.upstream.hits == []


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_mutual_tls_passes_with_cert_and_key(
    mutual_tls: MutualTls, cassette: Path, http2: bool
) -> None:
    extra = ("--http2",) if http2 else ()
    result = replay(
        str(cassette),
        "--target",
        mutual_tls.upstream.url,
        "--ca",
        str(mutual_tls.server_ca),
        "--cert",
        str(mutual_tls.client_cert),
        "--key",
        str(mutual_tls.client_key),
        *extra,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(mutual_tls.upstream.hits) == 2


def test_mutual_tls_names_a_client_certificate_it_refuses(
    mutual_tls: MutualTls, cassette: Path
) -> None:
    result = replay(
        str(cassette),
        "--target",
        mutual_tls.upstream.url,
        "--ca",
        str(mutual_tls.server_ca),
        "--cert",
        str(mutual_tls.stranger_cert),
        "--key",
        str(mutual_tls.stranger_key),
    )
    assert result.returncode == 2
    assert f"refused the client certificate {mutual_tls.stranger_cert} (" in result.stderr
