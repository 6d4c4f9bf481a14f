"""apitape.replay.tls: certificate names read from DER, TLS failures worded with their fix, and
the options' own errors."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apitape.errors import UsageError
from apitape.replay.replayer import describe_error
from apitape.replay.tls import TlsOptions, certificate_names, explain, ssl_error


def der(subject: x509.Name, issuer: x509.Name) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def name(**attributes: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attributes.items()])


@pytest.mark.parametrize(
    ("subject", "issuer", "expected"),
    [
        (name(CN="staging.internal"), name(CN="Corp CA"), "CN=staging.internal, issued by CN=Corp CA"),
        (name(CN="self"), name(CN="self"), "CN=self"),
        (name(C="DE", O="Bücher GmbH", CN="bücher.internal"), name(CN="CA"),
         "C=DE, O=Bücher GmbH, CN=bücher.internal, issued by CN=CA"),
    ],
)  # fmt: skip
def test_certificate_names_are_read_from_the_der(
    subject: x509.Name, issuer: x509.Name, expected: str
) -> None:
    assert certificate_names(der(subject, issuer)) == expected


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x30\x82\xff\xff", b"not a certificate" * 10])
def test_certificate_names_of_garbage_is_none(data: bytes) -> None:
    assert certificate_names(data) is None


def verification(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code, error.verify_message = code, message
    return error


def alert(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, reason)
    error.reason = reason
    return error


WHERE = "127.0.0.1:18443"


@pytest.mark.parametrize(
    ("error", "options", "expected"),
    [
        (verification(19, "self-signed certificate in certificate chain"), TlsOptions(),
         "TLS: the certificate of 127.0.0.1:18443 is not trusted: self-signed certificate in "
         "certificate chain; give its CA (ca=PEM), or verify no certificate (insecure=True)"),
        (verification(20, "unable to get local issuer certificate"), TlsOptions(ca="corp.pem"),
         "TLS: the certificate of 127.0.0.1:18443 is not trusted by the CAs of corp.pem: unable "
         "to get local issuer certificate; give the CA that signed it (ca=PEM), or verify no "
         "certificate (insecure=True)"),
        (verification(10, "certificate has expired"), TlsOptions(),
         "TLS: the certificate of 127.0.0.1:18443 is not valid now: certificate has expired; "
         "renew it, or verify no certificate (insecure=True)"),
        (verification(64, "IP address mismatch, certificate is not valid for '127.0.0.1'."),
         TlsOptions(),
         "TLS: the certificate of 127.0.0.1:18443 is not for 127.0.0.1: IP address mismatch, "
         "certificate is not valid for '127.0.0.1'; aim the target at a name the certificate is "
         "issued for, or verify no certificate (insecure=True)"),
        (alert("TLSV13_ALERT_CERTIFICATE_REQUIRED"), TlsOptions(),
         "TLS: 127.0.0.1:18443 asks for a client certificate (tlsv13 alert certificate "
         "required); give one (client_cert=PEM, and client_key=PEM unless that file holds the "
         "key)"),
        (alert("TLSV1_ALERT_UNKNOWN_CA"), TlsOptions(cert="me.pem"),
         "TLS: 127.0.0.1:18443 refused the client certificate me.pem (tlsv1 alert "
         "unknown ca); give one that its CA signed"),
        (alert("SSLV3_ALERT_HANDSHAKE_FAILURE"), TlsOptions(),
         "TLS: the handshake with 127.0.0.1:18443 failed (sslv3 alert handshake failure); if it "
         "asks for a client certificate, give one (client_cert=PEM, and client_key=PEM unless "
         "that file holds the key)"),
        (alert("WRONG_VERSION_NUMBER"), TlsOptions(),
         "TLS: 127.0.0.1:18443 does not answer in TLS (wrong version number); if it speaks plain "
         "HTTP, give the target as http://..."),
    ],
)  # fmt: skip
def test_explain_names_what_failed_and_the_fix(
    error: ssl.SSLError, options: TlsOptions, expected: str
) -> None:
    assert explain(error, WHERE, options) == expected


def test_describe_error_words_an_ssl_error_as_tls_not_as_its_errno() -> None:
    request = httpx.Request("GET", "https://127.0.0.1:18443/books")
    exc = httpx.ConnectError("certificate verify failed", request=request)
    exc.__cause__ = verification(19, "self-signed certificate in certificate chain")
    message = describe_error(exc, 30.0)
    assert message.startswith("TLS: the certificate of 127.0.0.1:18443 is not trusted")
    assert "operation not permitted" not in message
    assert ssl_error(exc) is exc.__cause__


def test_options_that_cannot_work_are_usage_errors(tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cases = [
        (TlsOptions(key="k.pem"), "client_key", "goes with a client certificate"),
        (TlsOptions(ca="ca.pem", insecure=True), "insecure", "verifies no certificate"),
        (TlsOptions(ca=str(tmp_path / "missing.pem")), "ca", "cannot be read"),
        (TlsOptions(ca=str(not_pem)), "ca", f"{not_pem}: cannot be used"),
        (TlsOptions(cert=str(not_pem)), "client_cert", f"{not_pem}: cannot be used"),
    ]
    for options, setting, says in cases:
        with pytest.raises(UsageError) as caught:
            options.context()
        assert caught.value.setting == setting  # each face words it: --cert, client_cert=
        assert says in caught.value.detail


def test_an_encrypted_key_is_refused_without_a_prompt(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(CN="client")
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert, encrypted = tmp_path / "client.pem", tmp_path / "client-key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(UsageError, match="the private key is encrypted"):
        TlsOptions(cert=str(cert), key=str(encrypted)).context()


def test_insecure_verifies_nothing_and_the_default_verifies() -> None:
    assert TlsOptions(insecure=True).context().verify_mode == ssl.CERT_NONE
    default = TlsOptions().context()
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert default.check_hostname
