"""No single row can break a sweep: the billing sweep and the reservation expiry sweep take each
item on its own, so a row the database refuses to change is logged, flagged and skipped while
the others go on. The refusing row is real: a trigger in the database (SQLite and PostgreSQL)
refuses any update of it, as a corrupt page or a constraint added by hand would."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from silkcharge.domain.clock import utcnow
from silkcharge.services.reservations import ReservationLedger
from silkcharge.store.schema import PlausibilityFlag, Reservation, Station, Transaction


async def refuse_updates_of(platform, table: str, row_id: int) -> None:
    async with platform.sessions.begin() as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(text(
                "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'row % is broken', OLD.id; END $$ LANGUAGE plpgsql"))
            await session.execute(text(
                f"CREATE TRIGGER broken BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN (OLD.id = {row_id}) EXECUTE FUNCTION refuse_update()"))
        else:
            await session.execute(text(
                f"CREATE TRIGGER broken BEFORE UPDATE ON {table} WHEN OLD.id = {row_id} "
                "BEGIN SELECT RAISE(ABORT, 'row is broken'); END"))


async def stations(platform, *ids: str) -> None:
    async with platform.sessions.begin() as session:
        session.add_all(Station(id=station_id) for station_id in ids)


async def flags(platform, **where) -> list[PlausibilityFlag]:
    async with platform.sessions() as session:
        return list((await session.scalars(select(PlausibilityFlag).filter_by(**where))).all())


async def test_the_billing_sweep_closes_every_abandoned_session_but_the_one_it_cannot_change(platform):
    await stations(platform, "SW-A", "SW-B", "SW-C")
    long_ago = utcnow() - timedelta(days=3)
    async with platform.sessions.begin() as session:
        rows = [
            Transaction(station_id=station_id, station_tx_id="1", evse_id=1, connector_id=1, state="Active",
                        started_at=long_ago, updated_at=long_ago)
            for station_id in ("SW-A", "SW-B", "SW-C")
        ]
        session.add_all(rows)
    broken = rows[1].id
    await refuse_updates_of(platform, "transactions", broken)
    closed = await platform.billing.close_abandoned()
    assert sorted(closed) == sorted([rows[0].id, rows[2].id])
    [flag] = await flags(platform, transaction_id=broken)
    assert flag.rule == "stored-value" and "could not close this session" in flag.reason
    assert broken in platform.billing.unpriced
    # the next sweep does not stumble over it again, nor flag it twice
    await platform.billing.sweep()
    assert len(await flags(platform, transaction_id=broken)) == 1


async def test_the_reservation_expiry_sweep_expires_every_lapsed_reservation_but_the_one_it_cannot_change(platform):
    await stations(platform, "RX-A", "RX-B", "RX-C")
    lapsed = utcnow() - timedelta(minutes=5)
    async with platform.sessions.begin() as session:
        rows = [
            Reservation(station_id=station_id, evse_id=1, id_token="CARD", expires_at=lapsed, status="Accepted")
            for station_id in ("RX-A", "RX-B", "RX-C")
        ]
        session.add_all(rows)
    broken = rows[1].id
    await refuse_updates_of(platform, "reservations", broken)
    ledger = ReservationLedger(platform.sessions, platform.plausibility)
    assert await ledger.expire_due() == 2
    async with platform.sessions() as session:
        statuses = {r.id: r.status for r in [await session.get(Reservation, row.id) for row in rows]}
    assert statuses == {rows[0].id: "Expired", broken: "Accepted", rows[2].id: "Expired"}
    [flag] = await flags(platform, station_id="RX-B")
    assert flag.rule == "stored-value" and f"reservation {broken} could not be expired" in flag.reason
