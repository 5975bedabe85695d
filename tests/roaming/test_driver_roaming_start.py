"""A driver of the Uzbek eMSP (UZ*UZE) starts charging from the app at a charger of the Kazakh
CPO (KZ*SLK): two real networks, a real charger on a real WebSocket. The Uzbek side pulled the
Kazakh location; the driver's start goes out as OCPI START_SESSION with the token the Uzbek side
publishes, reaches the charger as a remote start with the driver's card, and the result and the
session come back to the Uzbek side."""

from __future__ import annotations

import httpx
from ocpp.v16 import call as call16
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import RoamingSession
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.roaming.conftest import Network
from tests.roaming.test_commands import STATION, charger
from tests.roaming.test_partner_sites import pull

DRIVER = ("dilnoza@example.uz", "silk road 2026", "Dilnoza")
CARD = "UZ-DRIVER-7"


async def logged_in(network: Network) -> httpx.AsyncClient:
    """The driver's app: no operator key, the session token from /driver/login."""
    client = httpx.AsyncClient(base_url=network.url, timeout=30)
    answer = await client.post("/api/v1/driver/login", json={"email": DRIVER[0], "password": DRIVER[1]})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


async def test_a_driver_starts_at_a_partners_charger_from_the_app_and_the_session_comes_back(registered):
    kz, uz = registered
    await register_station(kz.api, STATION)  # site ALA-TEST
    await add_token(uz.api, CARD)
    await uz.platform.drivers.ensure(*DRIVER, "ru", [CARD])
    report = await pull(uz)
    assert report["locations"] == 1
    app = await logged_in(uz)
    try:
        async with charger(kz) as peer:
            answer = await app.post("/api/v1/driver/roaming/start", json={
                "party": "KZ*SLK", "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1"})
            assert answer.status_code == 201, answer.text
            sent = answer.json()
            assert (sent["response"], sent["token_uid"], sent["evse_uid"]) == ("ACCEPTED", CARD, f"{STATION}*1")

            async def result():
                state = (await app.get(f"/api/v1/driver/roaming/commands/{sent['id']}")).json()
                return state if state["result"] else None

            assert (await eventually(result))["result"] == "ACCEPTED"
            starts = [p for action, p in peer.received if action == "RemoteStartTransaction"]
            assert [s["id_tag"] for s in starts] == [CARD]

            # the car plugs in: the charger starts the session, which reaches the driver's eMSP
            begun = await peer.call(call16.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                            timestamp=to_ocpp(utcnow())))
            assert begun.id_tag_info["status"] == "Accepted"

            async def live():
                async with uz.platform.sessions() as session:
                    rows = (await session.scalars(select(RoamingSession))).all()
                return [r for r in rows if r.status == "ACTIVE"] or None

            [session] = await eventually(live)
            assert session.body["cdr_token"]["uid"] == CARD and session.body["location_id"] == "ALA-TEST"
    finally:
        await app.aclose()


async def test_a_start_at_a_charger_no_partner_published_is_404_and_anothers_command_is_not_shown(registered):
    kz, uz = registered
    await register_station(kz.api, STATION)
    await add_token(uz.api, CARD)
    await uz.platform.drivers.ensure(*DRIVER, "en", [CARD])
    app = await logged_in(uz)
    try:
        unknown = await app.post("/api/v1/driver/roaming/start", json={
            "party": "KZ*SLK", "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1"})
        assert unknown.status_code == 404 and "among our roaming partners' stations" in unknown.json()["detail"]
        await pull(uz)
        wrong = await app.post("/api/v1/driver/roaming/start", json={
            "party": "KZ*SLK", "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1", "id_token": "NOT-MINE"})
        assert wrong.status_code == 403
        malformed = await app.post("/api/v1/driver/roaming/start", json={
            "party": "KZSLK", "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1"})
        assert malformed.status_code == 422
        assert (await app.get("/api/v1/driver/roaming/commands/1")).status_code == 404
        async with httpx.AsyncClient(base_url=uz.url) as nobody:
            anonymous = await nobody.post("/api/v1/driver/roaming/start", json={
                "party": "KZ*SLK", "location_id": "ALA-TEST", "evse_uid": f"{STATION}*1"})
        assert anonymous.status_code == 401
    finally:
        await app.aclose()
