"""Fixtures every kind of test can use."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where a connection is refused, for as long as the test runs.

    The port is bound and never listened on: nobody else can take it meanwhile (a fixed
    port such as 9 may well be open on some machine), and a connection gets a reset.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
