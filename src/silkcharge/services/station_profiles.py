"""Station profiles as a service: the shipped ones, the ones operators stored, and a station's
effective profile (domain/station_profiles.py says how the layers combine).

Shipped profiles are JSON files in `silkcharge/data/station_profiles/`, read once. Stored ones
(table `station_profiles`) are read again at most every `ttl` seconds, so an edit made through
another API process reaches this one within that time; an edit made here is seen at once.
What a station's configuration says is read by its version's adapter (the `ProtocolAdapter`
port), so this service names no configuration key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.station_profiles import (
    EffectiveProfile,
    ProfileError,
    StationProfile,
    effective,
    fact_json,
    match_from,
    parse_facts,
)
from silkcharge.services.ports import ProtocolAdapter
from silkcharge.store.schema import Station, StationProfileRecord


class UnknownProfile(LookupError):
    pass


class ProfileRefused(ValueError):
    """The change cannot be made as asked (e.g. deleting a profile the package ships)."""


def load_shipped() -> dict[str, StationProfile]:
    """The profiles shipped in the package, by name."""
    folder = resources.files("silkcharge.data").joinpath("station_profiles")
    profiles = {}
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".json"):
            raw = json.loads(item.read_text(encoding="utf-8"))
            profile = _profile(raw["name"], raw["match"], raw["facts"], raw.get("note"),
                               raw.get("sources") or {}, "shipped")
            profiles[profile.name] = profile
    return profiles


def _profile(name: str, match: Mapping[str, Any], facts: Mapping[str, Any], note: str | None,
             sources: Mapping[str, Any], origin: str) -> StationProfile:
    if not isinstance(sources, Mapping) or not all(isinstance(v, str) for v in sources.values()):
        raise ProfileError("sources maps a fact to the text that documents it")
    unknown = set(sources) - set(facts)
    if unknown:
        raise ProfileError(f"sources names facts the profile does not state: {', '.join(sorted(unknown))}")
    return StationProfile(name, match_from(match), parse_facts(facts), note, dict(sources), origin)


def profile_json(profile: StationProfile) -> dict[str, Any]:
    return {
        "name": profile.name, "origin": profile.origin, "match": profile.match.as_dict(),
        "facts": {k: fact_json(v) for k, v in profile.facts.items()}, "note": profile.note,
        "sources": profile.sources,
    }


def effective_json(profile: EffectiveProfile) -> dict[str, Any]:
    return {
        "profiles": list(profile.profiles),
        "facts": {name: {"value": fact_json(f.value), "source": f.source} for name, f in profile.facts.items()},
    }


class StationProfiles:
    def __init__(
        self, sessions: async_sessionmaker, adapters: Mapping[str, ProtocolAdapter], *, ttl: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._adapters = adapters
        """By OCPP version; the composition root fills it once the adapters exist."""
        self._shipped = load_shipped()
        self._ttl = ttl
        self._stored: dict[str, StationProfile] | None = None
        self._read_at = 0.0

    # -- the profiles ---------------------------------------------------------------------------

    async def all(self, session: AsyncSession | None = None) -> list[StationProfile]:
        """Shipped and stored profiles, a stored one replacing a shipped one of its name. A caller
        inside a database transaction passes its session (SQLite has one connection)."""
        stored = await self._stored_profiles(session)
        merged = {**self._shipped, **stored}
        return [merged[name] for name in sorted(merged)]

    async def get(self, name: str) -> StationProfile:
        for profile in await self.all():
            if profile.name == name:
                return profile
        raise UnknownProfile(f"no station profile {name}")

    async def put(self, name: str, match: Mapping[str, Any], facts: Mapping[str, Any],
                  note: str | None, sources: Mapping[str, Any]) -> tuple[StationProfile, bool]:
        """Store a profile (a new one, or a change of a stored or shipped one); whether it is new."""
        origin = "edited" if name in self._shipped else "stored"
        profile = _profile(name, match, facts, note, sources, origin)
        async with self._sessions.begin() as session:
            row = await session.get(StationProfileRecord, name)
            created = row is None and name not in self._shipped
            if row is None:
                row = StationProfileRecord(name=name)
                session.add(row)
            row.match = profile.match.as_dict()
            row.facts = {k: fact_json(v) for k, v in profile.facts.items()}
            row.note, row.sources, row.updated_at = note, dict(sources), utcnow()
        self._stored = None
        return profile, created

    async def delete(self, name: str) -> StationProfile | None:
        """Delete a stored profile; for an edited shipped one, the shipped one applies again
        (and is returned)."""
        async with self._sessions.begin() as session:
            row = await session.get(StationProfileRecord, name)
            if row is None:
                if name in self._shipped:
                    raise ProfileRefused(
                        f"station profile {name} ships with silkcharge and cannot be deleted; "
                        "store a changed version under its name instead")
                raise UnknownProfile(f"no station profile {name}")
            await session.delete(row)
        self._stored = None
        return self._shipped.get(name)

    async def _stored_profiles(self, session: AsyncSession | None) -> dict[str, StationProfile]:
        now = asyncio.get_running_loop().time()
        if self._stored is None or now - self._read_at > self._ttl:
            if session is not None:
                rows = (await session.scalars(select(StationProfileRecord))).all()
            else:
                async with self._sessions() as own:
                    rows = (await own.scalars(select(StationProfileRecord))).all()
            self._stored = {
                row.name: _profile(row.name, row.match, row.facts, row.note, row.sources or {},
                                   "edited" if row.name in self._shipped else "stored")
                for row in rows
            }
            self._read_at = now
        return self._stored

    # -- a station's effective profile ------------------------------------------------------------

    async def of_station(self, station_id: str) -> EffectiveProfile | None:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        return None if station is None else await self.of(station)

    async def of(self, station: Station, session: AsyncSession | None = None) -> EffectiveProfile:
        """The station's facts from its version, vendor, model, firmware and configuration."""
        return effective(
            await self.all(session), station.ocpp_version, station.vendor, station.model,
            station.firmware_version, self.learned(station),
        )

    def learned(self, station: Station) -> dict[str, tuple[Any, str]]:
        """What the station's stored configuration says, read by its version's adapter."""
        adapter = self._adapters.get(station.ocpp_version or "")
        return adapter.profile_facts(station.configuration or {}) if adapter else {}

    def keys_for(self, station: Station, fact: str) -> tuple[str, ...]:
        """The configuration keys that would tell `fact` for this station (to ask it)."""
        adapter = self._adapters.get(station.ocpp_version or "")
        return adapter.profile_keys(fact) if adapter else ()
