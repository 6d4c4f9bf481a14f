#!/usr/bin/env python3
"""Replay throughput: `apitape replay` vs. wrk, same server, same endpoint, same concurrency.

Writes a cassette of N `GET /books/1` exchanges with apitape's own writer, then alternates
(A B, B A, ...) for several rounds between

  A. replaying all N exchanges in this process with apitape's Replayer and judging them with
     `judge` (what `apitape replay` does, minus interpreter start-up and cassette loading), and
  B. `wrk -t1 -cC -dDs` against the same URL.

The printed ratio is median apitape exchanges/s / median wrk req/s: the share of the
server's capacity (as wrk measures it) that a replay reaches. `apitape replay` is a
correctness tool, not a load generator, so a ratio well below 1 is expected; the ratio is
for catching the replayer getting slower. Also printed: replay-only rate (without judging),
client CPU per exchange, server CPU per request, the cassette load time and one end-to-end
run of the `apitape replay` command.

    .venv/bin/python benchmarks/replay_throughput.py [--exchanges 2000] [--concurrency 8]
        [--min-ratio 0.1]

Exit status: 0 after printing; 1 if --min-ratio is given and the ratio is below it (or a
replayed exchange did not pass); 2 if wrk, apitape or its modules are missing; 3 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    BenchmarkError,
    WrkResult,
    cpu_seconds,
    finish,
    fmt,
    get,
    interleaved,
    listen_overflows,
    machine_line,
    median,
    ms,
    processes,
    require_import,
    require_tools,
    run_in_tempdir,
    run_wrk,
    series,
    start_bookstore,
    tool_version,
)

APITAPE, WRK = "apitape", "wrk"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exchanges", type=int, default=2000, help="exchanges in the cassette (default 2000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="apitape --concurrency and wrk -c (default 8)"
    )
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds per wrk run (default 8)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of apitape+wrk runs (default 5)"
    )
    parser.add_argument("--path", default="/books/1", help="path to load (default /books/1)")
    parser.add_argument("--min-ratio", type=float, help="exit 1 when the ratio is below this")
    parser.add_argument(
        "--keep-tmp", action="store_true", help="keep the temp dir (cassette, logs)"
    )
    args = parser.parse_args(argv)
    if min(args.exchanges, args.concurrency, args.rounds) < 1 or args.duration < 1:
        parser.error("--exchanges, --concurrency, --rounds and --duration must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["wrk", "apitape"])
    for module in ("apitape", "httpx", "yaml"):
        require_import(module)
    import importlib.metadata

    import httpx

    print(
        machine_line(
            {
                "apitape": importlib.metadata.version("apitape"),
                "httpx": httpx.__version__,
                "wrk": tool_version([tools["wrk"], "-v"], r"wrk (\S+)"),
            }
        )
    )
    print(
        f"settings: {args.exchanges} exchanges GET {args.path}, concurrency {args.concurrency}, "
        f"wrk -t1 -c{args.concurrency} -d{args.duration:g}s, {args.rounds} rounds"
    )
    return run_in_tempdir("apitape-bench-replay-", args.keep_tmp, lambda tmp: run(args, tools, tmp))


def build_cassette(path: Path, url: str, n: int) -> None:
    """N recorded exchanges of GET url, whose response is what the server answers right now."""
    from apitape.cassette import write_cassette
    from apitape.models import Exchange, Request, Response

    status, headers, body, seconds = get(url)
    if status != 200:
        raise BenchmarkError(f"GET {url} answered {status}; cannot build a passing cassette")
    netloc = urlsplit(url).netloc
    request = Request(
        "GET", url, (("Host", netloc), ("User-Agent", "apitape-bench"), ("Accept", "*/*"))
    )
    response = Response(status, HTTPStatus(status).phrase, tuple(headers), body)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    exchanges = [
        Exchange(
            str(i),
            request,
            response,
            recorded_at=stamp,
            duration_ms=seconds * 1000.0,
            client="127.0.0.1:40000",
            connection="bench",
        )
        for i in range(1, n + 1)
    ]
    write_cassette(path, exchanges, stamp)


def run(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    from apitape.cassette import load_cassette
    from apitape.models import Outcome
    from apitape.replay import Replayer
    from apitape.verdict import judge

    cassette = tmp / "replay.yaml"
    n, c = args.exchanges, args.concurrency
    apitape_rps: list[float] = []
    replay_only_rps: list[float] = []
    client_cpu: list[float] = []
    wrk_runs: list[WrkResult] = []
    server_cpu: dict[str, list[float | None]] = {APITAPE: [], WRK: []}
    not_passed = 0

    with processes(tmp) as procs:
        server, base = start_bookstore(procs, tmp)
        url = base + args.path
        build_cassette(cassette, url, n)
        t0 = time.perf_counter()
        loaded = load_cassette(cassette)
        load_s = time.perf_counter() - t0
        exchanges = list(loaded.exchanges)
        names = [str(cassette)] * len(exchanges)
        print(
            f"server {base}; cassette {cassette.stat().st_size / 1e6:.2f} MB, "
            f"{len(exchanges)} exchanges, loaded in {load_s:.2f} s "
            f"({ms(load_s / len(exchanges))} ms/exchange)"
        )
        # Independent GETs from one client: each its own session, so --concurrency applies.
        replayer = Replayer(base, concurrency=c, session_by="exchange")

        # Warm-up: imports, first connections, the server's threads.
        warm = replayer.replay(exchanges[: min(len(exchanges), 200)])
        if any(r.error for r in warm):
            raise BenchmarkError(f"warm-up replay failed: {next(r.error for r in warm if r.error)}")
        run_wrk(tools["wrk"], url, c, 2)

        print(
            f"{'round':>5} {'config':>8} {'req/s':>8} {'requests':>9} {'replay-only/s':>13} "
            f"{'client CPU ms/req':>17} {'server CPU ms/req':>17} {'listen ovf':>10}"
        )
        for rnd, name in interleaved([APITAPE, WRK], args.rounds):
            if server.poll() is not None:
                raise BenchmarkError(
                    f"the bookstore exited ({server.returncode}) during the benchmark"
                )
            o0, s0 = listen_overflows(), cpu_seconds(server.pid)
            if name == APITAPE:
                p0 = time.process_time()
                t0 = time.perf_counter()
                results = replayer.replay(exchanges)
                t1 = time.perf_counter()
                report = judge(results, names, replayer.target)
                t2 = time.perf_counter()
                p1 = time.process_time()
                requests, rps, replay_rps = (
                    len(results),
                    len(results) / (t2 - t0),
                    len(results) / (t1 - t0),
                )
                cpu_req = (p1 - p0) / len(results)
                apitape_rps.append(rps)
                replay_only_rps.append(replay_rps)
                client_cpu.append(cpu_req)
                not_passed += len(results) - report.count(Outcome.PASS)
                if report.count(Outcome.ERROR):
                    first = next(i.error for i in report.interactions if i.error)
                    failed = report.count(Outcome.ERROR)
                    print(f"warning: {failed} exchanges failed to replay, e.g. {first}")
            else:
                result = run_wrk(tools["wrk"], url, c, args.duration)
                wrk_runs.append(result)
                requests, rps, replay_rps, cpu_req = result.requests, result.rps, None, None
            s1, o1 = cpu_seconds(server.pid), listen_overflows()
            srv = (s1 - s0) / requests if s0 is not None and s1 is not None and requests else None
            server_cpu[name].append(srv)
            ovf = o1 - o0 if o0 is not None and o1 is not None else None
            print(
                f"{rnd + 1:>5} {name:>8} {rps:>8,.0f} {requests:>9,} {fmt(replay_rps):>13} "
                f"{ms(cpu_req):>17} {ms(srv):>17} {fmt(ovf):>10}",
                flush=True,
            )

        # Once, end to end: the command a user runs (start-up, imports, load, replay, report).
        out, err = tmp / "apitape-replay.out", tmp / "apitape-replay.err"
        argv = [
            tools["apitape"],
            "replay",
            str(cassette),
            "--target",
            base,
            "--concurrency",
            str(c),
            "--session-by",
            "exchange",
        ]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            t0 = time.perf_counter()
            cli = subprocess.run(
                argv,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                timeout=600,
                check=False,
            )
            cli_s = time.perf_counter() - t0

    wrk_rps = [r.rps for r in wrk_runs]
    ratio = median(apitape_rps) / median(wrk_rps)  # type: ignore[operator]
    per_round = [a / w for a, w in zip(apitape_rps, wrk_rps, strict=True)]
    wrk_errors = sum(r.socket_errors + r.non_2xx for r in wrk_runs)

    print()
    print(series("apitape replay+judge exchanges/s per round", apitape_rps))
    print(series("apitape replay only  exchanges/s per round", replay_only_rps))
    print(series(f"wrk -c{c} req/s per round", wrk_rps))
    print(f"wrk p50 latency, median: {fmt(median([r.p50_ms for r in wrk_runs]), 2)} ms")
    print(series("per-round ratios (apitape/wrk)", per_round, 3))
    print(
        f"apitape client CPU per exchange (replay+judge), median {ms(median(client_cpu))} ms; "
        f"server CPU per request, median: during apitape {ms(median(server_cpu[APITAPE]))} ms, "
        f"during wrk {ms(median(server_cpu[WRK]))} ms"
    )
    print(
        f"end to end, once: `apitape replay` of {n} exchanges took {cli_s:.2f} s wall = "
        f"{n / cli_s:,.0f} exchanges/s (exit status {cli.returncode}; includes start-up, "
        f"imports and the {load_s:.2f} s cassette load)"
    )
    if cli.returncode != 0:
        print("  its stderr: " + err.read_text(errors="replace").strip()[-500:])
    print(
        f"exchanges that did not pass: {not_passed} (expected 0); "
        f"wrk socket errors / non-2xx: {wrk_errors}"
    )
    print(f"ratio (replay throughput, median apitape exchanges/s / median wrk req/s): {ratio:.3f}")
    status = finish(ratio, "replay_throughput", args.min_ratio)
    if (not_passed or cli.returncode != 0) and args.min_ratio is not None:
        return EXIT_BELOW_MIN_RATIO
    return status


if __name__ == "__main__":
    sys.exit(main())
