"""A station's silence, CALLERROR or refusal, and a refused reservation, reach API clients with a
message code and its parameters (beside the English `detail`), so that the console and apps say
them in their own language: `ocpp` package chargers against the real gateway, SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from ocpp.v16 import call as call16

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

STATION = "ALA-CODES-16"


async def boot(peer) -> None:
    reply = await peer.call(call16.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))
    assert reply.status == "Accepted"


def reservation(token: str = "DRIVER-1", minutes: float = 30) -> dict:
    return {"evse_id": 1, "id_token": token, "expires_at": to_ocpp(utcnow() + timedelta(minutes=minutes))}


async def test_a_command_to_a_station_never_connected_or_gone_offline_says_which(api, ocpp_url):
    await register_station(api, STATION)
    never = await api.post(f"/api/v1/stations/{STATION}/commands/reset", json={"type": "soft"})
    assert (never.status_code, never.json()["code"]) == (422, "station_never_connected")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)

    async def offline():
        return (await api.get(f"/api/v1/stations/{STATION}")).json()["online"] is False

    await eventually(offline)
    gone = await api.post(f"/api/v1/stations/{STATION}/commands/reset", json={"type": "soft"})
    assert gone.status_code == 409, gone.text
    assert (gone.json()["code"], gone.json()["params"]) == ("station_offline", {})


async def test_a_command_the_stations_version_lacks_says_so_with_the_version(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        answer = await api.post(f"/api/v1/stations/{STATION}/commands/get_charging_profiles", json={})
    assert answer.status_code == 422
    assert (answer.json()["code"], answer.json()["params"]) == ("command_not_in_version", {"version": "1.6"})


async def test_a_callerror_names_its_ocpp_error_code_as_a_parameter(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        # This charger has no handler for GetCompositeSchedule: the `ocpp` package answers CALLERROR.
        answer = await api.post(f"/api/v1/stations/{STATION}/commands/get_composite_schedule",
                                json={"evse_id": 1, "duration": 600})
    assert answer.status_code == 502
    body = answer.json()
    assert body["code"] == "station_callerror"
    assert body["params"] == {"error_code": body["error_code"]}
    assert body["error_code"] in ("NotImplemented", "NotSupported")


async def test_a_reservation_the_station_refuses_carries_its_answer(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        peer.reserve_answer = "Faulted"
        answer = await api.post(f"/api/v1/stations/{STATION}/reservations", json=reservation())
    assert answer.status_code == 409
    assert answer.json()["code"] == "reservation_answered"
    assert answer.json()["params"] == {"station": STATION, "status": "Faulted"}


async def test_reservation_refusals_before_the_station_is_asked_each_have_a_code(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    await add_token(api, "BLOCKED-1", status="Blocked")
    offline = await api.post(f"/api/v1/stations/{STATION}/reservations", json=reservation())
    assert (offline.status_code, offline.json()["code"]) == (409, "station_offline")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        refused = {
            "token_unknown": reservation(token="NOBODY"),
            "token_not_accepted": reservation(token="BLOCKED-1"),
            "reservation_ends_in_past": reservation(minutes=-5),
            "reservation_too_long": reservation(minutes=60 * 24 * 30),
        }
        for code, body in refused.items():
            answer = await api.post(f"/api/v1/stations/{STATION}/reservations", json=body)
            assert (answer.status_code, answer.json().get("code")) == (422, code), answer.text
        blocked = await api.post(f"/api/v1/stations/{STATION}/reservations", json=refused["token_not_accepted"])
        assert blocked.json()["params"] == {"status": "Blocked"}
        assert [action for action, _ in peer.received if action == "ReserveNow"] == []
