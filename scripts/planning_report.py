"""Regenerate the regional planning report's numbers and SVGs for docs/planning.md.

Run: .venv/bin/python scripts/planning_report.py  (writes docs/img/planning-*.svg and prints
the Markdown tables pasted into docs/planning.md). The network is the shipped seed network,
an illustrative sample: the gaps and sites below describe that sample, not the real networks.
"""

from __future__ import annotations

from pathlib import Path

from silkcharge.data.seed import load_seed_network
from silkcharge.planning import analysis, charts
from silkcharge.planning.corridors import load_corridors, route_corridor
from silkcharge.planning.network import sites_from_seed
from silkcharge.trips.roads import load_road_graph

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def main() -> None:
    graph = load_road_graph()
    sites = sites_from_seed(load_seed_network())
    IMG.mkdir(parents=True, exist_ok=True)
    for rule in ("winter", "afir"):
        print(f"\n### Gaps, rule {rule}\n")
        print("| corridor | standard | km | pools meeting rule | longest gap km | flagged gaps "
              "(km) | share meeting rule |")
        print("|---|---|---:|---:|---:|---|---:|")
        for cov in analysis.coverage(graph, sites, None, None, rule):
            if cov.direction != "forward":
                continue
            flagged = "; ".join(f"{g.from_label} → {g.to_label} {g.length_km:.0f}"
                                for g in cov.flagged) or "none"
            print(f"| {cov.corridor} | {cov.standard} | {cov.length_km:.0f} | "
                  f"{sum(p.qualifies for p in cov.pools)} | {cov.longest_gap_km:.0f} | {flagged} "
                  f"| {cov.share_meeting_rule:.0%} |")
            if rule == "winter":
                (IMG / f"planning-strip-{cov.corridor}-{cov.standard}.svg").write_text(
                    charts.corridor_strip(cov), encoding="utf-8")
    routes = [route_corridor(graph, c) for c in load_corridors()]
    for standard in ("gbt_dc", "ccs2"):
        answer = analysis.corridor_siting(graph, sites, 10, None, standard, method="milp")
        r = answer.result
        print(f"\n### Ten sites for {standard} drivers (range {answer.range_km:.0f} km)\n")
        print(f"{answer.trips} trips; existing pools alone cover {r.baseline_weight:.1f} %, with "
              f"the new sites {r.covered_weight:.1f} % ({r.elements_covered}/{r.elements_total} "
              f"trips); {r.method}, gap {r.optimality_gap:.2%} vs {r.bound_kind}, "
              f"{r.solve_seconds:.2f} s. Notes: {'; '.join(r.notes) or 'none'}\n")
        print("| # | site | lat | lon | drop-one loss (% of trips) |")
        print("|---:|---|---:|---:|---:|")
        for c in r.chosen:
            print(f"| {c.order} | {c.name} | {c.lat:.3f} | {c.lon:.3f} | {c.drop_one:.2f} |")
        greedy = analysis.corridor_siting(graph, sites, 10, None, standard, method="greedy")
        print(f"\nGreedy: {greedy.result.covered_weight:.1f} %, gap "
              f"{greedy.result.optimality_gap:.2%} vs {greedy.result.bound_kind}.")
        (IMG / f"planning-sites-{standard}.svg").write_text(
            charts.site_map(routes, sites, r.chosen,
                            title=f"New sites for {standard} drivers (seed network, "
                                  "illustrative)"), encoding="utf-8")


if __name__ == "__main__":
    main()
