"""The Locations and Tariffs modules over real HTTP, on SQLite and PostgreSQL: what a partner
eMSP reads of our sites and tariffs (CPO, Sender), and what a partner CPO pushes to us and how
it is kept (eMSP, Receiver)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from silkcharge.roaming.locations import ForeignLocations
from silkcharge.store.schema import Connector, Evse, Operator, Site, Station, TariffRecord, Tenant
from silkcharge.store.tenancy import tenant_scope
from tests.roaming.conftest import Network
from tests.roaming.test_location_merge import connector, evse
from tests.roaming.test_location_merge import location as partner_location

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


def location(**changes) -> dict:
    """A location of the Kazakh network (KZ*SLK) as it pushes one to its eMSP partner."""
    return partner_location(**{"country_code": "KZ", "party_id": "SLK", **changes})


async def _seed(kz: Network) -> None:
    """Three sites with a charger, one without, and a site of another tenant; a tariff for
    everyone and a concession."""
    sessions = kz.platform.sessions
    async with sessions.begin() as session:
        session.add(Tenant(id=2, code="other", name="Another network"))
    with tenant_scope(1):
        async with sessions.begin() as session:
            operator = Operator(code="SLK", name="Silk Charge", country="KZ", currency="KZT")
            session.add(operator)
            await session.flush()
            for number, (code, updated) in enumerate(
                [("ALA-MEGA", T0), ("AST-KHAN", T0 + timedelta(days=1)), ("SHY-CITY", T0 + timedelta(days=2))], 1,
            ):
                site = Site(code=code, operator_id=operator.id, name=f"Site {code}", city="Almaty", country="KZ",
                            address="Rozybakiev St 247", lat=43.2 + number / 100, lon=76.9, timezone="Asia/Almaty",
                            updated_at=updated)
                session.add(site)
                await session.flush()
                station = f"{code}-01"
                session.add(Station(id=station, site_id=site.id, online=True))
                await session.flush()
                session.add(Evse(station_id=station, evse_id=1, status="Available"))
                session.add(Connector(station_id=station, evse_id=1, connector_id=1, standard="ccs2",
                                      max_power_kw=Decimal("150"), status="Charging" if number == 1 else "Available",
                                      updated_at=updated))
            session.add(Site(code="ALA-EMPTY", operator_id=operator.id, name="No chargers yet", country="KZ",
                             lat=43.3, lon=76.95, timezone="Asia/Almaty", updated_at=T0))
            published = datetime(2025, 6, 1, tzinfo=timezone.utc)
            session.add(TariffRecord(code="KZ-DC", operator_id=operator.id, created_at=published, body={
                "id": "KZ-DC", "currency": "KZT", "country_code": "KZ",
                "elements": [{"price_components": [{"type": "ENERGY", "price": "100", "step_size": 1}]}],
            }))
            session.add(TariffRecord(code="KZ-TAXI", operator_id=operator.id, created_at=published, body={
                "id": "KZ-TAXI", "currency": "KZT", "country_code": "KZ",
                "elements": [{"price_components": [{"type": "ENERGY", "price": "70", "step_size": 1}]}],
                "silkcharge": {"token_groups": ["taxi-fleet"]},
            }))
    with tenant_scope(2):
        async with sessions.begin() as session:
            operator = Operator(code="OTH", name="Other", country="KZ", currency="KZT")
            session.add(operator)
            await session.flush()
            site = Site(code="OTH-1", operator_id=operator.id, name="Not ours", country="KZ", lat=43.0, lon=77.0,
                        timezone="Asia/Almaty")
            session.add(site)
            await session.flush()
            session.add(Station(id="OTH-1-01", site_id=site.id, online=True))
            await session.flush()
            session.add(Connector(station_id="OTH-1-01", evse_id=1, connector_id=1, standard="type2",
                                  max_power_kw=Decimal("22"), status="Available"))


@dataclass
class Roaming:
    """The Kazakh CPO and the Uzbek eMSP, registered with each other, with the tokens each
    calls the other with."""

    kz: Network
    uz: Network
    uz_token: str
    """What UZ calls KZ with: it reads KZ's locations and tariffs."""
    kz_token: str
    """What KZ calls UZ with: it pushes its locations and tariffs."""

    async def read_kz(self, path: str, **kwargs) -> httpx.Response:
        return await self.kz.ocpi("GET", f"cpo/2.2.1/{path}", self.uz_token, **kwargs)

    async def push_to_uz(self, method: str, path: str, **kwargs) -> httpx.Response:
        return await self.uz.ocpi(method, f"emsp/2.2.1/{path}", self.kz_token, **kwargs)


@pytest.fixture
async def roaming(registered) -> Roaming:
    kz, uz = registered
    await _seed(kz)
    return Roaming(kz, uz, (await uz.partner_row()).token_to_them, (await kz.partner_row()).token_to_them)


# -- CPO: what partners read of us -------------------------------------------------------------


async def test_the_location_list_pages_with_link_and_total_count_and_only_the_callers_tenant(roaming):
    first = await roaming.read_kz("locations", params={"limit": 2})
    assert (first.status_code, first.json()["status_code"]) == (200, 1000)
    assert first.headers["X-Total-Count"] == "3"  # the site without chargers and tenant 2's are not listed
    assert [loc["id"] for loc in first.json()["data"]] == ["ALA-MEGA", "AST-KHAN"]
    following = first.headers["Link"].split(";")[0].strip("<>")
    assert following.startswith(roaming.kz.url)
    async with httpx.AsyncClient(timeout=30) as client:
        second = await client.get(following, headers={"Authorization": "Token " + base64.b64encode(
            roaming.uz_token.encode()).decode()})
    assert [loc["id"] for loc in second.json()["data"]] == ["SHY-CITY"]
    assert "Link" not in second.headers


async def test_date_from_and_date_to_select_locations_by_last_updated(roaming):
    answer = await roaming.read_kz("locations", params={
        "date_from": "2026-11-02T00:00:00Z", "date_to": "2026-11-03T06:00:00Z"})
    assert [loc["id"] for loc in answer.json()["data"]] == ["AST-KHAN"]
    assert answer.headers["X-Total-Count"] == "1"


async def test_one_location_evse_and_connector_by_their_ids(roaming):
    whole = (await roaming.read_kz("locations/ALA-MEGA")).json()["data"]
    assert (whole["country_code"], whole["party_id"], whole["country"]) == ("KZ", "SLK", "KAZ")
    uid = whole["evses"][0]["uid"]
    assert uid == "ALA-MEGA-01*1"
    assert whole["evses"][0]["evse_id"] == "KZ*SLK*EALA*MEGA*01*1"
    assert whole["evses"][0]["status"] == "CHARGING"
    assert whole["evses"][0]["connectors"][0]["tariff_ids"] == ["KZ-DC"]
    single = (await roaming.read_kz(f"locations/ALA-MEGA/{uid}")).json()["data"]
    assert single == whole["evses"][0]
    plug = (await roaming.read_kz(f"locations/ala-mega/{uid}/1")).json()["data"]
    assert (plug["standard"], plug["max_electric_power"]) == ("IEC_62196_T2_COMBO", 150000)


async def test_an_unknown_location_evse_or_connector_is_2003(roaming):
    for path in ("NOWHERE", "ALA-MEGA/NO-EVSE", "ALA-MEGA/ALA-MEGA-01*1/9", "OTH-1"):
        answer = await roaming.read_kz(f"locations/{path}")
        assert (answer.status_code, answer.json()["status_code"]) == (404, 2003), path


async def test_tariffs_are_published_with_our_party_and_the_vat_rate_in_force_but_not_concessions(roaming):
    answer = await roaming.read_kz("tariffs")
    assert answer.headers["X-Total-Count"] == "1"
    (tariff,) = answer.json()["data"]
    assert (tariff["country_code"], tariff["party_id"], tariff["id"], tariff["currency"]) == ("KZ", "SLK", "KZ-DC", "KZT")
    component = tariff["elements"][0]["price_components"][0]
    assert (Decimal(str(component["price"])), Decimal(str(component["vat"]))) == (Decimal("100"), Decimal("16"))
    # published long before the 16 % rate began: the body changed when the rate did
    assert tariff["last_updated"] == "2025-12-31T19:00:00Z"


async def test_our_modules_are_listed_in_the_version_details(roaming):
    answer = await roaming.kz.ocpi("GET", "2.2.1", roaming.uz_token)
    listed = {(e["identifier"], e["role"], e["url"]) for e in answer.json()["data"]["endpoints"]}
    assert ("locations", "SENDER", f"{roaming.kz.url}/ocpi/cpo/2.2.1/locations") in listed
    assert ("tariffs", "RECEIVER", f"{roaming.kz.url}/ocpi/emsp/2.2.1/tariffs") in listed


# -- eMSP: what partner CPOs push to us --------------------------------------------------------

BASE = "locations/KZ/SLK"


async def test_a_pushed_location_is_kept_and_served_back(roaming):
    put = await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location())
    assert (put.status_code, put.json()["status_code"]) == (200, 1000)
    held = (await roaming.push_to_uz("GET", f"{BASE}/LOC7")).json()["data"]
    assert held["name"] == "Ala-Too square"
    assert (await roaming.push_to_uz("GET", f"{BASE}/LOC7/E1/1")).json()["data"]["max_voltage"] == 920


async def test_an_evse_status_patch_is_applied_and_an_older_one_acknowledged_and_ignored(roaming):
    await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location())
    newer = await roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E1",
                                     json={"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    assert newer.json()["status_code"] == 1000
    older = await roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E1",
                                     json={"status": "AVAILABLE", "last_updated": "2026-12-01T08:30:00Z"})
    assert (older.status_code, older.json()["status_code"]) == (200, 1000)
    held = (await roaming.push_to_uz("GET", f"{BASE}/LOC7")).json()["data"]
    assert held["evses"][0]["status"] == "CHARGING"
    assert held["last_updated"] == "2026-12-01T09:00:00Z"


async def test_a_broken_location_is_2001_with_its_problems_and_nothing_is_stored(roaming):
    broken = location(coordinates={"latitude": "123.000000", "longitude": "74.603800"})
    del broken["city"]
    answer = await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=broken)
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert "city: required" in answer.json()["status_message"]
    assert "coordinates.latitude" in answer.json()["status_message"]
    assert (await roaming.push_to_uz("GET", f"{BASE}/LOC7")).json()["status_code"] == 2003


async def test_a_patch_that_would_leave_an_invalid_location_is_2001_and_changes_nothing(roaming):
    await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location())
    answer = await roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E1",
                                      json={"status": "SLEEPING", "last_updated": "2026-12-01T09:00:00Z"})
    assert answer.json()["status_code"] == 2001
    no_stamp = await roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E1", json={"status": "CHARGING"})
    assert no_stamp.json()["status_code"] == 2001
    assert (await roaming.push_to_uz("GET", f"{BASE}/LOC7/E1")).json()["data"]["status"] == "AVAILABLE"


async def test_an_evse_or_patch_for_a_location_never_pushed_is_2003(roaming):
    put = await roaming.push_to_uz("PUT", f"{BASE}/LOC8/E1", json=evse())
    assert (put.status_code, put.json()["status_code"]) == (404, 2003)
    patch = await roaming.push_to_uz("PATCH", f"{BASE}/LOC8", json={"name": "x", "last_updated": "2026-12-01T09:00:00Z"})
    assert patch.json()["status_code"] == 2003
    await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location())
    unknown_evse = await roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E9",
                                            json={"status": "CHARGING", "last_updated": "2026-12-01T09:00:00Z"})
    assert unknown_evse.json()["status_code"] == 2003
    connector_put = await roaming.push_to_uz("PUT", f"{BASE}/LOC7/E9/1", json=connector())
    assert connector_put.json()["status_code"] == 2003


async def test_a_partner_may_not_push_for_a_party_it_is_not(roaming):
    foreign = location(country_code="KG", party_id="BIS")
    answer = await roaming.push_to_uz("PUT", "locations/KG/BIS/LOC7", json=foreign)
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    mismatch = await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location(party_id="XYZ"))
    assert mismatch.json()["status_code"] == 2001
    renamed = await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location(id="LOC9"))
    assert renamed.json()["status_code"] == 2001


GARBAGE = [
    b"", b"not json", b"[]", b"null", b"42", b'"text"', b'{"evses": [1, 2]}', b'{"coordinates": []}',
    b'{"last_updated": 5, "publish": null}', b'{"id": {"nested": true}}', b"[" * 5000 + b"]" * 5000,
    b'{"max_voltage": NaN}', b'{"evses": [{"connectors": [{"max_voltage": 1e999}]}]}',
    json.dumps(location(evses=[evse(connectors=[connector(tariff_ids="DC-1")])])).encode(),
    json.dumps(location(last_updated="2026-13-45T99:00:00Z")).encode(),
    "{\"name\": \"\udcff\"}".encode("utf-8", "surrogatepass"),
]


async def test_nothing_a_partner_sends_gets_a_server_error(roaming):
    await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location())
    for method in ("PUT", "PATCH"):
        for path in ("LOC7", "LOC7/E1", "LOC7/E1/1"):
            for body in GARBAGE:
                answer = await roaming.push_to_uz(method, f"{BASE}/{path}", content=body,
                                                  headers={"Content-Type": "application/json"})
                assert answer.status_code < 500, (method, path, body[:80], answer.text[:300])
                # a whole Location sent to an EVSE's URL is a PATCH of nothing the EVSE has
                whole = method == "PATCH" and body.startswith(b'{"country_code"')
                expected = (1000, 2001) if whole else (2001,)
                assert answer.json()["status_code"] in expected, (method, path, body[:80], answer.text[:300])
    long_id = "L" * 37
    answer = await roaming.push_to_uz("PUT", f"{BASE}/{long_id}", json=location(id=long_id))
    assert answer.json()["status_code"] == 2001


# -- eMSP: tariffs ------------------------------------------------------------------------------

TARIFFS = "tariffs/KZ/SLK"


def partner_tariff(at: str = "2026-12-01T08:00:00Z", price: float = 14.5) -> dict:
    return {"country_code": "KZ", "party_id": "SLK", "id": "DC-1", "currency": "KZT", "type": "REGULAR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": price, "vat": 12, "step_size": 1}],
                          "restrictions": {"day_of_week": ["MONDAY"], "start_time": "08:00", "end_time": "20:00"}}],
            "last_updated": at}


async def test_a_pushed_tariff_is_kept_an_older_one_ignored_and_delete_removes_it(roaming):
    assert (await roaming.push_to_uz("PUT", f"{TARIFFS}/DC-1", json=partner_tariff())).json()["status_code"] == 1000
    older = await roaming.push_to_uz("PUT", f"{TARIFFS}/DC-1", json=partner_tariff(at="2026-11-30T08:00:00Z", price=99))
    assert older.json()["status_code"] == 1000
    held = (await roaming.push_to_uz("GET", f"{TARIFFS}/DC-1")).json()["data"]
    assert held["elements"][0]["price_components"][0]["price"] == 14.5
    assert (await roaming.push_to_uz("DELETE", f"{TARIFFS}/DC-1")).json()["status_code"] == 1000
    assert (await roaming.push_to_uz("GET", f"{TARIFFS}/DC-1")).status_code == 404


async def test_a_broken_or_foreign_tariff_is_2001(roaming):
    broken = partner_tariff()
    broken["elements"][0]["price_components"][0]["type"] = "KWH"
    broken["currency"] = "som"
    answer = await roaming.push_to_uz("PUT", f"{TARIFFS}/DC-1", json=broken)
    assert answer.json()["status_code"] == 2001
    assert "price_components[0].type" in answer.json()["status_message"]
    assert "currency" in answer.json()["status_message"]
    foreign = await roaming.push_to_uz("PUT", "tariffs/KG/BIS/DC-1",
                                       json={**partner_tariff(), "country_code": "KG", "party_id": "BIS"})
    assert foreign.json()["status_code"] == 2001
    for body in GARBAGE:
        answer = await roaming.push_to_uz("PUT", f"{TARIFFS}/DC-1", content=body,
                                          headers={"Content-Type": "application/json"})
        assert answer.status_code < 500 and answer.json()["status_code"] == 2001, body[:80]


# -- the search's query -------------------------------------------------------------------------


async def test_foreign_locations_near_a_point_nearest_first_only_shown_ones_with_live_evses(roaming):
    near_bishkek = location(id="LOC-A", coordinates={"latitude": "42.876400", "longitude": "74.603800"})
    closer = location(id="LOC-B", coordinates={"latitude": "42.870000", "longitude": "74.590000"})
    hidden = location(id="LOC-C", publish=False)
    removed = location(id="LOC-D", evses=[evse(status="REMOVED")])
    far = location(id="LOC-E", coordinates={"latitude": "40.530000", "longitude": "72.800000"})
    for body in (near_bishkek, closer, hidden, removed, far):
        assert (await roaming.push_to_uz("PUT", f"{BASE}/{body['id']}", json=body)).json()["status_code"] == 1000
    with tenant_scope(1):
        found = await ForeignLocations(roaming.uz.platform.sessions).near(42.8700, 74.5900, 25)
    assert [item.location_id for item in found] == ["LOC-B", "LOC-A"]
    assert found[0].distance_km < 0.1 < found[1].distance_km < 2
    assert (found[0].country_code, found[0].party_id) == ("KZ", "SLK")
    with tenant_scope(2):
        assert await ForeignLocations(roaming.uz.platform.sessions).near(42.8700, 74.5900, 25) == []


async def test_concurrent_patches_of_one_location_lose_nothing_and_the_newest_status_wins(roaming):
    evses = [evse(f"E{n}") for n in range(1, 5)]
    await roaming.push_to_uz("PUT", f"{BASE}/LOC7", json=location(evses=evses))
    patches = [
        roaming.push_to_uz("PATCH", f"{BASE}/LOC7/E{n}",
                           json={"status": status, "last_updated": f"2026-12-01T09:0{minute}:00Z"})
        for n in range(1, 5) for minute, status in ((1, "CHARGING"), (3, "OUTOFORDER"), (2, "RESERVED"))
    ]
    answers = await asyncio.gather(*patches)
    assert {answer.json()["status_code"] for answer in answers} == {1000}
    held = (await roaming.push_to_uz("GET", f"{BASE}/LOC7")).json()["data"]
    assert [(e["uid"], e["status"]) for e in held["evses"]] == [(f"E{n}", "OUTOFORDER") for n in range(1, 5)]
    assert held["last_updated"] == "2026-12-01T09:03:00Z"
