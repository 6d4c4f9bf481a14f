"""Every error apitape raises on purpose, each saying what happened and what to do.

ApitapeError                  base of everything below; the CLI prints it and exits 2
├── CassetteError (ValueError)         a cassette cannot be read: names the file and line
│   └── CassetteNotFoundError (FileNotFoundError)   the cassette path does not exist
├── CassetteWriteError (OSError)       an exchange could not be appended to a cassette
├── ConfigError (ValueError)           apitape.yaml or a noise file is invalid: names file and line
├── UsageError (ValueError)            an option or argument makes no sense (bad URL, port...)
├── ProxyStartError                    the recording proxy could not start (port taken...)
├── ProcessStartError                  a local process exited or never listened
├── DemoError                          the demo could not start or drive its example service
├── ImportFileError (ValueError)       a HAR or flow file cannot be imported: names file and entry
├── OpenApiSpecError (ValueError)      an OpenAPI document cannot be used: names file, line, pointer
└── ReportFileError (ValueError)       a saved JSON report cannot be read back: names file and key

A regression found by a replay is data (an `Outcome`), never an exception.
"""

from __future__ import annotations


class ApitapeError(Exception):
    """Raised when apitape cannot do what it was asked; the message says why and what to do."""


class CassetteError(ApitapeError, ValueError):
    """Raised when a cassette is not valid YAML or not in the cassette format."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """Raised when a cassette path does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "no such file; check the path (record one with `apitape record`)")


class ConfigError(ApitapeError, ValueError):
    """Raised when apitape.yaml or a noise file is invalid: names the file, line and key."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")


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


class ImportFileError(ApitapeError, ValueError):
    """Raised when a HAR or mitmproxy flow file cannot be imported: names the file and entry.

    `where` is the place in the file, such as `log.entries[3].response.status`.
    """

    def __init__(self, path: str, message: str, where: str | None = None) -> None:
        self.path = path
        self.where = where
        self.detail = message
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


class OpenApiSpecError(ApitapeError, ValueError):
    """Raised when an OpenAPI document cannot be read, resolved or is of an unsupported version.

    `line` is the 1-based line in the file and `pointer` the JSON pointer of the place
    (`#/paths/~1books/get/responses/200/content/application~1json/schema/$ref`), when known.
    """

    def __init__(
        self, path: str, message: str, line: int | None = None, pointer: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.pointer = pointer
        self.detail = message
        where = path
        if line is not None:
            where += f", line {line}"
        if pointer is not None:
            where += f" (at {pointer})"
        super().__init__(f"{where}: {message}")


class ReportFileError(ApitapeError, ValueError):
    """Raised when a saved JSON report cannot be read back: names the file and the key."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}")
