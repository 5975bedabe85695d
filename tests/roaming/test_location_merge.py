"""A partner's Location as we hold it: strict checks, and merges in which each object keeps the
newest write it was given, whatever order the writes arrive in."""

from __future__ import annotations

import copy

import pytest

from silkcharge.roaming.location_merge import (
    CONNECTOR,
    EVSE,
    LOCATION,
    checked,
    patch_connector,
    patch_evse,
    patch_location,
    put_connector,
    put_evse,
    put_location,
)
from silkcharge.roaming.objects import check_object
from silkcharge.roaming.wire import OcpiError, Status


def connector(cid: str = "1", at: str = "2026-12-01T08:00:00Z", **changes) -> dict:
    return {"id": cid, "standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC",
            "max_voltage": 920, "max_amperage": 250, "max_electric_power": 150000,
            "tariff_ids": ["DC-1"], "last_updated": at, **changes}


def evse(uid: str = "E1", at: str = "2026-12-01T08:00:00Z", status: str = "AVAILABLE", **changes) -> dict:
    return {"uid": uid, "evse_id": f"KG*BIS*E{uid}", "status": status, "capabilities": ["RFID_READER"],
            "connectors": [connector(at=at)], "last_updated": at, **changes}


def location(at: str = "2026-12-01T08:00:00Z", evses: list | None = None, **changes) -> dict:
    return {
        "country_code": "KG", "party_id": "BIS", "id": "LOC7", "publish": True,
        "name": "Ala-Too square", "address": "Chuy Ave 120", "city": "Bishkek", "country": "KGZ",
        "coordinates": {"latitude": "42.876400", "longitude": "74.603800"},
        "evses": [evse(at=at)] if evses is None else evses,
        "time_zone": "Asia/Bishkek", "last_updated": at, **changes,
    }


def test_a_location_as_the_spec_shapes_it_passes_the_checks():
    assert check_object(location(), LOCATION) == []


@pytest.mark.parametrize(("change", "named"), [
    ({"address": None}, "address: required"),
    ({"coordinates": {"latitude": "95.000000", "longitude": "74.603800"}}, "coordinates.latitude"),
    ({"coordinates": {"latitude": 42.8764, "longitude": "74.603800"}}, "coordinates.latitude"),
    ({"coordinates": {"latitude": "42.87", "longitude": "74.603800"}}, "coordinates.latitude"),
    ({"city": "B" * 46}, "city: at most 45"),
    ({"id": "L" * 37}, "id: must be 1 to 36"),
    ({"country": "KG"}, "country"),
    ({"time_zone": "Asia/Nowhere"}, "time_zone"),
    ({"publish": "yes"}, "publish"),
    ({"last_updated": "yesterday"}, "last_updated"),
    ({"evses": [evse(status="BROKEN")]}, "evses[0].status"),
    ({"evses": [evse(connectors=[])]}, "evses[0].connectors: needs at least 1"),
    ({"evses": [evse(connectors=[connector(max_voltage=230.5)])]}, "evses[0].connectors[0].max_voltage"),
    ({"evses": [evse(connectors=[connector(standard="SCHUKO")])]}, "evses[0].connectors[0].standard"),
    ({"evses": "none"}, "evses: must be a list"),
])
def test_each_broken_field_is_named_with_its_path(change, named):
    broken = {**location(), **change}
    if change.get("address", "") is None:
        del broken["address"]
    problems = check_object(broken, LOCATION)
    assert any(named in problem for problem in problems), problems


def test_a_body_that_is_not_an_object_is_a_problem_not_an_exception():
    assert check_object(["not", "a", "location"], LOCATION) == ["body: must be an object, not list"]
    with pytest.raises(OcpiError) as refused:
        checked(42, EVSE, "the EVSE")
    assert refused.value.status is Status.INVALID_PARAMETERS


def test_a_patch_needs_last_updated_but_not_the_other_required_fields():
    with pytest.raises(OcpiError, match="last_updated: required in every PATCH"):
        checked({"status": "CHARGING"}, EVSE, "the EVSE PATCH", partial=True)
    assert checked({"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"}, EVSE, "p", partial=True)
    with pytest.raises(OcpiError, match="max_amperage"):
        checked({"max_amperage": "lots", "last_updated": "2026-12-01T09:00:00Z"}, CONNECTOR, "p", partial=True)


def test_an_evse_status_patch_changes_the_evse_and_moves_its_parents_last_updated():
    held = put_location(None, location())
    held = patch_evse(held, "E1", {"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    assert held.evse("E1")["status"] == "CHARGING"
    assert held.evse("E1")["last_updated"] == "2026-12-01T09:00:00Z"
    assert held.body["last_updated"] == "2026-12-01T09:00:00Z"
    assert held.body["name"] == "Ala-Too square"


def test_a_patch_older_than_what_is_held_changes_nothing():
    held = put_location(None, location())
    held = patch_evse(held, "E1", {"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    late = patch_evse(held, "E1", {"status": "AVAILABLE", "last_updated": "2026-12-01T08:30:00Z"})
    assert late.evse("E1")["status"] == "CHARGING"
    assert late.body == held.body


def test_an_older_location_patch_still_applies_when_only_a_child_is_newer():
    held = put_location(None, location())
    held = patch_evse(held, "E1", {"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    held = patch_location(held, {"name": "Ala-Too", "last_updated": "2026-12-01T08:30:00Z"})
    assert held.body["name"] == "Ala-Too"
    assert held.evse("E1")["status"] == "CHARGING"
    assert held.body["last_updated"] == "2026-12-01T09:00:00Z"


def test_a_late_snapshot_keeps_the_newer_evse_it_would_have_overwritten():
    held = put_location(None, location())
    held = patch_evse(held, "E1", {"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    snapshot = location(at="2026-12-01T08:45:00Z", name="Ala-Too Square (renamed)")
    held = put_location(held, snapshot)
    assert held.body["name"] == "Ala-Too Square (renamed)"
    assert held.evse("E1")["status"] == "CHARGING"


def test_a_snapshot_drops_the_evses_it_leaves_out_unless_they_were_written_after_it():
    held = put_location(None, location(evses=[evse("E1"), evse("E2")]))
    held = put_evse(held, evse("E3", at="2026-12-01T10:00:00Z"))
    held = put_location(held, location(at="2026-12-01T09:00:00Z", evses=[evse("E1", at="2026-12-01T09:00:00Z")]))
    assert [e["uid"] for e in held.body["evses"]] == ["E1", "E3"]


def test_putting_an_evse_replaces_it_in_place_and_keeps_the_others():
    held = put_location(None, location(evses=[evse("E1"), evse("E2")]))
    held = put_evse(held, evse("E1", at="2026-12-01T09:00:00Z", status="OUTOFORDER"))
    assert [(e["uid"], e["status"]) for e in held.body["evses"]] == [("E1", "OUTOFORDER"), ("E2", "AVAILABLE")]


def test_a_connector_patch_moves_the_evse_and_location_last_updated():
    held = put_location(None, location())
    held = patch_connector(held, "E1", "1", {"tariff_ids": ["DC-2"], "last_updated": "2026-12-01T11:00:00Z"})
    assert held.connector("E1", "1")["tariff_ids"] == ["DC-2"]
    assert held.evse("E1")["last_updated"] == "2026-12-01T11:00:00Z"
    assert held.body["last_updated"] == "2026-12-01T11:00:00Z"


def test_a_put_connector_adds_a_new_one_and_an_older_one_is_ignored():
    held = put_location(None, location())
    held = put_connector(held, "E1", connector("2", at="2026-12-01T09:00:00Z", standard="CHADEMO"))
    assert [c["id"] for c in held.evse("E1")["connectors"]] == ["1", "2"]
    before = copy.deepcopy(held.body)
    held = put_connector(held, "E1", connector("2", at="2026-12-01T08:59:00Z", standard="GBT_DC"))
    assert held.body == before


def test_ids_compare_case_insensitively():
    held = put_location(None, location(evses=[evse("abc")]))
    held = patch_evse(held, "ABC", {"status": "BLOCKED", "last_updated": "2026-12-01T09:00:00Z"})
    assert held.evse("Abc")["status"] == "BLOCKED"


def test_fields_ocpi_does_not_define_are_ignored_not_stored():
    custom = location(x_partner_rating=5, evses=[evse(x_bay="A3", connectors=[connector(x_cable_m=4)])])
    body = checked(custom, LOCATION, "the location")
    assert "x_partner_rating" not in body
    assert "x_bay" not in body["evses"][0]
    assert "x_cable_m" not in body["evses"][0]["connectors"][0]
    assert body["evses"][0]["connectors"][0]["max_voltage"] == 920


def test_a_whole_location_older_than_the_one_held_changes_nothing():
    held = put_location(None, location(at="2026-12-01T09:00:00Z", name="Current name"))
    stale = put_location(held, location(at="2026-12-01T08:00:00Z", name="Old name", evses=[evse(status="OUTOFORDER")]))
    assert stale.body == held.body
