"""What a replay trusts over TLS, and why a handshake failed, in words that name the fix.

`TlsOptions` is what the user said: a CA to trust (`ca`, else the standard SSL_CERT_FILE
and SSL_CERT_DIR, else certifi's bundle, as httpx uses), a client certificate for mutual TLS
(`client_cert`, `client_key`) or `insecure`. `diagnose` looks again at a target whose first
request failed and says, when TLS is the cause, which certificate (its subject, read from the
certificate itself) failed and how to fix it; `explain` words an `ssl.SSLError`.

The fixes are worded by RunSettings' names (`ca=PEM`, `insecure=True`): the explanation
lands in a report, which every face shows as it is. A UsageError carries the setting's name
and each face words it (`--ca` on the command line).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from apitape.errors import UsageError

_UNTRUSTED = {2, 18, 19, 20, 21}  # no issuer, self-signed (leaf or chain), local issuer missing
_NOT_NOW = {9, 10}  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
_WRONG_NAME = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# Alerts a server sends when it wants, or refuses, the client's certificate.
_CLIENT_REFUSED = (
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
)
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")
_INSECURE = "verify no certificate (insecure=True)"
_CLIENT_CERT = "(client_cert=PEM, and client_key=PEM unless that file holds the key)"


@dataclass(frozen=True)
class TlsOptions:
    """What HTTPS connections trust and present.

    `ca`: a PEM file (or a directory of hashed certificates) of the CAs to trust instead of
    the default ones; `cert`/`key`: the client certificate for mutual TLS (`key` may be left
    out when `cert` holds it); `insecure`: verify nothing (the report records it).
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False

    def context(self) -> ssl.SSLContext:
        """The client SSL context; UsageError naming the setting when a file is unusable."""
        if self.key and not self.cert:
            raise UsageError(
                "goes with a client certificate: give the certificate too", "client_key"
            )
        if self.insecure and self.ca:
            raise UsageError(
                "verifies no certificate: leave it out, or leave out the CA to trust", "insecure"
            )
        if self.insecure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            option, cafile, capath = self.trusted()
            try:
                context = ssl.create_default_context(cafile=cafile, capath=capath)
            except OSError as exc:  # ssl.SSLError too: not PEM, no certificate in it
                raise UsageError(
                    f"{option}: {_file_problem(exc)}; give the CA's certificate as a PEM file",
                    "ca" if self.ca else None,
                ) from None
        if self.cert:
            self._load_client_certificate(context, self.cert)
        return context

    def trusted(self) -> tuple[str, str | None, str | None]:
        """(where the trusted CAs come from: the `ca` given, the variables, or the default
        bundle; cafile; capath)."""
        if self.ca:
            if Path(self.ca).is_dir():
                return self.ca, None, self.ca
            return self.ca, self.ca, None
        cafile = os.environ.get("SSL_CERT_FILE") or None
        capath = os.environ.get("SSL_CERT_DIR") or None
        if cafile or capath:
            named = [f"{k}={v}" for k, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath))]
            return " and ".join(n for n in named if not n.endswith("=None")), cafile, capath
        import certifi  # httpx's own default bundle (httpx requires certifi)

        return "the default CA bundle", certifi.where(), None

    def _load_client_certificate(self, context: ssl.SSLContext, cert: str) -> None:
        given = cert + (f" (key {self.key})" if self.key else "")

        def no_password() -> str:
            raise UsageError(
                f"{given}: the private key is encrypted; give it decrypted "
                "(openssl pkey -in KEY -out PLAIN.pem) and keep that file private",
                "client_cert",
            )

        try:
            context.load_cert_chain(cert, self.key, password=no_password)
        except OSError as exc:
            raise UsageError(
                f"{given}: {_file_problem(exc)}; give the client certificate and its "
                "private key as PEM (the key may be left out when the certificate's file "
                "holds both)",
                "client_cert",
            ) from None


def _file_problem(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or "not PEM, or the key does not match the certificate"
        return f"cannot be used ({_words(reason)})"
    return f"cannot be read ({exc.strerror or exc})"


def _words(reason: str) -> str:
    return reason.lower().replace("_", " ")


def ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError under an exception's causes, if there is one."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def explain(
    error: ssl.SSLError, where: str, options: TlsOptions, certificate: bytes | None = None
) -> str:
    """One line: what failed in the TLS handshake with `where` (host:port), naming the
    certificate (`certificate`, its DER, when known) and the setting that fixes it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        names = certificate_names(certificate) if certificate else None
        named = f"the certificate of {where}" + (f" ({names})" if names else "")
        reason = (error.verify_message or _words(error.reason or "")).rstrip(".")
        code = error.verify_code
        if code in _WRONG_NAME:
            return (
                f"TLS: {named} is not for {where.rsplit(':', 1)[0]}: {reason}; aim the target "
                f"at a name the certificate is issued for, or {_INSECURE}"
            )
        if code in _NOT_NOW:
            return f"TLS: {named} is not valid now: {reason}; renew it, or {_INSECURE}"
        by = f" by the CAs of {options.ca}" if options.ca else ""
        fix = "give the CA that signed it (ca=PEM)" if by else "give its CA (ca=PEM)"
        if code in _UNTRUSTED:
            return f"TLS: {named} is not trusted{by}: {reason}; {fix}, or {_INSECURE}"
        return f"TLS: {named} could not be verified{by}: {reason}; {fix}, or {_INSECURE}"
    reason = error.reason or ""
    text = _words(reason) if reason else (str(error) or type(error).__name__)
    if any(reason.endswith(alert) for alert in _CLIENT_REFUSED):
        if options.cert:
            return (
                f"TLS: {where} refused the client certificate {options.cert} ({text}); "
                "give one that its CA signed"
            )
        return f"TLS: {where} asks for a client certificate ({text}); give one {_CLIENT_CERT}"
    if reason.endswith("HANDSHAKE_FAILURE") and not options.cert:
        return (
            f"TLS: the handshake with {where} failed ({text}); if it asks for a client "
            f"certificate, give one {_CLIENT_CERT}"
        )
    if reason in _NOT_TLS:
        return (
            f"TLS: {where} does not answer in TLS ({text}); if it speaks plain HTTP, "
            "give the target as http://..."
        )
    return f"TLS: the handshake with {where} failed: {text}"


async def diagnose(
    host: str, port: int, context: ssl.SSLContext, options: TlsOptions, timeout: float
) -> str | None:
    """Why TLS with host:port fails, as `explain` words it; None when the handshake works
    and the server has nothing to say against it (TLS is not the problem).

    A server that refuses the client's certificate under TLS 1.3 says so only after the
    handshake, often while the request is already on its way, and a reset may overtake
    its alert; so the handshake is made once more and the answer waited for, briefly."""
    where = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host
            )
    except ssl.SSLError as exc:
        certificate = None
        if isinstance(exc, ssl.SSLCertVerificationError):
            certificate = await peer_certificate(host, port, options, timeout)
        return explain(exc, where, options, certificate)
    except (OSError, TimeoutError):
        return None  # refused, unreachable: not TLS
    try:
        async with asyncio.timeout(min(timeout, 1.0)):
            await reader.read(1)
    except ssl.SSLError as exc:
        return explain(exc, where, options)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    return None


async def peer_certificate(
    host: str, port: int, options: TlsOptions, timeout: float
) -> bytes | None:
    """The DER of the certificate host:port presents, read without verifying it (to name
    it); None when even that fails."""
    context = TlsOptions(cert=options.cert, key=options.key, insecure=True).context()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    except (OSError, TimeoutError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


# Certificate names, read from the DER with a few lines of ASN.1 rather than a library: the
# ssl module gives a certificate's fields only once it is verified, and this is one that
# failed verification.

_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
}
_STRINGS = {0x0C: "utf-8", 0x13: "latin-1", 0x16: "latin-1", 0x14: "latin-1", 0x1E: "utf-16-be"}


def certificate_names(der: bytes) -> str | None:
    """The subject of a DER certificate ("CN=staging.internal"), with ", issued by CN=..."
    when another name signed it; None when it cannot be read."""
    try:
        _, start, _ = _element(der, 0)  # Certificate
        _, index, _ = _element(der, start)  # TBSCertificate
        fields: list[tuple[int, int]] = []
        while len(fields) < 6:
            tag, body, end = _element(der, index)
            if not (tag == 0xA0 and not fields):  # [0] version, when present
                fields.append((body, end))
            index = end
        # serial, signature algorithm, issuer, validity, subject
        issuer, subject = _name(der, *fields[2]), _name(der, *fields[4])
    except (IndexError, ValueError):
        return None
    if not subject:
        return None
    return subject if not issuer or issuer == subject else f"{subject}, issued by {issuer}"


def _element(der: bytes, index: int) -> tuple[int, int, int]:
    """(tag, where its content starts, where it ends) of the DER element at `index`."""
    tag, length = der[index], der[index + 1]
    start = index + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _name(der: bytes, start: int, end: int) -> str:
    """A Name (SEQUENCE of SET of (OID, value)) as "CN=x, O=y", known attributes only."""
    parts = []
    index = start
    while index < end:
        _, set_start, set_end = _element(der, index)  # RelativeDistinguishedName
        inner = set_start
        while inner < set_end:
            _, pair_start, pair_end = _element(der, inner)
            _, oid_start, oid_end = _element(der, pair_start)
            tag, value_start, value_end = _element(der, oid_end)
            label = _NAMES.get(_oid(der[oid_start:oid_end]))
            if label is not None and tag in _STRINGS:
                parts.append(f"{label}={der[value_start:value_end].decode(_STRINGS[tag])}")
            inner = pair_end
        index = set_end
    return ", ".join(parts)


def _oid(data: bytes) -> str:
    if not data:
        raise ValueError("empty OID")
    numbers = [data[0] // 40, data[0] % 40]
    value = 0
    for byte in data[1:]:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    return ".".join(map(str, numbers))
