"""verdaccio 6.8.0, an npm registry, with htpasswd auth and no uplinks: add a user (token),
whoami, publish with the npm CLI (JSON body with a base64 tarball), packuments with ETag /
If-None-Match, tarballs, dist-tags, search, a scoped package, npm install, unpublish, 404s.

Run as a script in the services venv: `python service_verdaccio.py session BASE_URL WORKDIR`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c

ALICE_PASSWORD = "alice-npm-pw-3"
VERSION = "6.8.0"


class Verdaccio(c.Service):
    name = "verdaccio"
    style = f"npm registry (verdaccio {VERSION}, CouchDB-style JSON, tokens) via npm CLI + requests"
    session_module = "service_verdaccio.py"
    use_key_file = True
    secrets = [("password", ALICE_PASSWORD)]

    def bin(self) -> Path:
        return c.node_dir() / "node_modules" / ".bin" / "verdaccio"

    def available(self):
        why = super().available()
        if why:
            return why
        if not self.bin().exists():
            return f"verdaccio not installed under {c.node_dir()} (npm install verdaccio@{VERSION})"
        return None

    def start(self, workdir: Path) -> c.Instance:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / "config.yaml"
        cfg.write_text(
            f"storage: {workdir / 'storage'}\n"
            "auth:\n"
            "  htpasswd:\n"
            f"    file: {workdir / 'htpasswd'}\n"
            "    max_users: 100\n"
            "uplinks: {}\n"
            "packages:\n"
            "  '@*/*':\n"
            "    access: $all\n"
            "    publish: $authenticated\n"
            "    unpublish: $authenticated\n"
            "  '**':\n"
            "    access: $all\n"
            "    publish: $authenticated\n"
            "    unpublish: $authenticated\n"
            "server:\n"
            "  keepAliveTimeout: 60\n"
            "log: {type: stdout, format: pretty, level: warn}\n"
        )

        def launch(port: int) -> c.Instance:
            proc = c.Proc(
                [str(self.bin()), "--config", str(cfg), "--listen", f"127.0.0.1:{port}"],
                workdir / "verdaccio.log",
                cwd=workdir,
            )
            return c.Instance(f"http://127.0.0.1:{port}", proc, workdir)

        def ready(inst: c.Instance) -> None:
            c.wait_http(inst.url + "/-/ping", inst.proc, timeout=60, ok=lambda s: s == 200)

        # verdaccio cannot bind port 0 and say which it got: a free port, again if taken
        return c.start_on_free_port(launch, ready)


SERVICE = Verdaccio()


# --- the session (runs in the services venv: requests, and the npm CLI) -----------------------


def session(base_url: str, workdir: str) -> None:
    import json
    import os
    import subprocess

    import requests

    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    s = requests.Session()
    n = 0

    def call(what, method, path, expect=200, token=None, **kw):
        nonlocal n
        n += 1
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        r = s.request(method, base_url + path, headers=headers, timeout=60, **kw)
        note = "" if r.status_code == expect else f"  (expected {expect}: {r.text[:200]!r})"
        print(f"{n:3} {what}: {r.status_code}{note}")
        return r

    npmrc = wd / "npmrc"
    host = base_url.split("://", 1)[1]

    def npm(what, *args, cwd=wd, expect_fail=False):
        nonlocal n
        n += 1
        env = {
            **os.environ,
            "npm_config_cache": str(wd / "npm-cache"),
            "npm_config_userconfig": str(npmrc),
            "npm_config_registry": base_url + "/",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_update_notifier": "false",
        }
        p = subprocess.run(
            ["npm", *args, "--registry", base_url + "/"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        print(f"{n:3} npm {what}: exit {p.returncode}")
        if (p.returncode != 0) != expect_fail:
            print(f"    UNEXPECTED:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
        return p

    def make_pkg(name, version, dirname):
        d = wd / dirname
        d.mkdir(exist_ok=True)
        (d / "package.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "version": version,
                    "description": "apitape test bed package",
                    "main": "index.js",
                    "license": "MIT",
                }
            )
        )
        (d / "index.js").write_text(f"module.exports = () => '{name}@{version}';\n")
        return d

    call("ping", "GET", "/-/ping")
    call("whoami without token", "GET", "/-/whoami")
    r = call(
        "add user alice",
        "PUT",
        "/-/user/org.couchdb.user:alice",
        expect=201,
        json={"name": "alice", "password": ALICE_PASSWORD, "type": "user", "roles": []},
    )
    token = r.json()["token"]
    call(
        "add user alice again, wrong password (401)",
        "PUT",
        "/-/user/org.couchdb.user:alice",
        expect=401,
        json={"name": "alice", "password": "wrong-password-9", "type": "user", "roles": []},
    )
    call(
        "add user alice again, right password (409)",
        "PUT",
        "/-/user/org.couchdb.user:alice",
        expect=409,
        json={"name": "alice", "password": ALICE_PASSWORD, "type": "user", "roles": []},
    )
    call("whoami", "GET", "/-/whoami", token=token)
    npmrc.write_text(f"//{host}/:_authToken={token}\n")

    call("missing package (404)", "GET", "/tb-left-pad", expect=404)
    npm("whoami", "whoami")
    npm("publish tb-left-pad@1.0.0", "publish", cwd=make_pkg("tb-left-pad", "1.0.0", "p100"))
    npm("publish tb-left-pad@1.0.0 again (fails)", "publish", cwd=wd / "p100", expect_fail=True)
    r = call("packument", "GET", "/tb-left-pad", headers={"Accept": "application/json"})
    etag = r.headers.get("ETag")
    if etag:
        call(
            "packument If-None-Match (304)",
            "GET",
            "/tb-left-pad",
            expect=304,
            headers={"Accept": "application/json", "If-None-Match": etag},
        )
    call(
        "packument, npm's corgi Accept",
        "GET",
        "/tb-left-pad",
        headers={"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"},
    )
    call("version document", "GET", "/tb-left-pad/1.0.0")
    call("tarball", "GET", "/tb-left-pad/-/tb-left-pad-1.0.0.tgz")
    call("missing tarball (404)", "GET", "/tb-left-pad/-/tb-left-pad-9.9.9.tgz", expect=404)
    npm("publish tb-left-pad@1.1.0", "publish", cwd=make_pkg("tb-left-pad", "1.1.0", "p110"))
    npm("view", "view", "tb-left-pad", "versions", "--json")
    npm("dist-tag add stable", "dist-tag", "add", "tb-left-pad@1.0.0", "stable")
    call("dist-tags", "GET", "/-/package/tb-left-pad/dist-tags")
    call(
        "put dist-tag beta",
        "PUT",
        "/-/package/tb-left-pad/dist-tags/beta",
        expect=201,
        token=token,
        json="1.1.0",
    )
    call(
        "delete dist-tag beta",
        "DELETE",
        "/-/package/tb-left-pad/dist-tags/beta",
        expect=201,
        token=token,
    )
    npm(
        "publish @tb/util@0.1.0",
        "publish",
        "--access",
        "public",
        cwd=make_pkg("@tb/util", "0.1.0", "putil"),
    )
    call("scoped packument", "GET", "/@tb%2futil")
    call("search", "GET", "/-/v1/search?text=tb&size=20")
    app = wd / "app"
    app.mkdir(exist_ok=True)
    (app / "package.json").write_text(
        json.dumps({"name": "tb-app", "version": "1.0.0", "private": True})
    )
    npm("install tb-left-pad@^1.0.0", "install", "tb-left-pad@^1.0.0", "--no-package-lock", cwd=app)
    npm("unpublish tb-left-pad@1.0.0", "unpublish", "tb-left-pad@1.0.0", "--force")
    call("unpublished tarball (404)", "GET", "/tb-left-pad/-/tb-left-pad-1.0.0.tgz", expect=404)
    call("packument after unpublish", "GET", "/tb-left-pad")
    call(
        "publish without token (401)",
        "PUT",
        "/tb-other",
        expect=401,
        json={"name": "tb-other", "versions": {}},
    )
    call("whoami with a bad token", "GET", "/-/whoami", token="not-a-valid-token-123")
    print(f"session done: {n} client calls")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        session(sys.argv[2], sys.argv[3])
