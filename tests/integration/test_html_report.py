"""The HTML report: one self-contained file that a real browser renders with the numbers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apitape.demo import bookstore
from tests.integration.conftest import REPO, run_apitape


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs the Debian package chromium")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")
    return found


def browser(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


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
            "--report-html",
            str(report),
        )
    assert result.returncode == 1
    return report


def test_the_file_loads_nothing_from_elsewhere(html_report: Path) -> None:
    text = html_report.read_text()
    assert not re.search(r"<(script|link|img|iframe)\b", text, re.IGNORECASE)
    assert not re.search(r"\bsrc\s*=", text, re.IGNORECASE)
    # links only within the page (a group to its example exchange and back)
    assert not re.search(r"""\bhref\s*=\s*(?!["']?#)""", text, re.IGNORECASE)
    assert re.search(r'href="#example-1"', text)
    assert "@import" not in text and "url(" not in text


def test_a_browser_renders_the_summary_and_the_groups(html_report: Path, tmp_path: Path) -> None:
    dom = browser("--dump-dom", html_report.as_uri(), profile=tmp_path / "profile").stdout
    assert '<b id="passed">9</b>' in dom
    assert '<b id="regressions">8</b>' in dom
    assert '<b id="errors">0</b>' in dom
    assert "GET /books/{id}: $.price type changed float -&gt; str in 5 of 7 responses" in dom
    screenshot = tmp_path / "report.png"
    browser(
        "--window-size=1280,1600",
        f"--screenshot={screenshot}",
        html_report.as_uri(),
        profile=tmp_path / "p2",
    )
    assert screenshot.read_bytes().startswith(b"\x89PNG")
