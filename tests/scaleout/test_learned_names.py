"""On Ray, endpoint names are learned once by the driver as it cuts the shards, and every
shard names alike: the same groups and latency rows as one process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_learned_endpoints import replay_posts


def test_learned_names_on_ray_match_one_process(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "ray").mkdir()
    single = replay_posts(tmp_path / "one")
    merged = replay_posts(tmp_path / "ray", "--workers", "2", "--shards", "2")
    assert single.returncode == merged.returncode == 1, merged.stderr
    one, many = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("one", "ray"))
    assert [g["endpoint"] for g in many["groups"]] == ["GET /posts/{id}"]
    assert [g["summary"] for g in many["groups"]] == [g["summary"] for g in one["groups"]]
    assert [r["endpoint"] for r in many["latency"]] == [r["endpoint"] for r in one["latency"]]
    assert any("endpoint name /posts/{id} learned" in n for n in many["notes"]), many["notes"]
