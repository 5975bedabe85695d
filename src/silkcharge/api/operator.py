"""Operator routes: the network's records, live status, transactions, message logs, commands."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api import models as m
from silkcharge.api.bounds import JsonObject, OcppId, RowId
from silkcharge.api.errors import STATION_CALL, Conflict, NotFound, answers
from silkcharge.api.personal_data import PersonalData
from silkcharge.api.rows import shown
from silkcharge.bus.local import (
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.security import redact_configuration
from silkcharge.domain.security_reasons import reason
from silkcharge.services.commands import CommandRefused
from silkcharge.services.passwords import hash_password
from silkcharge.services.plausibility import Plausibility
from silkcharge.services.reservations import STATUSES as RESERVATION_STATUSES
from silkcharge.services.reservations import ReservationRequest
from silkcharge.services.security_events import ORIGINS as SECURITY_EVENT_ORIGINS
from silkcharge.services.security_events import SecurityEventQuery
from silkcharge.services.station_profiles import effective_json
from silkcharge.store.schema import (
    Connector,
    Evse,
    IdToken,
    MeterSample,
    OcppMessage,
    Operator,
    RoamingPartner,
    Site,
    Station,
    Transaction,
    TransactionEnding,
)
from silkcharge.store.tenancy import current_tenant, tenant_scope

router = APIRouter()


log = logging.getLogger(__name__)


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


def _token_publisher(request: Request):
    roaming = getattr(request.app.state, "roaming", None)
    return roaming.tokens if roaming is not None else None


async def _roaming_withdrawal(request: Request, tokens: list[str]) -> Any:
    """The pushes that tell partner CPOs these tokens are no longer valid (OCPI deletes no
    token), built while the rows still exist."""
    publisher = _token_publisher(request)
    if publisher is None:
        return None
    try:
        return await publisher.pushes(tokens, withdrawn=True)
    except Exception:
        log.exception("could not build the roaming push of a deleted token")
        return None


async def _roam_tokens(request: Request, tokens: list[str], built: Any = None) -> None:
    """Partner CPOs hear of a new, changed or deleted token of ours (OCPI tokens, through the
    roaming outbox). The change is committed already: a failure here is logged, and a
    partner's next pull of our token list repairs what it missed."""
    publisher = _token_publisher(request)
    if publisher is None:
        return
    try:
        await (publisher.enqueue(built) if built is not None else publisher.publish(tokens))
    except Exception:
        log.exception("could not enqueue the roaming push of a changed token")


def _patch(row: Any, patch: m.Body) -> None:
    for key, value in patch.model_dump(exclude_unset=True).items():
        setattr(row, key, value)


# -- operators ----------------------------------------------------------------------------------


@router.get("/operators", response_model=list[m.OperatorOut], tags=["operators"])
async def list_operators(session: AsyncSession = Db):
    return (await session.scalars(select(Operator).order_by(Operator.code))).all()


@router.post(
    "/operators", response_model=m.OperatorOut, status_code=201, tags=["operators"],
    responses=answers(409),
)
async def create_operator(body: m.OperatorIn, session: AsyncSession = Db):
    if await session.scalar(select(Operator.id).where(Operator.code == body.code)):
        raise Conflict(f"operator {body.code} already exists")
    row = Operator(**body.model_dump())
    session.add(row)
    await session.commit()
    return row


@router.get(
    "/operators/{code}", response_model=m.OperatorOut, tags=["operators"],
    responses=answers(404),
)
async def get_operator(code: str, session: AsyncSession = Db):
    return await _one(session, Operator, "operator", code=code)


@router.patch(
    "/operators/{code}", response_model=m.OperatorOut, tags=["operators"],
    responses=answers(404),
)
async def update_operator(code: str, body: m.OperatorPatch, session: AsyncSession = Db):
    row = await _one(session, Operator, "operator", code=code)
    _patch(row, body)
    await session.commit()
    return row


@router.delete(
    "/operators/{code}", status_code=204, tags=["operators"],
    responses=answers(404, 409),
)
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


@router.post(
    "/sites", response_model=m.SiteOut, status_code=201, tags=["sites"],
    responses=answers(404, 409),
)
async def create_site(body: m.SiteIn, request: Request, session: AsyncSession = Db):
    owner = await _one(session, Operator, "operator", code=body.operator)
    if await session.scalar(select(Site.id).where(Site.code == body.code)):
        raise Conflict(f"site {body.code} already exists")
    row = Site(operator_id=owner.id, **body.model_dump(exclude={"operator"}))
    session.add(row)
    await session.commit()
    await platform(request).billing.caps.recheck_site(row.id)  # inside a capped area?
    return row


@router.get("/sites/{code}", response_model=m.SiteOut, tags=["sites"], responses=answers(404))
async def get_site(code: str, session: AsyncSession = Db):
    return await _one(session, Site, "site", code=code)


@router.patch("/sites/{code}", response_model=m.SiteOut, tags=["sites"], responses=answers(404))
async def update_site(code: str, body: m.SitePatch, request: Request, session: AsyncSession = Db):
    row = await _one(session, Site, "site", code=code)
    _patch(row, body)
    await session.commit()
    await platform(request).billing.caps.recheck_site(row.id)  # moved into or out of a capped area?
    return row


@router.delete("/sites/{code}", status_code=204, tags=["sites"], responses=answers(404, 409))
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
    _security_out(out, station)
    out.configuration = redact_configuration(out.configuration) if config else None
    return out


def _security_out(out: m.StationOut, station: Station) -> None:
    out.password_set = station.password_hash is not None
    out.password_rotation_pending = station.password_hash_previous is not None


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
    by_id = {station.id: station for station in stations}
    for out in shown(m.StationOut, stations, "station"):
        out.configuration = None
        _security_out(out, by_id[out.id])
        connectors = by_station.get(out.id, [])
        out.connectors = shown(m.ConnectorOut, connectors, f"a connector of station {out.id}")
        result.append(out)
    return result


@router.post(
    "/stations", response_model=m.StationOut, status_code=201, tags=["stations"],
    responses=answers(404, 409),
)
async def create_station(body: m.StationIn, request: Request, session: AsyncSession = Db):
    if await session.get(Station, body.id):
        raise Conflict(f"station {body.id} already exists")
    residency = platform(request).residency
    if residency is not None and await residency.holds_station(body.id):  # another tenant's database
        raise Conflict(f"station {body.id} already exists")
    platform(request).station_security.check_listener(body.security_profile)
    station = Station(
        id=body.id,
        site_id=await _site_id(session, body.site),
        password_hash=await asyncio.to_thread(hash_password, body.password) if body.password else None,
        registration_status=body.registration_status,
        security_profile=body.security_profile,
    )
    session.add(station)
    await session.flush()
    for connector in body.connectors:
        await _add_connector(session, station.id, connector)
    await session.commit()
    return await _station_out(session, station)


@router.get(
    "/stations/{station_id}", response_model=m.StationOut, tags=["stations"],
    responses=answers(404),
)
async def get_station(station_id: str, request: Request, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    out = await _station_out(session, station, config=True)
    out.profile = effective_json(await platform(request).station_profiles.of(station, session))
    return out


@router.patch(
    "/stations/{station_id}", response_model=m.StationOut, tags=["stations"],
    responses=answers(404, 409),
)
async def update_station(station_id: str, body: m.StationPatch, request: Request, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    changes = body.model_dump(exclude_unset=True)
    if "site" in changes:
        station.site_id = await _site_id(session, changes.pop("site"))
    if "password" in changes:
        password = changes.pop("password")
        station.password_hash = await asyncio.to_thread(hash_password, password) if password else None
        station.password_hash_previous = None  # set by the operator: no rotation under way any more
    profile = changes.pop("security_profile", None)
    if profile is not None:
        platform(request).station_security.check_listener(profile)
    before = station.security_profile
    accepted_now = changes.get("registration_status") == "Accepted" and station.registration_status != "Accepted"
    if profile is not None:
        station.security_profile, station.security_profile_pending = profile, None
    for key, value in changes.items():
        setattr(station, key, value)
    await session.commit()
    if accepted_now:
        await _boot_again(request, station_id)
    if profile is not None and profile != before:
        await platform(request).security_events.decided(
            station_id, "SecurityProfileSet", reason("profile_set", before=before, profile=profile),
        )
    return await _station_out(session, station, config=True)


async def _boot_again(request: Request, station_id: str) -> None:
    """B02: a station the operator accepts while it waits in Pending is asked to boot again now
    (TriggerMessage BootNotification) instead of at the end of its retry interval. Whether it
    does is its own affair: it is accepted at its next boot either way."""
    try:
        await platform(request).commands.send(station_id, "trigger_message", {"message": "BootNotification"})
    except (StationOffline, StationTimeout, StationCallError, StationReplyInvalid, CommandRefused) as error:
        log.info("%s accepted; it boots again at the end of its retry interval (%s)", station_id, error)


@router.delete(
    "/stations/{station_id}", status_code=204, tags=["stations"],
    responses=answers(404, 409),
)
async def delete_station(station_id: str, request: Request, session: AsyncSession = Db):
    station = await _one(session, Station, "station", id=station_id)
    if platform(request).router.get(station_id) is not None:
        raise Conflict(f"station {station_id} is connected; disconnect or reject it before deleting")
    # Its sessions' readings go with its sessions (their key cascades); those it took outside
    # any session name the station with no foreign key (store/schema.py, MeterSample).
    await session.execute(delete(MeterSample).where(
        MeterSample.station_id == station_id, MeterSample.transaction_id.is_(None)))
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


@router.get(
    "/stations/{station_id}/connectors", response_model=list[m.ConnectorOut], tags=["stations"],
    responses=answers(404),
)
async def list_connectors(station_id: str, session: AsyncSession = Db):
    await _one(session, Station, "station", id=station_id)
    return (await session.scalars(
        select(Connector).filter_by(station_id=station_id).order_by(Connector.evse_id, Connector.connector_id)
    )).all()


@router.post(
    "/stations/{station_id}/connectors", response_model=m.ConnectorOut, status_code=201, tags=["stations"],
    responses=answers(404, 409),
)
async def add_connector(station_id: str, body: m.ConnectorIn, session: AsyncSession = Db):
    await _one(session, Station, "station", id=station_id)
    row = await _add_connector(session, station_id, body)
    await session.commit()
    return row


@router.patch(
    "/stations/{station_id}/connectors/{evse_id}/{connector_id}", response_model=m.ConnectorOut, tags=["stations"],
    responses=answers(404),
)
async def update_connector(
    station_id: str, evse_id: OcppId, connector_id: OcppId, body: m.ConnectorPatch, session: AsyncSession = Db
):
    row = await _one(session, Connector, "connector", station_id=station_id, evse_id=evse_id, connector_id=connector_id)
    changes = body.model_dump(exclude_unset=True)
    if "standard" in changes:
        changes["standard"] = changes["standard"].value
    for key, value in changes.items():
        setattr(row, key, value)
    await session.commit()
    return row


@router.delete(
    "/stations/{station_id}/connectors/{evse_id}/{connector_id}", status_code=204,
    tags=["stations"],
    responses=answers(404),
)
async def delete_connector(station_id: str, evse_id: OcppId, connector_id: OcppId, session: AsyncSession = Db):
    row = await _one(session, Connector, "connector", station_id=station_id, evse_id=evse_id, connector_id=connector_id)
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


# -- live status ----------------------------------------------------------------------------------


@router.get("/status", tags=["live"])
async def live_status(session: AsyncSession = Db) -> dict[str, Any]:
    """Every station's presence and every connector's status, in one read."""
    stations = (await session.execute(
        select(Station.id, Station.online, Station.last_seen_at, Station.status, Station.error_code, Station.site_id,
               Station.planned, Station.moved_to)
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
            "error_code": s.error_code, "site_id": s.site_id, "planned": s.planned, "moved_to": s.moved_to,
            "connectors": [],
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
        kind = "online" if s["online"] else "planned" if s["planned"] else "moved" if s["moved_to"] else "offline"
        counts[kind] = counts.get(kind, 0) + 1
    return {"summary": counts, "stations": result}


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


@router.get("/events", tags=["live"], response_class=EventStream, responses={200: {
    "description": "`event: <name>` and `data: <JSON>` per event; a comment every 15 s keeps it open",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}})
async def live_events(request: Request) -> StreamingResponse:
    """Server-sent events: every domain event as it happens (station, connector, transaction),
    of the caller's tenant's stations only; an event of a roaming partner's (no station of
    ours), of the caller's tenant's partners only."""
    bus = platform(request).bus
    sessions = platform(request).sessions
    tenant = current_tenant()  # the stream outlives the request's scope: keep it
    ours: dict[tuple[type, object], bool] = {}

    async def owned(table, key) -> bool:
        if (table, key) not in ours:  # a station's or a partner's tenant never changes: asked once per stream
            with tenant_scope(tenant):
                async with sessions() as session:
                    ours[(table, key)] = await session.scalar(select(table.id).where(table.id == key)) is not None
        return ours[(table, key)]

    async def visible(event) -> bool:
        if tenant is None:
            return True
        if not event.station_id and isinstance(getattr(event, "partner_id", None), int):
            return await owned(RoamingPartner, event.partner_id)
        return await owned(Station, event.station_id)

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
                if not await visible(event):
                    continue
                yield b"event: " + event.name.encode() + b"\ndata: " + orjson.dumps(event.as_dict()) + b"\n\n"

    return EventStream(stream())


# -- tokens ---------------------------------------------------------------------------------------


@router.get("/tokens", response_model=list[m.TokenOut], tags=["tokens"])
async def list_tokens(group_id: str | None = None, session: AsyncSession = Db):
    query = select(IdToken).order_by(IdToken.token)
    if group_id:
        query = query.where(IdToken.group_id == group_id)
    return (await session.scalars(query)).all()


@router.post(
    "/tokens", response_model=m.TokenOut, status_code=201, tags=["tokens"],
    responses=answers(404, 409),
)
async def create_token(body: m.TokenIn, request: Request, session: AsyncSession = Db):
    if await session.scalar(select(IdToken.id).where(IdToken.token == body.token)):
        raise Conflict(f"token {body.token} already exists")
    owner = await _one(session, Operator, "operator", code=body.operator) if body.operator else None
    row = IdToken(operator_id=owner.id if owner else None, **body.model_dump(exclude={"operator"}))
    session.add(row)
    await session.commit()
    await _roam_tokens(request, [row.token])
    return row


@router.get("/tokens/{token}", response_model=m.TokenOut, tags=["tokens"], responses=answers(404))
async def get_token(token: str, session: AsyncSession = Db):
    return await _one(session, IdToken, "token", token=token)


@router.patch("/tokens/{token}", response_model=m.TokenOut, tags=["tokens"], responses=answers(404))
async def update_token(token: str, body: m.TokenPatch, request: Request, session: AsyncSession = Db):
    row = await _one(session, IdToken, "token", token=token)
    _patch(row, body)
    await session.commit()
    await _roam_tokens(request, [row.token])
    return row


@router.delete("/tokens/{token}", status_code=204, tags=["tokens"], responses=answers(404))
async def delete_token(token: str, request: Request, session: AsyncSession = Db):
    # Built first: SQLite's one connection is the request's session's once it reads.
    withdrawal = await _roaming_withdrawal(request, [token])
    row = await _one(session, IdToken, "token", token=token)
    await session.delete(row)
    await session.commit()
    await _roam_tokens(request, [token], withdrawal)
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
    rows = (await session.scalars(query)).all()
    return await with_flags(session, shown(m.TransactionOut, rows, "transaction"))


@router.get(
    "/transactions/{transaction_id}", response_model=m.TransactionOut, tags=["transactions"],
    responses=answers(404),
)
async def get_transaction(transaction_id: RowId, session: AsyncSession = Db):
    tx = await _one(session, Transaction, "transaction", id=transaction_id)
    out = m.TransactionOut.model_validate(tx)
    samples = (await session.scalars(
        select(MeterSample).where(MeterSample.transaction_id == tx.id).order_by(MeterSample.timestamp, MeterSample.id)
    )).all()
    out.meter_samples = shown(m.MeterSampleOut, samples, f"a meter sample of transaction {tx.id}")
    return (await with_flags(session, [out]))[0]


async def with_flags(session: AsyncSession, transactions: list[m.TransactionOut]) -> list[m.TransactionOut]:
    """Each transaction with its plausibility flags and the reason an operator ended it (two
    queries for the whole list)."""
    ids = [tx.id for tx in transactions]
    flags = await Plausibility.of_transactions(session, ids)
    endings = dict((await session.execute(
        select(TransactionEnding.transaction_id, TransactionEnding.reason)
        .where(TransactionEnding.transaction_id.in_(ids))
    )).all()) if ids else {}
    for tx in transactions:
        tx.flags = [m.FlagOut.model_validate(flag) for flag in flags.get(tx.id, [])]
        tx.end_reason = endings.get(tx.id)
    return transactions


@router.get("/stations/{station_id}/messages", response_model=list[m.MessageOut], tags=["stations"])
async def station_messages(
    station_id: str,
    view: PersonalData,
    limit: int = Query(default=100, ge=1, le=1000),
    before: Annotated[
        RowId | None, Query(description="only messages with a smaller id (paging)")
    ] = None,
    session: AsyncSession = Db,
):
    """The station's OCPP frames, newest first. idTokens and emails in them show as pseudonyms
    (the same card always the same one), unless `personal_data` is asked."""
    query = select(OcppMessage).where(OcppMessage.station_id == station_id)
    if before is not None:
        query = query.where(OcppMessage.id < before)
    rows = (await session.scalars(query.order_by(OcppMessage.id.desc()).limit(limit))).all()
    return [m.MessageOut(id=row.id, direction=row.direction, message_type=row.message_type,
                         message_id=row.message_id, action=row.action, payload=view.frame(row.payload),
                         error_code=row.error_code, at=row.at) for row in rows]


@router.get(
    "/stations/{station_id}/meter-values", response_model=list[m.StationMeterValueOut], tags=["stations"],
    responses=answers(404),
)
async def station_meter_values(
    station_id: str,
    evse_id: Annotated[OcppId | None, Query(description="only this EVSE (0: the station's main meter)")] = None,
    limit: int = Query(default=100, ge=1, le=1000),
    before: Annotated[RowId | None, Query(description="only samples with a smaller id (paging)")] = None,
    session: AsyncSession = Db,
):
    """2.0.1 J01 / 1.6 MeterValues without a transaction: what the station measured outside
    any session (its own consumption, the grid connection), the last received first; page
    with `before`, the smallest `id` of the previous page."""
    await _one(session, Station, "station", id=station_id)
    query = select(MeterSample).where(MeterSample.station_id == station_id, MeterSample.transaction_id.is_(None))
    if evse_id is not None:
        query = query.where(MeterSample.evse_id == evse_id)
    if before is not None:
        query = query.where(MeterSample.id < before)
    rows = (await session.scalars(
        query.order_by(MeterSample.id.desc()).limit(limit)
    )).all()
    return shown(m.StationMeterValueOut, rows, f"a meter sample of station {station_id}")


# -- security events -----------------------------------------------------------------------------


@router.get("/security-events", response_model=list[m.SecurityEventOut], tags=["security"])
async def security_events(
    request: Request,
    station_id: str | None = Query(default=None, max_length=48),
    type: str | None = Query(default=None, max_length=50),
    origin: str | None = Query(default=None, pattern=f"^({'|'.join(SECURITY_EVENT_ORIGINS)})$"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    before: Annotated[
        RowId | None, Query(description="only events with a smaller id (paging)")
    ] = None,
):
    """What stations reported about their security, and every security decision silkcharge took
    about a station (refused handshakes, certificates, downgrades), newest first."""
    return await platform(request).security_events.find(SecurityEventQuery(
        station_id=station_id, type=type, origin=origin, since=since, until=until, limit=limit,
        before_id=before,
    ))


# -- commands ------------------------------------------------------------------------------------


@router.post(
    "/stations/{station_id}/commands/{command}", response_model=m.CommandOut, tags=["commands"],
    responses=answers(404, *STATION_CALL),
)
async def send_command(
    station_id: str,
    command: str,
    request: Request,
    params: Annotated[JsonObject, Body(default_factory=dict)],
    timeout: float | None = Query(default=None, gt=0, le=300),
):
    """Send a version-neutral command (remote_start, reset, get_configuration, ...) and return
    the station's reply. The list of commands and their parameters is in `ocpp.commands`."""
    result = await platform(request).commands.send(station_id, command, params, timeout)
    return m.CommandOut(**result.__dict__)


@router.post(
    "/stations/{station_id}/ocpp/{action}", tags=["commands"],
    responses=answers(404, *STATION_CALL),
)
async def send_ocpp_call(
    station_id: str,
    action: str,
    request: Request,
    payload: Annotated[JsonObject, Body(default_factory=dict)],
    timeout: float | None = Query(default=None, gt=0, le=300),
) -> dict[str, Any]:
    """Send any CSMS-initiated OCPP call in the station's own version; the reply comes back as is."""
    reply = await platform(request).commands.send_raw(station_id, action, payload, timeout)
    return {"station_id": station_id, "action": action, "reply": reply}


# -- reservations --------------------------------------------------------------------------------


@router.post(
    "/stations/{station_id}/reservations", response_model=m.ReservationOut, status_code=201,
    tags=["reservations"],
    responses=answers(404, *STATION_CALL),
)
async def create_reservation(station_id: str, body: m.ReservationIn, request: Request):
    """Hold an EVSE (or one connector of it) for a token: sends ReserveNow and answers with the
    station's acceptance, or 4xx with the reason (the token, the time, the charger's state, an
    overlapping reservation, or the station's own refusal)."""
    return await platform(request).reservations.reserve(ReservationRequest(
        station_id, body.evse_id, body.connector_id, body.id_token, body.expires_at,
        connector_type=body.connector_type, group_id_token=body.group_id_token,
    ))


@router.get("/reservations", response_model=list[m.ReservationOut], tags=["reservations"])
async def list_reservations(
    request: Request,
    station_id: str | None = None,
    status: str | None = Query(default=None, pattern=f"^({'|'.join(RESERVATION_STATUSES)})$"),
):
    return await platform(request).reservations.find(station_id, status)


@router.get(
    "/reservations/{reservation_id}", response_model=m.ReservationOut, tags=["reservations"],
    responses=answers(404),
)
async def get_reservation(reservation_id: OcppId, request: Request):
    return await platform(request).reservations.get(reservation_id)


@router.delete(
    "/reservations/{reservation_id}", response_model=m.ReservationOut, tags=["reservations"],
    responses=answers(404, *STATION_CALL),
)
async def cancel_reservation(reservation_id: OcppId, request: Request):
    """Send CancelReservation; the reservation is then Cancelled."""
    return await platform(request).reservations.cancel(reservation_id)
