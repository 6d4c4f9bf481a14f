"""Pair the exchanges of two cassettes, for `apitape diff A B`."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from urllib.parse import urlsplit

from apitape.models import Exchange


def request_key(exchange: Exchange) -> tuple[str, str]:
    """Method and path with query: what makes two recordings' requests the same request."""
    url = urlsplit(exchange.request.url)
    return exchange.request.method, url.path + (f"?{url.query}" if url.query else "")


def pair_exchanges(
    first: Sequence[Exchange], second: Sequence[Exchange]
) -> tuple[list[tuple[Exchange, Exchange | None]], list[Exchange]]:
    """Each exchange of `first` with its counterpart in `second` (None if it has none), and
    the exchanges of `second` nobody matched.

    The same id is the counterpart when it is the same request; otherwise the next unused
    exchange of `second` with the same method, path and query, in recorded order.
    """
    by_id = {e.id: e for e in second}
    by_key: defaultdict[tuple[str, str], deque[Exchange]] = defaultdict(deque)
    for exchange in second:
        by_key[request_key(exchange)].append(exchange)
    used: set[int] = set()
    pairs: list[tuple[Exchange, Exchange | None]] = []
    for exchange in first:
        key = request_key(exchange)
        match = by_id.get(exchange.id)
        if match is None or id(match) in used or request_key(match) != key:
            queue = by_key[key]
            while queue and id(queue[0]) in used:
                queue.popleft()
            match = queue.popleft() if queue else None
        if match is not None:
            used.add(id(match))
        pairs.append((exchange, match))
    unmatched = [e for e in second if id(e) not in used]
    return pairs, unmatched
