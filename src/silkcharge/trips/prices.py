"""Prices for the trip planner (`trips.planner.PriceSession`): what a regular driver pays at
each stop, at our sites by our tariffs and at roaming partners' sites by theirs, converted
into our drivers' currency as search converts them (services/partner_sites.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.compat import ChargeOption
from silkcharge.domain.exchange import AppliedRate, InvalidRate, NoRate, StaleRate, convert_price
from silkcharge.domain.pricing import PricingError, estimate
from silkcharge.domain.tariffs import InvalidTariff, NoApplicableTariff, Tariff, select_tariff
from silkcharge.services.exchange_rates import ExchangeRates
from silkcharge.services.partner_sites import (
    PartnerLocation,
    driver_currency,
    partner_locations,
    partner_price,
    partner_tariffs,
)
from silkcharge.store.schema import Site, TariffRecord
from silkcharge.trips.network import ChargingSite, partner_site_code
from silkcharge.trips.planner import SessionPrice, Unpriced

log = logging.getLogger(__name__)


class TripPrices:
    """The planner's price hook over the stored tariffs: a regular driver's price for each stop,
    by `domain.pricing.estimate` (the computation search, the charger display and receipts use),
    at the time the stop starts (now, when the trip has no departure time)."""

    def __init__(self, sites: dict[str, tuple[int, int, str]], tariffs: list[tuple[int, int | None, Tariff]],
                 clock: Callable[[], datetime] = utcnow, partners: PartnerPrices | None = None) -> None:
        self._sites = sites
        """Site code -> (site id, operator id, time zone)."""
        self._tariffs = tariffs
        """Every tariff, site-specific ones first: (operator id, site id or None, tariff)."""
        self._clock = clock
        self._partners = partners

    @classmethod
    async def load(cls, sessions: async_sessionmaker, rate_max_age_days: int | None = None) -> TripPrices:
        """Every published tariff and where it applies: a few hundred rows, parsed once; and
        the roaming partners' sites, tariffs and the rates into our currency."""
        partners = await PartnerPrices.load(sessions, rate_max_age_days)
        async with sessions() as session:
            sites = {row.code: (row.id, row.operator_id, row.timezone) for row in await session.execute(
                select(Site.code, Site.id, Site.operator_id, Site.timezone))}
            rows = await session.execute(
                select(TariffRecord.operator_id, TariffRecord.site_id, TariffRecord.body)
                .order_by(TariffRecord.site_id.is_(None), TariffRecord.id))
            tariffs = []
            for operator_id, site_id, body in rows:
                try:
                    tariffs.append((operator_id, site_id, Tariff.from_ocpi(body)))
                except (InvalidTariff, KeyError, TypeError, ValueError):
                    log.warning("stored tariff %s cannot be read; trips do not use it", body.get("id"))
        return cls(sites, tariffs, partners=partners)

    def price(self, site: ChargingSite, option: ChargeOption, energy_kwh: float, minutes: float,
              start: datetime | None) -> SessionPrice | Unpriced:
        if site.roaming is not None:
            if self._partners is None:
                return Unpriced(f"{site.code} is a roaming partner's site and its tariffs are not loaded")
            return self._partners.price(site, option, energy_kwh, minutes, start or self._clock())
        known = self._sites.get(site.code)
        if known is None:
            return Unpriced(f"site {site.code} is not in the store, so it has no tariff")
        site_id, operator_id, zone = known
        here = [t for op, s, t in self._tariffs if op == operator_id and s in (site_id, None)]
        if not here:
            return Unpriced(f"no tariff is published for site {site.code}")
        at = start or self._clock()
        try:
            tariff = select_tariff(here, at, driver_category="regular")
            priced = estimate(tariff, Decimal(f"{energy_kwh:.3f}"), Decimal(f"{max(minutes, 0.01):.2f}"),
                              at.astimezone(ZoneInfo(zone)))
        except (NoApplicableTariff, PricingError) as exc:
            return Unpriced(str(exc))
        total = priced.total_cost
        return SessionPrice((total.incl_vat or total.excl_vat).amount, priced.currency, tariff.id,
                            total.excl_vat.amount)


class PartnerPrices:
    """A stop at a roaming partner's site priced as search prices it (services/partner_sites.py):
    the partner's tariff of the connector the car uses, in its currency with its VAT, converted
    into our drivers' currency at the latest rate entered; in the partner's currency when no
    rate is entered yet."""

    def __init__(self, locations: dict[str, PartnerLocation], tariffs: dict, ours: str | None,
                 rates: dict[str, AppliedRate]) -> None:
        self._locations = locations
        self._tariffs = tariffs
        self._ours = ours
        self._rates = rates

    @classmethod
    async def load(cls, sessions: async_sessionmaker, max_age_days: int | None) -> PartnerPrices:
        async with sessions() as session:
            found = await partner_locations(session)
            tariffs = await partner_tariffs(session)
            ours = await driver_currency(session)
            rates: dict[str, AppliedRate] = {}
            if ours is not None:
                exchange = ExchangeRates(sessions, max_age_days or 7)
                for currency in {t.currency for t in tariffs.values()} - {ours}:
                    try:
                        rates[currency] = await exchange.rate_on(currency, ours, utcnow().date(), session)
                    except (NoRate, StaleRate, InvalidRate):
                        continue
        locations = {partner_site_code(loc.roaming.party, loc.roaming.location_id): loc for loc in found.values()}
        return cls(locations, tariffs, ours, rates)

    def price(self, site: ChargingSite, option: ChargeOption, energy_kwh: float, minutes: float,
              at: datetime) -> SessionPrice | Unpriced:
        location = self._locations.get(site.code)
        connector = None if location is None else next(
            (c for evse in location.evses for c in evse.connectors if c.standard == option.standard), None)
        if location is None or connector is None:
            return Unpriced(f"the roaming partner no longer publishes a {option.standard.label} connector at {site.code}")
        tariff, total, why = partner_price(self._tariffs, location, connector, Decimal(f"{energy_kwh:.3f}"),
                                           Decimal(f"{max(minutes, 0.01):.2f}"), at,
                                           at.astimezone(ZoneInfo(location.timezone)))
        if tariff is None or total is None:
            return Unpriced(why)
        rate = self._rates.get(total.currency)
        if rate is not None:
            total = convert_price(total, rate).converted
        return SessionPrice((total.incl_vat or total.excl_vat).amount, total.currency, tariff.id, total.excl_vat.amount)
