#!/usr/bin/env python3
"""Curation (issue 20): `apitape select --minimize` on a 1,000,000-exchange bookstore capture.

Generates a JSON-lines capture of the bookstore's traffic mix by cloning sessions cut from
the committed cassettes/bookstore.yaml (a full client run, browsing, paging, a failed login,
a writer), each clone renumbered with a client address and connection of its own. Then, in
one run, on the same file:

1. `apitape convert BIG.jsonl COPY.jsonl` (the reference) and `apitape select BIG.jsonl
   --minimize --per-signature K --out MIN.jsonl`, each a fresh process, wall time and peak
   RSS (wait4's ru_maxrss); interleaved A B / B A for --rounds rounds.
2. The signatures of MIN.jsonl are recomputed here and must equal the input's (the coverage
   `select` printed).
3. Bookstore v2 (planted regressions) is started twice on fresh databases: the first
   --full-replay exchanges of BIG.jsonl (default 1,000: every session kind, in the capture's
   proportions; 0 replays all of it) and MIN.jsonl are replayed with `apitape replay
   --report-json`; every regression group (endpoint, path, kind) of the full capture must be
   among the minimized suite's. A prefix is replayed one session at a time, as the suite is;
   the whole capture eight at a time (one at a time would take an hour), and then latency
   groups that only load makes (logins slower eight at a time) may show as missed.

    .venv/bin/python benchmarks/curate_select.py [--exchanges 1000000] [--per-signature 1]
        [--rounds 1] [--full-replay N] [--max-time-ratio 2] [--min-rss-ratio 1]

time_ratio = median select wall ÷ median convert wall (target <= 2); rss_ratio = 300 MB
(P5's bound) ÷ select's peak RSS (target >= 1). Exit status: 0 after printing; 1 if a check
failed (coverage, regression groups) or a ratio is past a given bound; 2 if apitape is
missing; 3 if the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    REPO,
    BenchmarkError,
    machine_line,
    processes,
    require_import,
    require_tools,
    run_in_tempdir,
    start_bookstore,
)

TARGET_MB = 300.0
SOURCE = REPO / "cassettes" / "bookstore.yaml"
# alice's password, redacted in the committed cassette: filled by naming its placeholder
# (tests/bookstore_cassette.py); the client's deliberately wrong one stays as recorded.
SECRET = "redacted-password-95c26998fa094fd8=wonderland"

# Session kinds cut from the recorded client run (indices of its 17 exchanges), and how
# many of each in every 12 sessions: a request that used a value another produced keeps it.
KINDS: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("full", tuple(range(17)), 1),
    ("browse", (0, 3, 5, 6), 5),
    ("paging", (4, 7, 8), 3),
    ("bad-login", (1,), 1),
    ("writer", (2, 9, 10, 11, 12, 13, 15), 2),  # deletes what it created: state stays put
)


def generate(path: Path, n: int) -> tuple[int, int]:
    """Write a capture of about `n` exchanges (whole sessions); (exchanges, sessions)."""
    from apitape.cassette.shape import exchange_to_dict, header_dict
    from apitape.cassette.store import load_cassette
    from apitape.fastjson import dumps

    recorded = load_cassette(SOURCE)
    entries = [exchange_to_dict(e) for e in recorded.exchanges]
    cycle = [(name, picks) for name, picks, weight in KINDS for _ in range(weight)]
    start = 1_795_000_000.0
    written = sessions = 0
    with open(path, "wb") as out:
        out.write(dumps(header_dict("2026-12-01T00:00:00.000000Z", recorded.metadata)) + b"\n")
        while written < n:
            _, picks = cycle[sessions % len(cycle)]
            client = f"10.{sessions >> 16 & 255}.{sessions >> 8 & 255}.{sessions & 255}:40000"
            connection = str(uuid.UUID(int=sessions))
            for step, index in enumerate(picks):
                if written >= n:
                    break
                written += 1
                entry = dict(entries[index])
                meta = dict(entry["apitape"])
                moment = start + sessions * 0.01 + step * 0.002
                meta.update(
                    id=written,
                    recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
                    + f".{int(moment * 1e6) % 1_000_000:06d}Z",
                    client=client,
                    connection=connection,
                )
                entry["apitape"] = meta
                out.write(dumps(entry) + b"\n")
            sessions += 1
    return written, sessions


def measure(argv: list[str], log: Path) -> dict[str, Any]:
    """Run a command; its wall time, CPU time, peak RSS and stderr."""
    with open(log, "wb") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if code != 0:
        raise BenchmarkError(f"{' '.join(argv[:2])} exited {code}:\n{text[-800:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "stderr": text,
    }


def signatures(path: Path) -> set[str]:
    from apitape.cassette.store import iter_exchanges
    from apitape.curate.signature import Signer

    sign = Signer()
    return {str(sign(e)) for e in iter_exchanges(path)}


def groups(
    apitape: str, cassette: Path, tmp: Path, label: str, concurrency: int = 1
) -> set[tuple[str, str, str]]:
    """Replay `cassette` against a fresh bookstore v2; its regression groups."""
    home = tmp / label
    home.mkdir()
    report = home / "report.json"
    with processes(home) as procs:
        _, base = start_bookstore(procs, home, version=2)
        # One session at a time unless told: latency is judged under the same load for both
        # replays (eight concurrent logins on a busy machine made POST /login "slower" in a
        # full one); the whole capture is replayed eight at a time, or it would take an hour.
        argv = [apitape, "replay", str(cassette), "--target", base]
        argv += ["--concurrency", str(concurrency)]
        argv += ["--quiet", "--report-json", str(report), "--secret", SECRET]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or not report.exists():
        raise BenchmarkError(f"apitape replay exited {done.returncode}:\n{done.stderr[-800:]}")
    data = json.loads(report.read_text())
    summary = data["summary"]
    print(
        f"{label}: replayed {summary['total']:,} against v2: {summary['regressions']:,} "
        f"regression(s), {summary['errors']:,} error(s), {len(data['groups'])} group(s)",
        flush=True,
    )
    return {(g["endpoint"], g["path"], g["kind"]) for g in data["groups"]}


def run(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    apitape = tools["apitape"]
    big = tmp / "capture.jsonl"
    t0 = time.perf_counter()
    written, sessions = generate(big, args.exchanges)
    print(
        f"capture: {written:,} exchanges in {sessions:,} sessions, "
        f"{big.stat().st_size / 1e6:,.1f} MB, generated in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    select_argv = [apitape, "select", str(big), "--minimize"]
    select_argv += ["--per-signature", str(args.per_signature), "--force"]
    runs: dict[str, list[dict[str, Any]]] = {"convert": [], "select": []}
    for round_ in range(args.rounds):
        order = ("convert", "select") if round_ % 2 == 0 else ("select", "convert")
        for name in order:
            if name == "convert":
                copy = tmp / "copy.jsonl"
                copy.unlink(missing_ok=True)
                row = measure([apitape, "convert", str(big), str(copy)], tmp / "convert.log")
                copy.unlink()
            else:
                row = measure([*select_argv, "--out", str(tmp / "min.jsonl")], tmp / "select.log")
            runs[name].append(row)
            print(
                f"round {round_ + 1} {name}: {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU, "
                f"peak RSS {row['rss_mb']:.0f} MB",
                flush=True,
            )
    print(runs["select"][-1]["stderr"].strip())
    convert_wall = statistics.median(r["wall"] for r in runs["convert"])
    select_wall = statistics.median(r["wall"] for r in runs["select"])
    select_rss = max(r["rss_mb"] for r in runs["select"])
    convert_rss = max(r["rss_mb"] for r in runs["convert"])
    minimized = tmp / "min.jsonl"
    with open(minimized, "rb") as lines:
        kept = sum(1 for _ in lines) - 1

    before = signatures(big)
    after = signatures(minimized)
    coverage = before == after
    print(
        f"coverage: {len(before)} signature(s) in the capture, {len(after)} in the suite "
        f"({'equal' if coverage else 'NOT EQUAL'}); kept {kept:,} of {written:,} exchanges, "
        f"reduction {written / max(kept, 1):,.0f}x"
    )

    full = big
    if args.full_replay:
        full = tmp / "full.jsonl"
        with open(big, "rb") as src, open(full, "wb") as out:
            for number, line in enumerate(src):
                if number > args.full_replay:
                    break
                out.write(line)
    reference = groups(apitape, full, tmp, "full", 1 if args.full_replay else 8)
    found = groups(apitape, minimized, tmp, "minimized")
    missing = reference - found
    for group in sorted(reference):
        print(f"  {'found' if group in found else 'MISSED'}: {' '.join(group)}")
    for group in sorted(found - reference):
        print(f"  only in the minimized suite: {' '.join(group)}")

    time_ratio = select_wall / convert_wall
    rss_ratio = TARGET_MB / select_rss
    print()
    print(f"select --minimize: median {select_wall:.1f} s, peak RSS {select_rss:.0f} MB")
    print(f"convert:           median {convert_wall:.1f} s, peak RSS {convert_rss:.0f} MB")
    print(f"time_ratio (select / convert, target <= 2): {time_ratio:.3f}")
    print(f"rss_ratio ({TARGET_MB:.0f} MB / select's peak RSS, target >= 1): {rss_ratio:.3f}")
    print(
        f"RESULT curate_select time_ratio={time_ratio:.3f} rss_ratio={rss_ratio:.3f} "
        f"reduction={written / max(kept, 1):.1f} coverage={int(coverage)} "
        f"groups={len(reference & found)}/{len(reference)}"
    )
    failed = not coverage or bool(missing)
    if args.max_time_ratio is not None and time_ratio > args.max_time_ratio:
        print(f"time_ratio {time_ratio:.3f} is above {args.max_time_ratio}", file=sys.stderr)
        failed = True
    if args.min_rss_ratio is not None and rss_ratio < args.min_rss_ratio:
        print(f"rss_ratio {rss_ratio:.3f} is below {args.min_rss_ratio}", file=sys.stderr)
        failed = True
    if missing:
        print(f"error: the minimized suite missed {len(missing)} group(s)", file=sys.stderr)
    return EXIT_BELOW_MIN_RATIO if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--per-signature", type=int, default=1, help="select's K (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="convert/select pairs (1)")
    parser.add_argument(
        "--full-replay", type=int, default=1000, help="exchanges replayed (1000; 0: all)"
    )
    parser.add_argument("--max-time-ratio", type=float, help="exit 1 above this time ratio")
    parser.add_argument("--min-rss-ratio", type=float, help="exit 1 below this RSS ratio")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    if min(args.exchanges, args.rounds, args.per_signature) < 1 or args.full_replay < 0:
        parser.error("--exchanges, --rounds and --per-signature must be >= 1, --full-replay >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["apitape"])
    require_import("apitape")
    import importlib.metadata

    print(machine_line({"apitape": importlib.metadata.version("apitape")}))
    print(
        f"settings: {args.exchanges:,} exchanges, --per-signature {args.per_signature}, "
        f"{args.rounds} round(s), "
        f"{f'{args.full_replay:,}' if args.full_replay else 'all'} exchanges replayed as the "
        "full capture"
    )
    return run_in_tempdir("apitape-bench-curate-", args.keep_tmp, lambda tmp: run(args, tools, tmp))


if __name__ == "__main__":
    sys.exit(main())
