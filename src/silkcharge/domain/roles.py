"""Who may do what: roles, the permissions each holds, and the permission each API area needs.

An API route belongs to an area (its OpenAPI tag) and either reads (GET) or changes (any other
method); `needed(tags, method)` names the one permission that allows it. A route whose area is
not listed here is refused to everyone but the platform administrator, so a new area is closed
until someone decides who may use it (tests/security checks every route of the OpenAPI
document against this table).
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    PLATFORM_ADMIN = "platform_admin"
    OPERATOR_ADMIN = "operator_admin"
    OPERATOR_STAFF = "operator_staff"
    TECHNICIAN = "technician"
    FINANCE = "finance"
    VIEWER = "viewer"
    REGULATOR = "regulator"


# -- permissions --------------------------------------------------------------------------------

NETWORK_READ = "network:read"  # operators, sites, stations, live state, smart charging, reservations
NETWORK_WRITE = "network:write"
COMMANDS = "commands"  # remote start/stop, reset, unlock, availability, reservations for drivers
MAINTENANCE = "maintenance"  # diagnostics, firmware, configuration, certificates, device model
SESSIONS_READ = "sessions:read"  # transactions and their meter values
TOKENS_READ = "tokens:read"
TOKENS_WRITE = "tokens:write"
MONEY_READ = "money:read"  # tariffs, CDRs, receipts
MONEY_WRITE = "money:write"  # publish tariffs, approve, correct or void CDRs
CAPS_READ = "caps:read"  # regulated price caps and compliance
CAPS_WRITE = "caps:write"
AGGREGATES_READ = "aggregates:read"  # analytics and planning, no personal data
PLANNING_WRITE = "planning:write"
PERSONAL_DATA = "personal-data"  # idTokens and emails in clear
ACCESS_MANAGE = "access:manage"  # people, roles and API keys of the tenant
AUDIT_READ = "audit:read"
TENANTS_MANAGE = "tenants:manage"
ROAMING_READ = "roaming:read"  # OCPI identities and roaming partners, never their tokens
ROAMING_WRITE = "roaming:write"  # invite, register, renew and end roaming registrations

ALL = frozenset({
    NETWORK_READ, NETWORK_WRITE, COMMANDS, MAINTENANCE, SESSIONS_READ, TOKENS_READ, TOKENS_WRITE,
    MONEY_READ, MONEY_WRITE, CAPS_READ, CAPS_WRITE, AGGREGATES_READ, PLANNING_WRITE, PERSONAL_DATA,
    ACCESS_MANAGE, AUDIT_READ, TENANTS_MANAGE, ROAMING_READ, ROAMING_WRITE,
})

GRANTS: dict[Role, frozenset[str]] = {
    Role.PLATFORM_ADMIN: ALL,
    Role.OPERATOR_ADMIN: ALL - {TENANTS_MANAGE, CAPS_WRITE},
    Role.OPERATOR_STAFF: frozenset({
        NETWORK_READ, COMMANDS, SESSIONS_READ, TOKENS_READ, TOKENS_WRITE, CAPS_READ, AGGREGATES_READ, ROAMING_READ,
    }),
    Role.TECHNICIAN: frozenset({NETWORK_READ, COMMANDS, MAINTENANCE, SESSIONS_READ}),
    Role.FINANCE: frozenset({
        NETWORK_READ, SESSIONS_READ, MONEY_READ, MONEY_WRITE, CAPS_READ, AGGREGATES_READ, ROAMING_READ,
    }),
    Role.VIEWER: frozenset({NETWORK_READ, SESSIONS_READ, MONEY_READ, CAPS_READ, AGGREGATES_READ, ROAMING_READ}),
    Role.REGULATOR: frozenset({CAPS_READ, AGGREGATES_READ}),
}

CROSS_TENANT = frozenset({Role.PLATFORM_ADMIN, Role.REGULATOR})
"""Roles that are not bound to one tenant: the platform's administrators, and regulators, who
read aggregates and cap compliance across all operators of their jurisdiction."""

DESCRIPTIONS: dict[Role, str] = {
    Role.PLATFORM_ADMIN: "hosts the tenants: everything, for every tenant",
    Role.OPERATOR_ADMIN: "runs one tenant: everything in it, its people and keys included",
    Role.OPERATOR_STAFF: "day-to-day operation: stations, commands, sessions, tokens",
    Role.TECHNICIAN: "diagnostics, firmware, configuration and commands; no money",
    Role.FINANCE: "tariffs, CDRs and receipts; no commands",
    Role.VIEWER: "reads the network, sessions and prices; changes nothing",
    Role.REGULATOR: "aggregates and price-cap compliance across tenants; no personal data",
}

# -- which permission an API area needs ------------------------------------------------------------

_AREAS: dict[str, tuple[str, str]] = {
    # area (OpenAPI tag): (to read, to change)
    "operators": (NETWORK_READ, NETWORK_WRITE),
    "sites": (NETWORK_READ, NETWORK_WRITE),
    "stations": (NETWORK_READ, NETWORK_WRITE),
    "live": (NETWORK_READ, NETWORK_WRITE),
    "station profiles": (NETWORK_READ, NETWORK_WRITE),
    "smart charging": (NETWORK_READ, NETWORK_WRITE),
    "reservations": (NETWORK_READ, COMMANDS),
    "commands": (NETWORK_READ, COMMANDS),
    "device model": (MAINTENANCE, MAINTENANCE),
    "provisioning": (MAINTENANCE, MAINTENANCE),
    "certificates": (MAINTENANCE, MAINTENANCE),
    "security": (MAINTENANCE, MAINTENANCE),
    "plausibility": (SESSIONS_READ, MONEY_WRITE),
    "transactions": (SESSIONS_READ, COMMANDS),
    "tokens": (TOKENS_READ, TOKENS_WRITE),
    "tariffs": (MONEY_READ, MONEY_WRITE),
    "cdrs": (MONEY_READ, MONEY_WRITE),
    "local cost and payment": (MONEY_READ, MONEY_WRITE),  # tariffs on 2.1 stations, card settlements
    "exchange rates": (MONEY_READ, MONEY_WRITE),  # rates entered for roaming drivers' currencies
    "price caps": (CAPS_READ, CAPS_WRITE),
    "analytics": (AGGREGATES_READ, PLANNING_WRITE),
    "planning": (AGGREGATES_READ, PLANNING_WRITE),
    "access": (ACCESS_MANAGE, ACCESS_MANAGE),
    "audit": (AUDIT_READ, AUDIT_READ),
    "tenants": (TENANTS_MANAGE, TENANTS_MANAGE),
    "roaming": (ROAMING_READ, ROAMING_WRITE),  # OCPI identities and partners (api/roaming.py)
}


def needed(tags: list[str] | tuple[str, ...], method: str) -> frozenset[str]:
    """The permissions a route of these areas needs for this HTTP method (all of them: a route
    in two areas, such as a CDR under tariffs, needs both). An unknown area needs what only
    the platform administrator has."""
    write = method.upper() not in ("GET", "HEAD", "OPTIONS")
    wanted = set()
    for tag in tags:
        area = _AREAS.get(tag)
        wanted.add(TENANTS_MANAGE if area is None else area[1 if write else 0])
    return frozenset(wanted or {TENANTS_MANAGE})


def may(role: Role, permissions: frozenset[str]) -> bool:
    return permissions <= GRANTS[role]


def areas() -> dict[str, tuple[str, str]]:
    return dict(_AREAS)
