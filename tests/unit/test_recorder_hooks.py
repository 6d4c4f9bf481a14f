"""The recorder's hook placeholders: mitmproxy still finds the hooks it handles, and only those."""

from __future__ import annotations

import runpy
from pathlib import Path

from mitmproxy import hooks

from apitape.capture.addon import DEPRECATED_HOOKS, Recorder, hook_placeholders

REPO = Path(__file__).resolve().parents[2]
HANDLED = {"load", "configure", "running", "request", "response", "error", "done"}


def mitmproxy_finds(addon: object, name: str) -> object:
    # How mitmproxy's addon manager looks a hook up for every event.
    return getattr(addon, name, None)


def test_recorder_handles_its_hooks_and_skips_every_other() -> None:
    recorder = Recorder()
    assert {n for n in hooks.all_hooks if callable(mitmproxy_finds(recorder, n))} == HANDLED
    missing = {n for n in hooks.all_hooks if not hasattr(recorder, n)}
    # each is there, as None: no AttributeError per event; but not the deprecated add_log,
    # whose mere presence makes mitmproxy print a deprecation warning at every start
    assert missing == {"add_log"} == DEPRECATED_HOOKS
    assert list(Recorder.addons) == []


def test_the_script_module_is_one_recorder_and_offers_no_other_hook() -> None:
    namespace = runpy.run_path(str(REPO / "addons" / "record.py"))
    assert namespace["addons"] == ()  # mitmproxy's walk stops at the module
    handled = {n for n in hooks.all_hooks if callable(namespace.get(n))}
    assert handled == HANDLED
    recorders = {namespace[n].__self__ for n in handled}
    assert len(recorders) == 1 and isinstance(recorders.pop(), Recorder)
    assert all(namespace[n] is None for n in set(hooks.all_hooks) - HANDLED - DEPRECATED_HOOKS)
    assert not DEPRECATED_HOOKS & namespace.keys()


def test_placeholders_leave_handled_names_alone() -> None:
    placeholders = hook_placeholders({"response", "request"})
    assert "response" not in placeholders and "request" not in placeholders
    assert placeholders["requestheaders"] is None
    assert len(hooks.all_hooks) > 40  # every mitmproxy layer's hooks are registered
