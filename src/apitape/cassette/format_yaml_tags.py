"""The tags yaml's safe resolver gives scalars and collections, looked up fast.

libyaml asks the resolver for a tag on every node it loads, and the emitter asks it twice
for every scalar it writes (would this text read back as the same type if written
plain?). yaml's own Resolver.resolve keeps path-resolver bookkeeping that no cassette
uses; `resolve` gives the same tags (same regular expressions, same order) without it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import ScalarNode, SequenceNode

STR, SEQ, MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))
MERGE = "tag:yaml.org,2002:merge"

_Resolver = yaml.resolver.Resolver
# The implicit resolvers, looked up once per first character (YAML's own rule).
_RESOLVERS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(found) + tuple(_Resolver.yaml_implicit_resolvers.get(None, []))
    for first, found in _Resolver.yaml_implicit_resolvers.items()
    if first is not None
}
_WILDCARD_RESOLVERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    _Resolver.yaml_implicit_resolvers.get(None, [])
)
assert not _Resolver.yaml_path_resolvers, "resolve() assumes no path resolvers"


def resolve(kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
    """What yaml's Resolver.resolve gives (for a resolver without path resolvers)."""
    if kind is ScalarNode:
        if implicit[0]:
            for tag, regexp in _RESOLVERS.get(value[:1], _WILDCARD_RESOLVERS):
                if regexp.match(value):
                    return tag
        return STR
    return SEQ if kind is SequenceNode else MAP


def plain_tag(text: str) -> str:
    """The tag a plain scalar of this text reads back as (`str` unless it looks like another
    type: `null`, `true`, `12`, `1.5`, `2024-01-02`...)."""
    return resolve(ScalarNode, text, (True, False))
