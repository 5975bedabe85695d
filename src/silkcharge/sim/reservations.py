"""A simulated station's reservations, as OCPP 1.6 §5.13 and 2.0.1 block H ask of a station.

ReserveNow is answered from the station's own state (Faulted, Unavailable, Occupied, or
Accepted); a connector held for one reservation shows Reserved; only the reserved token, or a
token of the reservation's group, may start there; a reservation of the whole station (place 0)
keeps one free connector for its token; a reservation lapses at its time (a 2.0.1 station then
sends ReservationStatusUpdate Expired).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from silkcharge.sim.state import ConnectorState, ConnectorStatus

WHOLE_STATION = 0


@dataclass
class Held:
    reservation_id: int
    id_token: str
    group: str | None
    expires_at: datetime
    place: int  # the version's number of an EVSE (1.6 connector, 2.0.1 EVSE); 0: the whole station
    connector_type: str | None = None  # 2.0.1 ConnectorEnumType the held EVSE must have
    connector: ConnectorState | None = None  # the connector shown Reserved

    def admits(self, id_token: str, group: str | None) -> bool:
        return id_token == self.id_token or (self.group is not None and group == self.group)


class ReservationBook:
    def __init__(self, connectors: tuple[ConnectorState, ...], number: Callable[[ConnectorState], int]) -> None:
        self._connectors = connectors
        self._number = number  # a connector's place in the version's numbering
        self.held: dict[int, Held] = {}

    def reserve(self, held: Held, now: datetime) -> str:
        """The ReserveNow answer; an Accepted reservation is held (one with the same id is
        replaced, as both versions ask)."""
        self.lapse(now)
        self.held.pop(held.reservation_id, None)
        candidates = [c for c in self._connectors
                      if held.place in (WHOLE_STATION, self._number(c))
                      and (held.connector_type is None or c.spec.standard.ocpp201 == held.connector_type)]
        if not candidates:
            return "Rejected"
        if held.place != WHOLE_STATION and any(h.place == held.place for h in self.held.values()):
            return "Occupied"
        usable = [c for c in candidates
                  if c.evse_busy or c.status not in (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)]
        if not usable:
            return candidates[0].status.value
        free = [c for c in usable if c.free and c not in self._kept()]
        if not free:
            return "Occupied"
        if held.place != WHOLE_STATION:
            held.connector = free[0]
            free[0].reserved = held.reservation_id
        self.held[held.reservation_id] = held
        return "Accepted"

    def cancel(self, reservation_id: int) -> bool:
        held = self.held.pop(reservation_id, None)
        if held is not None and held.connector is not None:
            held.connector.reserved = None
        return held is not None

    def lapse(self, now: datetime) -> list[Held]:
        """Reservations whose time passed, removed from the book."""
        lapsed = [h for h in self.held.values() if h.expires_at <= now]
        for held in lapsed:
            self.cancel(held.reservation_id)
        return lapsed

    def for_start(self, c: ConnectorState, id_token: str, group: str | None) -> Held | None | bool:
        """The reservation a start by this token on `c` uses (a Held), None when it uses none
        and breaks none, False when it would break one."""
        mine = next((h for h in self.held.values()
                     if h.admits(id_token, group) and h.place in (WHOLE_STATION, self._number(c))), None)
        if mine is not None:
            return mine
        if c.evse_reserved:
            return False
        whole = [h for h in self.held.values() if h.place == WHOLE_STATION]
        others = [o for o in self._connectors if o is not c and o.free and o.reserved is None]
        return False if whole and len(others) < len(whole) else None

    def use(self, held: Held) -> None:
        self.cancel(held.reservation_id)

    def _kept(self) -> list[ConnectorState]:
        """Connectors a whole-station reservation needs to stay free (as many as it holds)."""
        whole = sum(1 for h in self.held.values() if h.place == WHOLE_STATION)
        free = [c for c in self._connectors if c.free and c.reserved is None]
        return free[:whole]
