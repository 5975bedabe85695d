"""The load's phases, run one after another on the same simulated stations.

- **Ramp**: stations that hold no socket connect at `rate` connections a second (over all
  workers) and boot, as a network comes up station by station.
- **Steady**: each station sends `rate` CALLs a second from the mix (0: a closed loop, the next
  CALL as soon as the reply is in), for `seconds`. Only the first `participants` stations take
  part when set; the rest hold their sockets quietly.
- **BootStorm**: a regional power cut ends. Every station drops its socket without a close
  handshake (its power went), then reconnects at a random moment within `window` seconds and
  boots, honouring Pending and Rejected with their interval as a real station does. Absorbed
  when every station is Accepted.
- **ReconnectStorm**: a network blip. A `fraction` of the stations drop and reconnect at the
  same moment, `rounds` times; `overlap` of them open the new socket while the old one is still
  closing (close frame sent, not yet answered), the others abort the old one first. After
  reconnecting, a station sends StatusNotification (it did not reboot, so no BootNotification).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mix:
    """Shares of CALLs in a steady phase. A "transaction" pick starts a session on an idle
    station and stops it on a charging one; MeterValues of a charging station carry its
    transaction id, and its StatusNotification says Charging."""

    heartbeat: float = 0.15
    status: float = 0.15
    meter_values: float = 0.6
    transaction: float = 0.1

    def __post_init__(self) -> None:
        weights = (self.heartbeat, self.status, self.meter_values, self.transaction)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("mix shares must be >= 0 and not all 0")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """'heartbeat=0.2,status=0.2,meter_values=0.6,transaction=0' (missing names are 0)."""
        shares = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or name.strip() not in cls.__dataclass_fields__:
                raise ValueError(
                    f"bad mix entry {part!r}: use name=share with names "
                    f"{', '.join(cls.__dataclass_fields__)}"
                )
            shares[name.strip()] = float(value)
        return cls(**{name: shares.get(name, 0.0) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Ramp:
    rate: float  # connections a second, over all workers
    deadline: float = 600.0  # seconds until stations still not Accepted give up

    name = "ramp"

    def __post_init__(self) -> None:
        _positive(rate=self.rate, deadline=self.deadline)


@dataclass(frozen=True)
class Steady:
    seconds: float
    rate: float = 0.1  # CALLs per station and second; 0: closed loop
    think_s: float = 0.0  # closed loop only: the pause after each reply
    participants: int | None = None  # the first N stations; None: all
    label: str = "steady"

    def __post_init__(self) -> None:
        _positive(seconds=self.seconds)
        if self.rate < 0 or self.think_s < 0:
            raise ValueError("rate and think time must be >= 0")
        if self.participants is not None and self.participants < 1:
            raise ValueError("participants must be at least 1")

    @property
    def name(self) -> str:
        return self.label


@dataclass(frozen=True)
class BootStorm:
    window: float = 5.0  # seconds over which all stations reconnect
    deadline: float = 600.0

    name = "boot-storm"

    def __post_init__(self) -> None:
        _positive(window=self.window, deadline=self.deadline)


@dataclass(frozen=True)
class ReconnectStorm:
    fraction: float = 1.0
    overlap: float = 0.5
    rounds: int = 1
    window: float = 1.0
    deadline: float = 300.0

    name = "reconnect-storm"

    def __post_init__(self) -> None:
        _positive(window=self.window, deadline=self.deadline, rounds=self.rounds)
        if not (0 <= self.fraction <= 1 and 0 <= self.overlap <= 1):
            raise ValueError("reconnect fraction and overlap are shares between 0 and 1")


Phase = Ramp | Steady | BootStorm | ReconnectStorm


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, not {value}")


PHASE_NAMES = ("ramp", "steady", "max", "boot-storm", "reconnect-storm")


def scenario(
    names: str,
    *,
    ramp_rate: float = 500.0,
    seconds: float = 60.0,
    rate: float = 0.1,
    max_participants: int | None = None,
    think_s: float = 0.0,
    storm_window: float = 5.0,
    deadline: float = 600.0,
    reconnect_fraction: float = 1.0,
    reconnect_overlap: float = 0.5,
    reconnect_rounds: int = 1,
) -> tuple[Phase, ...]:
    """Phases from a comma-separated list of PHASE_NAMES, e.g. 'ramp,steady,boot-storm'.
    "max" is a closed-loop steady phase of `max_participants` stations (all when None)."""
    built: list[Phase] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "ramp":
            built.append(Ramp(rate=ramp_rate, deadline=deadline))
        elif name == "steady":
            built.append(Steady(seconds=seconds, rate=rate))
        elif name == "max":
            built.append(Steady(seconds, 0.0, think_s, max_participants, label="max"))
        elif name == "boot-storm":
            built.append(BootStorm(window=storm_window, deadline=deadline))
        elif name == "reconnect-storm":
            built.append(
                ReconnectStorm(
                    reconnect_fraction, reconnect_overlap, reconnect_rounds, 1.0, deadline
                )
            )
        else:
            raise ValueError(f"unknown phase {name!r}: choose from {', '.join(PHASE_NAMES)}")
    if not built:
        raise ValueError("name at least one phase")
    return tuple(built)
