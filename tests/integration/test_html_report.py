"""The HTML report: one self-contained file that a real browser renders with the numbers, the
charts, the highlighted body differences and working filters."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitape.demo import bookstore
from tests.bookstore_cassette import SECRET_ARGS
from tests.integration.browser import FLAGS, Browser, chromium
from tests.integration.conftest import REPO, run_apitape

SCREENSHOT = REPO / "docs" / "report-screenshot.png"


def browser(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = [f for f in FLAGS if f != "--remote-debugging-pipe"]
    return subprocess.run(
        [chromium(), *flags, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("html")
    report = workdir / "report.html"
    with bookstore(2, workdir / "v2.sqlite3") as v2:
        result = run_apitape(
            "replay",
            str(REPO / "cassettes" / "bookstore.yaml"),
            "--target",
            v2,
            *SECRET_ARGS,
            "--report-html",
            str(report),
        )
    assert result.returncode == 1
    return report


@pytest.fixture(scope="module")
def page(html_report: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium()
    tab = Browser(tmp_path_factory.mktemp("profile"), width=1280, height=1600)
    try:
        tab.open(html_report.as_uri())
        yield tab
    finally:
        tab.close()


def test_the_file_loads_nothing_from_elsewhere(html_report: Path) -> None:
    text = html_report.read_text()
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text, re.IGNORECASE)
    # one script, the page's own filters, written in the page
    assert re.findall(r"<script\b[^>]*>", text, re.IGNORECASE) == ["<script>"]
    assert not re.search(r"\b(src|srcset|xlink:href)\s*=", text, re.IGNORECASE)
    # links only within the page (a group to its example exchange and back)
    assert not re.search(r"""\bhref\s*=\s*(?!["']?#)""", text, re.IGNORECASE)
    assert re.search(r'href="#example-1"', text)
    assert "@import" not in text and "url(" not in text
    # and the browser is told to load nothing, whatever a value in the page might say
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy


def test_a_browser_renders_the_summary_and_the_groups(html_report: Path, tmp_path: Path) -> None:
    dom = browser("--dump-dom", html_report.as_uri(), profile=tmp_path / "profile").stdout
    assert '<b id="passed">9</b>' in dom
    assert '<b id="regressions">8</b>' in dom
    assert '<b id="errors">0</b>' in dom
    assert "GET /books/{id}: $.price type changed float -&gt; str in 5 of 7 responses" in dom


def shot(page: Browser, name: str, selector: str | None = None) -> Path:
    """A screenshot kept with the test's output (APITAPE_SCREENSHOTS=DIR keeps them there)."""
    folder = Path(os.environ.get("APITAPE_SCREENSHOTS") or page_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = page.screenshot(folder / name, selector)
    assert path.read_bytes().startswith(b"\x89PNG")
    return path


def page_dir() -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / "apitape-html-screenshots"


def visible(page: Browser, selector: str) -> int:
    """How many elements match and take room on the page."""
    count: int = page.evaluate(
        f"[...document.querySelectorAll({selector!r})]"
        ".filter(e => e.getClientRects().length && e.getBoundingClientRect().width > 0).length"
    )
    return count


def test_the_overview_shows_the_outcome_of_each_endpoint(page: Browser) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    overview = shot(page, "overview.png")
    if os.environ.get("APITAPE_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(overview.read_bytes())
    # three series (passed, regressions, errors), regressions drawn for three endpoints
    legends = page.evaluate(
        "[...document.querySelectorAll('#outcome-chart .legend text')].map(t => t.textContent)"
    )
    assert legends == ["passed", "regressions", "errors"]
    assert visible(page, "#outcome-chart .serie-1 rect.rect") == 3  # GET /books, /books/{id}, POST
    assert visible(page, "#outcome-chart .serie-0 rect.rect") >= 6
    labels = page.evaluate(
        "[...document.querySelectorAll('#outcome-chart .axis.y text')].map(t => t.textContent)"
    )  # the worst endpoint on top: pygal lists labels bottom up
    assert labels[-1] == "GET /books" and "PUT /books/{id}" in labels


def test_a_latency_chart_draws_both_sides_the_slower_endpoint_first(page: Browser) -> None:
    first = "figure.latency-chart:first-of-type"
    assert page.evaluate(f"document.querySelector('{first}').dataset.endpoint") == "GET /books"
    assert page.evaluate(f"document.querySelector('{first} svg > title').textContent") == (
        "GET /books (slower), n=2"
    )
    shot(page, "latency.png", first)
    boxes = page.evaluate(
        f"['.serie-0', '.serie-1'].map(s => {{ const r = document.querySelector("
        f"'{first} ' + s + ' .box').getBoundingClientRect(); return [r.top, r.bottom, r.width]; }})"
    )
    (_, recorded_bottom, recorded_width), (replayed_top, _, replayed_width) = boxes
    assert recorded_width > 10 and replayed_width > 10  # both series drawn, side by side
    assert replayed_top < recorded_bottom - 50  # the 300 ms sleep stands far above
    labels = page.evaluate(
        f"[...document.querySelectorAll('{first} .axis.x text')].map(t => t.textContent)"
    )
    assert labels == ["recorded", "replayed"]


def test_the_changed_line_of_a_json_body_is_highlighted(page: Browser) -> None:
    section = page.evaluate(
        "[...document.querySelectorAll('section.example')].find(s => "
        "s.querySelector('h3').textContent.includes('/books/1')).id"
    )
    shot(page, "json-diff.png", f"#{section}")
    row = page.evaluate(
        f"(() => {{ const r = [...document.querySelectorAll('#{section} tr.d-changed')]"
        ".find(r => r.textContent.includes('price'));"
        " r.scrollIntoView({block: 'center'}); const c = r.querySelector('td.right').getBoundingClientRect();"
        " const hit = document.elementFromPoint(c.x + 20, c.y + c.height / 2);"
        " return {left: r.querySelector('td.left').textContent, right: r.querySelector('td.right').textContent,"
        " leftColour: getComputedStyle(r.querySelector('td.left')).backgroundColor,"
        " rightColour: getComputedStyle(r.querySelector('td.right')).backgroundColor,"
        " seen: r.contains(hit), same: getComputedStyle(document.querySelector("
        f"'#{section} tr.d-same td.right')).backgroundColor}}; }})()"
    )
    assert row["left"].strip() == '"price": 12.5,'
    assert row["right"].strip() == '"price": "12.50",'
    assert row["seen"]  # on screen, not hidden behind anything
    assert row["leftColour"] == "rgb(255, 235, 233)"  # removed red
    assert row["rightColour"] == "rgb(255, 241, 184)"  # changed yellow
    assert row["same"] == "rgba(0, 0, 0, 0)"  # unchanged lines are not
    # the unchanged rest of the body is folded to a count, not shown
    assert page.evaluate(f"document.querySelectorAll('#{section} tr.d-fold').length") >= 1


def test_filters_work_by_click_and_groups_link_to_their_examples(page: Browser) -> None:
    groups = "details.group"
    total = visible(page, groups)
    assert total == 4
    page.click("#severity-filter button[value=breaking]")
    assert visible(page, groups) == 2
    assert page.evaluate(
        "[...document.querySelectorAll('details.group:not([hidden])')].every("
        "g => g.dataset.severity === 'breaking')"
    )
    assert page.evaluate("document.getElementById('filter-state').textContent") == (
        "2 of 4 groups shown"
    )
    shot(page, "filtered.png", "#groups ~ details.group:not([hidden])")
    page.click("#severity-filter button[value='']")
    assert visible(page, groups) == total
    page.evaluate(
        "(() => { const s = document.getElementById('endpoint-filter');"
        " s.value = 'GET /books'; s.dispatchEvent(new Event('change')); })()"
    )
    assert visible(page, groups) == 2  # isbn removed, latency
    assert visible(page, "figure.latency-chart") == 1
    assert visible(page, "tr[data-endpoint='GET /books/{id}']") == 0
    page.evaluate(
        "(() => { const s = document.getElementById('endpoint-filter');"
        " s.value = ''; s.dispatchEvent(new Event('change')); })()"
    )
    page.click("#group-1 a[href^='#example-']")
    target = page.evaluate("location.hash")
    assert target.startswith("#example-")
    top = page.evaluate(f"document.querySelector('{target}').getBoundingClientRect().top")
    assert -2 <= top < 200  # the browser went to the example exchange
