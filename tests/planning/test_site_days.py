"""Utilisation and uptime per site and day (issue 19, item 7): worked out by hand from rows,
and through the API from a real OCPP 1.6 charger, with bad ranges refused clearly."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.planning import analytics as ops
from silkcharge.planning.analytics import OperationsData, SessionRow
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.planning.test_analytics import T0, at, frame, station


def _day(n: int, stations, **rows) -> OperationsData:
    start = T0 + timedelta(days=n)
    return OperationsData(start, start + timedelta(days=1), as_of=T0 + timedelta(days=9), stations=tuple(stations),
                          grace_seconds=60, **{k: tuple(v) for k, v in rows.items()})


def test_each_site_gets_a_cell_per_day_with_the_summary_definitions():
    a1, a2 = station("A-1", site="ALA-1"), station("A-2", site="ALA-1")
    b1 = station("B-1", site="BIS-1", connectors=1, in_service_from=at(24 + 12))  # registered on day 2, noon
    # day 1: A-1 heartbeats all day, A-2 is silent; one connector of A-1 busy 6 h
    beats = [frame("A-1", at(h, m)) for h in range(24) for m in range(0, 60, 5)]
    busy = [SessionRow(1, "A-1", 1, 1, at(6), at(12), Decimal(30000))]
    # day 2: B-1 present from its registration at noon to 18:00 of the day, busy 3 h
    beats2 = [frame("B-1", at(24 + h, m)) for h in range(12, 18) for m in range(0, 60, 5)]
    busy2 = [SessionRow(2, "B-1", 1, 1, at(24 + 13), at(24 + 16), Decimal(9000))]
    sites = ops.site_days([_day(0, [a1, a2, b1], frames=beats, sessions=busy),
                           _day(1, [a1, a2, b1], frames=beats2, sessions=busy2)])
    assert [s.site for s in sites] == ["ALA-1", "BIS-1"]
    ala, bis = sites
    assert (ala.stations, ala.connectors) == (2, 4)
    first, second = ala.days
    assert first.uptime == 0.5  # one of the two stations up the whole day
    assert first.utilisation == 0.0625  # 6 h of one connector in four: a quarter of a quarter
    assert (first.sessions, first.energy_kwh) == (1, Decimal(30))
    assert second.uptime == 0.0 and second.utilisation == 0.0
    assert bis.days[0] is None  # its one station was registered on day 2: nothing to show on day 1
    # sessions from before a station's registration (replayed history) show, without uptime
    early = [SessionRow(3, "B-1", 1, 1, at(2), at(8), Decimal(12000))]
    (_, replayed) = ops.site_days([_day(0, [a1, b1], sessions=early)])
    assert replayed.days[0].uptime is None and replayed.days[0].utilisation == 0.25
    # present from noon until 18:01 (its last heartbeat at 17:55, plus 5 min and 60 s grace) of
    # the 12 h since its registration: about a half, not a quarter of the day
    assert bis.days[1].uptime == round((6 * 60 + 1) / (12 * 60), 6)
    assert bis.days[1].utilisation == 0.125  # 3 h of 24


async def test_the_sites_daily_api_on_a_real_ocpp_session(api, ocpp_url):
    registered = utcnow()
    await register_station(api, "DAY-16")
    await add_token(api, "CARD-D")
    now = utcnow()
    began_at = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0, second=0, microsecond=0))
    today = now.date()
    params = {"start": (today - timedelta(days=2)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    async with connected_peer(ocpp_url, "DAY-16", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        booted = utcnow()
        began = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-D", meter_start=0,
                                                      timestamp=to_ocpp(began_at)))
        await peer.call(call.StopTransaction(meter_stop=5000, timestamp=to_ocpp(now),
                                             transaction_id=began.transaction_id))

        async def answered():
            await peer.call(call.Heartbeat())  # present all along while the test looks
            asked = utcnow()
            body = (await api.get("/api/v1/analytics/sites/daily", params=params)).json()
            cell = body["sites"][0]["days"][-1] if body["sites"] else None
            # the session is stored before the answer; presence comes from the message log,
            # which is written in batches after it: wait for both
            return (body, asked) if cell and cell["sessions"] == 1 and cell["uptime"] else None

        body, asked = await eventually(answered)
        answered_at = utcnow()
    assert [d["day"] for d in body["days"]] == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    (site,) = body["sites"]
    assert (site["site"], site["name"], site["city"], site["stations"]) == (
        "ALA-TEST", "Kaskelen test site", "Kaskelen", 1)
    before, yesterday, cell = site["days"]
    assert before is None and yesterday is None  # registered today
    assert Decimal(cell["energy_kwh"]) == 5
    assert 0 < cell["utilisation"] <= 0.5  # one connector of two, busy part of the day so far
    # since its registration, not since midnight: present at least from its boot until it was
    # asked, out of at most the time from its registration until the answer (however slow the
    # machine, these bound it; counted since midnight it would be a sliver of the day)
    least = (asked - booted) / (answered_at - registered)
    assert cell["uptime"] >= least * 0.99, (cell["uptime"], least)


async def test_the_sites_daily_api_refuses_bad_ranges_clearly(api):
    today = date.today()
    empty = await api.get("/api/v1/analytics/sites/daily", params={"start": today.isoformat(),
                                                                     "end": today.isoformat()})
    assert empty.status_code == 422 and "empty or inverted" in empty.json()["detail"]
    long = await api.get("/api/v1/analytics/sites/daily", params={
        "start": (today - timedelta(days=200)).isoformat(), "end": today.isoformat()})
    assert long.status_code == 422 and "at most 92" in long.json()["detail"]
    garbled = await api.get("/api/v1/analytics/sites/daily", params={"start": "yesterday", "end": "today"})
    assert garbled.status_code == 422
    future = await api.get("/api/v1/analytics/sites/daily", params={
        "start": (today + timedelta(days=5)).isoformat(), "end": (today + timedelta(days=6)).isoformat()})
    assert future.status_code == 200 and future.json()["days"] == [] and future.json()["sites"] == []
