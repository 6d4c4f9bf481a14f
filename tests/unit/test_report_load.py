"""The JSON report read back (report/load.py): every format renders as from the run itself,
and --fail-on judges again as the verdict does; `ci_log` decides what a CI log gets."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from apitape.errors import ReportFileError
from apitape.models import Outcome, Response, RunReport
from apitape.report.html import html_report
from apitape.report.json_report import report_to_dict, write_json_report
from apitape.report.junit import junit_xml
from apitape.report.load import load_json_report, report_from_dict
from apitape.report.markdown import markdown_report
from apitape.report.terminal import TerminalReport, ci_log
from tests.unit.test_report_goldens import fixed_run  # noqa: F401  (the fixture)


def test_every_format_renders_the_same_from_the_saved_report(
    fixed_run: RunReport,  # noqa: F811
    tmp_path: Path,
) -> None:
    # A binary body and an exchange that got no answer travel too.
    first = next(iter(fixed_run.examples))
    exchange, _ = fixed_run.examples[first]
    examples = {**fixed_run.examples, "bin": (exchange, Response(200, "OK", (), b"\xff\x00"))}
    examples["none"] = (exchange, None)
    run = replace(fixed_run, examples=examples, warnings=("a warning",))
    path = tmp_path / "report.json"
    write_json_report(run, path)
    loaded = load_json_report(path)

    def bodies(report: RunReport) -> dict[str, object]:  # what the HTML report draws
        return {k: (e.request, e.response, r) for k, (e, r) in report.examples.items()}

    assert bodies(loaded) == bodies(run)
    assert report_to_dict(loaded) == report_to_dict(run)
    for render in (markdown_report, junit_xml, lambda r: html_report(r, r.examples)):
        assert render(loaded) == render(run)
    texts = []
    for report in (run, loaded):
        stream = io.StringIO()
        TerminalReport(stream, width=120).render(report, verbose=True)
        texts.append(stream.getvalue())
    assert texts[0] == texts[1]


def test_fail_on_judges_the_differences_again(fixed_run: RunReport) -> None:  # noqa: F811
    data = report_to_dict(fixed_run)
    counts = {}
    for level in ("breaking", "changed", "additive"):
        report = report_from_dict(json.loads(json.dumps(data)), fail_on=level)
        assert report.fail_on == level
        counts[level] = (report.count(Outcome.PASS), report.regressions, report.exit_status)
    # breaking: the price and isbn changes only; changed adds 201 -> 200 and the latency
    assert counts == {"breaking": (10, 7, 1), "changed": (9, 8, 1), "additive": (9, 8, 1)}
    assert report_from_dict(data).groups == tuple(fixed_run.groups or ())


def test_a_torn_run_exits_2_again() -> None:
    report = RunReport("http://t", ("c.yaml",), [], (), input_error="c.yaml, line 9: torn")
    loaded = report_from_dict(json.loads(json.dumps(report_to_dict(report))))
    assert (loaded.input_error, loaded.exit_status) == ("c.yaml, line 9: torn", 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a JSON report"),
        ('{"violations": []}', "not an apitape replay report"),
        ('{"interactions": [{"id": "1"}], "groups": []}', "interactions: unexpected shape"),
    ],
)
def test_what_is_not_a_report_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ReportFileError, match=message):
        load_json_report(path)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "environ", "expected"),
    [
        (Terminal(), {}, False),
        (Terminal(), {"CI": "true"}, True),
        (Terminal(), {"CI": "false"}, False),
        (Terminal(), {"CI": "1"}, True),
        (io.StringIO(), {}, True),
    ],
)
def test_ci_log_is_ci_or_no_terminal(
    stream: io.StringIO, environ: dict[str, str], expected: bool
) -> None:
    assert ci_log(stream, environ) is expected


def test_a_plain_report_has_no_escape_codes_on_a_terminal(
    fixed_run: RunReport,  # noqa: F811
) -> None:
    stream = Terminal()
    report = TerminalReport(stream, width=120, plain=True)
    report.headline(fixed_run, [("JUnit XML", "out/junit.xml"), ("HTML report", "out/r.html")])
    report.render(fixed_run)
    lines = stream.getvalue().splitlines()
    assert lines[:2] == [
        "apitape: FAILED: regressions found (exit status 1): 17 exchanges against "
        "http://127.0.0.1:9000: 9 passed, 8 regression(s), 0 error(s); failing on changed and "
        "worse",
        "apitape: reports: JUnit XML out/junit.xml, HTML report out/r.html",
    ]
    assert "\x1b" not in stream.getvalue()
    coloured = Terminal()
    TerminalReport(coloured, width=120, plain=False).render(fixed_run)
    assert "\x1b[" in coloured.getvalue()
