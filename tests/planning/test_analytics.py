"""Operations analytics: hand-built rows with answers worked out by hand, bad input, and one
real OCPP 1.6 charger driven end to end before the analytics API is asked about it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ocpp.v16 import call
from sqlalchemy import update

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.planning import analytics as ops
from silkcharge.planning.analytics import (
    AnalyticsInputError,
    CdrRow,
    ConnectorRow,
    FrameRow,
    OperationsData,
    SessionRow,
    StationRow,
)
from silkcharge.planning.charts import utilisation_heatmap
from silkcharge.store.schema import Station
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

T0 = datetime(2026, 11, 21, tzinfo=timezone.utc)  # 05:00 in Almaty (UTC+5)
ALMATY = "Asia/Almaty"


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


def station(sid: str = "ST-1", connectors: int = 2, **extra) -> StationRow:
    values = {"site": "ALA-1", "timezone": ALMATY, "operator": "KZ-OP", "city": "Almaty",
              "corridor": None, "online": True, "heartbeat_interval": 300,
              "connectors": tuple(ConnectorRow(n, 1, "Available")
                                  for n in range(1, connectors + 1))}
    values.update(extra)
    return StationRow(sid, **values)


def data(stations, start=T0, end=None, **rows) -> OperationsData:
    end = end or at(24)
    return OperationsData(start, end, as_of=end + timedelta(days=1), stations=tuple(stations),
                          grace_seconds=60, **{k: tuple(v) for k, v in rows.items()})


def frame(sid: str, when: datetime, action: str | None = "Heartbeat", payload: dict | None = None,
          direction: str = "in", kind: int = 2) -> FrameRow:
    body = [kind, "m1", action, payload or {}] if kind == 2 else [kind, "m1", payload or {}]
    return FrameRow(sid, when, direction, kind, action, json.dumps(body))


# ---- utilisation --------------------------------------------------------------------------


def test_utilisation_across_midnight_in_almaty():
    # 18:30-20:30 UTC is 23:30-01:30 in Almaty: half of hour 23, all of 00, half of 01.
    sessions = [SessionRow(1, "ST-1", 1, 1, at(18, 30), at(20, 30), Decimal(30000)),
                SessionRow(2, "ST-1", 1, 1, at(19), at(19, 30), Decimal(1000))]  # overlap merged
    rows = ops.utilisation(data([station()], sessions=sessions))
    busy, idle = rows
    assert busy.occupied_seconds == 7200 and busy.share == pytest.approx(1 / 12, abs=1e-6)
    expected = [0.0] * 24
    expected[23], expected[0], expected[1] = 0.5, 1.0, 0.5
    assert list(busy.hourly) == expected
    assert idle.share == 0 and sum(idle.hourly) == 0


def test_a_running_transaction_counts_until_now_and_the_future_is_not_idle():
    now = at(12)
    running = SessionRow(1, "ST-1", 1, 1, at(11), None)
    d = OperationsData(T0, at(24), as_of=now, stations=(station(connectors=1),),
                       sessions=(running,))
    (row,) = ops.utilisation(d)
    assert row.occupied_seconds == 3600 and row.share == pytest.approx(1 / 12, abs=1e-6)
    assert row.hourly[16] == 1.0 and row.hourly[17] == 0.0  # 11:00 UTC is 16:00 in Almaty


def test_hour_buckets_follow_a_half_hour_zone():
    # Asia/Kolkata is UTC+5:30: 00:00-01:00 UTC is 05:30-06:30 local, half of 05 and of 06.
    buckets = ops.hour_seconds([(T0, at(1))], ops.ZoneInfo("Asia/Kolkata"))
    assert buckets[5] == 1800 and buckets[6] == 1800 and sum(buckets) == 3600


# ---- uptime -------------------------------------------------------------------------------


def status16(sid: str, when: datetime, connector: int, status: str) -> FrameRow:
    return frame(sid, when, "StatusNotification",
                 {"connectorId": connector, "errorCode": "NoError", "status": status})


def test_uptime_with_a_gap_and_a_station_wide_fault():
    # Window = heartbeat 300 s + grace 60 s = 6 min. Range 10:00-11:00.
    beats = [at(9, 58), at(10, 4), at(10, 10), at(10, 40), at(10, 52), at(10, 58)]
    frames = [frame("ST-1", t) for t in beats] + [
        status16("ST-1", at(10, 46), 0, "Faulted"),      # station-wide, 10:46 ...
        status16("ST-1", at(10, 52, ), 0, "Available"),  # ... to 10:52
        status16("ST-1", at(10, 4), 1, "Faulted"),       # one connector of two: not station-wide
    ]
    d = data([station()], start=at(10), end=at(11), frames=frames)
    (up,) = ops.uptime(d)
    # Present 10:00-10:16 and 10:40-11:00: 36 of 60 minutes, one down period (10:16-10:40).
    assert up.present_share == pytest.approx(0.6) and up.down_periods == 1
    assert up.faulted_share == pytest.approx(0.1)
    assert up.available_share == pytest.approx(0.5)
    assert up.connector_faulted_seconds == {"1/1": 56 * 60}


def test_every_connector_faulted_is_a_station_fault_in_ocpp_201():
    frames = [frame("ST-2", at(10, m)) for m in range(0, 60, 5)]
    for evse, minute in ((1, 10), (2, 20)):
        frames.append(frame("ST-2", at(10, minute), "StatusNotification", {
            "timestamp": to_ocpp(at(10, minute)), "connectorStatus": "Faulted",
            "evseId": evse, "connectorId": 1}))
    d = data([station("ST-2")], start=at(10), end=at(11), frames=frames)
    (up,) = ops.uptime(d)
    assert up.present_share == 1.0
    assert up.faulted_share == pytest.approx(40 / 60, abs=1e-6)  # from 10:20, both faulted
    assert up.connector_faulted_seconds == {"1/1": 50 * 60, "2/1": 40 * 60}


def test_a_silent_station_has_no_uptime():
    (up,) = ops.uptime(data([station()], start=at(10), end=at(11)))
    assert up.present_share == 0 and up.down_periods == 1


def test_uptime_counts_from_when_a_station_was_registered_not_from_midnight():
    # A fresh demo: the stations are registered at 10:00 and present from then on. Read at
    # 10:30 for the day so far, they were up the whole half hour they existed: 100 %, not 2 %.
    fresh = station("NEW-1", in_service_from=at(10))
    later = station("LATER-1", in_service_from=at(11))  # registered after the range
    frames = [frame("NEW-1", at(10, m)) for m in range(0, 30, 5)]
    d = OperationsData(T0, at(24), as_of=at(10, 30), stations=(fresh, later), frames=tuple(frames),
                       grace_seconds=60)
    up = {u.station_id: u for u in ops.uptime(d)}
    assert up["NEW-1"].present_share == 1.0 and up["NEW-1"].in_service_seconds == 1800
    assert up["LATER-1"].in_service_seconds == 0
    (group,) = ops.summary(d, "operator")
    assert group.uptime == 1.0  # the station not yet registered is not counted as down


# ---- money, sessions, failed starts -------------------------------------------------------


def test_revenue_in_two_currencies_is_kept_apart():
    stations = [station("KZ-1"), station("UZ-1", city="Tashkent", operator="UZ-OP",
                                         timezone="Asia/Tashkent")]
    sessions = [SessionRow(1, "KZ-1", 1, 1, at(8), at(9), Decimal("30000")),
                SessionRow(2, "KZ-1", 2, 1, at(10), at(11), Decimal("12500")),
                SessionRow(3, "UZ-1", 1, 1, at(8), at(9), Decimal("20000"))]
    cdrs = [CdrRow(1, "KZT", Decimal("2800"), Decimal("3248")),
            CdrRow(2, "USD", Decimal("5.10"), Decimal("5.71")),
            CdrRow(3, "UZS", Decimal("60000"), Decimal("67200"))]
    d = data(stations, sessions=sessions, cdrs=cdrs)
    kz, uz = ops.summary(d, "operator")
    assert (kz.group, kz.sessions, kz.energy_kwh) == ("KZ-OP", 2, Decimal("42.5"))
    assert [(r.currency, r.total_excl_vat, r.total_incl_vat) for r in kz.revenue] == [
        ("KZT", Decimal("2800"), Decimal("3248")), ("USD", Decimal("5.10"), Decimal("5.71"))]
    assert [(r.currency, r.cdrs) for r in uz.revenue] == [("UZS", 1)]
    (both,) = ops.summary(d, "corridor")  # no corridor on file: one "(none)" group
    assert both.group == "(none)" and both.sessions == 3 and len(both.revenue) == 3


def test_failed_starts_count_refusals_and_short_sessions():
    frames = [
        frame("ST-1", at(8), "Authorize", {"idTagInfo": {"status": "Invalid"}}, "out", 3),
        frame("ST-1", at(8, 1), "Authorize", {"idTagInfo": {"status": "Accepted"}}, "out", 3),
        frame("ST-1", at(8, 2), "StartTransaction",
              {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}, "out", 3),
        frame("ST-1", at(9), "TransactionEvent", {"idTokenInfo": {"status": "Unknown"}}, "out", 3),
        frame("ST-1", at(9, 5), "TransactionEvent", {}, "out", 3),
        frame("ST-1", T0 - timedelta(hours=1), "Authorize",  # before the range
              {"idTagInfo": {"status": "Blocked"}}, "out", 3),
    ]
    sessions = [
        SessionRow(1, "ST-1", 1, 1, at(8, 2), at(9), Decimal(20000)),
        SessionRow(2, "ST-1", 1, 1, at(10), at(10, 1), Decimal(50)),  # short: 1 min, 0.05 kWh
        SessionRow(3, "ST-1", 2, 1, at(11), at(11, 1), Decimal(500)),  # 1 min but 0.5 kWh
        SessionRow(4, "ST-1", 2, 1, at(12), at(12, 1), Decimal(0), token_status="Invalid"),
    ]
    d = data([station()], sessions=sessions, frames=frames)
    f = ops.failed_starts(d)["ST-1"]
    assert (f.refused, f.short_sessions, f.attempts) == (2, 1, 5)
    assert f.rate == pytest.approx(0.6)
    (group,) = ops.summary(d, "station")
    assert group.sessions == 3 and group.failed_start_rate == pytest.approx(0.6)


def test_attention_ranks_stations_with_plain_reasons():
    broken = replace(station("BAD", online=False),
                     connectors=(ConnectorRow(1, 1, "Faulted"), ConnectorRow(2, 1, "Available")))
    flaky = station("FLAKY")
    fine = station("FINE")
    frames = [frame("FLAKY", at(h)) for h in range(24)]  # present 6 minutes an hour
    frames += [frame("FINE", at(h, m)) for h in range(24) for m in range(0, 60, 5)]
    frames += [frame("FLAKY", at(1), "Authorize", {"idTagInfo": {"status": "Invalid"}}, "out", 3)
               for _ in range(3)]
    ranked = ops.attention(data([fine, flaky, broken], frames=frames))
    assert [item.station_id for item in ranked] == ["BAD", "FLAKY"]
    bad = ranked[0]
    assert bad.reasons[0] == "offline now"
    assert bad.reasons[1] == "1 connector(s) faulted now (1/1)"
    assert bad.reasons[2].startswith("uptime 0.0%")
    assert any(r.startswith("failed starts 3/3") for r in ranked[1].reasons)


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("start, end, message", [
    (T0, T0, "empty"),
    (at(2), at(1), "inverted"),
    (datetime(2026, 11, 21), at(1), "no time zone"),
])
def test_bad_ranges_are_refused_clearly(start, end, message):
    with pytest.raises(AnalyticsInputError, match=message):
        ops.check_range(start, end)


def test_a_range_in_the_future_and_an_unknown_grouping_are_refused():
    with pytest.raises(AnalyticsInputError, match="in the future"):
        ops.check_range(at(48), at(49), as_of=at(1))
    with pytest.raises(AnalyticsInputError, match="unknown group_by 'planet'.*operator, city"):
        ops.summary(data([station()]), "planet")


def test_heatmap_is_an_svg_with_a_cell_per_hour():
    rows = ops.utilisation(data([station()], sessions=[
        SessionRow(1, "ST-1", 1, 1, at(18, 30), at(20, 30))]))
    svg = utilisation_heatmap(rows, "Almaty")
    assert svg.startswith("<svg") and svg.count("<rect") == 1 + 24 * 2
    assert "ST-1 1/1, 00:00 Asia/Almaty: 100%" in svg


# ---- the API, end to end ------------------------------------------------------------------


async def test_analytics_api_on_a_real_ocpp_session(api, ocpp_url, platform):
    await register_station(api, "ANA-16")
    start = utcnow() - timedelta(hours=1)
    # in service since 50 minutes ago and silent until now: its uptime is a few minutes' share
    # of those 50, whatever the machine's load makes of the seconds this test takes
    registered = start + timedelta(minutes=10)
    async with platform.sessions.begin() as session:
        await session.execute(update(Station).where(Station.id == "ANA-16").values(created_at=registered))
    await add_token(api, "CARD-A")
    tariff = {"currency": "KZT", "country_code": "KZ", "party_id": "SLK", "elements": [
        {"price_components": [{"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1}]}]}
    created = await api.post("/api/v1/tariffs", json={"code": "KZ-STD", "operator": "KZ-TEST",
                                                      "tariff": tariff})
    assert created.status_code == 201, created.text
    async with connected_peer(ocpp_url, "ANA-16", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        refused = await peer.call(call.Authorize(id_tag="NOBODY"))
        assert refused.id_tag_info["status"] != "Accepted"
        began = await peer.call(call.StartTransaction(
            connector_id=1, id_tag="CARD-A", meter_start=0,
            timestamp=to_ocpp(start + timedelta(minutes=20))))
        await peer.call(call.StopTransaction(
            meter_stop=20000, timestamp=to_ocpp(start + timedelta(minutes=40)),
            transaction_id=began.transaction_id))

        async def cdr():
            r = await api.get(f"/api/v1/transactions/{began.transaction_id}/cdr")
            return r.json() if r.status_code == 200 else None

        priced = await eventually(cdr)
    end = utcnow() + timedelta(minutes=5)
    params = {"start": start.isoformat(), "end": end.isoformat()}

    async def summary():
        r = await api.get("/api/v1/analytics/summary", params={**params, "group_by": "city"})
        body = r.json()
        return body if body["groups"] and body["groups"][0]["failed_starts"]["refused"] else None

    (group,) = (await eventually(summary))["groups"]
    assert group["group"] == "Kaskelen" and group["sessions"] == 1
    assert Decimal(group["energy_kwh"]) == 20
    assert group["revenue"] == [{"currency": "KZT", "cdrs": 1,
                                 "total_excl_vat": priced["total_excl_vat"],
                                 "total_incl_vat": priced["total_incl_vat"]}]
    assert group["failed_starts"] == {"refused": 1, "short_sessions": 0, "attempts": 2}
    assert group["failed_start_rate"] == 0.5

    util = (await api.get("/api/v1/analytics/utilisation", params=params)).json()
    first = next(c for c in util["connectors"] if c["evse_id"] == 1)
    assert first["occupied_seconds"] == 1200 and 0.3 < first["share"] < 0.34
    assert len(first["hourly"]) == 24 and first["timezone"] == "Asia/Almaty"

    (up,) = (await api.get("/api/v1/analytics/uptime", params=params)).json()["stations"]
    # uptime counts from the station's registration, not from the range's start an hour ago
    assert 0 < up["present_share"] < 0.5
    assert 50 * 60 <= up["in_service_seconds"] <= (utcnow() - registered).total_seconds()

    ranked = (await api.get("/api/v1/analytics/attention", params=params)).json()["stations"]
    assert ranked[0]["station_id"] == "ANA-16"
    assert any(r.startswith("uptime") for r in ranked[0]["reasons"])

    svg = await api.get("/api/v1/analytics/utilisation.svg", params=params)
    assert svg.headers["content-type"].startswith("image/svg+xml") and "ANA-16 1/1" in svg.text


async def test_analytics_api_bad_input_is_a_clear_422(api):
    inverted = await api.get("/api/v1/analytics/summary", params={
        "start": "2026-11-22T00:00:00Z", "end": "2026-11-21T00:00:00Z"})
    assert inverted.status_code == 422 and "inverted" in inverted.text
    naive = await api.get("/api/v1/analytics/uptime", params={
        "start": "2026-11-21T00:00:00", "end": "2026-11-22T00:00:00Z"})
    assert naive.status_code == 422 and "time zone" in naive.text
    grouping = await api.get("/api/v1/analytics/summary", params={
        "start": "2026-11-21T00:00:00Z", "end": "2026-11-22T00:00:00Z", "group_by": "planet"})
    assert grouping.status_code == 422 and "unknown group_by" in grouping.text
    keyless = await api.get("/api/v1/analytics/attention", headers={"X-API-Key": "wrong"},
                            params={"start": "2026-11-21T00:00:00Z", "end": "2026-11-22T00:00:00Z"})
    assert keyless.status_code == 401


async def test_city_siting_and_kw_budget_in_the_api(api):
    city = await api.post("/api/v1/planning/siting",
                          json={"mode": "city", "city": "Almaty", "budget": 3})
    assert city.status_code == 200, city.text
    body = city.json()
    assert body["mode"] == "city" and body["city"] == "Almaty"
    assert len(body["result"]["chosen"]) == 3 and body["result"]["unit"] == "people"
    kw = await api.post("/api/v1/planning/siting",
                        json={"mode": "city", "city": "Almaty", "budget_kw": 250})
    assert sum(c["kw"] for c in kw.json()["result"]["chosen"]) <= 250
    corridor = await api.post("/api/v1/planning/siting",
                              json={"budget_kw": 800, "corridors": ["bishkek-osh"]})
    assert corridor.status_code == 200 and corridor.json()["result"]["budget_kw"] == 800
    nowhere = await api.post("/api/v1/planning/siting", json={"mode": "city", "city": "Atlantis",
                                                               "budget": 1})
    assert nowhere.status_code == 422 and "Atlantis" in nowhere.text
    missing = await api.post("/api/v1/planning/siting", json={"mode": "city", "budget": 1})
    assert missing.status_code == 422 and "needs a city" in missing.text
