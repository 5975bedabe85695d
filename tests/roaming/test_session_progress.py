"""A partner's driver's session at our charger grows at the eMSP while it charges: the kWh
metered so far goes as a PATCH once a minute when it moved, and the end that follows is applied
although the station dates it earlier than our clock dated the progress. Two silkcharge networks
over real HTTP and a real OCPP 1.6 session, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import RoamingOutboxRow, RoamingSession, Transaction
from tests.e2e.network import add_token
from tests.e2e.peers import connected_peer, eventually
from tests.roaming.test_sessions_cdrs import CARD, card_known, kz, roaming, rows, uz, uzbek_station  # noqa: F401 (the fixtures kz, uz, roaming)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def meter(transaction_id: int, wh: int, at) -> call.MeterValues:
    return call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[{
        "timestamp": to_ocpp(at),
        "sampled_value": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}])


async def test_the_emsp_sees_the_kwh_grow_and_then_the_end_although_the_station_dates_it_earlier(roaming):  # noqa: F811 (the fixture imported above)
    almaty, tashkent, _, _ = roaming
    await add_token(almaty.api, CARD)

    await card_known(tashkent)
    ocpp_url = await uzbek_station(tashkent)
    progress = tashkent.platform.roaming_sessions.push_progress
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)  # the station dates everything an hour ago

    async def at_almaty(**expected):
        async def check():
            found = await rows(almaty, RoamingSession)
            return found if found and all(found[0].body.get(k) == v for k, v in expected.items()) else None
        return (await eventually(check))[0]

    async with connected_peer(ocpp_url, "TAS-01", "1.6") as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        begun = await station.call(call.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                         timestamp=to_ocpp(start)))
        await at_almaty(status="ACTIVE", kwh=0)
        await station.call(meter(begun.transaction_id, 4000, start + timedelta(minutes=15)))

        async def metered():
            return await rows(tashkent, Transaction, Transaction.energy_wh == 4000)

        await eventually(metered)
        assert len(await progress()) == 1
        await at_almaty(status="ACTIVE", kwh=4)
        assert await progress() == []  # nothing moved: nothing sent

        await station.call(call.StopTransaction(meter_stop=12000, timestamp=to_ocpp(start + timedelta(minutes=40)),
                                                transaction_id=begun.transaction_id, id_tag=CARD))
    ended = await at_almaty(status="COMPLETED", kwh=12)
    assert ended.body["end_date_time"].startswith(to_ocpp(start + timedelta(minutes=40))[:19])
    # the end's own PATCH, not only the CDR's that repeats it, is dated after the progress
    pushed = [row.body for row in await rows(tashkent, RoamingOutboxRow, RoamingOutboxRow.module == "sessions")]
    grown, end = pushed[1], pushed[2]
    assert (grown["kwh"], end["status"]) == (4, "COMPLETED")
    assert moment(end["last_updated"]) >= moment(grown["last_updated"])
