"""Real servers and processes on loopback for the integration tests."""

from __future__ import annotations

import gzip
import itertools
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apitape.processes import listening_port, stop

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

Route = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]


def json_route(value: object, status: int = 200) -> Route:
    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(value).encode()

    return answer


def gzip_route(value: object) -> Route:
    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = gzip.compress(json.dumps(value).encode())
        return 200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, data

    return answer


def echo_route(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    received = {"method": handler.command, "body": body.decode("utf-8", "replace")}
    return (
        201,
        {"Content-Type": "application/json", "Location": "/things/7"},
        json.dumps(received).encode(),
    )


BINARY = bytes(range(256)) * 4


def binary_route(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/octet-stream"}, BINARY


@dataclass
class Upstream:
    """A real HTTP/1.1 server in a thread; `routes` can be changed while it runs."""

    url: str
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None


def default_routes() -> dict[tuple[str, str], Route]:
    return {
        ("GET", "/books/1"): json_route({"id": 1, "title": "Dune", "price": 9.5}),
        ("GET", "/books"): gzip_route(
            {"items": [{"id": i, "title": f"Book {i}"} for i in range(1, 40)]}
        ),
        ("GET", "/cover.bin"): binary_route,
        ("POST", "/things"): echo_route,
    }


def _serve(state: Upstream, tls: ssl.SSLContext | None = None) -> Callable[[], None]:
    """Serve `state.routes` on a free loopback port in a thread; return the stop function."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            state.hits.append(f"{self.command} {self.path}")
            route = state.routes.get((self.command, path))
            status, headers, payload = (
                route(self, body) if route else (404, {}, b'{"error": "no route"}')
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"

    def stop_server() -> None:
        if thread.is_alive():
            server.shutdown()
            server.server_close()
            thread.join(5)

    state.stop = stop_server
    return stop_server


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream(url="", routes=default_routes())
    stop_server = _serve(state)
    yield state
    stop_server()


@dataclass
class TlsUpstream(Upstream):
    """An HTTPS upstream and the PEM file of the CA that signed its certificate."""

    ca_pem: Path = Path()


@pytest.fixture
def https_upstream(tmp_path: Path) -> Iterator[TlsUpstream]:
    ca_pem, cert_pem, key_pem = make_certificates(tmp_path / "upstream-tls")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_pem, key_pem)
    state = TlsUpstream(url="", routes=default_routes(), ca_pem=ca_pem)
    stop_server = _serve(state, tls)
    yield state
    stop_server()


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signed for 127.0.0.1: (ca, cert, key) PEM paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apitape test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
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


@dataclass
class RunningProxy:
    """A recording proxy process and where it listens."""

    process: subprocess.Popen[str]
    url: str
    cassette: Path
    log: Path

    def stop(self) -> int:
        return stop(self.process)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., RunningProxy]]:
    """Start `apitape record` or `mitmdump -s addons/record.py`; stopped after the test."""
    started: list[RunningProxy] = []

    def start(
        upstream_url: str | None,
        *,
        via: str = "apitape",
        cassette: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> RunningProxy:
        cassette = cassette or tmp_path / "cassettes" / "recorded.yaml"
        confdir = tmp_path / "mitmproxy-conf"  # mitmproxy creates its CA here on first start
        if via == "apitape":
            command = [
                str(BIN / "apitape"),
                "record",
                "--port",
                "0",  # the proxy binds a port of its own and logs which (no race for one)
                "--cassette",
                str(cassette),
                "--confdir",
                str(confdir),
            ]
            command += ["--upstream", upstream_url] if upstream_url else ["--mode", "forward"]
        else:
            mode = f"reverse:{upstream_url}" if upstream_url else "regular"
            command = [
                str(BIN / "mitmdump"),
                "-s",
                str(REPO / "addons" / "record.py"),
                "--mode",
                mode,
                "--listen-host",
                "127.0.0.1",
                "-p",
                "0",
                "--set",
                f"confdir={confdir}",
                "--set",
                f"apitape_cassette={cassette}",
            ]
        command += extra_args
        log = tmp_path / f"proxy-{len(started)}.log"
        with open(log, "w") as log_file:
            process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, text=True, preexec_fn=preexec_fn
            )
        proxy = RunningProxy(process, "", cassette, log)
        started.append(proxy)
        proxy.url = f"http://127.0.0.1:{listening_port(process, log, timeout=60)}"
        return proxy

    yield start
    for proxy in started:
        stop(proxy.process)


def run_apitape(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `apitape` command and capture what it prints.

    Every JSON report it writes is validated against docs/report.schema.json.
    """
    result = subprocess.run(
        [str(BIN / "apitape"), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    for flag, value in itertools.pairwise(args):
        if flag == "--report-json" and Path(value).is_file():
            schema = "contract-report.schema.json" if args[0] == "contract" else None
            validate_report(Path(value), schema or "report.schema.json")
    return result


def validate_report(path: Path, schema_name: str = "report.schema.json") -> None:
    """Fail the test if a JSON report does not match the documented schema."""
    import jsonschema

    schema = json.loads((REPO / "docs" / schema_name).read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)
