"""The HTML report: one self-contained file (no scripts, styles or fonts from elsewhere)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

import jinja2

from apitape._version import __version__
from apitape.files import write_atomically
from apitape.models import Exchange, Outcome, Response, RunReport
from apitape.report.json_report import interaction_to_dict, report_head
from apitape.report.values import shown
from apitape.verdict.groups import SEVERITIES

BODY_SHOWN = 4000
"""Characters of a body the side-by-side view shows."""

EXCHANGES_LISTED = 5000
"""Rows of the exchange table; a longer run lists the exchanges that did not pass."""


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
    everything = len(report.interactions) <= EXCHANGES_LISTED
    for item in report.interactions:
        entry = interaction_to_dict(item, report.expected_from)
        _count_endpoint(rows, entry)
        if item.id in example_ids:
            by_id.setdefault(item.id, entry)
        if len(listed) < EXCHANGES_LISTED and (everything or item.outcome is not Outcome.PASS):
            listed.append(entry)
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
            example = _example(by_id.get(example_id), responses.get(example_id))
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
                "shown": [
                    {
                        "id": e["id"],
                        "anchor": examples[e["id"]]["anchor"] if e["id"] in examples else "",
                        "expected": _show(e["expected"], e["expected_present"], group["kind"]),
                        "actual": _show(e["actual"], e["actual_present"], group["kind"]),
                    }
                    for e in group["examples"]
                ],
            }
        )
    verdict = (
        "regressions found"
        if data["summary"]["regressions"]
        else ("errors" if data["summary"]["errors"] else "no regression")
    )
    return environment.get_template("report.html.j2").render(
        verdict=verdict,
        version=__version__,
        endpoints=_endpoints(rows),
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


def _count_endpoint(rows: dict[str, dict[str, Any]], item: dict[str, Any]) -> None:
    row = rows.setdefault(
        item["endpoint"],
        {"endpoint": item["endpoint"], "total": 0, "regressions": 0, "errors": 0, "worst": ""},
    )
    row["total"] += 1
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
    item: dict[str, Any] | None, pair: tuple[Exchange, Response | None] | None
) -> dict[str, Any] | None:
    if item is None or pair is None:
        return None
    exchange, replayed = pair
    return {
        "id": item["id"],
        "method": item["method"],
        "url": item["url"],
        "expected_status": exchange.response.status,
        "actual_status": replayed.status if replayed else "-",
        "expected_body": _body(exchange.response.body),
        "actual_body": _body(replayed.body) if replayed else "",
        "differences": [
            {
                **d,
                "expected": _show(d["expected"], d["expected_present"], d["kind"]),
                "actual": _show(d["actual"], d["actual_present"], d["kind"]),
            }
            for d in item["differences"]
        ],
    }


def _body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(body)} bytes of binary)"
    with contextlib.suppress(ValueError):  # pretty JSON where it is JSON, else as it is
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return (
        text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + f"\n... ({len(text)} characters)"
    )


def _show(value: Any, present: bool, kind: str) -> str:
    if kind == "latency_increased" and isinstance(value, float):
        value = round(value, 1)  # milliseconds of latency need no more; other numbers do
    return shown(value, present)


def write_html_report(report: RunReport, path: str | os.PathLike[str]) -> None:
    """Write the HTML report atomically, with the example exchanges the report carries."""
    write_atomically(path, html_report(report, report.examples), "the HTML report")
