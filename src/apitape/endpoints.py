"""Endpoint names: `GET /books/17` and `GET /books/18` are both `GET /books/{id}`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_ID_SEGMENT = re.compile(
    r"""^(?:
        \d+                                                   # 17
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # uuid
      | [0-9a-fA-F]{16,}                                      # long hex (object ids, hashes)
    )$""",
    re.VERBOSE,
)


def endpoint_template(path: str) -> str:
    """The path with id-like segments replaced by `{id}`."""
    segments = path.split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in segments) or "/"


def endpoint_name(method: str, url: str) -> str:
    """`METHOD /path/{id}` for a request: how reports group exchanges."""
    return f"{method.upper()} {endpoint_template(urlsplit(url).path or '/')}"
