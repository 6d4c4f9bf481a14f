#!/usr/bin/env python3
"""Cassette loading: apitape's YAML loader vs. vcrpy's on the same file, and JSON lines.

Generates N realistic exchanges (GET with 5 request headers, a 200 with 4 headers and a
compact JSON body of about 1 KB, as in the research's yaml_bench), writes them with
apitape's own writers as `c.yaml` and `c.jsonl`, then measures, each in a fresh process
(imports done before the clock starts), interleaved for several rounds:

  A. `apitape.cassette.store.load_cassette("c.yaml")`
  B. vcrpy's loader on the same file: the file read, then
     `vcr.serialize.deserialize(text, vcr.serializers.yamlserializer)` (what vcrpy's
     `Cassette.load` calls after reading the file; it builds vcrpy's requests/responses)
  C. `apitape.cassette.store.load_cassette("c.jsonl")`

The printed ratio is median B / median A (target >= 1.3); the JSON-lines ratio is
(1 s per 10,000 exchanges) / median C (target >= 1: 10k exchanges in <= 1 s). Also printed:
CPU seconds, writing times, and the peak RSS of streaming each file with `iter_exchanges`
against loading it whole and against a process that only imports.

    .venv/bin/python benchmarks/cassette_load.py [--exchanges 10000] [--rounds 3]
        [--min-ratio 1.3] [--min-jsonl-ratio 1.0]

Exit status: 0 after printing; 1 if --min-ratio or --min-jsonl-ratio is given and a ratio
is below it (or a loader returned the wrong number of exchanges); 2 if apitape, vcrpy or
PyYAML's libyaml binding is missing; 3 if the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXIT_BELOW_MIN_RATIO,
    EXIT_MISSING_TOOL,
    EXIT_OK,
    BenchmarkError,
    fmt,
    interleaved,
    machine_line,
    median,
    require_import,
    run_in_tempdir,
    series,
)

if TYPE_CHECKING:
    from apitape.models import Exchange

APITAPE_YAML, VCRPY_YAML, APITAPE_JSONL = "apitape-yaml", "vcrpy-yaml", "apitape-jsonl"
STREAM_YAML, STREAM_JSONL, IMPORT_ONLY = "iter-yaml", "iter-jsonl", "import-only"
CREATED = "2026-11-24T10:00:00.000000Z"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exchanges", type=int, default=10_000, help="exchanges per cassette (default 10000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of A, B, C (default 3)"
    )
    parser.add_argument(
        "--min-ratio", type=float, help="exit 1 when vcrpy time / apitape YAML time is below"
    )
    parser.add_argument(
        "--min-jsonl-ratio",
        type=float,
        help="exit 1 when (1 s per 10k exchanges) / apitape JSONL time is below",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (cassettes)")
    parser.add_argument("--child", nargs=2, metavar=("OP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.exchanges, args.rounds) < 1:
        parser.error("--exchanges and --rounds must be at least 1")
    return args


# --------------------------------------------------------------------------- child process


def child(op: str, path: str) -> int:
    """Run one measured operation in this (fresh) process and print its numbers as JSON."""
    from apitape.cassette import iter_exchanges, load_cassette

    if op == VCRPY_YAML:
        from vcr.serialize import deserialize
        from vcr.serializers import yamlserializer
    peak_was_reset = reset_peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    if op in (APITAPE_YAML, APITAPE_JSONL):
        count = len(load_cassette(path).exchanges)
    elif op == VCRPY_YAML:
        with open(path, encoding="utf-8") as handle:
            requests, _responses = deserialize(handle.read(), yamlserializer)[:2]
        count = len(requests)
    elif op in (STREAM_YAML, STREAM_JSONL):
        count = sum(1 for _ in iter_exchanges(path))
    else:
        count = 0
    result = {
        "count": count,
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "rss_mib": peak_rss_mib(),
        "rss_since_start": float(peak_was_reset),
    }
    print(json.dumps(result))
    return EXIT_OK


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so it covers only what follows: imports can
    peak higher than a streamed load, and would hide it. Linux only; False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """The process's peak RSS in MiB: VmHWM (since the reset), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(op: str, path: Path) -> dict[str, float]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", op, str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"{op} on {path.name} failed ({done.returncode}):\n{done.stderr}")
    numbers: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return numbers


# --------------------------------------------------------------------------- parent


def exchanges(n: int) -> Iterator[Exchange]:
    """N exchanges like a recorded JSON API: varied ids, titles and prices, ~1 KB bodies."""
    from apitape.models import Exchange, Request, Response

    rnd = random.Random(7)
    for i in range(1, n + 1):
        body = {
            "id": i,
            "title": f"Book {i}",
            "authors": [{"id": rnd.randrange(10**6), "name": f"Author {j}"} for j in range(3)],
            "price": round(rnd.uniform(1, 100), 2),
            "tags": [f"tag{rnd.randrange(50)}" for _ in range(8)],
            "description": "".join(rnd.choices("abcdefghij ", k=560)),
            "updated_at": CREATED,
            "in_stock": rnd.random() < 0.8,
        }
        data = json.dumps(body, separators=(",", ":")).encode()
        request = Request(
            "GET",
            f"http://staging.example:8000/books/{i}?expand=authors",
            (
                ("Host", "staging.example:8000"),
                ("User-Agent", "python-httpx/0.28.1"),
                ("Accept", "application/json"),
                ("Accept-Encoding", "gzip, deflate"),
                ("X-Request-Id", f"req-{i:08d}"),
            ),
        )
        response = Response(
            200,
            "OK",
            (
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("Date", "Tue, 24 Nov 2026 10:00:00 GMT"),
                ("Server", "uvicorn"),
            ),
            data,
        )
        yield Exchange(str(i), request, response, CREATED, 3.25, "127.0.0.1:50000", "conn-1")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(*args.child)
    for module in ("apitape", "yaml", "vcr"):
        require_import(module)
    import importlib.metadata

    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        print("missing: PyYAML's libyaml binding (yaml.CSafeLoader)", file=sys.stderr)
        return EXIT_MISSING_TOOL
    print(
        machine_line(
            {
                "apitape": importlib.metadata.version("apitape"),
                "vcrpy": importlib.metadata.version("vcrpy"),
                "pyyaml": yaml.__version__,
                "orjson": _version("orjson"),
            }
        )
    )
    print(f"settings: {args.exchanges} exchanges, {args.rounds} interleaved rounds")
    return run_in_tempdir("apitape-bench-cassette-", args.keep_tmp, lambda tmp: run(args, tmp))


def _version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed (json fallback)"


def run(args: argparse.Namespace, tmp: Path) -> int:
    from apitape.cassette import write_cassette

    n = args.exchanges
    paths = {"yaml": tmp / "c.yaml", "jsonl": tmp / "c.jsonl"}
    generated = list(exchanges(n))
    for path in paths.values():
        t0 = time.perf_counter()
        write_cassette(path, generated, CREATED)
        took = time.perf_counter() - t0
        print(
            f"wrote {path.name}: {path.stat().st_size / 1e6:.1f} MB in {took:.2f} s "
            f"(apitape's writer, {took / n * 1e6:.0f} us/exchange)"
        )

    files = {APITAPE_YAML: paths["yaml"], VCRPY_YAML: paths["yaml"], APITAPE_JSONL: paths["jsonl"]}
    runs: dict[str, list[dict[str, float]]] = {op: [] for op in files}
    print(f"{'round':>5} {'loader':>14} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}")
    for rnd, op in interleaved(list(files), args.rounds):
        numbers = measure(op, files[op])
        runs[op].append(numbers)
        print(
            f"{rnd + 1:>5} {op:>14} {numbers['seconds']:>8.3f} {numbers['cpu']:>8.3f} "
            f"{numbers['rss_mib']:>13.0f}",
            flush=True,
        )
    memory = {
        op: measure(op, path)
        for op, path in (
            (IMPORT_ONLY, paths["yaml"]),
            (STREAM_YAML, paths["yaml"]),
            (STREAM_JSONL, paths["jsonl"]),
        )
    }

    wrong = {op: r["count"] for op, rs in runs.items() for r in rs if r["count"] != n}
    wrong.update(
        {op: r["count"] for op, r in memory.items() if op != IMPORT_ONLY and r["count"] != n}
    )
    walls = {op: [r["seconds"] for r in rs] for op, rs in runs.items()}
    apitape_s, vcrpy_s, jsonl_s = (median(walls[op]) for op in files)
    assert apitape_s and vcrpy_s and jsonl_s
    # the target is 1 s per 10,000 exchanges, so the ratio means the same for any --exchanges
    ratio, jsonl_ratio = vcrpy_s / apitape_s, (n / 10_000) / jsonl_s
    per_round = [v / a for a, v in zip(walls[APITAPE_YAML], walls[VCRPY_YAML], strict=True)]

    print()
    for op in files:
        print(series(f"{op} load of {n} exchanges, wall s", walls[op], 3))
        print(series(f"{op} load of {n} exchanges, cpu s ", [r["cpu"] for r in runs[op]], 3))
    print(series("per-round ratios (vcrpy / apitape YAML)", per_round, 3))
    cpu = {op: median([r["cpu"] for r in rs]) for op, rs in runs.items()}
    print(
        f"CPU-time ratio (median vcrpy cpu s / median apitape YAML cpu s, less sensitive to a "
        f"busy machine): {(cpu[VCRPY_YAML] or 0) / (cpu[APITAPE_YAML] or 1):.3f}"
    )
    rss = {op: median([r["rss_mib"] for r in rs]) for op, rs in runs.items()}
    since = "since the load started" if memory[IMPORT_ONLY]["rss_since_start"] else "of the process"
    print(
        f"peak RSS MiB ({since}, imports included): "
        f"import only {memory[IMPORT_ONLY]['rss_mib']:.0f}; "
        f"iter_exchanges YAML {memory[STREAM_YAML]['rss_mib']:.0f}, "
        f"JSONL {memory[STREAM_JSONL]['rss_mib']:.0f}; load_cassette YAML "
        f"{fmt(rss[APITAPE_YAML])}, JSONL {fmt(rss[APITAPE_JSONL])}; vcrpy {fmt(rss[VCRPY_YAML])}"
    )
    print(
        f"streaming times (once): iter_exchanges YAML {memory[STREAM_YAML]['seconds']:.3f} s, "
        f"JSONL {memory[STREAM_JSONL]['seconds']:.3f} s"
    )
    if wrong:
        print(f"FAIL: loaders returned the wrong number of exchanges: {wrong} (expected {n})")
    print(f"ratio (YAML load, median vcrpy s / median apitape s): {ratio:.3f} (target >= 1.3)")
    print(
        f"JSON-lines ratio (1 s per 10,000 exchanges / median apitape JSONL load s of {n}): "
        f"{jsonl_ratio:.3f} (target >= 1, i.e. 10k exchanges in <= 1 s)"
    )
    print(
        f"RESULT cassette_load ratio={ratio:.3f} jsonl_ratio={jsonl_ratio:.3f}"
        + (f" min_ratio={args.min_ratio:g}" if args.min_ratio is not None else "")
        + (f" min_jsonl_ratio={args.min_jsonl_ratio:g}" if args.min_jsonl_ratio is not None else "")
    )
    below = [
        f"{name} {value:.3f} is below {limit:g}"
        for name, value, limit in (
            ("ratio", ratio, args.min_ratio),
            ("jsonl_ratio", jsonl_ratio, args.min_jsonl_ratio),
        )
        if limit is not None and value < limit
    ]
    gated = args.min_ratio is not None or args.min_jsonl_ratio is not None
    if below or (wrong and gated):
        for line in below:
            print(f"FAIL: {line}", file=sys.stderr)
        return EXIT_BELOW_MIN_RATIO
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
