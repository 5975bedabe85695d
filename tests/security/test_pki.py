"""The X.509 building blocks: a CA, server certificates, CSRs signed, hash data as OCPP and
OCSP name a certificate, and PEM round trips."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from silkcharge.domain.clock import utcnow
from silkcharge.security import pki


def test_a_station_csr_is_signed_by_the_ca_for_client_authentication():
    ca = pki.new_ca("silkcharge test CA", "silkcharge")
    csr = pki.make_csr(pki.new_key(), "KZ-ALA-001", "Test CPO")
    certificate = pki.sign_csr(ca, csr)
    certificate.verify_directly_issued_by(ca.certificate)
    assert pki.common_name(certificate.subject) == "KZ-ALA-001"
    assert pki.organization(certificate.subject) == "Test CPO"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_certificate_never_outlives_its_ca():
    now = utcnow()
    ca = pki.new_ca("short-lived CA", days=10, now=now)
    certificate = pki.sign_csr(ca, pki.make_csr(pki.new_key(), "ST-1"), days=365, now=now)
    assert certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_a_server_certificate_names_its_hosts_and_ip_addresses():
    ca = pki.new_ca("CA")
    server = pki.issue_server_certificate(ca, ["csms.example.kz", "127.0.0.1"])
    names = server.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["csms.example.kz"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_a_csr_whose_signature_does_not_match_or_whose_key_is_weak_is_refused():
    der = bytearray(pki.make_csr(pki.new_key(), "ST-1").public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature's last integer: the structure stays readable
    forged = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(ValueError, match="signature"):
        pki.sign_csr(pki.new_ca("CA"), forged)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="too short"):
        pki.sign_csr(pki.new_ca("CA"), pki.make_csr(weak, "ST-1"))
    odd_curve = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(ValueError, match="not allowed"):
        pki.sign_csr(pki.new_ca("CA"), pki.make_csr(odd_curve, "ST-1"))


def test_hash_data_matches_what_an_ocsp_request_names():
    ca = pki.new_ca("CA")
    certificate = pki.sign_csr(ca, pki.make_csr(pki.new_key(), "ST-1"))
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, ca.certificate, hashes.SHA256()).build()
    data = pki.hash_data(certificate, ca.certificate)
    assert data == {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(),
        "serialNumber": format(request.serial_number, "x"),
    }


def test_pem_round_trips_and_a_key_that_is_not_the_certificates_is_refused():
    ca = pki.new_ca("CA")
    loaded = pki.load_issued(pki.certificate_pem(ca.certificate), pki.key_pem(ca.key))
    assert loaded.certificate == ca.certificate
    with pytest.raises(ValueError, match="does not belong"):
        pki.load_issued(pki.certificate_pem(ca.certificate), pki.key_pem(pki.new_key()))
    chain = pki.certificate_pem(ca.certificate) + pki.certificate_pem(pki.new_ca("other").certificate)
    assert len(pki.load_certificates(chain)) == 2
    csr = pki.make_csr(pki.new_key(), "ST-9")
    assert pki.common_name(pki.load_csr(pki.csr_pem(csr)).subject) == "ST-9"
    assert timedelta(days=3649) < ca.certificate.not_valid_after_utc - utcnow()
