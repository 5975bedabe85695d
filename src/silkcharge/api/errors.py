"""Map service errors to HTTP answers that say what to change."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from silkcharge.bus.local import StationOffline
from silkcharge.bus.redis import RoutingUnavailable
from silkcharge.ocpp.connection import StationCallError, StationReplyInvalid, StationTimeout
from silkcharge.ocpp.rpc import RpcError
from silkcharge.services.billing import TariffRefused
from silkcharge.services.commands import CommandRefused, UnknownCommand, UnknownStation
from silkcharge.services.reservations import (
    ReservationConflict,
    ReservationRefused,
    UnknownReservation,
)
from silkcharge.store.group_commit import StoreUnavailable


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def _answer(status: int, reason: str, **extra) -> JSONResponse:
    return JSONResponse({"detail": reason, **extra}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    @app.exception_handler(UnknownStation)
    @app.exception_handler(UnknownCommand)
    @app.exception_handler(UnknownReservation)
    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return _answer(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _answer(409, str(exc))

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return _answer(409, f"conflicts with stored data: {exc.orig}")

    @app.exception_handler(RoutingUnavailable)
    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StationOffline)
    async def offline(_: Request, exc: StationOffline) -> JSONResponse:
        return _answer(409, str(exc))

    @app.exception_handler(CommandRefused)
    async def refused(_: Request, exc: CommandRefused) -> JSONResponse:
        return _answer(422, str(exc))

    @app.exception_handler(ValidationError)
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: ValidationError | RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "problem": e["msg"]}
            for e in exc.errors()
        ]
        reason = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return _answer(422, reason, problems=problems)

    @app.exception_handler(TariffRefused)
    async def tariff_refused(_: Request, exc: TariffRefused) -> JSONResponse:
        return _answer(422, f"tariff refused: {exc}", problems=exc.problems)

    @app.exception_handler(ReservationConflict)
    async def reservation_conflict(_: Request, exc: ReservationConflict) -> JSONResponse:
        return _answer(409, f"reservation refused: {exc}")

    @app.exception_handler(ReservationRefused)
    async def reservation_refused(_: Request, exc: ReservationRefused) -> JSONResponse:
        return _answer(422, f"reservation refused: {exc}")

    @app.exception_handler(RpcError)
    async def bad_call(_: Request, exc: RpcError) -> JSONResponse:
        return _answer(422, f"the call does not match the OCPP schema: {exc.description}")

    @app.exception_handler(StationTimeout)
    async def timeout(_: Request, exc: StationTimeout) -> JSONResponse:
        return _answer(504, str(exc))

    @app.exception_handler(StationCallError)
    async def station_error(_: Request, exc: StationCallError) -> JSONResponse:
        return _answer(
            502, f"the station answered with CALLERROR {exc.code}: {exc.description}", error_code=exc.code
        )

    @app.exception_handler(StationReplyInvalid)
    async def station_invalid(_: Request, exc: StationReplyInvalid) -> JSONResponse:
        return _answer(502, str(exc))
