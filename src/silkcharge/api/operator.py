"""Operator routes: the network's records, live status, transactions, message logs, commands."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api import models as m
from silkcharge.api.errors import Conflict, NotFound
from silkcharge.services.passwords import hash_password
from silkcharge.services.reservations import STATUSES as RESERVATION_STATUSES
from silkcharge.services.reservations import ReservationRequest
from silkcharge.store.schema import (
    Connector,
    Evse,
    IdToken,
    MeterSample,
    OcppMessage,
    Operator,
    Site,
    Station,
    Transaction,
)

router = APIRouter()


def platform(request: Request):
    return request.app.state.platform


async def db(request: Request):
    async with platform(request).sessions() as session:
        yield session


Db = Depends(db)


async def _one(session: AsyncSession, model, what: str, **where) -> Any:
    row = await session.scalar(select(model).filter_by(**where))
    if row is None:
        raise NotFound(f"no {what} {' '.join(str(v) for v in where.values())}")
    return row


def _patch(row: Any, patch: m.Body) -> None:
    for key, value in patch.model_dump(exclude_unset=True).items():
        setattr(row, key, value)


# -- operators ----------------------------------------------------------------------------------


@router.get("/operators", response_model=list[m.OperatorOut], tags=["operators"])
async def list_operators(session: AsyncSession = Db):
    return (await session.scalars(select(Operator).order_by(Operator.code))).all()


@router.post("/operators", response_model=m.OperatorOut, status_code=201, tags=["operators"])
async def create_operator(body: m.OperatorIn, session: AsyncSession = Db):
    if await session.scalar(select(Operator.id).where(Operator.code == body.code)):
        raise Conflict(f"operator {body.code} already exists")
    row = Operator(**body.model_dump())
    session.add(row)
    await session.commit()
    return row


@router.get("/operators/{code}", response_model=m.OperatorOut, tags=["operators"])
async def get_operator(code: str, session: AsyncSession = Db):
    return await _one(session, Operator, "operator", code=code)


@router.patch("/operators/{code}", response_model=m.OperatorOut, tags=["operators"])
async def update_operator(code: str, body: m.OperatorPatch, session: AsyncSession = Db):
    row = await _one(session, Operator, "operator", code=code)
    if body.currency is not None:
        m.OperatorIn.known_currency(body.currency)
    _patch(row, body)
    await session.commit()
    return row


@router.delete("/operators/{code}", status_code=204, tags=["operators"])
async def delete_operator(code: str, session: AsyncSession = Db):
    row = await _one(session, Operator, "operator", code=code)
    if await session.scalar(select(Site.id).where(Site.operator_id == row.id).limit(1)):
        raise Conflict(f"operator {code} still has sites; delete or move them first")
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


# -- sites ----------------------------------------------------------------------------------------


@router.get("/sites", response_model=list[m.SiteOut], tags=["sites"])
async def list_sites(operator: str | None = None, country: str | None = None, session: AsyncSession = Db):
    query = select(Site).order_by(Site.code)
    if operator:
        query = query.join(Operator).where(Operator.code == operator)
    if country:
        query = query.where(Site.country == country)
    return (await session.scalars(query)).all()


@router.post("/sites", response_model=m.SiteOut, status_code=201, tags=["sites"])
async def create_site(body: m.SiteIn, session: AsyncSession = Db):
    owner = await _one(session, Operator, "operator", code=body.operator)
    if await session.scalar(select(Site.id).where(Site.code == body.code)):
        raise Conflict(f"site {body.code} already exists")
    row = Site(operator_id=owner.id, **body.model_dump(exclude={"operator"}))
    session.add(row)
    await session.commit()
    return row


@router.get("/sites/{code}", response_model=m.SiteOut, tags=["sites"])
async def get_site(code: str, session: AsyncSession = Db):
    return await _one(session, Site, "site", code=code)


@router.patch("/sites/{code}", response_model=m.SiteOut, tags=["sites"])
async def update_site(code: str, body: m.SitePatch, session: AsyncSession = Db):
    row = await _one(session, Site, "site", code=code)
    _patch(row, body)
    await session.commit()
    return row


@router.delete("/sites/{code}", status_code=204, tags=["sites"])
async def delete_site(code: str, session: AsyncSession = Db):
    row = await _one(session, Site, "site", code=code)
    if await session.scalar(select(Station.id).where(Station.site_id == row.id).limit(1)):
        raise Conflict(f"site {code} still has stations; delete or move them first")
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


# -- stations and connectors ---------------------------------------------------------------------


async def _station_out(session: AsyncSession, station: Station, *, config: bool = False) -> m.StationOut:
    connectors = (
        await session.scalars(
            select(Connector)
            .where(Connector.station_id == station.id)
            .order_by(Connector.evse_id, Connector.connector_id)
        )
    ).all()
    out = m.StationOut.model_validate(station)
    out.connectors = [m.ConnectorOut.model_validate(c) for c in connectors]
    if not config:
        out.configuration = None
    return out


async def _site_id(session: AsyncSession, code: str | None) -> int | None:
    if code is None:
        return None
    return (await _one(session, Site, "site", code=code)).id


@router.get("/stations", response_model=list[m.StationOut], tags=["stations"])
async def list_stations(
    site: str | None = None, online: bool | None = None, session: AsyncSession = Db
):
    query = select(Station).order_by(Station.id)
    if site:
        query = query.join(Site).where(Site.code == site)
    if online is not None:
        query = query.where(Station.online.is_(online))
    stations = (await session.scalars(query)).all()
    by_station: dict[str, list[Connector]] = {}
    for connector in (await session.scalars(select(Connector).order_by(Connector.evse_id, Connector.connector_id))).all():
        by_station.setdefault(connector.station_id, []).append(connector)
    result = []
    for station in stations:
        out = m.StationOut.model_validate(station)
        out.configuration = None
        out.connectors = [m.ConnectorOut.model_validate(c) for c in by_station.get(station.id, [])]
        result.append(out)
    return result


@router.post("/stations", response_model=m.StationOut, status_code=201, tags=["stations"])
async def create_station(body: m.StationIn, session: AsyncSession = Db):
    if await session.get(Station, body.id):
        raise Conflict(f"station {body.id} already exists")
    station = Station(
        id=body.id,
        site_id=await _site_id(session, body.site),
        password_hash=await asyncio.to_thread(hash_password, body.password) if body.password else None,
        registration_status=body.registration_status,
    )
    session.add(station)
    await session.flush()
    for connector in body.connectors:
        await _add_connector(session, station.id, connector)
    await session.commit()
    return await _station_out(session, station)


@router.get("/stations/{station_id}", response_model=m.StationOut, tags=["stations"])
async def get_station(station_id: str, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    return await _station_out(session, station, config=True)


@router.patch("/stations/{station_id}", response_model=m.StationOut, tags=["stations"])
async def update_station(station_id: str, body: m.StationPatch, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    changes = body.model_dump(exclude_unset=True)
    if "site" in changes:
        station.site_id = await _site_id(session, changes.pop("site"))
    if "password" in changes:
        password = changes.pop("password")
        station.password_hash = await asyncio.to_thread(hash_password, password) if password else None
    for key, value in changes.items():
        setattr(station, key, value)
    await session.commit()
    return await _station_out(session, station, config=True)


@router.delete("/stations/{station_id}", status_code=204, tags=["stations"])
async def delete_station(station_id: str, request: Request, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    if platform(request).router.get(station_id) is not None:
        raise Conflict(f"station {station_id} is connected; disconnect or reject it before deleting")
    await session.delete(station)
    await session.commit()
    return Response(status_code=204)


async def _add_connector(session: AsyncSession, station_id: str, body: m.ConnectorIn) -> Connector:
    existing = await session.scalar(
        select(Connector).filter_by(station_id=station_id, evse_id=body.evse_id, connector_id=body.connector_id)
    )
    if existing is not None:
        raise Conflict(f"station {station_id} already has connector {body.evse_id}/{body.connector_id}")
    if not await session.scalar(select(Evse.id).filter_by(station_id=station_id, evse_id=body.evse_id)):
        session.add(Evse(station_id=station_id, evse_id=body.evse_id))
    row = Connector(
        station_id=station_id,
        evse_id=body.evse_id,
        connector_id=body.connector_id,
        standard=body.standard.value,
        max_power_kw=body.max_power_kw,
    )
    session.add(row)
    return row


@router.get("/stations/{station_id}/connectors", response_model=list[m.ConnectorOut], tags=["stations"])
async def list_connectors(station_id: str, session: AsyncSession = Db):
    await _one(session, Station, "station", id=station_id)
    return (await session.scalars(
        select(Connector).filter_by(station_id=station_id).order_by(Connector.evse_id, Connector.connector_id)
    )).all()


@router.post(
    "/stations/{station_id}/connectors", response_model=m.ConnectorOut, status_code=201, tags=["stations"]
)
async def add_connector(station_id: str, body: m.ConnectorIn, session: AsyncSession = Db):
    await _one(session, Station, "station", id=station_id)
    row = await _add_connector(session, station_id, body)
    await session.commit()
    return row


@router.patch(
    "/stations/{station_id}/connectors/{evse_id}/{connector_id}", response_model=m.ConnectorOut, tags=["stations"]
)
async def update_connector(
    station_id: str, evse_id: int, connector_id: int, body: m.ConnectorPatch, session: AsyncSession = Db
):
    row = await _one(session, Connector, "connector", station_id=station_id, evse_id=evse_id, connector_id=connector_id)
    changes = body.model_dump(exclude_unset=True)
    if "standard" in changes:
        changes["standard"] = changes["standard"].value
    for key, value in changes.items():
        setattr(row, key, value)
    await session.commit()
    return row


@router.delete("/stations/{station_id}/connectors/{evse_id}/{connector_id}", status_code=204, tags=["stations"])
async def delete_connector(station_id: str, evse_id: int, connector_id: int, session: AsyncSession = Db):
    row = await _one(session, Connector, "connector", station_id=station_id, evse_id=evse_id, connector_id=connector_id)
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


# -- live status ----------------------------------------------------------------------------------


@router.get("/status", tags=["live"])
async def live_status(session: AsyncSession = Db) -> dict[str, Any]:
    """Every station's presence and every connector's status, in one read."""
    stations = (await session.execute(
        select(Station.id, Station.online, Station.last_seen_at, Station.status, Station.error_code, Station.site_id)
    )).all()
    connectors = (await session.execute(
        select(Connector.station_id, Connector.evse_id, Connector.connector_id, Connector.standard,
               Connector.max_power_kw, Connector.status, Connector.error_code, Connector.status_at)
    )).all()
    active = set((await session.execute(
        select(Transaction.station_id, Transaction.evse_id).where(Transaction.state == "Active")
    )).all())
    result: dict[str, Any] = {
        s.id: {
            "online": s.online, "last_seen_at": s.last_seen_at, "status": s.status,
            "error_code": s.error_code, "site_id": s.site_id, "connectors": [],
        }
        for s in stations
    }
    for c in connectors:
        result[c.station_id]["connectors"].append({
            "evse_id": c.evse_id, "connector_id": c.connector_id, "standard": c.standard,
            "max_power_kw": str(c.max_power_kw), "status": c.status, "error_code": c.error_code,
            "status_at": c.status_at, "in_transaction": (c.station_id, c.evse_id) in active,
        })
    counts: dict[str, int] = {}
    for s in result.values():
        counts["online" if s["online"] else "offline"] = counts.get("online" if s["online"] else "offline", 0) + 1
    return {"summary": counts, "stations": result}


@router.get("/events", tags=["live"])
async def live_events(request: Request) -> StreamingResponse:
    """Server-sent events: every domain event as it happens (station, connector, transaction)."""
    bus = platform(request).bus

    async def stream():
        async with bus.subscribe() as queue:
            yield b": connected\n\n"
            while not await request.is_disconnected():
                try:
                    async with asyncio.timeout(15):  # not wait_for: see services/billing.py
                        event = await queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield b"event: " + event.name.encode() + b"\ndata: " + orjson.dumps(event.as_dict()) + b"\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


# -- tokens ---------------------------------------------------------------------------------------


@router.get("/tokens", response_model=list[m.TokenOut], tags=["tokens"])
async def list_tokens(group_id: str | None = None, session: AsyncSession = Db):
    query = select(IdToken).order_by(IdToken.token)
    if group_id:
        query = query.where(IdToken.group_id == group_id)
    return (await session.scalars(query)).all()


@router.post("/tokens", response_model=m.TokenOut, status_code=201, tags=["tokens"])
async def create_token(body: m.TokenIn, session: AsyncSession = Db):
    if await session.scalar(select(IdToken.id).where(IdToken.token == body.token)):
        raise Conflict(f"token {body.token} already exists")
    owner = await _one(session, Operator, "operator", code=body.operator) if body.operator else None
    row = IdToken(operator_id=owner.id if owner else None, **body.model_dump(exclude={"operator"}))
    session.add(row)
    await session.commit()
    return row


@router.get("/tokens/{token}", response_model=m.TokenOut, tags=["tokens"])
async def get_token(token: str, session: AsyncSession = Db):
    return await _one(session, IdToken, "token", token=token)


@router.patch("/tokens/{token}", response_model=m.TokenOut, tags=["tokens"])
async def update_token(token: str, body: m.TokenPatch, session: AsyncSession = Db):
    row = await _one(session, IdToken, "token", token=token)
    _patch(row, body)
    await session.commit()
    return row


@router.delete("/tokens/{token}", status_code=204, tags=["tokens"])
async def delete_token(token: str, session: AsyncSession = Db):
    row = await _one(session, IdToken, "token", token=token)
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


# -- transactions and message log ----------------------------------------------------------------


@router.get("/transactions", response_model=list[m.TransactionOut], tags=["transactions"])
async def list_transactions(
    station_id: str | None = None,
    state: str | None = Query(default=None, pattern="^(Active|Ended)$"),
    limit: int = Query(default=100, ge=1, le=1000),
    session: AsyncSession = Db,
):
    query = select(Transaction).order_by(Transaction.id.desc()).limit(limit)
    if station_id:
        query = query.where(Transaction.station_id == station_id)
    if state:
        query = query.where(Transaction.state == state)
    return (await session.scalars(query)).all()


@router.get("/transactions/{transaction_id}", response_model=m.TransactionOut, tags=["transactions"])
async def get_transaction(transaction_id: int, session: AsyncSession = Db):
    tx = await _one(session, Transaction, "transaction", id=transaction_id)
    out = m.TransactionOut.model_validate(tx)
    samples = (await session.scalars(
        select(MeterSample).where(MeterSample.transaction_id == tx.id).order_by(MeterSample.timestamp, MeterSample.id)
    )).all()
    out.meter_samples = [m.MeterSampleOut.model_validate(s) for s in samples]
    return out


@router.get("/stations/{station_id}/messages", response_model=list[m.MessageOut], tags=["stations"])
async def station_messages(
    station_id: str,
    limit: int = Query(default=100, ge=1, le=1000),
    before: int | None = Query(default=None, description="only messages with a smaller id (paging)"),
    session: AsyncSession = Db,
):
    query = select(OcppMessage).where(OcppMessage.station_id == station_id)
    if before is not None:
        query = query.where(OcppMessage.id < before)
    return (await session.scalars(query.order_by(OcppMessage.id.desc()).limit(limit))).all()


# -- commands ------------------------------------------------------------------------------------


@router.post("/stations/{station_id}/commands/{command}", response_model=m.CommandOut, tags=["commands"])
async def send_command(
    station_id: str,
    command: str,
    request: Request,
    params: dict[str, Any] = Body(default_factory=dict),
    timeout: float | None = Query(default=None, gt=0, le=300),
):
    """Send a version-neutral command (remote_start, reset, get_configuration, ...) and return
    the station's reply. The list of commands and their parameters is in `ocpp.commands`."""
    result = await platform(request).commands.send(station_id, command, params, timeout)
    return m.CommandOut(**result.__dict__)


@router.post("/stations/{station_id}/ocpp/{action}", tags=["commands"])
async def send_ocpp_call(
    station_id: str,
    action: str,
    request: Request,
    payload: dict[str, Any] = Body(default_factory=dict),
    timeout: float | None = Query(default=None, gt=0, le=300),
) -> dict[str, Any]:
    """Send any CSMS-initiated OCPP call in the station's own version; the reply comes back as is."""
    reply = await platform(request).commands.send_raw(station_id, action, payload, timeout)
    return {"station_id": station_id, "action": action, "reply": reply}


# -- reservations --------------------------------------------------------------------------------


@router.post(
    "/stations/{station_id}/reservations", response_model=m.ReservationOut, status_code=201,
    tags=["reservations"],
)
async def create_reservation(station_id: str, body: m.ReservationIn, request: Request):
    """Hold an EVSE (or one connector of it) for a token: sends ReserveNow and answers with the
    station's acceptance, or 4xx with the reason (the token, the time, the charger's state, an
    overlapping reservation, or the station's own refusal)."""
    return await platform(request).reservations.reserve(
        ReservationRequest(station_id, body.evse_id, body.connector_id, body.id_token, body.expires_at)
    )


@router.get("/reservations", response_model=list[m.ReservationOut], tags=["reservations"])
async def list_reservations(
    request: Request,
    station_id: str | None = None,
    status: str | None = Query(default=None, pattern=f"^({'|'.join(RESERVATION_STATUSES)})$"),
):
    return await platform(request).reservations.find(station_id, status)


@router.get("/reservations/{reservation_id}", response_model=m.ReservationOut, tags=["reservations"])
async def get_reservation(reservation_id: int, request: Request):
    return await platform(request).reservations.get(reservation_id)


@router.delete("/reservations/{reservation_id}", response_model=m.ReservationOut, tags=["reservations"])
async def cancel_reservation(reservation_id: int, request: Request):
    """Send CancelReservation; the reservation is then Cancelled."""
    return await platform(request).reservations.cancel(reservation_id)
