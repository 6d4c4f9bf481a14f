"""The HTML report's charts: SVG drawn here by pygal, inlined in the page (no script, no URL).

pygal is the only charting library and this the only module that imports it. Its SVG comes
with a random id, the date, a script and its own stylesheet; what is kept is the drawing,
with an id of the caller's, and one stylesheet per kind of chart for the page's head.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pygal
from pygal.style import Style

# pygal puts a finder for its map plugins (unused here) on sys.meta_path, one with no
# find_spec: on Python 3.11 every later import of the process then warns (ImportWarning).
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

RECORDED, REPLAYED = "#8c959f", "#0969da"
PASSED, REGRESSION, ERROR = "#2da44e", "#cf222e", "#bf8700"

_FONT = "system-ui, sans-serif"


def _style(*colors: str) -> Style:
    return Style(
        background="transparent",
        plot_background="#ffffff",
        font_family=_FONT,
        label_font_family=_FONT,
        major_label_font_family=_FONT,
        title_font_family=_FONT,
        legend_font_family=_FONT,
        value_font_family=_FONT,
        tooltip_font_family=_FONT,
        title_font_size=13,
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=12,
        colors=colors,
    )


_COMMON = {
    "js": (),  # pygal's tooltips script would come from its site: the page loads nothing
    "disable_xml_declaration": True,
    "explicit_size": True,
    "pretty_print": False,
}


@dataclass(frozen=True)
class Chart:
    """One chart: its SVG, to inline in the page, and the kind whose stylesheet it needs."""

    svg: str
    kind: str


def latency_chart(
    chart_id: str,
    endpoint: str,
    recorded: Sequence[float],
    replayed: Sequence[float],
    slower: bool,
) -> Chart:
    """An endpoint's recorded and replayed milliseconds as two box plots side by side
    (quartiles, whiskers at 1.5 interquartile ranges, outliers as dots)."""
    chart = pygal.Box(
        width=390,
        height=240,
        box_mode="tukey",
        show_legend=False,
        title=f"{endpoint}{' (slower)' if slower else ''}, n={len(replayed)}",
        y_title="ms",
        style=_style(RECORDED, REPLAYED),
        truncate_title=60,
        truncate_label=-1,
        **_COMMON,
    )
    chart.x_labels = ["recorded", "replayed"]
    chart.add("recorded", [round(v, 2) for v in recorded])
    chart.add("replayed", [round(v, 2) for v in replayed])
    return _inline(chart, chart_id, "latency")


def outcome_chart(chart_id: str, rows: Sequence[tuple[str, int, int, int]]) -> Chart:
    """Per endpoint (endpoint, passed, regressions, errors) as a stacked horizontal bar:
    the run's outcome at a glance."""
    chart = pygal.HorizontalStackedBar(
        width=900,
        height=90 + 24 * max(len(rows), 1),
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        truncate_label=48,
        x_title="exchanges",
        style=_style(PASSED, REGRESSION, ERROR),
        print_values=False,
        **_COMMON,
    )
    # pygal draws the first label at the bottom; reversed, the worst endpoint is on top
    ordered = list(reversed(rows))
    chart.x_labels = [row[0] for row in ordered]
    chart.add("passed", [row[1] or None for row in ordered])
    chart.add("regressions", [row[2] or None for row in ordered])
    chart.add("errors", [row[3] or None for row in ordered])
    return _inline(chart, chart_id, "outcomes")


_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _inline(chart: pygal.graph.graph.Graph, chart_id: str, kind: str) -> Chart:
    chart.uuid = kind  # pygal's id is random: the page must be the same from the same run
    svg = chart.render(is_unicode=True)
    svg = _COMMENT.sub("", _SCRIPT.sub("", _STYLE.sub("", svg, count=1)))
    svg = svg.replace(
        f'id="chart-{kind}" class="pygal-chart"',
        f'id="{chart_id}" class="pygal-chart chart-{kind}" role="img"',
        1,
    )
    return Chart(svg, kind)


def stylesheet(kind: str) -> str:
    """The stylesheet every chart of `kind` (latency, outcomes) needs, once for the page."""
    if kind == "latency":
        probe: pygal.graph.graph.Graph = pygal.Box(style=_style(RECORDED, REPLAYED), **_COMMON)
        series = 2
    else:
        probe = pygal.HorizontalStackedBar(style=_style(PASSED, REGRESSION, ERROR), **_COMMON)
        series = 3
    probe.uuid = kind
    for title in "abc"[:series]:
        probe.add(title, [1])
    found = _STYLE.search(probe.render(is_unicode=True))
    css = html.unescape(found.group(1)) if found else ""
    # scoped by class rather than by pygal's id: one stylesheet serves every chart of a kind
    return css.replace(f"#chart-{kind}", f".chart-{kind}")
