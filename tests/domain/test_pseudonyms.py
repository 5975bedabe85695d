"""Pseudonyms: the same idToken or email always gives the same one under a key and another
under another key; every place OCPP 1.6 and 2.0.1 put an idToken in a frame is covered; a
malformed frame is kept as logged, with its emails replaced."""

from __future__ import annotations

import json

import pytest

from silkcharge.domain.pseudonyms import PersonalDataView, Pseudonyms, is_pseudonym

KEY = b"k" * 32
P = Pseudonyms(KEY)


def test_one_value_one_pseudonym_under_a_key_and_another_under_another_key():
    alias = P.of("04A1B2C3D4")
    assert alias == P.of("04A1B2C3D4") and alias != P.of("04A1B2C3D5")
    assert is_pseudonym(alias) and len(alias) <= 20  # fits a 1.6 idTag
    assert Pseudonyms(b"j" * 32).of("04A1B2C3D4") != alias
    assert P.of(alias) == alias  # a value already replaced stays as it is
    assert P.email(" Ana@Example.KZ") == P.email("ana@example.kz") != P.of("ana@example.kz ")


def test_a_short_key_is_refused_and_never_shown():
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonyms(b"short")
    assert "k" * 32 not in repr(P)


@pytest.mark.parametrize("frame, clear", [
    ([2, "1", "Authorize", {"idTag": "CARD-1"}], ["CARD-1"]),
    ([2, "2", "ReserveNow", {"connectorId": 1, "idTag": "CARD-1", "parentIdTag": "FLEET-9",
                             "expiryDate": "2026-11-21T10:00:00.000Z", "reservationId": 3}], ["CARD-1", "FLEET-9"]),
    ([3, "3", {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET-9"}}], ["FLEET-9"]),
    ([2, "4", "SendLocalList", {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "CARD-1", "idTagInfo": {"status": "Accepted"}}]}], ["CARD-1"]),
    ([2, "5", "TransactionEvent", {"eventType": "Started", "idToken": {
        "idToken": "CARD-1", "type": "ISO14443",
        "additionalInfo": [{"additionalIdToken": "EXTRA-7", "type": "x"}]}}], ["CARD-1", "EXTRA-7"]),
    ([3, "6", {"idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FLEET-9", "type": "Central"}}}],
     ["FLEET-9"]),
    ([2, "7", "CustomerInformation", {"requestId": 1, "report": True, "clear": False,
                                      "customerIdentifier": "ana@example.kz"}], ["ana@example.kz"]),
    ([2, "8", "DataTransfer", {"vendorId": "x", "data": "mail to ana@example.kz please"}], ["ana@example.kz"]),
])
def test_every_idtoken_and_email_in_a_frame_becomes_its_pseudonym(frame, clear):
    text = json.dumps(frame)
    shown = P.frame(text)
    for value in clear:
        assert value not in shown
    assert json.loads(shown)[:2] == frame[:2]  # type and message id as they were
    assert PersonalDataView(P, clear=True).frame(text) == text
    assert PersonalDataView(P).frame(text) == shown


def test_a_frame_without_personal_data_and_a_malformed_one_are_kept_as_logged():
    plain = '[2, "1", "Heartbeat", {}]'
    assert P.frame(plain) is plain
    broken = '[2, "1", "Authorize", {"idTag": "CARD-1", from ana@example.kz'
    assert P.frame(broken) == broken.replace("ana@example.kz", P.email("ana@example.kz"))
