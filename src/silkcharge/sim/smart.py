"""A simulated station's charging profiles: kept as a real station keeps them, and obeyed.

The station stores what SetChargingProfile installs (replacing a profile with the same id, or
with the same purpose and stack level on the same EVSE, as both specifications say), clears
what ClearChargingProfile names, and limits each connector's power to the composite schedule
of everything installed (smart/composite.py, the same code the CSMS uses to check it).

Two switches make a misbehaving station for the bad-input cases: `obey=False` accepts
profiles but draws as if none were installed (a charger that ignores limits), and
`accept=False` answers every SetChargingProfile with Rejected.

EVSE numbers are the version's own: the 1.6 connectorId, or the 2.0.1 evseId; 0 is the station.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from silkcharge.domain.clock import utcnow
from silkcharge.domain.connectors import CurrentType
from silkcharge.smart.composite import (
    ActiveTransaction,
    CompositeSchedule,
    InstalledProfile,
    composite_schedule,
)
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
)

NOMINAL_VOLTAGE = Decimal(230)
MIN_CURRENT_A = Decimal(6)  # IEC 61851: a pilot below 6 A means "do not charge"
_MAX_PURPOSES = (ChargingProfilePurpose.CHARGING_STATION_MAX, ChargingProfilePurpose.EXTERNAL_CONSTRAINTS)


@dataclass(frozen=True)
class Outlet:
    """What the profile store needs to know of one EVSE: rating, phases, its running transaction."""

    number: int
    max_power_w: Decimal
    phases: int
    current: CurrentType
    transaction: Callable[[], ActiveTransaction | None]


class ProfileStore:
    def __init__(self, outlets: list[Outlet], *, obey: bool = True, accept: bool = True) -> None:
        self.outlets = {o.number: o for o in outlets}
        self.installed: list[InstalledProfile] = []
        self.obey = obey
        self.accept = accept

    # ---- SetChargingProfile / ClearChargingProfile -------------------------------------------

    def refusal(self, evse: int, profile: ChargingProfile) -> str | None:
        """Why this station refuses the profile (a reason for statusInfo), or None to accept."""
        if not self.accept:
            return "this station does not accept charging profiles"
        if evse != 0 and evse not in self.outlets:
            return f"no EVSE {evse}"
        if profile.purpose in _MAX_PURPOSES and evse != 0:
            return f"{profile.purpose.value} is set on EVSE 0 only"
        if profile.purpose is ChargingProfilePurpose.TX:
            if evse == 0:
                return "a TxProfile needs an EVSE"
            running = self.outlets[evse].transaction()
            if running is None:
                return f"no transaction runs on EVSE {evse}"
            if profile.transaction_id is not None and profile.transaction_id != running.transaction_id:
                return f"transaction {profile.transaction_id} does not run on EVSE {evse}"
        return None

    def install(self, evse: int, profile: ChargingProfile) -> None:
        self.installed = [
            item for item in self.installed
            if item.profile.id != profile.id
            and not (
                item.evse_id == evse
                and item.profile.purpose is profile.purpose
                and item.profile.stack_level == profile.stack_level
            )
        ]
        self.installed.append(InstalledProfile(evse, profile))

    def clear(
        self, *, profile_id: int | None = None, evse: int | None = None,
        purpose: ChargingProfilePurpose | None = None, stack_level: int | None = None,
    ) -> bool:
        """Remove every profile matching all the given criteria; False when none matched."""

        def matches(item: InstalledProfile) -> bool:
            return (
                (profile_id is None or item.profile.id == profile_id)
                and (evse is None or item.evse_id == evse)
                and (purpose is None or item.profile.purpose is purpose)
                and (stack_level is None or item.profile.stack_level == stack_level)
            )

        kept = [item for item in self.installed if not matches(item)]
        cleared = len(kept) != len(self.installed)
        self.installed = kept
        return cleared

    def transaction_ended(self, evse: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.installed = [
            item for item in self.installed
            if not (item.evse_id == evse and item.profile.purpose is ChargingProfilePurpose.TX)
        ]

    # ---- what the station applies ------------------------------------------------------------

    def composite(self, evse: int, start: datetime, duration: int, unit: ChargingRateUnit) -> CompositeSchedule:
        """GetCompositeSchedule: the limit over the window, the rating where nothing limits."""
        if evse == 0:
            rating_w = sum((o.max_power_w for o in self.outlets.values()), Decimal(0))
            phases = 3
            transaction = None
        else:
            outlet = self.outlets[evse]
            rating_w, phases, transaction = outlet.max_power_w, outlet.phases, outlet.transaction()
        rating = rating_w if unit is ChargingRateUnit.W else rating_w / (NOMINAL_VOLTAGE * phases)
        return composite_schedule(
            self.installed, evse_id=evse, start=start, duration=duration, rate_unit=unit,
            transaction=transaction, voltage=NOMINAL_VOLTAGE, phases=phases, unlimited=rating,
        )

    def power_cap_w(self, evse: int, now: datetime) -> Decimal | None:
        """The most this EVSE may draw now (W), None when nothing limits it or it ignores limits.

        An AC limit below the 6 A minimum stops the car (0 W), as the IEC 61851 pilot does.
        """
        if not self.obey or not self.installed:
            return None
        outlet = self.outlets[evse]
        schedule = composite_schedule(
            self.installed, evse_id=evse, start=now, duration=1, rate_unit=ChargingRateUnit.W,
            transaction=outlet.transaction(), voltage=NOMINAL_VOLTAGE, phases=outlet.phases,
        )
        cap = schedule.periods[0].limit
        if cap is None:
            return None
        if outlet.current is CurrentType.AC and cap < MIN_CURRENT_A * NOMINAL_VOLTAGE * outlet.phases:
            return Decimal(0)
        return cap


    def setpoint_w(self, evse: int, now: datetime) -> Decimal | None:
        """OCPP 2.1 V2X: the setpoint (W; negative discharges) of the transaction's profile in
        force now, bounded by its dischargeLimit; None when the period has none."""
        if not self.obey:
            return None
        outlet = self.outlets[evse]
        running = outlet.transaction()
        candidates = [
            item.profile for item in self.installed
            if item.evse_id == evse and item.profile.valid_at(now)
            and item.profile.purpose in (ChargingProfilePurpose.TX, ChargingProfilePurpose.TX_DEFAULT)
        ]
        if not candidates:
            return None
        # a TxProfile over a TxDefaultProfile, then the highest stack level (as the composite)
        profile = max(candidates, key=lambda p: (p.purpose is ChargingProfilePurpose.TX, p.stack_level))
        start = profile.schedule.start_schedule or (running.started if running else now)
        elapsed = (now - start).total_seconds()
        periods = [p for p in profile.schedule.periods if p.start_period <= elapsed]
        if not periods or (profile.schedule.duration is not None and elapsed >= profile.schedule.duration):
            return None
        period = periods[-1]
        if period.setpoint is None:
            return None
        to_w = Decimal(1) if profile.schedule.rate_unit is ChargingRateUnit.W else NOMINAL_VOLTAGE * outlet.phases
        value = period.setpoint * to_w
        if period.discharge_limit is not None:
            value = max(value, period.discharge_limit * to_w)
        return value


EXTERNAL_PROFILE_ID = 900_000  # + the EVSE: one external constraint per EVSE, replaced in place


def external_constraint(evse: int, amps: Decimal) -> ChargingProfile:
    """The limit an energy management system sets on the station (2.0.1 purpose
    ChargingStationExternalConstraints), as the station keeps it."""
    return ChargingProfile(
        id=EXTERNAL_PROFILE_ID + evse, stack_level=0, purpose=ChargingProfilePurpose.EXTERNAL_CONSTRAINTS,
        kind=ChargingProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(ChargingRateUnit.A, (ChargingSchedulePeriod(0, amps),), start_schedule=utcnow()),
    )
