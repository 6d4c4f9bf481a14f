"""The Markdown summary of a replay, for a pull-request comment."""

from __future__ import annotations

import os

from apitape.files import write_atomically
from apitape.models import Group, Outcome, RunReport
from apitape.verdict.groups import report_groups


def markdown_report(report: RunReport, top: int = 10) -> str:
    """A short summary fit for a pull-request comment: counts and the worst groups."""
    passed, regressions = report.count(Outcome.PASS), report.count(Outcome.REGRESSION)
    errors = report.count(Outcome.ERROR)
    verdict = "regressions found" if regressions else "errors" if errors else "no regression"
    against = f"`{report.target}`"
    if report.baseline is not None:
        against = f"the candidate `{report.target}` (the baseline: `{report.baseline}`)"
    lines = [
        f"### apitape: {verdict}",
        "",
        f"{len(report.interactions)} exchanges against {against}: **{passed} passed**, "
        f"**{regressions} regression(s)**, **{errors} error(s)**"
        + (f", {len(report.skipped)} skipped" if report.skipped else "")
        + f" (fail on: {report.fail_on} and worse).",
        "",
    ]
    groups = report_groups(report)
    if groups:
        lines += ["| severity | endpoint | field | change | exchanges |", "|---|---|---|---|---|"]
        for group in groups[:top]:
            change = group.kind.replace("_", " ") + (f" {group.detail}" if group.detail else "")
            if group.consequences:  # a status change, with the body differences it caused
                change += f" (and {_folded(group)})"
            lines.append(
                f"| {group.severity} | `{_md(group.endpoint)}` | `{_md(group.path)}` | "
                f"{_md(change)} | {group.count} of {group.total} |"
            )
        if len(groups) > top:
            lines.append(f"\n{len(groups) - top} more group(s) in the full report.")
    slower = [row.endpoint for row in report.latency if row.slower]
    if slower:
        lines += ["", "Slower (p95): " + ", ".join(f"`{_md(e)}`" for e in slower)]
    return "\n".join(lines) + "\n"


def _folded(group: Group) -> str:
    where = sorted({c.path for c in group.consequences})
    named = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
    return f"{len(group.consequences)} difference(s) it causes: {named}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def write_markdown_report(report: RunReport, path: str | os.PathLike[str]) -> None:
    """Write the Markdown summary atomically."""
    write_atomically(path, markdown_report(report), "the Markdown report")
