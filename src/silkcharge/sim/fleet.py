"""A fleet of simulated stations with drivers arriving at random, so a demo shows live sessions.

Each station gets arrivals as a Poisson process (`session_rate_per_hour` per station). A
driver takes a free connector with an unused token, charges 5-40 kWh and leaves a little after
the car is full. Stations connect staggered over `ramp_seconds` so the CSMS is not hit at once.
A `ParkedCar` (the demo depot's V2G taxi) plugs in on its EVSE as soon as its station is up and
stays until the fleet stops: a depot plan pushed to it can make it charge and give energy back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

from silkcharge.sim.charger import (
    AuthorizationRejected,
    ConnectorUnavailable,
    NoActiveTransaction,
    SimulatedCharger,
)
from silkcharge.sim.meter import Ev
from silkcharge.sim.spec import StationSpec, load_fleet

__all__ = ["DEMO_TOKENS", "ParkedCar", "load_fleet", "run_fleet"]

log = logging.getLogger(__name__)

DEMO_TOKENS: tuple[str, ...] = tuple(f"SILK{n:04d}" for n in range(1, 41))
_SHUTDOWN_GRACE_SECONDS = 5.0
CARD_SHARE = 0.3
"""Of the drivers at a 2.1 charger, the share who pay by bank card at it (illustrative)."""
CARD_RESERVE = Decimal(50_000)
"""What the simulated card terminal reserves before a session, in the operator's currency
(illustrative; it settles what the session cost, at most this)."""
# A03: a station asks for a new certificate when it has none or it expires within a month.
CERTIFICATE_RENEWAL = timedelta(days=30)


@dataclass(frozen=True)
class ParkedCar:
    """A car that stays plugged in on one EVSE with its own card for as long as the fleet runs."""

    station_id: str
    evse_id: int
    id_token: str
    car: Ev


async def run_fleet(
    url: str,
    specs: list[StationSpec],
    *,
    session_rate_per_hour: float = 2.0,
    tokens: Sequence[str] = DEMO_TOKENS,
    meter_interval: float = 10.0,
    stop: asyncio.Event,
    ramp_seconds: float = 5.0,
    rng: random.Random | None = None,
    tls_url: str | None = None,
    ca_file: str | None = None,
    token_types: Mapping[str, str] | None = None,
    parked: Sequence[ParkedCar] = (),
    token_places: Mapping[str, str] | None = None,
) -> None:
    """Run every station until `stop` is set, then end open sessions and disconnect. Stations at
    security profile 2 or 3 connect to `tls_url`, trusting `ca_file` (default: the system's CAs).
    Drivers come with the cards of `tokens` in turn (the card that has waited longest goes next,
    and to the back when its driver leaves) and present each with its type from `token_types`
    (2.0.1 IdTokenEnumType; default ISO14443); a card of `token_places` charges only at the
    stations whose id starts with its place (a city's taxi fleet stays in its city). Each of
    `parked` plugs in on its EVSE once its station is up (its card is not given to the other
    drivers)."""
    rng = rng or random.Random()
    chargers = [
        SimulatedCharger(spec, url, meter_interval=meter_interval, rng=random.Random(rng.random()),
                         tls_url=tls_url, ca_file=ca_file,
                         renew_certificate_within=CERTIFICATE_RENEWAL,
                         iso15118=True)  # the cars at 2.0.1 stations state their needs (K15-K17)
        for spec in specs
    ]
    staying = {p.id_token for p in parked}
    free_tokens = [token for token in tokens if token not in staying]
    by_station = {charger.spec.station_id: charger for charger in chargers}
    work: list[asyncio.Task] = []
    for index, charger in enumerate(chargers):
        delay = ramp_seconds * index / max(1, len(chargers))
        work.append(asyncio.create_task(_power_on(charger, delay)))
    starting: set[asyncio.Future] = set()
    drivers = [
        asyncio.create_task(_arrivals(charger, session_rate_per_hour, free_tokens, charger.rng, token_types or {},
                                      starting, token_places or {}))
        for charger in chargers
    ]
    drivers += [asyncio.create_task(_park(by_station[p.station_id], p, token_types or {}, starting))
                for p in parked if p.station_id in by_station]
    try:
        await stop.wait()
    finally:
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
        # A start under way when the drivers were called off finishes, so its session is ended
        # below like the others (else the CSMS keeps a session no station will ever stop).
        await asyncio.gather(*starting, return_exceptions=True)
        await _end_open_sessions(chargers)
        await asyncio.gather(*(charger.stop() for charger in chargers))
        await asyncio.gather(*work, return_exceptions=True)


async def _power_on(charger: SimulatedCharger, delay: float) -> None:
    await asyncio.sleep(delay)
    await charger.run()


T = TypeVar("T")


async def _start(starting: set[asyncio.Future], begin: Awaitable[T]) -> T:
    """Start a session so that cancelling the driver does not cut it short: the start runs to
    its end (kept in `starting` meanwhile, for the fleet's shutdown to wait on)."""
    start = asyncio.ensure_future(begin)
    starting.add(start)
    start.add_done_callback(starting.discard)
    return await asyncio.shield(start)


async def _arrivals(
    charger: SimulatedCharger, rate_per_hour: float, free_tokens: list[str], rng: random.Random,
    token_types: Mapping[str, str], starting: set[asyncio.Future], token_places: Mapping[str, str],
) -> None:
    here = charger.spec.station_id
    if rate_per_hour <= 0:
        return
    async with asyncio.TaskGroup() as visits:
        while True:
            await asyncio.sleep(rng.expovariate(rate_per_hour / 3600))
            free = [c for c in charger.connectors if c.free]
            if not free or not free_tokens or not charger.booted.is_set():
                continue
            connector = rng.choice(free)
            if charger.spec.ocpp_version == "2.1" and rng.random() < CARD_SHARE:
                visits.create_task(_visit(charger, (connector.evse_id, connector.connector_id), None, free_tokens,
                                          rng, starting))
                continue
            # the card that has waited longest, of those that charge here
            token = next((t for t in free_tokens if here.startswith(token_places.get(t, ""))), None)
            if token is None:
                continue
            free_tokens.remove(token)
            visits.create_task(_visit(charger, (connector.evse_id, connector.connector_id),
                                      token, free_tokens, rng, starting, token_types.get(token, "ISO14443")))


async def _park(charger: SimulatedCharger, parked: ParkedCar, token_types: Mapping[str, str],
                starting: set[asyncio.Future]) -> None:
    """Plug the car in once the station is up, and again should the session end (a reboot)."""
    while True:
        await charger.booted.wait()
        connector = charger.connector(parked.evse_id)
        if connector.session is None and connector.free:
            try:
                await _start(starting, charger.plug_in_and_charge(
                    parked.evse_id, parked.id_token, car=parked.car,
                    token_type=token_types.get(parked.id_token, "ISO14443")))
            except (AuthorizationRejected, ConnectorUnavailable) as outcome:
                log.warning("%s: parked car %s not plugged in: %s", charger.spec.station_id, parked.id_token, outcome)
                return
        await asyncio.sleep(5)


async def _visit(
    charger: SimulatedCharger, connector: tuple[int, int], token: str | None, free_tokens: list[str],
    rng: random.Random, starting: set[asyncio.Future], token_type: str = "ISO14443",
) -> None:
    """One driver: charge, stay until a while after the car is full, leave. No token: a driver
    without an app who pays by bank card at the charger (OCPP 2.1)."""
    energy_kwh = Decimal(rng.randint(5, 40))
    power_kw = charger.connector(connector).spec.max_power_kw
    dwell_seconds = float(energy_kwh / power_kw) * 3600 * rng.uniform(1.1, 1.6)
    try:
        if token is None:
            transaction_id = await _start(starting, charger.pay_by_card(connector, CARD_RESERVE, energy_kwh=energy_kwh))
        else:
            transaction_id = await _start(starting, charger.plug_in_and_charge(
                connector, token, energy_kwh=energy_kwh, token_type=token_type))
        await asyncio.sleep(dwell_seconds)
        if transaction_id in charger.transactions:
            await charger.stop_charging(connector)
    except (AuthorizationRejected, ConnectorUnavailable, NoActiveTransaction) as outcome:
        log.info("%s: driver with %s: %s", charger.spec.station_id, token, outcome)
    finally:
        if token is not None:
            free_tokens.append(token)


async def _end_open_sessions(chargers: list[SimulatedCharger]) -> None:
    """Drivers leave when the demo ends, so the CSMS sees no session left hanging."""
    endings = [
        charger.stop_charging((session.connector.evse_id, session.connector.connector_id))
        for charger in chargers
        for session in charger.transactions.values()
        if charger.booted.is_set()
    ]
    if endings:
        try:
            await asyncio.wait_for(asyncio.gather(*endings, return_exceptions=True),
                                   _SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning("fleet: some sessions were still open at shutdown")
