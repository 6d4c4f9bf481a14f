"""The HTML report: one self-contained file that loads nothing from elsewhere.

Charts are SVG drawn at render time (report/charts.py), body differences rows of a table
(report/bodydiff.py); the one script is the page's own filters, allowed by its hash in the
page's Content-Security-Policy, which also forbids loading anything.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from collections.abc import Mapping
from typing import Any

import jinja2
from markupsafe import Markup

from apitape._version import __version__
from apitape.files import write_atomically
from apitape.models import Exchange, Outcome, Response, RunReport
from apitape.report.bodydiff import body_diff
from apitape.report.charts import latency_chart, outcome_chart, stylesheet
from apitape.report.json_report import interaction_to_dict, report_head
from apitape.report.values import shown
from apitape.verdict.groups import SEVERITIES

EXCHANGES_LISTED = 5000
"""Rows of the exchange table; a longer run lists the exchanges that did not pass."""

LATENCY_CHARTS = 40
"""Endpoints whose latency is drawn (the slower first, then by replayed p95)."""

OUTCOME_ROWS = 40
"""Endpoints in the outcome chart (the worst first); the table lists every one."""

SAMPLES = 1000
"""Durations per endpoint and side that a latency chart draws (a seeded random sample)."""

EXAMPLES_DIFFED = 200
"""Example exchanges whose bodies are shown line by line; later ones list their differences."""

FILTERS = """
(function () {
  var severity = "", endpoint = "";
  var select = document.getElementById("endpoint-filter");
  function apply() {
    var shown = 0, groups = 0;
    document.querySelectorAll("[data-endpoint]").forEach(function (el) {
      var visible = (!endpoint || el.dataset.endpoint === endpoint) &&
        (!severity || !el.hasAttribute("data-severity") || el.dataset.severity === severity);
      el.hidden = !visible;
      if (el.classList.contains("group")) { groups += 1; shown += visible ? 1 : 0; }
    });
    document.querySelectorAll("#severity-filter button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.value === severity));
    });
    document.getElementById("filter-state").textContent =
      (severity || endpoint) ? shown + " of " + groups + " groups shown" : "";
  }
  document.querySelectorAll("#severity-filter button").forEach(function (b) {
    b.addEventListener("click", function () { severity = b.value; apply(); });
  });
  select.addEventListener("change", function () { endpoint = select.value; apply(); });
  document.getElementById("filters").hidden = false;
  apply();
})();
"""
"""The page's only script: shows the groups, examples, charts and exchanges of one severity
and endpoint. Without it (scripts off) the page shows everything."""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(FILTERS.encode()).digest()).decode()
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""The page's Content-Security-Policy: the browser itself refuses to load anything."""


def html_report(
    report: RunReport, responses: Mapping[str, tuple[Exchange, Response | None]]
) -> str:
    """The report as one HTML page; `responses` gives, per exchange id, the recorded exchange
    and the replayed response, for the side-by-side examples."""
    data = report_head(report)
    example_ids = {g["examples"][0]["id"] for g in data["groups"] if g["examples"]}
    by_id: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    listed: list[dict[str, Any]] = []
    samples = _Samples()
    everything = len(report.interactions) <= EXCHANGES_LISTED
    for item in report.interactions:
        entry = interaction_to_dict(item, report.expected_from)
        _count_endpoint(rows, entry)
        # rounded as the JSON report keeps them: a page rendered again from it is the same
        samples.add(item.endpoint, _rounded(item.recorded_ms), _rounded(item.replayed_ms))
        if item.id in example_ids:
            by_id.setdefault(item.id, entry)
        if len(listed) < EXCHANGES_LISTED and (everything or item.outcome is not Outcome.PASS):
            listed.append({**entry, "worst": _worst(d["severity"] for d in entry["differences"])})
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("apitape.report", "templates"),
        autoescape=True,  # every value from a cassette or a target is text, never markup
        undefined=jinja2.StrictUndefined,
    )
    # Each example exchange is shown once, in the order groups first use it; every group
    # that uses it links to it (one exchange is often the example of several groups).
    examples: dict[str, dict[str, Any]] = {}
    groups = []
    for number, group in enumerate(data["groups"], 1):
        example_id = group["examples"][0]["id"] if group["examples"] else ""
        if example_id and example_id not in examples:
            diffed = len(examples) < EXAMPLES_DIFFED
            example = _example(by_id.get(example_id), responses.get(example_id), diffed)
            if example is not None:
                examples[example_id] = {
                    **example,
                    "anchor": f"example-{len(examples) + 1}",
                    "groups": [],
                }
        if example_id in examples:
            examples[example_id]["groups"].append(
                {"anchor": f"group-{number}", "summary": group["summary"]}
            )
        groups.append(
            {
                **group,
                "anchor": f"group-{number}",
                "shown": _shown_examples(group, examples),
                "folded": [
                    {**c, "shown": _shown_examples(c, examples)} for c in group["consequences"]
                ],
            }
        )
    verdict = (
        "regressions found"
        if data["summary"]["regressions"]
        else ("errors" if data["summary"]["errors"] else "no regression")
    )
    endpoints = _endpoints(rows)
    outcomes = outcome_chart(
        "outcome-chart",
        [(r["endpoint"], r["passed"], r["regressions"], r["errors"]) for r in endpoints][
            :OUTCOME_ROWS
        ],
    )
    latency_rows = sorted(
        data["latency"], key=lambda r: (not r["slower"], -(r["replayed_p95_ms"] or 0.0))
    )
    charts = [
        {
            "endpoint": row["endpoint"],
            "svg": Markup(
                latency_chart(
                    f"latency-{number}",
                    row["endpoint"],
                    samples.recorded.get(row["endpoint"], []),
                    samples.replayed.get(row["endpoint"], []),
                    row["slower"],
                ).svg
            ),
        }
        for number, row in enumerate(latency_rows[:LATENCY_CHARTS], 1)
    ]
    return environment.get_template("report.html.j2").render(
        verdict=verdict,
        version=__version__,
        policy=Markup(POLICY),
        script=Markup(FILTERS),
        chart_styles=Markup(stylesheet("outcomes") + "\n" + stylesheet("latency")),
        outcome_chart=Markup(outcomes.svg),
        outcome_rows=min(len(endpoints), OUTCOME_ROWS),
        latency_charts=charts,
        latency_rows=latency_rows,
        severities=SEVERITIES,
        endpoints=endpoints,
        groups=groups,
        examples=list(examples.values()),
        interactions=listed,
        unlisted=len(report.interactions) - len(listed),
        contract=data.get("contract"),  # with --openapi: the document's coverage
        **{
            k: data[k]
            for k in (
                "summary",
                "target",
                "cassettes",
                "expected_from",
                "fail_on",
                "latency",
            )
        },
    )


def _shown_examples(group: dict[str, Any], examples: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": e["id"],
            "anchor": examples[e["id"]]["anchor"] if e["id"] in examples else "",
            "expected": _show(e["expected"], e["expected_present"], group["kind"]),
            "actual": _show(e["actual"], e["actual_present"], group["kind"]),
        }
        for e in group["examples"]
    ]


def _worst(severities: Any) -> str:
    return min(severities, key=SEVERITIES.index, default="")


class _Samples:
    """Per endpoint, a seeded random sample of each side's durations (reservoir sampling):
    the same run draws the same charts, and a million exchanges take SAMPLES numbers."""

    def __init__(self) -> None:
        self.recorded: dict[str, list[float]] = {}
        self.replayed: dict[str, list[float]] = {}
        self._seen: dict[str, int] = {}
        self._random = random.Random(21)

    def add(self, endpoint: str, recorded: float | None, replayed: float | None) -> None:
        if recorded is None or replayed is None:
            return  # no answer, or no recorded time: nothing to set side by side
        seen = self._seen[endpoint] = self._seen.get(endpoint, 0) + 1
        if seen <= SAMPLES:
            self.recorded.setdefault(endpoint, []).append(recorded)
            self.replayed.setdefault(endpoint, []).append(replayed)
            return
        slot = self._random.randrange(seen)
        if slot < SAMPLES:
            self.recorded[endpoint][slot] = recorded
            self.replayed[endpoint][slot] = replayed


def _count_endpoint(rows: dict[str, dict[str, Any]], item: dict[str, Any]) -> None:
    row = rows.setdefault(
        item["endpoint"],
        {
            "endpoint": item["endpoint"],
            "total": 0,
            "passed": 0,
            "regressions": 0,
            "errors": 0,
            "worst": "",
        },
    )
    row["total"] += 1
    row["passed"] += item["outcome"] == "pass"
    row["regressions"] += item["outcome"] == "regression"
    row["errors"] += item["outcome"] == "error"
    for difference in item["differences"]:
        if not row["worst"] or SEVERITIES.index(difference["severity"]) < SEVERITIES.index(
            row["worst"]
        ):
            row["worst"] = difference["severity"]


def _endpoints(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        rows.values(),
        key=lambda r: (SEVERITIES.index(r["worst"]) if r["worst"] else 9, r["endpoint"]),
    )


def _example(
    item: dict[str, Any] | None, pair: tuple[Exchange, Response | None] | None, diffed: bool
) -> dict[str, Any] | None:
    if item is None or pair is None:
        return None
    exchange, replayed = pair
    return {
        "id": item["id"],
        "method": item["method"],
        "url": item["url"],
        "endpoint": item["endpoint"],
        "worst": _worst(d["severity"] for d in item["differences"]),
        "diff": body_diff(exchange.response.body, replayed.body if replayed else b"")
        if diffed
        else None,
        "expected_status": exchange.response.status,
        "actual_status": replayed.status if replayed else "-",
        "differences": [
            {
                **d,
                "expected": _show(d["expected"], d["expected_present"], d["kind"]),
                "actual": _show(d["actual"], d["actual_present"], d["kind"]),
            }
            for d in item["differences"]
        ],
    }


def _show(value: Any, present: bool, kind: str) -> str:
    if kind == "latency_increased" and isinstance(value, float):
        value = round(value, 1)  # milliseconds of latency need no more; other numbers do
    return shown(value, present)


def write_html_report(report: RunReport, path: str | os.PathLike[str]) -> None:
    """Write the HTML report atomically, with the example exchanges the report carries."""
    write_atomically(path, html_report(report, report.examples), "the HTML report")


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 3)
