"""Map service errors to HTTP answers that say what to change, all with one body (`ErrorOut`),
and make the OpenAPI document declare those answers with that body."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from silkcharge.bus.local import (
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.bus.redis import RoutingUnavailable
from silkcharge.domain.station_profiles import ProfileError
from silkcharge.ocpp.rpc import RpcError
from silkcharge.services.billing import TariffRefused
from silkcharge.services.certificates import UnknownCertificate
from silkcharge.services.commands import CommandRefused, UnknownCommand, UnknownStation
from silkcharge.services.device_model import RequestInvalid, StationDeclined, UnknownRecord
from silkcharge.services.reservations import (
    ReservationConflict,
    ReservationRefused,
    UnknownReservation,
)
from silkcharge.services.station_profiles import ProfileRefused, UnknownProfile
from silkcharge.services.station_security import SecurityChangeRefused
from silkcharge.store.group_commit import StoreUnavailable, is_unavailable

log = logging.getLogger(__name__)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="where: a body field (`connectors.0.evse_id`), `query.<name>`, "
                       "`path.<name>`, `header.<name>`, or `body` for the body as a whole")
    problem: str


class ErrorOut(BaseModel):
    """The body of every error answer of the API."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(description="what is wrong and what to change, in words")
    problems: list[Problem] | None = Field(
        default=None, description="each refused value with its place, when a request has several"
    )
    error_code: str | None = Field(
        default=None, description="the station's own CALLERROR code (502)"
    )
    code: str | None = Field(
        default=None, description="a message code the console translates (trip refusals: see "
        "silkcharge.trips.explain; a station's silence or CALLERROR, reservation refusals: "
        "docs/console.md); `detail` is its English wording")
    params: dict[str, Any] | None = Field(default=None, description="the code's parameters")
    options: list[str] | None = Field(
        default=None, description="option codes: what would help (e.g. use_adapters)")


ANSWERS = {
    400: "the request cannot be carried out as sent; the detail says why",
    401: "missing or wrong credentials (the X-API-Key header, or a driver's session)",
    403: "the credentials are right but do not allow this",
    404: "no such record",
    409: "conflicts with what is stored or connected now",
    410: "gone: the driver's account was deleted",
    413: "the request body is larger than the server accepts (SILKCHARGE_HTTP_MAX_BODY_BYTES)",
    422: "a value is refused; `problems` names each one with its place",
    429: "too many attempts; Retry-After says in how many seconds to try again",
    502: "the station answered with a CALLERROR or a reply that does not match the OCPP schema",
    503: "unavailable for a moment (command routing, the database, or every worker busy); "
         "Retry-After says when to try again",
    504: "the station did not answer in time",
}


ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
"""An error answer's body, JSON even where the route's own answer is HTML or SVG (the schema
is put in the document by `document_errors`)."""

STATION_CALL = (409, 502, 503, 504)
"""What a call to a station can end in besides its reply: the station is offline (409),
answers with a CALLERROR or an invalid reply (502), command routing is down (503), no reply in
time (504)."""


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares in the OpenAPI document (`responses=`). 422, and 400
    and 413 for a body, need no declaring: `document_errors` adds them to every route that takes
    input."""
    return {code: {"description": ANSWERS[code], "content": ERROR_CONTENT} for code in codes}


def _answer(status: int, reason: str, **extra) -> JSONResponse:
    return JSONResponse({"detail": reason, **extra}, status_code=status)


def _coded(exc: Exception) -> dict[str, Any]:
    """An exception's message code and parameters, when it carries them."""
    code = getattr(exc, "code", None)
    return {"code": code, "params": getattr(exc, "params", {})} if code else {}


def _problems(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [_problem(e) for e in errors]


def _problem(error: dict[str, Any]) -> dict[str, str]:
    if error["type"] == "json_invalid":  # FastAPI puts the character's position in `loc`
        reason = error.get("ctx", {}).get("error", "not JSON")
        return {"field": "body", "problem": f"not JSON: {reason} at character {error['loc'][-1]}"}
    return {"field": ".".join(str(p) for p in error["loc"] if p != "body") or "body",
            "problem": error["msg"]}


UNREADABLE_BODY = "There was an error parsing the body"
"""FastAPI's reason for a body it cannot read at all (not UTF-8, say); the cause says more."""


def install(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == UNREADABLE_BODY and exc.__cause__ is not None:
            detail = f"the body cannot be read as JSON: {exc.__cause__}"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(NotFound)
    @app.exception_handler(UnknownStation)
    @app.exception_handler(UnknownCommand)
    @app.exception_handler(UnknownReservation)
    @app.exception_handler(UnknownCertificate)
    @app.exception_handler(UnknownRecord)
    @app.exception_handler(UnknownProfile)
    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return _answer(404, str(exc))

    @app.exception_handler(Conflict)
    @app.exception_handler(SecurityChangeRefused)
    @app.exception_handler(ProfileRefused)
    async def conflict(_: Request, exc: Exception) -> JSONResponse:
        return _answer(409, str(exc))

    @app.exception_handler(ProfileError)
    async def profile_error(_: Request, exc: ProfileError) -> JSONResponse:
        return _answer(422, f"station profile refused: {exc}")

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return _answer(409, f"conflicts with stored data: {exc.orig}")

    @app.exception_handler(RoutingUnavailable)
    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": "unavailable", "params": {}}, status_code=503,
                            headers={"Retry-After": "5"})

    # A database that cannot be reached (down, restarting, a resident tenant's far away, every
    # connection busy) is the server's trouble for a while, not a bug and not the caller's:
    # 503 with a retry, what the caller can do about it, never a 500 with a traceback.
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        if not is_unavailable(exc):
            raise exc
        log.warning("%s %s: the database could not be reached: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "the database could not be reached; try again shortly",
                             "code": "unavailable", "params": {}}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StationOffline)
    async def offline(_: Request, exc: StationOffline) -> JSONResponse:
        return _answer(409, str(exc), code="station_offline", params={})

    @app.exception_handler(StationDeclined)
    async def declined(_: Request, exc: StationDeclined) -> JSONResponse:
        return _answer(409, str(exc), station_status=exc.status, code="station_declined",
                       params={"status": exc.status or ""})

    @app.exception_handler(RequestInvalid)
    @app.exception_handler(CommandRefused)
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        return _answer(422, str(exc), **_coded(exc))

    @app.exception_handler(ValidationError)
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: ValidationError | RequestValidationError) -> JSONResponse:
        problems = _problems(exc.errors())
        reason = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return _answer(422, reason, problems=problems)

    @app.exception_handler(TariffRefused)
    async def tariff_refused(_: Request, exc: TariffRefused) -> JSONResponse:
        problems = [{"field": "tariff", "problem": problem} for problem in exc.problems]
        return _answer(422, f"tariff refused: {exc}", problems=problems)

    @app.exception_handler(ReservationConflict)
    async def reservation_conflict(_: Request, exc: ReservationConflict) -> JSONResponse:
        return _answer(409, f"reservation refused: {exc}", **_coded(exc))

    @app.exception_handler(ReservationRefused)
    async def reservation_refused(_: Request, exc: ReservationRefused) -> JSONResponse:
        return _answer(422, f"reservation refused: {exc}", **_coded(exc))

    @app.exception_handler(RpcError)
    async def bad_call(_: Request, exc: RpcError) -> JSONResponse:
        return _answer(422, f"the call does not match the OCPP schema: {exc.description}")

    @app.exception_handler(StationTimeout)
    async def timeout(_: Request, exc: StationTimeout) -> JSONResponse:
        return _answer(504, str(exc), code="station_timeout", params={})

    @app.exception_handler(StationCallError)
    async def station_error(_: Request, exc: StationCallError) -> JSONResponse:
        return _answer(
            502, f"the station answered with CALLERROR {exc.code}: {exc.description}", error_code=exc.code,
            code="station_callerror", params={"error_code": exc.code},
        )

    @app.exception_handler(StationReplyInvalid)
    async def station_invalid(_: Request, exc: StationReplyInvalid) -> JSONResponse:
        return _answer(502, str(exc), code="station_reply_invalid", params={})


# -- the OpenAPI document --------------------------------------------------------------------------


def document_errors(app: FastAPI) -> None:
    """Declare, with the `ErrorOut` body, the answers the edge of the API gives any route that
    takes input, so no route has to: 422 on every operation with parameters or a body (FastAPI
    would declare its own validation body, which this API never sends); 400 (unreadable) and
    413 (too large) on every operation with a body. Routes declare their other answers with
    `answers(...)`."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()
        if fresh:
            _declare_edge_answers(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_edge_answers(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema([(ErrorOut, "serialization")],
                                        ref_template="#/components/schemas/{model}")
    for name, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    error = ERROR_CONTENT
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": ANSWERS[400], "content": error})
                responses.setdefault("413", {"description": ANSWERS[413], "content": error})
            if "requestBody" in operation or operation.get("parameters"):
                responses["422"] = {"description": ANSWERS[422], "content": error}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
