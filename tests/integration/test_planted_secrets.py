"""Every planted secret shape, sent through a real `apitape record` to a real upstream, is
absent from every artefact and output stream: the cassette, its JSON-lines conversion, the
HAR export, `replay --dry-run`, and `replay -v` with its JSON, HTML and JUnit reports."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

from tests.integration.conftest import RunningProxy, Upstream, run_apitape

PATH_TOKEN = "Qm7Xk2Pz9Lw4Rt8Vb3Nc6Jd1"
BASIC = base64.b64encode(b"planted-user:planted-basic-pass").decode()
PLANTED = {
    "multipart password": "planted-mp-password-01",
    "multipart api_key": "planted-mp-apikey-02",
    "Private-Token": "planted-private-token-03",
    "X-Vault-Token": "hvs.plantedVaultToken04",
    "custom *-Token": "planted-deploy-token-05",
    "presigned key id": "AKIAPLANTEDPRESIGN06",
    "X-Amz-Signature": "6a" * 32,
    "sig": "PlantedSasSignature07Xy",
    "path token": PATH_TOKEN,
    "text/plain password=": "planted-text-password-08",
    "XML <password>": "planted-xml-password-09",
    "JSON pass": "planted-json-pass-10",
    "SigV4 key id": "AKIAPLANTEDSIGV4KY11",
    "SigV4 signature": "b7" * 32,
    "Authorization Basic": BASIC,
    "answer: presigned signature": "8c" * 32,
    "answer: XML password": "planted-answer-xml-pass-12",
    "answer: token path in a link": "Hy4Tq8Wm2Zc7Kp3Rv9Ls5Nf0",
}
NOT_SECRET = {
    "run id": "0123456789abcdef0123456789abcdef",
    "npm _rev": "3-2c513354b2620567",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "sha256 in a fragment": "ab" * 32,
    "SigV4 region and service": "/us-east-1/dynamodb/aws4_request",
}
SIGV4 = (
    f"AWS4-HMAC-SHA256 Credential={PLANTED['SigV4 key id']}/20261207/us-east-1/dynamodb/"
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    f"Signature={PLANTED['SigV4 signature']}"
)


def answer(
    status: int, content_type: str, body: str
) -> Callable[..., tuple[int, dict[str, str], bytes]]:
    def route(handler: BaseHTTPRequestHandler, _body: bytes) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": content_type}, body.encode()

    return route


def planted_routes(upstream: Upstream) -> None:
    ok = answer(200, "application/json", '{"ok": true}')
    presigned = (
        "http://svc/bucket/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={PLANTED['presigned key id']}%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Signature={PLANTED['answer: presigned signature']}"
    )
    links = (
        f'<a href="/packages/pkg-1.0.tar.gz#sha256={NOT_SECRET["sha256 in a fragment"]}">pkg</a>'
        f'<a href="/reset/{PLANTED["answer: token path in a link"]}/confirm">reset</a>'
    )
    xml = f"<user><name>alice</name><password>{PLANTED['answer: XML password']}</password></user>"
    upstream.routes.update(
        {
            ("POST", "/upload"): ok,
            ("GET", "/me"): ok,
            ("GET", "/bucket/k.txt"): answer(200, "text/plain", "object body"),
            ("GET", "/container/blob"): answer(200, "text/plain", "blob body"),
            ("GET", f"/reset/{PATH_TOKEN}"): ok,
            ("POST", "/log"): ok,
            ("POST", "/xml-login"): answer(200, "application/xml", xml),
            ("POST", "/json-login"): ok,
            ("POST", "/dynamodb"): answer(200, "application/x-amz-json-1.0", "{}"),
            ("GET", "/presign"): answer(200, "application/json", json.dumps({"url": presigned})),
            ("GET", "/simple/pkg/"): answer(200, "text/html", links),
            ("GET", f"/runs/{NOT_SECRET['run id']}"): ok,
            ("GET", f"/pkg/{NOT_SECRET['npm _rev']}"): ok,
            ("GET", f"/items/{NOT_SECRET['uuid']}"): ok,
        }
    )


def send_planted(base_url: str) -> None:
    with httpx.Client(base_url=base_url, trust_env=False) as client:
        client.post(
            "/upload",
            data={"user": "alice", "password": PLANTED["multipart password"],
                  "api_key": PLANTED["multipart api_key"]},
            files={"file": ("a.bin", bytes(range(256)), "application/octet-stream")},
        )  # fmt: skip
        client.get(
            "/me",
            headers={
                "Private-Token": PLANTED["Private-Token"],
                "X-Vault-Token": PLANTED["X-Vault-Token"],
                "X-Deploy-Token": PLANTED["custom *-Token"],
                "Authorization": f"Basic {BASIC}",
            },
        )
        client.get(
            "/bucket/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={PLANTED['presigned key id']}%2F20261207%2Fus-east-1%2Fs3%2F"
            f"aws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature={PLANTED['X-Amz-Signature']}"
        )
        client.get(f"/container/blob?sv=2022-11-02&sr=b&sig={PLANTED['sig']}")
        client.get(f"/reset/{PATH_TOKEN}")
        client.post(
            "/log",
            content=f"user=alice\npassword={PLANTED['text/plain password=']}\n",
            headers={"Content-Type": "text/plain"},
        )
        client.post(
            "/xml-login",
            content=f"<login><user>alice</user><password>{PLANTED['XML <password>']}</password></login>",
            headers={"Content-Type": "application/xml"},
        )
        client.post("/json-login", json={"user": "alice", "pass": PLANTED["JSON pass"]})
        client.post(
            "/dynamodb",
            content=b'{"TableName": "t"}',
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                "Authorization": SIGV4,
            },
        )
        client.get("/presign")
        client.get("/simple/pkg/")
        client.get(f"/runs/{NOT_SECRET['run id']}")
        client.get(f"/pkg/{NOT_SECRET['npm _rev']}")
        client.get(f"/items/{NOT_SECRET['uuid']}")


def leaks(where: str, text: bytes | str) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    return [f"{name} in {where}" for name, value in PLANTED.items() if value.encode() in raw]


def test_no_planted_secret_reaches_any_artefact_or_output(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    planted_routes(upstream)
    proxy = start_proxy(upstream.url)
    send_planted(proxy.url)
    assert proxy.stop() == 0
    cassette = proxy.cassette
    recorded = cassette.read_bytes()
    assert recorded.count(b"# end of exchange") == 14, proxy.output()
    found = leaks(cassette.name, recorded)

    # What is not secret stays readable: replay correlation and routing depend on it.
    for name, value in NOT_SECRET.items():
        assert value.encode() in recorded, f"{name} was redacted"

    converted = tmp_path / "converted.jsonl"
    har = tmp_path / "export.har"
    assert run_apitape("convert", str(cassette), str(converted)).returncode == 0
    assert run_apitape("export", str(cassette), "--har", str(har)).returncode == 0
    found += leaks(converted.name, converted.read_bytes()) + leaks(har.name, har.read_bytes())

    dry = run_apitape("replay", str(cassette), "--target", upstream.url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    found += leaks("--dry-run stdout", dry.stdout) + leaks("--dry-run stderr", dry.stderr)

    reports = {
        "--report-json": tmp_path / "r.json",
        "--report-html": tmp_path / "r.html",
        "--junit": tmp_path / "junit.xml",
        "--save-responses": tmp_path / "saved.yaml",
    }
    upstream.hits.clear()
    replay = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "-v",
        *(arg for flag, path in reports.items() for arg in (flag, str(path))),
        "--secret", f"path_token={PATH_TOKEN}",
        "--secret", f"authorization=Basic {BASIC}",  # with its scheme: item 3 of the brief
    )  # fmt: skip
    found += leaks("replay stdout", replay.stdout) + leaks("replay stderr", replay.stderr)
    for flag, path in reports.items():
        found += leaks(f"{flag} {path.name}", path.read_bytes())
    assert found == []

    # The secrets given were filled in where they were recorded; the replay passed.
    assert f"GET /reset/{PATH_TOKEN}" in upstream.hits
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert json.loads(reports["--report-json"].read_text())["summary"]["passed"] == 14
