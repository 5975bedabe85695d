"""Charging stops priced through the planner's hook: per stop, totals per currency, and a stop
without a tariff that says so."""

from __future__ import annotations

from decimal import Decimal

from silkcharge.domain.connectors import ConnectorStandard as S
from silkcharge.trips.planner import SessionPrice, TripRequest, Unpriced, no_tariffs, plan_trip
from tests.trips.helpers import index, line_graph, site, vehicle

PER_KWH = {"KZ-OP": (Decimal(100), "KZT"), "KG-OP": (Decimal(20), "KGS")}


def per_kwh(site, option, energy_kwh, minutes, start):
    """A tariff per operator: a fixed price per kWh (rounded to the whole kWh)."""
    if site.operator not in PER_KWH:
        return Unpriced(f"no tariff is published for site {site.code}")
    price, currency = PER_KWH[site.operator]
    kwh = Decimal(round(energy_kwh))
    return SessionPrice(price * kwh, currency, f"{site.operator}-TARIFF", price * kwh)


def cross_border():
    roads = line_graph([0, 150, 300, 450, 600], {0: "West", 4: "East"},
                       countries=["KZ", "KZ", "KG", "KG", "KG"])
    sites = [site(roads, 1, "KZ-1", (S.CCS2, 150), operator="KZ-OP"),
             site(roads, 2, "KG-2", (S.CCS2, 150), operator="KG-OP"),
             site(roads, 3, "KG-3", (S.CCS2, 150), operator="OTHER")]
    return TripRequest("West", "East", vehicle(), start_soc=70, min_arrival_soc=10,
                       min_destination_soc=10, max_charge_soc=100), index(roads, *sites)


def test_each_stop_is_priced_and_totals_are_per_currency_never_summed_across():
    request, network = cross_border()
    plan = plan_trip(request, network, price_session=per_kwh)
    by_site = {s.site_code: s for s in plan.stops}
    assert {"KZ-1", "KG-2"} <= by_site.keys()
    for stop in plan.stops:
        if stop.operator in PER_KWH:
            price, currency = PER_KWH[stop.operator]
            assert stop.cost == SessionPrice(price * round(stop.energy_kwh), currency,
                                             f"{stop.operator}-TARIFF", price * round(stop.energy_kwh))
            assert stop.cost_note is None
        else:
            assert stop.cost is None and "no tariff is published for site KG-3" in stop.cost_note
    totals = {t.currency: t.amount for t in plan.priced_cost}
    assert totals == {c: sum(s.cost.amount for s in plan.stops if s.cost and s.cost.currency == c)
                      for c in ("KZT", "KGS")}
    assert plan.cost == (None if plan.unpriced_stops else plan.priced_cost)


def test_the_hook_never_changes_which_plan_is_fastest():
    request, network = cross_border()
    priced = plan_trip(request, network, price_session=per_kwh)
    unpriced = plan_trip(request, network)
    assert [s.site_code for s in priced.stops] == [s.site_code for s in unpriced.stops]
    assert priced.total_min == unpriced.total_min


def test_without_tariffs_every_stop_says_why_it_has_no_price():
    request, network = cross_border()
    plan = plan_trip(request, network, price_session=no_tariffs)
    assert plan.stops and all(s.cost is None and s.cost_note for s in plan.stops)
    assert plan.cost is None and plan.priced_cost == [] and plan.unpriced_stops == len(plan.stops)
