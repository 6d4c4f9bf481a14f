"""A mitmdump script that does nothing, shaped like addons/record.py: the cost of any script.

The recorder's module-level `response` hook, None for every other hook name and
`addons = ()`, without the recorder: mitmproxy walks it for every event of every flow just as
it walks addons/record.py, and its hook returns at once. A proxy running this beside a bare
one (`capture_throughput.py --control empty-script`, `capture_instructions.py`) measures what
mitmproxy's script machinery costs before apitape does any work.
"""

from mitmproxy import http

from apitape.capture.addon import hook_placeholders


def response(flow: http.HTTPFlow) -> None:
    return None


globals().update(hook_placeholders({"response"}))
addons = ()
