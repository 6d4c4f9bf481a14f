"""Record every exchange through mitmproxy into an apitape cassette.

    mitmdump -s addons/record.py --mode reverse:http://127.0.0.1:8000 \
        --set apitape_cassette=cassettes/staging.yaml
"""

from apitape.capture.addon import Recorder

addons = [Recorder()]
