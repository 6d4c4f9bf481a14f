#!/usr/bin/env python3
"""P6 scale-out: `apitape replay --workers 2` against the raw server, where one replaying
process is the bottleneck, in exchanges per second, over one process in the same run.

    python benchmarks/scale_out.py [--exchanges 100000] [--concurrency 8] [--rounds 2]

Both sides replay the same JSON-lines cassette of GETs (each exchange its own session, so
the work shards evenly) against `raw_server.py`, which answers over 100k requests/s on one
core and is never the bottleneck. One process is `apitape.replay` (the pipeline `apitape
replay` runs); the scale-out is `replay_on_ray` with a local Ray of `--workers` CPUs over a
manifest sharded before the timing (sharding is timed on its own, and Ray's start, a few
seconds once per cluster, is not counted). Rounds alternate. The merged report's verdicts
must equal the single process's, exchange by exchange, and each Ray worker process's peak
RSS must stay within P5's bound (300 MB), or the script exits 1.

Last line: `RESULT scale_out ratio=X` (scale-out exchanges/s over one process's, medians).
Needs `pip install -e '.[ray]'`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    cpu_seconds,
    finish,
    fmt,
    interleaved,
    machine_line,
    median,
    processes,
    require_import,
    run_in_tempdir,
)

P5_BOUND_MB = 300
"""P5's bound on replay memory, which each Ray worker process must keep too."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8, help="sessions in flight per process")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=None, help="default: the workers")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-ratio", type=float, default=None)
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    for module in ("ray", "ddsketch"):
        require_import(module)
    return run_in_tempdir("apitape-scale-out-", args.keep_tmp, lambda tmp: run(args, tmp))


def run(args: argparse.Namespace, tmp: Path) -> int:
    import ray
    from raw_server import BODY, start_raw_server
    from replay_throughput import raw_exchanges

    import apitape
    from apitape.models import RunReport
    from apitape.runs.settings import RunSettings
    from apitape.scale.ray_runner import LOCAL_RAY, ScaleOut, ShardDone, replay_on_ray
    from apitape.scale.shard import shard_cassettes

    n, c, w = args.exchanges, args.concurrency, args.workers
    settings = RunSettings(concurrency=c, session_by="exchange", confirm=False)
    print(machine_line())
    with processes(tmp) as procs:
        server, base = start_raw_server(procs)
        cassette = tmp / "gets.jsonl"
        apitape.write_cassette(cassette, raw_exchanges(base + "/books/1", n, BODY))
        started = time.perf_counter()
        manifest = shard_cassettes(
            [str(cassette)], str(tmp / "shards"), args.shards or w, "exchange"
        )
        shard_seconds = time.perf_counter() - started
        print(f"raw server {base}: {n} GETs, concurrency {c} per process, {w} Ray worker(s), "
              f"{len(manifest.shards)} shard(s) cut in {shard_seconds:.1f} s "
              f"({n / shard_seconds:,.0f} exchanges/s)")  # fmt: skip
        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, _system_config=LOCAL_RAY)
        try:
            replay_on_ray([str(tmp / "shards")], base, settings, ScaleOut(workers=w))  # warm
            reports: dict[str, RunReport] = {}
            worker_peaks: list[float] = []
            rates: dict[str, list[float]] = {"one process": [], f"{w} workers": []}
            print(f"{'round':>5} {'config':>12} {'exchanges/s':>11} {'server CPU %':>12}")
            for rnd, name in interleaved(list(rates), args.rounds):
                s0, t0 = cpu_seconds(server.pid), time.perf_counter()
                if name == "one process":
                    report = apitape.replay(cassette, base, settings=settings)
                else:
                    done: list[ShardDone] = []
                    report = replay_on_ray(
                        [str(tmp / "shards")], base, settings, ScaleOut(), done.append
                    )
                    merge_s = time.perf_counter() - t0 - max(d.seconds for d in done)
                    worker_peaks += [d.peak_rss_mb for d in done]
                    print(f"      shards took {', '.join(f'{d.seconds:.1f}' for d in done)} s; "
                          f"Ray and the merge {merge_s:.1f} s; workers' peak RSS "
                          f"{', '.join(f'{d.peak_rss_mb:.0f}' for d in done)} MB")  # fmt: skip
                seconds = time.perf_counter() - t0
                s1 = cpu_seconds(server.pid)
                busy = (s1 - s0) / seconds * 100 if s0 is not None and s1 is not None else None
                rates[name].append(n / seconds)
                reports[name] = report
                print(f"{rnd + 1:>5} {name:>12} {n / seconds:>11,.0f} {fmt(busy):>12}", flush=True)
        finally:
            ray.shutdown()
    one, many = reports["one process"], reports[f"{w} workers"]
    same = [(i.id, i.outcome, i.differences) for i in one.interactions] == [
        (i.id, i.outcome, i.differences) for i in many.interactions
    ] and one.exit_status == many.exit_status
    print(f"verdicts of the merged report equal the single process's: {same} "
          f"({len(many.interactions)} exchanges, exit status {many.exit_status})")  # fmt: skip
    peak = max(worker_peaks, default=0.0)
    within = 0 < peak <= P5_BOUND_MB
    print(f"peak RSS of a Ray worker process: {peak:.0f} MB (P5's bound {P5_BOUND_MB} MB: "
          f"{'within' if within else 'OVER'})")  # fmt: skip
    single, scaled = median(rates["one process"]), median(rates[f"{w} workers"])
    ratio = scaled / single if single and scaled else None
    print(f"median exchanges/s: one process {fmt(single)}, {w} workers {fmt(scaled)}")
    status = finish(ratio, "scale_out", args.min_ratio)
    return status if same and within else max(status, EXIT_BELOW_MIN_RATIO)


if __name__ == "__main__":
    sys.exit(main())
