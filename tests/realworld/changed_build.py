#!/usr/bin/env python3
"""The changed-build half of the real-service test bed: a session recorded from an OLD version
of a service, replayed against the NEW version, must report every difference an independent
direct comparison finds, and nothing else.

    APITAPE=.venv/bin/apitape python tests/realworld/changed_build.py [--service moto ...] [--out DIR]

For each service of services.CHANGED_BUILD (old version in the old-services venv, new version
in the services venv; build_env.py builds both):

1. the oracle (oracle.py, no apitape): the real client session run through a logging proxy of
   our own against fresh instances old A1, old A2 and new B; the fields that differ A1 -> B but
   not A1 -> A2, grouped by (endpoint, field, kind);
2. apitape: `apitape record` in front of a fresh old instance while the same session runs,
   then `apitape replay --report-json` against a fresh new instance (rw_common.run_flow, with
   the same --secret / --redact-key-file handling as the same-version half);
3. the comparison: matched, MISSED (only the oracle found it), FALSE (only apitape reported
   it), printed and written to OUT/changed-build.json. The matching rules are printed too.

Exits 0 when nothing was missed and nothing was false for every service that ran.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_env
import oracle
import rw_common as c
import services

MATCHING_RULES = """\
Matching rules (oracle vs apitape):
- Exchanges: the oracle's old run A1 and apitape's recording are two runs of the same client
  session; they are aligned in order by (method, path template, query names), the path
  template turning id-like segments (digits, hex of 16+, UUIDs, tokens of 24+) into {id}.
- Endpoint: an oracle difference is named by the apitape endpoint of the recorded exchange it
  aligns with (`interactions[].endpoint` in the JSON report); one with no aligned exchange
  keeps the oracle's own template, prefixed `oracle:` (and so cannot match).
- Field: list indices become [*] on both sides (apitape's groups already write `[*]`; the
  oracle's indexed `$.items[3].x` becomes `$.items[*].x`). `status`, `headers.NAME` (lower
  case) and JSON paths are compared as written; any difference in an XML, HTML, text or
  binary body is the field `body`, as apitape compares such bodies whole.
- Kind: equal kinds only (status_changed, header_*, value_changed, type_changed, field_*,
  item_*, body_changed, body_format_changed).
- A difference is (endpoint, field, kind). matched = found by both; MISSED = only the oracle
  found it; FALSE = only apitape reported it (one of its `groups`). apitape's `latency` groups
  are left out (the oracle does not time answers).
- Also shown, not judged: the same per exchange, (recorded exchange id, field, kind), against
  `interactions[].differences` (x-missed, x-false columns).
"""


def old_venv() -> Path:
    return build_env.old_services_venv()


@contextlib.contextmanager
def _venv(venv: Path):
    """Service.start() finds its server under $APITAPE_TESTBED_VENV: point it elsewhere."""
    before = os.environ.get("APITAPE_TESTBED_VENV")
    os.environ["APITAPE_TESTBED_VENV"] = str(venv)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("APITAPE_TESTBED_VENV", None)
        else:
            os.environ["APITAPE_TESTBED_VENV"] = before


def installed_version(venv: Path, dist: str) -> str | None:
    try:
        p = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                f"import importlib.metadata as m; print(m.version({dist!r}))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return None
    return p.stdout.strip() or None


class TwoVersions:
    """A service whose instance A (run_flow's first start, workdir `a`) is the old version and
    whose instance B is the new one; everything else is the service's own."""

    def __init__(self, svc: c.Service, old: Path, new: Path):
        self._svc, self._old, self._new = svc, old, new

    def __getattr__(self, name):
        return getattr(self._svc, name)

    def start(self, workdir: Path) -> c.Instance:
        return start_version(self._svc, self._old if workdir.name == "a" else self._new, workdir)


def start_version(svc: c.Service, venv: Path, workdir: Path) -> c.Instance:
    with _venv(venv):
        return svc.start(workdir)


def available(name: str) -> str | None:
    svc = services.ALL[name]
    why = svc.available()
    if why:
        return why
    want = services.CHANGED_BUILD[name]
    dist = {"moto": "moto", "pypiserver": "pypiserver"}.get(name, name)
    for venv, version in ((old_venv(), want["old"]), (c.services_venv(), want["new"])):
        got = installed_version(venv, dist)
        if got != version:
            return f"{dist} {version} wanted in {venv}, found {got} (build: build_env.py)"
    return None


# --- the comparison ------------------------------------------------------------------------------


def _iter_path(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return u.path + (f"?{u.query}" if u.query else "")


def align_to_report(a1: list[oracle.Exchange], interactions: list[dict]) -> dict[int, dict]:
    """A1 index -> the report's interaction for the recorded exchange in the same place."""
    ka = [oracle.template(e.method, e.path) for e in a1]
    kb = [oracle.template(it["method"], _iter_path(it["url"])) for it in interactions]
    out: dict[int, dict] = {}
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                out[i] = interactions[j]
    return out


def compare(oracle_result: dict, a1: list[oracle.Exchange], report: dict) -> dict:
    interactions = report.get("interactions", [])
    aligned = align_to_report(a1, interactions)
    ours: dict[tuple[str, str, str], dict] = {}
    for d in oracle_result["differences"]:
        it = aligned.get(d["a1_index"])
        endpoint = it["endpoint"] if it else f"oracle:{d['endpoint']}"
        key = (endpoint, oracle.generalize(d["field"]), d["kind"])
        g = ours.setdefault(key, {"exchanges": [], "examples": []})
        xid = it["id"] if it else None
        if xid not in g["exchanges"]:
            g["exchanges"].append(xid)
        if len(g["examples"]) < 3:
            g["examples"].append(
                {
                    "a1_index": d["a1_index"],
                    "apitape_id": xid,
                    "request": f"{d['method']} {d['path']}",
                    "field": d["field"],
                    "old": d["old"],
                    "new": d["new"],
                    **({"detail": d["detail"]} if d["detail"] else {}),
                }
            )
    theirs: dict[tuple[str, str, str], dict] = {}

    def every_group(groups: list[dict]) -> list[dict]:
        # A cause (a status or content-type change) leads and folds the body differences it
        # brings under `consequences`: they are reported too, one level down.
        return [x for g in groups for x in (g, *every_group(g.get("consequences", [])))]

    for g in every_group(report.get("groups", [])):
        if g.get("path") == "latency":
            continue
        key = (g["endpoint"], oracle.generalize(g["path"]), g["kind"])
        theirs[key] = {
            "count": g.get("count"),
            "total": g.get("total"),
            "severity": g.get("severity"),
            "summary": g.get("summary"),
            "examples": g.get("examples", [])[:3],
        }

    def row(key, src):
        return {"endpoint": key[0], "field": key[1], "kind": key[2], **src}

    matched = [
        {
            "endpoint": k[0],
            "field": k[1],
            "kind": k[2],
            "oracle": ours[k],
            "apitape": theirs[k],
        }
        for k in sorted(set(ours) & set(theirs))
    ]
    missed = [row(k, ours[k]) for k in sorted(set(ours) - set(theirs))]
    false = [row(k, theirs[k]) for k in sorted(set(theirs) - set(ours))]
    # the same at the level of single exchanges (informative: a group can match while one
    # of its exchanges differs for another reason)
    ours_x = {
        (aligned[d["a1_index"]]["id"], oracle.generalize(d["field"]), d["kind"])
        for d in oracle_result["differences"]
        if d["a1_index"] in aligned
    }
    theirs_x = {
        (it["id"], oracle.generalize(x["path"]), x["kind"])
        for it in interactions
        for x in it.get("differences", [])
        if x.get("path") != "latency"
    }
    exchange_level = {
        "matched": len(ours_x & theirs_x),
        "missed": sorted(ours_x - theirs_x),
        "false": sorted(theirs_x - ours_x),
    }
    errors = [
        {"id": it["id"], "request": f"{it['method']} {it['url']}", "error": it.get("error")}
        for it in interactions
        if it.get("outcome") == "error"
    ]
    return {
        "matched": matched,
        "missed": missed,
        "false": false,
        "exchange_level": exchange_level,
        "apitape_errors": errors,
        "oracle_unaligned": oracle_result["unaligned"],
        "aligned_exchanges": len(aligned),
        "a1_exchanges": len(a1),
        "recorded_exchanges": len(interactions),
    }


# --- one service ---------------------------------------------------------------------------------


def run_service(name: str, out: Path) -> dict:
    svc = services.ALL[name]
    versions = services.CHANGED_BUILD[name]
    sdir = out / name
    if sdir.exists():
        shutil.rmtree(sdir)
    sdir.mkdir(parents=True)
    t0 = time.monotonic()
    result: dict = {"service": name, **versions, "old_venv": str(old_venv())}
    scratch = Path(tempfile.mkdtemp(prefix=f"apitape-cb-{name}-"))
    try:
        # 1. the oracle: old A1, old A2, new B, each a fresh instance, no apitape anywhere
        orc = oracle.run_oracle(
            lambda wd: start_version(svc, old_venv(), wd),
            lambda wd: start_version(svc, c.services_venv(), wd),
            svc.run_session,
            scratch / "oracle",
        )
        for run in ("a1", "a2", "b"):
            src = scratch / "oracle" / run / "session.log"
            if src.exists():
                shutil.copy(src, sdir / f"oracle-{run}-session.log")
            shutil.copy(scratch / "oracle" / f"{run}.exchanges.json", sdir)
        (sdir / "oracle.json").write_text(json.dumps(orc, indent=2, default=str))
        result["oracle_runs"] = orc["runs"]
        result["oracle_noise_dropped"] = orc["noise_dropped"]
        bad = [k for k, v in orc["runs"].items() if v.get("session_exit") != 0]
        if bad:
            result["harness_error"] = f"oracle session failed in run(s) {bad}; see {sdir}"
        # 2. apitape: record from a fresh old instance, replay against a fresh new one
        flow = c.run_flow(TwoVersions(svc, old_venv(), c.services_venv()), sdir / "apitape")
        result["apitape"] = {
            k: flow.get(k)
            for k in (
                "exchanges",
                "session_exit",
                "record_exit",
                "replay_exit",
                "replay_command",
                "record_command",
                "summary",
                "report",
                "harness_error",
            )
        }
        if flow.get("harness_error"):
            result["harness_error"] = f"apitape flow: {flow['harness_error']}"
        report = json.loads(Path(flow["report"]).read_text())
        # 3. the comparison
        a1 = oracle.load(scratch / "oracle" / "a1.exchanges.json")
        result.update(compare(orc, a1, report))
        result["oracle_differences"] = len(orc["differences"])
    except Exception as e:  # report, don't crash; every process is stopped by its owner
        result["harness_error"] = f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - t0, 1)
    (sdir / "changed-build.json").write_text(json.dumps(result, indent=2, default=str))
    return result


# --- printing ------------------------------------------------------------------------------------


def _short(v, n: int = 90) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    s = s.replace("\n", "\\n")
    return s if len(s) <= n else s[:n] + "..."


def format_result(r: dict) -> str:
    lines = []
    for title, key in (("matched", "matched"), ("MISSED", "missed"), ("FALSE", "false")):
        items = r.get(key, [])
        lines.append(f"  {title} ({len(items)}):")
        for it in items:
            lines.append(f"    {it['endpoint']}  {it['field']}  {it['kind']}")
            if key == "matched":
                ex = it["oracle"]["examples"][0]
                lines.append(
                    f"      oracle #{ex['apitape_id']}: {_short(ex['old'])} -> {_short(ex['new'])}"
                    + (f"  [{ex['detail']}]" if ex.get("detail") else "")
                )
            elif key == "missed":
                for ex in it["examples"][:2]:
                    lines.append(
                        f"      A1 exchange {ex['a1_index']} ({ex['request'][:70]}), recorded "
                        f"#{ex['apitape_id']}: {ex['field']} {_short(ex['old'])} -> "
                        f"{_short(ex['new'])}" + (f"  [{ex['detail']}]" if ex.get("detail") else "")
                    )
            else:
                lines.append(f"      {it.get('summary')}")
                for ex in it.get("examples", [])[:2]:
                    lines.append(
                        f"      #{ex.get('id')}: {_short(ex.get('expected'))} -> "
                        f"{_short(ex.get('actual'))}"
                    )
    xl = r.get("exchange_level", {})
    for key in ("missed", "false"):
        if xl.get(key):
            lines.append(
                f"  exchange level, {key} (#id, field, kind): "
                + "; ".join(f"#{i} {p} {k}" for i, p, k in xl[key][:12])
            )
    for u in r.get("oracle_unaligned", []):
        lines.append(f"  unaligned ({u['side']}): {u['method']} {u['path']}")
    for e in r.get("apitape_errors", []):
        lines.append(f"  apitape error #{e['id']} {e['request']}: {e['error']}")
    if r.get("harness_error"):
        lines.append(f"  [harness] {r['harness_error']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--service", action="append", choices=sorted(services.CHANGED_BUILD), help="repeatable"
    )
    ap.add_argument("--out", default="testbed-out/changed", help="default ./testbed-out/changed")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"apitape: {' '.join(c.apitape_cmd())}")
    print(f"services venv (new): {c.services_venv()}   old-services venv: {old_venv()}")
    print(MATCHING_RULES)
    t0 = time.monotonic()
    results = []
    for name in args.service or list(services.CHANGED_BUILD):
        why = available(name)
        if why:
            print(f"{name}: SKIPPED: {why}")
            results.append({"service": name, "skipped": why})
            continue
        v = services.CHANGED_BUILD[name]
        print(f"{name}: oracle (old {v['old']} x2, new {v['new']}), then apitape ...", flush=True)
        r = run_service(name, out)
        results.append(r)
        print(f"{name} {v['old']} -> {v['new']} ({r['seconds']} s):")
        print(format_result(r), flush=True)
    total = round(time.monotonic() - t0, 1)
    (out / "changed-build.json").write_text(
        json.dumps(
            {"seconds": total, "matching_rules": MATCHING_RULES, "results": results},
            indent=2,
            default=str,
        )
    )
    print()
    print(
        f"{'service':<11} {'old -> new':<16} {'exch':>9} {'oracle':>6} {'apitape':>7} "
        f"{'matched':>7} {'MISSED':>6} {'FALSE':>5} {'errors':>6} {'x-missed':>8} {'x-false':>7}  note"
    )
    ok = True
    for r in results:
        if "skipped" in r:
            print(f"{r['service']:<11} skipped: {r['skipped']}")
            continue
        m, mi, f = (len(r.get(k, [])) for k in ("matched", "missed", "false"))
        xl = r.get("exchange_level", {})
        exch = f"{r.get('a1_exchanges', '?')}/{r.get('recorded_exchanges', '?')}"
        print(
            f"{r['service']:<11} {r['old'] + ' -> ' + r['new']:<16} {exch:>9} "
            f"{m + mi:>6} {m + f:>7} {m:>7} {mi:>6} {f:>5} "
            f"{len(r.get('apitape_errors', [])):>6} {len(xl.get('missed', [])):>8} "
            f"{len(xl.get('false', [])):>7}  {r.get('harness_error', '')}"
        )
        if mi or f or r.get("harness_error"):
            ok = False
    print(
        "\nexch = oracle A1 exchanges / recorded exchanges; oracle, apitape = their "
        "(endpoint, field, kind) differences"
    )
    print(f"{total} s; {out / 'changed-build.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
