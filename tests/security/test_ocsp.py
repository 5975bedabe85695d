"""Reading an OCSP responder's answer: only an answer about the certificate asked for, current,
and signed by its issuer (or a responder the issuer delegated) is believed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from silkcharge.domain.clock import utcnow
from silkcharge.security import pki
from tests.e2e.pki_doubles import OcspResponder, delegated_responder, end_entity


def _answer(responder: OcspResponder, certificate, issuer) -> bytes:
    return responder.answer(pki.ocsp_request(pki.hash_data(certificate, issuer)))


def test_a_good_answer_from_the_issuer_is_read_without_knowing_the_issuer_beforehand():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    responder = OcspResponder(ca)
    responder.knows(leaf)
    answer = pki.read_ocsp_response(_answer(responder, leaf, ca.certificate), pki.hash_data(leaf, ca.certificate), [])
    assert answer.status == "good" and answer.revoked_at is None


def test_a_revoked_answer_carries_when():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    responder = OcspResponder(ca)
    responder.knows(leaf)
    responder.revoked.add(leaf.serial_number)
    answer = pki.read_ocsp_response(_answer(responder, leaf, ca.certificate), pki.hash_data(leaf, ca.certificate), [])
    assert answer.status == "revoked" and answer.revoked_at is not None


def test_an_answer_about_another_certificate_is_refused():
    ca = pki.new_ca("V2G Root")
    asked, other = end_entity(ca, "SECC-1").certificate, end_entity(ca, "SECC-2").certificate
    responder = OcspResponder(ca)
    responder.knows(other)
    with pytest.raises(ValueError, match="another certificate"):
        pki.read_ocsp_response(_answer(responder, other, ca.certificate), pki.hash_data(asked, ca.certificate), [])


def test_an_out_of_date_answer_is_refused():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    responder = OcspResponder(ca)
    responder.knows(leaf)
    der = _answer(responder, leaf, ca.certificate)
    with pytest.raises(ValueError, match="out of date"):
        pki.read_ocsp_response(der, pki.hash_data(leaf, ca.certificate), [], now=utcnow() + timedelta(days=2))


def test_a_responder_the_issuer_did_not_delegate_is_refused_and_one_it_did_is_believed():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    data = pki.hash_data(leaf, ca.certificate)
    impostor = OcspResponder(ca, signer=delegated_responder(pki.new_ca("Impostor")))
    impostor.knows(leaf)
    with pytest.raises(ValueError, match="signature"):
        pki.read_ocsp_response(_answer(impostor, leaf, ca.certificate), data, [])
    delegated = OcspResponder(ca, signer=delegated_responder(ca))
    delegated.knows(leaf)
    assert pki.read_ocsp_response(_answer(delegated, leaf, ca.certificate), data, []).status == "good"


def test_an_unsuccessful_or_garbled_answer_is_refused():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    data = pki.hash_data(leaf, ca.certificate)
    unauthorized = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    with pytest.raises(ValueError, match="UNAUTHORIZED"):
        pki.read_ocsp_response(unauthorized.public_bytes(serialization.Encoding.DER), data, [])
    with pytest.raises(ValueError, match="not a DER OCSP response"):
        pki.read_ocsp_response(b"<html>proxy error</html>", data, [])


def test_an_issuer_that_is_neither_known_nor_carried_cannot_vouch():
    ca = pki.new_ca("V2G Root")
    leaf = end_entity(ca, "SECC-1").certificate
    request = ocsp.load_der_ocsp_request(pki.ocsp_request(pki.hash_data(leaf, ca.certificate)))
    now = utcnow()
    bare = (ocsp.OCSPResponseBuilder()
            .add_response(leaf, ca.certificate, request.hash_algorithm, ocsp.OCSPCertStatus.GOOD, now,
                          now + timedelta(hours=1), None, None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.certificate)
            .sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    with pytest.raises(ValueError, match="neither known"):
        pki.read_ocsp_response(bare, pki.hash_data(leaf, ca.certificate), [])
    assert pki.read_ocsp_response(bare, pki.hash_data(leaf, ca.certificate), [ca.certificate]).status == "good"
