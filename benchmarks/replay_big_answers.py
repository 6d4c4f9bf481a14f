#!/usr/bin/env python3
"""Replay memory with big answers: peak RSS of `apitape replay` over N and 4N big exchanges.

Starts the raw asyncio server (benchmarks/raw_server.py) answering a JSON body of about
--body-mb MB (10 by default) to anything, writes two JSON-lines cassettes of N and 4N
`GET /items/{i}` exchanges recorded with exactly that answer, and runs the real command on
each, `apitape replay CASSETTE --target URL --concurrency C --session-by exchange (or
client) --latency-factor 0 --quiet --report-json PATH --report-html PATH`, reading its peak
RSS from the kernel (wait4's ru_maxrss). Every answer equals the recording, so every
exchange must pass.

The ratio printed is peak RSS(4N) / peak RSS(N): memory that does not grow with the number
of big answers keeps it near 1; the target is 1.3 or less (issue 19 item 6 measured 2.9
before the fix: 305 -> 877 MB for 10 -> 40 answers of 10 MB).

    .venv/bin/python benchmarks/replay_big_answers.py [--exchanges 10] [--body-mb 10]
        [--concurrency 2] [--session-by exchange|client] [--save-responses] [--max-ratio 1.3]

Exit status: 0 after printing; 1 if --max-ratio is given and the ratio is above it, or a
replay did not pass every exchange; 2 if apitape or its modules are missing; 3 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    BenchmarkError,
    fmt,
    machine_line,
    processes,
    require_import,
    require_tools,
    run_in_tempdir,
)
from raw_server import start_raw_server
from replay_memory import _summary, write_cassette


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=10, help="N (default 10); also 4N")
    parser.add_argument("--body-mb", type=float, default=10.0, help="answer size (default 10)")
    parser.add_argument("--concurrency", type=int, default=2, help="default 2")
    parser.add_argument(
        "--session-by",
        default="exchange",
        help="exchange (default) or client: all exchanges one session, replayed in order",
    )
    parser.add_argument(
        "--save-responses", action="store_true", help="also save the answers to a cassette"
    )
    parser.add_argument("--max-ratio", type=float, help="exit 1 when the ratio is above this")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    if min(args.exchanges, args.concurrency) < 1 or args.body_mb <= 0:
        parser.error("--exchanges, --concurrency and --body-mb must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["apitape"])
    require_import("apitape")
    import importlib.metadata

    print(machine_line({"apitape": importlib.metadata.version("apitape")}))
    print(
        f"settings: {args.exchanges:,} and {4 * args.exchanges:,} exchanges answering "
        f"{args.body_mb:g} MB each, concurrency {args.concurrency}, "
        f"--session-by {args.session_by}" + (", --save-responses" if args.save_responses else "")
    )
    return run_in_tempdir("apitape-bench-big-", args.keep_tmp, lambda tmp: run(args, tools, tmp))


def replay(
    apitape: str, cassette: Path, base: str, args: argparse.Namespace, tmp: Path
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
        str(args.concurrency),
        "--session-by",
        args.session_by,
        "--latency-factor",
        "0",  # recorded in 0.2 ms: latency is not what this measures
        "--quiet",
        "--report-json",
        str(report),
        "--report-html",
        str(tmp / f"{cassette.stem}.report.html"),
    ]
    saved = tmp / f"{cassette.stem}.saved.jsonl"
    if args.save_responses:
        argv += ["--save-responses", str(saved)]
    log = tmp / f"{cassette.stem}.log"
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0 or not report.exists():
        tail = log.read_text(errors="replace")[-800:]
        raise BenchmarkError(f"apitape replay exited {returncode}:\n{tail}")
    with open(report, "rb") as handle:
        summary = _summary(handle.read(4096))
    saved.unlink(missing_ok=True)
    return {
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "cpu": usage.ru_utime + usage.ru_stime,
        "passed": float(summary["passed"]),
        "total": float(summary["total"]),
    }


def run(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    rows = {}
    sizes = {"N": args.exchanges, "4N": 4 * args.exchanges}
    with processes(tmp) as procs:
        _, base = start_raw_server(procs, body_bytes=int(args.body_mb * 1_000_000))
        for label, n in sizes.items():
            cassette = tmp / f"big-{label}.jsonl"
            written = write_cassette(cassette, base, n)
            print(
                f"{label}: wrote {n:,} exchanges ({cassette.stat().st_size / 1e6:,.0f} MB) "
                f"in {written:.1f} s",
                flush=True,
            )
            row = rows[label] = replay(tools["apitape"], cassette, base, args, tmp)
            print(
                f"{label}: replayed {n:,} in {row['wall']:.1f} s ({row['cpu']:.1f} s CPU), "
                f"peak RSS {row['rss_mb']:.0f} MB, "
                f"{row['passed']:,.0f} of {row['total']:,.0f} passed",
                flush=True,
            )
            cassette.unlink()
    small, big = rows["N"], rows["4N"]
    ratio = big["rss_mb"] / small["rss_mb"]
    growth = (big["rss_mb"] - small["rss_mb"]) / (sizes["4N"] - sizes["N"])
    print()
    print(
        f"peak RSS: {fmt(small['rss_mb'])} MB for {sizes['N']:,} exchanges, "
        f"{fmt(big['rss_mb'])} MB for {sizes['4N']:,} (growth {growth:,.2f} MB/exchange, "
        f"answers of {args.body_mb:g} MB)"
    )
    print(f"ratio (peak RSS 4N / peak RSS N, target <= 1.3): {ratio:.3f}")
    print(f"RESULT replay_big_answers ratio={ratio:.3f}")
    for label, n in sizes.items():
        if rows[label]["passed"] != rows[label]["total"] or rows[label]["total"] != n:
            print(f"error: not every exchange of the {label} cassette passed", file=sys.stderr)
            return EXIT_BELOW_MIN_RATIO
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"ratio {ratio:.3f} is above --max-ratio {args.max_ratio}", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    return 0


if __name__ == "__main__":
    sys.exit(main())
