"""The equality fast path gives the same verdict as normalizing both bodies whole."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from apitape.compare.comparer import Comparer
from apitape.compare.normalize import MaskLog, NormalizeContext, RuleNormalizer
from apitape.config import parse_config
from apitape.fastjson import canonical
from apitape.http.bodies import ParsedBody
from apitape.models import Response

RULES = """
rules:
  ignore: ["$.meta.request_id", "$..debug"]
  mask: ["$.items[*].updated"]
  unordered: ["$.tags"]
"""

UUIDS = ["0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f", "7a1c9e2b-3f4d-4e5a-8b6c-1d2e3f4a5b6c"]
STAMPS = ["2026-11-24T03:18:17Z", "2026-11-25T09:00:01.5Z"]


def document(rng: random.Random) -> dict[str, Any]:
    return {
        "id": rng.choice(UUIDS),
        "at": rng.choice(STAMPS),
        "price": rng.choice([12, 12.0, 13]),
        "flag": rng.choice([True, 1, None]),
        "tags": rng.sample(["a", "b", "c"], 3),
        "meta": {"request_id": rng.randint(0, 9), "debug": {"x": rng.randint(0, 1)}},
        "items": [
            {"n": i, "updated": rng.choice(STAMPS), "name": rng.choice(["x", "y"])}
            for i in range(rng.randint(1, 3))
        ],
    }


def mutated(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    other = copy.deepcopy(doc)
    for _ in range(rng.randint(0, 3)):
        change = rng.randrange(7)
        if change == 0:
            other["id"] = rng.choice(UUIDS)
        elif change == 1:
            other["at"] = rng.choice(STAMPS)
        elif change == 2:
            other["price"] = rng.choice([12, 12.0, 13, "12"])
        elif change == 3:
            other["tags"].reverse()
        elif change == 4:
            other["meta"]["request_id"] += 1
        elif change == 5:
            other["items"][0]["updated"] = "yesterday"
        else:
            other["items"][-1].pop("name", None)
    return other


@pytest.mark.parametrize("seed", range(40))
def test_same_agrees_with_normalizing_both_bodies_whole(seed: int) -> None:
    rng = random.Random(seed)
    config = parse_config(RULES, "apitape.yaml")
    normalizer = RuleNormalizer(config, MaskLog())
    contexts = (
        NormalizeContext("GET /things/{id}", "recorded", None, "1"),
        NormalizeContext("GET /things/{id}", "replayed", None, "1"),
    )
    for _ in range(25):
        first = document(rng)
        second = mutated(first, rng) if rng.random() < 0.8 else document(rng)
        a, b = ParsedBody("json", first), ParsedBody("json", second)
        whole = canonical(normalizer.body(a, contexts[0]).value) == canonical(
            normalizer.body(b, contexts[1]).value
        )
        assert normalizer.same(a, b, contexts) is whole, (first, second)


def test_an_int_that_became_a_float_deep_inside_is_still_a_type_change() -> None:
    # == says 2 == 2.0, and so does it for the lists and objects around them.
    headers = (("Content-Type", "application/json"),)
    before = Response(200, "", headers, json.dumps({"items": [{"price": 2}]}).encode())
    after = Response(200, "", headers, json.dumps({"items": [{"price": 2.0}]}).encode())
    differences = Comparer().compare("1", "GET /prices", before, after)
    assert [(d.path, d.kind) for d in differences] == [("$.items[0].price", "type_changed")]


def test_mask_log_names_only_the_fields_a_mask_made_equal() -> None:
    headers = (("Content-Type", "application/json"),)
    before = {"id": UUIDS[0], "at": STAMPS[0], "same_id": UUIDS[1]}
    after = {**before, "at": STAMPS[1]}
    comparer = Comparer()
    differences = comparer.compare(
        "1",
        "GET /x",
        Response(200, "", headers, json.dumps(before).encode()),
        Response(200, "", headers, json.dumps(after).encode()),
    )
    assert differences == []
    assert comparer.mask_log.entries() == [("GET /x", "$.at", "timestamp", 1)]


def deepdiff_everywhere(expected: Any, actual: Any) -> list[tuple[str, str, Any, Any]]:
    """What diff_values gave when deepdiff walked the whole documents (the reference)."""
    from deepdiff import DeepDiff

    from apitape.compare.diff import _DEEPDIFF_KINDS, _plain, _present
    from apitape.compare.masks import unmasked
    from apitape.jsonpath import json_path

    found = []
    for report_type, levels in DeepDiff(expected, actual, view="tree", verbose_level=2).items():
        for level in levels:
            before, after = unmasked(_present(level.t1)), unmasked(_present(level.t2))
            kind = _DEEPDIFF_KINDS.get(report_type, report_type)
            if kind in ("value_changed", "type_changed"):
                kind = "value_changed" if type(before) is type(after) else "type_changed"
            path = json_path(level.path(output_format="list"))
            found.append((path, kind, _plain(before), _plain(after)))
    return sorted(found, key=lambda d: d[0])


@pytest.mark.parametrize("seed", range(20))
def test_diff_values_reports_what_deepdiff_over_the_whole_documents_did(seed: int) -> None:
    from apitape.compare.diff import diff_values

    rng = random.Random(seed)
    for _ in range(25):
        first = document(rng)
        second = mutated(first, rng)
        if rng.random() < 0.3:
            second["extra"] = {"new": [1, 2]}
        if rng.random() < 0.3:
            second["items"].append({"n": 9})
        got = [(d.path, d.kind, d.expected, d.actual) for d in diff_values(first, second)]
        assert got == deepdiff_everywhere(first, second), (first, second)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        (12, 13),
        (12, 12.0),
        (True, 1),
        (None, 0),
        ("12", 12),
        (-0.0, 0.0),
        ({"price": 12.5}, {"price": 13.5}),
        ({"a": {"b": "x"}}, {"a": {"b": None}}),
    ],
)
def test_differing_leaves_are_reported_as_deepdiff_reports_them(expected: Any, actual: Any) -> None:
    from apitape.compare.diff import diff_values

    got = [(d.path, d.kind, d.expected, d.actual) for d in diff_values(expected, actual)]
    assert got == deepdiff_everywhere(expected, actual)
