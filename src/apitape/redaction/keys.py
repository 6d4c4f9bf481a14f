"""The key redaction placeholders are hashed with: from a file, the environment, or random."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from apitape.errors import UsageError

KEY_ENV = "APITAPE_REDACT_KEY"


def redaction_key(key_file: str | None, environ: Mapping[str, str]) -> tuple[bytes, str]:
    """The key placeholders are hashed with, and where it came from (for the header).

    `key_file` is read (or created, readable only by its owner) so cassettes recorded on
    different days share placeholders; else $APITAPE_REDACT_KEY; else a random key that
    lives only as long as this recording.
    """
    if key_file:
        path = Path(key_file)
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
            key = path.read_text(encoding="utf-8").strip().encode()
        except OSError as exc:
            raise UsageError(
                f"{key_file}: cannot be read or created ({exc.strerror})", "redact_key_file"
            ) from None
        if not key:
            raise UsageError(f"{key_file} is empty; delete it to get a new key", "redact_key_file")
        return key, f"file {path.name}"
    if environ.get(KEY_ENV):
        return environ[KEY_ENV].encode(), f"${KEY_ENV}"
    return secrets.token_bytes(32), "random, for this recording only"
