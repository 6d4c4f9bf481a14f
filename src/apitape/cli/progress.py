"""A progress bar on stderr while requests are sent, for people at a terminal only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from apitape.replay.replayer import ReplayResult
from apitape.report.terminal import ci_log


@contextlib.contextmanager
def progress_bar(
    total: int | None, stream: TextIO, label: str, quiet: bool = False
) -> Iterator[Callable[[ReplayResult], None] | None]:
    """Yield a callback that advances a bar (done/total, rate, errors so far), or None when the
    stream is not a terminal, CI is set or `quiet` is: logs and CI output stay clean. A `total` of
    None (cassettes read as they are replayed) shows the count without a bar's end."""
    console = Console(file=stream)
    if quiet or not console.is_terminal or ci_log(stream) or total == 0:
        yield None
        return
    errors = 0
    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}/s"),
        TextColumn("[red]{task.fields[errors]} error(s)[/]"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, rate="-", errors=0)

        def advance(result: ReplayResult) -> None:
            nonlocal errors
            errors += result.error is not None
            elapsed = bar.tasks[0].elapsed or 0.0
            done = bar.tasks[0].completed + 1
            rate = f"{done / elapsed:.0f}" if elapsed > 0 else "-"
            bar.update(task, advance=1, rate=rate, errors=errors)

        yield advance
