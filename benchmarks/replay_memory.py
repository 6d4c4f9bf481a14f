#!/usr/bin/env python3
"""Replay memory (P5): peak RSS of `apitape replay` on a 1,000,000-exchange cassette.

Writes a JSON-lines cassette of N `GET /items/{i}` exchanges whose recorded answer is what the
raw asyncio server (benchmarks/raw_server.py) answers, then runs the `apitape replay` command
on it against that server, with a JSON report, and reads the command's peak RSS from the
kernel (wait4's ru_maxrss). The same is done with a small cassette first (--small, default
10,000) as the reference: memory that grows with the cassette shows as the difference.

The ratio printed is 300 MB (the target) / peak RSS of the big run: 1 or more meets it.

    .venv/bin/python benchmarks/replay_memory.py [--exchanges 1000000] [--small 10000]
        [--concurrency 8] [--min-ratio 1]

Exit status: 0 after printing; 1 if --min-ratio is given and the ratio is below it, or the
replay did not pass every exchange; 2 if apitape or its modules are missing; 3 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    BenchmarkError,
    fmt,
    get,
    machine_line,
    processes,
    require_import,
    require_tools,
    run_in_tempdir,
)
from raw_server import start_raw_server

TARGET_MB = 300.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--small", type=int, default=10_000, help="reference run (10,000)")
    parser.add_argument("--concurrency", type=int, default=8, help="default 8")
    parser.add_argument("--min-ratio", type=float, help="exit 1 when the ratio is below this")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    if min(args.exchanges, args.small, args.concurrency) < 1:
        parser.error("--exchanges, --small and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["apitape"])
    require_import("apitape")
    import importlib.metadata

    print(machine_line({"apitape": importlib.metadata.version("apitape")}))
    print(
        f"settings: {args.small:,} and {args.exchanges:,} exchanges, concurrency {args.concurrency}"
    )
    return run_in_tempdir("apitape-bench-memory-", args.keep_tmp, lambda tmp: run(args, tools, tmp))


def write_cassette(path: Path, base: str, n: int) -> float:
    """N exchanges answered as the server answers now, written with apitape's own writer."""
    from apitape.cassette import CassetteWriter, iso_utc
    from apitape.models import Exchange, Request, Response

    status, headers, body, _ = get(base + "/items/1")
    if status != 200:
        raise BenchmarkError(f"GET {base}/items/1 answered {status}")
    response = Response(status, HTTPStatus(status).phrase, tuple(headers), body)
    netloc = base.split("//", 1)[1]
    stamp = iso_utc()
    t0 = time.perf_counter()
    writer = CassetteWriter(path, stamp)
    writer.open()
    try:
        for i in range(1, n + 1):
            url = f"{base}/items/{i}"
            request = Request("GET", url, (("Host", netloc), ("Accept", "application/json")))
            writer.append(Exchange(str(i), request, response, stamp, 0.2, "127.0.0.1:40000"))
    finally:
        writer.close()
    return time.perf_counter() - t0


def replay(
    apitape: str, cassette: Path, base: str, concurrency: int, tmp: Path
) -> dict[str, float]:
    """Run `apitape replay` on the cassette; its wall time, peak RSS and passed count."""
    report = tmp / f"{cassette.stem}.report.json"
    argv = [
        apitape,
        "replay",
        str(cassette),
        "--target",
        base,
        "--concurrency",
        str(concurrency),
        "--session-by",
        "exchange",
        "--quiet",
        "--report-json",
        str(report),
    ]
    log = tmp / f"{cassette.stem}.log"
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not report.exists():
        tail = log.read_text(errors="replace")[-800:]
        raise BenchmarkError(f"apitape replay exited {process.returncode}:\n{tail}")
    with open(report, "rb") as handle:
        summary = _summary(handle.read(4096))
    return {
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "cpu": usage.ru_utime + usage.ru_stime,
        "passed": float(summary["passed"]),
        "total": float(summary["total"]),
        "report_mb": report.stat().st_size / 1e6,
    }


def _summary(head: bytes) -> dict[str, int]:
    """The summary object from the start of a (possibly huge) JSON report."""
    text = head.decode("utf-8", "replace")
    start = text.index('"summary"')
    start = text.index("{", start)
    return json.loads(text[start : text.index("}", start) + 1])  # type: ignore[no-any-return]


def run(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    rows = {}
    with processes(tmp) as procs:
        _, base = start_raw_server(procs)
        for label, n in (("small", args.small), ("big", args.exchanges)):
            cassette = tmp / f"{label}.jsonl"
            written = write_cassette(cassette, base, n)
            print(
                f"{label}: wrote {n:,} exchanges ({cassette.stat().st_size / 1e6:,.1f} MB) "
                f"in {written:.1f} s",
                flush=True,
            )
            row = replay(tools["apitape"], cassette, base, args.concurrency, tmp)
            rows[label] = row
            print(
                f"{label}: replayed in {row['wall']:.1f} s ({n / row['wall']:,.0f} exchanges/s, "
                f"{row['cpu'] / n * 1000:.3f} ms CPU each), peak RSS {row['rss_mb']:.0f} MB, "
                f"{row['passed']:,.0f} of {row['total']:,.0f} passed, "
                f"report {row['report_mb']:,.1f} MB",
                flush=True,
            )
            cassette.unlink()
    big, small = rows["big"], rows["small"]
    ratio = TARGET_MB / big["rss_mb"]
    growth = (big["rss_mb"] - small["rss_mb"]) / (args.exchanges - args.small) * 1e6
    print()
    print(
        f"peak RSS: {fmt(small['rss_mb'])} MB for {args.small:,} exchanges, "
        f"{fmt(big['rss_mb'])} MB for {args.exchanges:,} (growth {growth:,.1f} bytes/exchange)"
    )
    print(f"ratio (target {TARGET_MB:.0f} MB / peak RSS, target >= 1): {ratio:.3f}")
    print(f"RESULT replay_memory ratio={ratio:.3f}")
    if big["passed"] != big["total"] or big["total"] != args.exchanges:
        print("error: not every exchange of the big cassette passed", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f"ratio {ratio:.3f} is below --min-ratio {args.min_ratio}", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    return 0


if __name__ == "__main__":
    sys.exit(main())
