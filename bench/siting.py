"""Siting benchmark: solve time and quality of the FRLM for 100, 1,000 and 10,000 candidates.

Synthetic, reproducible instances: corridors of 600 km, each with 50 roadside candidates at
random km, six towns with random populations (gravity-weighted trips between all pairs), one
existing pool at the first town, a 150 km range and a budget of one site per ten candidates.
Run: .venv/bin/python bench/siting.py [--time-limit 60]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import numpy as np

from silkcharge.planning.frlm import Trip, line_instance
from silkcharge.planning.siting import Candidate, solve


def instance(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    candidates, lines, trips = [], {}, []
    for c in range(n // 50):
        kms = np.sort(rng.uniform(0, 600, 50))
        ids = np.arange(len(candidates), len(candidates) + 50)
        candidates += [Candidate(f"{c}:{i}", f"corridor {c} km {k:.0f}", 0.0, 0.0)
                       for i, k in zip(ids, kms)]
        towns = np.sort(np.concatenate([[0.0, 600.0], rng.uniform(0, 600, 4)]))
        pops = rng.uniform(2e4, 2e6, len(towns))
        lines[str(c)] = (np.array([0.0]), kms, ids)
        for i, j in itertools.combinations(range(len(towns)), 2):
            if towns[j] - towns[i] > 1:
                trips.append(Trip(f"{c}.{i}", f"{c}.{j}", str(c), towns[i], towns[j],
                                  pops[i] * pops[j] / (towns[j] - towns[i]) / 1e9))
    return line_instance(trips, lines, candidates, 150.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"Python {platform.python_version()}")
    print("| candidates | trips | method | seconds | covered weight | bound | gap |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for n in (100, 1_000, 10_000):
        built = time.perf_counter()
        inst = instance(n)
        built = time.perf_counter() - built
        for method in ("milp", "greedy"):
            r = solve(inst, budget_sites=n // 10, method=method, time_limit=args.time_limit)
            gained = r.covered_weight - r.baseline_weight
            print(f"| {n:,} | {len(inst.weights) + inst.baseline_count + inst.infeasible_count:,}"
                  f" | {method} | {r.solve_seconds:.2f} | {gained:.3f} | "
                  f"{r.upper_bound:.3f} ({r.bound_kind}) | {r.optimality_gap:.2%} |")
        print(f"<!-- instance build {built:.2f} s for {n} candidates -->")


if __name__ == "__main__":
    main()
