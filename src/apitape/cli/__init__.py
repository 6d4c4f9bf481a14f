"""The `apitape` command line: each command parses, calls the library, renders, exits.

One module per command; `options` holds what several share, `output` how a run's report is
rendered and written. Exit status: 0 no regression, 1 regressions found, 2 errors (bad input,
unreachable target).
"""

from __future__ import annotations

import click

from apitape._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apitape")
@click.option(
    "--debug",
    is_flag=True,
    help="Print the traceback of an unexpected error (also: APITAPE_DEBUG=1).",
)
def main(debug: bool) -> None:
    """Record real HTTP traffic into cassettes and replay it against a new build.

    Exit status: 0 no regression, 1 regressions found, 2 errors.
    """


def _register() -> None:
    from apitape.cli import cassettes, contract, curate, demo, record, replay, report, shard

    for command in (
        record.record,
        replay.replay,
        replay.diff,
        replay.learn,
        demo.demo,
        cassettes.import_,
        cassettes.export,
        contract.contract,
        cassettes.convert,
        curate.stats,
        curate.select,
        curate.merge,
        report.report,
        shard.shard,
    ):
        main.add_command(command)


_register()
