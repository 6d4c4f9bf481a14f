"""Normalization: the step between parsing a response and diffing it.

Volatile values are masked by shape (a UUID becomes `<uuid>`), the service's own address
becomes `<origin>`, and apitape.yaml's rules ignore, mask or reorder what they name. Every
value masked is logged with the rule that masked it, so the report can say what was ignored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apitape.compare.masks import Masked, ShapeMasks, masks_from_settings, replace_origins
from apitape.config import Config, Rules
from apitape.fastjson import canonical
from apitape.http.bodies import ParsedBody
from apitape.jsonpath import generalize, json_path
from apitape.models import Headers


@dataclass(frozen=True)
class NormalizeContext:
    """Where a value comes from: exchange, endpoint, which side, and that side's own origin."""

    endpoint: str
    side: str  # "recorded" or "replayed" (or "baseline" / "candidate")
    origin: str | None = None
    exchange_id: str = ""


class MaskLog:
    """Which rule masked what: (endpoint, path, rule) -> how many exchanges it touched.

    An exchange is compared in one go, so it counts once when its id differs from the last
    one logged under that key; counts, not sets of ids, keep a long replay's memory flat.
    """

    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self._last: dict[tuple[str, str, str], str] = {}

    def add(self, context: NormalizeContext, path: str, rule: str) -> None:
        key = (context.endpoint, generalize(path), rule)
        if self._last.get(key) != context.exchange_id:
            self._last[key] = context.exchange_id
            self._counts[key] += 1

    def counts(self) -> dict[tuple[str, str, str], int]:
        """(endpoint, path, rule) -> exchanges, to be added to another log (`absorb`)."""
        return dict(self._counts)

    def absorb(self, counts: dict[tuple[str, str, str], int]) -> None:
        """Add another log's counts (a shard's, replayed elsewhere) to these."""
        for key, count in counts.items():
            self._counts[key] += count

    def rename(self, names: Mapping[str, str]) -> None:
        """Give endpoints other names (`names`: old -> new), adding up what then coincides."""
        renamed: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        for (endpoint, path, rule), count in self._counts.items():
            renamed[(names.get(endpoint, endpoint), path, rule)] += count
        self._counts = renamed
        self._last = {}

    def entries(self) -> list[tuple[str, str, str, int]]:
        """(endpoint, path, rule, exchanges) sorted by endpoint and path."""
        return sorted((e, p, r, n) for (e, p, r), n in self._counts.items())


_IGNORED = object()

_URL_HEADERS = frozenset({"location", "content-location"})
"""Headers whose value is a URL that may be relative to the answering side's origin."""


def _relative(url: str) -> bool:
    """Whether `url` is a path-absolute reference (`/books/7`), not `//host/...` or a URL."""
    return url.startswith("/") and not url.startswith("//")


class RuleNormalizer:
    """Masks volatile shapes and the origin, and applies apitape.yaml's rules."""

    def __init__(self, config: Config | None = None, log: MaskLog | None = None) -> None:
        self.config = config or Config()
        self.log = log or MaskLog()
        self._masks: dict[str, ShapeMasks] = {}

    def _shape_masks(self, endpoint: str, rules: Rules) -> ShapeMasks:
        masks = self._masks.get(endpoint)
        if masks is None:
            masks = masks_from_settings(self.config.masks)
            if rules.text_masks:
                masks = ShapeMasks(masks.enabled, rules.text_masks)
            self._masks[endpoint] = masks
        return masks

    def _origins(self, context: NormalizeContext, masks: ShapeMasks) -> Iterable[str]:
        if "origin" not in masks.enabled or not context.origin:
            return ()
        netloc = context.origin.split("://", 1)[-1]
        # A bare host:port too: a service echoing the Host it was sent, or naming itself.
        bare = (netloc,) if ":" in netloc else ()
        return (context.origin, f"//{netloc}", *bare)

    def headers(self, headers: Headers, context: NormalizeContext) -> Headers:
        rules = self.config.rules_for(context.endpoint)
        masks = self._shape_masks(context.endpoint, rules)
        origins = tuple(self._origins(context, masks))
        result = []
        for name, value in headers:
            lowered = name.lower()
            path = f"headers.{lowered}"
            new = value
            if origins and lowered in _URL_HEADERS and _relative(value):
                # A relative reference is a URL at the answering side's own origin: the
                # target's `/books/7` is where the recording's `http://staging/books/7` was.
                new = origins[0] + value
            new = replace_origins(new, origins)
            if new != value:
                self.log.add(context, path, "origin")
            if name.lower() == "etag" and "etag" in masks.enabled:
                new = "<etag>"
                self.log.add(context, path, "etag")
            else:
                hits: list[str] = []
                new = masks.text(new, hits.append)
                for rule in hits:
                    self.log.add(context, path, rule)
            result.append((name, new))
        return tuple(result)

    def body(self, parsed: ParsedBody, context: NormalizeContext) -> ParsedBody:
        rules = self.config.rules_for(context.endpoint)
        masks = self._shape_masks(context.endpoint, rules)
        origins = tuple(self._origins(context, masks))
        if parsed.kind in ("json", "form"):
            walker = _Walker(rules, masks, origins, self.log, context)
            value = walker.walk(parsed.value, ())
            return ParsedBody(parsed.kind, None if value is _IGNORED else value)
        if parsed.kind == "text":
            text = replace_origins(parsed.value, origins)
            if text != parsed.value:
                self.log.add(context, "body", "origin")
            text = masks.text(text, lambda rule: self.log.add(context, "body", rule))
            # Masked keeps the original text for the report; it compares by the masked text.
            return ParsedBody(
                "text", Masked(text, parsed.value, "text") if text != parsed.value else text
            )
        return parsed

    def same(
        self,
        expected: ParsedBody,
        actual: ParsedBody,
        contexts: tuple[NormalizeContext, NormalizeContext],
        prepare: Callable[[Any, str | None], Any] = lambda value, name: value,
    ) -> bool:
        """Whether two parsed JSON or form bodies are equal once normalized.

        The answer `body()` on both sides would give, but only the parts that differ are
        normalized: most answers of a replay equal their recording but for a timestamp, and
        walking every field of both through every mask is most of the cost of comparing.
        Values identical on both sides are equal, whatever the rules say. `prepare(value,
        field name)` runs on each differing part before it is normalized (redaction).
        """
        if expected.kind != actual.kind or expected.kind not in ("json", "form"):
            raise ValueError("same() compares two JSON or two form bodies")
        rules = self.config.rules_for(contexts[0].endpoint)
        walkers = tuple(
            _Walker(rules, masks, tuple(self._origins(context, masks)), self.log, context)
            for context in contexts
            for masks in (self._shape_masks(context.endpoint, rules),)
        )
        return _CoWalk(rules, walkers[0], walkers[1], prepare).same(
            expected.value, actual.value, (), None
        )


class _CoWalk:
    """Both sides of a body at once, descending only where they differ."""

    def __init__(
        self,
        rules: Rules,
        expected: _Walker,
        actual: _Walker,
        prepare: Callable[[Any, str | None], Any],
    ) -> None:
        self.rules, self.expected, self.actual, self.prepare = rules, expected, actual, prepare

    def same(self, a: Any, b: Any, keys: tuple[Any, ...], name: str | None) -> bool:
        # == takes 1 for 1.0 and True inside containers; their encodings tell them apart.
        if (
            type(a) is type(b)
            and a == b
            and (not isinstance(a, dict | list) or canonical(a) == canonical(b))
        ):
            return True
        rules = self.rules
        if not keys or not any(p.matches(keys) for p in (*rules.ignore, *rules.mask)):
            if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
                return all(self.same(a[k], b[k], (*keys, k), k) for k in a)
            if (
                isinstance(a, list)
                and isinstance(b, list)
                and len(a) == len(b)
                and not any(p.matches(keys) for p in rules.unordered)
            ):
                pairs = enumerate(zip(a, b, strict=True))
                return all(self.same(x, y, (*keys, i), name) for i, (x, y) in pairs)
        # Different shapes, a rule on this very place, or two leaves: normalize both.
        before = self.expected.walk(self.prepare(a, name), keys)
        after = self.actual.walk(self.prepare(b, name), keys)
        if before is _IGNORED or after is _IGNORED:
            return before is after
        return canonical(before) == canonical(after)


class _Walker:
    """One pass over a parsed JSON (or form) value with the rules of one endpoint."""

    def __init__(
        self,
        rules: Rules,
        masks: ShapeMasks,
        origins: tuple[str, ...],
        log: MaskLog,
        context: NormalizeContext,
    ) -> None:
        self.rules, self.masks, self.origins, self.log, self.context = (
            rules,
            masks,
            origins,
            log,
            context,
        )

    def walk(self, value: Any, keys: tuple[Any, ...]) -> Any:
        if keys and any(p.matches(keys) for p in self.rules.ignore):
            self.log.add(self.context, json_path(keys), "ignore")
            return _IGNORED
        if keys and any(p.matches(keys) for p in self.rules.mask):
            self.log.add(self.context, json_path(keys), "mask")
            return Masked("<masked>", value, "mask")
        if isinstance(value, dict):
            walked = {k: self.walk(v, (*keys, k)) for k, v in value.items()}
            return {k: v for k, v in walked.items() if v is not _IGNORED}
        if isinstance(value, list):
            items = [
                w for i, v in enumerate(value) if (w := self.walk(v, (*keys, i))) is not _IGNORED
            ]
            if any(p.matches(keys) for p in self.rules.unordered):
                self.log.add(self.context, json_path(keys), "unordered")
                items.sort(key=_sort_key)
            return items
        if isinstance(value, str):
            return self._string(value, keys)
        if isinstance(value, int | float) and not isinstance(value, bool):
            masked = self.masks.number(keys[-1] if keys else None, value)
            if isinstance(masked, Masked):
                self.log.add(self.context, json_path(keys), masked.rule)
            return masked
        return value

    def _string(self, value: str, keys: tuple[Any, ...]) -> Any:
        path = json_path(keys)
        masked = self.masks.string(value)
        if isinstance(masked, Masked):
            self.log.add(self.context, path, masked.rule)
            return masked
        # Volatile parts inside a longer string: a URL with the service's address or an id.
        rules_hit: list[str] = []
        moved = replace_origins(value, self.origins)
        if moved != value:
            rules_hit.append("origin")
        moved = self.masks.text(moved, rules_hit.append)
        if moved == value:
            return value
        for rule in rules_hit:
            self.log.add(self.context, path, rule)
        return Masked(moved, value, rules_hit[0] if rules_hit else "mask")


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
