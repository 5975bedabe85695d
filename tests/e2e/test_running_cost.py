"""The cost so far that a 2.0.1 charger gets in every TransactionEvent reply (I02) is priced
from what each active session keeps between its readings (issue 20): each reply still counts
every reading and follows every input that changed since the last one, as the CDR will."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ocpp.v201 import call as call201
from sqlalchemy import event

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import to_ocpp
from silkcharge.services.billing import BillingService
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.direct import Direct
from silkcharge.store.schema import MeterSample
from tests.e2e.network import add_token
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_caps import DEAR, IN_ALMATY, OUTSIDE, energy, publish, site, tariff

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


class Session:
    """One 2.0.1 session on a connected peer; `reading` sends an Updated event and returns the
    reply's totalCost."""

    def __init__(self, peer, tx_id: str) -> None:
        self.peer, self.tx_id, self.seq = peer, tx_id, 0

    async def event(self, kind: str, minutes: int, wh: int, **extra):
        reply = await self.peer.call(call201.TransactionEvent(
            event_type=kind, timestamp=to_ocpp(T0 + timedelta(minutes=minutes)), seq_no=self.seq,
            trigger_reason="Authorized" if kind == "Started" else "MeterValuePeriodic",
            transaction_info={"transaction_id": self.tx_id, "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1},
            meter_value=[{"timestamp": to_ocpp(T0 + timedelta(minutes=minutes)),
                          "sampled_value": [{"value": wh}]}],
            **extra,
        ))
        self.seq += 1
        return reply

    async def reading(self, minutes: int, wh: int) -> Decimal | None:
        total = (await self.event("Updated", minutes, wh)).total_cost
        return None if total is None else Decimal(str(total))


@contextlib.asynccontextmanager
async def counted_billing(settings, *, direct: bool = False) -> AsyncIterator[tuple[BillingService, list[str]]]:
    """A billing service of its own, on an engine of its own, and the statements its sessions
    run (every statement counted is its); `direct`: with the platform's direct path, whose
    statements go to the driver uncounted."""
    engine = create_engine_for(settings.database_url, 2)
    billing = BillingService(sessionmaker_for(engine), EventBus(), stale_after=timedelta(hours=1),
                             direct=Direct(engine) if direct else None)
    await billing.caps.install_shipped()
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    try:
        yield billing, statements
    finally:
        await engine.dispose()


async def started(peer, station: str, token: str) -> Session:
    await peer.call(call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                             reason="PowerUp"))
    session = Session(peer, f"{station}-run")
    await session.event("Started", 0, 0, id_token={"id_token": token, "type": "ISO14443"})
    return session


async def test_each_reply_prices_every_reading_with_the_tariff_site_and_cap_in_force_then(
        api, ocpp_url, platform):
    await site(api, "RC-SITE", OUTSIDE, station="RC-1")
    await add_token(api, "RC-DRIVER")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201  # 58.00 incl. VAT
    # Another session, at another site, comes first: each input is read for this session's own.
    await site(api, "RC-ELSEWHERE", OUTSIDE, station="RC-0")
    await add_token(api, "RC-OTHER")
    async with connected_peer(ocpp_url, "RC-0", "2.0.1") as peer:
        await (await started(peer, "RC-0", "RC-OTHER")).reading(10, 1_000)
    async with connected_peer(ocpp_url, "RC-1", "2.0.1") as peer:
        session = await started(peer, "RC-1", "RC-DRIVER")
        assert await session.reading(10, 10_000) == Decimal("580.00")
        assert await session.reading(20, 20_000) == Decimal("1160.00")  # the new reading counts

        # Moved into Almaty, under the city's cap: the price holds, and the cap is shown with it.
        tx = (await api.get("/api/v1/transactions", params={"station_id": "RC-1"})).json()[0]["id"]
        assert (await platform.billing.running_cost(tx)).prices.cap_per_kwh is None
        assert (await api.patch("/api/v1/sites/RC-SITE", json=IN_ALMATY)).status_code == 200
        assert (await platform.billing.running_cost(tx)).prices.cap_per_kwh == Decimal("100")
        assert (await api.patch("/api/v1/sites/RC-SITE", json=OUTSIDE)).status_code == 200
        assert await session.reading(25, 20_000) == Decimal("1160.00")

        # A tariff for the site itself, published mid-session, prices the session from the next
        # reply on, as it will price the CDR: 20 kWh x 110.20.
        assert (await publish(api, "KZ-SITE-DEAR", DEAR, "RC-SITE")).status_code == 201
        assert await session.reading(30, 20_000) == Decimal("2204.00")

        # The site moved into Almaty: the city's cap (100 KZT/kWh incl. VAT) binds from now on.
        assert (await api.patch("/api/v1/sites/RC-SITE", json=IN_ALMATY)).status_code == 200
        assert await session.reading(40, 20_000) == Decimal("2000.00")
        assert await session.reading(50, 25_000) == Decimal("2500.00")

        # Moved out again, the site's own tariff holds as published.
        assert (await api.patch("/api/v1/sites/RC-SITE", json=OUTSIDE)).status_code == 200
        assert await session.reading(60, 25_000) == Decimal("2755.00")

        # The driver joins a fleet with its own tariff there: 30 kWh x 46.40.
        fleet = tariff(energy("40"), token_groups=["FLEET-9"])
        assert (await publish(api, "KZ-FLEET-40", fleet, "RC-SITE")).status_code == 201
        assert await session.reading(70, 30_000) == Decimal("3306.00")  # not for this driver yet
        assert (await api.patch("/api/v1/tokens/RC-DRIVER", json={"group_id": "FLEET-9"})).status_code == 200
        assert await session.reading(80, 30_000) == Decimal("1392.00")


async def test_an_unchanged_session_is_priced_from_one_row_and_its_new_readings(api, ocpp_url, settings):
    await site(api, "RC-QUIET", OUTSIDE, station="RC-2")
    await add_token(api, "RC-QUIET-DRIVER")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201
    async def asked(tx: int) -> tuple[Decimal, list[str]]:
        statements.clear()
        cost = await billing.running_cost(tx)
        return cost.total.incl_vat.amount, list(statements)

    async with counted_billing(settings) as (billing, statements):
        async with connected_peer(ocpp_url, "RC-2", "2.0.1") as peer:
            session = await started(peer, "RC-2", "RC-QUIET-DRIVER")
            await session.reading(10, 10_000)
            tx = (await api.get("/api/v1/transactions?station_id=RC-2")).json()[0]["id"]
            total, first = await asked(tx)
            assert total == Decimal("580.00") and len(first) > 5  # the inputs, read once
            total, unchanged = await asked(tx)
            assert total == Decimal("580.00") and len(unchanged) == 1  # the versions row alone
            # which reads the count of readings off the transaction: no sample of the session
            assert "meter_samples" not in unchanged[0]
            await session.reading(20, 20_000)
            total, newer = await asked(tx)
    # One more reading: the versions row and the readings since the last ask, not all of them.
    assert total == Decimal("1160.00") and len(newer) == 2 and "meter_samples.id >" in newer[1]


async def test_the_costs_of_sessions_asked_at_once_are_read_from_one_versions_row_statement(
        api, ocpp_url, settings):
    stations = ("RC-B1", "RC-B2", "RC-B3")
    for n, station in enumerate(stations):
        await site(api, f"RC-BATCH-{n}", OUTSIDE, station=station)
        await add_token(api, f"RC-BATCH-DRIVER-{n}")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201
    async with counted_billing(settings) as (billing, statements):
        txs = []
        async with contextlib.AsyncExitStack() as peers:
            for n, station in enumerate(stations):
                peer = await peers.enter_async_context(connected_peer(ocpp_url, station, "2.0.1"))
                session = await started(peer, station, f"RC-BATCH-DRIVER-{n}")
                await session.reading(10 * (n + 1), 10_000 * (n + 1))  # 60 kW, as the connector
                txs.append((await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]["id"])
            alone = [await billing.running_cost(tx) for tx in txs]
            statements.clear()
            together = await asyncio.gather(*(billing.running_cost(tx) for tx in txs))
    assert [cost.total.incl_vat.amount for cost in alone] == [Decimal("580.00"), Decimal("1160.00"),
                                                              Decimal("1740.00")]
    assert together == alone
    assert [cost.transaction_id for cost in together] == txs
    # One statement for the three sessions' rows; their inputs and readings were kept.
    assert len(statements) == 1 and "plausibility_flags" in statements[0], statements


async def test_a_running_cost_read_straight_from_the_driver_is_the_sessions_own_and_opens_no_session_for_new_readings(
        api, ocpp_url, settings):
    """The platform reads the versions row and the new readings without a session
    (store/direct.py), makes the transaction from its columns and the readings from their rows:
    every field of the cost is what the session path gives."""
    await site(api, "RC-DIRECT", OUTSIDE, station="RC-D")
    await add_token(api, "RC-DIRECT-DRIVER")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201
    async with (
        counted_billing(settings) as (through_sessions, _),
        counted_billing(settings, direct=True) as (direct, statements),
        connected_peer(ocpp_url, "RC-D", "2.0.1") as peer,
    ):
        new_readings = direct._new_readings
        read: list[dict] = []

        async def reading_new(rows):
            read.append(found := await new_readings(rows))
            return found

        direct._new_readings = reading_new
        session = await started(peer, "RC-D", "RC-DIRECT-DRIVER")
        await session.reading(10, 10_000)
        tx = (await api.get("/api/v1/transactions?station_id=RC-D")).json()[0]["id"]
        first = await direct.running_cost(tx)
        assert first is not None and first == await through_sessions.running_cost(tx)
        assert first.total.incl_vat.amount == Decimal("580.00") and first.station_tx_id == "RC-D-run"
        assert read[-1] == {}  # a first ask reads the session's inputs and readings in a session
        statements.clear()
        assert await direct.running_cost(tx) == first
        assert read[-1] == {}  # the count said nothing was new
        await session.reading(20, 20_000)
        newer = await direct.running_cost(tx)
        assert newer == await through_sessions.running_cost(tx)
        assert newer.total.incl_vat.amount == Decimal("1160.00") and newer.meter_wh == Decimal(20_000)
        # only the new reading was read, with its time and unit as a session reads them
        [(reading,)] = [found[tx] for found in read[-1:]]
        assert (reading.timestamp, reading.measurand, reading.value) == (
            T0 + timedelta(minutes=20), "Energy.Active.Import.Register", Decimal(20_000))
    # Nothing after the first ask was read in a session.
    assert statements == [], statements


async def test_a_reading_stored_under_an_older_id_than_those_read_has_the_session_read_again(
        api, ocpp_url, settings):
    """The direct read takes a session's readings after the newest id it saw; one that commits
    later under an older id (another writer's) is not among them, and the count the database
    keeps says so: that ask reads the whole session again, in a session."""
    await site(api, "RC-LATE", OUTSIDE, station="RC-L")
    await add_token(api, "RC-LATE-DRIVER")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201
    async with (
        counted_billing(settings, direct=True) as (billing, statements),
        connected_peer(ocpp_url, "RC-L", "2.0.1") as peer,
    ):
        session = await started(peer, "RC-L", "RC-LATE-DRIVER")
        await session.reading(10, 10_000)
        tx = (await api.get("/api/v1/transactions?station_id=RC-L")).json()[0]["id"]
        assert (await billing.running_cost(tx)).total.incl_vat.amount == Decimal("580.00")

        async def stored(id_: int, minutes: int, wh: int) -> None:  # ids no sequence reaches
            async with billing._sessions.begin() as db:
                db.add(MeterSample(id=id_, station_id="RC-L", evse_id=1, transaction_id=tx,
                                   timestamp=T0 + timedelta(minutes=minutes),
                                   measurand="Energy.Active.Import.Register", unit="Wh", value=Decimal(wh)))

        await stored(10**12 + 20, 30, 30_000)
        statements.clear()
        assert (await billing.running_cost(tx)).total.incl_vat.amount == Decimal("1740.00")
        assert statements == []  # read straight from the driver
        await stored(10**12 + 10, 40, 40_000)  # older id, later reading
        assert (await billing.running_cost(tx)).total.incl_vat.amount == Decimal("2320.00")
    assert any("meter_samples" in statement for statement in statements), statements


@pytest.mark.settings(cost_update_every=3600)  # no periodic push of running costs meanwhile
async def test_on_sqlite_an_updated_reply_is_priced_from_the_row_its_own_write_read(
        api, ocpp_url, platform, monkeypatch):
    """SQLite has one connection: a read after the commit would be a second turn of it for every
    batch, so the write that stores a 2.0.1 Updated event reads its session's running-cost row
    too, after its writes, and the reply is priced from that. PostgreSQL reads after the commit,
    on another pooled connection (`BillingService.read_running`)."""
    await site(api, "RC-WRITE", OUTSIDE, station="RC-W")
    await add_token(api, "RC-WRITE-DRIVER")
    assert (await publish(api, "KZ-NET-50", tariff(energy("50")))).status_code == 201
    asked = platform.billing.running_cost
    reads: list[bool] = []

    async def running_cost(transaction_id, read=None):
        reads.append(read is not None)
        return await asked(transaction_id, read)

    rows_read = platform.billing._running_rows
    read_after_commit: list[int] = []

    async def running_rows(transaction_ids, session):
        read_after_commit.extend(transaction_ids)
        return await rows_read(transaction_ids, session)

    monkeypatch.setattr(platform.billing, "running_cost", running_cost)
    monkeypatch.setattr(platform.billing, "_running_rows", running_rows)
    async with connected_peer(ocpp_url, "RC-W", "2.0.1") as peer:
        session = await started(peer, "RC-W", "RC-WRITE-DRIVER")
        tx = (await api.get("/api/v1/transactions", params={"station_id": "RC-W"})).json()[0]["id"]

        async def user_price_asked() -> bool:  # the Started event's follower asks once, after the commit
            return tx in read_after_commit

        await eventually(user_price_asked)
        reads.clear()
        read_after_commit.clear()
        replied = [await session.reading(10, 10_000), await session.reading(20, 20_000)]
        replies_read = list(read_after_commit)
        read_after = await asked(tx)
    assert replied == [Decimal("580.00"), Decimal("1160.00")]
    assert read_after.total.incl_vat.amount == replied[-1]  # the same cost as a read of its own
    sqlite = platform.settings.database_url.startswith("sqlite")
    assert reads.count(True) == (2 if sqlite else 0), reads
    # and the rounds of asks the replies joined read no row for them; PostgreSQL's read theirs
    assert (replies_read == []) if sqlite else (replies_read.count(tx) >= 2), replies_read
