"""Charts as hand-written SVG (no plotting dependency): a corridor strip, a site map and a
utilisation heat map."""

from __future__ import annotations

from html import escape
from math import cos, radians
from typing import Sequence

from silkcharge.planning.analytics import ConnectorUtilisation
from silkcharge.planning.corridors import CorridorRoute
from silkcharge.planning.coverage import DirectionCoverage
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.siting import ChosenSite

RED, GREEN, GREY, BLUE, INK = "#d62728", "#2ca02c", "#999999", "#1f77b4", "#222222"


def corridor_strip(coverage: DirectionCoverage, width: int = 900) -> str:
    """Gaps along a corridor as a strip: pools as ticks, flagged gaps red, others green."""
    left, right, height = 20, 20, 120
    scale = (width - left - right) / coverage.length_km
    x = lambda km: left + km * scale  # noqa: E731
    parts = [
        f'<text x="{left}" y="18" font-size="13" fill="{INK}">{escape(coverage.origin)} → '
        f'{escape(coverage.destination)} · {escape(coverage.standard)} · rule '
        f'{escape(coverage.rule)} (max gap {coverage.max_gap_km:g} km) · '
        f'{coverage.share_meeting_rule:.0%} of {coverage.length_km:.0f} km meets it</text>'
    ]
    for gap in coverage.gaps:
        colour = RED if gap.flagged else GREEN
        parts.append(f'<rect x="{x(gap.from_km):.1f}" y="50" width="'
                     f'{max(gap.length_km * scale, 0.5):.1f}" height="14" fill="{colour}">'
                     f'<title>{escape(gap.from_label)} → {escape(gap.to_label)}: '
                     f'{gap.length_km:.0f} km</title></rect>')
        if gap.flagged:
            mid = x((gap.from_km + gap.to_km) / 2)
            parts.append(f'<text x="{mid:.1f}" y="45" font-size="11" text-anchor="middle" '
                         f'fill="{RED}">{gap.length_km:.0f} km</text>')
    for pool in coverage.pools:
        colour = INK if pool.qualifies else GREY
        parts.append(f'<line x1="{x(pool.km):.1f}" y1="46" x2="{x(pool.km):.1f}" y2="70" '
                     f'stroke="{colour}" stroke-width="2"><title>{escape(pool.name)}: '
                     f'{pool.pool_kw} kW, km {pool.km:.0f}</title></line>')
    for km in range(0, int(coverage.length_km) + 1, 100):
        parts.append(f'<text x="{x(km):.1f}" y="88" font-size="10" text-anchor="middle" '
                     f'fill="{GREY}">{km}</text>')
    parts.append(f'<text x="{left}" y="110" font-size="11" fill="{INK}">black tick: pool meets '
                 'the rule · grey: fast but below it · red: gap longer than allowed · km from '
                 f'{escape(coverage.origin)}</text>')
    return _svg(width, height, parts)


def site_map(routes: Sequence[CorridorRoute], sites: Sequence[ChargingSite],
             chosen: Sequence[ChosenSite], width: int = 900, title: str = "") -> str:
    """Corridors, existing sites and chosen sites on an equirectangular lon/lat map."""
    points = [c for r in routes for c in r.coords] + [(s.lat, s.lon) for s in sites] + \
        [(c.lat, c.lon) for c in chosen]
    lat0, lat1 = min(p[0] for p in points) - 0.5, max(p[0] for p in points) + 0.5
    lon0, lon1 = min(p[1] for p in points) - 0.5, max(p[1] for p in points) + 0.5
    aspect = (lat1 - lat0) / ((lon1 - lon0) * cos(radians((lat0 + lat1) / 2)))
    height = int(width * aspect) + 40
    px = lambda lon: (lon - lon0) / (lon1 - lon0) * width  # noqa: E731
    py = lambda lat: 30 + (lat1 - lat) / (lat1 - lat0) * (height - 40)  # noqa: E731
    parts = [f'<text x="10" y="18" font-size="13" fill="{INK}">{escape(title)}</text>']
    for route in routes:
        path = " ".join(f"{px(lon):.1f},{py(lat):.1f}" for lat, lon in route.coords[::2])
        parts.append(f'<polyline points="{path}" fill="none" stroke="{GREY}" stroke-width="1.5">'
                     f'<title>{escape(route.corridor.name)}</title></polyline>')
    for s in sites:
        parts.append(f'<circle cx="{px(s.lon):.1f}" cy="{py(s.lat):.1f}" r="3" fill="{BLUE}">'
                     f'<title>{escape(s.name)}</title></circle>')
    for c in chosen:
        parts.append(f'<circle cx="{px(c.lon):.1f}" cy="{py(c.lat):.1f}" r="6" fill="none" '
                     f'stroke="{RED}" stroke-width="2.5"><title>{c.order}. {escape(c.name)}'
                     f'</title></circle><text x="{px(c.lon) + 8:.1f}" y="{py(c.lat) + 4:.1f}" '
                     f'font-size="11" fill="{RED}">{c.order}</text>')
    parts.append(f'<text x="10" y="{height - 6}" font-size="11" fill="{INK}">blue: existing '
                 'sites · red rings: chosen sites (numbered) · grey: corridors · lon/lat '
                 'projection, no basemap</text>')
    return _svg(width, height, parts)


def utilisation_heatmap(rows: Sequence[ConnectorUtilisation], title: str = "") -> str:
    """Hour of day (site clock) across, one connector per row; darker is busier."""
    label_w, cell, top = 170, 26, 40
    width = label_w + 24 * cell + 60
    height = top + max(len(rows), 1) * cell + 50
    parts = [f'<text x="10" y="18" font-size="13" fill="{INK}">{escape(title)}</text>']
    for h in range(24):
        parts.append(f'<text x="{label_w + h * cell + cell / 2:.0f}" y="{top - 6}" font-size="10" '
                     f'text-anchor="middle" fill="{GREY}">{h:02d}</text>')
    for i, row in enumerate(rows):
        y = top + i * cell
        name = f"{row.station_id} {row.evse_id}/{row.connector_id}"
        parts.append(f'<text x="{label_w - 6}" y="{y + cell / 2 + 4:.0f}" font-size="11" '
                     f'text-anchor="end" fill="{INK}">{escape(name)}</text>')
        for h, share in enumerate(row.hourly):
            parts.append(f'<rect x="{label_w + h * cell}" y="{y}" width="{cell - 1}" '
                         f'height="{cell - 1}" fill="{_blue(share)}"><title>{escape(name)}, '
                         f'{h:02d}:00 {escape(row.timezone)}: {share:.0%}</title></rect>')
        parts.append(f'<text x="{label_w + 24 * cell + 6}" y="{y + cell / 2 + 4:.0f}" '
                     f'font-size="11" fill="{INK}">{row.share:.0%}</text>')
    parts.append(f'<text x="10" y="{height - 12}" font-size="11" fill="{INK}">share of each hour '
                 "a connector was in a transaction, hours on the site's clock · white 0 %, "
                 "dark blue 100 % · right: whole range</text>")
    return _svg(width, height, parts)


def _blue(share: float) -> str:
    """White at 0, the chart blue (#1f77b4) at 1."""
    s = min(max(share, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * s) for c in (0x1F, 0x77, 0xB4))
    return f"#{r:02x}{g:02x}{b:02x}"


def _svg(width: int, height: int, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n')
