"""Regulated price caps: the areas they bind, the caps with their legal source, and the tariffs
they suspend (the operators' alerts)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api.errors import Conflict, NotFound, answers
from silkcharge.api.operator import Db, platform
from silkcharge.domain.caps import InvalidCap, Jurisdiction, PriceCapRule
from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import (
    JurisdictionRecord,
    Operator,
    PriceCapRecord,
    Site,
    TariffRecord,
    TariffSuspension,
)

router = APIRouter(tags=["price caps"])

CODE = r"^[A-Za-z0-9_.-]+$"


class JurisdictionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    polygon: list[list[list[float]]] = Field(
        min_length=1, description="rings of [lon, lat] points: the outline first, then any holes")
    source: str = Field(min_length=1, description="where the boundary comes from")
    source_date: str | None = Field(default=None, max_length=32)
    licence: str = Field(min_length=1, max_length=200)
    confidence: str = Field(default="medium", pattern="^(low|medium|high)$")


class JurisdictionNew(JurisdictionIn):
    code: str = Field(min_length=2, max_length=48, pattern=CODE)


class JurisdictionOut(JurisdictionNew):
    updated_at: datetime


class PriceCapIn(BaseModel):
    jurisdiction: str = Field(description="code of the area the cap binds")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="the country whose VAT the cap includes")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    max_price_per_kwh_incl_vat: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    includes_parking: bool = False
    reference_kwh: Decimal = Field(default=Decimal(30), gt=0, max_digits=8, decimal_places=3)
    reference_power_kw: Decimal = Field(default=Decimal(60), gt=0, max_digits=8, decimal_places=3)
    description: str = Field(default="", max_length=2000)
    covers: str = Field(default="", max_length=4000)
    source: str = Field(min_length=1, max_length=1000, description="the legal source of the cap")
    source_date: str | None = Field(default=None, max_length=32)
    confidence: str = Field(default="medium", pattern="^(low|medium|high)$")


class PriceCapNew(PriceCapIn):
    code: str = Field(min_length=2, max_length=64, pattern=CODE)


class PriceCapOut(PriceCapNew):
    withdrawn_at: datetime | None
    updated_at: datetime


class SuspensionOut(BaseModel):
    """A tariff that breaks a regulated cap at a site: sessions there are charged at most the
    cap per kWh until the operator publishes a tariff within it."""

    id: int
    tariff: str
    operator: str
    site: str
    site_name: str
    cap: str
    cap_per_kwh_incl_vat: Decimal
    currency: str
    reason: str
    effective_from: date
    since: datetime
    resolved_at: datetime | None
    resolution: str | None


class PublishedTariffOut(BaseModel):
    code: str
    operator_id: int
    site_id: int | None
    tariff: dict[str, Any]
    suspensions: list[SuspensionOut] = Field(
        description="capped sites where this network-wide tariff breaks a cap and is suspended")


# -- areas ----------------------------------------------------------------------------------------


def _area_out(row: JurisdictionRecord) -> JurisdictionOut:
    return JurisdictionOut(
        code=row.code, name=row.name, country=row.country, polygon=row.polygon, source=row.source,
        source_date=row.source_date, licence=row.licence, confidence=row.confidence,
        updated_at=row.updated_at,
    )


def _checked_area(code: str, body: JurisdictionIn) -> None:
    try:
        Jurisdiction.from_dict({"code": code, **body.model_dump()})
    except InvalidCap as exc:
        raise HTTPException(422, detail="; ".join(exc.problems)) from None


@router.get("/jurisdictions", response_model=list[JurisdictionOut])
async def list_jurisdictions(request: Request, session: AsyncSession = Db):
    await platform(request).billing.caps.current(session)
    rows = await session.scalars(select(JurisdictionRecord).order_by(JurisdictionRecord.code))
    return [_area_out(row) for row in rows.all()]


@router.get("/jurisdictions/{code}", response_model=JurisdictionOut, responses=answers(404))
async def get_jurisdiction(code: str, request: Request, session: AsyncSession = Db):
    await platform(request).billing.caps.current(session)
    return _area_out(await _area(session, code))


@router.post("/jurisdictions", response_model=JurisdictionOut, status_code=201, responses=answers(409))
async def create_jurisdiction(body: JurisdictionNew, request: Request, session: AsyncSession = Db):
    _checked_area(body.code, body)
    await platform(request).billing.caps.current(session)
    if await session.scalar(select(JurisdictionRecord.id).where(JurisdictionRecord.code == body.code)):
        raise Conflict(f"jurisdiction {body.code} already exists")
    row = JurisdictionRecord(**body.model_dump())
    session.add(row)
    await session.commit()
    return _area_out(row)


@router.put("/jurisdictions/{code}", response_model=JurisdictionOut, responses=answers(404))
async def replace_jurisdiction(code: str, body: JurisdictionIn, request: Request, session: AsyncSession = Db):
    """Replace an area (e.g. with the official boundary). Every site its caps bind, before or
    after, is re-checked."""
    _checked_area(code, body)
    caps = platform(request).billing.caps
    await caps.current(session)
    row = await _area(session, code)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.commit()
    await caps.recheck_cap()
    return _area_out(row)


async def _area(session: AsyncSession, code: str) -> JurisdictionRecord:
    row = await session.scalar(select(JurisdictionRecord).where(JurisdictionRecord.code == code))
    if row is None:
        raise NotFound(f"no jurisdiction {code}")
    return row


# -- caps -----------------------------------------------------------------------------------------


def _cap_out(row: PriceCapRecord, area: str) -> PriceCapOut:
    return PriceCapOut(code=row.code, jurisdiction=area, withdrawn_at=row.withdrawn_at,
                       updated_at=row.updated_at, **row.body)


def _body(code: str, body: PriceCapIn) -> dict[str, Any]:
    data = body.model_dump(exclude={"jurisdiction"}, mode="json")
    try:
        PriceCapRule.from_dict({**data, "id": code, "jurisdiction": body.jurisdiction})
    except InvalidCap as exc:
        raise HTTPException(422, detail="; ".join(exc.problems)) from None
    return data


@router.get("/price-caps", response_model=list[PriceCapOut])
async def list_price_caps(request: Request, withdrawn: bool = False, session: AsyncSession = Db):
    """The regulated caps in force (with `withdrawn=true`, the withdrawn ones too)."""
    await platform(request).billing.caps.current(session)
    query = (select(PriceCapRecord, JurisdictionRecord.code).join(JurisdictionRecord)
             .order_by(PriceCapRecord.code))
    if not withdrawn:
        query = query.where(PriceCapRecord.withdrawn_at.is_(None))
    return [_cap_out(row, area) for row, area in (await session.execute(query)).all()]


@router.get("/price-caps/{code}", response_model=PriceCapOut, responses=answers(404))
async def get_price_cap(code: str, request: Request, session: AsyncSession = Db):
    await platform(request).billing.caps.current(session)
    row, area = await _cap(session, code)
    return _cap_out(row, area.code)


@router.post("/price-caps", response_model=PriceCapOut, status_code=201, responses=answers(404, 409))
async def create_price_cap(body: PriceCapNew, request: Request, session: AsyncSession = Db):
    """Add a cap: every tariff at every site in its area is checked at once, and those that
    break it are suspended."""
    caps = platform(request).billing.caps
    await caps.current(session)
    data = _body(body.code, body)
    if await session.scalar(select(PriceCapRecord.id).where(PriceCapRecord.code == body.code)):
        raise Conflict(f"price cap {body.code} already exists (a withdrawn cap keeps its code)")
    area = await _area(session, body.jurisdiction)
    del data["code"]
    row = PriceCapRecord(code=body.code, jurisdiction_id=area.id, body=data)
    session.add(row)
    await session.commit()
    await caps.recheck_cap(row.id)
    return _cap_out(row, area.code)


@router.put("/price-caps/{code}", response_model=PriceCapOut, responses=answers(404, 409))
async def replace_price_cap(code: str, body: PriceCapIn, request: Request, session: AsyncSession = Db):
    """Change a cap (its price, area or source): every site it binds, before or after, is
    re-checked."""
    caps = platform(request).billing.caps
    await caps.current(session)
    row, _ = await _cap(session, code)
    if row.withdrawn_at is not None:
        raise Conflict(f"price cap {code} was withdrawn; add a new one")
    area = await _area(session, body.jurisdiction)
    row.body, row.jurisdiction_id, row.updated_at = _body(code, body), area.id, utcnow()
    await session.commit()
    await caps.recheck_cap(row.id)
    return _cap_out(row, area.code)


@router.delete("/price-caps/{code}", status_code=204, responses=answers(404))
async def withdraw_price_cap(code: str, request: Request, session: AsyncSession = Db):
    """Withdraw a cap (it is kept, with the suspensions it made, as the record of what bound the
    network when); its open suspensions are resolved."""
    caps = platform(request).billing.caps
    await caps.current(session)
    row, _ = await _cap(session, code)
    if row.withdrawn_at is None:
        row.withdrawn_at = row.updated_at = utcnow()
        await session.commit()
        await caps.recheck_cap(row.id)
    return Response(status_code=204)


async def _cap(session: AsyncSession, code: str) -> tuple[PriceCapRecord, JurisdictionRecord]:
    found = (await session.execute(
        select(PriceCapRecord, JurisdictionRecord).join(JurisdictionRecord).where(PriceCapRecord.code == code)
    )).first()
    if found is None:
        raise NotFound(f"no price cap {code}")
    return found[0], found[1]


# -- compliance across operators (regulators) ----------------------------------------------------


class ComplianceOut(BaseModel):
    """One operator against one cap binding some of its sites: aggregates only (no driver,
    email, idToken or session)."""

    tenant: str = Field(description="the tenant's code")
    tenant_name: str
    operator: str = Field(description="the operator's code")
    operator_name: str
    country: str
    cap: str = Field(description="the cap's code")
    jurisdiction: str = Field(description="the name of the area the cap binds")
    cap_per_kwh_incl_vat: Decimal
    currency: str
    sites: int = Field(description="the operator's sites inside the cap's area")
    tariffs: int = Field(description="the operator's tariffs that can apply there, each checked against the cap")
    suspended_tariffs: int = Field(description="of those, the tariffs breaking the cap (suspended) now")
    violations: int = Field(description="open suspensions: a tariff breaking the cap at a site, per site")


@router.get("/cap-compliance", response_model=list[ComplianceOut])
async def cap_compliance(request: Request):
    """How each operator stands against each cap in force that binds any of its sites, from the
    checks the platform keeps current: sites, tariffs checked, violations. A regulator sees
    every tenant's operators; a tenant's people see their own."""
    return [ComplianceOut(**vars(row)) for row in await platform(request).billing.caps.compliance()]


# -- the operators' alerts ------------------------------------------------------------------------


async def suspensions(
    session: AsyncSession, *, open_only: bool = True, operator: str | None = None,
    site: str | None = None, tariff: str | None = None,
) -> list[SuspensionOut]:
    query = (
        select(TariffSuspension, TariffRecord.code, Operator.code, Site.code, Site.name, PriceCapRecord)
        .join(TariffRecord, TariffRecord.id == TariffSuspension.tariff_id)
        .join(Operator, Operator.id == TariffRecord.operator_id)
        .join(Site, Site.id == TariffSuspension.site_id)
        .join(PriceCapRecord, PriceCapRecord.id == TariffSuspension.cap_id)
        .order_by(TariffSuspension.since.desc(), TariffSuspension.id.desc())
    )
    if open_only:
        query = query.where(TariffSuspension.resolved_at.is_(None))
    if operator:
        query = query.where(Operator.code == operator)
    if site:
        query = query.where(Site.code == site)
    if tariff:
        query = query.where(TariffRecord.code == tariff)
    return [
        SuspensionOut(
            id=row.id, tariff=tariff_code, operator=operator_code, site=site_code, site_name=site_name,
            cap=cap.code, cap_per_kwh_incl_vat=Decimal(str(cap.body["max_price_per_kwh_incl_vat"])),
            currency=cap.body["currency"], reason=row.reason, effective_from=row.effective_from,
            since=row.since, resolved_at=row.resolved_at, resolution=row.resolution,
        )
        for row, tariff_code, operator_code, site_code, site_name, cap in (await session.execute(query)).all()
    ]


@router.get("/tariff-suspensions", response_model=list[SuspensionOut])
async def list_tariff_suspensions(
    open: bool = True, operator: str | None = None, site: str | None = None,
    tariff: str | None = None, session: AsyncSession = Db,
):
    """Tariffs suspended at a site because they break a regulated cap there (the operators'
    alerts); with `open=false`, the resolved ones too."""
    return await suspensions(session, open_only=open, operator=operator, site=site, tariff=tariff)
