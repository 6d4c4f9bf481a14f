#!/usr/bin/env python3
"""Record a real session from each service and replay it against a fresh instance of the same
version; print what apitape reports.

    APITAPE=/path/to/apitape python tests/realworld/run_testbed.py [--service NAME ...] [--out DIR]

Services live in the services venv / node dir (tests/realworld/README.md; build them with
tests/realworld/build_env.py). Writes OUT/NAME/{cassette.yaml,report.json,summary.json,*.log}
and OUT/summary.json; exits 0 when every service replayed with 0 regressions and 0 errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c
import services


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--service",
        action="append",
        choices=sorted(services.ALL),
        help="run only this service (repeatable); default: all",
    )
    ap.add_argument("--out", default="testbed-out", help="output directory (default ./testbed-out)")
    ap.add_argument(
        "--no-redact",
        action="store_true",
        help="record with --no-redact and replay without --secret (diagnosis)",
    )
    ap.add_argument("--details", action="store_true", help="print every differing group")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = args.service or list(services.ALL)
    print(f"apitape: {' '.join(c.apitape_cmd())}")
    print(f"services venv: {c.services_venv()}   node: {c.node_dir()}")
    results = []
    t0 = time.monotonic()
    for name in names:
        svc = services.ALL[name]
        why = svc.available()
        if why:
            print(f"{name}: SKIPPED: {why}")
            results.append({"service": name, "skipped": why})
            continue
        print(f"{name}: recording and replaying ...", flush=True)
        r = c.run_flow(svc, out, redact=not args.no_redact)
        results.append(r)
        s = r.get("summary", {})
        print(
            f"{name}: {r.get('exchanges')} exchanges, {s.get('regressions')} regressions, "
            f"{s.get('errors')} errors, exit {r.get('replay_exit')} ({r['seconds']} s)"
        )
        if args.details or r.get("harness_error"):
            print(c.format_groups(r))
    total = round(time.monotonic() - t0, 1)
    (out / "summary.json").write_text(
        json.dumps({"seconds": total, "results": results}, indent=2, default=str)
    )
    print()
    print(
        f"{'service':<12} {'exchanges':>9} {'total':>6} {'passed':>6} {'regress':>7} "
        f"{'errors':>6} {'exit':>4}  note"
    )
    ok = True
    for r in results:
        if "skipped" in r:
            print(
                f"{r['service']:<12} {'-':>9} {'-':>6} {'-':>6} {'-':>7} {'-':>6} {'-':>4}  skipped"
            )
            continue
        s = r.get("summary", {})
        note = r.get("harness_error", "")
        print(
            f"{r['service']:<12} {r.get('exchanges', '?'):>9} {s.get('total', '?'):>6} "
            f"{s.get('passed', '?'):>6} {s.get('regressions', '?'):>7} {s.get('errors', '?'):>6} "
            f"{r.get('replay_exit', '?'):>4}  {note}"
        )
        if r.get("replay_exit") != 0 or note:
            ok = False
    print(f"\n{total} s; reports under {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
