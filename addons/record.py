"""Record every exchange through mitmproxy into an apitape cassette.

    mitmdump -s addons/record.py --mode reverse:http://127.0.0.1:8000 \
        --set apitape_cassette=cassettes/staging.yaml
"""

from apitape.capture.addon import Recorder, hook_placeholders

addons = [Recorder()]

# mitmproxy looks every hook up on this module too, for every event of every flow: names
# that are there (as None) cost it no AttributeError (see hook_placeholders).
globals().update(hook_placeholders(globals()))
