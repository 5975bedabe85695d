"""The Kazakh CPO pushes the ActiveChargingProfile of a session to the Uzbek eMSP when it knows
it changed (OCPI 2.2.1 mod_charging_profiles, the Sender interface's PUT), and only for a session
whose eMSP once had a SetChargingProfile accepted: two real networks over HTTP, and the
simulator's charger (src/silkcharge/sim/) over a real OCPP WebSocket, which keeps the profiles it
is set and answers GetCompositeSchedule with what it obeys.

The Uzbek driver's session starts with their card, the Uzbek operator SETs a profile on it, and
then the Kazakh operator changes the charger's profiles through its API (or the charger reports
an external limit): the Uzbek side keeps what was pushed (`GET .../charging-profiles/pushed/...`).
Tests wait for what the Uzbek side received, never for time."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as r201
from sqlalchemy import select

from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import ActiveProfilePushed, ChargingProfilesChanged
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.store.schema import RoamingChargingProfile, RoamingOutboxRow, Transaction
from tests.e2e.peers import Peer201, eventually
from tests.e2e.test_smart_profiles import simulated as charger_at
from tests.guards import HANG_GUARD
from tests.roaming.conftest import Network
from tests.roaming.test_charging_profiles import A_PROFILE, _now, networks, request  # noqa: F401 (the fixture)
from tests.roaming.test_commands import STATION, TOKEN, charger, uz_token_to_kz

SECOND_CARD = {**TOKEN, "uid": "UZ0012AB99", "contract_id": "UZ-UZE-C99999-1"}


def simulated(kz: Network, version: str = "1.6") -> AbstractAsyncContextManager[SimulatedCharger]:
    """The simulator's two-EVSE charger STATION, booted at the Kazakh gateway (metering once a
    minute: the tests here need no readings)."""
    return charger_at(f"ws://127.0.0.1:{kz.platform.gateway.port}/ocpp", STATION, version, meter_interval=60)


async def card_known(kz: Network, uz: Network, card: dict[str, Any]) -> None:
    """The eMSP's card, pushed to the CPO (as ocpi-tokens would)."""
    put = await kz.ocpi("PUT", f"cpo/2.2.1/tokens/UZ/UZE/{card['uid']}", await uz_token_to_kz(uz),
                        json={**card, "whitelist": "ALWAYS"})
    assert put.json()["status_code"] == 1000, put.text


async def charging(kz: Network, uz: Network, station: SimulatedCharger, evse: int, card: dict[str, Any]) -> str:
    """The driver's session on `evse`, begun with `card`: its OCPI Session id (our transaction id)."""
    await card_known(kz, uz, card)
    station_tx_id = await station.plug_in_and_charge(evse, card["uid"])

    async def recorded():
        async with kz.platform.sessions() as session:
            return await session.scalar(select(Transaction.id).where(
                Transaction.station_id == STATION, Transaction.station_tx_id == str(station_tx_id)))
    return str(await eventually(recorded))


async def profile_set(kz: Network, uz: Network, partner_id: int, session_id: str) -> None:
    done = await request(kz, uz, partner_id, "SET", session_id, charging_profile=A_PROFILE)
    assert done["result"] == "ACCEPTED", done


async def operator_sets(kz: Network, evse: int, profile_id: int, purpose: str, amps: str) -> None:
    answer = await kz.api.post(f"/api/v1/smart/stations/{STATION}/profiles", json={"evse_id": evse, "profile": {
        "id": profile_id, "stack_level": 0, "purpose": purpose, "kind": "Relative",
        "schedule": {"rate_unit": "A", "periods": [{"start_period": 0, "limit": amps}]}}})
    assert answer.status_code == 201 and answer.json()["status"] == "Accepted", answer.text


async def pushed(uz: Network, partner_id: int, session_id: str) -> dict[str, Any] | None:
    """The latest ActiveChargingProfile the Uzbek side was pushed for the session, or None."""
    answer = await uz.api.get(f"/api/v1/roaming/charging-profiles/pushed/{partner_id}/{session_id}")
    return answer.json()["profile"] if answer.status_code == 200 else None


async def pushed_with(uz: Network, partner_id: int, session_id: str, first_limit: Decimal) -> dict[str, Any]:
    """Wait until the session's pushed profile starts at `first_limit`."""
    async def arrived():
        profile = await pushed(uz, partner_id, session_id)
        periods = profile["charging_profile"]["charging_profile_period"] if profile else []
        return profile if periods and Decimal(str(periods[0]["limit"])) == first_limit else None
    return await eventually(arrived)


async def set_then_lowered(kz: Network, uz: Network, partner_id: int, station: SimulatedCharger) -> tuple[str, dict]:
    """The Uzbek driver charges on EVSE 1, the Uzbek eMSP SETs its profile (16 A), then the Kazakh
    operator limits the whole station to 8 A: the session id, and the profile pushed for it."""
    session_id = await charging(kz, uz, station, 1, TOKEN)
    await profile_set(kz, uz, partner_id, session_id)
    await operator_sets(kz, 0, 1, "ChargingStationMaxProfile", "8")
    return session_id, await pushed_with(uz, partner_id, session_id, Decimal(8))


async def pushes_enqueued(kz: Network) -> list[RoamingOutboxRow]:
    async with kz.platform.sessions() as session:
        return list((await session.scalars(select(RoamingOutboxRow).where(
            RoamingOutboxRow.module == "chargingprofiles").order_by(RoamingOutboxRow.id))).all())


async def push_records(kz: Network) -> list[RoamingChargingProfile]:
    async with kz.platform.sessions() as session:
        return list((await session.scalars(select(RoamingChargingProfile).where(
            RoamingChargingProfile.direction == "pushed").order_by(RoamingChargingProfile.id))).all())


async def test_an_operators_lower_station_maximum_reaches_the_emsp_as_the_sessions_active_profile(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with simulated(kz) as station, kz.platform.bus.subscribe(kinds=(ActiveProfilePushed,)) as told:
        session_id, active = await set_then_lowered(kz, uz, partner_id, station)
        await kz.platform.roaming_profiles.idle()
        # the record is announced (an open Roaming page reloads on it)
        announced = await asyncio.wait_for(told.get(), HANG_GUARD)
    assert (announced.station_id, announced.session_id, announced.result) == (STATION, session_id, "ACCEPTED")
    profile = active["charging_profile"]
    assert profile["charging_rate_unit"] == "A" and profile["duration"] == 3600
    assert all(Decimal(str(p["limit"])) <= 8 for p in profile["charging_profile_period"])
    assert active["start_date_time"].endswith("Z")
    # one push: the operator's change; the eMSP's own SET, which its result reported, is not pushed
    [row] = await pushes_enqueued(kz)
    assert (row.partner_id, row.method, row.path) == ((await kz.partner_row()).id, "PUT", session_id)
    [record] = await push_records(kz)
    assert (record.session_id, record.result, record.request["cause"]) == (session_id, "ACCEPTED", "operator")


async def test_a_session_whose_emsp_never_set_a_profile_is_never_pushed_while_its_neighbour_is(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with simulated(kz) as station:
        told = await charging(kz, uz, station, 1, TOKEN)
        untold = await charging(kz, uz, station, 2, SECOND_CARD)
        await profile_set(kz, uz, partner_id, told)
        asked = await request(kz, uz, partner_id, "ACTIVE", untold, duration=600)  # a GET is no SET
        assert asked["result"] == "ACCEPTED", asked
        await operator_sets(kz, 0, 1, "ChargingStationMaxProfile", "8")  # both EVSEs are limited
        await pushed_with(uz, partner_id, told, Decimal(8))  # pushes flow
        await kz.platform.roaming_profiles.idle()
        assert [row.path for row in await pushes_enqueued(kz)] == [told]
        assert [record.session_id for record in await push_records(kz)] == [told]
        assert await pushed(uz, partner_id, untold) is None


async def test_an_operators_clear_is_pushed_and_the_emsps_own_profile_shows_again(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with simulated(kz) as station:
        session_id, _ = await set_then_lowered(kz, uz, partner_id, station)
        cleared = await kz.api.delete(f"/api/v1/smart/stations/{STATION}/profiles", params={"profile_id": 1})
        assert cleared.json()["status"] == "Accepted", cleared.text
        active = await pushed_with(uz, partner_id, session_id, Decimal(16))
    # the eMSP's own again: 16 A, and 10.5 A from half an hour after the session's start
    periods = active["charging_profile"]["charging_profile_period"]
    assert [p["limit"] for p in periods] == [16, 10.5]
    assert 1700 < periods[1]["start_period"] <= 1800


async def test_an_external_limit_a_201_charger_reports_is_pushed(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with simulated(kz, "2.0.1") as station:
        session_id = await charging(kz, uz, station, 1, TOKEN)
        await profile_set(kz, uz, partner_id, session_id)
        await station.external_limit(1, Decimal(10), source="EMS")
        await pushed_with(uz, partner_id, session_id, Decimal(10))
        await station.external_limit(1, None, source="EMS")
        await pushed_with(uz, partner_id, session_id, Decimal(16))
    causes = [record.request["cause"] for record in await push_records(kz)]
    assert causes == ["external limit set by EMS", "external limit cleared by EMS"]


class PlanlessPeer(Peer201):
    """A 2.0.1 charger that takes profiles and answers GetCompositeSchedule with `answer`:
    Accepted without a schedule, or Rejected."""

    answer = "Accepted"

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        return r201.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def composite(self, **p):
        self.saw("GetCompositeSchedule", **p)
        return r201.GetCompositeSchedule(status=self.answer)


async def pushed_at_the_evse_maximum(
        kz: Network, uz: Network, partner_id: int, peer: PlanlessPeer, station_tx_id: str) -> tuple[str, dict]:
    """The Uzbek driver's session on EVSE 2 of a charger without a plan, SET by the Uzbek eMSP,
    then a default profile from the Kazakh operator: pushed at the EVSE's registered 60 kW. The
    session id, and the profile pushed."""
    await card_known(kz, uz, TOKEN)
    await peer.call(call201.TransactionEvent(
        event_type="Started", timestamp=_now(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": station_tx_id}, evse={"id": 2, "connector_id": 1},
        id_token={"id_token": TOKEN["uid"], "type": "ISO14443"}))

    async def recorded():
        async with kz.platform.sessions() as session:
            return await session.scalar(select(Transaction.id).where(Transaction.station_tx_id == station_tx_id))
    session_id = str(await eventually(recorded))
    await profile_set(kz, uz, partner_id, session_id)
    await operator_sets(kz, 2, 5, "TxDefaultProfile", "20")
    return session_id, await pushed_with(uz, partner_id, session_id, Decimal(60000))


async def test_a_charger_without_a_plan_is_pushed_at_its_evses_maximum_and_one_that_refuses_is_recorded(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with charger(kz, PlanlessPeer) as peer:
        session_id, active = await pushed_at_the_evse_maximum(kz, uz, partner_id, peer, "UZ-TX-PLANLESS")
        assert active["charging_profile"]["charging_rate_unit"] == "W"

        peer.answer = "Rejected"
        await operator_sets(kz, 2, 5, "TxDefaultProfile", "12")

        async def refused():
            found = await push_records(kz)
            return found if len(found) == 2 else None
        first, second = await eventually(refused)
    assert (first.result, second.result) == ("ACCEPTED", "REJECTED")
    assert "Rejected" in second.result_message and second.profile is None
    assert len(await pushes_enqueued(kz)) == 1  # nothing pushed for the refusal


async def test_a_push_missed_while_the_charger_was_offline_is_made_when_it_connects_again(networks):  # noqa: F811 (the fixture imported above)
    kz, uz, partner_id = networks
    async with charger(kz, PlanlessPeer) as peer:
        session_id, _ = await pushed_at_the_evse_maximum(kz, uz, partner_id, peer, "UZ-TX-OFFLINE")

    # The charger drops as a change of its profiles is recorded: it cannot be asked what it plans.
    async def offline():
        return kz.platform.router.get(STATION) is None
    await eventually(offline)
    kz.platform.bus.publish(ChargingProfilesChanged(STATION, utcnow(), 2, "load"))

    async def missed():
        found = await push_records(kz)
        return found if len(found) == 2 else None
    first, second = await eventually(missed)
    assert (first.result, second.result, second.request["cause"]) == ("ACCEPTED", "REJECTED", "load")

    # Back online, the session's profile is pushed again without any further change.
    async with charger(kz, PlanlessPeer):
        async def pushed_again():
            found = await push_records(kz)
            return found if len(found) == 3 else None
        *_, third = await eventually(pushed_again)
    assert (third.result, third.session_id, third.request["cause"]) == ("ACCEPTED", session_id, "station back online")
    assert len(await pushes_enqueued(kz)) == 2
