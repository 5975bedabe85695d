"""`silkcharge plan-network ...`: corridor coverage, siting and adequacy on the seed network,
and operations analytics from the platform's store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from silkcharge.planning.corridors import PlanningInputError

planning_app = typer.Typer(help="Network planning and operations: corridor gaps, where to build, "
                                "adequacy, analytics.",
                           no_args_is_help=True)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)  # errors go to stderr, exit code 2 (silkcharge/cli.py)
SEED_NOTE = "network: the shipped seed network, an illustrative sample (not a survey)"


def _inputs():
    from silkcharge.data.seed import load_seed_network
    from silkcharge.planning.network import sites_from_seed
    from silkcharge.trips.roads import load_road_graph

    return load_road_graph(), sites_from_seed(load_seed_network())


def _fail(exc: Exception) -> None:
    err_console.print(f"[red]error:[/red] {escape(str(exc))}")
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
def siting(budget: Optional[int] = typer.Option(None, help="number of new sites"),
           budget_kw: Optional[float] = typer.Option(None, help="total kW of the new sites"),
           city: Optional[str] = typer.Option(
               None, help="a city: maximal coverage of its people instead of corridor trips"),
           corridors: Optional[list[str]] = typer.Option(None, help="corridor id (repeatable)"),
           standard: str = typer.Option("gbt_dc", help="gbt_dc or ccs2"),
           range_km: Optional[float] = typer.Option(None, help="vehicle range (default: winter)"),
           every_km: float = typer.Option(25.0, help="roadside candidate spacing"),
           radius_km: float = typer.Option(10.0, help="city: demand within this radius"),
           method: str = typer.Option("auto", help="milp, greedy or auto"),
           svg: Optional[Path] = typer.Option(None, help="write the map SVG to this file"),
           ) -> None:
    """Where to build: flow refuelling over corridor trips, or with --city maximal coverage."""
    from silkcharge.planning import analysis, charts
    from silkcharge.planning.corridors import route_corridor, select_corridors

    graph, sites = _inputs()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("choosing sites", total=budget)
        try:
            if city is not None:
                answer = analysis.city_siting(graph, sites, city, budget, budget_kw, standard,
                                              radius_km, method=method)
            else:
                answer = analysis.corridor_siting(
                    graph, sites, budget, corridors, standard, range_km, every_km,
                    method=method, budget_kw=budget_kw,
                    progress=lambda done, total: progress.update(task, completed=done,
                                                                 total=total))
        except (PlanningInputError, ValueError) as exc:
            _fail(exc)
    result = answer.result
    if city is not None:
        title = (f"New sites in {answer.city} for {answer.standard} drivers: "
                 f"{answer.population:,.0f} people within {answer.radius_km:g} km, "
                 f"covered within {answer.cover_km:g} km")
    else:
        title = f"New sites for {answer.standard} drivers, range {answer.range_km:.0f} km"
    table = Table(title=f"{title} ({result.method}; {SEED_NOTE})")
    for col in ("#", "site", "kind", "kW", "lat", "lon", "greedy gain", "drop-one loss"):
        table.add_column(col)
    for c in result.chosen:
        table.add_row(str(c.order), c.name, c.kind, f"{c.kw:g}", f"{c.lat:.3f}", f"{c.lon:.3f}",
                      "-" if c.increment is None else f"{c.increment:.2f}", f"{c.drop_one:.2f}")
    console.print(table)
    gap = "-" if result.optimality_gap is None else f"{result.optimality_gap:.2%}"
    what = f"{answer.cells} demand cells" if city is not None else \
        f"{answer.trips} town-to-town trips"
    console.print(
        f"{what}; covered {result.elements_covered}/"
        f"{result.elements_total}, {result.covered_weight:.1f} of {result.total_weight:.0f} "
        f"{result.unit} (existing pools alone: {result.baseline_weight:.1f}); optimality gap "
        f"{gap} vs {result.bound_kind}; {result.solve_seconds:.2f} s")
    for note in result.notes:
        console.print(f"note: {note}")
    if svg is not None:
        routes = [] if city is not None else \
            [route_corridor(graph, c) for c in select_corridors(corridors)]
        shown = sites if city is None else [s for s in sites if s.city == answer.city]
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(charts.site_map(routes, shown, result.chosen,
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


@planning_app.command()
def analytics(start: datetime = typer.Option(..., help="range start, ISO 8601 (UTC if no zone)"),
              end: datetime = typer.Option(..., help="range end, exclusive"),
              group_by: str = typer.Option("operator", help="operator, city, corridor, site or "
                                                            "station"),
              attention_top: int = typer.Option(10, help="how many stations to list"),
              heatmap: Optional[Path] = typer.Option(None, help="write the utilisation heat map "
                                                              "SVG here"),
              ) -> None:
    """Operations analytics from the platform's store (SILKCHARGE_DATABASE_URL)."""
    from silkcharge.planning import analytics as ops
    from silkcharge.planning import charts

    try:
        ops.check_group_by(group_by)
        data = asyncio.run(_load_operations(_as_utc(start), _as_utc(end)))
    except ops.AnalyticsInputError as exc:
        _fail(exc)
    console.print(f"range {data.start:%Y-%m-%d %H:%M} to {data.observed_end:%Y-%m-%d %H:%M} UTC")
    console.print(_summary_table(ops.summary(data, group_by), group_by))
    ups = {u.station_id: u for u in ops.uptime(data)}
    table = Table(title="Uptime per station (present = inbound frames within heartbeat + grace)")
    for col in ("station", "present", "station-wide faulted", "available", "down periods"):
        table.add_column(col)
    for u in ups.values():
        table.add_row(u.station_id, f"{u.present_share:.1%}", f"{u.faulted_share:.1%}",
                      f"{u.available_share:.1%}", str(u.down_periods))
    console.print(table)
    table = Table(title="Stations that most need attention")
    for col in ("#", "station", "site", "score", "reasons"):
        table.add_column(col)
    for n, item in enumerate(ops.attention(data)[:attention_top], 1):
        table.add_row(str(n), item.station_id, item.site or "-", f"{item.score:g}",
                      "; ".join(item.reasons))
    console.print(table)
    if heatmap is not None:
        heatmap.parent.mkdir(parents=True, exist_ok=True)
        heatmap.write_text(charts.utilisation_heatmap(
            ops.utilisation(data), title=f"Utilisation by hour of day, {data.start:%Y-%m-%d} to "
                                         f"{data.observed_end:%Y-%m-%d}"), "utf-8")
        console.print(f"heat map written to {heatmap}")


def _as_utc(value: datetime) -> datetime:
    """Typer parses times without a zone; the CLI reads those as UTC (the API refuses them)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


async def _load_operations(start: datetime, end: datetime):
    from silkcharge.planning.rollups import load_range
    from silkcharge.settings import Settings
    from silkcharge.store.db import create_engine_for, sessionmaker_for

    settings = Settings()
    engine = create_engine_for(settings.database_url)
    try:
        return await load_range(sessionmaker_for(engine), start, end,
                                default_heartbeat=settings.heartbeat_interval,
                                grace_seconds=settings.offline_grace,
                                max_days=settings.analytics_max_days)
    finally:
        await engine.dispose()


def _summary_table(groups, group_by: str) -> Table:
    table = Table(title=f"Operations by {group_by}")
    for col in (group_by, "stations", "sessions", "kWh", "revenue incl. VAT (excl.)",
                "utilisation", "uptime", "failed starts"):
        table.add_column(col)
    for g in groups:
        money = "; ".join(f"{r.total_incl_vat} ({r.total_excl_vat}) {r.currency}"
                          for r in g.revenue) or "-"
        rate = "-" if g.failed_start_rate is None else \
            f"{g.failed_starts.refused + g.failed_starts.short_sessions}/" \
            f"{g.failed_starts.attempts} ({g.failed_start_rate:.0%})"
        table.add_row(g.group, str(g.stations), str(g.sessions), f"{g.energy_kwh}", money,
                      "-" if g.utilisation is None else f"{g.utilisation:.1%}",
                      "-" if g.uptime is None else f"{g.uptime:.1%}", rate)
    return table
