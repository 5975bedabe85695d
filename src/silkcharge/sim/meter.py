"""A connector's energy meter and the simulated EV drawing power through it.

Pure arithmetic on Decimal: the caller supplies monotonic time, so the model is deterministic
under test. The register only ever grows (it is the station's fiscal meter, not a session
counter); sessions read it at start and stop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from silkcharge.domain.connectors import CurrentType
from silkcharge.sim.spec import ConnectorSpec

_SECONDS_PER_HOUR = Decimal(3600)
_PHASE_VOLTAGE = Decimal(230)
_SINGLE_PHASE_LIMIT_W = Decimal(7400)
_DC_TAPER_FROM_SOC = Decimal(80)
_TENTH = Decimal("0.1")


@dataclass
class Ev:
    """What the simulated car wants: how much energy, how fast, and its battery for SoC.

    A bidirectional car (`max_discharge_w` > 0, OCPP 2.1 V2X) also gives energy back when the
    station asks it to (a negative setpoint it is allowed to follow), never below `min_soc`.
    `delivered_wh` is the net energy into its battery; `exported_wh` what it gave back."""

    battery_wh: Decimal
    soc_start: Decimal
    wanted_wh: Decimal
    max_power_w: Decimal
    delivered_wh: Decimal = Decimal(0)
    max_discharge_w: Decimal = Decimal(0)
    min_soc: Decimal = Decimal(20)  # % the car keeps for driving, whatever it is asked
    exported_wh: Decimal = Decimal(0)

    @property
    def bidirectional(self) -> bool:
        return self.max_discharge_w > 0

    @property
    def soc(self) -> Decimal:
        return max(Decimal(0), min(Decimal(100), self.soc_start + self.delivered_wh * 100 / self.battery_wh))

    @property
    def dischargeable_wh(self) -> Decimal:
        """What the car may still give back before it reaches its minimum state of charge."""
        return max(Decimal(0), (self.soc - self.min_soc) * self.battery_wh / 100)

    @property
    def full(self) -> bool:
        return self.delivered_wh >= self.wanted_wh or self.soc >= 100

    @classmethod
    def random(cls, rng: random.Random, current: CurrentType, energy_kwh: Decimal | None) -> Ev:
        battery_wh = Decimal(rng.choice((40_000, 60_000, 77_000, 100_000)))
        soc_start = Decimal(rng.randint(10, 50))
        if current is CurrentType.AC:
            max_power_w = Decimal(rng.choice((7_400, 11_000, 22_000)))
        else:
            max_power_w = Decimal(rng.choice((50_000, 100_000, 150_000)))
        if energy_kwh is None:
            wanted_wh = battery_wh * (Decimal(90) - soc_start) / 100
        else:
            wanted_wh = Decimal(str(energy_kwh)) * 1000
        return cls(battery_wh, soc_start, wanted_wh, max_power_w)


@dataclass(frozen=True)
class MeterSample:
    """One reading as OCPP reports it: register in Wh, power in W, per-phase current."""

    energy_wh: int
    power_w: int
    voltage_v: Decimal
    current_a: tuple[Decimal, ...]
    soc_percent: int | None
    current_type: CurrentType
    export_wh: int = 0  # the export register (energy a bidirectional car gave back)


class Meter:
    """Energy register of one connector; `advance` integrates the EV's power over time."""

    def __init__(self, spec: ConnectorSpec, rng: random.Random, register_wh: Decimal) -> None:
        self._spec = spec
        self._rng = rng
        self.register_wh = register_wh
        self.export_register_wh = Decimal(0)
        self.ev: Ev | None = None
        self._last: float | None = None
        # The most the station lets this connector draw (W), from its charging profiles;
        # returns None when nothing limits it.
        self.cap: Callable[[], Decimal | None] = lambda: None
        # What the station asks a bidirectional car to discharge now (W, negative), from its
        # charging profile's setpoint once the transaction may use a bidirectional mode; None: nothing.
        self.setpoint: Callable[[], Decimal | None] = lambda: None

    @property
    def current_type(self) -> CurrentType:
        return self._spec.standard.current

    @property
    def phases(self) -> int:
        if self.current_type is CurrentType.DC:
            return 1
        return 1 if self._spec.max_power_kw * 1000 <= _SINGLE_PHASE_LIMIT_W else 3

    def connect(self, ev: Ev, now: float) -> None:
        self.ev, self._last = ev, now

    def disconnect(self) -> None:
        self.ev, self._last = None, None

    def advance(self, now: float) -> MeterSample:
        """Add the energy delivered since the last call and return the reading at `now`."""
        if self.ev is not None and self._last is not None:
            seconds = Decimal(str(max(0.0, now - self._last)))
            power = self.power_w()
            if power < 0:  # a bidirectional car gives energy back, down to its minimum state of charge
                given_wh = min(-power * seconds / _SECONDS_PER_HOUR, self.ev.dischargeable_wh)
                self.ev.delivered_wh -= given_wh
                self.ev.exported_wh += given_wh
                self.export_register_wh += given_wh
            else:
                step_wh = power * seconds / _SECONDS_PER_HOUR
                step_wh = min(step_wh, max(Decimal(0), self.ev.wanted_wh - self.ev.delivered_wh))
                self.ev.delivered_wh += step_wh
                self.register_wh += step_wh
            self._last = now
        return self.sample()

    def power_w(self) -> Decimal:
        """What flows now (W): positive into the car, negative out of a discharging one."""
        if self.ev is not None and self.ev.bidirectional:
            asked = self.setpoint()
            if asked is not None and asked < 0:
                if self.ev.dischargeable_wh <= 0:
                    return Decimal(0)
                return max(asked, -min(self.ev.max_discharge_w, self._spec.max_power_kw * 1000))
        if self.ev is None or self.ev.full:
            return Decimal(0)
        power = min(self._spec.max_power_kw * 1000, self.ev.max_power_w)
        if self.current_type is CurrentType.DC and self.ev.soc > _DC_TAPER_FROM_SOC:
            headroom = (Decimal(100) - self.ev.soc) / (Decimal(100) - _DC_TAPER_FROM_SOC)
            power = power * max(Decimal("0.1"), headroom)
        cap = self.cap()
        return power if cap is None else min(power, cap)

    def sample(self) -> MeterSample:
        power = self.power_w()
        voltage = self._voltage()
        per_phase = abs(power) / voltage / self.phases
        cap = self.cap()
        if cap is not None and self.current_type is CurrentType.AC:
            # The charger limits current (the pilot signal); power follows the grid's voltage.
            per_phase = min(per_phase, cap / _PHASE_VOLTAGE / self.phases)
        current = tuple(per_phase.quantize(_TENTH) for _ in range(self.phases))
        soc = None
        if self.ev is not None and (self.current_type is CurrentType.DC or self.ev.bidirectional):
            soc = int(self.ev.soc.to_integral_value(ROUND_FLOOR))
        return MeterSample(
            energy_wh=int(self.register_wh.to_integral_value(ROUND_FLOOR)),
            power_w=int(power),  # towards 0, for a discharge too
            voltage_v=voltage.quantize(_TENTH),
            current_a=current,
            soc_percent=soc,
            current_type=self.current_type,
            export_wh=int(self.export_register_wh.to_integral_value(ROUND_FLOOR)),
        )

    def _voltage(self) -> Decimal:
        jitter = Decimal(str(round(self._rng.uniform(-2, 2), 1)))
        if self.current_type is CurrentType.AC:
            return _PHASE_VOLTAGE + jitter
        soc = self.ev.soc if self.ev is not None else Decimal(0)
        return Decimal(360) + soc * Decimal("0.6") + jitter
