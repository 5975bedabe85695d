"""TLS for the OCPP endpoint (security profiles 2 and 3), built from settings in this one place.

`ServerTls.from_settings` reads the server certificate, its key and the client CA, and builds
the `ssl.SSLContext` the gateway's wss listener uses (the demo and any other TLS listener use
this too):

- TLS 1.2 at least (OCPP 2.0.1 A00.FR.3xx, 1.6 security whitepaper); for TLS 1.2 only the suites
  OCPP names: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and _AES_256_GCM_SHA384 (which the CSMS
  must support), TLS_RSA_WITH_AES_128_GCM_SHA256 and _AES_256_GCM_SHA384 (likewise, for RSA-only
  stations), and the ECDHE_RSA pair in between for RSA server keys with forward secrecy. TLS 1.3
  uses OpenSSL's AEAD suites.
- With a client CA, a client certificate is asked for but not required (profile 2 stations send
  none); OpenSSL checks its chain to the CA, and refuses at the TLS layer a certificate from
  another issuer. Its validity period is checked here instead (OpenSSL is told not to), so an
  expired certificate reaches the HTTP handshake and is refused there with the station's id, a
  reason and a security event (`security/pki.py` `client_certificate_problem`).

A TLS-layer refusal happens before the HTTP request, so no station id is known. The handshake
runs in the OCPP endpoint (ocpp/websocket.py), which hands a refusal to the gateway with the
source address; `refusal` says what it was.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from silkcharge.security import pki
from silkcharge.settings import Settings

log = logging.getLogger(__name__)

TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",
))
_NO_CHECK_TIME = 0x200000  # OpenSSL X509_V_FLAG_NO_CHECK_TIME: validity is checked in Python


class TlsConfigurationError(ValueError):
    """A TLS setting that cannot work; the message names the setting and the file."""


def refusal(error: ssl.SSLError) -> tuple[str, bool]:
    """What a refused handshake was: a reason to record, and whether it was the client's
    certificate that was refused (a security event) rather than, say, an old TLS version."""
    return _reason(error), isinstance(error, ssl.SSLCertVerificationError)


def _reason(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"client certificate refused at the TLS handshake: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


@dataclass
class ServerTls:
    context: ssl.SSLContext
    client_cas: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerTls | None:
        """The wss listener's TLS, or None when no TLS port is configured."""
        if settings.ocpp_tls_port is None:
            return None
        assert settings.tls_cert_file and settings.tls_key_file  # Settings refuses the rest
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(TLS12_CIPHERS)
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
        _check_server_certificate(settings.tls_cert_file, "SILKCHARGE_TLS_CERT_FILE")
        try:
            context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsConfigurationError(
                f"SILKCHARGE_TLS_CERT_FILE / SILKCHARGE_TLS_KEY_FILE ({settings.tls_cert_file}, "
                f"{settings.tls_key_file}): cannot load the server certificate and key: {error}"
            ) from error
        client_cas: list[x509.Certificate] = []
        if settings.tls_client_ca_file is not None:
            client_cas = _read_certificates(settings.tls_client_ca_file, "SILKCHARGE_TLS_CLIENT_CA_FILE")
            context.load_verify_locations(cafile=str(settings.tls_client_ca_file))
            context.verify_mode = ssl.CERT_OPTIONAL
            context.verify_flags |= _NO_CHECK_TIME
        return cls(context, client_cas)

    def client_certificate(self, ssl_object: ssl.SSLObject | None) -> x509.Certificate | None:
        """The certificate a station showed (its chain already checked by OpenSSL), or None."""
        if ssl_object is None or not self.client_cas:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der) if der else None


def _read_certificates(path: Path, setting: str) -> list[x509.Certificate]:
    try:
        return pki.load_certificates(path.read_bytes())
    except (OSError, ValueError) as error:
        raise TlsConfigurationError(f"{setting} ({path}): not a readable PEM certificate file: {error}") from error


def _check_server_certificate(path: Path, setting: str) -> None:
    """Refuse at start-up what stations would refuse: an expired certificate or a key type
    OCPP does not allow."""
    certificate = _read_certificates(path, setting)[0]
    try:
        pki.check_key(certificate.public_key())
    except ValueError as error:
        raise TlsConfigurationError(f"{setting} ({path}): {error}") from error
    problem = pki.validity_problem(certificate)
    if problem:
        raise TlsConfigurationError(f"{setting} ({path}): the server certificate {problem}")
