"""OCPI 2.2.1 ChargingProfiles between two real networks and a real charger: the Uzbek eMSP
(UZ*UZE) sets, reads and clears the charging profile of its driver's session at a charger of
the Kazakh CPO (KZ*SLK) through the operator API; the Kazakh side answers with a
ChargingProfileResponse, sends the charger SetChargingProfile, GetCompositeSchedule or
ClearChargingProfile (the `ocpp` package's ChargePoint over a real WebSocket) and posts the
result back to the Uzbek side's response_url, where the operator reads it.

The chargers here keep the TxProfile they are set and answer GetCompositeSchedule with it, as a
station without other limits does. A test waits for the Kazakh side's work to end
(`ProfileDesk.idle`), by which time the result has been posted to the Uzbek side."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as r201
from sqlalchemy import select

from silkcharge.store.schema import ChargingProfileRecord, RoamingChargingProfile, Transaction
from tests.e2e.network import register_station
from tests.e2e.peers import Peer16, Peer201, eventually
from tests.roaming.conftest import Network
from tests.roaming.test_commands import STATION, TOKEN, charger, uz_token_to_kz

A_PROFILE = {"charging_rate_unit": "A", "charging_profile_period": [
    {"start_period": 0, "limit": 16}, {"start_period": 1800, "limit": 10.55}]}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class ProfilePeer16(Peer16):
    """A 1.6 charger that keeps the TxProfile it is set, answers GetCompositeSchedule with its
    periods (32 A when it has none), and clears it by id."""

    profile: dict[str, Any] | None = None

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        # the ocpp package reads 1.6 profiles' limits as Decimals, which it cannot write back
        self.profile = json.loads(json.dumps(p["cs_charging_profiles"], default=float))
        return r16.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def composite(self, **p):
        self.saw("GetCompositeSchedule", **p)
        schedule = (self.profile or {}).get("charging_schedule") or {
            "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 32}]}
        return r16.GetCompositeSchedule(
            status="Accepted", connector_id=p["connector_id"], schedule_start=_now(), charging_schedule={
                "duration": p["duration"], "charging_rate_unit": schedule["charging_rate_unit"],
                "charging_schedule_period": schedule["charging_schedule_period"], "min_charging_rate": 6})

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **p):
        self.saw("ClearChargingProfile", **p)
        if self.profile is not None and p.get("id") == self.profile["charging_profile_id"]:
            self.profile = None
            return r16.ClearChargingProfile(status="Accepted")
        return r16.ClearChargingProfile(status="Unknown")


class ProfilePeer201(Peer201):
    """The same charger speaking OCPP 2.0.1."""

    profile: dict[str, Any] | None = None

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        self.profile = p["charging_profile"]
        return r201.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def composite(self, **p):
        self.saw("GetCompositeSchedule", **p)
        [schedule] = self.profile["charging_schedule"]
        return r201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": p["evse_id"], "duration": p["duration"], "schedule_start": _now(),
            "charging_rate_unit": schedule["charging_rate_unit"],
            "charging_schedule_period": schedule["charging_schedule_period"]})


@pytest.fixture
async def networks(registered) -> tuple[Network, Network, int]:
    """The Kazakh CPO with a two-EVSE station at site ALA-TEST, the Uzbek eMSP, and the Uzbek
    side's id of its Kazakh partner."""
    kz, uz = registered
    await register_station(kz.api, STATION)
    return kz, uz, (await uz.partner_row()).id


async def drivers_session(kz: Network, uz: Network, peer: Peer16, connector: int = 1) -> str:
    """A session of the Uzbek driver at the Kazakh charger, started with their card (the token
    the eMSP pushed): the OCPI Session id, our transaction id."""
    card = {**TOKEN, "whitelist": "ALWAYS"}
    put = await kz.ocpi("PUT", f"cpo/2.2.1/tokens/UZ/UZE/{TOKEN['uid']}", await uz_token_to_kz(uz), json=card)
    assert put.json()["status_code"] == 1000, put.text
    begun = await peer.call(call16.StartTransaction(
        connector_id=connector, id_tag=TOKEN["uid"], meter_start=0, timestamp=_now()))
    assert begun.id_tag_info["status"] == "Accepted"
    return str(begun.transaction_id)


async def request(kz: Network, uz: Network, partner_id: int, kind: str, session_id: str,
                  **fields: Any) -> dict[str, Any]:
    """The Uzbek operator's request, once the Kazakh side has done it and posted its result."""
    answer = await uz.api.post("/api/v1/roaming/charging-profiles", json={
        "partner_id": partner_id, "session_id": session_id, "request": kind, **fields})
    assert answer.status_code == 201, answer.text
    await kz.platform.roaming.charging_profiles.idle()
    return (await uz.api.get(f"/api/v1/roaming/charging-profiles/{answer.json()['id']}")).json()


async def test_a_profile_the_emsp_sets_reaches_the_charger_as_the_sessions_tx_profile_and_is_accepted(networks):
    kz, uz, partner_id = networks
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        done = await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
    assert (done["response"], done["timeout"], done["result"]) == (
        "ACCEPTED", kz.platform.roaming.charging_profiles.timeout, "ACCEPTED")
    [sent] = [p for a, p in peer.received if a == "SetChargingProfile"]
    assert sent == {"connector_id": 1, "cs_charging_profiles": {
        "charging_profile_id": 30001, "transaction_id": int(session_id), "stack_level": 1,
        "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Relative",
        "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
            {"start_period": 0, "limit": 16}, {"start_period": 1800, "limit": 10.5}]}}}
    async with kz.platform.sessions() as session:
        installed = (await session.scalars(select(ChargingProfileRecord))).one()
        received = (await session.scalars(select(RoamingChargingProfile))).one()
    assert (installed.profile_id, installed.evse_id, installed.source) == (30001, 1, "roaming")
    assert (received.kind, received.session_id, received.station_id, received.result) == (
        "SET", session_id, STATION, "ACCEPTED")
    assert received.delivered_at is not None


async def test_the_active_profile_is_the_chargers_composite_schedule_in_ocpi_terms(networks):
    kz, uz, partner_id = networks
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
        done = await request(kz, uz, partner_id, "ACTIVE", session_id, duration=3600)
    assert (done["response"], done["result"]) == ("ACCEPTED", "ACCEPTED")
    assert [p for a, p in peer.received if a == "GetCompositeSchedule"] == [{"connector_id": 1, "duration": 3600}]
    active = done["profile"]
    assert active["charging_profile"] == {
        "start_date_time": active["start_date_time"], "charging_rate_unit": "A", "duration": 3600,
        "min_charging_rate": 6, "charging_profile_period": [
            {"start_period": 0, "limit": 16}, {"start_period": 1800, "limit": 10.5}]}
    assert active["start_date_time"].endswith("Z")


async def test_clear_removes_exactly_the_partners_profile_and_a_second_clear_finds_none(networks):
    kz, uz, partner_id = networks
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
        cleared = await request(kz, uz, partner_id, "CLEAR", session_id)
        again = await request(kz, uz, partner_id, "CLEAR", session_id)
    assert (cleared["response"], cleared["result"]) == ("ACCEPTED", "ACCEPTED")
    assert (again["response"], again["result"]) == ("ACCEPTED", "UNKNOWN")
    assert [p for a, p in peer.received if a == "ClearChargingProfile"] == [{"id": 30001}] * 2
    async with kz.platform.sessions() as session:
        assert (await session.scalars(select(ChargingProfileRecord))).all() == []


async def test_a_201_charger_gets_an_absolute_profile_in_watts_and_reports_it_back(networks):
    kz, uz, partner_id = networks
    start = "2026-12-04T10:00:00Z"
    profile = {"start_date_time": start, "duration": 7200, "charging_rate_unit": "W", "min_charging_rate": 1400,
               "charging_profile_period": [{"start_period": 0, "limit": 11000}]}
    async with charger(kz, ProfilePeer201) as peer:
        card = {**TOKEN, "whitelist": "ALWAYS"}
        await kz.ocpi("PUT", f"cpo/2.2.1/tokens/UZ/UZE/{TOKEN['uid']}", await uz_token_to_kz(uz), json=card)
        started = await peer.call(call201.TransactionEvent(
            event_type="Started", timestamp=_now(), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "UZ-TX-201"}, evse={"id": 2, "connector_id": 1},
            id_token={"id_token": TOKEN["uid"], "type": "ISO14443"}))
        assert started.id_token_info["status"] == "Accepted"

        async def recorded():
            async with kz.platform.sessions() as session:
                return await session.scalar(select(Transaction.id).where(Transaction.station_tx_id == "UZ-TX-201"))
        session_id = str(await eventually(recorded))
        done = await request(kz, uz, partner_id, "SET", session_id, charging_profile=profile)
        active = await request(kz, uz, partner_id, "ACTIVE", session_id, duration=600)
    assert done["result"] == "ACCEPTED"
    [sent] = [p for a, p in peer.received if a == "SetChargingProfile"]
    assert sent["evse_id"] == 2
    assert sent["charging_profile"] == {
        "id": 30002, "charging_profile_purpose": "TxProfile", "stack_level": 1, "charging_profile_kind": "Absolute",
        "transaction_id": "UZ-TX-201", "charging_schedule": [{
            "id": 1, "duration": 7200, "start_schedule": "2026-12-04T10:00:00.000Z", "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 11000}], "min_charging_rate": 1400}]}
    assert active["result"] == "ACCEPTED"
    assert active["profile"]["charging_profile"]["charging_profile_period"] == [{"start_period": 0, "limit": 11000}]
    assert active["profile"]["charging_profile"]["charging_rate_unit"] == "W"
    assert [p for a, p in peer.received if a == "GetCompositeSchedule"] == [{"evse_id": 2, "duration": 600}]


async def test_an_unknown_session_is_unknown_session_and_another_partners_session_rejected(networks):
    kz, uz, partner_id = networks
    async with charger(kz, ProfilePeer16) as peer:
        unknown = await request(kz, uz, partner_id, "SET", "424242", charging_profile=A_PROFILE)
        local = await peer.call(call16.StartTransaction(
            connector_id=2, id_tag="LOCAL-CARD-1", meter_start=0, timestamp=_now()))
        anothers = await request(kz, uz, partner_id, "SET", str(local.transaction_id), charging_profile=A_PROFILE)
        not_a_number = await request(kz, uz, partner_id, "ACTIVE", "SESSION-X", duration=60)
    assert (unknown["response"], unknown["result"]) == ("UNKNOWN_SESSION", None)
    assert (not_a_number["response"], not_a_number["result"]) == ("UNKNOWN_SESSION", None)
    assert (anothers["response"], anothers["result"]) == ("REJECTED", None)
    async with kz.platform.sessions() as session:
        refused = await session.scalar(select(RoamingChargingProfile).where(
            RoamingChargingProfile.session_id == str(local.transaction_id)))
    assert "not one of your customers" in refused.response_message
    assert "SetChargingProfile" not in peer.actions()


async def test_a_session_at_a_charger_gone_offline_is_rejected_at_once(networks):
    kz, uz, partner_id = networks
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)

    async def offline():
        return (await kz.api.get(f"/api/v1/stations/{STATION}")).json().get("online") is False
    await eventually(offline)
    done = await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
    assert (done["response"], done["result"]) == ("REJECTED", None)
    async with kz.platform.sessions() as session:
        row = (await session.scalars(select(RoamingChargingProfile))).one()
    assert "offline" in row.response_message


async def test_more_requests_for_a_session_than_allowed_in_a_minute_are_too_often(networks):
    kz, uz, partner_id = networks
    kz.platform.roaming.charging_profiles.per_minute = 2
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        answers = [(await request(kz, uz, partner_id, "ACTIVE", session_id, duration=60))["response"]
                   for _ in range(3)]
    assert answers == ["ACCEPTED", "ACCEPTED", "TOO_OFTEN"]
    assert peer.actions().count("GetCompositeSchedule") == 2


async def test_malformed_requests_are_2001_naming_the_field_and_reach_no_charger(networks):
    kz, uz, _ = networks
    token = await uz_token_to_kz(uz)
    url = "http://127.0.0.1:1/results/1"
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        path = f"cpo/2.2.1/chargingprofiles/{session_id}"
        no_unit = await kz.ocpi("PUT", path, token, json={"response_url": url, "charging_profile": {
            "charging_profile_period": [{"start_period": 0, "limit": "lots"}]}})
        unordered = await kz.ocpi("PUT", path, token, json={"response_url": url, "charging_profile": {
            "charging_rate_unit": "A", "charging_profile_period": [{"start_period": 60, "limit": 8}]}})
        no_periods = await kz.ocpi("PUT", path, token, json={"response_url": url, "charging_profile": {
            "charging_rate_unit": "A", "charging_profile_period": []}})
        not_json = await kz.ocpi("PUT", path, token, content=b"{nope")
        no_duration = await kz.ocpi("GET", path, token, params={"response_url": url})
        no_url = await kz.ocpi("DELETE", path, token)
    for answer in (no_unit, unordered, no_periods, not_json, no_duration, no_url):
        assert (answer.status_code, answer.json()["status_code"]) == (400, 2001), answer.text
    assert "charging_profile.charging_rate_unit: required" in no_unit.json()["status_message"]
    assert "charging_profile.charging_profile_period[0].limit: must be a number" in no_unit.json()["status_message"]
    assert "charging_profile.charging_profile_period: the first period" in unordered.json()["status_message"]
    assert "charging_profile.charging_profile_period: needs at least 1" in no_periods.json()["status_message"]
    assert "duration: required" in no_duration.json()["status_message"]
    assert "response_url: required" in no_url.json()["status_message"]
    assert "SetChargingProfile" not in peer.actions()
    async with kz.platform.sessions() as session:
        assert (await session.scalars(select(RoamingChargingProfile))).all() == []


async def test_a_result_address_away_from_the_partners_platform_is_refused(networks):
    kz, uz, _ = networks
    answer = await kz.ocpi("GET", "cpo/2.2.1/chargingprofiles/1", await uz_token_to_kz(uz),
                           params={"duration": "60", "response_url": "http://169.254.169.254/latest"})
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert "your own platform" in answer.json()["status_message"]


async def test_the_cpos_pushed_active_profile_is_kept_latest_first_per_session(networks):
    kz, uz, partner_id = networks
    kz_token_to_uz = (await kz.partner_row()).token_to_them
    pushed = []
    for limit in (16, 8):
        answer = await uz.ocpi("PUT", "emsp/2.2.1/chargingprofiles/7001", kz_token_to_uz, json={
            "start_date_time": "2026-12-04T10:00:00Z", "charging_profile": {
                "charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": limit}]}})
        pushed.append(answer.json()["status_code"])
    assert pushed == [1000, 1000]
    kept = await uz.api.get(f"/api/v1/roaming/charging-profiles/pushed/{partner_id}/7001")
    assert kept.status_code == 200, kept.text
    assert kept.json()["profile"]["charging_profile"]["charging_profile_period"] == [{"start_period": 0, "limit": 8}]
    bad = await uz.ocpi("PUT", "emsp/2.2.1/chargingprofiles/7001", kz_token_to_uz,
                        json={"charging_profile": {"charging_rate_unit": "kW"}})
    assert (bad.status_code, bad.json()["status_code"]) == (400, 2001)
    assert "start_date_time: required" in bad.json()["status_message"]
    assert (await uz.api.get(f"/api/v1/roaming/charging-profiles/pushed/{partner_id}/7002")).status_code == 404


async def test_a_result_for_a_request_never_sent_is_404_and_a_malformed_one_2001(networks):
    kz, uz, partner_id = networks
    kz_token_to_uz = (await kz.partner_row()).token_to_them
    never = await uz.ocpi("POST", "emsp/2.2.1/chargingprofiles/results/made-up", kz_token_to_uz,
                          json={"result": "ACCEPTED"})
    assert never.status_code == 404
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        done = await request(kz, uz, partner_id, "CLEAR", session_id)
    bad = await uz.ocpi("POST", f"emsp/2.2.1/chargingprofiles/results/{done['uid']}", kz_token_to_uz,
                        json={"result": "PERHAPS"})
    assert (bad.status_code, bad.json()["status_code"]) == (400, 2001)
    assert done["result"] == "UNKNOWN"  # the charger held no profile of ours


async def test_the_operator_api_says_what_a_request_lacks_and_why_it_cannot_be_sent(networks):
    kz, uz, partner_id = networks
    api = uz.api
    no_profile = await api.post("/api/v1/roaming/charging-profiles", json={
        "partner_id": partner_id, "session_id": "1", "request": "SET"})
    assert no_profile.status_code == 422
    unknown_partner = await api.post("/api/v1/roaming/charging-profiles", json={
        "partner_id": 999, "session_id": "1", "request": "CLEAR"})
    assert unknown_partner.status_code == 404
    assert (await api.get("/api/v1/roaming/charging-profiles/12345")).status_code == 404


async def test_both_sides_list_the_chargingprofiles_endpoints_in_their_version_details(networks):
    kz, uz, _ = networks
    kz_partner = await uz.partner_row()
    assert any(e["identifier"] == "chargingprofiles" and e["role"] == "RECEIVER" for e in kz_partner.endpoints)
    uz_partner = await kz.partner_row()
    assert any(e["identifier"] == "chargingprofiles" and e["role"] == "SENDER" for e in uz_partner.endpoints)


async def test_a_session_on_a_site_under_load_management_is_refused_a_partners_profile(networks):
    """The site's allocation sets its sessions' TxProfiles: a partner's would override it (and
    risk the circuits) or be overridden, so it is REJECTED and the charger is not asked."""
    kz, uz, partner_id = networks
    assert (await kz.api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "40"})).status_code == 200
    async with charger(kz, ProfilePeer16) as peer:
        session_id = await drivers_session(kz, uz, peer)
        done = await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
        active = await request(kz, uz, partner_id, "ACTIVE", session_id, duration=60)
    assert (done["response"], done["result"]) == ("REJECTED", None)
    assert active["response"] == "ACCEPTED"  # what the allocation plans may still be read
    installed = [p["cs_charging_profiles"]["charging_profile_id"] for a, p in peer.received if a == "SetChargingProfile"]
    assert 30001 not in installed  # (load management's own profiles may have gone there)
    async with kz.platform.sessions() as session:
        refused = await session.scalar(select(RoamingChargingProfile).where(RoamingChargingProfile.kind == "SET"))
    assert "load management" in refused.response_message
