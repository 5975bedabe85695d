"""Whether a station shows something to the driver on its own screen: tariffs (`tariff_display`),
a session's cost (`cost_display`), any other station-profile fact of that kind.

The station's effective profile says, where a profile or its stored configuration tells. Where
nothing tells yet and the station's version has configuration keys that would, the station is
asked for them, once per connection: its answer is stored like any other GetConfiguration
answer, so from then on the profile knows. A reconnect may bring new firmware: `forget`
starts over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.services.commands import CommandService
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.store.schema import Station

log = logging.getLogger(__name__)


class DisplayFacts:
    def __init__(self, sessions: async_sessionmaker, profiles: StationProfiles, commands: CommandService) -> None:
        self._sessions = sessions
        self._profiles = profiles
        self._commands = commands
        self._asked: set[tuple[str, str]] = set()
        self._verdicts: dict[tuple[str, str], bool] = {}

    def forget(self, station_id: str, fact: str) -> None:
        """The station connected again: ask it again when `fact` matters. (Each service
        forgets its own facts as it sees the connection, in order with its other events.)"""
        self._asked.discard((station_id, fact))
        self._verdicts.pop((station_id, fact), None)

    def known(self, station_id: str, fact: str) -> bool | None:
        """The verdict last settled this connection, without reading anything (a loop that runs
        often skips a station known not to show `fact`; `shows` reads the profile afresh)."""
        return self._verdicts.get((station_id, fact))

    async def shows(self, station: Station, fact: str, *, ask: bool = True, also: Iterable[str] = ()) -> bool:
        """Whether the station has `fact`. With `ask`, a station whose profile does not tell is
        asked for the keys that would (and for the keys in `also` with them), once per
        connection; a station that cannot be asked, or does not answer, does not show it."""
        key = (station.id, fact)
        verdict = (await self._profiles.of(station)).get(fact)
        keys = self._profiles.keys_for(station, fact)
        if verdict is None and ask and keys and key not in self._asked:
            self._asked.add(key)
            try:
                await self._commands.send(station.id, "get_configuration", {"keys": [*keys, *also]})
            except Exception as exc:  # offline, timed out, refused: then it does not show it
                log.info("%s: could not ask it for %s: %s", station.id, fact, exc)
            async with self._sessions() as session:
                refreshed = await session.get(Station, station.id)
            verdict = (await self._profiles.of(refreshed)).get(fact) if refreshed is not None else None
        if verdict is not None or key in self._asked:
            self._verdicts[key] = bool(verdict)
        return bool(verdict)
