"""Record every exchange through mitmproxy into an apitape cassette.

    mitmdump -s addons/record.py --mode reverse:http://127.0.0.1:8000 \
        --set apitape_cassette=cassettes/staging.yaml
"""

from apitape.capture.addon import Recorder, script_namespace

# This module is the addon: its names are one Recorder's hooks, bound, and None for every
# other hook, rather than `addons = [Recorder()]`. mitmproxy looks every hook up on each
# level of a script for every event of every flow, so one level less is cheaper for the
# proxy (see script_namespace).
globals().update(script_namespace(Recorder()))
