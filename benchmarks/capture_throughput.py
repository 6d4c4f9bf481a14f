#!/usr/bin/env python3
"""Capture throughput: mitmdump with apitape's recorder addon vs. bare mitmdump.

Two proxies in reverse mode in front of one bookstore, `mitmdump` and `mitmdump -s
addons/record.py`, each loaded by `wrk -t1 -c16 GET /books/1`. The ratio is

    requests served through the recorder / requests served through bare mitmdump

so 1.0 means recording costs the proxy nothing and 0.8 means capture runs at 80 % of the
proxy's own speed. mitmdump serves on one thread and is CPU-bound on it, so this is the
ratio of what each proxy gets done with the same CPU.

Method `shared` (the default, and P1's ratio): both proxies are pinned to the same CPU and
loaded at the same time, for the same seconds, by two wrk runs; the bookstore, wrk and the
recorder's writer process run on the other CPUs. Both proxies are busy all the time and the
kernel shares the CPU between them evenly, so every swing in the machine's speed (on a
shared VM, 10-20 % from one second to the next) hits both at once and cancels out of the
ratio. Each of --blocks blocks starts fresh proxy processes (a process's own memory layout
moves its speed by a percent or two) and measures --rounds rounds; the ratio is the median
of all rounds' ratios. The proxies' CPU must be busy: its idle share is printed per round.

Method `alternate`: each proxy alone, in interleaved rounds (A B, B A, ...), the ratio of
the median req/s. The direct reading on a quiet, dedicated machine; on a shared one the
swings between rounds are larger than the recorder's cost.

`--control` puts a second bare mitmdump where the recorder was: the ratio it prints (A/A)
is the method's own error on this machine. `--control empty-script` puts a script there
that does nothing (benchmarks/empty_addon.py, shaped like addons/record.py): its ratio is
what mitmproxy's script machinery costs any addon, before apitape does any work.

`--durable` puts the recorder with `--set apitape_durable=true` in the recorder's place:
each answer waits until the writer has written and fsynced its exchange (one fsync per
batch). Its ratio against bare mitmdump in the same run, beside P1's, is what
`apitape record --durable` costs (not P1; its RESULT line is `capture_throughput_durable`).

`--body-bytes N` puts benchmarks/raw_server.py, answering a JSON list of about N bytes, in
the bookstore's place: what recording big bodies costs (the writer process is then the limit;
not P1, and its RESULT line is `capture_throughput_big_bodies`). The cassette grows by about
N bytes per request served: use few, short rounds.

Also printed: mitmdump CPU per request (from /proc), the writer process's CPU per request,
and a check that the cassette holds every exchange the recording proxy served.

    .venv/bin/python benchmarks/capture_throughput.py [--method shared|alternate]
        [--blocks 6] [--rounds 2] [--duration 8] [--control [bare|empty-script]]
        [--durable] [--body-bytes N] [--min-ratio 0.97]

Exit status: 0 after printing; 1 if --min-ratio is given and the ratio is below it (or the
cassette check fails); 2 if wrk or mitmdump is missing; 3 if the benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    BenchmarkError,
    Processes,
    WrkResult,
    addon_argv,
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
    require_tools,
    run_in_tempdir,
    run_wrk,
    run_wrks,
    series,
    start_bookstore,
    start_mitmdump,
    tool_version,
    wrk_argv,
)
from raw_server import start_raw_server

BARE, RECORD, CONTROL, EMPTY, DURABLE = "bare", "record", "bare2", "empty-script", "durable"
RECORDERS = {RECORD, DURABLE}
"""The candidates that record: their cassette is checked and their writer's CPU measured."""


@dataclass(frozen=True)
class Candidate:
    """The proxy measured against bare mitmdump, as --control chooses it."""

    name: str  # of its column and its process
    addon: str  # its mitmdump set-up (see _common.addon_argv)
    result: str  # the name in the RESULT line
    note: str = ""  # for the settings line


CANDIDATES = {
    None: Candidate(RECORD, "record", "capture_throughput"),
    "bare": Candidate(
        CONTROL,
        "bare",
        "capture_throughput_control",
        ", CONTROL (A/A): a second bare mitmdump instead of the recorder",
    ),
    "empty-script": Candidate(
        EMPTY,
        "empty-script",
        "capture_throughput_empty_script",
        ", CONTROL: a script that does nothing (benchmarks/empty_addon.py) instead of the recorder",
    ),
}
DURABLE_CANDIDATE = Candidate(
    DURABLE,
    "record",
    "capture_throughput_durable",
    ", the recorder with --set apitape_durable=true (each answer waits for its exchange's "
    "fsync) instead of the plain recorder",
)
ADDON = {BARE: "bare", DURABLE: "record"} | {c.name: c.addon for c in CANDIDATES.values()}
"""The mitmdump set-up of each proxy, by its name."""


def candidate_of(args: argparse.Namespace) -> Candidate:
    """The proxy measured against bare mitmdump: --durable's, --control's or the recorder."""
    return DURABLE_CANDIDATE if args.durable else CANDIDATES[args.control]


def proxy_argv(name: str, cassette: Path) -> list[str]:
    """mitmdump's arguments for the proxy called `name` (see _common.addon_argv)."""
    durable = ["--set", "apitape_durable=true"] if name == DURABLE else []
    return addon_argv(ADDON[name], cassette) + durable


IDLE_WARNING = 0.05  # the proxies' CPU idle more than this: they were not CPU-bound


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--method",
        choices=["shared", "alternate"],
        default="shared",
        help="both proxies at once on one CPU (default), or each alone in turn",
    )
    parser.add_argument(
        "--blocks", type=int, default=6, help="shared: fresh proxy pairs (default 6)"
    )
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds per wrk run (default 8)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds per block (shared, default 2), or alternating rounds (default 4)",
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of wrk warm-up per proxy (default 3)"
    )
    parser.add_argument("--path", default="/books/1", help="path to load (default /books/1)")
    parser.add_argument(
        "--body-bytes",
        type=int,
        help="in front of benchmarks/raw_server.py answering a JSON list of about this many "
        "bytes, instead of the bookstore (recording big bodies; not P1)",
    )
    parser.add_argument(
        "--control",
        nargs="?",
        const="bare",
        choices=["bare", "empty-script"],
        help="in the recorder's place: a second bare mitmdump (A/A, the method's own error; "
        "the default), or a script that does nothing (what any mitmdump script costs)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="in the recorder's place, the recorder with apitape_durable=true: each answer "
        "waits until its exchange is written and fsynced (what `apitape record --durable` "
        "costs; not P1)",
    )
    parser.add_argument("--min-ratio", type=float, help="exit 1 when the ratio is below this")
    parser.add_argument(
        "--keep-tmp", action="store_true", help="keep the temp dir (cassette, logs)"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.method == "shared" else 4
    if args.durable and args.control:
        parser.error("--durable measures the durable recorder; --control replaces it")
    if args.body_bytes is not None and args.body_bytes < 1:
        parser.error("--body-bytes must be at least 1")
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.blocks < 1:
        parser.error("--blocks, --rounds, --duration and --connections must be at least 1")
    return args


def child_pids(pid: int) -> list[int]:
    """The live children of a process (the recorder's writer process), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def children_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process's live children (the recorder's writer process), from /proc."""
    seconds = [cpu_seconds(child) for child in child_pids(pid)]
    present = [s for s in seconds if s is not None]
    return sum(present) if present else None


def cpu_ticks(cpus: set[int]) -> tuple[int, int]:
    """(idle, total) clock ticks of these CPUs so far, from /proc/stat."""
    idle = total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]
            idle += values[3] + values[4]  # idle + iowait
            total += sum(values)
    return idle, total


def per_request(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or not requests:
        return None
    return (after - before) / requests


def count_exchanges(cassette: Path) -> int:
    """Complete exchanges in an apitape cassette: its `# end of exchange N` lines."""
    if not cassette.exists():
        return 0
    return len(re.findall(rb"^# end of exchange \S+\n", cassette.read_bytes(), re.MULTILINE))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = require_tools(["wrk", "mitmdump"])
    try:
        mitm_version = importlib.metadata.version("mitmproxy")
    except importlib.metadata.PackageNotFoundError:
        mitm_version = tool_version([tools["mitmdump"], "--version"], r"Mitmproxy:\s*(\S+)")
    wrk_version = tool_version([tools["wrk"], "-v"], r"wrk (\S+)")
    print(machine_line({"mitmproxy": mitm_version, "wrk": wrk_version}))
    shape = (
        f"{args.blocks} blocks of {args.rounds} rounds, both proxies at once on one CPU"
        if args.method == "shared"
        else f"{args.rounds} alternating rounds, each proxy alone"
    )
    print(
        f"settings: method {args.method}, wrk -t1 -c{args.connections} -d{args.duration:g}s "
        f"GET {args.path}, {shape}, {args.warmup:g}s warm-up"
        + (
            f", {args.body_bytes:,}-byte JSON answers from benchmarks/raw_server.py"
            if args.body_bytes
            else ""
        )
        + candidate_of(args).note
    )
    measure = run_shared if args.method == "shared" else run_alternate
    return run_in_tempdir(
        "apitape-bench-capture-", args.keep_tmp, lambda tmp: measure(args, tools, tmp)
    )


def cassette_check(cassette: Path, served: int, slack: int, status: int | None) -> bool:
    """Whether the cassette holds every exchange the recording proxy answered (printed).

    wrk counts responses it received; the recorder hands each exchange to its writer
    process before answering, and waits for the writer when it stops, so the cassette holds
    at least that many, plus up to one in-flight request per connection per run that wrk
    abandoned when its run ended.
    """
    recorded = count_exchanges(cassette)
    ok = served <= recorded <= served + slack
    print(
        f"cassette check: cassette holds {recorded:,} exchanges; the recording proxy answered "
        f"{served:,} requests that wrk/probes counted (allowed: that many up to "
        f"+{slack} in flight when wrk stopped) -> {'OK' if ok else 'MISMATCH'}; "
        f"recorder exit status {status}"
    )
    return ok


def start_pair(
    procs: Processes,
    args: argparse.Namespace,
    mitmdump: str,
    upstream: str,
    tmp: Path,
    label: str,
    order: list[str],
    proxy_cpus: set[int] | None = None,
    other_cpus: set[int] | None = None,
) -> dict[str, tuple[subprocess.Popen[bytes], str]]:
    """Start the two proxies in `order` (pinned to `proxy_cpus`), the recorder's writer moved
    to `other_cpus`, and check that each answers the path."""
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    for name in order:
        proc, url = start_mitmdump(
            procs,
            mitmdump,
            upstream,
            tmp,
            f"mitmdump-{name}{label}",
            proxy_argv(name, tmp / "capture.yaml"),
            proxy_cpus,
        )
        if other_cpus:
            for child in child_pids(proc.pid):  # the writer inherited the proxy's CPU
                os.sched_setaffinity(child, other_cpus)
        started[name] = (proc, url)
    for name, (_proc, url) in started.items():
        status, _headers, _body, _secs = get(url + args.path)
        if status != 200:
            raise BenchmarkError(f"GET {url}{args.path} through {name} answered {status}")
    return started


def start_upstream(
    procs: Processes, args: argparse.Namespace, tmp: Path, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The service behind the proxies: the bookstore, or with --body-bytes the raw server."""
    if args.body_bytes is None:
        return start_bookstore(procs, tmp, cpus=cpus)
    return start_raw_server(procs, body_bytes=args.body_bytes, cpus=cpus)


def stderr_notes(tmp: Path, names: list[str]) -> None:
    for name in names:
        for log in sorted(tmp.glob(f"mitmdump-{name}*.err")):
            text = log.read_text(errors="replace").strip()
            if text:
                print(
                    f"note: {log.stem} wrote to stderr:\n  " + "\n  ".join(text.splitlines()[-5:])
                )


def conclude(
    args: argparse.Namespace,
    ratio: float,
    how: str,
    errors: int,
    cassette: Path,
    served_by_recorder: int,
    recorder_runs: int,
    rec_status: int | None,
) -> int:
    """The last lines of either method: wrk errors, the cassette check, the RESULT line."""
    candidate = candidate_of(args).name
    if errors:
        print(f"warning: wrk saw {errors} socket errors / non-2xx responses in the measured runs")
    cassette_ok = True
    if candidate in RECORDERS:
        cassette_ok = cassette_check(
            cassette, served_by_recorder, args.connections * recorder_runs, rec_status
        )
    name = candidate_of(args).result + ("_big_bodies" if args.body_bytes else "")
    print(f"ratio ({name}, {how.format(candidate=candidate)}): {ratio:.3f}")
    status = finish(ratio, name, args.min_ratio)
    if not cassette_ok and args.min_ratio is not None:
        return EXIT_BELOW_MIN_RATIO
    return status


def run_shared(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchmarkError(
            f"--method shared needs two CPUs (this process may use {len(cpus)}); "
            "use --method alternate"
        )
    proxy_cpus, other_cpus = {cpus[0]}, set(cpus[1:])
    candidate = candidate_of(args).name
    ratios: list[float] = []
    counts: dict[str, list[int]] = {BARE: [], candidate: []}
    mitm_cpu: dict[str, list[float | None]] = {BARE: [], candidate: []}
    writer_cpu: list[float | None] = []
    idle_shares: list[float] = []
    errors = 0
    served_by_recorder = recorder_runs = 0
    rec_status: int | None = None
    cassette = tmp / "capture.yaml"

    with processes(tmp) as procs:
        _server, upstream = start_upstream(procs, args, tmp, other_cpus)
        print(
            f"server {upstream}; proxies on CPU {cpus[0]}, server, wrk and the recorder's "
            f"writer on CPU {','.join(map(str, sorted(other_cpus)))}"
        )
        print(
            f"{'block':>5} {'round':>5} {'bare req':>9} {candidate + ' req':>11} {'ratio':>6} "
            f"{'proxy CPU idle':>14} {'bare CPU ms/req':>15} {candidate + ' CPU ms/req':>17} "
            f"{'writer CPU ms/req':>17}"
        )
        for block in range(args.blocks):
            order = [BARE, candidate] if block % 2 == 0 else [candidate, BARE]
            # Both proxies of a pair share one random hash seed, a new one per block: a
            # process's seed moves its speed by a few per cent (with a seed each, a pair's
            # ratio ranged 0.94-0.99 between blocks; with one seed a pair, 0.95-0.99 and
            # half the spread), and that has nothing to do with recording.
            seed = str(random.randrange(1, 2**32))
            print(f"block {block + 1}: PYTHONHASHSEED={seed} for both proxies", flush=True)
            os.environ["PYTHONHASHSEED"] = seed  # for the two mitmdumps started now
            try:
                pair = start_pair(
                    procs,
                    args,
                    tools["mitmdump"],
                    upstream,
                    tmp,
                    f"-{block}",
                    order,
                    proxy_cpus,
                    other_cpus,
                )
            finally:
                del os.environ["PYTHONHASHSEED"]
            if candidate in RECORDERS:
                served_by_recorder += 1  # the probe

            def both(
                seconds: float, pair: dict[str, tuple[subprocess.Popen[bytes], str]] = pair
            ) -> list[list[str]]:
                return [
                    wrk_argv(tools["wrk"], pair[name][1] + args.path, args.connections, seconds)
                    for name in (BARE, candidate)
                ]

            argvs = both(args.duration)
            if args.warmup > 0:
                warm = run_wrks(both(args.warmup), args.warmup, other_cpus)
                if candidate in RECORDERS:
                    served_by_recorder += warm[1].requests
                    recorder_runs += 1
            procs_now = {name: pair[name][0] for name in (BARE, candidate)}
            for rnd in range(args.rounds):
                cpu0 = {n: cpu_seconds(p.pid) for n, p in procs_now.items()}
                w0 = children_cpu_seconds(procs_now[candidate].pid)
                idle0, total0 = cpu_ticks(proxy_cpus)
                # Which wrk starts first alternates, so neither proxy gets a head start.
                if rnd % 2 == 0:
                    bare_run, cand_run = run_wrks(argvs, args.duration, other_cpus)
                else:
                    cand_run, bare_run = run_wrks(argvs[::-1], args.duration, other_cpus)
                idle1, total1 = cpu_ticks(proxy_cpus)
                cpu1 = {n: cpu_seconds(p.pid) for n, p in procs_now.items()}
                w1 = children_cpu_seconds(procs_now[candidate].pid)
                idle = (idle1 - idle0) / max(1, total1 - total0)
                ratio = cand_run.requests / bare_run.requests
                per_bare = per_request(cpu0[BARE], cpu1[BARE], bare_run.requests)
                per_cand = per_request(cpu0[candidate], cpu1[candidate], cand_run.requests)
                per_writer = per_request(w0, w1, cand_run.requests)
                ratios.append(ratio)
                idle_shares.append(idle)
                counts[BARE].append(bare_run.requests)
                counts[candidate].append(cand_run.requests)
                mitm_cpu[BARE].append(per_bare)
                mitm_cpu[candidate].append(per_cand)
                writer_cpu.append(per_writer)
                errors += sum(r.socket_errors + r.non_2xx for r in (bare_run, cand_run))
                if candidate in RECORDERS:
                    served_by_recorder += cand_run.requests
                    recorder_runs += 1
                print(
                    f"{block + 1:>5} {rnd + 1:>5} {bare_run.requests:>9,} {cand_run.requests:>11,} "
                    f"{ratio:>6.3f} {idle * 100:>13.1f}% {ms(per_bare):>15} {ms(per_cand):>17} "
                    f"{ms(per_writer) if candidate in RECORDERS else '':>17}",
                    flush=True,
                )
            # The pause lets mitmproxy finish closing wrk's connections first; stopped
            # mid-teardown it logs asyncio CancelledError tracebacks (harmless, but noise).
            time.sleep(1.0)
            for name in order[::-1]:
                status = procs.stop(pair[name][0])
                if name in RECORDERS:
                    rec_status = status if rec_status in (None, 0) else rec_status
        stderr_notes(tmp, [BARE, candidate])

    ratio = statistics.median(ratios)
    mean = statistics.fmean(ratios)
    half_width = 2 * statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else 0.0
    print()
    print(series("per-round ratios", ratios, 3))
    print(
        f"mean {mean:.3f} +/- {half_width:.3f} (two standard errors, {len(ratios)} rounds); "
        f"ratio of all requests {sum(counts[candidate]) / sum(counts[BARE]):.3f}"
    )
    bare_cpu, cand_cpu = median(mitm_cpu[BARE]), median(mitm_cpu[candidate])
    cpu_line = (
        f"mitmdump CPU per request, median: bare {ms(bare_cpu)} ms, {candidate} {ms(cand_cpu)} ms"
    )
    if bare_cpu and cand_cpu:
        cpu_line += f" (CPU-implied ratio {bare_cpu / cand_cpu:.3f})"
    print(cpu_line)
    if candidate in RECORDERS and any(w is not None for w in writer_cpu):
        print(
            f"recorder's writer process CPU per request, median: {ms(median(writer_cpu))} ms "
            "(on the other CPU; not in the mitmdump figure)"
        )
    busiest_idle = max(idle_shares)
    print(
        f"proxy CPU idle per round: median {statistics.median(idle_shares) * 100:.1f} %, "
        f"at most {busiest_idle * 100:.1f} %"
    )
    if statistics.median(idle_shares) > IDLE_WARNING:
        print(
            "warning: the proxies' CPU was idle for part of the rounds, so they were not "
            "CPU-bound and the ratio understates what recording costs; is the other CPU busy?"
        )
    return conclude(
        args,
        ratio,
        "median of the per-round ratios {candidate}/bare",
        errors,
        cassette,
        served_by_recorder,
        recorder_runs,
        rec_status,
    )


def run_alternate(args: argparse.Namespace, tools: dict[str, str], tmp: Path) -> int:
    cassette = tmp / "capture.yaml"
    candidate = candidate_of(args).name
    results: dict[str, list[WrkResult]] = {BARE: [], candidate: []}
    mitm_cpu: dict[str, list[float | None]] = {BARE: [], candidate: []}
    writer_cpu: list[float | None] = []  # the recorder's writer process, per request
    server_cpu: dict[str, list[float | None]] = {BARE: [], candidate: []}
    overflows: dict[str, list[int | None]] = {BARE: [], candidate: []}
    served_by_recorder = 0  # requests wrk (or our probes) saw answered through the recorder
    recorder_runs = 0

    with processes(tmp) as procs:
        server, upstream = start_upstream(procs, args, tmp)
        proxies = start_pair(procs, args, tools["mitmdump"], upstream, tmp, "", [BARE, candidate])
        print(
            f"server {upstream}, "
            + ", ".join(f"{name} mitmdump {url}" for name, (_p, url) in proxies.items())
        )
        if candidate in RECORDERS:
            served_by_recorder += 1  # the probe

        s0 = cpu_seconds(server.pid)
        direct = run_wrk(tools["wrk"], upstream + args.path, args.connections, args.duration)
        direct_server_cpu = per_request(s0, cpu_seconds(server.pid), direct.requests)
        print(
            f"direct (no proxy, context only): {direct.rps:,.0f} req/s, "
            f"p50 {fmt(direct.p50_ms, 2)} ms, server CPU {ms(direct_server_cpu)} ms/req"
        )

        if args.warmup > 0:
            for name, (_proc, url) in proxies.items():
                warm = run_wrk(tools["wrk"], url + args.path, args.connections, args.warmup)
                if name in RECORDERS:
                    served_by_recorder += warm.requests
                    recorder_runs += 1

        print(
            f"{'round':>5} {'config':>7} {'req/s':>8} {'requests':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'mitm CPU ms/req':>15} {'writer CPU ms/req':>17} {'server CPU ms/req':>17} "
            f"{'errors':>6} {'listen ovf':>10}"
        )
        for rnd, name in interleaved([BARE, candidate], args.rounds):
            proc, url = proxies[name]
            if proc.poll() is not None:
                raise BenchmarkError(f"the {name} mitmdump exited during the benchmark")
            pid = proc.pid
            o0, c0, s0 = listen_overflows(), cpu_seconds(pid), cpu_seconds(server.pid)
            w0 = children_cpu_seconds(pid)
            result = run_wrk(tools["wrk"], url + args.path, args.connections, args.duration)
            c1, s1, o1 = cpu_seconds(pid), cpu_seconds(server.pid), listen_overflows()
            writer_req = per_request(w0, children_cpu_seconds(pid), result.requests)
            ovf = o1 - o0 if o0 is not None and o1 is not None else None
            per_req = per_request(c0, c1, result.requests)
            srv_req = per_request(s0, s1, result.requests)
            results[name].append(result)
            mitm_cpu[name].append(per_req)
            server_cpu[name].append(srv_req)
            overflows[name].append(ovf)
            if name in RECORDERS:
                served_by_recorder += result.requests
                recorder_runs += 1
                writer_cpu.append(writer_req)
            print(
                f"{rnd + 1:>5} {name:>7} {result.rps:>8,.0f} {result.requests:>9,} "
                f"{fmt(result.p50_ms, 1):>7} {fmt(result.p99_ms, 1):>7} {ms(per_req):>15} "
                f"{ms(writer_req) if name in RECORDERS else '':>17} {ms(srv_req):>17} "
                f"{result.socket_errors + result.non_2xx:>6} {fmt(ovf):>10}",
                flush=True,
            )

        # Stop the recorder before counting, so every exchange it handled is flushed. The pause
        # lets mitmproxy finish closing wrk's connections first; stopped mid-teardown it logs
        # asyncio CancelledError tracebacks (harmless, but noise).
        time.sleep(1.0)
        rec_status = procs.stop(proxies[candidate][0])
        procs.stop(proxies[BARE][0])
        stderr_notes(tmp, [BARE, candidate])

    bare_rps = [r.rps for r in results[BARE]]
    cand_rps = [r.rps for r in results[candidate]]
    ratio = median(cand_rps) / median(bare_rps)  # type: ignore[operator]
    per_round = [r / b for b, r in zip(bare_rps, cand_rps, strict=True)]
    bare_cpu, cand_cpu = median(mitm_cpu[BARE]), median(mitm_cpu[candidate])
    errors = sum(r.socket_errors + r.non_2xx for rs in results.values() for r in rs)

    print()
    print(series("bare mitmdump req/s per round", bare_rps))
    print(series(f"{candidate} mitmdump req/s per round", cand_rps))
    print(series(f"per-round ratios ({candidate}/bare)", per_round, 3))
    cpu_line = (
        f"mitmdump CPU per request, median: bare {ms(bare_cpu)} ms, {candidate} {ms(cand_cpu)} ms"
    )
    if bare_cpu and cand_cpu:
        cpu_line += f" (CPU-implied ratio {bare_cpu / cand_cpu:.3f})"
    print(cpu_line)
    if any(w is not None for w in writer_cpu):
        print(
            f"recorder's writer process CPU per request, median: {ms(median(writer_cpu))} ms "
            "(on the other core; not in the mitmdump figure)"
        )
    print(f"direct to server (ceiling, 1 run): {direct.rps:,.0f} req/s")
    total_ovf = [o for rs in overflows.values() for o in rs if o is not None]
    if total_ovf and sum(total_ovf):
        print(
            f"note: {sum(total_ovf)} TCP listen-queue overflows during the measured runs "
            "(system-wide counter)"
            + (
                ""
                if args.body_bytes
                else ": the bookstore's accept backlog is 5, so some of mitmdump's upstream "
                "connects at the start of a run wait for a 1 s SYN retry; this shows up as "
                "p99 near 1000 ms, in both configs"
            )
        )
    return conclude(
        args,
        ratio,
        "median {candidate} req/s / median bare req/s",
        errors,
        cassette,
        served_by_recorder,
        recorder_runs,
        rec_status,
    )


if __name__ == "__main__":
    sys.exit(main())
