"""Operator routes for smart charging: sites' limits and circuits, who hangs where, planned and
actual power, profiles sent and cleared, composite schedules checked, depot plans, what-if."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api.bounds import INT32_MAX, FiniteDecimal, OcppId
from silkcharge.api.errors import STATION_CALL, Conflict, NotFound, answers
from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.domain.commands import ChargingProfileIn
from silkcharge.services.smart import (
    CONNECTION,
    SmartChargingService,
    SmartError,
    prices_from,
    split_key,
)
from silkcharge.smart.composite import (
    ActiveTransaction,
    InstalledProfile,
    composite_fields,
    composite_from_ocpp16,
    composite_from_ocpp201,
    composite_schedule,
    differences,
)
from silkcharge.smart.ev_needs import EvNeeds
from silkcharge.smart.profiles import ChargingRateUnit, ProfileError, profile_from_fields
from silkcharge.smart.site import amps_to_kw, kw_to_amps
from silkcharge.smart.whatif import Scenario, what_if
from silkcharge.store.schema import (
    ChargingPriority,
    ChargingProfileRecord,
    Connector,
    DepotVehicle,
    EvseCircuit,
    LocalControllerStation,
    MeterSample,
    Site,
    SmartProblem,
    SmartSite,
    Station,
    Transaction,
)
from silkcharge.store.schema import Circuit as CircuitRow

router = APIRouter(prefix="/smart", tags=["smart charging"])


def install(app: FastAPI) -> None:
    """Smart charging's own refusals are 422 with the reason, like every refusal of the API."""

    @app.exception_handler(SmartError)
    async def refused(_: Request, exc: SmartError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)


def smart(request: Request) -> SmartChargingService:
    return request.app.state.platform.smart


async def db(request: Request):
    async with request.app.state.platform.sessions() as session:
        yield session


Db = Depends(db)
Smart = Depends(smart)


# ---- bodies ------------------------------------------------------------------------------------


class PriceBandIn(BaseModel):
    starts: time
    price_per_kwh: Decimal = Field(ge=0)


class PricesIn(BaseModel):
    currency: str = Field(min_length=3, max_length=3)
    bands: list[PriceBandIn] = Field(min_length=1)
    utc_offset_minutes: int = Field(default=0, ge=-720, le=840)
    demand_charge_per_kw: Decimal = Field(default=Decimal(0), ge=0)
    battery_wear_per_kwh: Decimal = Field(
        default=Decimal(0), ge=0, le=1000, description="V2G: what each kWh a car discharges costs in battery wear")


class SolarIn(BaseModel):
    kwp: float = Field(gt=0, le=100_000)
    tilt: float = Field(default=30.0, ge=0, le=90)
    azimuth: float = Field(default=180.0, ge=0, lt=360)


class SmartSiteIn(BaseModel):
    """The connection's limit in A per phase, or in kW (three-phase at `voltage`)."""

    grid_limit_a: FiniteDecimal | None = Field(default=None, gt=0, le=1_000_000)
    grid_limit_kw: FiniteDecimal | None = Field(default=None, gt=0, le=1_000_000)
    voltage: FiniteDecimal = Field(default=Decimal(230), ge=1, le=1000, description="phase-to-neutral")
    base_load_w: FiniteDecimal | None = Field(default=None, ge=0, le=10**9)
    depot: bool = False
    solar: SolarIn | None = None
    prices: PricesIn | None = None

    @model_validator(mode="after")
    def one_limit(self) -> SmartSiteIn:
        if (self.grid_limit_a is None) == (self.grid_limit_kw is None):
            raise ValueError("give the connection's limit as grid_limit_a or grid_limit_kw, not both")
        return self

    def limit_a(self) -> Decimal:
        if self.grid_limit_a is not None:
            return self.grid_limit_a
        return Decimal(str(round(kw_to_amps(float(self.grid_limit_kw), float(self.voltage)), 1)))


class CircuitIn(BaseModel):
    limit_a: FiniteDecimal = Field(gt=0, le=1_000_000, description="A per phase")
    parent: str | None = Field(default=None, description="code of the circuit above; none: the connection")
    name: str | None = Field(default=None, max_length=200)
    phases: int = Field(default=3, ge=1, le=3)


class GridSignalIn(BaseModel):
    """A limit on the site's grid connection from outside (grid operator, aggregator, demand response)."""

    model_config = {"extra": "forbid"}
    limit_kw: FiniteDecimal = Field(ge=0, le=1_000_000, description="the most the site may draw from the grid, kW")
    source: str = Field(default="SO", min_length=1, max_length=20,
                        description="who set it (OCPP chargingLimitSource names: SO = system operator, EMS, ...)")
    until: datetime | None = Field(default=None, description="when it ends (UTC); none: until cleared")


class EvseCircuitIn(BaseModel):
    circuit: str
    priority: int = Field(default=0, ge=-100, le=100)
    max_current_a: FiniteDecimal = Field(default=Decimal(32), gt=0, le=1000)
    min_current_a: FiniteDecimal = Field(default=Decimal(6), ge=0, le=100)
    phases: int = Field(default=3, ge=1, le=3)
    obeys_profiles: bool = True

    @model_validator(mode="after")
    def min_below_max(self) -> EvseCircuitIn:
        if self.min_current_a > self.max_current_a:
            raise ValueError("min_current_a is above max_current_a")
        return self


class PriorityIn(BaseModel):
    priority: int = Field(ge=-100, le=100)


class ProfileIn(BaseModel):
    evse_id: OcppId
    profile: ChargingProfileIn


class VehicleIn(BaseModel):
    code: str = Field(min_length=1, max_length=48)
    arrival: datetime
    departure: datetime
    max_power_kw: FiniteDecimal = Field(gt=0, le=1000)
    energy_kwh: FiniteDecimal | None = Field(default=None, ge=0, le=10_000)
    battery_kwh: FiniteDecimal | None = Field(default=None, gt=0, le=10_000)
    soc: FiniteDecimal | None = Field(default=None, ge=0, le=1)
    target_soc: FiniteDecimal | None = Field(default=None, ge=0, le=1)
    station_id: str | None = Field(default=None, max_length=48)
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    id_token: str | None = Field(default=None, max_length=64)
    v2g: bool = Field(default=False, description="the driver opted in to discharging (OCPP 2.1 V2X)")
    max_discharge_kw: FiniteDecimal | None = Field(default=None, gt=0, le=1000)
    min_soc: FiniteDecimal | None = Field(default=None, ge=0, le=1, description="V2G: kept while parked (default 0.3)")

    @model_validator(mode="after")
    def sound(self) -> VehicleIn:
        if self.v2g and (self.max_discharge_kw is None or None in (self.battery_kwh, self.soc, self.target_soc)):
            raise ValueError(f"vehicle {self.code}: v2g needs max_discharge_kw, battery_kwh, soc and target_soc")
        if self.arrival.tzinfo is None or self.departure.tzinfo is None:
            raise ValueError("arrival and departure need a timezone (UTC: a trailing Z)")
        if self.departure <= self.arrival:
            raise ValueError(f"vehicle {self.code}: departure is not after arrival")
        if self.energy_kwh is None and None in (self.battery_kwh, self.soc, self.target_soc):
            raise ValueError(f"vehicle {self.code}: give energy_kwh, or battery_kwh with soc and target_soc")
        return self


class PlanIn(BaseModel):
    start: datetime
    end: datetime
    mode: Literal["lp", "milp"] = "lp"
    slot_minutes: int = Field(default=15, ge=5, le=60)
    push: bool = True

    @model_validator(mode="after")
    def window(self) -> PlanIn:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a timezone (UTC: a trailing Z)")
        if not timedelta(minutes=self.slot_minutes) <= self.end - self.start <= timedelta(days=7):
            raise ValueError("the plan's window must be one slot to seven days long")
        return self


# ---- sites and circuits ------------------------------------------------------------------------


async def _site(session: AsyncSession, code: str) -> Site:
    site = await session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"no site {code}")
    return site


async def _smart_site(session: AsyncSession, code: str) -> tuple[Site, SmartSite]:
    site = await _site(session, code)
    smart_row = await session.get(SmartSite, site.id)
    if smart_row is None:
        raise NotFound(f"site {code} is not under load management: PUT /smart/sites/{code} first")
    return site, smart_row


async def _circuit(session: AsyncSession, site_id: int, code: str) -> CircuitRow:
    row = await session.scalar(select(CircuitRow).where(CircuitRow.site_id == site_id, CircuitRow.code == code))
    if row is None:
        raise NotFound(f"no circuit {code} on this site")
    return row


@router.get("/sites")
async def list_sites(session: AsyncSession = Db) -> list[dict]:
    """Every site under load management, with the size of its circuit tree, for the console's
    list; the site itself is `GET /sites/{code}`."""
    rows = (await session.execute(
        select(Site, SmartSite).join(SmartSite, SmartSite.site_id == Site.id).order_by(Site.code))).all()
    ids = [site.id for site, _ in rows] or [-1]
    per_site = select(CircuitRow.site_id, func.count()).where(CircuitRow.site_id.in_(ids)).group_by(CircuitRow.site_id)
    circuits = dict((await session.execute(per_site)).all())
    on_circuits = per_site.join(EvseCircuit, EvseCircuit.circuit_id == CircuitRow.id)
    evses = dict((await session.execute(on_circuits)).all())
    return [
        {"site": site.code, "name": site.name, "city": site.city, "grid_limit_a": str(row.grid_limit_a),
         "grid_limit_kw": round(amps_to_kw(float(row.grid_limit_a), float(row.voltage)), 1),
         "voltage": str(row.voltage), "depot": row.depot,
         "circuits": circuits.get(site.id, 0), "evses": evses.get(site.id, 0)}
        for site, row in rows
    ]


@router.put("/sites/{code}", responses=answers(404))
async def put_site(code: str, body: SmartSiteIn, request: Request, session: AsyncSession = Db) -> dict:
    site = await _site(session, code)
    row = await session.get(SmartSite, site.id) or SmartSite(site_id=site.id)
    row.grid_limit_a = body.limit_a()
    row.voltage = body.voltage
    row.base_load_w = body.base_load_w
    row.depot = body.depot
    row.solar = body.solar.model_dump() if body.solar else None
    row.prices = body.prices.model_dump(mode="json") if body.prices else None
    row.updated_at = utcnow()
    prices_from(row.prices)  # refuses what the optimiser could not read
    session.add(row)
    await session.commit()
    smart(request).sites_changed()
    await smart(request).rebalance(site.id)
    return await get_site(code, session)


@router.get("/sites/{code}", responses=answers(404))
async def get_site(code: str, session: AsyncSession = Db) -> dict:
    site, row = await _smart_site(session, code)
    circuits = (await session.scalars(select(CircuitRow).where(CircuitRow.site_id == site.id).order_by(CircuitRow.code))).all()
    by_id = {c.id: c for c in circuits}
    evses = (await session.scalars(select(EvseCircuit).where(EvseCircuit.circuit_id.in_(list(by_id) or [-1])))).all()
    return {
        "site": code,
        "grid_limit_a": str(row.grid_limit_a),
        "grid_limit_kw": round(amps_to_kw(float(row.grid_limit_a), float(row.voltage)), 1),
        "voltage": str(row.voltage),
        "base_load_w": str(row.base_load_w) if row.base_load_w is not None else None,
        "depot": row.depot,
        "solar": row.solar,
        "prices": row.prices,
        "circuits": [
            {"code": c.code, "parent": by_id[c.parent_id].code if c.parent_id else CONNECTION, "name": c.name,
             "limit_a": str(c.limit_a), "phases": c.phases}
            for c in circuits
        ],
        "evses": [
            {"station_id": e.station_id, "evse_id": e.evse_id, "circuit": by_id[e.circuit_id].code,
             "priority": e.priority, "max_current_a": str(e.max_current_a), "min_current_a": str(e.min_current_a),
             "phases": e.phases, "obeys_profiles": e.obeys_profiles}
            for e in evses
        ],
    }


@router.put("/sites/{code}/circuits/{circuit}", responses=answers(404, 409))
async def put_circuit(
    code: str, body: CircuitIn, request: Request, session: AsyncSession = Db,
    circuit: str = Path(min_length=1, max_length=48),
) -> dict:
    site, _ = await _smart_site(session, code)
    if circuit == CONNECTION:
        raise Conflict(f"'{CONNECTION}' is the grid connection itself: set its limit with PUT /smart/sites/{code}")
    parent = await _circuit(session, site.id, body.parent) if body.parent not in (None, CONNECTION) else None
    row = await session.scalar(select(CircuitRow).where(CircuitRow.site_id == site.id, CircuitRow.code == circuit))
    if row is None:
        row = CircuitRow(site_id=site.id, code=circuit)
    if parent is not None and row.id is not None and await _below(session, parent, row.id):
        raise Conflict(f"circuit {body.parent} is below {circuit}: a circuit cannot hang from its own branch")
    row.parent_id = parent.id if parent else None
    row.limit_a, row.name, row.phases = body.limit_a, body.name, body.phases
    session.add(row)
    await session.commit()
    await smart(request).rebalance(site.id)
    return {"code": circuit, "parent": body.parent or CONNECTION, "limit_a": str(row.limit_a), "phases": row.phases}


async def _below(session: AsyncSession, node: CircuitRow, ancestor_id: int) -> bool:
    while node is not None:
        if node.id == ancestor_id:
            return True
        node = await session.get(CircuitRow, node.parent_id) if node.parent_id else None
    return False


@router.delete("/sites/{code}/circuits/{circuit}", status_code=204, responses=answers(404, 409))
async def delete_circuit(code: str, circuit: str, request: Request, session: AsyncSession = Db) -> Response:
    site, _ = await _smart_site(session, code)
    row = await _circuit(session, site.id, circuit)
    if await session.scalar(select(func.count()).select_from(CircuitRow).where(CircuitRow.parent_id == row.id)):
        raise Conflict(f"circuit {circuit} has circuits below it; delete or move them first")
    if await session.scalar(select(func.count()).select_from(EvseCircuit).where(EvseCircuit.circuit_id == row.id)):
        raise Conflict(f"circuit {circuit} still has EVSEs; move them first")
    await session.delete(row)
    await session.commit()
    await smart(request).rebalance(site.id)
    return Response(status_code=204)


@router.put("/stations/{station_id}/evses/{evse_id}", responses=answers(404, 409))
async def put_evse(station_id: str, evse_id: OcppId, body: EvseCircuitIn, request: Request, session: AsyncSession = Db) -> dict:
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    if station.site_id is None:
        raise Conflict(f"station {station_id} belongs to no site")
    if not await session.scalar(select(Connector.id).where(Connector.station_id == station_id, Connector.evse_id == evse_id).limit(1)):
        raise NotFound(f"station {station_id} has no EVSE {evse_id}")
    if await session.get(SmartSite, station.site_id) is None:
        raise Conflict(f"the site of {station_id} is not under load management")
    circuit = await _circuit(session, station.site_id, body.circuit)
    row = await session.get(EvseCircuit, (station_id, evse_id)) or EvseCircuit(station_id=station_id, evse_id=evse_id)
    row.circuit_id, row.priority = circuit.id, body.priority
    row.max_current_a, row.min_current_a, row.phases = body.max_current_a, body.min_current_a, body.phases
    row.obeys_profiles = body.obeys_profiles
    session.add(row)
    await session.commit()
    smart(request).state(station.site_id).problem_keys.clear()
    await smart(request).rebalance(station.site_id)
    return {"station_id": station_id, "evse_id": evse_id, **body.model_dump(mode="json")}


class LocalControllerIn(BaseModel):
    model_config = {"extra": "forbid"}
    stations: list[Annotated[str, Field(min_length=1, max_length=48)]] = Field(
        max_length=1000, description="the stations behind the controller; [] frees them all")


@router.put("/local-controllers/{controller_id}", responses=answers(404, 409))
async def put_local_controller(
    body: LocalControllerIn, request: Request, session: AsyncSession = Db,
    controller_id: str = Path(min_length=1, max_length=48),
) -> dict:
    """K03, K14: which stations sit behind a local controller (itself a station). A limit on
    the controller, reported with its own NotifyChargingLimit, then holds for its stations
    together in load management; profiles reach it through `POST /stations/{id}/profiles`."""
    if await session.get(Station, controller_id) is None:
        raise NotFound(f"no station {controller_id}")
    wanted = sorted(set(body.stations))
    if controller_id in wanted:
        raise Conflict(f"{controller_id} cannot sit behind itself")
    found = set((await session.scalars(select(Station.id).where(Station.id.in_(wanted or ["-"])))).all())
    if missing := [s for s in wanted if s not in found]:
        raise NotFound(f"no station {', '.join(missing)}")
    if await session.scalar(select(LocalControllerStation.station_id).where(
            LocalControllerStation.station_id == controller_id).limit(1)):
        raise Conflict(f"{controller_id} sits behind another local controller itself")
    taken = (await session.execute(select(LocalControllerStation.station_id, LocalControllerStation.controller_id)
                                   .where(LocalControllerStation.station_id.in_(wanted or ["-"]),
                                          LocalControllerStation.controller_id != controller_id))).all()
    if taken:
        raise Conflict("; ".join(f"{s} is behind {c}" for s, c in taken))
    await session.execute(delete(LocalControllerStation).where(LocalControllerStation.controller_id == controller_id))
    session.add_all(LocalControllerStation(station_id=s, controller_id=controller_id) for s in wanted)
    await session.commit()
    for site_id in await smart(request)._sites_behind(controller_id):
        await smart(request).rebalance(site_id)
    return {"controller_id": controller_id, "stations": wanted}


@router.get("/local-controllers/{controller_id}", responses=answers(404))
async def get_local_controller(
    session: AsyncSession = Db, controller_id: str = Path(min_length=1, max_length=48),
) -> dict:
    """Which stations sit behind the station as a local controller, and (`behind`) the local
    controller the station itself sits behind, if any."""
    if await session.get(Station, controller_id) is None:
        raise NotFound(f"no station {controller_id}")
    stations = (await session.scalars(select(LocalControllerStation.station_id).where(
        LocalControllerStation.controller_id == controller_id).order_by(LocalControllerStation.station_id))).all()
    behind = await session.scalar(select(LocalControllerStation.controller_id).where(
        LocalControllerStation.station_id == controller_id))
    return {"controller_id": controller_id, "stations": list(stations), "behind": behind}


@router.put("/priorities/{group_id}")
async def put_priority(
    body: PriorityIn, session: AsyncSession = Db, group_id: str = Path(min_length=1, max_length=64)
) -> dict:
    row = await session.get(ChargingPriority, group_id) or ChargingPriority(group_id=group_id)
    row.priority = body.priority
    session.add(row)
    await session.commit()
    return {"group_id": group_id, "priority": body.priority}


# ---- planned and actual power ------------------------------------------------------------------


def _signal_out(signal) -> dict:
    return {"limit_kw": str(signal.limit_kw), "source": signal.source,
            "until": to_ocpp(signal.until) if signal.until else None, "received_at": to_ocpp(signal.received_at)}


@router.put("/sites/{code}/grid-signal", responses=answers(404, 409))
async def put_grid_signal(code: str, body: GridSignalIn, request: Request, session: AsyncSession = Db) -> dict:
    """A grid signal: the site's connection is limited to `limit_kw` until `until`. Load
    management re-balances at once within it (the site's limit tree has it at its root), and a
    depot plan is re-solved against it. Kept in memory: the sender re-sends after a restart."""
    site_id = (await _smart_site(session, code))[0].id
    await session.rollback()  # hand the connection back: SQLite has only one
    if body.until is not None:
        if body.until.tzinfo is None:
            raise Conflict("until must carry a time zone (UTC)")
        if body.until <= utcnow():
            raise Conflict(f"until {to_ocpp(body.until)} has passed: a signal must end in the future")
    signal = await smart(request).grid_signal(site_id, body.limit_kw, body.source, body.until)
    return _signal_out(signal)


@router.get("/sites/{code}/grid-signal", responses=answers(404))
async def get_grid_signal(code: str, request: Request, session: AsyncSession = Db) -> dict:
    """The grid signal in force, or `{"signal": null}`."""
    site_id = (await _smart_site(session, code))[0].id
    signal = smart(request).grid_signal_of(site_id)
    return {"signal": _signal_out(signal) if signal else None}


@router.delete("/sites/{code}/grid-signal", status_code=204, responses=answers(404))
async def delete_grid_signal(code: str, request: Request, session: AsyncSession = Db) -> Response:
    site_id = (await _smart_site(session, code))[0].id
    await session.rollback()
    if not await smart(request).clear_grid_signal(site_id):
        raise NotFound(f"site {code} has no grid signal in force")
    return Response(status_code=204)


@router.post("/sites/{code}/rebalance", responses=answers(404))
async def rebalance(code: str, request: Request, session: AsyncSession = Db) -> dict:
    site_id = (await _smart_site(session, code))[0].id
    await session.rollback()  # hand the connection back: SQLite has only one
    await smart(request).rebalance(site_id)
    return await power(code, request, session)


@router.get("/sites/{code}/power", responses=answers(404))
async def power(code: str, request: Request, session: AsyncSession = Db) -> dict:
    """Per EVSE and per circuit: the limit, the current planned (last allocation) and the
    current drawn (latest meter values), amperes per phase."""
    site_id = (await _smart_site(session, code))[0].id
    await session.rollback()  # hand the connection back: SQLite has only one
    service = smart(request)
    model = await service.load_site(site_id)
    state = service.state(site_id)
    allocation = state.allocation
    actual = await _actual(session, state.transactions)
    chargers = []
    for key in sorted(model.evses):
        station_id, evse = split_key(key)
        tx = state.transactions.get(key)
        chargers.append({
            "station_id": station_id, "evse_id": evse, "path": list(model.model.path(key)),
            "transaction_id": tx.id if tx else None,
            "planned_a": allocation.limits.get(key) if allocation else None,
            "sent_a": state.sent.get(key, state.defaults.get(key)), "default_a": state.defaults.get(key),
            "actual_a": actual.get(key, {}).get("current"), "actual_w": actual.get(key, {}).get("power"),
            "obeys_profiles": model.evses[key].obeys_profiles,
            "ev_needs": _needs(state.ev_needs.get(key)),
        })
    circuits = []
    for circuit, path in model.model.grid.walk():
        members = [c for c in chargers if circuit.id in c["path"]]
        circuits.append({
            "circuit": circuit.id, "limit_a": circuit.limit_a, "path": list(path),
            "planned_a": round(sum(c["planned_a"] or 0 for c in members), 1),
            "actual_a": round(sum(float(c["actual_a"] or 0) for c in members), 1),
        })
    return {
        "site": code,
        "allocated_at": to_ocpp(state.allocated_at) if state.allocated_at else None,
        "paused": list(allocation.paused) if allocation else [],
        "unmanaged": list(allocation.unmanaged) if allocation else [],
        "overloaded": list(allocation.overloaded) if allocation else [],
        "chargers": chargers,
        "circuits": circuits,
    }


def _needs(ev: EvNeeds | None) -> dict | None:
    """What the car on an EVSE said it needs (K15), as the power view shows it."""
    if ev is None:
        return None
    return {"transfer": ev.transfer, "energy_wh": ev.energy_wh, "min_current_a": ev.min_current_a,
            "max_current_a": ev.max_current_a, "max_power_w": ev.max_power_w,
            "departure": to_ocpp(ev.departure) if ev.departure else None,
            # OCPP 2.1 V2X: what the car offers and how much it could give back
            "bidirectional": ev.bidirectional, "offered": list(ev.offered), "max_discharge_w": ev.max_discharge_w,
            "dischargeable_wh": ev.dischargeable_wh}


async def _actual(session: AsyncSession, running: dict[str, Transaction]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, tx in running.items():
        latest = await session.scalar(
            select(MeterSample.timestamp).where(MeterSample.transaction_id == tx.id).order_by(MeterSample.timestamp.desc()).limit(1)
        )
        if latest is None:
            continue
        rows = (await session.scalars(
            select(MeterSample).where(MeterSample.transaction_id == tx.id, MeterSample.timestamp == latest)
        )).all()
        amps = [r.value for r in rows if r.measurand == "Current.Import"]
        watts = [r.value for r in rows if r.measurand == "Power.Active.Import"]
        out[key] = {"current": str(max(amps)) if amps else None, "power": str(watts[0]) if watts else None}
    return out


@router.get("/sites/{code}/problems", responses=answers(404))
async def problems(code: str, limit: int = Query(100, ge=1, le=1000), session: AsyncSession = Db) -> list[dict]:
    site = await _site(session, code)
    rows = (await session.scalars(
        select(SmartProblem).where(SmartProblem.site_id == site.id).order_by(SmartProblem.id.desc()).limit(limit)
    )).all()
    return [
        {"id": r.id, "at": to_ocpp(r.at), "kind": r.kind, "station_id": r.station_id, "evse_id": r.evse_id,
         "reason": r.reason, "data": r.data}
        for r in rows
    ]


# ---- profiles and composite schedules ----------------------------------------------------------


@router.post(
    "/stations/{station_id}/profiles", status_code=201,
    responses=answers(404, *STATION_CALL),
)
async def set_profile(station_id: str, body: ProfileIn, request: Request) -> dict:
    """SetChargingProfile in the neutral vocabulary; kept here once the station accepts it."""
    try:
        profile = profile_from_fields(body.profile.model_dump())
    except ProfileError as error:
        raise SmartError(str(error)) from None
    service = smart(request)
    result = await service._commands.send(
        station_id, "set_charging_profile", {"evse_id": body.evse_id, "profile": body.profile.model_dump(mode="json")}
    )
    if result.status == "Accepted":
        await service.record_profile(station_id, body.evse_id, profile, "operator")
    return {"status": result.status, "reply": result.reply}


@router.get("/stations/{station_id}/profiles")
async def list_profiles(station_id: str, request: Request, session: AsyncSession = Db) -> dict:
    rows = (await session.scalars(
        select(ChargingProfileRecord).where(ChargingProfileRecord.station_id == station_id).order_by(ChargingProfileRecord.id)
    )).all()
    installed = [
        {"evse_id": r.evse_id, "source": r.source, "installed_at": to_ocpp(r.installed_at), "profile": r.body}
        for r in rows
    ]
    await session.rollback()  # hand the connection back: SQLite has only one
    return {"installed": installed, "reported": await smart(request).reported(station_id)}


class ProfileQueryIn(BaseModel):
    """Which installed profiles a 2.0.1 station is to report (none: all of them)."""

    model_config = {"extra": "forbid"}
    evse_id: OcppId | None = None
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ] | None = None
    stack_level: OcppId | None = None


@router.post("/stations/{station_id}/profiles/report", responses=answers(404, *STATION_CALL))
async def ask_for_profiles(station_id: str, request: Request, body: ProfileQueryIn | None = None) -> dict:
    """K09: GetChargingProfiles with a new request id. The station answers Accepted (its
    ReportChargingProfiles follow and show in `GET .../profiles` as `reported`) or NoProfiles.
    OCPP 1.6 has no such message: 422."""
    service = smart(request)
    request_id = await service.next_report_request_id(station_id)
    criteria = (body or ProfileQueryIn()).model_dump(exclude_none=True)
    result = await service._commands.send(
        station_id, "get_charging_profiles", {"request_id": request_id, **criteria})
    return {"status": result.status, "request_id": request_id, "reply": result.reply}


@router.delete("/stations/{station_id}/profiles", responses=answers(404, *STATION_CALL))
async def clear_profiles(
    station_id: str, request: Request, profile_id: OcppId | None = None, evse_id: OcppId | None = None,
    purpose: str | None = None, stack_level: OcppId | None = None,
) -> dict:
    criteria = {"profile_id": profile_id, "evse_id": evse_id, "purpose": purpose, "stack_level": stack_level}
    given = {k: v for k, v in criteria.items() if v is not None}
    service = smart(request)
    result = await service._commands.send(station_id, "clear_charging_profile", given)
    if result.status == "Accepted":
        await service.forget_profiles(station_id, source="operator", **given)
    return {"status": result.status, "reply": result.reply}


@router.get("/stations/{station_id}/composite", responses=answers(404, *STATION_CALL))
async def composite(
    station_id: str, request: Request, evse_id: Annotated[OcppId, Query()], duration: int = Query(3600, gt=0, le=86400),
    rate_unit: Literal["A", "W"] = "A", session: AsyncSession = Db,
) -> dict:
    """The station's GetCompositeSchedule next to the one computed here from the profiles
    silkcharge installed, and where they differ."""
    service = smart(request)
    result = await service._commands.send(
        station_id, "get_composite_schedule", {"evse_id": evse_id, "duration": duration, "rate_unit": rate_unit}
    )
    reported = result.details.get("schedule")
    start = parse_ocpp(reported["schedule_start"]) if reported else utcnow()
    installed = [InstalledProfile(evse, profile) for evse, profile in await service.installed(station_id)]
    tx = None
    if evse_id:
        tx = await session.scalar(select(Transaction).where(
            Transaction.station_id == station_id, Transaction.evse_id == evse_id, Transaction.state == "Active"))
    ours = composite_schedule(
        installed, evse_id=evse_id, start=start, duration=duration, rate_unit=ChargingRateUnit(rate_unit),
        transaction=ActiveTransaction(tx.started_at, tx.station_tx_id) if tx else None,
    )
    disagreements: list[str] = []
    if reported:
        station = await session.get(Station, station_id)
        theirs = (composite_from_ocpp16 if station.ocpp_version == "1.6" else lambda r, _e: composite_from_ocpp201(r))(
            result.reply, evse_id)
        disagreements = differences(ours, theirs) if theirs else []
    return {"status": result.status, "station": reported, "computed": composite_fields(ours),
            "agree": not disagreements, "differences": disagreements}


# ---- depots ------------------------------------------------------------------------------------


@router.put("/sites/{code}/depot/vehicles", responses=answers(404, 409))
async def put_vehicles(code: str, body: list[VehicleIn], session: AsyncSession = Db) -> dict:
    """Replace the depot's vehicles."""
    site, row = await _smart_site(session, code)
    if not row.depot:
        raise Conflict(f"site {code} is not a depot: PUT /smart/sites/{code} with depot true")
    codes = [v.code for v in body]
    if len(set(codes)) != len(codes):
        raise Conflict("a vehicle code appears twice")
    await session.execute(delete(DepotVehicle).where(DepotVehicle.site_id == site.id))
    for v in body:
        session.add(DepotVehicle(site_id=site.id, **v.model_dump()))
    await session.commit()
    return {"site": code, "vehicles": len(body)}


@router.get("/sites/{code}/depot/vehicles", responses=answers(404))
async def get_vehicles(code: str, session: AsyncSession = Db) -> list[dict]:
    """The depot's vehicles as stored, earliest arrival first."""
    site, _ = await _smart_site(session, code)
    rows = (await session.scalars(
        select(DepotVehicle).where(DepotVehicle.site_id == site.id).order_by(DepotVehicle.arrival, DepotVehicle.code)
    )).all()
    return [
        {"code": r.code, "arrival": to_ocpp(r.arrival), "departure": to_ocpp(r.departure),
         "max_power_kw": _text(r.max_power_kw), "energy_kwh": _text(r.energy_kwh),
         "battery_kwh": _text(r.battery_kwh), "soc": _text(r.soc), "target_soc": _text(r.target_soc),
         "station_id": r.station_id, "evse_id": r.evse_id, "id_token": r.id_token,
         "v2g": r.v2g, "max_discharge_kw": _text(r.max_discharge_kw), "min_soc": _text(r.min_soc)}
        for r in rows
    ]


def _text(value: Decimal | None) -> str | None:
    """Decimals leave the API as exact strings."""
    return str(value) if value is not None else None


@router.post("/sites/{code}/depot/plan", responses=answers(404))
async def plan(code: str, body: PlanIn, request: Request, session: AsyncSession = Db) -> dict:
    site_id = (await _smart_site(session, code))[0].id
    await session.rollback()  # hand the connection back: SQLite has only one
    service = smart(request)
    schedule, baseline, charge_only = await service.plan_depot(
        site_id, body.start, body.end, mode=body.mode, push=body.push, slot_minutes=body.slot_minutes
    )
    wear = service.state(site_id).depot.wear_cost_per_kwh  # TJS (the site's currency) per kWh given back
    return {
        "site": code,
        "feasible": schedule.feasible,
        "shortfall_kwh": schedule.shortfall_kwh,
        "peak_kw": round(schedule.peak_kw, 1),
        "uncontrolled_peak_kw": round(baseline.peak_kw, 1),
        "energy_cost": str(schedule.energy_cost), "demand_cost": str(schedule.demand_cost),
        "uncontrolled_cost": str(baseline.total_cost), "currency": schedule.currency,
        "solve_seconds": round(schedule.solve_seconds, 3),
        "start": to_ocpp(schedule.start), "slot_minutes": int(schedule.slot.total_seconds() // 60),
        "grid_kw": [round(g, 2) for g in schedule.grid_kw],
        "vehicles": {vid: [round(w / 1000, 2) for w in watts] for vid, watts in schedule.power_w.items()},
        # V2G: kW each opted-in car gives back per slot, kWh cycled per car, the wear it costs
        "discharge": {vid: [round(w / 1000, 2) for w in watts] for vid, watts in schedule.discharge_w.items()},
        "cycled_kwh": schedule.cycled_kwh, "wear_cost": str(schedule.wear_cost),
        "wear_cost_per_kwh": str(wear), "vehicle_wear_cost": {
            vid: str((Decimal(repr(kwh)) * wear).quantize(Decimal("0.01"))) for vid, kwh in schedule.cycled_kwh.items()
        },
        # the same night without discharge (only when some car may discharge): what V2G saves
        "charge_only_peak_kw": round(charge_only.peak_kw, 1) if charge_only else None,
        "charge_only_cost": str(charge_only.total_cost) if charge_only else None,
        "total_cost": str(schedule.total_cost),
    }


# ---- what-if -----------------------------------------------------------------------------------


class WhatIfIn(BaseModel):
    vehicles: int = Field(ge=1, le=1000)
    power_kw: float = Field(gt=0, le=1000, description="each vehicle's maximum charging power")
    connection_kw: float = Field(gt=0, le=100_000)
    energy_kwh: float = Field(default=40.0, ge=0, le=1000, description="energy each vehicle needs")
    arrive_from: time = time(18)
    arrive_to: time = time(23)
    depart_from: time = time(5)
    depart_to: time = time(7)
    base_load_kw: float = Field(default=0.0, ge=0)
    slot_minutes: int = Field(default=15, ge=5, le=60)


@router.post("/what-if")
async def what_if_route(body: WhatIfIn) -> dict[str, Any]:
    """'40 taxis, 22 kW each, 250 kW connection: does everyone leave full?' — no site needed."""
    try:
        scenario = Scenario(**body.model_dump())
    except ValueError as error:
        raise SmartError(str(error)) from None
    return await asyncio.to_thread(what_if, scenario)
