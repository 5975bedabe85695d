"""Our Locations and Tariffs pushed whole to a partner without its pull (roaming/object_push.py),
over real HTTP between the Kazakh CPO (KZ*SLK) and the Uzbek eMSP (UZ*UZE), on SQLite and
PostgreSQL: everything at the partner's first look, then each change once, a status change
never as a whole Location, and a withdrawn tariff deleted at the partner."""

from __future__ import annotations

from ocpp.v16 import call
from sqlalchemy import select

from silkcharge.domain.clock import utcnow
from silkcharge.roaming.object_push import content_digest
from silkcharge.store.schema import RoamingLocation, RoamingOutboxRow, RoamingTariff
from tests.e2e.network import PASSWORD
from tests.e2e.peers import eventually
from tests.roaming.conftest import Network
from tests.roaming.test_partner_sites import almaty_site, charger_online


async def held_at(uz: Network) -> tuple[dict[str, dict], dict[str, dict]]:
    """The Kazakh locations and tariffs the Uzbek network holds, by id."""
    async with uz.platform.sessions() as session:
        locations = (await session.scalars(select(RoamingLocation))).all()
        tariffs = (await session.scalars(select(RoamingTariff))).all()
    return ({row.location_id: row.body for row in locations}, {row.tariff_id: row.body for row in tariffs})


def tariff_ids(location: dict) -> set[str]:
    return {t for evse in location["evses"] for c in evse["connectors"] for t in c.get("tariff_ids", [])}


async def all_sent(kz: Network) -> list[RoamingOutboxRow]:
    """Once every push in the Kazakh outbox reached the partner: the rows, oldest first."""
    async def done():
        async with kz.platform.sessions() as session:
            rows = (await session.scalars(select(RoamingOutboxRow).order_by(RoamingOutboxRow.id))).all()
        return rows if rows and all(row.state in ("sent", "superseded") for row in rows) else None
    return await eventually(done)


async def test_a_partner_gets_every_site_and_tariff_at_its_first_look_and_then_each_edit_once(registered):
    kz, uz = registered
    await almaty_site(kz)
    pusher = kz.platform.roaming_objects
    partner = (await kz.partner_row()).id

    first = await pusher.push_changed()
    assert (dict(first.put), dict(first.deleted)) == ({partner: 2}, {})
    await all_sent(kz)
    locations, tariffs = await held_at(uz)
    assert list(locations) == ["ALA-DOSTYK"] and list(tariffs) == ["KZ-STD"]
    assert locations["ALA-DOSTYK"]["name"] == "Dostyk Plaza"
    assert tariff_ids(locations["ALA-DOSTYK"]) == {"KZ-STD"}
    assert [e["status"] for e in locations["ALA-DOSTYK"]["evses"]] == ["UNKNOWN", "UNKNOWN"]  # never connected

    again = await pusher.push_changed()
    assert (dict(again.put), dict(again.deleted)) == ({}, {})

    renamed = await kz.api.patch("/api/v1/sites/ALA-DOSTYK", json={"name": "Dostyk Plaza, level -1"})
    assert renamed.status_code == 200, renamed.text
    edited = await pusher.push_changed()
    assert dict(edited.put) == {partner: 1}
    rows = await all_sent(kz)
    assert (rows[-1].method, rows[-1].path) == ("PUT", "KZ/SLK/ALA-DOSTYK")
    locations, _ = await held_at(uz)
    assert locations["ALA-DOSTYK"]["name"] == "Dostyk Plaza, level -1"


async def test_a_status_change_is_not_pushed_as_a_whole_location(registered):
    kz, uz = registered
    await almaty_site(kz)
    pusher = kz.platform.roaming_objects
    await pusher.push_changed()
    async with charger_online(kz) as station:  # both connectors Available: the EVSEs' status moved
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        later = await pusher.push_changed()
    assert dict(later.put) == {}


async def test_a_withdrawn_tariff_is_deleted_at_the_partner_and_the_location_no_longer_names_it(registered):
    kz, uz = registered
    await almaty_site(kz)
    pusher = kz.platform.roaming_objects
    partner = (await kz.partner_row()).id
    await pusher.push_changed()
    await all_sent(kz)

    withdrawn = await kz.api.delete("/api/v1/tariffs/KZ-STD")
    assert withdrawn.status_code == 204, withdrawn.text
    report = await pusher.push_changed()
    assert (dict(report.put), dict(report.deleted)) == ({partner: 1}, {partner: 1})
    await all_sent(kz)
    locations, tariffs = await held_at(uz)
    assert tariffs == {}
    assert tariff_ids(locations["ALA-DOSTYK"]) == set()


def test_the_digest_ignores_timestamps_and_status_but_not_content():
    location = {"id": "L1", "name": "A", "last_updated": "2026-12-04T10:00:00Z",
                "evses": [{"uid": "E1", "status": "AVAILABLE", "last_updated": "2026-12-04T10:00:00Z",
                           "connectors": [{"id": "1", "max_electric_power": 22000}]}]}
    later = {**location, "last_updated": "2026-12-04T11:00:00Z",
             "evses": [{**location["evses"][0], "status": "CHARGING"}]}
    bigger = {**location, "evses": [{**location["evses"][0],
                                     "connectors": [{"id": "1", "max_electric_power": 50000}]}]}
    assert content_digest(later) == content_digest(location)
    assert content_digest(bigger) != content_digest(location)


async def test_an_evse_status_goes_to_a_partner_sent_our_locations_only_once_it_holds_its_location(registered):
    kz, uz = registered
    await almaty_site(kz)
    pusher, evse_status = kz.platform.roaming_objects, kz.platform.roaming_push.evse_status
    await pusher.push_changed()  # the partner now holds ALA-DOSTYK, pushed whole
    await all_sent(kz)
    made = [
        await kz.api.post("/api/v1/sites", json={"code": "ALA-SECOND", "operator": "KZ-TEST", "name": "Abay Avenue",
                                                 "city": "Almaty", "country": "KZ", "lat": 43.24, "lon": 76.91,
                                                 "timezone": "Asia/Almaty"}),
        await kz.api.post("/api/v1/stations", json={"id": "ALA-SEC-01", "site": "ALA-SECOND", "password": PASSWORD,
                                                    "connectors": [{"evse_id": 1, "connector_id": 1,
                                                                    "standard": "type2", "max_power_kw": "22"}]}),
    ]
    assert all(answer.status_code == 201 for answer in made), [answer.text for answer in made]

    assert await evse_status.push_status("ALA-SEC-01", None, utcnow()) == []  # not sent that Location yet
    assert len(await evse_status.push_status("ALA-DOS-01", None, utcnow())) == 2  # it holds this one
    report = await pusher.push_changed()
    assert dict(report.put) == {(await kz.partner_row()).id: 1}  # the new site, with its EVSE's status
    assert len(await evse_status.push_status("ALA-SEC-01", None, utcnow())) == 1
