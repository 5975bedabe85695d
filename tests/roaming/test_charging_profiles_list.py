"""The operator API's lists of charging profile exchanges (`GET /api/v1/roaming/charging-profiles`
and `.../pushed`), as the console's Roaming page reads them: the Uzbek eMSP SETs a profile on its
driver's session at the Kazakh simulator's charger, the Kazakh operator lowers the charger's
maximum, and each side lists what went each way, newest first, filtered; bad parameters are
refused with their reason; the roaming area's read permission is needed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.roaming.conftest import Network
from tests.roaming.test_charging_profiles import networks  # noqa: F401 (the fixture)
from tests.roaming.test_commands import STATION
from tests.roaming.test_profile_push import set_then_lowered, simulated

LIST = "/api/v1/roaming/charging-profiles"


async def listed(network: Network, path: str = LIST, **params) -> list[dict]:
    answer = await network.api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_each_side_lists_the_set_and_the_pushed_active_profile_newest_first_and_filters_them(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with simulated(kz) as station:
        session_id, _ = await set_then_lowered(kz, uz, partner_id, station)
        await kz.platform.roaming_profiles.idle()

    # the CPO: the partner's SET for its driver's session at our charger, then our push
    kz_partner = (await kz.partner_row()).id
    pushed, received = await listed(kz)
    assert (pushed["direction"], pushed["kind"], pushed["session_id"], pushed["partner"]) == (
        "pushed", "ACTIVE", session_id, "UzEnergy")
    assert (pushed["station_id"], pushed["evse_id"], pushed["cause"], pushed["result"]) == (STATION, 1, "operator",
                                                                                            "ACCEPTED")
    assert pushed["response"] is None and pushed["charging_profile"] is None
    periods = pushed["profile"]["charging_profile"]["charging_profile_period"]
    assert Decimal(str(periods[0]["limit"])) == 8
    assert (received["direction"], received["kind"], received["response"], received["result"]) == (
        "received", "SET", "ACCEPTED", "ACCEPTED")
    assert (received["station_id"], received["evse_id"], received["partner_id"]) == (STATION, 1, kz_partner)
    # as the eMSP sent it: limits with one decimal, rounded down (10.55 A asked for is 10.5 A)
    assert received["charging_profile"] == {"charging_rate_unit": "A", "charging_profile_period": [
        {"start_period": 0, "limit": 16}, {"start_period": 1800, "limit": 10.5}]}
    assert received["profile"] is None
    assert received["delivered_at"] is not None and received["created_at"] < pushed["created_at"]

    # filtered
    assert [r["id"] for r in await listed(kz, direction="received")] == [received["id"]]
    assert [r["id"] for r in await listed(kz, kind="ACTIVE")] == [pushed["id"]]
    assert [r["id"] for r in await listed(kz, session_id=session_id, limit=1)] == [pushed["id"]]
    assert await listed(kz, session_id="not-a-session") == []
    assert await listed(kz, direction="sent") == []
    assert await listed(kz, partner_id=kz_partner + 1) == []
    assert await listed(kz, LIST + "/pushed") == []  # nobody pushed the CPO anything

    # the eMSP: the SET it sent, and what the CPO pushed it
    [sent] = await listed(uz)
    assert (sent["direction"], sent["kind"], sent["partner"], sent["result"], sent["station_id"]) == (
        "sent", "SET", "Silk Charge KZ", "ACCEPTED", None)
    assert sent["charging_profile"] == received["charging_profile"]
    # where our driver charges, as the partner's Session says; named once we hold its Location
    assert (sent["location_id"], sent["evse_uid"], sent["place"]) == ("ALA-TEST", f"{STATION}*1", None)
    pulled = await uz.api.post(f"/api/v1/roaming/partners/{partner_id}/pull")
    assert pulled.status_code == 200 and pulled.json()["locations"] >= 1, pulled.text
    [sent] = await listed(uz, direction="sent")
    assert (sent["location_id"], sent["evse_uid"], sent["place"]) == ("ALA-TEST", f"{STATION}*1", "Kaskelen test site")
    [session] = await listed(uz, "/api/v1/roaming/sessions")
    assert (session["direction"], session["location_id"], session["place"]) == (
        "ours_at_theirs", "ALA-TEST", "Kaskelen test site")
    [theirs] = await listed(uz, LIST + "/pushed")
    assert (theirs["partner_id"], theirs["partner"], theirs["session_id"]) == (partner_id, "Silk Charge KZ", session_id)
    assert theirs["profile"]["charging_profile"]["charging_profile_period"] == periods
    assert await listed(uz, LIST + "/pushed", session_id="elsewhere") == []
    assert await listed(uz, LIST + "/pushed", partner_id=partner_id, limit=200) == [theirs]


@pytest.mark.parametrize("path, params, field", [
    (LIST, {"limit": "0"}, "query.limit"),
    (LIST, {"limit": "201"}, "query.limit"),
    (LIST, {"limit": "many"}, "query.limit"),
    (LIST, {"direction": "sideways"}, "query.direction"),
    (LIST, {"kind": "GET"}, "query.kind"),
    (LIST, {"session_id": "x" * 37}, "query.session_id"),
    (LIST, {"session_id": "tab\there"}, "query.session_id"),
    (LIST, {"partner_id": "0"}, "query.partner_id"),
    (LIST + "/pushed", {"limit": "201"}, "query.limit"),
    (LIST + "/pushed", {"partner_id": "2147483648"}, "query.partner_id"),
    (LIST + "/pushed", {"session_id": ""}, "query.session_id"),
])
async def test_a_bad_parameter_is_refused_with_its_reason(kz, path, params, field):
    answer = await kz.api.get(path, params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [p["field"] for p in body["problems"]] == [field]
    assert body["detail"].startswith(f"{field}: ")


async def test_reading_the_exchanges_needs_the_roaming_areas_read_permission(kz):
    keys = {}
    for role in ("technician", "viewer"):
        created = await kz.api.post("/api/v1/access/keys", json={"name": f"a {role}", "role": role})
        assert created.status_code == 201, created.text
        keys[role] = {"X-API-Key": created.json()["key"]}
    for path in (LIST, LIST + "/pushed"):
        refused = await kz.api.get(path, headers=keys["technician"])
        assert refused.status_code == 403 and "roaming:read" in refused.json()["detail"], refused.text
        allowed = await kz.api.get(path, headers=keys["viewer"])
        assert allowed.status_code == 200 and allowed.json() == [], allowed.text
