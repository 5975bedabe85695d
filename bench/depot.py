"""Depot scheduling benchmark: 40 and 200 synthetic taxis overnight, 15-minute slots.

Run: .venv/bin/python bench/depot.py [--sizes 40 200] [--seed 2025]

The generator (seeded `random.Random`, so every run sees the same fleet):
* horizon 17:00 to 09:00 local time (UTC+5, Dushanbe/Almaty), 64 slots of 15 minutes;
* arrival uniform in 17:00-23:00 local, on a 5-minute grid; departure uniform in 05:00-08:00;
* 70 % of vehicles on 22 kW three-phase AC, 30 % on 11 kW;
* battery uniform 40-75 kWh, arrival state of charge uniform 10-50 %, target 90 %;
* three-zone time-of-use prices (TJS/kWh): night 23-07 0.20, day 07-17 0.45, evening 17-23 0.70,
  and a demand charge of 15 TJS per kW of the night's peak grid draw;
* a flat 20 kW base load;
* grid connection = 60 % of the uncontrolled peak (see below), plus the base load.

Uncontrolled charging (`depot.uncontrolled`): every vehicle at full power from the first whole
slot after arrival until it has its energy; if the total exceeds the connection, everyone is
scaled down by the same factor. The benchmark reports its peak twice: *uncapped* (what the
fleet would draw on an unlimited connection; the number the connection is sized against) and
*capped* (at the connection, with the energy it then fails to deliver).
"""

from __future__ import annotations

import argparse
import random
import time as clock
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from silkcharge.smart.depot import DepotProblem, Vehicle, solve, uncontrolled
from silkcharge.smart.site import Circuit, PriceBand, Site, TimeOfUsePrices, TimeSeries, kw_to_amps

LOCAL = timedelta(hours=5)
START = datetime(2025, 3, 3, 17, tzinfo=timezone.utc) - LOCAL
END = START + timedelta(hours=16)
BASE_KW = 20.0

PRICES = TimeOfUsePrices(
    "TJS",
    (
        PriceBand(time(23), Decimal("0.20")),
        PriceBand(time(7), Decimal("0.45")),
        PriceBand(time(17), Decimal("0.70")),
    ),
    utc_offset=LOCAL,
    demand_charge_per_kw=Decimal(15),
)


def fleet(n: int, seed: int) -> tuple[Vehicle, ...]:
    rng = random.Random(seed)
    cars = []
    for i in range(n):
        arrival = START + timedelta(minutes=5 * rng.randrange(0, 6 * 12))
        departure = START + timedelta(hours=12) + timedelta(minutes=5 * rng.randrange(0, 3 * 12))
        power = 22.0 if rng.random() < 0.7 else 11.0
        battery = rng.uniform(40, 75)
        soc = rng.uniform(0.10, 0.50)
        cars.append(
            Vehicle(
                f"taxi{i:03d}",
                arrival,
                departure,
                max_power_kw=power,
                battery_kwh=battery,
                soc=soc,
                target_soc=0.9,
            )
        )
    return tuple(cars)


def site(grid_kw: float) -> Site:
    base = TimeSeries(START, timedelta(hours=1), (BASE_KW * 1000,) * 16)
    return Site("depot", Circuit("grid", kw_to_amps(grid_kw)), base_load=base, prices=PRICES)


def run(n: int, seed: int) -> dict:
    cars = fleet(n, seed)
    free = uncontrolled(DepotProblem(site(1e6), cars, START, END))
    connection = 0.6 * (free.peak_kw - BASE_KW) + BASE_KW
    capped = uncontrolled(DepotProblem(site(connection), cars, START, END))
    row = {
        "n": n,
        "energy_kwh": sum(c.need_kwh for c in cars),
        "free": free,
        "capped": capped,
        "connection": connection,
    }
    for mode in ("lp", "milp"):
        began = clock.perf_counter()
        plan = solve(DepotProblem(site(connection), cars, START, END, mode=mode, time_limit=120))
        row[mode] = plan
        row[mode + "_s"] = clock.perf_counter() - began
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    print(
        "| vehicles | energy (kWh) | connection (kW) | mode | solve (s) | met | peak (kW) | peak vs uncontrolled | cost (TJS) | cost vs uncontrolled |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        row = run(n, args.seed)
        free, capped = row["free"], row["capped"]
        print(
            f"| {n} | {row['energy_kwh']:.0f} | {row['connection']:.0f} | uncontrolled, uncapped | — | "
            f"{'all' if free.feasible else len(free.shortfall_kwh)} | {free.peak_kw:.0f} | — | {free.total_cost} | — |"
        )
        print(
            f"| {n} | | | uncontrolled, capped | — | {n - len(capped.shortfall_kwh)}/{n} "
            f"(short {sum(capped.shortfall_kwh.values()):.0f} kWh) | {capped.peak_kw:.0f} | — | {capped.total_cost} | — |"
        )
        for mode in ("lp", "milp"):
            plan = row[mode]
            met = n - len(plan.shortfall_kwh)
            print(
                f"| {n} | | | optimised, {mode.upper()} | {row[mode + '_s']:.2f} | {met}/{n} | {plan.peak_kw:.0f} | "
                f"{100 * (1 - plan.peak_kw / free.peak_kw):.0f} % lower | {plan.total_cost} | "
                f"{100 * (1 - plan.total_cost / free.total_cost):.0f} % lower |"
            )


if __name__ == "__main__":
    main()
