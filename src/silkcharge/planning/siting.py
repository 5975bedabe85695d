"""Siting: where to build next to close the most corridor gaps and cover the most demand.

Both models reduce to one structure, a *cover instance*: elements with a weight (a trip
between two places, or a hex cell of a city's population), each covered when every one of
its requirements holds, a requirement being "at least one of these candidates is built".

* Flow-refuelling (FRLM), arc-cover formulation (after Capar et al. 2013): a one-way trip
  leaves its origin full and may recharge to full at every pool on its way; it is covered when
  no stretch between consecutive charging opportunities exceeds the vehicle's range. For each
  stretch ending at a point of the path, the requirement is "some pool within range before
  it": satisfied already when the origin or an existing pool lies there, otherwise a set of
  candidates. Because the condition is symmetric, one direction describes both.
* Maximal coverage (MCLP): a cell is covered when a pool lies within ``cover_km``.

Exact: a MILP (``scipy.optimize.milp``, HiGHS) with binary sites and continuous coverage
variables; maximise covered weight under a budget of sites or of kW. Greedy: add the site that
completes the most weight, or, when none completes anything alone, the one that satisfies the
most outstanding requirements; its gap is reported against the MILP optimum when solved, else
against the LP relaxation's bound.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix, hstack, vstack

from silkcharge.planning.corridors import PlanningInputError


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    lat: float
    lon: float
    kind: str = "roadside"
    """"town", "roadside" (a fuel-station-like point on the road) or "plot" (allocated land)."""
    kw: float = 400.0


@dataclass
class CoverInstance:
    """Elements, their weights and requirements over candidate indices (pure numbers)."""

    candidates: list[Candidate]
    weights: np.ndarray
    requirements: list[list[np.ndarray]]
    labels: list[str]
    baseline_weight: float = 0.0
    baseline_count: int = 0
    infeasible_weight: float = 0.0
    infeasible_count: int = 0
    unit: str = "weight"

    def __post_init__(self) -> None:
        rows, cols, owner = [], [], []
        for e, reqs in enumerate(self.requirements):
            for req in reqs:
                rows.append(np.full(len(req), len(owner)))
                cols.append(np.asarray(req, dtype=np.int64))
                owner.append(e)
        n_req = len(owner)
        self.owner = np.asarray(owner, dtype=np.int64)
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        self.matrix = csr_matrix((np.ones(len(r)), (r, c)),
                                 shape=(n_req, len(self.candidates)))
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self.per_element = csr_matrix(
            (np.ones(n_req), (self.owner, np.arange(n_req))), shape=(len(self.weights), n_req))

    @property
    def total_weight(self) -> float:
        return float(self.weights.sum()) + self.baseline_weight + self.infeasible_weight

    def covered(self, chosen: np.ndarray) -> np.ndarray:
        """Which elements a chosen set (boolean mask over candidates) covers."""
        satisfied = self.matrix @ chosen.astype(float) > 0
        unsatisfied = self.per_element @ (~satisfied).astype(float)
        return unsatisfied == 0

    def value(self, chosen: np.ndarray) -> float:
        return float(self.weights[self.covered(chosen)].sum())


@dataclass(frozen=True)
class ChosenSite:
    id: str
    name: str
    lat: float
    lon: float
    kind: str
    kw: float
    order: int
    increment: float | None
    """The greedy step's gain when it added this site (None for the MILP)."""
    drop_one: float
    """What the answer loses without this site, the others kept."""


@dataclass(frozen=True)
class SitingResult:
    model: str
    method: str
    unit: str
    budget_sites: int | None
    budget_kw: float | None
    chosen: tuple[ChosenSite, ...]
    covered_weight: float
    """Covered by existing pools and chosen sites together."""
    baseline_weight: float
    total_weight: float
    covered_share: float
    elements_covered: int
    elements_total: int
    upper_bound: float | None
    optimality_gap: float | None
    """(bound - found) / bound over the weight the new sites can add; 0 when proven optimal."""
    bound_kind: str
    solve_seconds: float
    candidates: int
    notes: tuple[str, ...] = field(default=())


def solve(instance: CoverInstance, *, budget_sites: int | None = None,
          budget_kw: float | None = None, method: str = "auto", model: str = "cover",
          exact_limit: int = 2000, time_limit: float = 60.0,
          progress: Callable[[int, int], None] | None = None) -> SitingResult:
    """Choose sites under the budget. ``method``: "milp", "greedy" or "auto" (MILP up to
    ``exact_limit`` candidates, greedy with an LP bound beyond)."""
    n = len(instance.candidates)
    _check_budget(budget_sites, budget_kw, n)
    if method == "auto":
        method = "milp" if n <= exact_limit else "greedy"
    if method not in ("milp", "greedy"):
        raise PlanningInputError(f"unknown method {method!r}: use milp, greedy or auto")
    started = time.perf_counter()
    notes: list[str] = []
    if len(instance.weights) == 0:
        chosen, bound, increments, status, bound_kind = [], 0.0, None, 0, "nothing to cover"
        notes.append("every element is already covered or cannot be covered: no site helps")
    elif method == "milp":
        chosen, bound, increments, status = _milp(instance, budget_sites, budget_kw, time_limit)
        bound_kind = "MILP optimum" if status == 0 else "MILP dual bound (time limit)"
        if status != 0:
            notes.append(f"HiGHS stopped at the {time_limit:.0f} s limit; gap is to its bound")
    else:
        chosen, increments = _greedy(instance, budget_sites, budget_kw, progress)
        bound = _lp_bound(instance, budget_sites, budget_kw, time_limit)
        bound_kind = "LP relaxation"
    seconds = time.perf_counter() - started
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    found = instance.value(mask)
    gap = None if bound is None else (0.0 if bound <= 1e-12 else max(0.0, (bound - found) / bound))
    if method == "milp" and status == 0 or len(instance.weights) == 0:
        gap = 0.0
    sites = tuple(
        ChosenSite(c.id, c.name, c.lat, c.lon, c.kind, c.kw, order + 1,
                   increments[order] if increments else None,
                   round(found - instance.value(_without(mask, k)), 9))
        for order, k in enumerate(chosen) for c in [instance.candidates[k]]
    )
    covered = found + instance.baseline_weight
    if instance.infeasible_count:
        notes.append(f"{instance.infeasible_count} elements cannot be covered by any choice of "
                     "these candidates (a stretch longer than the range has none)")
    return SitingResult(
        model=model, method=method, unit=instance.unit, budget_sites=budget_sites,
        budget_kw=budget_kw, chosen=sites, covered_weight=round(covered, 9),
        baseline_weight=round(instance.baseline_weight, 9),
        total_weight=round(instance.total_weight, 9),
        covered_share=round(covered / instance.total_weight, 6) if instance.total_weight else 0.0,
        elements_covered=int(instance.covered(mask).sum()) + instance.baseline_count,
        elements_total=len(instance.weights) + instance.baseline_count
        + instance.infeasible_count,
        upper_bound=None if bound is None else round(bound, 9),
        optimality_gap=None if gap is None else round(gap, 6), bound_kind=bound_kind,
        solve_seconds=round(seconds, 4), candidates=n, notes=tuple(notes),
    )


def brute_force(instance: CoverInstance, budget_sites: int) -> tuple[float, tuple[int, ...]]:
    """The best value over every set of at most ``budget_sites`` candidates (tests only)."""
    n = len(instance.candidates)
    best: tuple[float, tuple[int, ...]] = (0.0, ())
    for size in range(1, min(budget_sites, n) + 1):
        for combo in itertools.combinations(range(n), size):
            mask = np.zeros(n, dtype=bool)
            mask[list(combo)] = True
            value = instance.value(mask)
            if value > best[0] + 1e-12:
                best = (value, combo)
    return best


# ---- solvers ----------------------------------------------------------------------------


def _check_budget(budget_sites: int | None, budget_kw: float | None, n: int) -> None:
    if n == 0:
        raise PlanningInputError("no candidate sites: give towns, roadside points or plots")
    if budget_sites is None and budget_kw is None:
        raise PlanningInputError("give a budget: a number of sites or a total kW")
    if budget_sites is not None and budget_sites <= 0:
        raise PlanningInputError(f"budget must be at least one site, got {budget_sites}")
    if budget_kw is not None and budget_kw <= 0:
        raise PlanningInputError(f"kW budget must be positive, got {budget_kw}")


def _without(mask: np.ndarray, k: int) -> np.ndarray:
    other = mask.copy()
    other[k] = False
    return other


def _problem(instance: CoverInstance, budget_sites: int | None, budget_kw: float | None):
    n, m = len(instance.candidates), len(instance.weights)
    req = instance.matrix
    link = csr_matrix((-np.ones(req.shape[0]), (np.arange(req.shape[0]), instance.owner)),
                      shape=(req.shape[0], m))
    rows = [hstack([req, link])]
    upper = [np.full(req.shape[0], np.inf)]
    lower = [np.zeros(req.shape[0])]
    if budget_sites is not None:
        rows.append(csr_matrix(np.concatenate([np.ones(n), np.zeros(m)])[None, :]))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(budget_sites)]))
    if budget_kw is not None:
        kw = np.array([c.kw for c in instance.candidates])
        rows.append(csr_matrix(np.concatenate([kw, np.zeros(m)])[None, :]))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(budget_kw)]))
    constraint = LinearConstraint(vstack(rows).tocsr(), np.concatenate(lower),
                                  np.concatenate(upper))
    # A site that adds nothing costs a hair, so the MILP does not fill its budget with them.
    tiny = 1e-7 * float(instance.weights.min()) if len(instance.weights) else 0.0
    cost = np.concatenate([np.full(n, tiny), -instance.weights])
    return cost, constraint, n


def _milp(instance, budget_sites, budget_kw, time_limit):
    cost, constraint, n = _problem(instance, budget_sites, budget_kw)
    integrality = np.concatenate([np.ones(n), np.zeros(len(instance.weights))])
    res = milp(cost, constraints=constraint, integrality=integrality, bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-9})
    if res.x is None:
        raise PlanningInputError(f"the MILP solver found no solution: {res.message}")
    x = res.x[:n]
    chosen = [int(k) for k in np.flatnonzero(x > 0.5)]
    found = float(instance.weights @ res.x[n:])
    dual = getattr(res, "mip_dual_bound", None)
    bound = found if res.status == 0 or dual is None else max(found, -float(dual))
    chosen = _by_drop_one(instance, chosen)
    return chosen, bound, None, res.status


def _by_drop_one(instance: CoverInstance, chosen: list[int]) -> list[int]:
    """Chosen sites without those that add nothing, by what each contributes, largest first."""
    mask = np.zeros(len(instance.candidates), dtype=bool)
    mask[chosen] = True
    full = instance.value(mask)
    for k in list(chosen):
        if instance.value(_without(mask, k)) >= full - 1e-9:
            mask[k] = False
    kept = [k for k in chosen if mask[k]]
    return sorted(kept, key=lambda k: instance.value(_without(mask, k)))


def _lp_bound(instance, budget_sites, budget_kw, time_limit) -> float | None:
    cost, constraint, n = _problem(instance, budget_sites, budget_kw)
    res = milp(cost, constraints=constraint, bounds=Bounds(0, 1),
               options={"time_limit": time_limit})
    return None if res.x is None else float(instance.weights @ res.x[n:])


def _greedy(instance: CoverInstance, budget_sites: int | None, budget_kw: float | None,
            progress: Callable[[int, int], None] | None) -> tuple[list[int], list[float]]:
    n = len(instance.candidates)
    kw = np.array([c.kw for c in instance.candidates])
    mask = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    increments: list[float] = []
    spent = 0.0
    steps = budget_sites if budget_sites is not None else n
    current = 0.0
    for step in range(steps):
        complete, partial = _scores(instance, mask)
        fits = ~mask if budget_kw is None else (~mask & (spent + kw <= budget_kw + 1e-9))
        if not fits.any() or partial[fits].max(initial=0) <= 0:
            break
        scale = kw if budget_kw is not None else np.ones(n)
        primary = np.where(fits, complete / scale, -1.0)
        k = int(np.argmax(primary)) if primary.max() > 1e-12 else \
            int(np.argmax(np.where(fits, partial / scale, -1.0)))
        mask[k] = True
        chosen.append(k)
        spent += kw[k]
        value = instance.value(mask)
        increments.append(round(value - current, 9))
        current = value
        if progress:
            progress(step + 1, steps)
    return chosen, increments


def _scores(instance: CoverInstance, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: weight it would complete alone, and weight-share of requirements it meets."""
    n = len(instance.candidates)
    satisfied = instance.matrix @ mask.astype(float) > 0
    open_rows = np.flatnonzero(~satisfied)
    if len(open_rows) == 0:
        return np.zeros(n), np.zeros(n)
    owners = instance.owner[open_rows]
    outstanding = np.bincount(owners, minlength=len(instance.weights)).astype(float)
    per_element = csr_matrix((np.ones(len(open_rows)), (owners, np.arange(len(open_rows)))),
                             shape=(len(instance.weights), len(open_rows)))
    counts = (per_element @ instance.matrix[open_rows]).tocoo()
    w = instance.weights[counts.row]
    u = outstanding[counts.row]
    complete = np.bincount(counts.col, weights=w * (counts.data >= u - 1e-9), minlength=n)
    partial = np.bincount(counts.col, weights=w * counts.data / u, minlength=n)
    return complete, partial
