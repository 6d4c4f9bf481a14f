"""mitmproxy's CA: where the certificate HTTPS clients must trust lives (made if missing)."""

from __future__ import annotations

from pathlib import Path

from mitmproxy import certs

from apitape.errors import UsageError

DEFAULT_CONFDIR = "~/.mitmproxy"
_BASENAME = "mitmproxy"  # mitmproxy's own file names: mitmproxy-ca.pem, mitmproxy-ca-cert.pem
_KEY_SIZE = 2048  # mitmproxy's default for a new CA


def ca_certificate(confdir: str | None) -> Path:
    """The PEM certificate of the CA the proxy signs HTTPS with; made like mitmproxy does."""
    directory = Path(confdir or DEFAULT_CONFDIR).expanduser()
    try:
        certs.CertStore.from_store(directory, _BASENAME, _KEY_SIZE)
    except OSError as exc:
        raise UsageError(
            f"{directory}: cannot create mitmproxy's CA there ({exc.strerror}); "
            "give a writable directory",
            "confdir",
        ) from None
    return directory / f"{_BASENAME}-ca-cert.pem"
