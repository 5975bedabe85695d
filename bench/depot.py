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

V2G (OCPP 2.1 bidirectional; `--v2g`): every second vehicle opts in, discharges at up to its
charging power (at most 11 kW), keeps at least 30 % state of charge while parked and still
leaves at 90 %; battery wear 0.10 TJS per kWh discharged (ILLUSTRATIVE, not a measured wear
cost). Two sites: the flat 20 kW base load above, and an ILLUSTRATIVE "evening peak" site whose
base load is 20 kW plus 6 kW per vehicle from 18:00 to 22:00 local (depot buildings and the
workshop at the city's evening peak; not measured), with the connection sized for uncontrolled
charging there.

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
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from silkcharge.smart import depot
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


def site(grid_kw: float, evening_kw: float = 0.0) -> Site:
    """The depot; `evening_kw` more base load from 18:00 to 22:00 local (hours 1-4 of the night)."""
    hourly = tuple((BASE_KW + (evening_kw if 1 <= hour < 5 else 0.0)) * 1000 for hour in range(16))
    base = TimeSeries(START, timedelta(hours=1), hourly)
    return Site("depot", Circuit("grid", kw_to_amps(grid_kw)), base_load=base, prices=PRICES)


WEAR = Decimal("0.10")  # TJS per kWh discharged: ILLUSTRATIVE


def opted_in(cars: tuple[Vehicle, ...]) -> tuple[Vehicle, ...]:
    return tuple(
        replace(c, v2g=True, max_discharge_kw=min(11.0, c.max_power_kw), min_soc=0.3) if i % 2 == 0 else c
        for i, c in enumerate(cars)
    )


def whole_model_solve(problem: DepotProblem):
    """The V2G LP as it was solved before column generation: every discharge column from the
    start, one HiGHS solve of the whole model (`_priced` answering None sends `solve` there)."""
    priced = depot._priced
    depot._priced = lambda *args: None
    try:
        return solve(problem)
    finally:
        depot._priced = priced


def timed(function, problem: DepotProblem, repeat: int):
    """The plan, and the least CPU and wall seconds of `repeat` runs (CPU: this process's
    time.process_time, all threads; wall: time.perf_counter)."""
    cpu, wall = [], []
    for _ in range(repeat):
        began, began_cpu = clock.perf_counter(), clock.process_time()
        plan = function(problem)
        cpu.append(clock.process_time() - began_cpu)
        wall.append(clock.perf_counter() - began)
    return plan, min(cpu), min(wall)


def run_v2g(n: int, seed: int, repeat: int = 1) -> list[tuple[str, object, float, float]]:
    """Uncontrolled, charge-only LP and V2G LP (the whole model as before, and column generation)
    on the flat site and on the evening-peak site."""
    cars, rows = fleet(n, seed), []
    for name, evening in (("flat base", 0.0), ("evening peak", 6.0 * n)):
        free = uncontrolled(DepotProblem(site(1e6, evening), cars, START, END))
        connection = free.peak_kw if evening else 0.6 * (free.peak_kw - BASE_KW) + BASE_KW
        rows.append((f"{name}: uncontrolled{'' if evening else ', uncapped'}", free, 0.0, 0.0))
        for label, fleet_, wear, function in (
            ("charge-only LP", cars, Decimal(0), solve),
            ("V2G LP, whole model (before)", opted_in(cars), WEAR, whole_model_solve),
            ("V2G LP, column generation", opted_in(cars), WEAR, solve),
        ):
            problem = DepotProblem(site(connection, evening), fleet_, START, END, wear_cost_per_kwh=wear)
            plan, cpu, wall = timed(function, problem, repeat)
            rows.append((f"{name}: {label}", plan, cpu, wall))
    return rows


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
    parser.add_argument("--v2g", action="store_true", help="the V2G comparison instead of LP against MILP")
    parser.add_argument("--repeat", type=int, default=3, help="V2G: runs per plan, the least time is shown")
    args = parser.parse_args()
    if args.v2g:
        print("| vehicles | site and charging | solve CPU (s) | solve wall (s) | met | peak (kW) | cost (TJS) | "
              "of which wear | cars cycling | kWh cycled | most by one car |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in args.sizes:
            for label, plan, cpu, wall in run_v2g(n, args.seed, args.repeat):
                cycled = plan.cycled_kwh
                times = f"{cpu:.2f} | {wall:.2f}" if wall else "— | —"
                print(f"| {n} | {label} | {times} | {n - len(plan.shortfall_kwh)}/{n} | {plan.peak_kw:.0f} | "
                      f"{plan.total_cost} | {plan.wear_cost} | {len(cycled)} | {sum(cycled.values()):.0f} | "
                      f"{max(cycled.values(), default=0):.1f} |")
        return
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
