"""The charging schedule an ISO 15118 vehicle plans (OCPP 2.0.1 K15-K17).

After the CSMS set a charging profile for a session, the EV answers with the schedule it will
follow, and the station passes it on with NotifyEVChargingSchedule (also when the EV or the
CSMS renegotiates). silkcharge keeps it with the session it belongs to (the transaction running
on that EVSE), and checks it against the profiles silkcharge installed there: a schedule that
asks for more than their composite allows at any moment is answered Rejected, with the first
moment and both limits, so the operator (and the station's log) sees why; otherwise Accepted.
While a new profile is on its way to the station (or its acceptance not yet recorded), a plan
that fits either the old or the new profiles is accepted: the station may have planned with
either, and a renegotiation must not be refused for arriving a moment early.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.smart.composite import ActiveTransaction, InstalledProfile, composite_schedule
from silkcharge.smart.profiles import ChargingProfile, ChargingRateUnit
from silkcharge.store.schema import EvChargingSchedule, Transaction

Installed = Callable[[str], Awaitable[list[list[tuple[int, ChargingProfile]]]]]
TOLERANCE = Decimal("0.1")  # limits travel with one decimal
NOMINAL_VOLTAGE = Decimal(230)
MAX_SPAN = 7 * 86400  # seconds of an EV's schedule checked: a week is longer than any session


class EvSchedules:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, installed: Installed | None = None) -> None:
        self._sessions = sessions
        self._bus = bus
        self._installed = installed
        """What a station may be obeying: one or more lists of (EVSE, profile); None: nothing to check."""

    async def received(
        self, station_id: str, evse_id: int, time_base: datetime, schedule: dict[str, Any],
    ) -> tuple[str, str | None]:
        """Store the EV's schedule with its session; the answer (Accepted or Rejected) and why."""
        async with self._sessions() as session:
            tx = await session.scalar(
                select(Transaction).where(
                    Transaction.station_id == station_id, Transaction.evse_id == evse_id,
                    Transaction.state == "Active",
                ).order_by(Transaction.started_at.desc()).limit(1)
            )
        reason = await self._exceeds(station_id, evse_id, time_base, schedule, tx)
        status = "Rejected" if reason else "Accepted"
        async with self._sessions.begin() as session:
            session.add(EvChargingSchedule(
                station_id=station_id, evse_id=evse_id, transaction_id=tx.id if tx else None,
                time_base=time_base, schedule=schedule, status=status, reason=reason, received_at=utcnow(),
            ))
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "ev_charging_schedule"))
        return status, reason

    async def for_transaction(self, transaction_id: int) -> list[EvChargingSchedule]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(EvChargingSchedule).where(EvChargingSchedule.transaction_id == transaction_id)
                .order_by(EvChargingSchedule.id)
            )).all())

    async def _exceeds(
        self, station_id: str, evse_id: int, time_base: datetime, schedule: dict[str, Any], tx: Transaction | None,
    ) -> str | None:
        if self._installed is None:
            return None
        reasons = []
        for view in await self._installed(station_id):
            reason = self._exceeds_view(view, evse_id, time_base, schedule, tx)
            if reason is None:
                return None  # the plan fits what the station may be obeying
            reasons.append(reason)
        return reasons[0]

    @staticmethod
    def _exceeds_view(
        view: list[tuple[int, ChargingProfile]], evse_id: int, time_base: datetime, schedule: dict[str, Any],
        tx: Transaction | None,
    ) -> str | None:
        installed = [InstalledProfile(evse, profile) for evse, profile in view]
        if not installed:
            return None
        unit = ChargingRateUnit(schedule["chargingRateUnit"])
        periods = sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"])
        span = min(schedule.get("duration") or periods[-1]["startPeriod"] + 1, MAX_SPAN)
        running = ActiveTransaction(tx.started_at, tx.station_tx_id) if tx else None
        limits = composite_schedule(
            installed, evse_id=evse_id, start=time_base, duration=span, rate_unit=unit, transaction=running,
            voltage=NOMINAL_VOLTAGE,
        )
        moments = sorted({p["startPeriod"] for p in periods} | {p.start_period for p in limits.periods})
        for offset in (m for m in moments if m < span):
            wanted = _ev_limit(periods, offset)
            allowed = limits.limit_at(time_base + timedelta(seconds=offset))
            if allowed is not None and wanted > allowed + TOLERANCE:
                return (f"the EV plans {_text(wanted)} {unit.value} from "
                        f"{to_ocpp(time_base + timedelta(seconds=offset))}; the profiles installed on EVSE "
                        f"{evse_id} allow {_text(allowed)} {unit.value}")
        return None


def _ev_limit(periods: list[dict[str, Any]], offset: int) -> Decimal:
    current = periods[0]
    for period in periods:
        if period["startPeriod"] <= offset:
            current = period
    return Decimal(str(current["limit"]))


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
