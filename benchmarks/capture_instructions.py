#!/usr/bin/env python3
"""Capture cost in instructions: what the recorder adds to mitmdump's work per request.

A diagnostic beside P1, not a target. Throughput on a shared 2-vCPU machine moves by a few
per cent between runs of identical proxies, more than the recorder's cost; instruction counts
do not. Each proxy (bare `mitmdump`, `mitmdump -s benchmarks/empty_addon.py`, a script that
does nothing, and `mitmdump -s addons/record.py`) runs under
`valgrind --tool=callgrind` twice, serving --small and then --large sequential keep-alive
GETs of /books/1 from one bookstore; the difference between the two runs over the difference
in requests is the proxy's instructions per request, start-up cancelled out. Both runs share
one mitmproxy confdir (its CA made once, before) and PYTHONHASHSEED=0, so start-up is the same.

The empty script splits the recorder's cost in two: what mitmproxy's script machinery costs
any addon (it walks the script for every event of every flow), and the recorder's own work.
Instructions are not time: cache misses, system calls and the writer process's CPU are not
in them.

    .venv/bin/python benchmarks/capture_instructions.py [--small 100] [--large 500]

Exit status: 0 after printing; 2 if valgrind or mitmdump is missing; 3 if it could not run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    BenchmarkError,
    addon_argv,
    machine_line,
    processes,
    require_tools,
    run_in_tempdir,
    start_bookstore,
    wait_for_port,
)

from apitape.processes import free_port

_COLLECTED = re.compile(r"Collected : (\d+)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="requests in the short run")
    parser.add_argument("--large", type=int, default=500, help="requests in the long run")
    args = parser.parse_args(argv)
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    return args


def serve_and_count(argv: list[str], port: int, requests: int, tmp: Path, name: str) -> int:
    """Run the proxy under callgrind, send `requests` GETs through it, stop it: instructions."""
    out_file = tmp / f"callgrind.{name}"
    err = tmp / f"{name}.err"
    with open(tmp / f"{name}.out", "wb") as stdout, open(err, "wb") as stderr:
        proxy = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=dict(os.environ, PYTHONHASHSEED="0"),
        )
    try:
        wait_for_port(port, proxy, err, timeout=300.0)  # slow to start under valgrind
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        for _ in range(20 + requests):  # the same 20 warm-up requests in both runs
            connection.request("GET", "/books/1")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise BenchmarkError(f"GET /books/1 through {name} answered {response.status}")
        connection.close()
        time.sleep(1.0)
    finally:
        proxy.terminate()
        try:
            proxy.wait(120)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
    found = _COLLECTED.search(err.read_text(errors="replace"))
    if found is None:
        raise BenchmarkError(f"callgrind printed no instruction count for {name}; see {err}")
    return int(found.group(1))


def make_ca(mitmdump: str, confdir: Path) -> None:
    """Let mitmdump make its CA in `confdir` outside the measured runs: a new key is random work."""
    proxy = subprocess.Popen(
        [
            mitmdump,
            "--listen-host",
            HOST,
            "-p",
            str(free_port()),
            "-q",
            "--set",
            f"confdir={confdir}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (confdir / "mitmproxy-ca.pem").exists():
            if proxy.poll() is not None or time.monotonic() > deadline:
                raise BenchmarkError(f"mitmdump made no CA in {confdir}")
            time.sleep(0.2)
    finally:
        proxy.terminate()
        proxy.wait(30)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["mitmdump", "valgrind"])
    print(machine_line())
    print(f"settings: {args.small} and {args.large} sequential GET /books/1 per proxy")
    return run_in_tempdir("apitape-bench-instr-", False, lambda tmp: run(args, tools, tmp))


def run(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    confdir = tmp / "mitmconf"
    per_request: dict[str, float] = {}
    with processes(tmp) as procs:
        _server, upstream = start_bookstore(procs, tmp)
        make_ca(tools["mitmdump"], confdir)
        for name in ("bare", "empty-script", "record"):
            counts = []
            for requests in (args.small, args.large):
                port = free_port()
                argv = [tools["mitmdump"], "--mode", f"reverse:{upstream}", "-p", str(port)]
                argv += ["--listen-host", HOST, "-q", "--set", f"confdir={confdir}"]
                argv += addon_argv(name, tmp / f"capture-{requests}.yaml")
                counts.append(serve_and_count(argv, port, requests, tmp, f"{name}-{requests}"))
            per_request[name] = (counts[1] - counts[0]) / (args.large - args.small)
            print(
                f"{name:>12}: {counts[0]:,} and {counts[1]:,} instructions in all; "
                f"{per_request[name]:,.0f} per request"
            )
    bare = per_request["bare"]
    script = per_request["empty-script"] - bare
    recorder = per_request["record"] - bare
    print(
        f"per request, over bare mitmdump: any script (one that does nothing) adds "
        f"{script:,.0f} instructions ({script / bare * 100:.1f} %), the recorder "
        f"{recorder:,.0f} ({recorder / bare * 100:.1f} %), of which its own work "
        f"{recorder - script:,.0f} ({(recorder - script) / bare * 100:.1f} %)"
    )
    print(f"RESULT capture_instructions ratio={per_request['bare'] / per_request['record']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
