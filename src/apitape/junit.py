"""JUnit XML: one test case per endpoint (or per exchange), as CI systems display tests.

A case fails with the grouped differences when any of its exchanges regressed, errors when
any could not be replayed, and takes the replayed time of its exchanges.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from apitape.files import write_atomically
from apitape.groups import group_differences
from apitape.models import InteractionReport, Outcome, RunReport


def junit_xml(report: RunReport, per_exchange: bool = False) -> str:
    """The report as a JUnit XML document (one `testsuite` named after the target)."""
    cases: dict[str, list[InteractionReport]] = {}
    for item in report.interactions:
        name = f"#{item.id} {item.method} {item.url}" if per_exchange else item.endpoint
        cases.setdefault(name, []).append(item)
    suite = ET.Element(
        "testsuite",
        name=f"apitape replay against {report.target}",
        tests=str(len(cases)),
        failures=str(sum(1 for items in cases.values() if _failed(items) and not _errored(items))),
        errors=str(sum(1 for items in cases.values() if _errored(items))),
        skipped="0",
        time=_seconds(report.interactions),
    )
    for name, items in cases.items():
        case = ET.SubElement(
            suite, "testcase", classname=items[0].endpoint, name=name, time=_seconds(items)
        )
        errors = [i for i in items if i.outcome is Outcome.ERROR]
        if errors:
            error = ET.SubElement(case, "error", message=f"{len(errors)} exchange(s) got no answer")
            error.text = "\n".join(f"#{i.id} {i.method} {i.url}: {i.error}" for i in errors)
        elif _failed(items):
            groups = group_differences(items)
            failure = ET.SubElement(
                case, "failure", message=groups[0].summary if groups else "regression"
            )
            failure.text = "\n".join(
                f"[{g.severity}] {g.summary}; e.g. #{g.examples[0].id}: "
                f"{g.examples[0].expected!r} -> {g.examples[0].actual!r}"
                for g in groups
            )
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _failed(items: Sequence[InteractionReport]) -> bool:
    return any(i.outcome is Outcome.REGRESSION for i in items)


def _errored(items: Sequence[InteractionReport]) -> bool:
    return any(i.outcome is Outcome.ERROR for i in items)


def _seconds(items: Sequence[InteractionReport]) -> str:
    return f"{sum(i.replayed_ms or 0.0 for i in items) / 1000.0:.3f}"


def write_junit(
    report: RunReport, path: str | os.PathLike[str], per_exchange: bool = False
) -> None:
    """Write the JUnit XML atomically."""
    write_atomically(path, junit_xml(report, per_exchange), "the JUnit report")
