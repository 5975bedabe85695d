"""Tariff information on the charger's display (OCPP 2.0.1 I01, I04, I05, I06).

The prices come from `BillingService` (the tariff that applies to the driver, with the caps
the receipt applies), the words from `domain/tariff_text.py`. This service decides what each
display gets and when:

- I01: the driver's own tariff at this station, in their language, as `idTokenInfo.
  personalMessage` of the AuthorizeResponse and of the TransactionEventResponse to `Started`
  (with `language1`, the driver's account language, where it is known).
- I06: `updatedPersonalMessage` in a TransactionEventResponse whose meter readings fall where
  other unit prices are in force than the driver was last shown: a time-of-day period began, a
  kWh or duration step was passed, or a tariff published meanwhile now applies to the session
  (the running price, as I02 shows it and the CDR will bill it, decides).
- I04 / I05: `TariffCostCtrlr.TariffFallbackMessage` (the station's tariff for anyone) and
  `TotalCostFallbackMessage`, written with SetVariables on every accepted boot and whenever a
  tariff of its site or operator is published or deleted (only where the text changed).

Only stations that show tariffs get any of it: their effective profile's `tariff_display`
(a 2.0.1 station's `TariffCostCtrlr.Enabled[Tariff]`, or a profile). When nothing says, a
station with a tariff to show is asked once per connection, on boot.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import (
    StationBooted,
    StationConnected,
    TariffsChanged,
    TransactionEnded,
)
from silkcharge.domain.pricing import UnitPrices
from silkcharge.domain.tariff_text import (
    TariffText,
    choose_language,
    no_tariff,
    tariff_message,
    total_cost_fallback,
)
from silkcharge.services.billing import BillingService, RunningRead
from silkcharge.services.commands import CommandService
from silkcharge.services.display_facts import DisplayFacts
from silkcharge.services.display_messages import LANGUAGE_KEY, station_languages
from silkcharge.services.ports import ProtocolAdapter
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.store.schema import Driver, DriverToken, IdToken, Site, Station, Transaction

log = logging.getLogger(__name__)

TARIFF_FALLBACK = "TariffCostCtrlr.TariffFallbackMessage"
TOTAL_COST_FALLBACK = "TariffCostCtrlr.TotalCostFallbackMessage"
FACT = "tariff_display"


@dataclass(frozen=True)
class DriverTariff:
    """What an idTokenInfo carries: the message, and the driver's own language when known."""

    message: TariffText
    driver_language: str | None


class TariffInfoService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        billing: BillingService,
        commands: CommandService,
        adapters: dict[str, ProtocolAdapter],
        profiles: StationProfiles,
        displays: DisplayFacts,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._billing = billing
        self._commands = commands
        self._adapters = adapters
        self._profiles = profiles
        self._displays = displays
        self._told: dict[int, UnitPrices] = {}
        """Per active session, the unit prices its driver was last shown (this process's)."""
        self._untold: set[int] = set()
        """Active sessions whose station shows no tariff (or that have none): never told."""
        self._task: asyncio.Task | None = None

    # -- what the adapter asks while answering ------------------------------------------------

    async def for_driver(
        self, station_id: str, evse_id: int | None, id_token: str, at: datetime,
    ) -> DriverTariff | None:
        """I01: the driver's tariff at this station (EVSE), or None when the station does not
        show tariffs or no tariff applies."""
        told = await self._quote(station_id, evse_id, id_token, at)
        return None if told is None else told[0]

    async def started(
        self, transaction_id: int, station_id: str, evse_id: int, id_token: str, at: datetime,
    ) -> DriverTariff | None:
        """I01 for a session's Started event; remembers the prices shown, for I06."""
        told = await self._quote(station_id, evse_id, id_token, at)
        if told is None:
            self._untold.add(transaction_id)
            return None
        self._told[transaction_id] = told[1]
        return told[0]

    async def _quote(
        self, station_id: str, evse_id: int | None, id_token: str, at: datetime,
    ) -> tuple[DriverTariff, UnitPrices] | None:
        station = await self._station(station_id)
        if station is None or not await self._shows(station):
            return None
        quote = await self._billing.quote(station_id, evse_id, id_token, at)
        if quote is None:
            return None
        driver = await self._driver_language(id_token)
        message = tariff_message(quote[1], _language(station, driver), "driver")
        return DriverTariff(message, driver), quote[1]

    async def updated(self, transaction_id: int, read: RunningRead | None = None) -> TariffText | None:
        """I06: the prices in force at the session's latest reading, when they are not the ones
        its driver was last shown. After a restart of this process the baseline is the quote
        at the session's start. `read`: the session's running-cost row as the write of the
        message being answered read it (`BillingService.read_running`). The session and its
        station are read only to decide a session not told by this process, and to word a
        change: an unchanged price, every reply of a told session but a few, reads nothing
        more than its running cost."""
        if transaction_id in self._untold:  # the hot path: most Updated events end here
            return None
        before = self._told.get(transaction_id)
        tx = station = None
        if before is None:  # not told at its start by this process: decided once per session
            tx, station = await self._session_and_station(transaction_id)
            quote = None
            if tx is not None and station is not None and await self._shows(station):
                quote = await self._billing.quote(tx.station_id, tx.evse_id, tx.id_token, tx.started_at)
            if quote is None:
                self._untold.add(transaction_id)
                return None
            before = quote[1]
        cost = await self._billing.running_cost(transaction_id, read)
        if cost is None:
            return None
        if _same(before, cost.prices):
            self._told[transaction_id] = cost.prices
            return None
        if tx is None:  # not read above (a session told by this process)
            tx, station = await self._session_and_station(transaction_id)
        if tx is None or station is None:
            return None
        self._told[transaction_id] = cost.prices
        language = _language(station, await self._driver_language(tx.id_token))
        return tariff_message(cost.prices, language, "now")

    async def _session_and_station(self, transaction_id: int) -> tuple[Transaction | None, Station | None]:
        async with self._sessions() as session:
            tx = await session.get(Transaction, transaction_id)
            station = await session.get(Station, tx.station_id) if tx is not None else None
        return tx, station

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="tariff-info-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10)
            self._task = None

    async def _follow(self) -> None:
        async with self._bus.subscribe(
            local_only=True, kinds=(StationConnected, StationBooted, TariffsChanged, TransactionEnded)
        ) as events:
            while True:
                event = await events.get()
                try:
                    if isinstance(event, StationConnected):
                        self._displays.forget(event.station_id, FACT)
                    elif isinstance(event, StationBooted) and event.status == "Accepted":
                        await self.write_fallbacks(event.station_id, always=True)
                    elif isinstance(event, TariffsChanged):
                        for station_id in await self._stations_of(event):
                            await self.write_fallbacks(station_id)
                    elif isinstance(event, TransactionEnded):
                        self._told.pop(event.transaction_id, None)
                        self._untold.discard(event.transaction_id)
                except Exception:
                    log.exception("could not update the tariff texts after %s", event)

    # -- I04 / I05 ------------------------------------------------------------------------------

    async def write_fallbacks(self, station_id: str, *, always: bool = False) -> bool:
        """Write the station's fallback messages from its tariff; `always` writes them even when
        the station's stored configuration already holds them (after a boot it may not)."""
        station = await self._station(station_id)
        adapter = self._adapters.get(station.ocpp_version or "") if station else None
        if station is None or adapter is None or not adapter.can_build("set_configuration_values"):
            return False
        if (await self._profiles.of(station)).get(FACT) is False:
            return False  # said so: not even priced
        quote = await self._billing.quote(station_id, None, None, utcnow())
        # Asked only when there is a tariff to show; "no price here" only to one known to show.
        if not await self._shows(station, ask=quote is not None):
            return False
        station = await self._station(station_id) or station
        language = _language(station, None)
        tariff = tariff_message(quote[1], language, "station") if quote is not None else no_tariff(language)
        values = {TARIFF_FALLBACK: tariff.content, TOTAL_COST_FALLBACK: total_cost_fallback(language).content}
        stored = station.configuration or {}
        if not always and all(stored.get(key) == value for key, value in values.items()):
            return False
        try:
            await self._commands.send(station_id, "set_configuration_values", {"values": values})
        except Exception as exc:  # offline, refused: written again on its next boot
            log.info("%s: tariff fallback messages not written: %s", station_id, exc)
            return False
        return True

    async def _stations_of(self, event: TariffsChanged) -> list[str]:
        async with self._sessions() as session:
            query = select(Station.id).join(Site, Site.id == Station.site_id).where(
                Site.operator_id == event.operator_id, Station.online.is_(True))
            if event.site_id is not None:
                query = query.where(Site.id == event.site_id)
            return list((await session.scalars(query.order_by(Station.id))).all())

    # -- helpers ---------------------------------------------------------------------------------

    async def _station(self, station_id: str) -> Station | None:
        async with self._sessions() as session:
            return await session.get(Station, station_id)

    async def _shows(self, station: Station, *, ask: bool = False) -> bool:
        """Whether the station shows tariffs; with `ask`, a station that never said is asked
        (with the display's language, where not known: the fallback texts are in it)."""
        language = () if LANGUAGE_KEY in (station.configuration or {}) else (LANGUAGE_KEY,)
        return await self._displays.shows(station, FACT, ask=ask, also=language)

    async def _driver_language(self, id_token: str | None) -> str | None:
        if not id_token:
            return None
        async with self._sessions() as session:
            return await session.scalar(
                select(Driver.language).join(DriverToken, DriverToken.driver_id == Driver.id)
                .join(IdToken, IdToken.id == DriverToken.id_token_id).where(IdToken.token == id_token)
            )


def _language(station: Station, driver: str | None) -> str:
    """The driver's language where the station shows it, else the station's display language,
    else English (docs/ocpp.md, "Tariff texts")."""
    shown, default = station_languages(station.configuration or {})
    return choose_language((driver, default), shown)


def _same(before: UnitPrices, now: UnitPrices) -> bool:
    return (before.currency, before.per_kwh, before.per_hour, before.parking_per_hour, before.cap_per_kwh) == (
        now.currency, now.per_kwh, now.per_hour, now.parking_per_hour, now.cap_per_kwh)
