"""Data residency (issue 15, item 6): a tenant whose rows live in a PostgreSQL database of its
own, with the same code. Two real databases on the local PostgreSQL: the platform's, and the
Kazakh operator's; a real OCPP 1.6 charger over a real socket; raw SQL on both databases to see
where each row landed."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from silkcharge.api.app import create_api
from silkcharge.app import build_platform
from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.events import StationConnected
from silkcharge.domain.roles import Role
from silkcharge.server import migrate_tenant_databases
from silkcharge.settings import Settings
from silkcharge.store.residency import (
    current_database,
    database_key,
    database_scope,
    enter_database,
)
from tests.conftest import API_KEY, PG_ADMIN, _pg_available, _pg_url, fresh_pg_database
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import STANDARD, energy, publish
from tests.store.residents import BOOT, KZ_STATION, UZ_STATION, Resident, raw_url, rows

pytestmark = pytest.mark.postgres


async def _charge(resident: Resident, token: str) -> int:
    """A session on the Kazakh station, from boot to stop, over a real socket."""
    async with connected_peer(resident.ocpp_url, KZ_STATION, "1.6") as peer:
        boot = await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))
        assert boot.status == "Accepted"
        started = await peer.call(call.StartTransaction(
            connector_id=1, id_tag=token, meter_start=1000, timestamp=to_ocpp(utcnow())))
        assert started.id_tag_info["status"] == "Accepted"
        await peer.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                         meter_value=energy(utcnow(), 6000, 48000)))
        stopped = await peer.call(call.StopTransaction(
            meter_stop=21000, timestamp=to_ocpp(utcnow()), transaction_id=started.transaction_id,
            reason="EVDisconnected", id_tag=token))
        assert stopped.id_tag_info["status"] == "Accepted"
        return started.transaction_id


async def test_a_resident_tenants_network_and_sessions_are_stored_in_its_own_database_only(resident):
    assert (await publish(resident.kz, "KZ-STD", STANDARD)).status_code == 201
    await add_token(resident.kz, "KZ-DRIVER-1")
    tx_id = await _charge(resident, "KZ-DRIVER-1")

    kz, home = resident.kz_url, resident.platform_url
    # The tenant's registry row was copied to its database, which its rows' foreign keys name.
    assert rows(kz, "SELECT code FROM tenants WHERE id = %s", resident.kz_id) == [("kz-op",)]
    assert rows(kz, "SELECT id, tenant_id FROM stations") == [(KZ_STATION, resident.kz_id)]
    assert rows(kz, "SELECT count(*) FROM sites WHERE tenant_id = %s", resident.kz_id) == [(1,)]
    assert rows(kz, "SELECT code FROM tariffs") == [("KZ-STD",)]
    assert rows(kz, "SELECT token FROM id_tokens") == [("KZ-DRIVER-1",)]
    assert rows(kz, "SELECT id, state, meter_stop_wh, tenant_id FROM transactions") == [
        (tx_id, "Ended", 21000, resident.kz_id)]
    assert rows(kz, "SELECT count(*) FROM meter_samples WHERE transaction_id = %s", tx_id)[0][0] >= 2
    # The session was priced where it lives, on the event of its end.
    await eventually(lambda: _async(rows(kz, "SELECT count(*) FROM cdrs WHERE transaction_id = %s", tx_id)
                                    [0][0] == 1))
    # The message log, written in batches, lands in the station's database.
    await eventually(lambda: _async(rows(kz, "SELECT count(*) FROM ocpp_messages WHERE station_id = %s",
                                         KZ_STATION)[0][0] >= 8))

    # None of it is in the platform's database, which holds the other tenant's station.
    assert rows(home, "SELECT id FROM stations") == [(UZ_STATION,)]
    for table in ("transactions", "meter_samples", "tariffs", "cdrs", "id_tokens"):
        assert rows(home, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert rows(home, "SELECT count(*) FROM ocpp_messages WHERE station_id = %s", KZ_STATION) == [(0,)]
    assert rows(home, "SELECT count(*) FROM sites WHERE tenant_id = %s", resident.kz_id) == [(0,)]
    # The registry, the keys and the audit of the tenant's requests are the platform's.
    assert rows(home, "SELECT count(*) FROM api_keys WHERE tenant_id = %s", resident.kz_id) == [(1,)]
    assert rows(kz, "SELECT count(*) FROM api_keys") == [(0,)]


async def _async(value):
    return value


async def test_a_resident_tenants_key_reads_its_database_and_another_tenants_key_sees_none_of_it(resident):
    await add_token(resident.kz, "KZ-DRIVER-2")
    tx_id = await _charge(resident, "KZ-DRIVER-2")

    session = await resident.kz.get(f"/api/v1/transactions/{tx_id}")
    assert session.status_code == 200, session.text
    assert (session.json()["state"], session.json()["station_id"]) == ("Ended", KZ_STATION)
    assert [s["id"] for s in (await resident.kz.get("/api/v1/stations")).json()] == [KZ_STATION]
    assert [s["id"] for s in (await resident.uz.get("/api/v1/stations")).json()] == [UZ_STATION]
    assert (await resident.uz.get(f"/api/v1/stations/{KZ_STATION}")).status_code == 404
    assert (await resident.uz.get(f"/api/v1/transactions/{tx_id}")).status_code == 404
    assert (await resident.kz.get(f"/api/v1/stations/{UZ_STATION}")).status_code == 404
    # Station ids are one namespace (a station names itself at the handshake), across databases too.
    taken = await resident.uz.post("/api/v1/stations", json={"id": KZ_STATION, "site": "ALA-TEST",
                                                             "password": "s3cret-password-16"})
    assert taken.status_code == 409, taken.text
    # A change through the resident tenant's key is written in its database.
    changed = await resident.kz.patch(f"/api/v1/stations/{KZ_STATION}", json={"registration_status": "Pending"})
    assert changed.status_code == 200, changed.text
    assert rows(resident.kz_url, "SELECT registration_status FROM stations WHERE id = %s", KZ_STATION) == [
        ("Pending",)]


async def _booted_and_started(peer, id_tag: str):
    """The Kazakh station boots and starts a session for `id_tag`; the StartTransaction reply."""
    await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))
    return await peer.call(call.StartTransaction(
        connector_id=1, id_tag=id_tag, meter_start=0, timestamp=to_ocpp(utcnow())))


async def test_the_billing_sweep_closes_an_abandoned_session_in_the_resident_database(resident):
    assert (await publish(resident.kz, "KZ-STD", STANDARD)).status_code == 201
    await add_token(resident.kz, "KZ-DRIVER-3")
    async with connected_peer(resident.ocpp_url, KZ_STATION, "1.6") as peer:
        started = await _booted_and_started(peer, "KZ-DRIVER-3")
    tx_id = started.transaction_id
    # The station lost power for good: nothing heard of the session for two days.
    with psycopg.connect(raw_url(resident.kz_url), autocommit=True) as connection:
        connection.execute("UPDATE transactions SET updated_at = now() - interval '2 days' WHERE id = %s", (tx_id,))

    await resident.platform.billing.sweep()

    assert rows(resident.kz_url, "SELECT state, stop_reason FROM transactions WHERE id = %s", tx_id) == [
        ("Ended", "ClosedWithoutStop")]
    assert rows(resident.kz_url, "SELECT count(*) FROM cdrs WHERE transaction_id = %s", tx_id) == [(1,)]
    assert rows(resident.platform_url, "SELECT count(*) FROM transactions") == [(0,)]


async def test_the_running_cost_of_a_resident_tenants_session_is_read_from_its_database(resident):
    assert (await publish(resident.kz, "KZ-STD", STANDARD)).status_code == 201
    await add_token(resident.kz, "KZ-DRIVER-4")
    async with connected_peer(resident.ocpp_url, KZ_STATION, "1.6") as peer:
        started = await _booted_and_started(peer, "KZ-DRIVER-4")
        await peer.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[{
            "timestamp": to_ocpp(utcnow()), "sampled_value": [{"value": "1000"}]}]))
        with database_scope(database_key(resident.kz_url)):  # where the gateway asks it from
            cost = await resident.platform.billing.running_cost(started.transaction_id)
    assert cost is not None and cost.transaction_id == started.transaction_id
    assert cost.total.incl_vat.amount > 0


async def test_driver_search_finds_the_stations_of_every_database(resident):
    await resident.platform.search.refresh()
    found = await resident.driver.get(
        "/api/v1/search/stations", params={"lat": 43.21, "lon": 76.63, "radius_km": 10})
    assert found.status_code == 200, found.text
    stations = {station["id"] for site in found.json()["results"] for station in site["stations"]}
    assert stations == {KZ_STATION, UZ_STATION}


async def test_a_restarted_platform_finds_the_resident_tenant_in_its_database(resident):
    """At start the configured tenants already registered are attached (not only on creation)."""
    again = build_platform(resident.platform.settings)
    await again.start()
    try:
        assert again.residency.homes == {resident.kz_id: database_key(resident.kz_url)}
        transport = httpx.ASGITransport(app=create_api(again))
        async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                     headers={"X-API-Key": resident.kz_key}) as kz:
            stations = await kz.get("/api/v1/stations")
        assert [s["id"] for s in stations.json()] == [KZ_STATION]
    finally:
        await again.stop()


async def test_a_tenant_whose_database_is_down_gets_errors_and_nothing_lands_in_the_platforms():
    """A resident tenant is never served from the platform's database, not even when its own
    is unreachable: the platform starts, and the tenant's requests fail."""
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with fresh_pg_database("silkcharge_platform") as platform_url:
        common = dict(database_url=platform_url, ocpp_host="127.0.0.1", ocpp_port=0, api_key=API_KEY)
        before = build_platform(Settings(**common))
        await before.start()
        try:
            tenant = await before.access.create_tenant("kz-op", "Kazakh operator")
            _, key = await before.access.create_key(BOOT, "kz admin", Role.OPERATOR_ADMIN, tenant.id, None)
            transport = httpx.ASGITransport(app=create_api(before))
            async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                         headers={"X-API-Key": API_KEY}) as home:
                await register_station(home, UZ_STATION)  # tenant 1's, in the platform's database
        finally:
            await before.stop()
        down = "postgresql+asyncpg://postgres@127.0.0.1:1/silkcharge_kz"  # nothing listens on port 1
        platform = build_platform(Settings(**common, tenant_databases={"kz-op": down}))
        await platform.start()
        try:
            transport = httpx.ASGITransport(app=create_api(platform), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                         headers={"X-API-Key": key}) as kz:
                created = await kz.post("/api/v1/operators", json={
                    "code": "KZ-TEST", "name": "Test network", "country": "KZ", "currency": "KZT"})
            ocpp_url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
            # The platform database's stations still connect...
            async with connected_peer(ocpp_url, UZ_STATION, "1.6") as peer:
                boot = await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC"))
                assert boot.status == "Accepted"
            # ...and a station found nowhere may be the unreachable database's: come back later.
            with pytest.raises(InvalidStatus) as refused:
                async with connected_peer(ocpp_url, "KZ-SOMEWHERE-1", "1.6"):
                    pass
            assert refused.value.response.status_code == 503
        finally:
            await platform.stop()
        assert created.status_code == 503, created.text  # come back later, not a server bug
        assert created.json()["code"] == "unavailable" and created.headers["Retry-After"]
        assert rows(platform_url, "SELECT count(*) FROM operators WHERE tenant_id = %s", tenant.id) == [(0,)]
        assert rows(platform_url, "SELECT code FROM operators") == [("KZ-TEST",)]  # tenant 1's, from before


async def test_an_event_takes_its_subscriber_to_the_database_it_happened_in():
    """The bus carries where an event happened; the subscriber that takes it acts there."""
    bus = EventBus(origin=current_database, enter=enter_database)
    ready, seen = asyncio.Event(), []

    async def subscriber() -> None:
        async with bus.subscribe(local_only=True) as queue:
            ready.set()
            for _ in range(2):
                event = await queue.get()
                seen.append((event.station_id, current_database()))

    task = asyncio.create_task(subscriber())
    await ready.wait()
    with database_scope("kz-db"):
        bus.publish(StationConnected(KZ_STATION, utcnow(), "1.6"))
    bus.publish(StationConnected(UZ_STATION, utcnow(), "1.6"))
    await asyncio.wait_for(task, 10)
    assert seen == [(KZ_STATION, "kz-db"), (UZ_STATION, None)]


async def test_taking_a_gathered_event_without_waiting_takes_its_place_too_and_a_dropped_one_takes_none():
    """A subscriber that gathers events (the roaming status follower) takes the rest of a burst
    with get_nowait: each takes it to where that event happened. A full queue drops its oldest
    event for the publisher, who stays where it was."""
    bus = EventBus(queue_size=2, origin=current_database, enter=enter_database)
    async with bus.subscribe(local_only=True) as queue:
        with database_scope("kz-db"):
            bus.publish(StationConnected("DROPPED", utcnow(), "1.6"))
            bus.publish(StationConnected(KZ_STATION, utcnow(), "1.6"))
        with database_scope("uz-db"):
            bus.publish(StationConnected(UZ_STATION, utcnow(), "1.6"))  # the queue is full: DROPPED goes
            assert current_database() == "uz-db"
        taken = []
        while not queue.empty():
            event = queue.get_nowait()
            taken.append((event.station_id, current_database()))
    assert taken == [(KZ_STATION, "kz-db"), (UZ_STATION, "uz-db")]


def test_migrate_brings_every_tenant_database_up_to_date():
    """`silkcharge migrate` creates the schema in the platform's database and each tenant's."""
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    names = [f"silkcharge_empty_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        platform_url, kz_url = (_pg_url(name) for name in names)
        env = {**os.environ, "SILKCHARGE_DATABASE_URL": platform_url,
               "SILKCHARGE_TENANT_DATABASES": f'{{"kz-op": "{kz_url}"}}',
               "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
        done = subprocess.run([sys.executable, "-m", "silkcharge.cli", "migrate"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert database_key(kz_url) in done.stdout.replace("\n", "")
        for url in (platform_url, kz_url):
            head = rows(url, "SELECT version_num FROM alembic_version")
            assert head == rows(platform_url, "SELECT version_num FROM alembic_version") and head, url
            assert rows(url, "SELECT count(*) FROM stations") == [(0,)]
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_serve_migrates_each_tenant_database_and_goes_on_without_one_that_is_down(caplog):
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    name = f"silkcharge_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        down = "postgresql+asyncpg://postgres@127.0.0.1:1/silkcharge_uz"
        settings = Settings(tenant_databases={"kz-op": _pg_url(name), "uz-op": down})
        with caplog.at_level(logging.ERROR, logger="silkcharge.server"):
            await migrate_tenant_databases(settings)
        assert rows(_pg_url(name), "SELECT count(*) FROM alembic_version") == [(1,)]
        assert any(database_key(down) in record.getMessage() for record in caplog.records)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

