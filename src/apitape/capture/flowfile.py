"""Read a mitmproxy flow file (`mitmdump -w PATH`) into exchanges, as capture stores them."""

from __future__ import annotations

import os

from mitmproxy import exceptions, http, io

from apitape.capture.addon import exchange_from_flow
from apitape.errors import ImportFileError
from apitape.models import Exchange


def exchanges_from_flow_file(path: str | os.PathLike[str]) -> tuple[list[Exchange], int]:
    """The HTTP exchanges of a flow file in its order, and how many flows were skipped.

    A flow is skipped when it has no response (the request failed) or is not HTTP (TCP, UDP,
    DNS). Each kept flow becomes an exchange exactly as `apitape record` would have stored it:
    bodies decoded, timing and client kept, the id left to the cassette writer.
    """
    name = str(path)
    exchanges: list[Exchange] = []
    skipped = 0
    try:
        with open(path, "rb") as handle:
            for flow in io.FlowReader(handle).stream():
                if isinstance(flow, http.HTTPFlow) and flow.response is not None:
                    exchanges.append(exchange_from_flow(flow))
                else:
                    skipped += 1
    except FileNotFoundError:
        raise ImportFileError(name, "no such file; check the path") from None
    except IsADirectoryError:
        raise ImportFileError(name, "is a directory; give the path of a flow file") from None
    except OSError as exc:
        raise ImportFileError(name, f"cannot be read ({exc.strerror})") from None
    except exceptions.FlowReadException as exc:
        reason = str(exc).rstrip(".")
        read = len(exchanges) + skipped
        if read == 0:
            raise ImportFileError(
                name,
                f"is not a mitmproxy flow file ({reason}); give a file written by "
                "`mitmdump -w PATH`, or a HAR file",
            ) from None
        raise ImportFileError(
            name,
            f"flow {read + 1} cannot be read ({reason}); the file is damaged or was cut off "
            f"while mitmproxy wrote it. `mitmdump -nr FILE -w NEW` copies the {read} readable "
            "flow(s) before it into NEW (and reports the damage); import NEW",
        ) from None
    return exchanges, skipped
