"""OCPI Token objects: our tokens as partners receive them, and partners' tokens as we check
them before storing (roaming/tokens.py). Pure mapping, no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from silkcharge.roaming.tokens import (
    allowed_of,
    check_location,
    check_token,
    contract_id,
    our_token,
)
from silkcharge.roaming.wire import OcpiError, Status
from silkcharge.store.schema import IdToken, RoamingIdentity

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
EMSP = RoamingIdentity(country_code="kz", party_id="slk", role="EMSP", business_name="Silk Charge Kazakhstan")


def token(**fields) -> IdToken:
    values = {"id": 42, "token": "04A1B2C3D4", "type": "ISO14443", "status": "Accepted", "expires_at": None,
              "group_id": None, "created_at": NOW - timedelta(days=3), "updated_at": NOW - timedelta(hours=1)}
    return IdToken(**{**values, **fields})


def partner_token(**fields) -> dict:
    values = {"country_code": "KZ", "party_id": "SLK", "uid": "04A1B2C3D4", "type": "RFID",
              "contract_id": "KZ-SLK-C0000001A", "issuer": "Silk Charge", "valid": True, "whitelist": "ALLOWED",
              "last_updated": "2026-12-04T09:00:00Z"}
    return {key: value for key, value in {**values, **fields}.items() if value is not None}


def test_an_rfid_card_of_ours_is_an_rfid_token_with_an_emaid_contract_our_party_and_its_last_change():
    published = our_token(token(), EMSP, whitelist="ALLOWED", language="ru", now=NOW)
    assert published == {
        "country_code": "KZ", "party_id": "SLK", "uid": "04A1B2C3D4", "type": "RFID",
        "contract_id": "KZ-SLK-C00000016", "visual_number": "KZ-SLK-C00000016", "issuer": "Silk Charge Kazakhstan",
        "valid": True, "whitelist": "ALLOWED", "language": "ru", "last_updated": "2026-12-04T09:00:00Z",
    }


def test_an_app_token_is_an_app_user_token_authorized_in_real_time_only():
    published = our_token(token(type="Central", token="APP-1F2E3D"), EMSP, whitelist="ALWAYS", now=NOW)
    assert published["type"] == "APP_USER" and published["whitelist"] == "NEVER"


@pytest.mark.parametrize("fields", [{"status": "Blocked"}, {"status": "Invalid"},
                                    {"expires_at": NOW - timedelta(seconds=1)}], ids=["blocked", "invalid", "expired"])
def test_a_token_the_registry_refuses_or_that_expired_is_published_invalid(fields):
    assert our_token(token(**fields), EMSP, whitelist="ALLOWED", now=NOW)["valid"] is False


@pytest.mark.parametrize("kind", ["KeyCode", "MacAddress", "Local", "NoAuthorization", "DirectPayment"])
def test_tokens_that_identify_no_driver_do_not_roam(kind):
    assert our_token(token(type=kind), EMSP, whitelist="ALLOWED", now=NOW) is None


def test_a_token_never_changed_since_before_the_column_has_its_creation_as_last_updated():
    assert our_token(token(updated_at=None), EMSP, whitelist="ALLOWED", now=NOW)["last_updated"] == \
        "2026-12-01T10:00:00Z"


def test_the_contract_id_is_an_emaid_of_fourteen_characters_unique_per_token():
    assert contract_id("KZ", "SLK", 1) == "KZ-SLK-C00000001"
    assert contract_id("kz", "slk", 36 ** 8 - 1) == "KZ-SLK-CZZZZZZZZ"
    assert len({contract_id("KZ", "SLK", n) for n in range(1, 2000)}) == 1999


@pytest.mark.parametrize("fields, allowed", [
    ({}, "ALLOWED"), ({"status": "Blocked"}, "BLOCKED"), ({"status": "Invalid"}, "BLOCKED"),
    ({"status": "Expired"}, "EXPIRED"), ({"expires_at": NOW - timedelta(minutes=1)}, "EXPIRED"),
])
def test_real_time_authorization_answers_the_registry_status_as_ocpi_allowed(fields, allowed):
    assert allowed_of(token(**fields), now=NOW) == allowed


def test_a_partners_token_is_checked_into_the_values_we_store_case_insensitive_ids_upper_cased():
    values = check_token(partner_token(country_code="kz", party_id="slk", uid="04a1b2c3d4", language="kk",
                                       default_profile_type="GREEN", energy_contract={"supplier_name": "KEGOC"}))
    assert values["country_code"] == "KZ" and values["party_id"] == "SLK"
    assert values["uid"] == "04a1b2c3d4" and values["uid_key"] == "04A1B2C3D4"
    assert values["last_updated"] == datetime(2026, 12, 4, 9, tzinfo=timezone.utc)
    assert values["energy_contract"] == {"supplier_name": "KEGOC"} and values["default_profile_type"] == "GREEN"


@pytest.mark.parametrize("fields, named", [
    ({"uid": None}, "uid"), ({"uid": "X" * 37}, "uid"), ({"type": "NFC"}, "type"),
    ({"whitelist": "SOMETIMES"}, "whitelist"), ({"valid": "yes"}, "valid"), ({"contract_id": ""}, "contract_id"),
    ({"issuer": None}, "issuer"), ({"last_updated": "yesterday"}, "last_updated"),
    ({"last_updated": None}, "last_updated"), ({"country_code": "K1"}, "country_code"),
    ({"party_id": "SLKX"}, "party_id"), ({"language": "rus"}, "language"),
    ({"default_profile_type": "SLOW"}, "default_profile_type"), ({"energy_contract": {"contract_id": "1"}},
                                                                   "supplier_name"),
])
def test_a_partners_token_with_a_missing_or_wrong_field_is_refused_with_2001_naming_it(fields, named):
    with pytest.raises(OcpiError) as refused:
        check_token(partner_token(**fields))
    assert refused.value.status is Status.INVALID_PARAMETERS and named in refused.value.message


def test_location_references_are_optional_and_checked_when_given():
    assert check_location(None) is None
    assert check_location({"location_id": "ALA-1", "evse_uids": ["ALA-1*1"]}) == {
        "location_id": "ALA-1", "evse_uids": ["ALA-1*1"]}
    for bad in ({"evse_uids": ["E1"]}, {"location_id": "L", "evse_uids": "E1"}, ["L"]):
        with pytest.raises(OcpiError):
            check_location(bad)
