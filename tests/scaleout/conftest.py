"""Scale-out tests: a real Ray (ray.init with two CPUs, or `ray start` processes on loopback)
and a real S3-compatible server (moto's server mode) on loopback.

Opt-in, like the real-service test bed: `pytest -m scaleout` (or APITAPE_SCALEOUT=1), with the
extras installed (`pip install -e '.[test,ray,s3]'`). Without them the tests skip and say
what to install; in CI (CI=true) a missing extra fails the run instead.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import apitape
from apitape.cassette import load_cassette

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("ray", "ddsketch", "fsspec", "s3fs", "moto")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = [item for item in items if Path(str(item.fspath)).is_relative_to(Path(__file__).parent)]
    if not here:
        return
    opted_in = os.environ.get("APITAPE_SCALEOUT") == "1" or "scaleout" in (
        config.option.markexpr or ""
    )
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    reason = None
    if not opted_in:
        reason = "scale-out tests are opt-in: pytest -m scaleout (or APITAPE_SCALEOUT=1)"
    elif missing:
        reason = f"missing {', '.join(missing)}: pip install -e '.[test,ray,s3]'"
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(f"scale-out tests in CI: {reason}")
    for item in here:
        item.add_marker(pytest.mark.scaleout)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def local_ray() -> Iterator[None]:
    """A local Ray of two CPUs for one test, shut down after it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def session_set(path: Path, sessions: int = 8, *, reads_only: bool = False) -> Path:
    """The bookstore client's session (cassettes/bookstore.yaml) as `sessions` clients whose
    requests interleave. List pages are left out: their `total` counts the books other
    sessions create at that moment, which no replay order fixes; `reads_only` keeps only the
    GETs of /books (each slow on v2: long enough to kill a worker mid-run)."""
    base = list(load_cassette(REPO / "cassettes" / "bookstore.yaml").exchanges)
    if reads_only:
        base = [e for e in base if e.request.method == "GET" and "/books" in e.request.url] * 2
    else:
        base = [e for e in base if "page=" not in e.request.url]
    clients = [
        [
            replace(e, id=f"{s}-{n}", client=f"10.0.{s // 200}.{s % 200 + 1}:4000")
            for n, e in enumerate(base)
        ]
        for s in range(sessions)
    ]
    apitape.write_cassette(path, [c[n] for n in range(len(base)) for c in clients])
    return path
