"""The recording settings are declared once: click's options and mitmproxy's come from one table."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from mitmproxy.optmanager import OptManager

from apitape.capture.addon import Recorder
from apitape.capture.policy import FILTER_FIELDS
from apitape.capture.settings import (
    BY_NAME,
    POLICY,
    SETTINGS,
    from_mitmproxy,
    mitmproxy_options,
)
from apitape.cli.cassettes import import_
from apitape.cli.record import record
from apitape.errors import UsageError


def recorder_options() -> OptManager:
    """The options the Recorder declares, in an option manager of their own."""
    options = OptManager()
    Recorder().load(options)
    return options


def click_options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def test_click_and_mitmproxy_options_come_from_the_same_table() -> None:
    options = recorder_options()
    declared = dict(options._options)
    assert set(declared) == {setting.option for setting in SETTINGS}
    flags = click_options(record)
    for setting in SETTINGS:
        option, flag = declared[setting.option], flags[setting.name]
        assert option.help == flag.help == setting.help
        assert option.typespec == setting.option_type
        assert option.default == setting.to_option(setting.default)
        assert setting.flag in flag.opts
        if setting.type is tuple:
            assert flag.multiple
        else:
            assert flag.default == setting.default
    # import takes the policy's settings, the same options as record's
    imported = click_options(import_)
    for setting in POLICY:
        assert imported[setting.name].to_info_dict() == flags[setting.name].to_info_dict()


def test_every_flag_and_mitmproxy_name_of_before_still_works() -> None:
    """Documented in README.md and docs/capture.md: none may change."""
    pairs = {
        "--host": "apitape_hosts",
        "--exclude-host": "apitape_exclude_hosts",
        "--path": "apitape_paths",
        "--exclude-path": "apitape_exclude_paths",
        "--method": "apitape_methods",
        "--exclude-method": "apitape_exclude_methods",
        "--content-type": "apitape_content_types",
        "--exclude-content-type": "apitape_exclude_content_types",
        "--redact-header": "apitape_redact_headers",
        "--redact-field": "apitape_redact_fields",
        "--redact-value": "apitape_redact_values",
        "--no-redact": "apitape_redact",
        "--redact-key-file": "apitape_redact_key_file",
        "--sample": "apitape_sample",
        "--session-by": "apitape_session_by",
        "--max-body-size": "apitape_max_body_size",
        "--max-exchanges": "apitape_max_exchanges",
        "--max-bytes": "apitape_max_bytes",
        "--fsync": "apitape_fsync",
        "--durable": "apitape_durable",
        "--writer-timeout": "apitape_writer_timeout",
        "--no-rewrite-urls": "apitape_rewrite_urls",
        "--stop-timeout": "apitape_stop_timeout",
        "--cassette": "apitape_cassette",
    }
    flags = click_options(record)
    for flag, option in pairs.items():
        setting = BY_NAME[option.removeprefix("apitape_")]
        assert flag in (*flags[setting.name].opts, *flags[setting.name].secondary_opts)
    assert {s.option for s in SETTINGS} == set(pairs.values())
    assert set(FILTER_FIELDS) <= {setting.name for setting in POLICY}


def test_the_sample_rate_is_a_float_everywhere_but_in_mitmproxy() -> None:
    sample = BY_NAME["sample"]
    assert mitmproxy_options({"sample": 0.25, "hosts": ("a",)}) == {
        "apitape_sample": "0.25",
        "apitape_hosts": ["a"],
    }
    assert sample.to_option(1.0) == "1"
    assert sample.from_option("0.25") == 0.25
    assert sample.from_option(sample.to_option(1 / 3)) == 1 / 3
    with pytest.raises(UsageError, match="must be a number more than 0 and at most 1, not 'most'"):
        sample.from_option("most")
    with pytest.raises(UsageError, match=r"must be more than 0 and at most 1, not 0\.0") as caught:
        sample.from_option("0")
    assert caught.value.setting == "sample"
    with pytest.raises(UsageError, match="must be 1 or more, not 0"):
        BY_NAME["writer_timeout"].from_option(0)
    assert BY_NAME["max_body_size"].from_option(None) is None


def test_mitmdump_sets_them_as_before_and_gets_them_typed() -> None:
    options = recorder_options()
    options.set("apitape_sample=0.5", "apitape_hosts=a.test", "apitape_max_body_size=10")
    options.set("apitape_redact=false")
    values = from_mitmproxy(options)
    assert values["sample"] == 0.5
    assert values["hosts"] == ("a.test",)
    assert values["max_body_size"] == 10
    assert values["redact"] is False
    options.set("apitape_sample=most")
    with pytest.raises(UsageError) as caught:
        from_mitmproxy(options)
    assert caught.value.worded("apitape_sample") == (
        "apitape_sample must be a number more than 0 and at most 1, not 'most'"
    )


def test_docs_name_every_mitmdump_option_beside_its_flag() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "capture.md").read_text(encoding="utf-8")
    table = docs[docs.index("| `apitape record` | mitmdump |") :].split("\n\n")[0]
    for setting in SETTINGS:
        assert f"`{setting.option}" in table
        negated = f"--no-{setting.flag.removeprefix('--')}"
        flag = negated if setting.type is bool and setting.default else setting.flag
        assert f"`{flag}`" in table or setting.flag.startswith("--exclude-"), flag
