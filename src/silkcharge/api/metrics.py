"""Counters for monitoring, in the Prometheus text format at `/metrics` (operator key required:
`X-API-Key`, or `Authorization: Bearer <key>` as Prometheus sends it).

What the OCPP gateway of this process refused and why, how many station passwords it hashed,
and its back-pressure. Each process counts its own: with several gateway processes, scrape or
add up each (docs/operations.md, "Security profiles and TLS").
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import PlainTextResponse

from silkcharge.api.errors import answers

router = APIRouter()

Sample = tuple[dict[str, str], float]


def _family(name: str, kind: str, help_text: str, samples: list[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{value_}"' for key, value_ in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return lines


def render(platform) -> str:
    gateway, stations = platform.gateway, platform.stations
    blocked = gateway.limits.blocked()
    families = [
        ("silkcharge_ocpp_stations_connected", "gauge", "station sockets this process holds",
         [({}, len(platform.router.connected()))]),
        ("silkcharge_ocpp_password_checks_total", "counter",
         "station passwords checked with scrypt (not answered from the verification cache)",
         [({}, stations.password_checks)]),
        ("silkcharge_ocpp_handshakes_refused_total", "counter",
         "handshakes refused for a security reason, by the type recorded in the security event list",
         [({"reason": kind}, count) for kind, count in sorted(gateway.refused.items())]),
        ("silkcharge_ocpp_auth_failures_total", "counter",
         "refused handshakes counted against the failed-auth limits", [({}, gateway.limits.failures_total)]),
        ("silkcharge_ocpp_auth_limited_total", "counter",
         "handshakes answered 429 because their station id or address was over its limit (no check, no hash)",
         [({}, gateway.limits.limited_total)]),
        ("silkcharge_ocpp_auth_blocked", "gauge", "station ids and source addresses over their limit now",
         [({"scope": scope}, count) for scope, count in blocked.items()]),
        ("silkcharge_ocpp_tls_handshakes_failed_total", "counter",
         "TLS handshakes that failed before any HTTP request (certificate refused, old TLS, no shared cipher)",
         [({}, gateway.tls_refused)]),
        ("silkcharge_ocpp_handshakes_deferred_total", "counter",
         "handshakes answered 503 because too many were being checked", [({}, gateway.handshakes_deferred)]),
        ("silkcharge_ocpp_boots_deferred_total", "counter",
         "BootNotifications answered Pending because the database was behind", [({}, stations.boots_deferred)]),
    ]
    lines = [line for family in families for line in _family(*family)]
    return "\n".join(lines) + "\n"


@router.get("/metrics", response_class=PlainTextResponse, tags=["meta"], responses=answers(401))
async def metrics(
    request: Request,
    x_api_key: str | None = Header(default=None),
    authorization: str | None = Header(default=None),
) -> PlainTextResponse:
    expected = request.app.state.platform.settings.api_key
    scheme, _, token = (authorization or "").partition(" ")
    key = x_api_key or (token.strip() if scheme.lower() == "bearer" else None)
    if not key or not expected or not secrets.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong X-API-Key header (or Authorization: Bearer)")
    return PlainTextResponse(render(request.app.state.platform), media_type="text/plain; version=0.0.4")
