#!/usr/bin/env python3
"""Diff share (P4): the part of a replay's time spent comparing, when 99% of answers are equal.

Records N real answers of the bookstore example (GET /books/{id} for the books it holds)
into a cassette with apitape's writer, changes the price in 1% of them (those go through
deepdiff), then replays the cassette against the same bookstore several times, in this
process, the way `apitape replay` does: the cassette read lazily (`iter_exchanges`) into
`Replayer.stream`, feeding a `Judge`, which compares each answer as it arrives. (With
--preloaded, the cassette is first loaded into a list and replayed from it, as this script
did before: thousands of long-lived exchanges that a real replay never holds, which every
full garbage collection then walks, and no reading in the replay's time.)

Confirmation is on, as in `apitape replay`: a differing answer is asked for again (the
bookstore answers the same twice, so the planted differences stay regressions), and the
comparison that decides to ask counts as comparing.

Two times are measured: comparing proper (`Judge._compare`: the Comparer's status, header and
body comparison with its equality fast path, normalization and deepdiff, and correlation),
and all judging (`Judge.add` and `Judge.finish`: comparing plus the verdict bookkeeping,
spool, latency, noise and groups). The ratio is median comparing time / median replay wall
time; `judge_ratio`, the same for all judging, is printed beside it.

    .venv/bin/python benchmarks/diff_share.py [--exchanges 5000] [--concurrency 8]
        [--changed 0.01] [--rounds 3] [--preloaded] [--max-ratio 0.05]

Exit status: 0 after printing; 1 if --max-ratio is given and the ratio is above it, or the
verdicts are not what was planted; 2 if apitape or its modules are missing; 3 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    BenchmarkError,
    fmt,
    get,
    machine_line,
    median,
    ms,
    processes,
    require_import,
    run_in_tempdir,
    series,
    start_bookstore,
)

T = TypeVar("T")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=5000, help="default 5000")
    parser.add_argument("--concurrency", type=int, default=8, help="default 8")
    parser.add_argument(
        "--changed", type=float, default=0.01, help="share of answers changed (default 0.01)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="replays measured (default 3)")
    parser.add_argument(
        "--preloaded",
        action="store_true",
        help="replay from the cassette loaded into a list first, as this script did before "
        "2026-12-06 (apitape replay streams it)",
    )
    parser.add_argument("--max-ratio", type=float, help="exit 1 when the ratio is above this")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    if min(args.exchanges, args.concurrency, args.rounds) < 1 or not 0 <= args.changed < 1:
        parser.error("--exchanges, --concurrency, --rounds >= 1 and 0 <= --changed < 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_import("apitape")
    import importlib.metadata

    print(machine_line({"apitape": importlib.metadata.version("apitape")}))
    print(
        f"settings: {args.exchanges} exchanges, {args.changed:.1%} changed, "
        f"concurrency {args.concurrency}, {args.rounds} rounds, "
        + ("replayed from a list loaded first" if args.preloaded else "streamed from the cassette")
    )
    return run_in_tempdir("apitape-bench-diff-", args.keep_tmp, lambda tmp: run(args, tmp))


def build_cassette(path: Path, base: str, n: int, changed: float) -> int:
    """N recorded answers of the bookstore's books; every 1/changed-th with another price.
    Returns how many were changed."""
    from apitape.cassette import write_cassette
    from apitape.models import Exchange, Request, Response

    status, _, body, _ = get(base + "/books")
    if status != 200:
        raise BenchmarkError(f"GET {base}/books answered {status}")
    listing = json.loads(body)
    books = listing["items"] if isinstance(listing, dict) else listing
    ids = [book["id"] for book in books]
    answers = {}
    for book_id in ids:
        url = f"{base}/books/{book_id}"
        status, headers, body, _ = get(url)
        if status != 200:
            raise BenchmarkError(f"GET {url} answered {status}")
        answers[book_id] = (url, Response(status, HTTPStatus(status).phrase, tuple(headers), body))
    netloc = urlsplit(base).netloc
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    every = round(1 / changed) if changed else 0
    exchanges, planted = [], 0
    for i in range(n):
        url, response = answers[ids[i % len(ids)]]
        if every and i % every == every - 1:
            document = json.loads(response.body)
            document["price"] = round(float(document.get("price") or 0) + 1.0, 2)
            response = Response(
                response.status, response.reason, response.headers, json.dumps(document).encode()
            )
            planted += 1
        request = Request("GET", url, (("Host", netloc), ("Accept", "application/json")))
        exchanges.append(
            Exchange(str(i + 1), request, response, stamp, 1.0, "127.0.0.1:40000", "bench")
        )
    write_cassette(path, exchanges, stamp)
    return planted


def run(args: argparse.Namespace, tmp: Path) -> int:
    from apitape.cassette import iter_exchanges
    from apitape.config import Config
    from apitape.http.endpoints import EndpointNamer
    from apitape.models import Outcome
    from apitape.replay.replayer import Replayer, ReplayResult
    from apitape.runs.settings import differs_from_recording
    from apitape.verdict.judge import Judge

    cassette = tmp / "diff.yaml"
    compare_s: list[float] = []
    judge_s: list[float] = []
    wall_s: list[float] = []
    with processes(tmp) as procs:
        _, base = start_bookstore(procs, tmp)
        planted = build_cassette(cassette, base, args.exchanges, args.changed)
        preloaded = list(iter_exchanges(cassette)) if args.preloaded else None
        # Independent GETs: each its own session, so --concurrency applies. The comparisons
        # that decide whether to ask again are comparing time too.
        deciding = [0.0]
        confirm = _timed(differs_from_recording(base, Config(), EndpointNamer()), deciding)
        replayer = Replayer(
            base, concurrency=args.concurrency, session_by="exchange", confirm=confirm
        )
        # Warm-up: connections, the server's threads.
        replayer.replay(list(itertools.islice(iter_exchanges(cassette), 200)))
        print(
            f"{'round':>5} {'replay s':>9} {'compare s':>10} {'share':>7} {'us/compare':>11} "
            f"{'judge s':>8} {'share':>7}"
        )
        for rnd in range(args.rounds):
            judge = Judge(replayer.target)
            spent = 0.0
            comparing = [0.0]
            deciding[0] = 0.0
            asked = replayer.confirmations
            # Comparing proper: Judge._compare is the Comparer (status, headers, bodies:
            # the equality fast path, normalization, deepdiff) and correlation. Timed apart
            # from the verdict bookkeeping around it (endpoint, spool, latency, examples).
            judge._compare = _timed(judge._compare, comparing)  # type: ignore[method-assign]

            def on_result(place: int, result: ReplayResult, judge: Judge = judge) -> None:
                nonlocal spent
                t0 = time.perf_counter()
                judge.add(place, result, str(cassette))
                spent += time.perf_counter() - t0

            t0 = time.perf_counter()
            replayer.stream(iter_exchanges(cassette) if preloaded is None else preloaded, on_result)
            t1 = time.perf_counter()
            report = judge.finish()  # noise, latency, groups: comparing too
            t2 = time.perf_counter()
            spent += t2 - t1 + deciding[0]
            comparing[0] += deciding[0]
            wall = t2 - t0
            if replayer.confirmations - asked != planted:
                print(
                    f"error: expected {planted} answers asked for again, got "
                    f"{replayer.confirmations - asked}",
                    file=sys.stderr,
                )
                return EXIT_BELOW_MIN_RATIO
            regressions, errors = report.count(Outcome.REGRESSION), report.count(Outcome.ERROR)
            if errors or regressions != planted:
                print(
                    f"error: expected {planted} regressions and no errors, got {regressions} "
                    f"and {errors}",
                    file=sys.stderr,
                )
                return EXIT_BELOW_MIN_RATIO
            compare_s.append(comparing[0])
            judge_s.append(spent)
            wall_s.append(wall)
            print(
                f"{rnd + 1:>5} {wall:>9.2f} {comparing[0]:>10.3f} {comparing[0] / wall:>7.1%} "
                f"{comparing[0] / args.exchanges * 1e6:>11.1f} {spent:>8.3f} {spent / wall:>7.1%}",
                flush=True,
            )
    ratio = median(compare_s) / median(wall_s)  # type: ignore[operator]
    judge_ratio = median(judge_s) / median(wall_s)  # type: ignore[operator]
    print()
    print(series("replay wall s per round", wall_s, 2))
    print(series("comparing s per round", compare_s, 3))
    print(series("all judging s per round (comparing, verdicts, finish)", judge_s, 3))
    print(
        f"replay rate: {fmt(args.exchanges / median(wall_s))} exchanges/s "  # type: ignore[operator]
        f"({planted} of {args.exchanges} answers differ; comparing "
        f"{ms(median(compare_s) / args.exchanges)} ms/exchange, all judging "  # type: ignore[operator]
        f"{ms(median(judge_s) / args.exchanges)} ms/exchange)"  # type: ignore[operator]
    )
    print(f"ratio (comparing time / replay time, target <= 0.05): {ratio:.3f}")
    print(f"judge_ratio (all judging time / replay time, no target): {judge_ratio:.3f}")
    print(f"RESULT diff_share ratio={ratio:.3f} judge_ratio={judge_ratio:.3f}")
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"ratio {ratio:.3f} is above --max-ratio {args.max_ratio}", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    return 0


def _timed(function: Callable[..., T], total: list[float]) -> Callable[..., T]:
    """`function`, adding the seconds each call takes to total[0]."""

    def timed(*args: object) -> T:
        started = time.perf_counter()
        try:
            return function(*args)
        finally:
            total[0] += time.perf_counter() - started

    return timed


if __name__ == "__main__":
    sys.exit(main())
