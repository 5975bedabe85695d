"""What the web console needs beyond the operator API, and the console itself.

The error-code table and the command forms are reference data, not network state, so they
need no key. The console's built files (``silkcharge/web/static``, made by ``make web``) are
served at ``/`` when they exist; the page calls the API on the same origin.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from silkcharge.ocpp.commands import COMMANDS

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

router = APIRouter(prefix="/console", tags=["console"])


@cache
def _error_codes() -> dict[str, Any]:
    return json.loads(files("silkcharge.data").joinpath("error_codes.json").read_text("utf-8"))


@router.get("/error-codes")
async def error_codes() -> dict[str, Any]:
    """Plain-language meaning of each station error code, and what to check first."""
    return _error_codes()


@router.get("/commands")
async def command_forms() -> dict[str, Any]:
    """Each command's parameters as JSON Schema, from which the console draws its forms."""
    return {name: params.model_json_schema() for name, params in COMMANDS.items()}


def install(app: FastAPI) -> None:
    """Add the console's routes and, if the console was built, serve it at `/`.
    Call it after every other route: the static mount at `/` matches everything else."""
    app.include_router(router, prefix="/api/v1")
    if (STATIC / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="console")
