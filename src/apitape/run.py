"""One replay from files to verdict: load cassettes, replay, judge, report, exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from apitape.cassette import load_cassette
from apitape.errors import UsageError
from apitape.latency import LatencyPolicy
from apitape.models import Exchange, Outcome, RunReport
from apitape.replay import Replayer, TransportFactory
from apitape.report import TerminalReport, write_json_report
from apitape.verdict import JudgeOptions, exit_status, judge


def replay_cassettes(
    paths: Sequence[str],
    target: str,
    *,
    concurrency: int = 1,
    timeout: float = 30.0,
    latency: LatencyPolicy | None = None,
    report_json: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    transport_factory: TransportFactory | None = None,
) -> int:
    """Replay every exchange of the cassettes against `target`; return the exit status."""
    stderr = stderr or sys.stderr
    replayer = Replayer(
        target, concurrency=concurrency, timeout=timeout, transport_factory=transport_factory
    )
    exchanges: list[Exchange] = []
    names: list[str] = []
    for path in paths:
        cassette = load_cassette(path)
        for warning in cassette.warnings:
            print(f"apitape: warning: {warning}", file=stderr)
        exchanges.extend(cassette.exchanges)
        names.extend([path] * len(cassette.exchanges))
    if not exchanges:
        raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")

    results = replayer.replay(exchanges)
    report = judge(
        results, names, replayer.target, JudgeOptions(latency=latency or LatencyPolicy())
    )
    TerminalReport(stdout).render(report)
    if report_json:
        write_json_report(report, report_json)
        print(f"apitape: JSON report written to {report_json}", file=stderr)
    _explain_unreachable(report, stderr)
    return exit_status(report)


def _explain_unreachable(report: RunReport, stderr: TextIO) -> None:
    """When nothing got through, say so plainly: the likely cause is the target, not the traffic."""
    errors = [i for i in report.interactions if i.outcome is Outcome.ERROR]
    if errors and len(errors) == len(report.interactions):
        print(
            f"apitape: error: could not replay any of the {len(errors)} exchange(s) against "
            f"{report.target}: {errors[0].error}. Check that the target is running and that "
            "--target is right.",
            file=stderr,
        )
