"""OCPI 2.2.1 Commands between two real networks and a real charger: the Uzbek eMSP (UZ*UZE)
sends commands for its driver to a charger of the Kazakh CPO (KZ*SLK) through the operator
API; the Kazakh side answers with a CommandResponse, sends the neutral command to the charger
(the `ocpp` package's ChargePoint over a real WebSocket) and posts the CommandResult back to
the Uzbek side's response_url, where the operator reads it.

(The shared fixture makes Kazakhstan the CPO and Uzbekistan the eMSP.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import uvicorn
import websockets
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as call201
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from silkcharge.store.schema import Connector, RoamingCommand, RoamingTransaction
from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import Peer16, Peer201, basic_auth, eventually
from tests.e2e.server_process import listening_socket, port_of, serving
from tests.roaming.conftest import Network

STATION = "ALA-RM-01"
TOKEN = {
    "country_code": "UZ", "party_id": "UZE", "uid": "UZ0012AB34", "type": "RFID", "contract_id": "UZ-UZE-C12345-6",
    "issuer": "UzEnergy eMobility", "valid": True, "whitelist": "ALLOWED", "last_updated": "2026-12-01T08:00:00Z",
}


class RefusingPeer(Peer16):
    """A charger that refuses every remote start (say, its cable is locked by another car)."""

    @on("RemoteStartTransaction")
    def remote_start(self, **p):
        self.saw("RemoteStartTransaction", **p)
        return r16.RemoteStartTransaction(status="Rejected")


@contextlib.asynccontextmanager
async def charger(network: Network, cls: type[Peer16] | type[Peer201] = Peer16) -> AsyncIterator[Any]:
    """A charger (1.6, or 2.0.1 for a Peer201) booted at the network's gateway, and seen online there."""
    url = f"ws://127.0.0.1:{network.platform.gateway.port}/ocpp/{STATION}"
    v201 = issubclass(cls, Peer201)
    async with websockets.connect(url, subprotocols=["ocpp2.0.1" if v201 else "ocpp1.6"],
                                  additional_headers=basic_auth(STATION, PASSWORD)) as ws:
        peer = cls(STATION, ws)
        task = asyncio.create_task(peer.start())
        try:
            if v201:
                await peer.call(call201.BootNotification(
                    charging_station={"model": "Terra 184", "vendor_name": "ABB"}, reason="PowerUp"))
            else:
                await peer.call(call16.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))

            async def online():
                return (await network.api.get(f"/api/v1/stations/{STATION}")).json().get("online")
            await eventually(online)
            yield peer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@pytest.fixture
async def roaming(registered) -> tuple[Network, Network, int]:
    """The Kazakh CPO with a two-EVSE station at site ALA-TEST, the Uzbek eMSP, and the Uzbek
    side's id of its Kazakh partner."""
    kz, uz = registered
    await register_station(kz.api, STATION)
    partner = await uz.partner_row()
    return kz, uz, partner.id


async def send(uz: Network, partner_id: int, command: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await uz.api.post("/api/v1/roaming/commands", json={"partner_id": partner_id, "command": command,
                                                                 "body": body})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def result_of(uz: Network, command_id: int) -> dict[str, Any]:
    async def arrived():
        state = (await uz.api.get(f"/api/v1/roaming/commands/{command_id}")).json()
        return state if state["result"] else None
    return await eventually(arrived)


def start_body(**extra) -> dict[str, Any]:
    return {"token": TOKEN, "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1", **extra}


async def uz_token_to_kz(uz: Network) -> str:
    return (await uz.partner_row()).token_to_them


async def test_start_session_reaches_the_charger_with_the_drivers_token_and_the_accepted_result_comes_back(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        sent = await send(uz, partner_id, "START_SESSION", start_body(connector_id="1",
                                                                      authorization_reference="AUTH-77"))
        assert sent["response"] == "ACCEPTED", sent
        done = await result_of(uz, sent["id"])
    assert done["result"] == "ACCEPTED"
    starts = [p for action, p in peer.received if action == "RemoteStartTransaction"]
    assert starts == [{"id_tag": "UZ0012AB34", "connector_id": 1}]
    # the eMSP holds the result once our POST reaches it; our row notes the delivery once the
    # answer is back (seen late on a loaded machine)
    await kz.platform.roaming.commands.idle()
    async with kz.platform.sessions() as session:
        kept = (await session.scalars(select(RoamingCommand).where(RoamingCommand.direction == "received"))).one()
    assert (kept.command, kept.station_id, kept.evse_id, kept.token_uid, kept.result) == (
        "START_SESSION", STATION, 1, "UZ0012AB34", "ACCEPTED")
    assert kept.delivered_at is not None
    vouched = await kz.platform.roaming.commands.commanded_start("UZ0012AB34", STATION)
    assert (vouched.partner_id, vouched.token["contract_id"], vouched.authorization_reference) == (
        kept.partner_id, "UZ-UZE-C12345-6", "AUTH-77")
    assert await kz.platform.roaming.commands.commanded_start("UZ0012AB34", "ELSEWHERE") is None


async def test_a_201_charger_is_sent_request_start_with_the_token_typed_and_its_answer_is_the_result(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz, Peer201) as peer:
        sent = await send(uz, partner_id, "START_SESSION", start_body())
        assert sent["response"] == "ACCEPTED"
        done = await result_of(uz, sent["id"])
        unlock = await send(uz, partner_id, "UNLOCK_CONNECTOR",
                            {"location_id": "ALA-TEST", "evse_uid": f"{STATION}*1", "connector_id": "1"})
        unlocked = await result_of(uz, unlock["id"])
    assert done["result"] == "ACCEPTED" and unlocked["result"] == "ACCEPTED"
    [start] = [p for a, p in peer.received if a == "RequestStartTransaction"]
    assert start["id_token"] == {"id_token": "UZ0012AB34", "type": "ISO14443"}
    assert start["evse_id"] == 1
    assert [p for a, p in peer.received if a == "UnlockConnector"] == [{"evse_id": 1, "connector_id": 1}]


async def test_stop_session_of_the_partners_running_session_stops_it_at_the_charger(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        started = await send(uz, partner_id, "START_SESSION", start_body(connector_id="1"))
        assert (await result_of(uz, started["id"]))["result"] == "ACCEPTED"
        begun = await peer.call(call16.StartTransaction(
            connector_id=1, id_tag="UZ0012AB34", meter_start=0,
            timestamp=datetime.now(timezone.utc).isoformat()))
        stop = await send(uz, partner_id, "STOP_SESSION", {"session_id": str(begun.transaction_id)})
        assert stop["response"] == "ACCEPTED", stop
        assert (await result_of(uz, stop["id"]))["result"] == "ACCEPTED"
    assert [p for a, p in peer.received if a == "RemoteStopTransaction"] == [
        {"transaction_id": begun.transaction_id}]


async def test_the_start_a_start_session_asked_for_is_accepted_at_the_charger_as_the_partners_session(roaming):
    """OCPI 2.2.1: the eMSP vouches for the token it sends in START_SESSION, so the charger's
    StartTransaction with it is accepted without any stored token, and the transaction is
    recorded as that partner's (its session and CDR go to it)."""
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        started = await send(uz, partner_id, "START_SESSION", start_body(connector_id="1",
                                                                         authorization_reference="AUTH-9"))
        assert (await result_of(uz, started["id"]))["result"] == "ACCEPTED"
        begun = await peer.call(call16.StartTransaction(
            connector_id=1, id_tag="UZ0012AB34", meter_start=0, timestamp=datetime.now(timezone.utc).isoformat()))
    assert begun.id_tag_info["status"] == "Accepted"
    async with kz.platform.sessions() as session:
        recorded = await session.get(RoamingTransaction, begun.transaction_id)
    assert recorded is not None
    assert (recorded.partner_id, recorded.decided_by, recorded.authorization_reference, recorded.contract_id) == (
        (await kz.partner_row()).id, "command", "AUTH-9", "UZ-UZE-C12345-6")


async def test_a_card_started_session_of_the_partners_driver_can_be_stopped_by_its_stop_session(roaming):
    """A session the driver started with their card (no START_SESSION) belongs to the partner
    whose token it was, so that partner's STOP_SESSION stops it."""
    kz, uz, partner_id = roaming
    card = {**TOKEN, "uid": "UZCARD0099", "contract_id": "UZ-UZE-C99999-1", "whitelist": "ALWAYS"}
    put = await kz.ocpi("PUT", "cpo/2.2.1/tokens/UZ/UZE/UZCARD0099", await uz_token_to_kz(uz), json=card)
    assert put.json()["status_code"] == 1000, put.text
    async with charger(kz) as peer:
        begun = await peer.call(call16.StartTransaction(
            connector_id=1, id_tag="UZCARD0099", meter_start=0, timestamp=datetime.now(timezone.utc).isoformat()))
        assert begun.id_tag_info["status"] == "Accepted"
        stop = await send(uz, partner_id, "STOP_SESSION", {"session_id": str(begun.transaction_id)})
        assert stop["response"] == "ACCEPTED", stop
        assert (await result_of(uz, stop["id"]))["result"] == "ACCEPTED"
    assert [p for a, p in peer.received if a == "RemoteStopTransaction"] == [
        {"transaction_id": begun.transaction_id}]


async def test_a_charger_refusing_the_remote_start_gives_a_rejected_result(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz, RefusingPeer) as peer:
        sent = await send(uz, partner_id, "START_SESSION", start_body())
        assert sent["response"] == "ACCEPTED"
        done = await result_of(uz, sent["id"])
    assert peer.actions().count("RemoteStartTransaction") == 1
    assert done["result"] == "REJECTED"
    assert "Rejected" in done["result_message"]
    assert await kz.platform.roaming.commands.commanded_start("UZ0012AB34", STATION) is None


async def test_a_refused_start_on_an_evse_in_use_or_out_of_order_says_which(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz, RefusingPeer) as peer:
        for connector, status in ((1, "Charging"), (2, "Faulted")):
            await peer.call(call16.StatusNotification(connector_id=connector, error_code="NoError", status=status))

        async def stored():
            async with kz.platform.sessions() as session:
                rows = (await session.execute(select(Connector.evse_id, Connector.status).where(
                    Connector.station_id == STATION))).all()
            return dict(rows) == {1: "Charging", 2: "Faulted"}
        await eventually(stored)
        occupied = await send(uz, partner_id, "START_SESSION", start_body())
        broken = await send(uz, partner_id, "START_SESSION", start_body(evse_uid=f"{STATION}*2"))
        results = [(await result_of(uz, sent["id"]))["result"] for sent in (occupied, broken)]
    assert results == ["EVSE_OCCUPIED", "EVSE_INOPERATIVE"]


async def test_a_start_at_an_offline_charger_is_rejected_at_once_saying_it_is_offline(roaming):
    kz, uz, partner_id = roaming
    sent = await send(uz, partner_id, "START_SESSION", start_body())
    assert sent["response"] == "REJECTED"
    assert "offline" in sent["response_message"]


async def test_stop_session_of_no_session_is_unknown_session_and_of_anothers_session_rejected(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        unknown = await send(uz, partner_id, "STOP_SESSION", {"session_id": "424242"})
        local = await peer.call(call16.StartTransaction(
            connector_id=2, id_tag="LOCAL-CARD-1", meter_start=0, timestamp=datetime.now(timezone.utc).isoformat()))
        anothers = await send(uz, partner_id, "STOP_SESSION", {"session_id": str(local.transaction_id)})
    assert (unknown["response"], unknown["result"]) == ("UNKNOWN_SESSION", None)
    assert anothers["response"] == "REJECTED"
    assert "not one of your customers" in anothers["response_message"]
    assert "RemoteStopTransaction" not in peer.actions()


async def test_unlock_connector_unlocks_it_at_the_charger_and_reports_accepted(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        sent = await send(uz, partner_id, "UNLOCK_CONNECTOR",
                          {"location_id": "ALA-TEST", "evse_uid": f"{STATION}*2", "connector_id": "1"})
        assert sent["response"] == "ACCEPTED"
        done = await result_of(uz, sent["id"])
    assert done["result"] == "ACCEPTED"
    assert [p for a, p in peer.received if a == "UnlockConnector"] == [{"connector_id": 2}]


async def test_a_reservation_holds_the_evse_and_its_cancellation_frees_it(roaming):
    kz, uz, partner_id = roaming
    expiry = (datetime.now(timezone.utc) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with charger(kz) as peer:
        reserved = await send(uz, partner_id, "RESERVE_NOW", {
            "token": TOKEN, "expiry_date": expiry, "reservation_id": "RES-1", "location_id": "ALA-TEST",
            "evse_uid": f"{STATION}*1"})
        assert reserved["response"] == "ACCEPTED"
        assert (await result_of(uz, reserved["id"]))["result"] == "ACCEPTED"
        assert peer.held == {1: peer.held[1]}
        held = (await kz.api.get("/api/v1/reservations", params={"station_id": STATION})).json()
        assert [r["status"] for r in held] == ["Accepted"]
        first = peer.held[1]
        again = await send(uz, partner_id, "RESERVE_NOW", {
            "token": TOKEN, "expiry_date": expiry, "reservation_id": "res-1", "location_id": "ALA-TEST",
            "evse_uid": f"{STATION}*1"})
        assert (await result_of(uz, again["id"]))["result"] == "ACCEPTED"
        assert peer.held[1] != first  # the same reservation_id replaced the reservation
        held = (await kz.api.get("/api/v1/reservations", params={"station_id": STATION})).json()
        assert sorted(r["status"] for r in held) == ["Accepted", "Cancelled"]
        cancelled = await send(uz, partner_id, "CANCEL_RESERVATION", {"reservation_id": "RES-1"})
        assert (await result_of(uz, cancelled["id"]))["result"] == "CANCELED_RESERVATION"
        assert peer.held == {}
        unknown = await send(uz, partner_id, "CANCEL_RESERVATION", {"reservation_id": "RES-404"})
        assert (await result_of(uz, unknown["id"]))["result"] == "UNKNOWN_RESERVATION"


async def test_malformed_command_bodies_are_2001_naming_what_is_wrong(roaming):
    kz, uz, _ = roaming
    token = await uz_token_to_kz(uz)
    answer = await kz.ocpi("POST", "cpo/2.2.1/commands/START_SESSION", token,
                           json={"response_url": "http://127.0.0.1:1/x", "token": {**TOKEN, "valid": "yes"}})
    assert answer.status_code == 400
    body = answer.json()
    assert body["status_code"] == 2001
    assert "location_id: required" in body["status_message"]
    assert "token.valid" in body["status_message"]
    no_evse = await kz.ocpi("POST", "cpo/2.2.1/commands/START_SESSION", token, json={
        "response_url": "http://127.0.0.1:1/x", "token": TOKEN, "location_id": "ALA-TEST", "connector_id": "1"})
    assert no_evse.json()["status_code"] == 2001 and "evse_uid" in no_evse.json()["status_message"]
    not_json = await kz.ocpi("POST", "cpo/2.2.1/commands/STOP_SESSION", token, content=b"{nope")
    assert not_json.json()["status_code"] == 2001
    no_url = await kz.ocpi("POST", "cpo/2.2.1/commands/STOP_SESSION", token, json={"session_id": "1"})
    assert no_url.json()["status_code"] == 2001 and "response_url" in no_url.json()["status_message"]


async def test_a_result_address_away_from_the_partners_platform_is_refused_and_nothing_is_sent(roaming):
    kz, uz, _ = roaming
    token = await uz_token_to_kz(uz)
    async with charger(kz) as peer:
        answer = await kz.ocpi("POST", "cpo/2.2.1/commands/START_SESSION", token, json={
            "response_url": "http://169.254.169.254/latest/meta-data", "token": TOKEN, "location_id": "ALA-TEST",
            "evse_uid": f"{STATION}*1"})
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert "your own platform" in answer.json()["status_message"]
    assert "RemoteStartTransaction" not in peer.actions()


async def test_a_partner_may_not_start_a_session_with_another_emsps_token_nor_one_no_charger_takes(roaming):
    kz, uz, partner_id = roaming
    async with charger(kz) as peer:
        sent = await send(uz, partner_id, "START_SESSION", start_body(token={**TOKEN, "party_id": "OTH"}))
        too_long = await send(uz, partner_id, "START_SESSION", start_body(token={**TOKEN, "uid": "U" * 21}))
    assert sent["response"] == "REJECTED"
    assert "belongs to UZ*OTH, not to you" in sent["response_message"]
    assert too_long["response"] == "REJECTED" and "longer than the 20" in too_long["response_message"]
    assert "RemoteStartTransaction" not in peer.actions()


async def test_a_command_at_an_unknown_location_or_evse_is_2003(roaming):
    kz, uz, _ = roaming
    token = await uz_token_to_kz(uz)
    body = {"response_url": "http://127.0.0.1:1/x", "token": TOKEN, "location_id": "NOWHERE"}
    answer = await kz.ocpi("POST", "cpo/2.2.1/commands/START_SESSION", token, json=body)
    assert (answer.status_code, answer.json()["status_code"]) == (404, 2003)
    answer = await kz.ocpi("POST", "cpo/2.2.1/commands/START_SESSION", token,
                           json={**body, "location_id": "ALA-TEST", "evse_uid": f"{STATION}*9"})
    assert (answer.status_code, answer.json()["status_code"]) == (404, 2003)


async def test_commands_need_a_registered_partners_token(roaming):
    kz, _, _ = roaming
    answer = await kz.ocpi("POST", "cpo/2.2.1/commands/STOP_SESSION", "not-a-partner",
                           json={"response_url": "http://127.0.0.1:1/x", "session_id": "1"})
    assert (answer.status_code, answer.json()["status_code"]) == (401, 2000)


async def test_a_result_for_a_command_never_sent_is_refused_and_changes_nothing(roaming):
    kz, uz, _ = roaming
    kz_token_to_uz = (await kz.partner_row()).token_to_them
    answer = await uz.ocpi("POST", "emsp/2.2.1/commands/START_SESSION/made-up", kz_token_to_uz,
                           json={"result": "ACCEPTED"})
    assert answer.status_code == 404
    bad = await uz.ocpi("POST", "emsp/2.2.1/commands/START_SESSION/made-up", kz_token_to_uz,
                        json={"result": "PERHAPS"})
    assert bad.json()["status_code"] == 2001


async def test_both_sides_list_the_commands_endpoints_in_their_version_details(roaming):
    kz, uz, _ = roaming
    kz_partner = await uz.partner_row()
    assert any(e["identifier"] == "commands" and e["role"] == "RECEIVER" for e in kz_partner.endpoints)
    uz_partner = await kz.partner_row()
    assert any(e["identifier"] == "commands" and e["role"] == "SENDER" for e in uz_partner.endpoints)


@contextlib.asynccontextmanager
async def flaky_result_endpoint(failures: int) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """The partner's result endpoint on a port of its own (the partner's platform, at its host):
    it answers 503 `failures` times, then takes results as OCPI asks. Yields its URL and what
    it was posted, in order (each with the answer it got)."""
    posted: list[dict[str, Any]] = []

    async def result(request: Request) -> JSONResponse:
        posted.append(await request.json())
        if len(posted) <= failures:
            return JSONResponse({"status_code": 3000, "timestamp": "2026-12-04T05:00:00Z"}, status_code=503)
        return JSONResponse({"status_code": 1000, "timestamp": "2026-12-04T05:00:00Z"})

    sock = listening_socket()
    port = port_of(sock)
    async with serving(uvicorn.Server(uvicorn.Config(
            Starlette(routes=[Route("/results/{uid}", result, methods=["POST"])]),
            host="127.0.0.1", port=port, log_level="warning", lifespan="off")), sock):
        yield f"http://127.0.0.1:{port}/results/1", posted


async def test_a_result_the_partner_fails_to_take_is_posted_again_until_it_does(roaming):
    kz, uz, _ = roaming
    token = await uz_token_to_kz(uz)
    async with flaky_result_endpoint(failures=2) as (url, posted), charger(kz):
        answer = await kz.ocpi("POST", "cpo/2.2.1/commands/UNLOCK_CONNECTOR", token, json={
            "response_url": url, "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1", "connector_id": "1"})
        assert answer.json()["data"]["result"] == "ACCEPTED"

        async def delivered():
            async with kz.platform.sessions() as session:
                row = (await session.scalars(select(RoamingCommand))).one()
            return row if row.delivered_at is not None else None
        row = await eventually(delivered)
    assert posted == [{"result": "ACCEPTED"}] * 3
    assert row.result == "ACCEPTED"


async def test_the_operator_api_says_why_a_command_cannot_be_sent(roaming):
    kz, uz, partner_id = roaming
    unknown_partner = await uz.api.post("/api/v1/roaming/commands", json={
        "partner_id": 999, "command": "STOP_SESSION", "body": {"session_id": "1"}})
    assert unknown_partner.status_code == 404
    no_such_command = await uz.api.post("/api/v1/roaming/commands", json={
        "partner_id": partner_id, "command": "SELF_DESTRUCT", "body": {}})
    assert no_such_command.status_code == 422
    incomplete = await uz.api.post("/api/v1/roaming/commands", json={
        "partner_id": partner_id, "command": "START_SESSION", "body": {"location_id": "ALA-TEST"}})
    assert incomplete.status_code == 502 and "token: required" in incomplete.json()["detail"]
    assert (await uz.api.get("/api/v1/roaming/commands/12345")).status_code == 404


async def test_a_result_the_partner_never_takes_is_given_up_after_five_tries_saying_why(roaming):
    kz, uz, _ = roaming
    kz.platform.roaming.commands.results.retry_delay = 0.05  # the doubling is the same; the test need not wait 15 s
    token = await uz_token_to_kz(uz)
    async with flaky_result_endpoint(failures=100) as (url, posted), charger(kz):
        answer = await kz.ocpi("POST", "cpo/2.2.1/commands/UNLOCK_CONNECTOR", token, json={
            "response_url": url, "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1", "connector_id": "1"})
        assert answer.json()["data"]["result"] == "ACCEPTED"
        await kz.platform.roaming.commands.idle()
    async with kz.platform.sessions() as session:
        row = (await session.scalars(select(RoamingCommand))).one()
    assert len(posted) == 5
    assert (row.result, row.delivered_at) == ("ACCEPTED", None)
    assert "attempt 5 of 5" in row.delivery_error and "503" in row.delivery_error
