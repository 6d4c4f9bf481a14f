"""Endpoint names: `GET /books/17` and `GET /books/18` are both `GET /books/{id}`."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # it names paths with this module's guess: imported at run time there
    from apitape.http.path_parameters import PathParameters

_ID_SEGMENT = re.compile(
    r"""^(?:
        \d+                                                     # 17
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # uuid
      | [0-9a-fA-F]{16,}                                        # long hex: object ids, hashes
      | (?=[^/]*\d)[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)+           # slug with digits: dune-1965
      | (?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}  # long random key
    )$""",
    re.VERBOSE,
)
_VERSION = re.compile(r"^v\d+(?:\.\d+)*$")  # /api/v2 names the API, not a resource


def is_id_segment(segment: str) -> bool:
    """Whether a path segment looks like an id rather than a fixed name."""
    return bool(_ID_SEGMENT.match(segment)) and not _VERSION.match(segment)


DOTTED_VERSION = re.compile(r"^\d+(?:\.\d+)+$")
_API_ROOTS = frozenset(("api", "rest", "apis"))


def is_api_version(segments: Sequence[str], index: int) -> bool:
    """Whether segment `index` is a dotted version right under an API root (`/api/2.0/...`):
    it names the API, not a resource."""
    return bool(
        index
        and segments[index - 1].lower() in _API_ROOTS
        and DOTTED_VERSION.match(segments[index])
    )


def guessed_id(segments: Sequence[str], index: int) -> bool:
    """Whether segment `index` of a split path looks like an id by its shape alone."""
    return is_id_segment(segments[index]) and not is_api_version(segments, index)


@functools.lru_cache(maxsize=8192)  # a replay asks for the same few paths again and again
def endpoint_template(path: str) -> str:
    """The path with id-like segments replaced by `{id}`; a dotted version right under an
    API root (`/api/2.0/...`) names the API, not a resource."""
    segments = path.split("/")
    return "/".join("{id}" if guessed_id(segments, i) else s for i, s in enumerate(segments)) or "/"


def _authority_end(url: str) -> int | None:
    """Where `scheme://authority` of an absolute URL ends, by string search rather than
    urlsplit (it runs for every exchange judged); None when the URL is not absolute."""
    start = url.find("//")
    if start < 0 or url.find(":", 0, start) < 0:
        return None
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start + 2, end)
        if found >= 0:
            end = found
    return end


def origin(url: str) -> str:
    """`scheme://host:port` of a URL."""
    end = _authority_end(url)
    if end is None:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"
    return url[:end]


def url_path(url: str) -> str:
    """The path of a URL ('/' when it has none), as urlsplit gives it."""
    begin = _authority_end(url)
    if begin is None:
        return urlsplit(url).path or "/"
    if url[begin : begin + 1] != "/":
        return "/"
    end = len(url)
    for mark in "?#":
        found = url.find(mark, begin, end)
        if found >= 0:
            end = found
    return url[begin:end]


def endpoint_name(method: str, url: str, templates: Sequence[Template] = ()) -> str:
    """`METHOD /path/{id}` for a request: an explicit template if one fits, else the guess."""
    method = method.upper()
    path = url_path(url)
    for template in templates:
        if template.match(method, path):
            return f"{method} {template.path}"
    return f"{method} {endpoint_template(path)}"


@dataclass(frozen=True)
class EndpointNamer:
    """Names every exchange of a run the same way: explicit templates first (an OpenAPI
    document's, then apitape.yaml's), else the parameters learned from the run's cassettes,
    else the guess from the path's shape.

    One namer is built per run and handed to every stage, so the replayer, the judge, the
    skip rules and the pytest plugin cannot disagree on an exchange's endpoint.
    """

    templates: tuple[Template, ...] = ()
    learned: PathParameters | None = None

    def __call__(self, method: str, url: str) -> str:
        if self.learned is None:
            return endpoint_name(method, url, self.templates)
        method = method.upper()
        path = url_path(url)
        for template in self.templates:
            if template.match(method, path):
                return f"{method} {template.path}"
        return f"{method} {self.learned.template(path)}"

    def renamed(self, endpoint: str, learned: PathParameters) -> str:
        """The name of an endpoint named by the guess, once `learned` is known: its learned
        name, unless an explicit template named it (those names stay)."""
        if endpoint.partition(" ")[2] in {template.path for template in self.templates}:
            return endpoint
        return learned.rename(endpoint)


@dataclass(frozen=True)
class Template:
    """An explicit endpoint template: `/books/{isbn}`, optionally for one method."""

    method: str | None
    segments: tuple[str, ...]

    @property
    def path(self) -> str:
        return "/".join(self.segments)

    def match(self, method: str, path: str) -> bool:
        """Whether a request path fits this template (`{name}` matches one segment)."""
        if self.method and self.method != method:
            return False
        parts = path.split("/")
        if len(parts) != len(self.segments):
            return False
        return all(_segment_fits(s, p) for s, p in zip(self.segments, parts, strict=True))


def _segment_fits(template: str, segment: str) -> bool:
    """`{name}` fits any segment; `{name}.json` or `v{major}` fit like a glob of one segment."""
    if "{" not in template:
        return template == segment
    if template.startswith("{") and template.endswith("}") and template.count("{") == 1:
        return True
    return _segment_regex(template).fullmatch(segment) is not None


@functools.lru_cache(maxsize=256)
def _segment_regex(template: str) -> re.Pattern[str]:
    literals = re.split(r"\{[^{}/]*\}", template)
    return re.compile("[^/]+?".join(re.escape(part) for part in literals))
