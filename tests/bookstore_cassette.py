"""The committed cassettes/bookstore.yaml, and the secret a replay of it needs.

It was recorded by examples/bookstore/record_cassette.sh with a random redaction key that
nobody kept, so alice's password is filled in by naming the placeholder it became; the
client's deliberately wrong password (the other `redacted-password-...`) stays wrong.
"""

from __future__ import annotations

from pathlib import Path

from apitape.demo import DEMO_PASSWORD

COMMITTED = Path(__file__).resolve().parents[1] / "cassettes" / "bookstore.yaml"
PASSWORD_PLACEHOLDER = "redacted-password-95c26998fa094fd8"
SECRET = f"{PASSWORD_PLACEHOLDER}={DEMO_PASSWORD}"
SECRET_ARGS = ("--secret", SECRET)
SECRETS = ((PASSWORD_PLACEHOLDER, DEMO_PASSWORD),)
"""As `apitape.RunSettings(secrets=...)` takes them."""
