#!/usr/bin/env python3
"""Replay throughput, both P2 ratios: apitape vs. wrk on the bookstore, apitape vs. bare aiohttp
on a raw asyncio server; plus the transport comparison behind the choice of transport.

Bookstore part: writes a cassette of N `GET /books/1` exchanges with apitape's own writer,
then alternates (A B C, C B A, ...) for several rounds between

  A. replaying all N exchanges in this process with apitape's Replayer and judging them
     (`judge_all`: what `apitape replay` does, minus interpreter start-up and cassette
     loading),
  B. a bare aiohttp loop sending N GETs at the same concurrency (the reference: what a
     Python client that does nothing but send gets from the same server), and
  C. `wrk -t1 -cC -dDs` against the same URL, at the same concurrency.

Its ratio is median apitape exchanges/s / median wrk req/s (target >= 0.8).

Raw part: benchmarks/raw_server.py answers >100k req/s, so the client is what is measured.
Interleaved rounds of N GETs at concurrency C through

  httpx-own   Replayer over httpx's own transport, one per worker (what replay used before)
  apitape     Replayer over its default transport (apitape.replay.http1 under httpx)
  aiohttp     a bare aiohttp loop: one ClientSession, C tasks, read each body
  wrk         wrk -t1 -cC

Its ratio is median apitape / median bare aiohttp exchanges/s (target >= 0.7). Both
Replayers are set up as `apitape replay` sets them up (secret filler, redactor).

    .venv/bin/python benchmarks/replay_throughput.py [--exchanges 2000] [--concurrency 8]
        [--part both|bookstore|raw] [--min-ratio 0.8] [--min-raw-ratio 0.7]

Exit status: 0 after printing; 1 if a --min-... ratio is given and not reached (or a
replayed exchange did not pass); 2 if wrk, apitape or its modules are missing; 3 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
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

if TYPE_CHECKING:
    from apitape.models import Exchange, RunReport
    from apitape.replay.replayer import Replayer, ReplayResult

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
    parser.add_argument(
        "--part",
        choices=("both", "bookstore", "raw"),
        default="both",
        help="which part to run (default both)",
    )
    parser.add_argument(
        "--min-ratio", type=float, help="exit 1 when the bookstore ratio (vs wrk) is below this"
    )
    parser.add_argument(
        "--min-raw-ratio",
        type=float,
        help="exit 1 when the raw-server ratio (vs bare aiohttp) is below this",
    )
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
    for module in ("apitape", "httpx", "aiohttp", "yaml"):
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
    return run_in_tempdir(
        "apitape-bench-replay-", args.keep_tmp, lambda tmp: run_parts(args, tools, tmp)
    )


def run_parts(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    statuses = []
    if args.part in ("both", "bookstore"):
        statuses.append(run(args, tools, tmp))
    if args.part in ("both", "raw"):
        print()
        statuses.append(run_raw(args, tools, tmp))
    return max(statuses)


def make_replayer(target: str, concurrency: int, **options: Any) -> Replayer:
    """A Replayer set up as `apitape replay` sets one up (secret filler, redactor), every
    exchange its own session so --concurrency applies."""
    import secrets

    from apitape.config import Config
    from apitape.redaction.redact import Redactor, SecretFiller
    from apitape.replay.replayer import Replayer

    return Replayer(
        target,
        concurrency=concurrency,
        session_by="exchange",
        secrets=SecretFiller(()),
        redactor=Redactor(secrets.token_bytes(32), Config().redaction),
        **options,
    )


def judge_all(results: list[ReplayResult], names: list[str], target: str) -> RunReport:
    """Judge a replay's results as `apitape replay` does (normalization and diffing on)."""
    from apitape.verdict.judge import judge

    return judge(results, names, target)


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

    cassette = tmp / "replay.yaml"
    n, c = args.exchanges, args.concurrency
    apitape_rps: list[float] = []
    replay_only_rps: list[float] = []
    client_cpu: list[float] = []
    replay_cpu: list[float] = []
    bare_rps: list[float] = []
    bare_cpu: list[float] = []
    wrk_runs: list[WrkResult] = []
    server_cpu: dict[str, list[float | None]] = {APITAPE: [], BARE: [], WRK: []}
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
        replayer = make_replayer(base, c)

        # Warm-up: imports, first connections, the server's threads.
        warm = replayer.replay(exchanges[: min(len(exchanges), 200)])
        if any(r.error for r in warm):
            raise BenchmarkError(f"warm-up replay failed: {next(r.error for r in warm if r.error)}")
        asyncio.run(bare_aiohttp(url, min(n, 200), c))
        run_wrk(tools["wrk"], url, c, 2)

        print(
            f"{'round':>5} {'config':>8} {'req/s':>8} {'requests':>9} {'replay-only/s':>13} "
            f"{'client CPU ms/req':>17} {'server CPU ms/req':>17} {'listen ovf':>10}"
        )
        for rnd, name in interleaved([APITAPE, BARE, WRK], args.rounds):
            if server.poll() is not None:
                raise BenchmarkError(
                    f"the bookstore exited ({server.returncode}) during the benchmark"
                )
            o0, s0 = listen_overflows(), cpu_seconds(server.pid)
            if name == APITAPE:
                p0 = time.process_time()
                t0 = time.perf_counter()
                results = replayer.replay(exchanges)
                t1, p_replayed = time.perf_counter(), time.process_time()
                report = judge_all(results, names, replayer.target)
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
                replay_cpu.append((p_replayed - p0) / len(results))
                not_passed += len(results) - report.count(Outcome.PASS)
                if report.count(Outcome.ERROR):
                    first = next(i.error for i in report.interactions if i.error)
                    failed = report.count(Outcome.ERROR)
                    print(f"warning: {failed} exchanges failed to replay, e.g. {first}")
            elif name == BARE:
                p0, t0 = time.process_time(), time.perf_counter()
                asyncio.run(bare_aiohttp(url, n, c))
                requests, replay_rps = n, None
                rps = n / (time.perf_counter() - t0)
                cpu_req = (time.process_time() - p0) / n
                bare_rps.append(rps)
                bare_cpu.append(cpu_req)
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
    print(series(f"bare aiohttp -c{c} req/s per round", bare_rps))
    print(series(f"wrk -c{c} req/s per round", wrk_rps))
    print(f"wrk p50 latency, median: {fmt(median([r.p50_ms for r in wrk_runs]), 2)} ms")
    print(series("per-round ratios (apitape/wrk)", per_round, 3))
    print(
        f"reference: bare aiohttp / wrk, median {fmt(_ratio(median(bare_rps), median(wrk_rps)), 3)}"
    )
    print(
        f"apitape client CPU per exchange (replay+judge), median {ms(median(client_cpu))} ms "
        f"(replay {ms(median(replay_cpu))} ms); bare aiohttp {ms(median(bare_cpu))} ms; "
        f"server CPU per request, median: during apitape {ms(median(server_cpu[APITAPE]))} ms, "
        f"during bare aiohttp {ms(median(server_cpu[BARE]))} ms, "
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


HTTPX_OWN, BARE = "httpx-own", "aiohttp"
RAW_CONFIGS = (HTTPX_OWN, APITAPE, BARE, WRK)


def raw_exchanges(url: str, n: int, body: bytes) -> list[Exchange]:
    """N recorded GETs of `url` whose recorded answer (`body`) is what the raw server answers."""
    from apitape.models import Exchange, Request, Response

    response = Response(200, "OK", (("Content-Type", "application/json"),), body)
    request = Request("GET", url, (("User-Agent", "apitape-bench"), ("Accept", "*/*")))
    return [Exchange(str(i), request, response, client="127.0.0.1:40000") for i in range(n)]


async def bare_aiohttp(url: str, n: int, concurrency: int) -> None:
    """The reference: one aiohttp session, `concurrency` tasks sharing n GETs."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        left = iter(range(n))

        async def worker() -> None:
            for _ in left:
                async with session.get(url) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def run_raw(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    import httpx
    from raw_server import BODY, start_raw_server

    n, c = args.exchanges, args.concurrency
    rps: dict[str, list[float]] = {name: [] for name in RAW_CONFIGS}
    client_cpu: dict[str, list[float | None]] = {name: [] for name in RAW_CONFIGS}
    server_cpu: dict[str, list[float | None]] = {name: [] for name in RAW_CONFIGS}
    errors = 0

    def httpx_own() -> httpx.AsyncBaseTransport:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return httpx.AsyncHTTPTransport(limits=one, trust_env=False)

    with processes(tmp) as procs:
        server, base = start_raw_server(procs)
        url = base + "/books/1"
        exchanges = raw_exchanges(url, n, BODY)
        replayers = {
            APITAPE: make_replayer(base, c),
            HTTPX_OWN: make_replayer(base, c, transport_factory=httpx_own),
        }
        print(f"raw server {base}: {n} GETs per run at concurrency {c}, {args.rounds} rounds")
        for replayer in replayers.values():  # warm-up
            replayer.replay(exchanges[: min(n, 500)])
        asyncio.run(bare_aiohttp(url, min(n, 500), c))
        run_wrk(tools["wrk"], url, c, 1)
        print(
            f"{'round':>5} {'config':>10} {'exchanges/s':>11} {'client CPU ms/req':>17} "
            f"{'server CPU ms/req':>17}"
        )
        for rnd, name in interleaved(RAW_CONFIGS, args.rounds):
            if server.poll() is not None:
                raise BenchmarkError(f"the raw server exited ({server.returncode})")
            s0 = cpu_seconds(server.pid)
            p0, t0 = time.process_time(), time.perf_counter()
            cpu: float | None = None
            if name == WRK:
                result = run_wrk(tools["wrk"], url, c, args.duration)
                requests, rate = result.requests, result.rps
            else:
                if name == BARE:
                    asyncio.run(bare_aiohttp(url, n, c))
                else:
                    # stream, as `apitape replay` runs it: nothing kept per result.
                    failed = Counter[bool]()
                    replayers[name].stream(exchanges, count_errors(failed))
                    errors += failed[True]
                requests = n
                rate = n / (time.perf_counter() - t0)
                cpu = (time.process_time() - p0) / n
            s1 = cpu_seconds(server.pid)
            srv = (s1 - s0) / requests if s0 is not None and s1 is not None else None
            rps[name].append(rate)
            client_cpu[name].append(cpu)
            server_cpu[name].append(srv)
            print(
                f"{rnd + 1:>5} {name:>10} {rate:>11,.0f} {ms(cpu):>17} {ms(srv):>17}",
                flush=True,
            )

    print()
    print("transport comparison (medians):")
    print(
        f"{'config':>10} {'exchanges/s':>11} {'vs aiohttp':>10} {'vs wrk':>7} {'client CPU ms':>13}"
    )
    for name in RAW_CONFIGS:
        value = median(rps[name])
        print(
            f"{name:>10} {fmt(value):>11} {fmt(_ratio(value, median(rps[BARE])), 3):>10} "
            f"{fmt(_ratio(value, median(rps[WRK])), 3):>7} {ms(median(client_cpu[name])):>13}"
        )
    for name in RAW_CONFIGS:
        print(series(f"{name} exchanges/s per round", rps[name]))
    per_round = [a / b for a, b in zip(rps[APITAPE], rps[BARE], strict=True)]
    print(series("per-round ratios (apitape/aiohttp)", per_round, 3))
    print(f"replayed exchanges with an error: {errors} (expected 0)")
    ratio = _ratio(median(rps[APITAPE]), median(rps[BARE]))
    print(f"ratio (raw server, median apitape / median bare aiohttp exchanges/s): {fmt(ratio, 3)}")
    status = finish(ratio, "replay_raw_vs_aiohttp", args.min_raw_ratio)
    if errors and args.min_raw_ratio is not None:
        return EXIT_BELOW_MIN_RATIO
    return status


def count_errors(counter: Counter[bool]) -> Callable[[int, ReplayResult], None]:
    def on_result(place: int, result: ReplayResult) -> None:
        counter[result.error is not None] += 1

    return on_result


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


if __name__ == "__main__":
    sys.exit(main())
