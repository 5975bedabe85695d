"""Our sites as OCPI 2.2.1 Locations: ids, eMI3 EVSE ids, status, derived power fields, and a
published Location that our own strict receiver accepts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.roaming.location_mapping import (
    CannotPublish,
    ConnectorFacts,
    SiteFacts,
    StationFacts,
    alpha3,
    electrics,
    emi3_evse_id,
    evse_status,
    evse_uid,
    location_object,
    short_id,
)
from silkcharge.roaming.location_merge import LOCATION
from silkcharge.roaming.objects import check_object

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
ONLINE = StationFacts("ALA-001", online=True, planned=False, status=None)


@pytest.mark.parametrize(("ocpp", "ocpi"), [
    ("Available", "AVAILABLE"),
    ("Preparing", "CHARGING"),
    ("Charging", "CHARGING"),
    ("SuspendedEV", "CHARGING"),
    ("SuspendedEVSE", "CHARGING"),
    ("Finishing", "CHARGING"),
    ("Occupied", "CHARGING"),
    ("Reserved", "RESERVED"),
    ("Unavailable", "INOPERATIVE"),
    ("Faulted", "OUTOFORDER"),
    ("Unknown", "UNKNOWN"),
    (None, "UNKNOWN"),
])
def test_each_ocpp_connector_status_reads_as_its_ocpi_evse_status(ocpp, ocpi):
    assert evse_status(ONLINE, [ocpp]) == ocpi


def test_a_planned_station_is_planned_an_offline_one_unknown_and_a_moved_one_removed_whatever_its_connectors_said():
    planned = StationFacts("X", online=False, planned=True, status=None)
    offline = StationFacts("X", online=False, planned=False, status=None)
    assert evse_status(planned, ["Available"]) == "PLANNED"
    assert evse_status(offline, ["Available"]) == "UNKNOWN"
    moved = StationFacts("X", online=False, planned=False, status=None, moved=True)
    assert evse_status(moved, ["Available"]) == "REMOVED"  # moved to another CSMS (B10)
    back = StationFacts("X", online=True, planned=False, status=None, moved=True)
    assert evse_status(back, ["Available"]) == "AVAILABLE"  # connected here: ours, whatever the mark says


def test_a_station_wide_fault_puts_every_evse_out_of_order():
    faulted = StationFacts("X", online=True, planned=False, status="Faulted")
    assert evse_status(faulted, ["Available"]) == "OUTOFORDER"


def test_one_connector_in_use_makes_the_evse_charging_and_one_free_makes_it_available():
    assert evse_status(ONLINE, ["Available", "Charging"]) == "CHARGING"
    assert evse_status(ONLINE, ["Faulted", "Available"]) == "AVAILABLE"


def test_dc_voltage_is_the_standards_rating_and_current_what_the_power_takes_at_400_volts():
    ccs = electrics(ConnectorStandard.CCS2, Decimal("150"))
    assert (ccs.power_type, ccs.max_voltage, ccs.max_amperage, ccs.max_electric_power, ccs.format) == (
        "DC", 1000, 375, 150_000, "CABLE")
    gbt = electrics(ConnectorStandard.GBT_DC, Decimal("60"))
    assert (gbt.max_voltage, gbt.max_amperage) == (750, 150)


def test_dc_current_never_exceeds_the_standards_rated_current():
    assert electrics(ConnectorStandard.CCS2, Decimal("400")).max_amperage == 500


def test_ac_up_to_32_amperes_is_single_phase_and_beyond_three_phase_per_phase_current():
    wallbox = electrics(ConnectorStandard.TYPE2, Decimal("7.4"))
    assert (wallbox.power_type, wallbox.max_voltage, wallbox.max_amperage, wallbox.format) == (
        "AC_1_PHASE", 230, 32, "SOCKET")
    fast_ac = electrics(ConnectorStandard.TYPE2, Decimal("22"))
    assert (fast_ac.power_type, fast_ac.max_amperage, fast_ac.max_electric_power) == ("AC_3_PHASE", 32, 22_000)


def test_type_1_is_always_single_phase_with_a_cable():
    type1 = electrics(ConnectorStandard.TYPE1, Decimal("7"))
    assert (type1.power_type, type1.format) == ("AC_1_PHASE", "CABLE")


def test_emi3_evse_id_writes_other_characters_as_separators():
    assert emi3_evse_id("kz", "slk", "ala-001", 2) == "KZ*SLK*EALA*001*2"
    assert emi3_evse_id("KZ", "SLK", "X" * 40, 1) is None


def test_ids_longer_than_ocpi_allows_are_shortened_the_same_way_every_time():
    code = "almaty-al-farabi-avenue-underground-parking-level-2"
    assert short_id(code) == short_id(code)
    assert len(short_id(code)) == 36
    assert short_id(code) != short_id(code + "x")
    assert short_id("ALA-001") == "ALA-001"
    assert evse_uid("ALA-001", 1) == "ALA-001*1"


def test_countries_are_written_in_alpha_3_and_an_unknown_one_is_refused():
    assert alpha3("kz") == "KAZ"
    with pytest.raises(CannotPublish):
        alpha3("ZZ")


def _site(**changes) -> SiteFacts:
    values = dict(code="ALA-MEGA", name="Mega Alma-Ata parking", address="Rozybakiev St 247", city="Almaty",
                  country="KZ", lat=43.201553, lon=76.892416, timezone="Asia/Almaty", operator_name="Silk Charge",
                  updated_at=T0)
    values.update(changes)
    return SiteFacts(**values)


def _connector(evse: int, connector: int, status: str, updated: datetime, standard: str = "ccs2") -> ConnectorFacts:
    return ConnectorFacts("ALA-001", evse, connector, standard, Decimal("120"), status, updated)


def test_a_site_becomes_a_location_our_strict_receiver_accepts():
    location = location_object(
        _site(), [ONLINE],
        [_connector(1, 1, "Charging", T0 + timedelta(minutes=5)),
         _connector(1, 2, "Available", T0, standard="gbt_dc"),
         _connector(2, 1, "Available", T0 + timedelta(minutes=1), standard="type2")],
        country_code="KZ", party_id="SLK", tariff_ids=["KZ-DC-STD"], tariffs_updated=T0 - timedelta(days=1),
    )
    assert check_object(location, LOCATION) == []
    assert (location["country_code"], location["party_id"], location["id"]) == ("KZ", "SLK", "ALA-MEGA")
    assert location["country"] == "KAZ"
    assert location["publish"] is True
    assert location["coordinates"] == {"latitude": "43.201553", "longitude": "76.892416"}
    assert re.fullmatch(r"-?[0-9]{1,2}\.[0-9]{5,7}", location["coordinates"]["latitude"])
    assert location["time_zone"] == "Asia/Almaty"
    first, second = location["evses"]
    assert (first["uid"], first["evse_id"], first["status"]) == ("ALA-001*1", "KZ*SLK*EALA*001*1", "CHARGING")
    assert [c["standard"] for c in first["connectors"]] == ["IEC_62196_T2_COMBO", "GBT_DC"]
    assert first["connectors"][0]["tariff_ids"] == ["KZ-DC-STD"]
    assert second["status"] == "AVAILABLE"
    assert second["connectors"][0]["power_type"] == "AC_3_PHASE"
    # parents follow their newest child
    assert first["last_updated"] == "2026-12-01T08:05:00Z"
    assert location["last_updated"] == "2026-12-01T08:05:00Z"


def test_a_newer_tariff_counts_as_an_update_of_every_connector_and_the_location():
    changed = T0 + timedelta(hours=2)
    location = location_object(
        _site(), [ONLINE], [_connector(1, 1, "Available", T0)],
        country_code="KZ", party_id="SLK", tariff_ids=["T"], tariffs_updated=changed,
    )
    assert location["evses"][0]["connectors"][0]["last_updated"] == "2026-12-01T10:00:00Z"
    assert location["last_updated"] == "2026-12-01T10:00:00Z"


def test_address_and_city_fall_back_to_the_site_name_and_fit_ocpis_45_characters():
    location = location_object(
        _site(address=None, city=None, name="A very long site name that goes well beyond forty-five characters"),
        [ONLINE], [_connector(1, 1, "Available", T0)],
        country_code="KZ", party_id="SLK", tariff_ids=[], tariffs_updated=None,
    )
    assert len(location["address"]) == 45 and len(location["city"]) == 45
    assert "tariff_ids" not in location["evses"][0]["connectors"][0]
    assert check_object(location, LOCATION) == []
