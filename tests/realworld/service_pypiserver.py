"""pypiserver, a PyPI-compatible index with htpasswd auth: uploads with twine (multipart
POST), simple index pages (HTML with #sha256 fragments), downloads with Last-Modified /
If-Modified-Since and ETag, pip download through the index, auth errors, removal, 404s.

Run as a script in the services venv: `python service_pypiserver.py session BASE_URL WORKDIR`.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c

ALICE_PASSWORD = "alice-pypi-pw-4"


class PypiServer(c.Service):
    name = "pypiserver"
    style = "PyPI simple index (HTML, multipart uploads, basic auth) via twine, pip, requests"
    session_module = "service_pypiserver.py"
    use_key_file = True
    secrets = [
        ("authorization", base64.b64encode(f"alice:{ALICE_PASSWORD}".encode()).decode()),
        ("password", ALICE_PASSWORD),
    ]

    def available(self):
        why = super().available()
        if why:
            return why
        if not Path(c.venv_bin("pypi-server")).exists():
            return f"pypiserver not installed in {c.services_venv()}"
        return None

    def start(self, workdir: Path) -> c.Instance:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "packages").mkdir(exist_ok=True)
        sha = base64.b64encode(hashlib.sha1(ALICE_PASSWORD.encode()).digest()).decode()
        (workdir / "htpasswd").write_text(f"alice:{{SHA}}{sha}\n")

        def launch(port: int) -> c.Instance:
            argv = [
                c.venv_bin("pypi-server"),
                "run",
                "-p",
                str(port),
                "-i",
                "127.0.0.1",
                "-P",
                str(workdir / "htpasswd"),
                "-a",
                "update",
                "--disable-fallback",
                "--hash-algo",
                "sha256",
                str(workdir / "packages"),
            ]
            proc = c.Proc(argv, workdir / "pypiserver.log", cwd=workdir)
            return c.Instance(f"http://127.0.0.1:{port}", proc, workdir)

        def ready(inst: c.Instance) -> None:
            c.wait_http(inst.url + "/health", inst.proc, timeout=60, ok=lambda s: s == 200)

        # pypiserver cannot bind port 0 and say which it got: a free port, again if taken
        return c.start_on_free_port(launch, ready)


SERVICE = PypiServer()


# --- the session (runs in the services venv: requests, twine, pip) --------------------------


def _wheel(path: Path, name: str, version: str) -> Path:
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = '{version}'\n",
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: apitape test bed package\nLicense: MIT\n"
        ),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: testbed\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for p, text in files.items():
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        )
        record.append(f"{p},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    out = path / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, text in files.items():
            info = zipfile.ZipInfo(p, date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, text)
    return out


def _sdist(path: Path, name: str, version: str) -> Path:
    import io
    import tarfile

    base = f"{name}-{version}"
    files = {
        f"{base}/PKG-INFO": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: apitape test bed package\nLicense: MIT\n"
        ),
        f"{base}/{name}/__init__.py": f"__version__ = '{version}'\n",
        f"{base}/setup.py": f"from setuptools import setup\nsetup(name='{name}', version='{version}')\n",
    }
    out = path / f"{base}.tar.gz"
    with tarfile.open(out, "w:gz") as t:
        for p, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(p)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return out


def session(base_url: str, workdir: str) -> None:
    import os
    import subprocess

    import requests

    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    s = requests.Session()
    n = 0
    alice = ("alice", ALICE_PASSWORD)

    def call(what, method, path, expect=200, **kw):
        nonlocal n
        n += 1
        r = s.request(method, base_url + path, timeout=60, allow_redirects=False, **kw)
        note = "" if r.status_code == expect else f"  (expected {expect}: {r.text[:200]!r})"
        print(f"{n:3} {what}: {r.status_code}{note}")
        return r

    def tool(what, argv, expect_fail=False):
        nonlocal n
        n += 1
        env = {
            **os.environ,
            "PIP_CACHE_DIR": str(wd / "pip-cache"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "TWINE_NON_INTERACTIVE": "1",
        }
        p = subprocess.run(argv, cwd=wd, env=env, capture_output=True, text=True, timeout=180)
        print(f"{n:3} {what}: exit {p.returncode}")
        if (p.returncode != 0) != expect_fail:
            print(f"    UNEXPECTED:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
        return p

    dist = wd / "dist"
    dist.mkdir(exist_ok=True)
    w100 = _wheel(dist, "tbpkg", "1.0.0")
    s100 = _sdist(dist, "tbpkg", "1.0.0")
    twine = [
        sys.executable,
        "-m",
        "twine",
        "upload",
        "--repository-url",
        base_url + "/",
        "--disable-progress-bar",
        "--non-interactive",
    ]

    call("health", "GET", "/health")
    call("welcome page", "GET", "/")
    call("simple index (empty)", "GET", "/simple/")
    call("missing project (404)", "GET", "/simple/tbpkg/", expect=404)
    tool(
        "twine upload 1.0.0 wheel + sdist",
        [*twine, "-u", "alice", "-p", ALICE_PASSWORD, str(w100), str(s100)],
    )
    tool(
        "twine upload with a wrong password (fails)",
        [*twine, "-u", "alice", "-p", "wrong-password-5", str(_wheel(wd, "tbother", "0.1.0"))],
        expect_fail=True,
    )
    with open(_wheel(wd, "tbanon", "0.1.0"), "rb") as fh:
        call(
            "anonymous multipart upload (401)",
            "POST",
            "/",
            expect=401,
            data={
                ":action": "file_upload",
                "name": "tbanon",
                "version": "0.1.0",
                "protocol_version": "1",
            },
            files={"content": ("tbanon-0.1.0-py3-none-any.whl", fh, "application/octet-stream")},
        )
    call("simple index", "GET", "/simple/")
    r = call("project page", "GET", "/simple/tbpkg/")
    call("project page, not normalized name (redirect)", "GET", "/simple/TbPkg/", expect=301)
    call("packages listing", "GET", "/packages/")
    r = call("download wheel", "GET", f"/packages/{w100.name}")
    lm, etag = r.headers.get("Last-Modified"), r.headers.get("ETag")
    if lm:
        call(
            "download If-Modified-Since (304)",
            "GET",
            f"/packages/{w100.name}",
            expect=304,
            headers={"If-Modified-Since": lm},
        )
    if etag:
        call(
            "download If-None-Match (304)",
            "GET",
            f"/packages/{w100.name}",
            expect=304,
            headers={"If-None-Match": etag},
        )
    call("download sdist", "GET", f"/packages/{s100.name}")
    call("missing file (404)", "GET", "/packages/tbpkg-9.9.9.tar.gz", expect=404)
    tool(
        "pip download tbpkg",
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "tbpkg==1.0.0",
            "--no-deps",
            "--index-url",
            base_url + "/simple/",
            "-d",
            str(wd / "dl"),
            "--only-binary",
            ":all:",
        ],
    )
    tool(
        "pip download tbpkg again (pip's HTTP cache revalidates)",
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "tbpkg==1.0.0",
            "--no-deps",
            "--index-url",
            base_url + "/simple/",
            "-d",
            str(wd / "dl2"),
            "--only-binary",
            ":all:",
        ],
    )
    call("simple without trailing slash (redirect)", "GET", "/simple", expect=301)
    call("health HEAD", "HEAD", "/health")
    tool(
        "twine upload 1.1.0",
        [*twine, "-u", "alice", "-p", ALICE_PASSWORD, str(_wheel(dist, "tbpkg", "1.1.0"))],
    )
    call("project page after 1.1.0", "GET", "/simple/tbpkg/")
    call(
        "upload 1.1.0 again (409, no overwrite)",
        "POST",
        "/",
        expect=409,
        auth=alice,
        data={
            ":action": "file_upload",
            "name": "tbpkg",
            "version": "1.1.0",
            "protocol_version": "1",
        },
        files={
            "content": (
                "tbpkg-1.1.0-py3-none-any.whl",
                (dist / "tbpkg-1.1.0-py3-none-any.whl").read_bytes(),
                "application/octet-stream",
            )
        },
    )
    call(
        "pip-style JSON accept on the project page",
        "GET",
        "/simple/tbpkg/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"},
    )
    call(
        "remove 1.0.0 without auth (401)",
        "POST",
        "/",
        expect=401,
        data={":action": "remove_pkg", "name": "tbpkg", "version": "1.0.0"},
    )
    call(
        "remove 1.0.0",
        "POST",
        "/",
        auth=alice,
        data={":action": "remove_pkg", "name": "tbpkg", "version": "1.0.0"},
    )
    call("removed wheel (404)", "GET", f"/packages/{w100.name}", expect=404)
    call("project page after removal", "GET", "/simple/tbpkg/")
    call(
        "remove a missing version (404)",
        "POST",
        "/",
        expect=404,
        auth=alice,
        data={":action": "remove_pkg", "name": "tbpkg", "version": "7.7.7"},
    )
    print(f"session done: {n} client calls")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        session(sys.argv[2], sys.argv[3])
