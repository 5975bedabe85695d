"""X.509 mechanics for OCPP security profiles 2 and 3, with the `cryptography` package.

A CA (the CSMS's own, or one loaded from files an operator supplies), TLS server certificates
for the OCPP endpoint, client certificates signed from a station's CSR, and the
CertificateHashData that OCPP uses to name a certificate. Policy (which CSR a station may have
signed, which profile it needs) lives in the services; this module only builds and reads.

Keys are ECDSA on secp256r1, or RSA of at least 2048 bits when loaded: the two key types the
OCPP 2.0.1 and 1.6 security specifications allow for TLS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from silkcharge.domain.clock import utcnow

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key (a CA, or a certificate made with its key here)."""

    certificate: x509.Certificate
    key: PrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def new_ca(
    common_name: str, organization: str | None = None, *, days: int = 3650, now: datetime | None = None
) -> Issued:
    """A self-signed root CA that may sign end-entity certificates only (path length 0)."""
    key = new_key()
    start = now or utcnow()
    subject = name(common_name, organization)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def issue_server_certificate(
    ca: Issued, hosts: list[str], *, organization: str | None = None, days: int = 825,
    now: datetime | None = None,
) -> Issued:
    """A TLS server certificate for the OCPP endpoint, naming each host (DNS name or IP
    address) in subjectAltName, as TLS clients check."""
    if not hosts:
        raise ValueError("a server certificate names at least one host")
    key = new_key()
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    certificate = _end_entity(
        ca, name(hosts[0], organization), key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH, days, now,
        alt_names=alt_names,
    )
    return Issued(certificate, key)


def sign_csr(
    ca: Issued, csr: x509.CertificateSigningRequest, *, days: int = 365, now: datetime | None = None,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
) -> x509.Certificate:
    """A certificate for the key and subject of a CSR whose signature checks. The caller has
    already decided that this subject may have it."""
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature does not match its public key")
    check_key(csr.public_key())
    return _end_entity(ca, csr.subject, csr.public_key(), usage, days, now)


def make_csr(key: PrivateKey, common_name: str, organization: str | None = None) -> x509.CertificateSigningRequest:
    return x509.CertificateSigningRequestBuilder().subject_name(name(common_name, organization)).sign(
        key, hashes.SHA256()
    )


def check_key(public_key: object) -> None:
    """Refuse key types and sizes that OCPP's TLS cipher suites do not allow."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ("secp256r1", "secp384r1"):
            raise ValueError(f"elliptic curve {public_key.curve.name} is not allowed (secp256r1 or secp384r1)")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise ValueError(f"an RSA key of {public_key.key_size} bits is too short (at least 2048)")
    else:
        raise ValueError(f"{type(public_key).__name__} keys are not allowed (ECDSA or RSA)")


def common_name(subject: x509.Name) -> str | None:
    values = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def organization(subject: x509.Name) -> str | None:
    values = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if values else None


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256") -> dict[str, str]:
    """OCPP's CertificateHashDataType for a certificate: the hashes of its issuer's name and
    public key, and its serial number, as hex (the fields an OCSP request names too)."""
    name_hash, key_hash = issuer_hashes(issuer, algorithm)
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": name_hash,
        "issuerKeyHash": key_hash,
        "serialNumber": format(certificate.serial_number, "x"),
    }


def issuer_hashes(issuer: x509.Certificate, algorithm: str = "SHA256") -> tuple[str, str]:
    """The hex hashes of a certificate's name and public key, as OCPP and OCSP name an issuer."""
    digest = _HASHES[algorithm]
    key = issuer.public_key()
    key_bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1) \
        if isinstance(key, rsa.RSAPublicKey) else key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _hex_digest(digest(), issuer.subject.public_bytes()), _hex_digest(digest(), key_bytes)


def issuer_of(certificate: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    """The candidate that issued `certificate` (its name matches and its key verifies the
    signature); the certificate itself when it is self-signed."""
    for candidate in [certificate, *candidates]:
        if candidate.subject == certificate.issuer and signed_by(certificate, candidate):
            return candidate
    return None


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# -- OCSP (RFC 6960) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OcspAnswer:
    """What a responder said about one certificate: "good", "revoked" or "unknown"."""

    status: str
    this_update: datetime
    next_update: datetime | None
    revoked_at: datetime | None = None


def ocsp_request(hashes_of: dict[str, str]) -> bytes:
    """The DER OCSP request for a certificate named by OCPP hash data (OCSPRequestDataType or
    CertificateHashDataType): OCPP carries exactly the CertID fields, so no certificate is needed."""
    algorithm = _HASHES[hashes_of["hashAlgorithm"]]()
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        bytes.fromhex(hashes_of["issuerNameHash"]), bytes.fromhex(hashes_of["issuerKeyHash"]),
        int(hashes_of["serialNumber"], 16), algorithm,
    ).build()
    return request.public_bytes(serialization.Encoding.DER)


def read_ocsp_response(
    der: bytes, hashes_of: dict[str, str], known_issuers: list[x509.Certificate], *,
    now: datetime | None = None, skew: timedelta = timedelta(minutes=5),
) -> OcspAnswer:
    """Check a responder's answer about the certificate `hashes_of` names and read its status.

    The answer must be successful, be about that certificate, be current, and be signed by the
    certificate's issuer or by a responder the issuer delegated (a certificate it signed with the
    OCSPSigning usage). The issuer is recognised by the key hash in `hashes_of`, among
    `known_issuers` and the certificates the response carries. Raises ValueError with the reason
    an operator reads otherwise."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        raise ValueError("the OCSP responder's answer is not a DER OCSP response") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError(f"the OCSP responder answered {response.response_status.name}")
    single = _single_response(response, hashes_of)
    _check_ocsp_signature(response, hashes_of, known_issuers)
    moment = now or utcnow()
    if single.this_update_utc > moment + skew:
        raise ValueError("the OCSP answer is dated in the future")
    if single.next_update_utc is not None and single.next_update_utc < moment - skew:
        raise ValueError("the OCSP answer is out of date (its nextUpdate has passed)")
    status = {
        ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked",
        ocsp.OCSPCertStatus.UNKNOWN: "unknown",
    }[single.certificate_status]
    return OcspAnswer(status, single.this_update_utc, single.next_update_utc,
                      single.revocation_time_utc if status == "revoked" else None)


def _single_response(response: ocsp.OCSPResponse, hashes_of: dict[str, str]):
    serial = int(hashes_of["serialNumber"], 16)
    name_hash = bytes.fromhex(hashes_of["issuerNameHash"])
    key_hash = bytes.fromhex(hashes_of["issuerKeyHash"])
    for single in response.responses:
        if (single.serial_number == serial and single.issuer_name_hash == name_hash
                and single.issuer_key_hash == key_hash):
            return single
    raise ValueError("the OCSP answer is about another certificate than the one asked for")


def _check_ocsp_signature(
    response: ocsp.OCSPResponse, hashes_of: dict[str, str], known_issuers: list[x509.Certificate]
) -> None:
    algorithm = hashes_of["hashAlgorithm"]
    key_hash = hashes_of["issuerKeyHash"].lower()
    carried = list(response.certificates)
    issuer = next((c for c in [*known_issuers, *carried] if issuer_hashes(c, algorithm)[1] == key_hash), None)
    if issuer is None:
        raise ValueError("the OCSP answer cannot be verified: the certificate's issuer is neither known "
                         "to silkcharge nor carried in the answer")
    signers = [issuer] + [c for c in carried if _delegated_responder(c, issuer)]
    for signer in signers:
        if _verifies(signer.public_key(), response.signature, response.tbs_response_bytes,
                     response.signature_hash_algorithm):
            return
    raise ValueError("the OCSP answer's signature is not the issuer's nor a responder's it delegated")


def _delegated_responder(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usage and signed_by(certificate, issuer)


def _verifies(public_key, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> bool:
    if algorithm is None:
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# -- PEM -----------------------------------------------------------------------------------------


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM text (a chain); ValueError if there is none."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    certificates = x509.load_pem_x509_certificates(data)
    if not certificates:
        raise ValueError("no certificate in the PEM text")
    return certificates


def load_csr(pem: str | bytes) -> x509.CertificateSigningRequest:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return x509.load_pem_x509_csr(data)


def load_issued(certificate_pem_text: str | bytes, key_pem_text: str | bytes) -> Issued:
    """A CA (or any certificate with its key) from PEM, e.g. an external CA from settings."""
    certificate = load_certificates(certificate_pem_text)[0]
    data = key_pem_text.encode("ascii") if isinstance(key_pem_text, str) else key_pem_text
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{type(key).__name__} keys are not allowed (ECDSA or RSA)")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():
        raise ValueError("the key does not belong to the certificate")
    return Issued(certificate, key)


# -- client certificates at the handshake (security profile 3) ------------------------------------


def validity_problem(certificate: x509.Certificate, now: datetime | None = None) -> str | None:
    """Why a certificate is not valid at `now` (not yet, or no longer), or None."""
    at = now or utcnow()
    if at < certificate.not_valid_before_utc:
        return f"is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if at > certificate.not_valid_after_utc:
        return f"expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def client_certificate_problem(
    certificate: x509.Certificate, station_id: str, client_cas: list[x509.Certificate],
    now: datetime | None = None,
) -> str | None:
    """Why a client certificate whose chain TLS has checked does not identify `station_id`
    now, or None: its validity period and its issuer's (when the issuer is one of
    `client_cas`), its key, and its common name, which must be the station's id."""
    problem = validity_problem(certificate, now)
    if problem:
        return f"the client certificate {problem}"
    for ca in client_cas:
        if ca.subject == certificate.issuer:
            try:
                certificate.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            problem = validity_problem(ca, now)
            if problem:
                return f"the CA that issued the client certificate ({ca.subject.rfc4514_string()}) {problem}"
    try:
        check_key(certificate.public_key())
    except ValueError as error:
        return f"the client certificate's key: {error}"
    named = common_name(certificate.subject)
    if named != station_id:
        return f"the client certificate names {named!r}, not station {station_id!r}"
    return None


# -- inside --------------------------------------------------------------------------------------


def _end_entity(
    ca: Issued, subject: x509.Name, public_key, usage: x509.ObjectIdentifier, days: int,
    now: datetime | None, *, alt_names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    start = now or utcnow()
    not_after = min(start + timedelta(days=days), ca.certificate.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()), critical=False
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not cert_sign,
        data_encipherment=False, key_agreement=not cert_sign, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _hex_digest(digest: hashes.HashAlgorithm, data: bytes) -> str:
    hasher = hashes.Hash(digest)
    hasher.update(data)
    return hasher.finalize().hex()
