"""`silkcharge plan-network ...`: corridor coverage, siting and adequacy on the seed network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from silkcharge.planning.corridors import PlanningInputError

planning_app = typer.Typer(help="Network planning: corridor gaps, where to build, adequacy.",
                           no_args_is_help=True)
console = Console(soft_wrap=True)
SEED_NOTE = "network: the shipped seed network, an illustrative sample (not a survey)"


def _inputs():
    from silkcharge.data.seed import load_seed_network
    from silkcharge.planning.network import sites_from_seed
    from silkcharge.trips.roads import load_road_graph

    return load_road_graph(), sites_from_seed(load_seed_network())


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


@planning_app.command()
def coverage(corridor: Optional[list[str]] = typer.Option(None, help="corridor id (repeatable)"),
             standard: Optional[str] = typer.Option(None, help="gbt_dc or ccs2 (default both)"),
             rule: str = typer.Option("afir", help="afir, afir-2027 or winter"),
             buffer_km: float = typer.Option(5.0, help="how far off the road a site still counts"),
             svg: Optional[Path] = typer.Option(None, help="write a strip SVG per corridor here"),
             ) -> None:
    """Gaps between fast-charging pools along the corridors, per standard and direction."""
    from silkcharge.planning import analysis, charts

    graph, sites = _inputs()
    try:
        results = analysis.coverage(graph, sites, corridor, standard, rule, buffer_km)
    except (PlanningInputError, ValueError) as exc:
        _fail(exc)
    table = Table(title=f"Corridor coverage, rule {rule} ({SEED_NOTE})")
    for col in ("corridor", "standard", "km", "pools ok/all", "longest gap", "flagged gaps",
                "meets rule"):
        table.add_column(col, justify="right" if col not in ("corridor", "standard") else "left")
    for cov in results:
        if cov.direction != "forward":
            continue
        flagged = ", ".join(f"{g.from_label}→{g.to_label} {g.length_km:.0f}" for g in cov.flagged)
        table.add_row(cov.corridor, cov.standard, f"{cov.length_km:.0f}",
                      f"{sum(p.qualifies for p in cov.pools)}/{len(cov.pools)}",
                      f"{cov.longest_gap_km:.0f}", flagged or "-", f"{cov.share_meeting_rule:.0%}")
    console.print(table)
    console.print("Reverse directions mirror these: a site counts for both carriageways.")
    if svg is not None:
        svg.mkdir(parents=True, exist_ok=True)
        for cov in results:
            if cov.direction == "forward":
                path = svg / f"strip-{cov.corridor}-{cov.standard}-{cov.rule}.svg"
                path.write_text(charts.corridor_strip(cov), encoding="utf-8")
        console.print(f"SVG strips written to {svg}")


@planning_app.command()
def siting(budget: int = typer.Option(..., help="number of new sites"),
           corridors: Optional[list[str]] = typer.Option(None, help="corridor id (repeatable)"),
           standard: str = typer.Option("gbt_dc", help="gbt_dc or ccs2"),
           range_km: Optional[float] = typer.Option(None, help="vehicle range (default: winter)"),
           every_km: float = typer.Option(25.0, help="roadside candidate spacing"),
           method: str = typer.Option("auto", help="milp, greedy or auto"),
           svg: Optional[Path] = typer.Option(None, help="write the map SVG to this file"),
           ) -> None:
    """Where to build: the flow-refuelling model over the corridors' town-to-town trips."""
    from silkcharge.planning import analysis, charts
    from silkcharge.planning.corridors import route_corridor, select_corridors

    graph, sites = _inputs()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("choosing sites", total=budget)
        try:
            answer = analysis.corridor_siting(
                graph, sites, budget, corridors, standard, range_km, every_km, method=method,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        except (PlanningInputError, ValueError) as exc:
            _fail(exc)
    result = answer.result
    table = Table(title=f"New sites for {answer.standard} drivers, range {answer.range_km:.0f} km "
                        f"({result.method}; {SEED_NOTE})")
    for col in ("#", "site", "kind", "lat", "lon", "greedy gain", "drop-one loss"):
        table.add_column(col)
    for c in result.chosen:
        table.add_row(str(c.order), c.name, c.kind, f"{c.lat:.3f}", f"{c.lon:.3f}",
                      "-" if c.increment is None else f"{c.increment:.2f}", f"{c.drop_one:.2f}")
    console.print(table)
    gap = "-" if result.optimality_gap is None else f"{result.optimality_gap:.2%}"
    console.print(
        f"{answer.trips} town-to-town trips; covered {result.elements_covered}/"
        f"{result.elements_total}, {result.covered_weight:.1f} of {result.total_weight:.0f} "
        f"{result.unit} (existing pools alone: {result.baseline_weight:.1f}); optimality gap "
        f"{gap} vs {result.bound_kind}; {result.solve_seconds:.2f} s")
    for note in result.notes:
        console.print(f"note: {note}")
    if svg is not None:
        routes = [route_corridor(graph, c) for c in select_corridors(corridors)]
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(charts.site_map(routes, sites, result.chosen,
                                       title=f"New sites for {answer.standard}"), "utf-8")
        console.print(f"map written to {svg}")


@planning_app.command()
def adequacy(site_kw: Optional[list[float]] = typer.Option(
                 None, help="grid check: each charger's kW (repeatable)"),
             simultaneity: float = typer.Option(0.8, help="grid check: simultaneity factor"),
             grid_kva: Optional[float] = typer.Option(None, help="grid check: connection kVA"),
             power_factor: float = typer.Option(0.98, help="grid check: power factor"),
             ) -> None:
    """Public charging kW per registered EV (AFIR reference 1.3 kW), and a grid check."""
    from silkcharge.planning.adequacy import check_grid_connection, power_per_ev

    _, sites = _inputs()
    table = Table(title="Public charging per registered EV")
    for col in ("area", "EVs (date)", "public stations (sourced)", "EVs/station",
                "seed kW", "seed kW/EV", "AFIR 1.3"):
        table.add_column(col)
    for row in power_per_ev(sites):
        table.add_row(
            row.area, f"{row.evs:,} ({row.evs_date})" if row.evs else "-",
            f"{row.public_stations:,} ({row.stations_date})" if row.public_stations else "-",
            f"{row.evs_per_station:g}" if row.evs_per_station else "-", f"{row.network_kw}",
            f"{row.kw_per_ev}" if row.kw_per_ev is not None else "-",
            {True: "meets", False: "below", None: "-"}[row.meets_afir])
    console.print(table)
    console.print("Station counts and EV figures are sourced (silkcharge/data/fleet.json); the "
                  "kW columns come from the seed network, an illustrative sample, so kW per EV "
                  "is illustrative only.")
    if site_kw and grid_kva is not None:
        try:
            check = check_grid_connection(site_kw, simultaneity, grid_kva, power_factor)
        except PlanningInputError as exc:
            _fail(exc)
        console.print(f"grid check: {check.message}")
