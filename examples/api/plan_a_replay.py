"""Plan a replay before sending anything: which exchanges go out, under which endpoint names,
and which apitape.yaml skips. Then replay with the plan's settings, named the same way.

Run: python examples/api/plan_a_replay.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

import apitape
from apitape.testing import exchange, json_response

BOOK = {"id": 1, "title": "Dune", "price": 9.5}  # recorded, and answered by the new build


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        cassette, config = Path(work) / "staging.yaml", Path(work) / "apitape.yaml"
        urls = ["/health", "/books/1", "/books/2", "/books/1/reviews"]
        apitape.write_cassette(
            cassette,
            [
                exchange(
                    url=f"http://staging:8000{u}", response=json_response(BOOK), exchange_id=str(i)
                )
                for i, u in enumerate(urls, 1)
            ],
        )
        config.write_text('endpoints:\n  "GET /health": {skip: true}\n')

        plan = apitape.plan(cassette, config=config)
        for planned in plan.exchanges:
            print(f"#{planned.id} {planned.method} {planned.url} -> {planned.endpoint}")
        for skipped in plan.skipped:
            print(f"#{skipped.id} skipped: {skipped.reason.replace(str(config), 'apitape.yaml')}")

        same_build = httpx.MockTransport(lambda request: httpx.Response(200, json=BOOK))
        report = apitape.replay(cassette, "http://candidate", settings=plan.settings,
                                transport=same_build)  # fmt: skip
        assert [i.endpoint for i in report.interactions] == [p.endpoint for p in plan.exchanges]
        print(report.summary().splitlines()[0])
        return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
