"""Browser tests: the built console served by the real API (uvicorn on a free port) over a
running platform, with the region's seeded network and simulated chargers on real sockets,
driven by Playwright in Debian's chromium.

Nothing here installs anything: `make test` builds the console (`make web`) and installs
chromium (`make browser`) first. Without them these tests skip locally and fail in CI.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import expect

from silkcharge.api.app import create_api
from silkcharge.api.console import STATIC
from silkcharge.data.seed import load_seed_network
from silkcharge.services.seeding import seed_network
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import StationSpec, load_fleet
from silkcharge.store.db import create_engine_for, sessionmaker_for
from tests.conftest import API_KEY, _sqlite_template, recycled_sqlite_database
from tests.e2e.server_process import listening_socket, port_of, serve_without_exit
from tests.guards import HANG_GUARD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# An expectation waits for its condition (text shown, element visible) and returns as soon as it
# holds; the bound only decides when to give up. Playwright's 5 s is too short for a 2-core CI
# machine running three test workers and a CPU-bound process beside the browser.
expect.set_options(timeout=HANG_GUARD * 1000)

TOKENS = [{"token": f"WEB-{n:04d}", "type": "ISO14443", "label": "browser test card"} for n in range(1, 6)]


def _need(ready: bool, what: str) -> None:
    if ready:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is missing")


@pytest.fixture
def database_url(request) -> Iterator[str]:
    """SQLite only: the browser tests exercise the console, the store is tested elsewhere.
    A test that asks for the `fleet` starts with the region's network already stored."""
    seeded = "fleet" in request.fixturenames
    with recycled_sqlite_database(_seeded_template()[0] if seeded else None) as url:
        if seeded:
            _seeded_now(Path(url.split(":///", 1)[1]))
        yield url


def _seeded_now(path: Path) -> None:
    """Date the copied network's rows now, as if seeded at the test's start: what a page shows
    can count from a station's registration (today's uptime does)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for column in [c[1] for c in db.execute(f'PRAGMA table_info("{table}")') if c[1].endswith("_at")]:
                db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" IS NOT NULL', (now,))


_seeded: list[tuple[str, list[dict]]] = []


def _seeded_template() -> tuple[str, list[dict]]:
    """A migrated database holding the seeded network and `TOKENS`, made once per test process,
    and the created stations (with their passwords). Seeding hashes a password per station,
    which costs seconds of CPU: every browser test that copies this file saves them."""
    if not _seeded:
        folder = Path(tempfile.mkdtemp(prefix="silkcharge-seeded-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "seeded.sqlite3"
        shutil.copyfile(_sqlite_template(), path)

        async def seed() -> list[dict]:
            engine = create_engine_for(f"sqlite+aiosqlite:///{path}")
            try:
                created = await seed_network(sessionmaker_for(engine), load_seed_network(), tokens=TOKENS)
            finally:
                await engine.dispose()
            return [{**asdict(s), "firmware_version": "1.0.0"} for s in created]

        # its own thread and event loop: a fixture may be set up while the test's loop runs
        with ThreadPoolExecutor(1) as pool:
            stations = pool.submit(asyncio.run, seed()).result()
        _seeded.append((str(path), stations))
    return _seeded[0]


@pytest.fixture
async def console_url(platform) -> AsyncIterator[str]:
    """The API with the built console, served by uvicorn in the test's event loop."""
    _need((STATIC / "index.html").is_file(), "the built console (make web)")
    async with serve_console(platform, listening_socket()) as url:
        yield url


@contextlib.asynccontextmanager
async def serve_console(platform, sock) -> AsyncIterator[str]:
    """The API and console of `platform` on `sock` (a `listening_socket`), for the browser."""
    port = port_of(sock)
    config = uvicorn.Config(
        create_api(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(serve_without_exit(server, sock))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def fleet(platform, tmp_path) -> dict[str, StationSpec]:
    """The region's seeded network in the store (the test's database was copied from the seeded
    template, see `database_url`); the stations' specs (with passwords) by id."""
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(_seeded_template()[1]))
    return {spec.station_id: spec for spec in load_fleet(path)}


@pytest.fixture
async def chargers(platform) -> AsyncIterator:
    """Start simulated chargers against the platform; all are stopped after the test."""
    running: list[tuple[SimulatedCharger, asyncio.Task]] = []
    url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"

    async def start(spec: StationSpec) -> SimulatedCharger:
        charger = SimulatedCharger(spec, url, meter_interval=1, reconnect_delay=0.2, step_delay=0.05,
                                   heartbeat_fallback=30, rng=random.Random(spec.station_id))
        running.append((charger, asyncio.create_task(charger.run())))
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        return charger

    yield start
    for charger, task in running:
        await charger.stop()
        await task


@pytest.fixture
async def browser(console_url):
    """Chromium, closed before the server stops (its event stream would hold the server open)."""
    _need(CHROMIUM.exists(), "/usr/bin/chromium (make browser)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def open_console(browser, console_url):
    """A new page in a fresh context for a locale; signed in as the operator unless
    `signed_in=False`; where the browser says it is, if `geolocation` is given; a phone's
    screen and touch if `phone` (390 x 844). `page.errors` collects the page's uncaught errors; the test fails if there are any."""
    pages = []

    async def open_page(path: str = "/", *, locale: str = "en-GB", signed_in: bool = True,
                        geolocation: dict[str, float] | None = None, phone: bool = False):
        screen = {"viewport": {"width": PHONE_WIDTH, "height": 844}, "is_mobile": True, "has_touch": True} \
            if phone else {"viewport": {"width": 1280, "height": 860}}
        context = await browser.new_context(
            locale=locale, geolocation=geolocation, permissions=["geolocation"] if geolocation else [],
            **screen)
        if signed_in:
            await context.add_init_script(
                f"sessionStorage.setItem('silkcharge.apiKey', {json.dumps(API_KEY)})")
        context.set_default_timeout(HANG_GUARD * 1000)  # waits for a selector or a function too
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(error))
        await page.goto(console_url + path)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        assert not page.errors, f"errors in the page: {[e.stack for e in page.errors]}"


PHONE_WIDTH = 390


async def page_width(page) -> int:
    """How wide the page's content is: more than the viewport means sideways scrolling."""
    return await page.evaluate("document.documentElement.scrollWidth")


async def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
