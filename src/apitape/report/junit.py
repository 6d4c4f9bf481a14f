"""JUnit XML: one test case per endpoint (or per exchange), as CI systems display tests.

A case fails with the grouped differences when any of its exchanges regressed, errors when
any could not be replayed, and takes the replayed time of its exchanges.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from apitape.files import write_atomically
from apitape.models import InteractionReport, Outcome, RunReport
from apitape.report.values import shown
from apitape.verdict.groups import group_differences, report_groups


def junit_xml(report: RunReport, per_exchange: bool = False) -> str:
    """The report as a JUnit XML document (one `testsuite` named after the target)."""
    cases: dict[str, _Case] = {}
    for item in report.interactions:
        name = f"#{item.id} {item.method} {item.url}" if per_exchange else item.endpoint
        case = cases.get(name)
        if case is None:
            case = cases[name] = _Case(item.endpoint, keep_items=per_exchange)
        case.add(item)
    groups = report_groups(report)
    suite = ET.Element(
        "testsuite",
        name=f"apitape replay against {report.target}",
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases.values() if c.failed and not c.errors)),
        errors=str(sum(1 for c in cases.values() if c.errors)),
        skipped="0",
        time=_seconds(sum(c.replayed_ms for c in cases.values())),
    )
    for name, case in cases.items():
        element = ET.SubElement(
            suite, "testcase", classname=case.endpoint, name=name, time=_seconds(case.replayed_ms)
        )
        if case.errors:
            error = ET.SubElement(
                element, "error", message=f"{len(case.errors)} exchange(s) got no answer"
            )
            error.text = "\n".join(case.errors)
        elif case.failed:
            mine = (
                group_differences(case.items)
                if per_exchange
                else [g for g in groups if g.endpoint == case.endpoint]
            )
            failure = ET.SubElement(
                element, "failure", message=mine[0].summary if mine else "regression"
            )
            failure.text = "\n".join(
                line
                for g in mine
                for e in g.examples[:1]
                for line in (
                    f"[{g.severity}] {g.summary}; e.g. #{e.id}: "
                    f"{shown(e.expected, e.expected_present)} -> "
                    f"{shown(e.actual, e.actual_present)}",
                    *g.folded(),
                )
            )
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


class _Case:
    """One test case: an endpoint's exchanges (or one exchange), summed up as they come."""

    def __init__(self, endpoint: str, keep_items: bool) -> None:
        self.endpoint = endpoint
        self.keep_items = keep_items
        self.replayed_ms = 0.0
        self.failed = False
        self.errors: list[str] = []
        # One-exchange cases group their own differences; endpoint cases use the report's.
        self.items: list[InteractionReport] = []

    def add(self, item: InteractionReport) -> None:
        # to the microsecond, as the JSON report keeps it: `apitape report` sums the same times
        self.replayed_ms += round(item.replayed_ms or 0.0, 3)
        if item.outcome is Outcome.ERROR:
            self.errors.append(f"#{item.id} {item.method} {item.url}: {item.error}")
        elif item.outcome is Outcome.REGRESSION:
            self.failed = True
        if self.keep_items:
            self.items.append(item)


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000.0:.3f}"


def write_junit(
    report: RunReport, path: str | os.PathLike[str], per_exchange: bool = False
) -> None:
    """Write the JUnit XML atomically."""
    write_atomically(path, junit_xml(report, per_exchange), "the JUnit report")
