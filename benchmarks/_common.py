"""Helpers shared by the apitape benchmarks: tools, processes, wrk, CPU time, medians.

Nothing here installs anything. Every process a benchmark starts goes through `Processes`,
which stops them all (SIGTERM, then SIGKILL) however the benchmark ends.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from apitape.errors import ProcessStartError
from apitape.processes import free_port
from apitape.processes import stop as stop_process
from apitape.processes import wait_for_port as processes_wait_for_port

REPO = Path(__file__).resolve().parents[1]
BOOKSTORE = REPO / "examples" / "bookstore" / "server.py"
RECORD_ADDON = REPO / "addons" / "record.py"
EMPTY_ADDON = REPO / "benchmarks" / "empty_addon.py"
HOST = "127.0.0.1"

EXIT_OK = 0
EXIT_BELOW_MIN_RATIO = 1
EXIT_MISSING_TOOL = 2
EXIT_BENCHMARK_FAILED = 3


class BenchmarkError(Exception):
    """The benchmark could not run (a process did not start, wrk failed, ...)."""


# --------------------------------------------------------------------------- tools


def venv_tool(name: str) -> str | None:
    """`name` next to the running interpreter (the venv's bin/), else on PATH, else None."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


INSTALL_HINTS = {
    "wrk": "Debian/Ubuntu package 'wrk': sudo apt-get update && sudo apt-get install -y wrk",
    "valgrind": "Debian/Ubuntu package 'valgrind': "
    "sudo apt-get update && sudo apt-get install -y valgrind",
    "mitmdump": "comes with mitmproxy; install apitape into the venv: .venv/bin/pip install -e .",
    "apitape": "install apitape into the venv (.venv/bin/pip install -e .) "
    "and run this script with .venv/bin/python",
}


def require_tools(names: Sequence[str]) -> dict[str, str]:
    """Paths of the tools, or print what is missing and how to get it, and exit 2."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        path = shutil.which(name) if name == "wrk" else venv_tool(name)
        if path:
            found[name] = path
        else:
            missing.append(name)
    if missing:
        for name in missing:
            print(f"missing: {name} - {INSTALL_HINTS.get(name, '')}", file=sys.stderr)
        print("benchmark not run (exit 2): nothing is installed by this script.", file=sys.stderr)
        sys.exit(EXIT_MISSING_TOOL)
    return found


def require_import(module: str) -> None:
    """Exit 2 with a hint when `module` cannot be imported by this interpreter."""
    try:
        __import__(module)
    except ImportError as exc:
        print(
            f"missing: python module {module!r} ({exc}); run this script with the venv's "
            f"interpreter, e.g. .venv/bin/python {Path(sys.argv[0]).name}",
            file=sys.stderr,
        )
        sys.exit(EXIT_MISSING_TOOL)


def machine_line(extra: dict[str, str] | None = None) -> str:
    """One line describing where the numbers come from."""
    parts = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
    }
    parts.update(extra or {})
    with contextlib.suppress(OSError):
        parts["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "machine: " + ", ".join(f"{k}={v}" for k, v in parts.items())


def tool_version(argv: list[str], pattern: str) -> str:
    """The first match of `pattern` in the output of `argv`, or '?'."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


# --------------------------------------------------------------------------- processes


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    try:
        processes_wait_for_port(HOST, port, process, timeout, log)
    except ProcessStartError as exc:
        raise BenchmarkError(str(exc)) from None


def tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def pinned_to(cpus: set[int] | None) -> Callable[[], None] | None:
    """A preexec_fn that keeps a child process on `cpus` (None: wherever the kernel likes)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


class Processes:
    """Starts processes with their output in files under `logdir`; `stop_all` ends them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: list[str], cpus: set[int] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path, Path]:
        """Start `argv` (on `cpus` only, if given), its output in NAME.out and NAME.err."""
        out, err = self.logdir / f"{name}.out", self.logdir / f"{name}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=REPO,
                preexec_fn=pinned_to(cpus),
            )
        self._started.append(process)
        return process, out, err

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
        return stop_process(process, timeout)

    def stop_all(self) -> None:
        for process in reversed(self._started):
            with contextlib.suppress(Exception):
                self.stop(process)


@contextlib.contextmanager
def processes(logdir: Path) -> Iterator[Processes]:
    procs = Processes(logdir)
    try:
        yield procs
    finally:
        procs.stop_all()


def start_bookstore(
    procs: Processes, tmp: Path, version: int = 1, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the example bookstore on a free port (on `cpus` only, if given); return it and
    its base URL."""
    argv = [
        sys.executable,
        str(BOOKSTORE),
        "--version",
        str(version),
        "--port",
        "0",
        "--db",
        str(tmp / f"bookstore-v{version}.sqlite3"),
    ]
    process, out, err = procs.start(f"bookstore-v{version}", argv, cpus)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        first = out.read_text(errors="replace").split("\n", 1)
        if len(first) == 2:  # the first line is complete
            match = re.search(r"listening on (http://\S+)", first[0])
            if not match:
                raise BenchmarkError(f"unexpected bookstore output: {first[0]!r}")
            return process, match.group(1)
        if process.poll() is not None:
            raise BenchmarkError(f"the bookstore exited ({process.returncode}):\n{tail(err)}")
        time.sleep(0.05)
    raise BenchmarkError("the bookstore did not print its address within 60 s")


def addon_argv(addon: str, cassette: Path) -> list[str]:
    """mitmdump's arguments for one of the proxies compared: "bare" (none), "record"
    (apitape's recorder, recording into `cassette`) or "empty-script" (a script that does
    nothing, benchmarks/empty_addon.py: what any mitmdump script costs)."""
    if addon == "record":
        return ["-s", str(RECORD_ADDON), "--set", f"apitape_cassette={cassette}"]
    if addon == "empty-script":
        return ["-s", str(EMPTY_ADDON)]
    if addon == "bare":
        return []
    raise ValueError(f"unknown addon set-up {addon!r}")


def start_mitmdump(
    procs: Processes,
    mitmdump: str,
    upstream: str,
    tmp: Path,
    name: str,
    addon: Sequence[str] = (),
    cpus: set[int] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a reverse proxy in front of `upstream`, with the `addon` arguments (see
    addon_argv), on `cpus` only if given."""
    port = free_port()
    confdir = tmp / f"mitmconf-{name}"
    confdir.mkdir()
    argv = [
        mitmdump,
        "--mode",
        f"reverse:{upstream}",
        "-p",
        str(port),
        "--listen-host",
        HOST,
        "-q",
        "--set",
        f"confdir={confdir}",
    ]
    argv += addon
    process, _out, err = procs.start(name, argv, cpus)
    wait_for_port(port, process, err)
    return process, f"http://{HOST}:{port}"


def get(url: str, timeout: float = 10.0) -> tuple[int, list[tuple[str, str]], bytes, float]:
    """One GET without any proxy from the environment: status, headers, body, seconds."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(url, timeout=timeout) as response:
        body = response.read()
        return response.status, list(response.getheaders()), body, time.perf_counter() - started


# --------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc/PID/stat, or None where that is not readable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listen_overflows() -> int | None:
    """The kernel's TcpExt ListenOverflows counter (system-wide), or None if unreadable.

    It rises when a listening socket's accept queue is full and a SYN is dropped; the client
    then retries after 1 s. The stdlib bookstore listens with a backlog of 5 (socketserver's
    default), so a burst of new connections can hit this.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenOverflows"]) if "ListenOverflows" in table else None
    return None


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    socket_errors: int
    non_2xx: int


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def wrk_argv(wrk: str, url: str, connections: int, duration: float, threads: int = 1) -> list[str]:
    return [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        url,
    ]


def run_wrk(wrk: str, url: str, connections: int, duration: float, threads: int = 1) -> WrkResult:
    """One wrk run; raise BenchmarkError if wrk fails or prints nothing we can read."""
    return run_wrks([wrk_argv(wrk, url, connections, duration, threads)], duration)[0]


def run_wrks(
    argvs: Sequence[list[str]], duration: float, cpus: set[int] | None = None
) -> list[WrkResult]:
    """wrk runs started together and waited for together (on `cpus`, if given)."""
    running = [
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=pinned_to(cpus),
        )
        for argv in argvs
    ]
    outputs = []
    for argv, process in zip(argvs, running, strict=True):
        try:
            out, err = process.communicate(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            for other in running:
                other.kill()
            raise BenchmarkError(
                f"{' '.join(argv)} did not finish within {duration + 60:g} s"
            ) from None
        outputs.append((argv, process.returncode, out, err))
    return [parse_wrk(argv, code, out, err) for argv, code, out, err in outputs]


def parse_wrk(argv: list[str], returncode: int, out: str, err: str) -> WrkResult:
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if returncode != 0 or not match or not rps:
        raise BenchmarkError(f"{' '.join(argv)} failed ({returncode}):\n{out}\n{err}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE)
    return WrkResult(
        requests=int(match.group(1)),
        seconds=_ms(match.group(2) + match.group(3)) / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)) if p50 else None,
        p99_ms=_ms(p99.group(1)) if p99 else None,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def interleaved(configs: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, config) in A B / B A / A B ... order: interleaved, and each config goes first
    in half the rounds, so a drift of the machine's speed does not favour either."""
    for r in range(rounds):
        order = list(configs) if r % 2 == 0 else list(reversed(configs))
        for config in order:
            yield r, config


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def fmt_list(values: Sequence[float | None], digits: int = 0) -> str:
    return " / ".join(fmt(v, digits) for v in values)


def ms(seconds: float | None) -> str:
    """Seconds shown as milliseconds with 3 decimals ('n/a' for None)."""
    return fmt(None if seconds is None else seconds * 1000.0, 3)


def series(label: str, values: Sequence[float], digits: int = 0) -> str:
    """`label: v1 / v2 / ...  median m`, the raw numbers behind a median."""
    return f"{label}: {fmt_list(values, digits)}  median {fmt(median(values), digits)}"


def finish(ratio: float | None, name: str, min_ratio: float | None) -> int:
    """Print the machine-readable result line and choose the exit status."""
    print(
        f"RESULT {name} ratio={fmt(ratio, 3)}"
        + (f" min_ratio={min_ratio:g}" if min_ratio is not None else "")
    )
    if min_ratio is not None and (ratio is None or ratio < min_ratio):
        print(f"FAIL: ratio {fmt(ratio, 3)} is below --min-ratio {min_ratio:g}", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    return EXIT_OK


def run_in_tempdir(prefix: str, keep: bool, body: Callable[[Path], int]) -> int:
    """Run a benchmark in a fresh temp dir, removed afterwards unless `keep`; a failure or
    Ctrl-C becomes an exit status with one line of explanation."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return body(tmp)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return EXIT_BENCHMARK_FAILED
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        return 130
    finally:
        if keep:
            print(f"kept temp dir: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
