"""Shared plumbing of the real-service test bed: ports, processes, the record/replay flow.

Standard library only, and never an import of apitape: apitape is driven through its CLI
(the command comes from $APITAPE, default `sys.executable -m apitape`) and read back through
its JSON report. The service's client code (boto3, mlflow, requests, npm, twine) runs in the
services environment, as a subprocess: `SERVICES_PYTHON service_X.py session BASE_URL WORKDIR`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Where the services live. Override with $APITAPE_TESTBED_DIR (a dir holding venv/ and node/),
# or each one with $APITAPE_TESTBED_VENV / $APITAPE_TESTBED_NODE.
TESTBED_DIR = Path(os.environ.get("APITAPE_TESTBED_DIR", REPO / ".testbed"))


def services_venv() -> Path:
    return Path(os.environ.get("APITAPE_TESTBED_VENV", TESTBED_DIR / "venv"))


def node_dir() -> Path:
    return Path(os.environ.get("APITAPE_TESTBED_NODE", TESTBED_DIR / "node"))


def services_python() -> Path:
    return services_venv() / "bin" / "python"


def venv_bin(name: str) -> str:
    return str(services_venv() / "bin" / name)


def apitape_cmd() -> list[str]:
    """The apitape command: $APITAPE (split like a shell would), else this Python's -m apitape."""
    env = os.environ.get("APITAPE")
    if env:
        return shlex.split(env)
    return [sys.executable, "-m", "apitape"]


def free_port() -> int:
    """A port free right now. Racy: another process may bind it before the server given it
    does; see start_on_free_port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How a server says the port it was given is taken: Python (waitress, uvicorn), node
# (verdaccio), gunicorn.
ADDRESS_IN_USE = re.compile(
    r"address already in use|EADDRINUSE|connection in use|in use by another program", re.I
)
# What mitmproxy (so `apitape record`) logs once it listens: "... listening at 127.0.0.1:47009."
LISTENING_AT = re.compile(r"listening at (?:\[[^\]\s]+\]|[^\s:]+):(\d+)\.")
# What werkzeug (moto's server) logs once it listens: " * Running on http://127.0.0.1:47009"
RUNNING_ON = re.compile(r"Running on https?://[^\s:]+:(\d+)")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no proxies from outside, loopback only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class Proc:
    """A child process in its own process group, stopped (group and all) by stop()."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ):
        self.argv = argv
        self.log_path = log
        self._log = open(log, "ab")
        self._log_start = self._log.tell()  # the log is appended to: this run's part starts here
        self.p = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or clean_env(),
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def signal_wait(self, sig: int, timeout: float, group: bool = True) -> int | None:
        if self.p.poll() is None:
            try:
                if group:
                    os.killpg(self.p.pid, sig)
                else:
                    self.p.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, first: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        rc = self.signal_wait(first, timeout)
        if rc is None:
            rc = self.signal_wait(signal.SIGKILL, 5)
        # the group's stragglers (workers a server forked)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.p.pid, signal.SIGKILL)
        self._log.close()
        return rc

    def output(self) -> str:
        """What this process has written to its log so far."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_start)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_http(
    url: str, proc: Proc | None = None, timeout: float = 90.0, ok=lambda status: status < 500
) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.argv[0]} exited ({proc.p.returncode}) before {url} answered:\n{proc.tail()}"
            )
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(url, timeout=5) as r:
                if ok(r.status):
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            if ok(e.code):
                return
            last = e.code
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.25)
    raise RuntimeError(
        f"{url} did not answer within {timeout} s (last: {last})"
        + (f"\n{proc.tail()}" if proc else "")
    )


def wait_output(proc: Proc, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
    """The first match of `pattern` in what `proc` has logged, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        exited = not proc.alive()  # before reading: what it wrote is all there
        match = pattern.search(proc.output())
        if match:
            return match
        if exited:
            raise RuntimeError(f"{proc.argv} exited ({proc.p.returncode}):\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{proc.argv[0]} did not log {pattern.pattern!r} within {timeout} s:\n{proc.tail()}"
            )
        time.sleep(0.1)


def start_on_free_port(
    launch: Callable[[int], Instance], ready: Callable[[Instance], None], tries: int = 3
) -> Instance:
    """Start a server on a free port; if the port was taken meanwhile, again on another one.

    These servers (MLflow, verdaccio, pypiserver) cannot bind port 0 and say which port
    they got, so the port is chosen here and bound by the server a moment later: under
    load another process can take it in between. When the server's log says the address
    is in use, start again on a new port, `tries` times at most.
    `launch(port)` starts an instance; `ready(instance)` returns once it serves, or raises.
    """
    for attempt in range(1, tries + 1):
        inst = launch(free_port())
        try:
            ready(inst)
        except Exception:
            inst.proc.stop()
            if attempt < tries and ADDRESS_IN_USE.search(inst.proc.output()):
                continue
            raise
        if not ADDRESS_IN_USE.search(inst.proc.output()):
            return inst
        inst.proc.stop()  # what answered may have been whoever took the port
    raise RuntimeError(
        f"{inst.proc.argv[0]}: the port was taken {tries} times:\n{inst.proc.tail()}"
    )


@dataclass
class Instance:
    """A running service instance: its base URL, its process, its scratch directory."""

    url: str
    proc: Proc
    workdir: Path
    info: dict = field(default_factory=dict)

    def stop(self) -> None:
        self.proc.stop()


class Service:
    """One service of the test bed. Subclasses set name/style and implement start()."""

    name = "?"
    style = ""
    # --secret LABEL=VALUE given to replay where the session's credentials get redacted
    secrets: dict[str, str] = {}
    # extra options for `apitape record` (e.g. --redact-field) and `apitape replay`
    record_args: list[str] = []
    replay_args: list[str] = []
    # record and replay with one --redact-key-file, so a --secret fills only the placeholders
    # made from that very value (several users' credentials side by side)
    use_key_file = False
    session_module: str = ""  # file name under tests/realworld run as the session

    def available(self) -> str | None:
        """None when the service can run here, else why not."""
        if not services_python().exists():
            return f"services venv missing: {services_venv()} (build it: python tests/realworld/build_env.py)"
        return None

    def start(self, workdir: Path) -> Instance:
        raise NotImplementedError

    def run_session(self, base_url: str, workdir: Path, log: Path) -> subprocess.CompletedProcess:
        argv = [
            str(services_python()),
            str(HERE / self.session_module),
            "session",
            base_url,
            str(workdir),
        ]
        with open(log, "ab") as fh:
            return subprocess.run(
                argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=clean_env(**self.session_env()),
                timeout=600,
                stdin=subprocess.DEVNULL,
            )

    def session_env(self) -> dict[str, str]:
        return {
            "PATH": f"{services_venv() / 'bin'}:{node_dir() / 'node_modules' / '.bin'}:"
            f"{os.environ.get('PATH', '')}"
        }


def start_recorder(upstream: str, cassette: Path, log: Path, extra: list[str]) -> tuple[Proc, str]:
    """`apitape record` on a port it binds itself (0), read back from its log: no race."""
    argv = [
        *apitape_cmd(),
        "record",
        "--upstream",
        upstream,
        "--port",
        "0",
        "--cassette",
        str(cassette),
        *extra,
    ]
    proc = Proc(argv, log)
    try:
        port = wait_output(proc, LISTENING_AT, timeout=60).group(1)
    except Exception:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def stop_recorder(proc: Proc) -> int | None:
    # SIGINT to the recorder itself (as Ctrl-C would), wait; then the group, harder
    rc = proc.signal_wait(signal.SIGINT, 60, group=False)
    if rc is None:
        rc = proc.signal_wait(signal.SIGTERM, 20)
    proc.stop()
    return rc


def count_exchanges(cassette: Path) -> int:
    """Recorded exchanges, counted without apitape: JSON lines, one exchange a line."""
    if not cassette.exists():
        return 0
    if cassette.suffix == ".jsonl":
        n = 0
        for line in cassette.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "request" in obj:
                n += 1
        return n
    return sum(
        1
        for line in cassette.read_text().splitlines()
        if line.startswith("- request:") or line.startswith("  - request:")
    )


def run_flow(service: Service, out_dir: Path, keep: bool = True, redact: bool = True) -> dict:
    """Record a session of `service` from instance A, replay it against a fresh instance B.

    redact=False records with --no-redact and gives replay no --secret (to see what the
    redaction of credentials hides). Returns the summary dict (also written as
    out_dir/NAME/summary.json)."""
    sdir = out_dir / service.name
    if sdir.exists():
        shutil.rmtree(sdir)
    sdir.mkdir(parents=True)
    # YAML (the default format) unless $APITAPE_TESTBED_CASSETTE_EXT=jsonl
    cassette = sdir / f"cassette.{os.environ.get('APITAPE_TESTBED_CASSETTE_EXT', 'yaml')}"
    report = sdir / "report.json"
    key_file = sdir / "redact.key"  # made by `apitape record` when the service asks for one
    t0 = time.monotonic()
    result: dict = {
        "service": service.name,
        "style": service.style,
        "redact": redact,
        "cassette": str(cassette),
        "report": str(report),
        "apitape": apitape_cmd(),
    }
    scratch = Path(tempfile.mkdtemp(prefix=f"apitape-rw-{service.name}-"))
    inst_a = recorder = inst_b = None
    try:
        inst_a = service.start(scratch / "a")
        recorder, proxy_url = start_recorder(
            inst_a.url,
            cassette,
            sdir / "record.log",
            service.record_args
            + (["--redact-key-file", str(key_file)] if redact and service.use_key_file else [])
            + ([] if redact else ["--no-redact"]),
        )
        result["record_command"] = shlex.join(recorder.argv)
        result["instance_a"] = inst_a.url
        result["proxy"] = proxy_url
        sess = service.run_session(proxy_url, scratch / "client", sdir / "session.log")
        result["session_exit"] = sess.returncode
        result["record_exit"] = stop_recorder(recorder)
        recorder = None
        inst_a.stop()
        inst_a = None
        result["exchanges"] = count_exchanges(cassette)
        if sess.returncode != 0:
            result["harness_error"] = (
                f"session exited {sess.returncode}; see {sdir / 'session.log'}"
            )

        inst_b = service.start(scratch / "b")
        result["instance_b"] = inst_b.url
        argv = [
            *apitape_cmd(),
            "replay",
            str(cassette),
            "--target",
            inst_b.url,
            "--report-json",
            str(report),
            "--quiet",
        ]
        if redact and service.use_key_file:
            argv += ["--redact-key-file", str(key_file)]
        secrets = service.secrets.items() if isinstance(service.secrets, dict) else service.secrets
        for label, value in secrets if redact else ():
            argv += ["--secret", f"{label}={value}"]
        argv += service.replay_args
        result["replay_command"] = shlex.join(argv)
        with open(sdir / "replay.log", "wb") as fh:
            rp = subprocess.run(
                argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                timeout=900,
                stdin=subprocess.DEVNULL,
            )
        result["replay_exit"] = rp.returncode
        inst_b.stop()
        inst_b = None
        result.update(read_report(report))
    except Exception as e:  # the harness must report, not crash, and still stop everything
        result["harness_error"] = f"{type(e).__name__}: {e}"
    finally:
        if recorder is not None:
            stop_recorder(recorder)
        for inst in (inst_a, inst_b):
            if inst is not None:
                inst.stop()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            result["scratch"] = str(scratch)
    result["seconds"] = round(time.monotonic() - t0, 1)
    (sdir / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def read_report(report: Path) -> dict:
    if not report.exists():
        return {"report_missing": True}
    data = json.loads(report.read_text())
    out: dict = {"summary": data.get("summary", {}), "groups": data.get("groups", [])}
    bad = []
    for it in data.get("interactions", []):
        if it.get("outcome") == "pass":
            continue
        bad.append(
            {
                "id": it.get("id"),
                "method": it.get("method"),
                "url": it.get("url"),
                "endpoint": it.get("endpoint"),
                "outcome": it.get("outcome"),
                "status": it.get("status"),
                "error": it.get("error"),
                "substitutions": it.get("substitutions", []),
                "differences": [
                    {k: d.get(k) for k in ("path", "kind", "expected", "actual", "severity")}
                    for d in it.get("differences", [])
                ],
            }
        )
    out["failures"] = bad
    return out


def format_groups(result: dict, limit: int = 40) -> str:
    lines = []
    for g in result.get("groups", [])[:limit]:
        ex = g.get("examples", [{}])[0] if g.get("examples") else {}
        lines.append(
            f"  [{g.get('severity')}] {g.get('summary')}  e.g. #{ex.get('id')}: "
            f"{_short(ex.get('expected'))} -> {_short(ex.get('actual'))}"
        )
    for f in result.get("failures", []):
        if f["outcome"] == "error":
            lines.append(f"  [error] #{f['id']} {f['method']} {f['url']}: {f['error']}")
    if result.get("harness_error"):
        lines.append(f"  [harness] {result['harness_error']}")
    return "\n".join(lines)


def _short(v, n: int = 120) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "..."
