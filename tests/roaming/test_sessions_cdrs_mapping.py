"""The OCPI Session and CDR objects silkcharge sends as a CPO, what its eMSP receivers accept,
and the driver's receipt of a partner's CDR (pure mapping, no database)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from silkcharge.domain.money import Money, Price
from silkcharge.roaming.cdrs import cdr_location, cdr_object, check_cdr, digest, total_of
from silkcharge.roaming.sessions import (
    Party,
    TokenOwner,
    changed_fields,
    check_session,
    session_object,
)
from silkcharge.roaming.wire import OcpiError, Status, dumps
from silkcharge.services.roaming_charges import roaming_receipt_html
from silkcharge.store.schema import RoamingCdr, Transaction

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
CPO = Party("UZ", "UZE")
OWNER = TokenOwner(partner_id=7, country_code="KZ", party_id="SLK", uid="KZ-DRIVER-1", contract_id="KZ-SLK-C0001",
                   authorization_reference="AUTH-42")


def transaction(**changes) -> Transaction:
    values = dict(id=501, station_id="TAS-01", station_tx_id="501", evse_id=2, connector_id=1,
                  id_token="KZ-DRIVER-1", state="Active", started_at=T0, stopped_at=None, energy_wh=None,
                  meter_start_wh=None, meter_stop_wh=None, remote_start_id=None, offline=False)
    values.update(changes)
    return Transaction(**values)


def wire(body: dict) -> dict:
    """What goes over the wire (Decimals as JSON numbers), read back."""
    return orjson.loads(dumps(body))


def test_a_running_transaction_is_an_active_session_with_the_drivers_token_and_no_end():
    body = session_object(transaction(energy_wh=Decimal("4500")), cpo=CPO, location_id="TAS-CENTRAL",
                          owner=OWNER, currency="UZS", last_updated=T0 + timedelta(minutes=5))
    check_session(wire(body))  # what we send is what our own receiver accepts
    assert body["status"] == "ACTIVE" and "end_date_time" not in body
    assert (body["country_code"], body["party_id"], body["id"]) == ("UZ", "UZE", "501")
    assert body["kwh"] == Decimal("4.5")
    assert body["cdr_token"] == {"country_code": "KZ", "party_id": "SLK", "uid": "KZ-DRIVER-1", "type": "RFID",
                                 "contract_id": "KZ-SLK-C0001"}
    assert (body["location_id"], body["evse_uid"], body["connector_id"]) == ("TAS-CENTRAL", "TAS-01*2", "1")
    assert body["auth_method"] == "AUTH_REQUEST" and body["authorization_reference"] == "AUTH-42"
    assert body["start_date_time"] == "2026-12-03T09:00:00Z" and body["last_updated"] == "2026-12-03T09:05:00Z"


def test_an_ended_transaction_is_completed_with_its_end_and_cost():
    end = T0 + timedelta(minutes=40)
    body = session_object(
        transaction(state="Ended", stopped_at=end, energy_wh=Decimal("12000"), remote_start_id=9),
        cpo=CPO, location_id="TAS-CENTRAL", owner=OWNER, currency="UZS",
        total_cost=Price(Money(Decimal("30000"), "UZS"), Money(Decimal("33600"), "UZS")))
    assert body["status"] == "COMPLETED" and body["end_date_time"] == "2026-12-03T09:40:00Z"
    assert body["last_updated"] == body["end_date_time"] and body["auth_method"] == "COMMAND"
    assert body["kwh"] == Decimal(12) and body["total_cost"] == {"excl_vat": Decimal("30000"),
                                                                  "incl_vat": Decimal("33600")}


def test_a_patch_carries_only_what_changed_and_always_last_updated():
    before = {"id": "1", "kwh": 1, "status": "ACTIVE", "last_updated": "a"}
    after = {"id": "1", "kwh": 3, "status": "ACTIVE", "last_updated": "b"}
    assert changed_fields(before, after) == {"kwh": 3, "last_updated": "b"}


@pytest.mark.parametrize("broken, field", [
    ({"kwh": "lots"}, "kwh"),
    ({"status": "DONE"}, "status"),
    ({"start_date_time": "yesterday"}, "start_date_time"),
    ({"cdr_token": {"uid": "X"}}, "cdr_token"),
    ({"currency": None}, "currency"),
])
def test_a_malformed_session_is_refused_with_2001_naming_the_field(broken, field):
    body = wire(session_object(transaction(), cpo=CPO, location_id="L", owner=OWNER, currency="UZS"))
    body.update(broken)
    with pytest.raises(OcpiError) as refused:
        check_session(body)
    assert refused.value.status == Status.INVALID_PARAMETERS and field in refused.value.message


def stored_cdr_body() -> dict:
    """A CDR body as billing stores it (domain/cdr.py Cdr.to_ocpi)."""
    return {
        "id": "cdr-501", "start_date_time": "2026-12-03T09:00:00Z", "end_date_time": "2026-12-03T09:40:00Z",
        "currency": "UZS", "session_id": "501",
        "tariffs": [{"id": "UZ-STD", "currency": "UZS", "country_code": "UZ", "party_id": "UZE",
                     "elements": [{"price_components": [{"type": "ENERGY", "price": Decimal("2500"),
                                                         "vat": Decimal("12"), "step_size": 1}]}],
                     "last_updated": "2026-12-01T00:00:00Z"}],
        "charging_periods": [{"start_date_time": "2026-12-03T09:00:00Z",
                              "dimensions": [{"type": "ENERGY", "volume": Decimal("12")}], "tariff_id": "UZ-STD"}],
        "total_cost": {"excl_vat": Decimal("30000"), "incl_vat": Decimal("33600")},
        "total_fixed_cost": {"excl_vat": Decimal(0), "incl_vat": Decimal(0)},
        "total_energy": Decimal("12"),
        "total_energy_cost": {"excl_vat": Decimal("30000"), "incl_vat": Decimal("33600")},
        "total_time": Decimal("0.667"),
        "total_time_cost": {"excl_vat": Decimal(0), "incl_vat": Decimal(0)},
        "total_parking_time": Decimal(0),
        "total_parking_cost": {"excl_vat": Decimal(0), "incl_vat": Decimal(0)},
    }


def whole_cdr() -> dict:
    location = cdr_location(site_code="TAS-CENTRAL", site_name="Tashkent Central", address="Amir Temur 1",
                            city="Tashkent", country="UZ", lat=41.311, lon=69.279, station_id="TAS-01", evse_id=2,
                            connector_id=1)
    return cdr_object(stored_cdr_body(), cpo=CPO, owner=OWNER, location=location, auth_method="AUTH_REQUEST",
                      last_updated=T0 + timedelta(minutes=41))


def test_billings_cdr_becomes_a_whole_cdr_with_our_party_the_token_and_the_location():
    body = whole_cdr()
    check_cdr(wire(body))
    assert (body["country_code"], body["party_id"]) == ("UZ", "UZE")
    assert body["cdr_token"]["uid"] == "KZ-DRIVER-1" and body["authorization_reference"] == "AUTH-42"
    location = body["cdr_location"]
    assert location["country"] == "UZB" and location["evse_uid"] == "TAS-01*2"
    assert location["coordinates"] == {"latitude": "41.311000", "longitude": "69.279000"}
    assert body["last_updated"] == "2026-12-03T09:41:00Z"
    assert total_of(wire(body)) == Price(Money(Decimal("30000"), "UZS"), Money(Decimal("33600"), "UZS"))


def test_a_cdr_without_charging_periods_gets_one_as_ocpi_requires():
    stored = {**stored_cdr_body(), "charging_periods": []}
    body = cdr_object(stored, cpo=CPO, owner=OWNER, location=whole_cdr()["cdr_location"], auth_method="COMMAND",
                      last_updated=T0)
    check_cdr(wire(body))
    assert body["charging_periods"][0]["start_date_time"] == body["start_date_time"]


@pytest.mark.parametrize("broken, field", [
    ({"total_cost": 12}, "total_cost"),
    ({"currency": "XXX"}, "currency"),
    ({"charging_periods": []}, "charging_periods"),
    ({"end_date_time": "2026-12-03T08:00:00Z"}, "end_date_time"),
    ({"cdr_location": {"id": "L"}}, "cdr_location.evse_uid"),
])
def test_a_malformed_cdr_is_refused_with_2001_naming_the_field(broken, field):
    body = {**wire(whole_cdr()), **broken}
    with pytest.raises(OcpiError) as refused:
        check_cdr(body)
    assert refused.value.status == Status.INVALID_PARAMETERS and field in refused.value.message


def test_a_cdrs_digest_tells_a_replay_from_other_content():
    body = wire(whole_cdr())
    assert digest(body) == digest(orjson.loads(orjson.dumps(body)))
    assert digest(body) != digest({**body, "total_energy": 13})


def received(**charge) -> RoamingCdr:
    body = wire(whole_cdr())
    return RoamingCdr(id=3, partner_id=7, country_code="UZ", party_id="UZE", cdr_id="cdr-501", digest=digest(body),
                      conflict=False, session_id="501", token_uid="KZ-DRIVER-1", currency="UZS",
                      total_excl_vat=Decimal("30000"), total_incl_vat=Decimal("33600"), body=body,
                      received_at=T0, **charge)


def test_the_receipt_of_a_partners_cdr_shows_its_totals_and_the_drivers_currency_with_the_rate():
    row = received(charge_state="ready", driver_currency="KZT", driver_excl_vat=Decimal("1215.00"),
                   driver_incl_vat=Decimal("1360.80"), rate=Decimal("0.0405"), rate_valid_on=date(2026, 12, 3),
                   rate_source="National Bank of Kazakhstan", rate_inverted=False)
    html = roaming_receipt_html(row, "UzEnergy")
    assert "33,600.00 UZS" in html and "1,360.80 KZT" in html and "1,215.00 KZT" in html
    assert "1 UZS = 0.0405 KZT, of 2026-12-03; source: National Bank of Kazakhstan" in html
    assert "Tashkent Central" in html and "UzEnergy" in html


def test_the_receipt_of_a_held_charge_says_why_the_drivers_amount_is_not_there():
    row = received(charge_state="held", driver_currency="KZT", hold_reason="no UZS→KZT rate for 2026-12-03")
    html = roaming_receipt_html(row, "UzEnergy", "ru")
    assert "33\u00a0600,00 UZS" in html and "id=held" in html and "no UZS→KZT rate for 2026-12-03" in html
    assert "KZT</td>" not in html
