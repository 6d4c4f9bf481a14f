"""Every error apitape raises on purpose, each saying what happened and what to do.

ApitapeError                  base of everything below; the CLI prints it and exits 2
├── LocatedError                       a file is wrong at a place: `path`, `line`, `place`, `detail`
│   ├── CassetteError (ValueError)         a cassette cannot be read: names the file and line
│   │   └── CassetteNotFoundError (FileNotFoundError)   the cassette path does not exist
│   ├── ConfigError (ValueError)           apitape.yaml or a noise file is invalid: file and line
│   ├── ImportFileError (ValueError)       a HAR or flow file cannot be imported: file and entry
│   ├── OpenApiSpecError (ValueError)      an OpenAPI document cannot be used: file, line, pointer
│   └── ReportFileError (ValueError)       a saved JSON report cannot be read back: file and key
├── CassetteWriteError (OSError)       an exchange could not be appended to a cassette
├── UsageError (ValueError)            an option or argument makes no sense (bad URL, port...)
├── ProxyStartError                    the recording proxy could not start (port taken...)
├── ProcessStartError                  a local process exited or never listened
└── DemoError                          the demo could not start or drive its example service

A regression found by a replay is data (an `Outcome`), never an exception.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApitapeError(Exception):
    """Raised when apitape cannot do what it was asked; the message says why and what to do."""


class LocatedError(ApitapeError):
    """Raised when a file apitape reads is wrong at a place; the message starts with where.

    `path` names the file, `line` is its 1-based line and `place` the spot in the file's own
    terms (a HAR entry such as `log.entries[3].response.status`, an OpenAPI JSON pointer),
    each None when not known; `detail` is the message without the location.
    """

    place_format: ClassVar[str] = " (at {})"
    """How `place` follows the path and line in `location()`."""

    def __init__(
        self, path: str, detail: str, line: int | None = None, place: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.place = place
        self.detail = detail
        super().__init__(f"{self.location()}: {detail}")

    def location(self) -> str:
        """Where in which file: `path`, then `, line N` and the place when they are known."""
        where = self.path if self.line is None else f"{self.path}, line {self.line}"
        return where if self.place is None else where + self.place_format.format(self.place)

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses' constructors differ from `args` (the one formatted message), so the
        # default reduction cannot rebuild them: a pickled error (from a worker) is restored
        # from its message and attributes instead.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[LocatedError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    # Without running the constructor; OSError (CassetteNotFoundError's) lays its objects out
    # differently from the other builtins, so it must allocate its own.
    error = (OSError if issubclass(cls, OSError) else Exception).__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class CassetteError(LocatedError, ValueError):
    """Raised when a cassette is not valid YAML or not in the cassette format."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        super().__init__(path, message, line)


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """Raised when a cassette path does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "no such file; check the path (record one with `apitape record`)")


class ConfigError(LocatedError, ValueError):
    """Raised when apitape.yaml or a noise file is invalid: names the file, line and key."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(path, message, line)


class CassetteWriteError(ApitapeError, OSError):
    """Raised when an exchange cannot be appended to a cassette (disk full, permissions)."""


class UsageError(ApitapeError, ValueError):
    """Raised when an option or argument cannot be used as given.

    `setting` is the Python name of the setting at fault (`sample`, `concurrency`), and the
    message does not word it: each face names it its own way (`--sample` on the command
    line, `apitape_sample` for mitmdump, `sample=` from Python; see `worded`).
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        self.setting = setting
        self.detail = message
        super().__init__(f"{setting} {message}" if setting else message)

    def worded(self, name: str) -> str:
        """The message with the setting called `name` (a flag, an option)."""
        return f"{name} {self.detail}" if self.setting else self.detail


class DemoError(ApitapeError):
    """Raised when the demo cannot start or drive the bundled example service."""


class ProxyStartError(ApitapeError):
    """Raised when the recording proxy could not start (port taken, unwritable cassette)."""


class ProcessStartError(ApitapeError):
    """Raised when a local process exits or fails to listen before it was ready."""


class ImportFileError(LocatedError, ValueError):
    """Raised when a HAR or mitmproxy flow file cannot be imported: names the file and entry.

    `where` (also `place`) is the place in the file, such as `log.entries[3].response.status`.
    """

    place_format = ": {}"

    def __init__(self, path: str, message: str, where: str | None = None) -> None:
        super().__init__(path, message, place=where or None)

    @property
    def where(self) -> str | None:
        """The place in the file, such as `log.entries[3].response.status`."""
        return self.place


class OpenApiSpecError(LocatedError, ValueError):
    """Raised when an OpenAPI document cannot be read, resolved or is of an unsupported version.

    `line` is the 1-based line in the file and `pointer` (also `place`) the JSON pointer of
    the place (`#/paths/~1books/get/responses/200/content/application~1json/schema/$ref`),
    when known.
    """

    def __init__(
        self, path: str, message: str, line: int | None = None, pointer: str | None = None
    ) -> None:
        super().__init__(path, message, line, pointer)

    @property
    def pointer(self) -> str | None:
        """The JSON pointer of the place in the document."""
        return self.place


class ReportFileError(LocatedError, ValueError):
    """Raised when a saved JSON report cannot be read back: names the file and the key."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
